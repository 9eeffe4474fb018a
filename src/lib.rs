//! qcloud-ota: the device side of Tencent Cloud IoT Explorer's OTA firmware update, for C firmware.
//!
//! Layers, each a state machine over byte slices with injected time (no sockets, no heap):
//! - [`mqtt`]: MQTT 3.1.1 codec and client session (CONNECT with Tencent auth, SUBSCRIBE, PUBLISH
//!   QoS0/1 with PUBACK tracking, keepalive).
//! - [`http`]: URL parsing, the Range request, the response head and the body decoder.
//! - [`protocol`]: the Tencent OTA JSON messages (parse `update_firmware` / `report_version_rsp`,
//!   format `report_version` / `report_progress`).
//! - [`auth`]: Tencent's MQTT username/password signing (HMAC-SHA1/-SHA256 from `hash`, which also holds the image's
//!   resumable MD5).
//! - [`journal`]: the persistent record that survives a reboot.
//! - [`engine`]: the OTA state machine: what to report, when, and what to do with the image.
//! - [`client`]: one OTA client driving the layers through the host's [`platform::Platform`].
//! - [`link`]: the two connections: plain, the host's TLS, or the built-in TLS (`tls`, rustls).
//! - `ffi`: the C ABI (`ota_init`, `ota_poll`, ...), the only module with `unsafe` but one
//!   conversion in `text` (`str_from_utf8`). No module imports one above it (README, "Which
//!   module may use which").
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod auth;
pub mod client;
#[cfg(feature = "delta")]
pub mod delta;
pub mod engine;
pub mod error;
mod hash;
pub mod http;
pub mod journal;
pub mod link;
pub mod mqtt;
mod num;
pub mod platform;
pub mod protocol;
mod slices;
mod tables;
mod text;
#[cfg(feature = "tls")]
pub mod tls;

#[allow(unsafe_code)]
pub mod ffi;

#[cfg(all(not(feature = "std"), target_os = "none"))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // No formatting here, so LTO can drop core::fmt. The host's HardFault/watchdog takes over.
    loop {
        core::hint::spin_loop();
    }
}
