//! The C ABI: the only module with `unsafe`. Every pointer C passes in is checked here; the rest
//! of the crate sees safe Rust types. The header `include/qcloud_ota.h` is generated from this file.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

#[cfg(all(target_arch = "arm", target_os = "none"))]
mod arm_mem;

use core::ffi::{c_char, c_void};
use core::mem::MaybeUninit;
use core::ptr::{addr_of, addr_of_mut};

use crate::auth::SignMethod;
use crate::client::{Buffers, Client, Config};
use crate::engine::Policy;
use crate::error::Error;
use crate::link::TlsSetup;
use crate::platform::{Channel, Event, HostError, Level, NetError, Platform, Socket};
use crate::slices::copy_prefix;

// ---------------------------------------------------------------------------------------------
// Status codes
// ---------------------------------------------------------------------------------------------

/// Success. Every other status is negative; `ota_strerror()` names it.
pub const OTA_OK: i32 = 0;
/// A required pointer was NULL.
pub const OTA_ERR_NULL_POINTER: i32 = -1;
/// An argument is empty, too long, not printable ASCII, or out of range.
pub const OTA_ERR_INVALID_ARGUMENT: i32 = -2;
/// A buffer is smaller than its documented minimum.
pub const OTA_ERR_BUFFER_TOO_SMALL: i32 = -3;
/// The call is not allowed in the current state (e.g. ota_accept() without an offer).
pub const OTA_ERR_WRONG_STATE: i32 = -4;
/// The client was not initialised with ota_init(), or was deinitialised.
pub const OTA_ERR_NOT_INITIALIZED: i32 = -5;
/// Called from inside one of this client's own callbacks (only accept/decline/defer/confirm may be).
pub const OTA_ERR_BUSY: i32 = -6;
/// ota_mqtt_input(): the message's topic is not this client's (a gateway offers it to the next).
pub const OTA_ERR_OTHER_TOPIC: i32 = -7;
/// The host's net_connect callback failed.
pub const OTA_ERR_NET_CONNECT: i32 = -10;
/// A connection failed or was closed by the peer.
pub const OTA_ERR_NET_IO: i32 = -11;
/// The MQTT broker refused the connection (wrong product id, device name or secret).
pub const OTA_ERR_MQTT_REFUSED: i32 = -12;
/// The MQTT broker did not answer CONNECT or PINGREQ in time.
pub const OTA_ERR_MQTT_TIMEOUT: i32 = -13;
/// A malformed MQTT packet arrived.
pub const OTA_ERR_MQTT_PROTOCOL: i32 = -14;
/// An MQTT message larger than the receive buffer was dropped.
pub const OTA_ERR_MQTT_OVERSIZE: i32 = -15;
/// The broker refused the subscription to $ota/update/{product}/{device}.
pub const OTA_ERR_SUBSCRIBE_REJECTED: i32 = -16;
/// A malformed or incomplete update_firmware message.
pub const OTA_ERR_BAD_MESSAGE: i32 = -20;
/// The offered image is larger than ota_config.slot_size.
pub const OTA_ERR_IMAGE_TOO_LARGE: i32 = -21;
/// The firmware URL is malformed or not http(s).
pub const OTA_ERR_BAD_URL: i32 = -22;
/// The cloud answered report_version with a non-zero result_code.
pub const OTA_ERR_VERSION_REJECTED: i32 = -23;
/// The firmware server answered with an unexpected HTTP status.
pub const OTA_ERR_HTTP_STATUS: i32 = -30;
/// HTTP 404: the firmware does not exist (reported as result_code -2).
pub const OTA_ERR_HTTP_NOT_FOUND: i32 = -31;
/// HTTP 403: the signed URL expired (reported as result_code -3 once retries are exhausted).
pub const OTA_ERR_HTTP_FORBIDDEN: i32 = -32;
/// A malformed HTTP response, or a range/length that does not match the request.
pub const OTA_ERR_HTTP_PROTOCOL: i32 = -33;
/// The download stalled (reported as result_code -1 once retries are exhausted).
pub const OTA_ERR_DOWNLOAD_TIMEOUT: i32 = -34;
/// The image's MD5 does not match md5sum (reported as result_code -4; never made bootable).
pub const OTA_ERR_MD5_MISMATCH: i32 = -35;
/// A slot callback failed (reported as result_code -5).
pub const OTA_ERR_SLOT: i32 = -40;
/// A store callback failed.
pub const OTA_ERR_STORE: i32 = -41;
/// After the reboot the device still ran the old version (reported as result_code -5).
pub const OTA_ERR_ROLLED_BACK: i32 = -42;
/// The host declined the offer with ota_decline() (reported as result_code -5).
pub const OTA_ERR_DECLINED: i32 = -43;
/// Internal (a redirect being followed); never returned or reported.
pub const OTA_ERR_REDIRECTED: i32 = -44;
/// TLS: the server's certificate chain does not lead to a trusted root (built-in TLS: Tencent's
/// IoT CA for MQTT, the Mozilla roots for HTTPS, plus ota_config.ca). Add the root to ota_config.ca.
pub const OTA_ERR_TLS_UNTRUSTED: i32 = -50;
/// TLS: the server's certificate is not valid for the host name connected to (broker_host, or the
/// firmware URL's host).
pub const OTA_ERR_TLS_NAME_MISMATCH: i32 = -51;
/// TLS: the server's certificate has expired or is not yet valid at the host's clock
/// (ota_platform.unix_time_s); check the device's time.
pub const OTA_ERR_TLS_EXPIRED: i32 = -52;
/// TLS: the server ended the session with a fatal alert.
pub const OTA_ERR_TLS_ALERT: i32 = -53;
/// TLS: the handshake failed otherwise (no common TLS version or cipher suite, a bad message).
pub const OTA_ERR_TLS_HANDSHAKE: i32 = -54;
/// TLS: the set-up is unusable: ota_config.ca is not PEM/DER certificates, or the built-in TLS
/// has no tls_buf for this connection.
pub const OTA_ERR_TLS_CONFIG: i32 = -55;
/// A redirect from https to http was refused (nothing is sent in clear).
pub const OTA_ERR_TLS_DOWNGRADE: i32 = -56;

// ---------------------------------------------------------------------------------------------
// Sizes, defaults and flags
// ---------------------------------------------------------------------------------------------

/// Bytes of ota_client storage on targets with 32-bit pointers (Cortex-M, 32-bit Linux). The
/// header's OTA_CLIENT_SIZE picks this or OTA_CLIENT_SIZE_64 by UINTPTR_MAX. (Used: 2576 bytes on
/// thumbv7em; the built-in TLS adds about 50 on a 32-bit host.)
pub const OTA_CLIENT_SIZE_32: usize = 2688;
/// Bytes of ota_client storage on targets with 64-bit pointers. (Used: 2960 bytes on x86-64 with
/// the built-in TLS.)
pub const OTA_CLIENT_SIZE_64: usize = 3072;
// OTA_CLIENT_SIZE and OTA_CLIENT_WORDS reach C through cbindgen.toml's `after_includes` (a
// choice by pointer size, which cbindgen cannot express); both bounds are asserted below.
#[cfg(target_pointer_width = "64")]
pub const OTA_CLIENT_SIZE: usize = OTA_CLIENT_SIZE_64;
#[cfg(not(target_pointer_width = "64"))]
pub const OTA_CLIENT_SIZE: usize = OTA_CLIENT_SIZE_32;
pub const OTA_CLIENT_WORDS: usize = OTA_CLIENT_SIZE / 8;
/// Longest version string, in bytes (Tencent's limit).
pub const OTA_VERSION_MAX: usize = 32;
/// Longest product id, in bytes.
pub const OTA_PRODUCT_ID_MAX: usize = 32;
/// Longest device name, in bytes.
pub const OTA_DEVICE_NAME_MAX: usize = 64;
/// Longest broker host name, in bytes.
pub const OTA_HOST_MAX: usize = 128;
/// Longest firmware URL, in bytes.
pub const OTA_URL_MAX: usize = 512;
/// Minimum mqtt_rx_len. Recommended 2048: update_firmware is about 500 bytes plus user_defined.
pub const OTA_MIN_MQTT_RX: usize = 1024;
/// Minimum mqtt_tx_len.
pub const OTA_MIN_MQTT_TX: usize = 512;
/// Minimum http_len; the whole HTTP response head must fit. Larger means fewer recv calls.
pub const OTA_MIN_HTTP: usize = 1024;
/// Minimum tls_len per connection that uses the built-in TLS: one whole TLS record (16384 bytes
/// of plaintext + 2048 of expansion + the 5-byte header). tls_len must be at least this for
/// https downloads, and twice this with OTA_FLAG_MQTT_TLS (the first half is the broker's).
pub const OTA_MIN_TLS_LEN: usize = 18437;
/// Bytes each copy of the persistent record needs (room to grow; the record is smaller today).
pub const OTA_RECORD_SIZE: usize = 256;

/// Default keepalive (ota_config.keepalive_s = 0), seconds. Range 30..900.
pub const OTA_DEFAULT_KEEPALIVE_S: u16 = 240;
/// Default wait for CONNACK/SUBACK/PUBACK/PINGRESP (ack_timeout_ms = 0). Range 100..60000.
pub const OTA_DEFAULT_ACK_TIMEOUT_MS: u32 = 10_000;
/// Default spacing of progress reports (progress_interval_ms = 0), ms: a margin over the cloud's
/// one per second, so network and host queueing jitter cannot make two arrive closer than that.
pub const OTA_DEFAULT_PROGRESS_INTERVAL_MS: u32 = 1500;
/// Smallest spacing of progress reports accepted, ms (the cloud's rate limit).
pub const OTA_MIN_PROGRESS_INTERVAL_MS: u32 = 1000;
/// Default stall window, ms: a request that brings fewer than 1 KiB of body (or the rest of the
/// image, when less is left) in this long counts as stalled.
pub const OTA_DEFAULT_STALL_TIMEOUT_MS: u32 = 30_000;
/// Default download attempts before `fail` is reported (max_attempts = 0). Range 1..255.
pub const OTA_DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Default bytes between two saves of the resume record (journal_interval = 0). Min 64.
pub const OTA_DEFAULT_JOURNAL_INTERVAL: u32 = 65_536;
/// Default longest delay ota_poll() returns while a connection is open (net_poll_ms = 0), ms.
pub const OTA_DEFAULT_NET_POLL_MS: u32 = 20;

/// ota_config.flags: wait for ota_accept()/ota_defer()/ota_decline() after OTA_EVENT_OFFERED.
pub const OTA_FLAG_MANUAL_ACCEPT: u32 = 1;
/// ota_config.flags: MQTT over TLS (default port 8883): the built-in TLS (needs tls_buf of
/// 2 * OTA_MIN_TLS_LEN), or the host's (net_connect gets OTA_NET_TLS) with OTA_FLAG_HOST_TLS or
/// without the built-in TLS.
pub const OTA_FLAG_MQTT_TLS: u32 = 2;
/// ota_config.flags: sign the MQTT password with HMAC-SHA1 instead of HMAC-SHA256.
pub const OTA_FLAG_HMAC_SHA1: u32 = 4;

/// ota_config.flags: after the reboot into a new image, wait for ota_confirm() (the firmware's
/// self-test passed) before reporting `done`; until then nothing is reported.
pub const OTA_FLAG_MANUAL_CONFIRM: u32 = 8;

/// ota_config.flags: before the image is declared good, read the whole slot back through
/// slot_read and check its MD5 again (catches a flash that did not keep what was written).
pub const OTA_FLAG_READBACK_VERIFY: u32 = 16;

/// ota_config.flags: the host owns the MQTT connection (bring-your-own MQTT). The library
/// publishes and subscribes through ota_platform.mqtt_publish/mqtt_subscribe, the host calls
/// ota_mqtt_connected()/ota_mqtt_disconnected() and hands every message of ota_update_topic()
/// to ota_mqtt_input(); the MQTT buffers may be NULL. ota_poll() still runs the download.
pub const OTA_FLAG_HOST_MQTT: u32 = 32;

/// ota_config.flags: the host opens every TLS connection itself (net_connect gets OTA_NET_TLS)
/// even when the library has the built-in TLS (see ota_has_builtin_tls()). Without the built-in
/// TLS (every MCU build) TLS is always the host's and this flag changes nothing.
pub const OTA_FLAG_HOST_TLS: u32 = 64;

/// net_connect flags: the connection must be TLS, verified for the host name given.
pub const OTA_NET_TLS: u32 = 1;
/// net_connect channel: the MQTT broker.
pub const OTA_CHANNEL_MQTT: i32 = 0;
/// net_connect channel: the firmware server.
pub const OTA_CHANNEL_HTTP: i32 = 1;
/// net_send/net_recv result: nothing can move now; the library tries again later.
pub const OTA_NET_WOULD_BLOCK: i32 = -2;
/// net_* result: the connection failed. (net_recv returns 0 when the peer closed it.)
pub const OTA_NET_ERROR: i32 = -1;

/// Log level: an error.
pub const OTA_LOG_ERROR: i32 = 1;
/// Log level: a warning.
pub const OTA_LOG_WARN: i32 = 2;
/// Log level: progress information.
pub const OTA_LOG_INFO: i32 = 3;
/// Log level: detail for debugging.
pub const OTA_LOG_DEBUG: i32 = 4;

// ---------------------------------------------------------------------------------------------
// States and events
// ---------------------------------------------------------------------------------------------

/// No update in progress.
pub const OTA_STATE_IDLE: i32 = 0;
/// An offer waits for ota_accept()/ota_defer()/ota_decline() (OTA_FLAG_MANUAL_ACCEPT).
pub const OTA_STATE_OFFERED: i32 = 1;
/// Downloading, or waiting to retry.
pub const OTA_STATE_DOWNLOADING: i32 = 2;
/// The verified image is in the slot, marked bootable: reboot when convenient.
pub const OTA_STATE_READY: i32 = 3;
/// Running the new image; reporting `done` and the new version to the cloud.
pub const OTA_STATE_CONFIRMING: i32 = 4;

/// The MQTT session is up and subscribed.
pub const OTA_EVENT_CONNECTED: i32 = 1;
/// The MQTT connection was lost (error says why); the library reconnects with backoff.
pub const OTA_EVENT_DISCONNECTED: i32 = 2;
/// The cloud acknowledged report_version.
pub const OTA_EVENT_VERSION_REPORTED: i32 = 3;
/// The cloud offered an update (version, file_size). With OTA_FLAG_MANUAL_ACCEPT, answer it.
pub const OTA_EVENT_OFFERED: i32 = 4;
/// The download started (downloaded = 0).
pub const OTA_EVENT_DOWNLOAD_STARTED: i32 = 5;
/// Download progress (once per percent).
pub const OTA_EVENT_PROGRESS: i32 = 6;
/// The verified image is marked bootable and the cloud acknowledged `burning`: reboot when
/// convenient. (ota_get_status() says OTA_STATE_READY as soon as the slot is bootable; the event
/// waits for the acknowledgement, across reconnects, so a reboot never swallows the report.)
pub const OTA_EVENT_IMAGE_READY: i32 = 7;
/// After the reboot the cloud acknowledged `done` and the new version: the update is complete.
pub const OTA_EVENT_DONE: i32 = 8;
/// The update failed and the cloud acknowledged `fail` (result_code, error).
pub const OTA_EVENT_FAILED: i32 = 9;
/// A recoverable problem; the library retries (error says what).
pub const OTA_EVENT_ERROR: i32 = 10;

/// One event, valid only during the event callback.
#[repr(C)]
pub struct ota_event {
    /// OTA_EVENT_*
    pub kind: i32,
    /// OTA_ERR_* for DISCONNECTED, FAILED and ERROR; OTA_OK otherwise.
    pub error: i32,
    /// The Tencent result_code reported with FAILED (-1 timeout, -2 not found, -3 signature expired, -4 MD5, -5 upgrade failed).
    pub result_code: i32,
    /// NUL-terminated, never NULL: the target version ("" when there is none), or the running
    /// version for CONNECTED, DISCONNECTED and VERSION_REPORTED.
    pub version: *const c_char,
    /// Image size in bytes (0 when there is no image).
    pub file_size: u32,
    /// Bytes downloaded and verified into the slot so far.
    pub downloaded: u32,
    /// downloaded * 100 / file_size.
    pub percent: u8,
}

/// A snapshot for ota_get_status().
#[repr(C)]
pub struct ota_status {
    /// OTA_STATE_*
    pub state: i32,
    /// The MQTT session is up and subscribed.
    pub connected: bool,
    /// The last error (OTA_ERR_*), or OTA_OK.
    pub last_error: i32,
    pub file_size: u32,
    pub downloaded: u32,
    pub percent: u8,
    /// NUL-terminated target version ("" when idle).
    pub target_version: [c_char; 33],
    /// NUL-terminated running version.
    pub running_version: [c_char; 33],
}

// ---------------------------------------------------------------------------------------------
// Configuration and the functions the host provides
// ---------------------------------------------------------------------------------------------

/// What ota_init() needs. Zero a struct, fill the required fields; 0/NULL elsewhere means the default. Strings are copied.
#[repr(C)]
pub struct ota_config {
    /// Required. The product id from the console (e.g. "ABCDEFGHIJ").
    pub product_id: *const c_char,
    /// Required. The device name.
    pub device_name: *const c_char,
    /// Required (NULL allowed with OTA_FLAG_HOST_MQTT). The device secret, base64, as the
    /// console shows it.
    pub device_secret: *const c_char,
    /// NULL: "{product_id}.iotcloud.tencentdevices.com".
    pub broker_host: *const c_char,
    /// 0: 1883, or 8883 with OTA_FLAG_MQTT_TLS.
    pub broker_port: u16,
    /// Required. The version this firmware runs, 1..32 bytes.
    pub running_version: *const c_char,
    /// OTA_FLAG_* bits.
    pub flags: u32,
    /// Required. MQTT receive buffer, at least OTA_MIN_MQTT_RX bytes (2048 recommended). Must stay valid until ota_deinit().
    pub mqtt_rx_buf: *mut u8,
    pub mqtt_rx_len: usize,
    /// Required. MQTT transmit buffer, at least OTA_MIN_MQTT_TX bytes. Must stay valid until ota_deinit().
    pub mqtt_tx_buf: *mut u8,
    pub mqtt_tx_len: usize,
    /// Required. HTTP buffer, at least OTA_MIN_HTTP bytes (4096 or more for speed). Must stay valid until ota_deinit().
    pub http_buf: *mut u8,
    pub http_len: usize,
    /// Largest image the slot takes; bigger offers are refused with result_code -5. 0: no limit.
    pub slot_size: u32,
    /// MQTT keepalive in seconds. 0: OTA_DEFAULT_KEEPALIVE_S.
    pub keepalive_s: u16,
    /// 0: OTA_DEFAULT_ACK_TIMEOUT_MS.
    pub ack_timeout_ms: u32,
    /// 0: OTA_DEFAULT_PROGRESS_INTERVAL_MS; values under OTA_MIN_PROGRESS_INTERVAL_MS are raised
    /// to it (Tencent's rate).
    pub progress_interval_ms: u32,
    /// 0: OTA_DEFAULT_STALL_TIMEOUT_MS. Fewer than 1 KiB of body (or the rest of the image) in
    /// this long is a stall, retried with backoff: also a server that trickles a byte at a time.
    /// The slowest link that still completes is 1 KiB per stall_timeout_ms (34 B/s at 30 s).
    pub stall_timeout_ms: u32,
    /// 0: OTA_DEFAULT_MAX_ATTEMPTS.
    pub max_attempts: u32,
    /// Save the resume record after this many new bytes (0: OTA_DEFAULT_JOURNAL_INTERVAL). A
    /// multiple of the flash sector size keeps wear low; a power cut costs at most this much.
    pub journal_interval: u32,
    /// NULL, or the module this client serves (`fw_type`, e.g. "mcu", at most 16 bytes): offers
    /// for other modules are ignored and report_version names the module. One client per module.
    pub fw_type: *const c_char,
    /// 0: OTA_DEFAULT_NET_POLL_MS. Hosts that wait on socket readiness (readable, connected, and
    /// writable after an OTA_NET_WOULD_BLOCK send) may set it high.
    pub net_poll_ms: u32,
    /// Built-in TLS: extra trust anchors for the broker and the firmware server, PEM text with
    /// one or more certificates, or one DER certificate (NULL: none). Trusted besides Tencent's
    /// IoT CA (MQTT) and the Mozilla roots (HTTPS). Not copied: must stay valid until ota_deinit().
    pub ca: *const u8,
    pub ca_len: usize,
    /// Built-in TLS: the receive buffer for TLS records, at least OTA_MIN_TLS_LEN for https
    /// downloads and 2 * OTA_MIN_TLS_LEN with OTA_FLAG_MQTT_TLS (NULL: no built-in TLS
    /// connection can open; not needed with OTA_FLAG_HOST_TLS). Must stay valid until ota_deinit().
    pub tls_buf: *mut u8,
    pub tls_len: usize,
}

/// Monotonic milliseconds, any origin. Required.
pub type ota_now_ms_fn = Option<unsafe extern "C" fn(user: *mut c_void) -> u64>;
/// Start a non-blocking connection to host:port (DNS is the host's business) and return a
/// non-negative handle, or OTA_NET_ERROR. The connection may still be in progress: net_send/net_recv return
/// OTA_NET_WOULD_BLOCK until it is up. channel is OTA_CHANNEL_MQTT or OTA_CHANNEL_HTTP; with
/// OTA_NET_TLS in flags the host must open a TLS connection that verifies `host` (the built-in
/// TLS, when it handles a connection, asks for plain TCP and runs TLS over it). Required.
pub type ota_net_connect_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        channel: i32,
        host: *const c_char,
        port: u16,
        flags: u32,
    ) -> i32,
>;
/// Send up to len bytes: the count sent (> 0), OTA_NET_WOULD_BLOCK, or OTA_NET_ERROR. Required.
pub type ota_net_send_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, sock: i32, buf: *const u8, len: usize) -> i32>;
/// Receive up to len bytes: the count (> 0), 0 when the peer closed, OTA_NET_WOULD_BLOCK, or OTA_NET_ERROR. Required.
pub type ota_net_recv_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, sock: i32, buf: *mut u8, len: usize) -> i32>;
/// Close a connection. Required.
pub type ota_net_close_fn = Option<unsafe extern "C" fn(user: *mut c_void, sock: i32)>;
/// Prepare the slot for an image of image_size bytes; offset 0 starts afresh (erase as needed). 0 or negative. Required.
pub type ota_slot_open_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, image_size: u32, offset: u32) -> i32>;
/// Write len bytes at offset into the slot: 0 or negative. Writes arrive in order. Required.
pub type ota_slot_write_fn = Option<
    unsafe extern "C" fn(user: *mut c_void, offset: u32, data: *const u8, len: usize) -> i32,
>;
/// Read back len bytes at offset: 0 or negative. Optional (NULL: no read-back).
pub type ota_slot_read_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, offset: u32, buf: *mut u8, len: usize) -> i32>;
/// Finish with the slot. bootable: the MD5-verified image must boot next (e.g. MCUboot's
/// boot_set_pending); false: the image is abandoned and will never be used (the slot may be
/// erased; the resume record was cleared before: when store_save fails, this call waits, the
/// slot left as it is, until the record could be cleared). 0 or negative. Required.
pub type ota_slot_close_fn = Option<unsafe extern "C" fn(user: *mut c_void, bootable: bool) -> i32>;
/// Load copy `copy` (0 or 1) of the persistent record into buf (cap >= OTA_RECORD_SIZE): its
/// length, 0 when that copy is empty, or negative. Required.
pub type ota_store_load_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, copy: u8, buf: *mut u8, cap: usize) -> i32>;
/// Replace copy `copy` (0 or 1) of the persistent record (len 0 erases it): 0 or negative. Keep
/// the two copies independent (two files, or two flash sectors): the library writes them
/// alternately with a sequence number and a CRC, so a power cut during a write loses only the
/// copy being written, never the last good record. Required.
pub type ota_store_save_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, copy: u8, data: *const u8, len: usize) -> i32>;
/// OTA_FLAG_HOST_MQTT only: subscribe `topic` (NUL-terminated) with `qos` on the host's
/// connection: 0, OTA_NET_WOULD_BLOCK (asked again at the next poll), or negative.
pub type ota_mqtt_subscribe_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, topic: *const c_char, qos: u8) -> i32>;
/// OTA_FLAG_HOST_MQTT only: publish `len` bytes on `topic` (NUL-terminated) with `qos` (0 or 1)
/// on the host's connection. Returns a positive token when the host will report this QoS1
/// message's PUBACK with ota_mqtt_acked(token); 0 when accepted and no acknowledgement will come
/// (QoS0, or a host that cannot tell: the library then counts it as delivered);
/// OTA_NET_WOULD_BLOCK (asked again at the next poll); or another negative on failure.
/// A token not acknowledged within ack_timeout_ms is published again (a new token; QoS1 is
/// at-least-once), 3 times per connection; then the library counts the connection as lost for
/// reporting (OTA_EVENT_DISCONNECTED, OTA_ERR_MQTT_TIMEOUT) and subscribes and reports again
/// itself after a backoff (ack_timeout_ms doubled per loss, at most 60 s).
pub type ota_mqtt_publish_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        topic: *const c_char,
        payload: *const u8,
        len: usize,
        qos: u8,
    ) -> i32,
>;
/// An event (see OTA_EVENT_*). May call ota_accept()/ota_defer()/ota_decline() on the same client. Optional.
pub type ota_event_fn = Option<unsafe extern "C" fn(user: *mut c_void, event: *const ota_event)>;
/// Wall-clock time in seconds since 1970-01-01 UTC, or a negative value when the clock is not set
/// yet. Used by the built-in TLS to check certificate validity. Optional: without it (or while it
/// is negative) the library's build time stands in, so a certificate that expired before the
/// build is still refused but a later expiry is not noticed.
pub type ota_unix_time_s_fn = Option<unsafe extern "C" fn(user: *mut c_void) -> i64>;
/// A log line: msg is NUL-terminated and len bytes long, level is OTA_LOG_*. Optional; never called when the library was built without the cargo feature `log` (CMake: QCLOUD_OTA_LOG=OFF).
pub type ota_log_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, level: i32, msg: *const c_char, len: usize)>;

/// The functions the host provides, each called with `user` first, only from inside ota_* calls.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ota_platform {
    pub user: *mut c_void,
    pub now_ms: ota_now_ms_fn,
    pub net_connect: ota_net_connect_fn,
    pub net_send: ota_net_send_fn,
    pub net_recv: ota_net_recv_fn,
    pub net_close: ota_net_close_fn,
    pub slot_open: ota_slot_open_fn,
    pub slot_write: ota_slot_write_fn,
    pub slot_read: ota_slot_read_fn,
    pub slot_close: ota_slot_close_fn,
    pub store_load: ota_store_load_fn,
    pub store_save: ota_store_save_fn,
    pub on_event: ota_event_fn,
    pub log: ota_log_fn,
    /// OTA_FLAG_HOST_MQTT only (NULL otherwise).
    pub mqtt_subscribe: ota_mqtt_subscribe_fn,
    /// OTA_FLAG_HOST_MQTT only (NULL otherwise).
    pub mqtt_publish: ota_mqtt_publish_fn,
    /// Optional: wall-clock time for the built-in TLS's certificate checks.
    pub unix_time_s: ota_unix_time_s_fn,
}

/// Storage for one client. Declare it (static or on a long-lived stack) and pass it to ota_init().
#[repr(C)]
pub struct ota_client {
    /// Opaque; u64 words give the storage 8-byte alignment on every target.
    pub _opaque: [u64; OTA_CLIENT_WORDS],
}

// ---------------------------------------------------------------------------------------------
// The platform over C function pointers
// ---------------------------------------------------------------------------------------------

/// `ota_platform` with every required pointer checked once at init.
struct CPlatform {
    p: ota_platform,
}

/// Copy `s` into `buf` with a NUL; longer text is cut (only for names and log lines).
fn nul_terminated<'a>(s: &str, buf: &'a mut [u8]) -> &'a [u8] {
    let n = s.len().min(buf.len().saturating_sub(1));
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), s.as_bytes().get(..n)) {
        copy_prefix(dst, src);
    }
    if let Some(b) = buf.get_mut(n) {
        *b = 0;
    }
    buf.get(..=n).unwrap_or(&[])
}

fn clamp_len(n: usize) -> usize {
    n.min(i32::MAX as usize)
}

fn net_result(r: i32, eof_is: NetError) -> Result<usize, NetError> {
    match r {
        n if n > 0 => Ok(n as usize),
        0 => Err(eof_is),
        OTA_NET_WOULD_BLOCK => Err(NetError::WouldBlock),
        _ => Err(NetError::Failed),
    }
}

fn status(r: i32) -> Result<(), HostError> {
    if r < 0 { Err(HostError) } else { Ok(()) }
}

/// A callback of `REQUIRED_CALLBACKS`: `CPlatform` is built only from an `ota_platform` whose
/// required pointers `init` checked non-NULL, and keeps its private copy, so `None` cannot occur.
///
/// # Safety
/// `f` is one of the callbacks `init` checked.
#[inline(always)]
unsafe fn required<F>(f: Option<F>) -> F {
    // SAFETY: as promised by the caller.
    unsafe { f.unwrap_unchecked() }
}

impl Platform for CPlatform {
    fn now_ms(&mut self) -> u64 {
        // SAFETY: the host promised a valid function for `user` (checked non-NULL at init).
        unsafe { required(self.p.now_ms)(self.p.user) }
    }
    fn unix_time_s(&mut self) -> Option<i64> {
        // SAFETY: host callback with its own context.
        let t = self.p.unix_time_s.map(|f| unsafe { f(self.p.user) })?;
        (t >= 0).then_some(t)
    }
    fn connect(
        &mut self,
        channel: Channel,
        host: &str,
        port: u16,
        tls: bool,
    ) -> Result<Socket, NetError> {
        let mut name = [0u8; OTA_HOST_MAX + 1];
        let name = nul_terminated(host, &mut name);
        let ch = match channel {
            Channel::Mqtt => OTA_CHANNEL_MQTT,
            Channel::Http => OTA_CHANNEL_HTTP,
        };
        let flags = if tls { OTA_NET_TLS } else { 0 };
        // SAFETY: checked non-NULL at init.
        let f = unsafe { required(self.p.net_connect) };
        // SAFETY: `name` is NUL-terminated and lives across the call.
        let r = unsafe { f(self.p.user, ch, name.as_ptr().cast(), port, flags) };
        if r >= 0 {
            Ok(Socket(r))
        } else {
            Err(NetError::Failed)
        }
    }
    fn send(&mut self, sock: Socket, buf: &[u8]) -> Result<usize, NetError> {
        // SAFETY: checked non-NULL at init.
        let f = unsafe { required(self.p.net_send) };
        // SAFETY: buf is valid for len bytes during the call.
        let r = unsafe { f(self.p.user, sock.0, buf.as_ptr(), clamp_len(buf.len())) };
        net_result(r, NetError::WouldBlock).map(|n| n.min(buf.len()))
    }
    fn recv(&mut self, sock: Socket, buf: &mut [u8]) -> Result<usize, NetError> {
        // SAFETY: checked non-NULL at init.
        let f = unsafe { required(self.p.net_recv) };
        // SAFETY: buf is valid and writable for len bytes during the call.
        let r = unsafe { f(self.p.user, sock.0, buf.as_mut_ptr(), clamp_len(buf.len())) };
        net_result(r, NetError::Closed).map(|n| n.min(buf.len()))
    }
    fn close(&mut self, sock: Socket) {
        // SAFETY: checked non-NULL at init; host callback with its own context.
        unsafe { required(self.p.net_close)(self.p.user, sock.0) }
    }
    fn slot_open(&mut self, size: u32, offset: u32) -> Result<(), HostError> {
        // SAFETY: checked non-NULL at init.
        let f = unsafe { required(self.p.slot_open) };
        // SAFETY: host callback with its own context.
        status(unsafe { f(self.p.user, size, offset) })
    }
    fn slot_write(&mut self, offset: u32, data: &[u8]) -> Result<(), HostError> {
        // SAFETY: checked non-NULL at init.
        let f = unsafe { required(self.p.slot_write) };
        // SAFETY: data is valid for len bytes during the call.
        status(unsafe { f(self.p.user, offset, data.as_ptr(), data.len()) })
    }
    fn slot_read(&mut self, offset: u32, buf: &mut [u8]) -> Option<Result<(), HostError>> {
        let f = self.p.slot_read?;
        // SAFETY: buf is valid and writable for len bytes during the call.
        Some(status(unsafe {
            f(self.p.user, offset, buf.as_mut_ptr(), buf.len())
        }))
    }
    fn slot_close(&mut self, bootable: bool) -> Result<(), HostError> {
        // SAFETY: checked non-NULL at init.
        let f = unsafe { required(self.p.slot_close) };
        // SAFETY: host callback with its own context.
        status(unsafe { f(self.p.user, bootable) })
    }
    fn store_load(&mut self, copy: u8, buf: &mut [u8]) -> usize {
        // SAFETY: checked non-NULL at init.
        let f = unsafe { required(self.p.store_load) };
        // SAFETY: buf is valid and writable for cap bytes during the call.
        let r = unsafe { f(self.p.user, copy, buf.as_mut_ptr(), buf.len()) };
        usize::try_from(r).unwrap_or(0).min(buf.len())
    }
    fn store_save(&mut self, copy: u8, data: &[u8]) -> Result<(), HostError> {
        // SAFETY: checked non-NULL at init.
        let f = unsafe { required(self.p.store_save) };
        // SAFETY: data is valid for len bytes during the call.
        status(unsafe { f(self.p.user, copy, data.as_ptr(), data.len()) })
    }
    fn event(&mut self, ev: &Event<'_>) {
        let Some(f) = self.p.on_event else { return };
        let mut version = [0u8; OTA_VERSION_MAX + 1];
        let version = nul_terminated(ev.version, &mut version);
        let c = ota_event {
            kind: ev.kind as i32,
            error: ev.error.map_or(OTA_OK, Error::code),
            result_code: ev.result_code,
            version: version.as_ptr().cast(),
            file_size: ev.file_size,
            downloaded: ev.downloaded,
            percent: ev.percent,
        };
        // SAFETY: `c` and the version it points to live across the call.
        unsafe { f(self.p.user, &c) }
    }
    fn mqtt_subscribe(&mut self, topic: &str, qos: u8) -> Result<(), NetError> {
        let f = self.p.mqtt_subscribe.ok_or(NetError::Failed)?;
        let mut name = [0u8; TOPIC_MAX + 1];
        let name = nul_terminated(topic, &mut name);
        // SAFETY: `name` is NUL-terminated and lives across the call.
        match unsafe { f(self.p.user, name.as_ptr().cast(), qos) } {
            0.. => Ok(()),
            OTA_NET_WOULD_BLOCK => Err(NetError::WouldBlock),
            _ => Err(NetError::Failed),
        }
    }
    fn mqtt_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
    ) -> Result<Option<u32>, NetError> {
        let f = self.p.mqtt_publish.ok_or(NetError::Failed)?;
        let mut name = [0u8; TOPIC_MAX + 1];
        let name = nul_terminated(topic, &mut name);
        // SAFETY: `name` is NUL-terminated, `payload` valid for len bytes, both across the call.
        match unsafe {
            f(
                self.p.user,
                name.as_ptr().cast(),
                payload.as_ptr(),
                payload.len(),
                qos,
            )
        } {
            0 => Ok(None),
            t if t > 0 => Ok(Some(t as u32)),
            OTA_NET_WOULD_BLOCK => Err(NetError::WouldBlock),
            _ => Err(NetError::Failed),
        }
    }
    fn log(&mut self, level: Level, msg: &str) {
        // Without the feature the compiler drops the texts and the code that builds them.
        if !cfg!(feature = "log") {
            return;
        }
        let Some(f) = self.p.log else { return };
        let mut line = [0u8; 160];
        let line = nul_terminated(msg, &mut line);
        // SAFETY: `line` is NUL-terminated and lives across the call.
        unsafe {
            f(
                self.p.user,
                level as i32,
                line.as_ptr().cast(),
                line.len() - 1,
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client storage
// ---------------------------------------------------------------------------------------------

type CClient = Client<'static, CPlatform>;

/// `$ota/update/` or `$ota/report/`, a product id, `/`, a device name.
const TOPIC_MAX: usize = 12 + OTA_PRODUCT_ID_MAX + 1 + OTA_DEVICE_NAME_MAX;

const MAGIC: u32 = 0x4F54_4131; // "OTA1"
const CMD_NONE: u32 = 0;
const CMD_ACCEPT: u32 = 1;
const CMD_DECLINE: u32 = 2;
const CMD_DEFER: u32 = 3;
const CMD_CONFIRM: u32 = 4;

/// What lives inside `ota_client`. `magic`, `busy` and the deferred command are touched only
/// through raw pointers, so a callback re-entering the library never aliases the `&mut` to
/// `client` held by the outer call.
#[repr(C)]
struct Storage {
    magic: u32,
    busy: u32,
    cmd: u32,
    cmd_arg: u32,
    client: MaybeUninit<CClient>,
}

const _: () = assert!(core::mem::size_of::<Storage>() <= OTA_CLIENT_SIZE);
const _: () = assert!(crate::journal::RECORD_LEN <= OTA_RECORD_SIZE);
const _: () = assert!(core::mem::align_of::<Storage>() <= 8);
const _: () = assert!(OTA_CLIENT_WORDS * 8 == OTA_CLIENT_SIZE);
const _: () = assert!(OTA_CLIENT_SIZE_32.is_multiple_of(8) && OTA_CLIENT_SIZE_64.is_multiple_of(8));
// A 16-bit or 128-bit target would need its own bound.
const _: () = assert!(cfg!(target_pointer_width = "32") || cfg!(target_pointer_width = "64"));
// cbindgen drops arrays sized by expressions, so ota_status spells 33 out.
const _: () = assert!(OTA_VERSION_MAX + 1 == 33);

/// `ota_platform` is one pointer per field (`user`, then the callbacks, each `Option<fn>`,
/// NULL for `None`), so the required ones are checked in one loop over a mask of positions.
const PLATFORM_WORDS: usize = core::mem::size_of::<ota_platform>() / core::mem::size_of::<usize>();
const fn field(offset: usize) -> u32 {
    1 << (offset / core::mem::size_of::<usize>())
}
const REQUIRED_CALLBACKS: u32 = field(core::mem::offset_of!(ota_platform, now_ms))
    | field(core::mem::offset_of!(ota_platform, net_connect))
    | field(core::mem::offset_of!(ota_platform, net_send))
    | field(core::mem::offset_of!(ota_platform, net_recv))
    | field(core::mem::offset_of!(ota_platform, net_close))
    | field(core::mem::offset_of!(ota_platform, slot_open))
    | field(core::mem::offset_of!(ota_platform, slot_write))
    | field(core::mem::offset_of!(ota_platform, slot_close))
    | field(core::mem::offset_of!(ota_platform, store_load))
    | field(core::mem::offset_of!(ota_platform, store_save));
const HOST_MQTT_CALLBACKS: u32 = field(core::mem::offset_of!(ota_platform, mqtt_publish))
    | field(core::mem::offset_of!(ota_platform, mqtt_subscribe));
const _: () =
    assert!(PLATFORM_WORDS * core::mem::size_of::<usize>() == core::mem::size_of::<ota_platform>());
const _: () = assert!(PLATFORM_WORDS == 17 && PLATFORM_WORDS <= 32);

/// The storage behind `c`, when it holds an initialised client.
///
/// # Safety
/// `c` is NULL or points to an `ota_client` the caller owns.
unsafe fn storage(c: *mut ota_client) -> Result<*mut Storage, Error> {
    if c.is_null() {
        return Err(Error::NullPointer);
    }
    let s = c.cast::<Storage>();
    // SAFETY: `c` is valid for OTA_CLIENT_SIZE bytes and suitably aligned; the header fields are
    // plain integers, read without forming a reference to the whole storage.
    if unsafe { addr_of!((*s).magic).read() } != MAGIC {
        return Err(Error::NotInitialized);
    }
    Ok(s)
}

/// The initialised, non-busy client in `c`, now marked busy; [`leave`] follows. One copy of
/// these checks for every entry point (`with_client` is instantiated per closure).
///
/// # Safety
/// As for [`storage`].
#[inline(never)]
unsafe fn enter<'a>(c: *mut ota_client) -> Result<&'a mut CClient, Error> {
    // SAFETY: forwarded caller contract; header fields through raw pointers (see `Storage`).
    unsafe {
        let s = storage(c)?;
        if addr_of!((*s).busy).read() != 0 {
            return Err(Error::Busy);
        }
        addr_of_mut!((*s).busy).write(1);
        Ok((*addr_of_mut!((*s).client)).assume_init_mut())
    }
}

/// Applies the commands a callback deferred, then clears busy.
///
/// # Safety
/// `c` was just [`enter`]ed, and the reference `enter` gave is no longer used.
#[inline(never)]
unsafe fn leave(c: *mut ota_client) {
    let s = c.cast::<Storage>();
    // SAFETY: as promised by the caller; header fields through raw pointers.
    unsafe {
        let client = (*addr_of_mut!((*s).client)).assume_init_mut();
        loop {
            let cmd = addr_of!((*s).cmd).read();
            if cmd == CMD_NONE {
                break;
            }
            addr_of_mut!((*s).cmd).write(CMD_NONE);
            let arg = addr_of!((*s).cmd_arg).read();
            let _ = run(client, cmd, arg);
        }
        addr_of_mut!((*s).busy).write(0);
    }
}

/// Run `f` on an initialised, non-busy client; applies commands a callback deferred.
///
/// # Safety
/// As for [`storage`].
unsafe fn with_client<R>(
    c: *mut ota_client,
    f: impl FnOnce(&mut CClient) -> R,
) -> Result<R, Error> {
    // SAFETY: forwarded caller contract; the client reference ends with `f`.
    unsafe {
        let r = f(enter(c)?);
        leave(c);
        Ok(r)
    }
}

/// A decision taken from inside a callback: stored, applied when the outer call returns.
///
/// # Safety
/// As for [`storage`].
unsafe fn command(c: *mut ota_client, cmd: u32, arg: u32) -> i32 {
    // SAFETY: forwarded caller contract; header fields only, through raw pointers.
    unsafe {
        let s = match storage(c) {
            Ok(s) => s,
            Err(e) => return e.code(),
        };
        if addr_of!((*s).busy).read() != 0 {
            addr_of_mut!((*s).cmd).write(cmd);
            addr_of_mut!((*s).cmd_arg).write(arg);
            return OTA_OK;
        }
        code(with_client(c, |cl| run(cl, cmd, arg)).and_then(|r| r))
    }
}

fn run(c: &mut CClient, cmd: u32, arg: u32) -> Result<(), Error> {
    match cmd {
        CMD_ACCEPT => c.accept(),
        CMD_DECLINE => c.decline(),
        CMD_CONFIRM => c.confirm(),
        _ => c.defer(arg),
    }
}

fn code(r: Result<(), Error>) -> i32 {
    match r {
        Ok(()) => OTA_OK,
        Err(e) => e.code(),
    }
}

/// The length of a NUL-terminated C string of at most `max` bytes.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string (it is read at most up to `max` + 1 bytes).
unsafe fn c_len(p: *const c_char, max: usize) -> Result<usize, Error> {
    if p.is_null() {
        return Err(Error::NullPointer);
    }
    let mut len = 0;
    // SAFETY: the caller guarantees a NUL within the string; we stop at max + 1 bytes.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
        if len > max {
            return Err(Error::InvalidArgument);
        }
    }
    Ok(len)
}

/// A bounded, NUL-terminated C string of printable ASCII, what every name, secret and version
/// of Tencent's is: checked here once, so no UTF-8 decoder is needed anywhere.
///
/// # Safety
/// As for [`c_len`].
unsafe fn c_str<'a>(p: *const c_char, max: usize) -> Result<&'a str, Error> {
    // SAFETY: forwarded caller contract; `len` bytes were just read.
    let bytes = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), c_len(p, max)?) };
    if !bytes.iter().all(|b| (b' '..=b'~').contains(b)) {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: printable ASCII is UTF-8.
    Ok(unsafe { core::str::from_utf8_unchecked(bytes) })
}

/// `b` as a `str` when it is valid UTF-8, checked by the library's small validator
/// ([`crate::text::is_utf8`]) instead of core's fast one (0.5 KiB of flash). The conversion is
/// here because this module holds all of the crate's `unsafe`.
pub(crate) fn str_from_utf8(b: &[u8]) -> Option<&str> {
    // SAFETY: just checked to be UTF-8.
    crate::text::is_utf8(b).then(|| unsafe { core::str::from_utf8_unchecked(b) })
}

/// # Safety
/// `p` is NULL or valid for `len` writable bytes until `ota_deinit`.
unsafe fn buffer(p: *mut u8, len: usize) -> Result<&'static mut [u8], Error> {
    if p.is_null() {
        return Err(Error::NullPointer);
    }
    // SAFETY: the caller lends the buffer for the client's lifetime (documented in ota_config).
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

fn overlaps(a: (*mut u8, usize), b: (*mut u8, usize)) -> bool {
    let (a0, b0) = (a.0 as usize, b.0 as usize);
    a0 < b0.saturating_add(b.1) && b0 < a0.saturating_add(a.1)
}

fn or_default(v: u32, d: u32) -> u32 {
    if v == 0 { d } else { v }
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

/// Initialise a client in `client` storage: validates and copies the configuration, loads the
/// persistent record (to report `done` or a rollback after an update's reboot), and calls nothing
/// else. Connecting happens in ota_poll(). Returns OTA_OK or OTA_ERR_*.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_init(
    client: *mut ota_client,
    config: *const ota_config,
    platform: *const ota_platform,
) -> i32 {
    // SAFETY: forwarded caller contract.
    code(unsafe { init(client, config, platform) })
}

/// [`ota_init`] with `?` for its many checks: the client built and checked, then the
/// persistent record loaded ([`Client::boot`]) once `build`'s frame is gone.
///
/// # Safety
/// As for [`ota_init`]: NULL or valid pointers; strings and buffers as documented in ota_config.
unsafe fn init(
    client: *mut ota_client,
    config: *const ota_config,
    platform: *const ota_platform,
) -> Result<(), Error> {
    // SAFETY: forwarded caller contract.
    unsafe { build(client, config, platform)? };
    let s = client.cast::<Storage>();
    // SAFETY: `build` wrote a checked client into the storage; the header through raw pointers.
    unsafe {
        (*addr_of_mut!((*s).client)).assume_init_mut().boot();
        addr_of_mut!((*s).busy).write(0);
        addr_of_mut!((*s).cmd).write(CMD_NONE);
        addr_of_mut!((*s).magic).write(MAGIC);
    }
    Ok(())
}

/// Checks the arguments and writes the client into `client` ([`Client::blank_in`], inlined
/// here so the configuration goes into it straight from registers, then [`Client::fill`]).
/// Not inlined: LLVM stages parts of the blank engine on this frame (0.5 KiB on thumbv7em),
/// which must be gone before `boot` loads the journal.
///
/// # Safety
/// As for [`ota_init`].
#[inline(never)]
unsafe fn build(
    client: *mut ota_client,
    config: *const ota_config,
    platform: *const ota_platform,
) -> Result<(), Error> {
    if client.is_null() || config.is_null() || platform.is_null() {
        return Err(Error::NullPointer);
    }
    // SAFETY: checked non-NULL; the caller passes valid structs.
    let (cfg, p) = unsafe { (&*config, &*platform) };
    let host_mqtt = cfg.flags & OTA_FLAG_HOST_MQTT != 0;
    let need = REQUIRED_CALLBACKS | if host_mqtt { HOST_MQTT_CALLBACKS } else { 0 };
    // SAFETY: `ota_platform` is a sequence of pointers (asserted with the masks below).
    let words =
        unsafe { core::slice::from_raw_parts(platform.cast::<*const c_void>(), PLATFORM_WORDS) };
    for (i, w) in words.iter().enumerate() {
        if (need >> i) & 1 != 0 && w.is_null() {
            return Err(Error::NullPointer);
        }
    }
    let tls_len = if cfg.tls_buf.is_null() {
        0
    } else {
        cfg.tls_len
    };
    let bufs = [
        (cfg.mqtt_rx_buf, cfg.mqtt_rx_len),
        (cfg.mqtt_tx_buf, cfg.mqtt_tx_len),
        (cfg.http_buf, cfg.http_len),
        (cfg.tls_buf, tls_len),
    ];
    for (i, a) in bufs.iter().enumerate() {
        if bufs.iter().skip(i + 1).any(|b| overlaps(*a, *b)) {
            return Err(Error::InvalidArgument);
        }
    }
    let flag = |f: u32| cfg.flags & f != 0;
    // The numbers and flags first, then each string written straight into its field.
    let mut c = Config {
        product_id: "",
        device_name: "",
        device_secret: "",
        running_version: "",
        broker_host: None,
        broker_port: cfg.broker_port,
        mqtt_tls: flag(OTA_FLAG_MQTT_TLS),
        host_tls: flag(OTA_FLAG_HOST_TLS),
        keepalive_s: or_default(cfg.keepalive_s.into(), OTA_DEFAULT_KEEPALIVE_S.into()) as u16,
        ack_timeout_ms: or_default(cfg.ack_timeout_ms, OTA_DEFAULT_ACK_TIMEOUT_MS),
        sign_method: match flag(OTA_FLAG_HMAC_SHA1) {
            true => SignMethod::HmacSha1,
            false => SignMethod::HmacSha256,
        },
        net_poll_ms: or_default(cfg.net_poll_ms, OTA_DEFAULT_NET_POLL_MS),
        policy: Policy {
            manual_accept: flag(OTA_FLAG_MANUAL_ACCEPT),
            manual_confirm: flag(OTA_FLAG_MANUAL_CONFIRM),
            readback_verify: flag(OTA_FLAG_READBACK_VERIFY),
            slot_size: cfg.slot_size,
            max_attempts: or_default(cfg.max_attempts, OTA_DEFAULT_MAX_ATTEMPTS).min(255) as u8,
            progress_interval_ms: or_default(
                cfg.progress_interval_ms,
                OTA_DEFAULT_PROGRESS_INTERVAL_MS,
            )
            .max(OTA_MIN_PROGRESS_INTERVAL_MS),
            stall_timeout_ms: or_default(cfg.stall_timeout_ms, OTA_DEFAULT_STALL_TIMEOUT_MS),
            journal_interval: or_default(cfg.journal_interval, OTA_DEFAULT_JOURNAL_INTERVAL),
        },
        host_mqtt,
        module: None,
    };
    // SAFETY (the block): strings as documented in ota_config.
    unsafe {
        c.product_id = c_str(cfg.product_id, OTA_PRODUCT_ID_MAX)?;
        c.device_name = c_str(cfg.device_name, OTA_DEVICE_NAME_MAX)?;
        // Not needed with the host's MQTT (a gateway may not hold its sub-devices' secrets).
        if !(cfg.device_secret.is_null() && host_mqtt) {
            c.device_secret = c_str(cfg.device_secret, 128)?;
        }
        c.running_version = c_str(cfg.running_version, OTA_VERSION_MAX)?;
        if !cfg.broker_host.is_null() {
            c.broker_host = Some(c_str(cfg.broker_host, OTA_HOST_MAX)?);
        }
        if !cfg.fw_type.is_null() {
            c.module = Some(c_str(cfg.fw_type, 16)?);
        }
    }
    // With the host's MQTT the library needs no MQTT buffers.
    // SAFETY: the buffers are lent until ota_deinit (documented in ota_config).
    let optional = |p: *mut u8, len: usize| match p.is_null() && host_mqtt {
        true => Ok(&mut [][..]),
        false => unsafe { buffer(p, len) },
    };
    let b = Buffers {
        mqtt_rx: optional(cfg.mqtt_rx_buf, cfg.mqtt_rx_len)?,
        mqtt_tx: optional(cfg.mqtt_tx_buf, cfg.mqtt_tx_len)?,
        // SAFETY: as above.
        http: unsafe { buffer(cfg.http_buf, cfg.http_len)? },
    };
    let t = TlsSetup {
        // SAFETY: as above.
        buf: unsafe { buffer(cfg.tls_buf, tls_len) }.unwrap_or(&mut []),
        ca: match (cfg.ca.is_null(), cfg.ca_len) {
            (_, 0) => &[],
            (true, _) => return Err(Error::NullPointer),
            // SAFETY: the anchors are lent until ota_deinit (documented in ota_config).
            (false, n) => unsafe { core::slice::from_raw_parts(cfg.ca, n) },
        },
    };
    let s = client.cast::<Storage>();
    // SAFETY: `client` is valid, aligned storage of OTA_CLIENT_SIZE bytes (asserted above).
    unsafe {
        addr_of_mut!((*s).magic).write(0);
        // Built in place: a client on this stack would be 2.6 KiB more at init (see README).
        let slot = &mut *addr_of_mut!((*s).client);
        Client::blank_in(slot, &c, b, t, CPlatform { p: *p })?.fill(&c)
    }
}

/// Do whatever is due (connect, read, write, download a chunk, report, ping) without blocking.
/// Returns the milliseconds until it wants to be called again (0: call again at once). Call it
/// sooner when a socket becomes readable. Returns UINT32_MAX for an uninitialised client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_poll(client: *mut ota_client) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { with_client(client, |c| c.poll()) }.unwrap_or(u32::MAX)
}

/// Report the running version (1..32 bytes) to the cloud, now or as soon as connected. The
/// library already reports it after every (re)connect; call this after the version changed
/// without a reboot, or to ask the cloud to re-send a pending update.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_report_version(
    client: *mut ota_client,
    version: *const c_char,
) -> i32 {
    // SAFETY: forwarded caller contract.
    let v = match unsafe { c_str(version, OTA_VERSION_MAX) } {
        Ok(v) => v,
        Err(e) => return e.code(),
    };
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.report_version(v)) }.and_then(|r| r))
}

/// Accept the offered update (OTA_STATE_OFFERED). Allowed inside the event callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_accept(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { command(client, CMD_ACCEPT, 0) }
}

/// Decline the offered update: the cloud hears `fail` -5 "declined by device". Allowed inside the event callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_decline(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { command(client, CMD_DECLINE, 0) }
}

/// Put the offer aside; after delay_ms the library reports the version again so the cloud re-sends it. Allowed inside the event callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_defer(client: *mut ota_client, delay_ms: u32) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { command(client, CMD_DEFER, delay_ms) }
}

/// OTA_FLAG_HOST_MQTT: the host's MQTT connection is up (after every (re)connect). The next
/// ota_poll() subscribes through mqtt_subscribe and reports the version. Reports that were not
/// acknowledged on the previous connection are published again (with new tokens), so the host's
/// client should start a clean session rather than also resend its own queued messages. There is
/// no PUBACK timeout in this mode: the host's client retransmits, and a token that will never be
/// acknowledged must end with ota_mqtt_disconnected(). ota_mqtt_input/acked/disconnected return
/// OTA_ERR_BUSY when called from inside this client's own callbacks (a synchronous MQTT client
/// delivering inside mqtt_publish): queue them and call after ota_poll() returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_mqtt_connected(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.mqtt_connected()) }.and_then(|r| r))
}

/// OTA_FLAG_HOST_MQTT: the host's MQTT connection is down. Reports wait for ota_mqtt_connected().
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_mqtt_disconnected(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.mqtt_disconnected()) })
}

/// OTA_FLAG_HOST_MQTT: a message the host received. Returns OTA_OK when it was for this client
/// (its topic is ota_update_topic()), OTA_ERR_OTHER_TOPIC when the topic is another's (a
/// gateway may offer each message to each of its clients). The library only queues its answer;
/// it publishes from ota_poll(), so this is safe to call from the host MQTT client's callback.
/// Called from inside one of this client's own callbacks (a host whose publish delivers
/// messages synchronously) it returns OTA_ERR_BUSY: keep the message and hand it over after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_mqtt_input(
    client: *mut ota_client,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
) -> i32 {
    // Compared as bytes: a topic that is not ASCII is simply another's.
    // SAFETY: forwarded caller contract; `len` bytes were just read.
    let topic = match unsafe { c_len(topic, TOPIC_MAX) } {
        Ok(len) => unsafe { core::slice::from_raw_parts(topic.cast::<u8>(), len) },
        Err(e) => return e.code(),
    };
    if payload.is_null() && len > 0 {
        return OTA_ERR_NULL_POINTER;
    }
    // SAFETY: `payload` is valid for `len` bytes (checked non-NULL when len > 0).
    let payload = if len == 0 {
        &[][..]
    } else {
        unsafe { core::slice::from_raw_parts(payload, len) }
    };
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.mqtt_input(topic, payload)) }.and_then(|r| r))
}

/// OTA_FLAG_HOST_MQTT: the broker acknowledged the publish mqtt_publish returned `token` for.
/// Without it the report goes again after ack_timeout_ms (see ota_mqtt_publish_fn); an ack for
/// a token that was since replaced by a re-publish is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_mqtt_acked(client: *mut ota_client, token: i32) -> i32 {
    if token <= 0 {
        return OTA_ERR_INVALID_ARGUMENT;
    }
    // SAFETY: forwarded caller contract.
    code(unsafe { with_client(client, |c| c.mqtt_acked(token as u32)) })
}

/// Copy this client's update topic (`$ota/update/{product_id}/{device_name}`), NUL-terminated,
/// into `buf`: the topic whose messages go to ota_mqtt_input(). Returns its length or OTA_ERR_*.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_update_topic(
    client: *mut ota_client,
    buf: *mut c_char,
    cap: usize,
) -> i32 {
    if buf.is_null() {
        return OTA_ERR_NULL_POINTER;
    }
    // SAFETY: forwarded caller contract; `buf` is valid for `cap` bytes.
    let r = unsafe {
        with_client(client, |c| {
            let t = c.update_topic().as_bytes();
            if t.len() >= cap {
                return Err(Error::BufferTooSmall);
            }
            let out = core::slice::from_raw_parts_mut(buf.cast::<u8>(), cap);
            if let Some(dst) = out.get_mut(..t.len()) {
                copy_prefix(dst, t);
            }
            if let Some(z) = out.get_mut(t.len()) {
                *z = 0;
            }
            Ok(t.len() as i32)
        })
    };
    match r.and_then(|r| r) {
        Ok(n) => n,
        Err(e) => e.code(),
    }
}

/// With OTA_FLAG_MANUAL_CONFIRM: the new image passed its self-test; report `done` and the new
/// version (OTA_STATE_CONFIRMING). Without calling it, a bootloader rollback is reported as
/// `fail` -5 on the next boot. Allowed inside the event callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_confirm(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { command(client, CMD_CONFIRM, 0) }
}

/// Fill `out` with the client's state, progress and versions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_get_status(client: *mut ota_client, out: *mut ota_status) -> i32 {
    if out.is_null() {
        return OTA_ERR_NULL_POINTER;
    }
    // SAFETY: forwarded caller contract; `out` checked non-NULL.
    let r = unsafe {
        with_client(client, |c| {
            let e = c.engine();
            // All zero is a valid `ota_status` (integers, a bool, byte arrays): idle, empty.
            out.write_bytes(0, 1);
            let st = &mut *out;
            st.state = e.state() as i32;
            st.connected = c.is_online();
            st.last_error = e.last_error().map_or(OTA_OK, Error::code);
            if let Some(o) = e.offer() {
                st.file_size = o.file_size;
                st.downloaded = e.downloaded();
                st.percent = crate::num::percent(st.downloaded, o.file_size);
                copy_version(&mut st.target_version, o.version.as_bytes());
            }
            copy_version(&mut st.running_version, e.running_version().as_bytes());
        })
    };
    code(r)
}

/// A version (at most 32 bytes) into a zeroed `ota_status` field, which keeps its NUL.
fn copy_version(dst: &mut [c_char; 33], v: &[u8]) {
    for (d, &b) in dst.iter_mut().take(OTA_VERSION_MAX).zip(v) {
        *d = b as c_char;
    }
}

/// Close both connections (sending an MQTT DISCONNECT if the socket takes it at once) and
/// release the storage. Calls only net_send/net_close: the slot is left as it is, and no event
/// is raised. The persistent record stays, so the next ota_init() still reports the outcome.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ota_deinit(client: *mut ota_client) -> i32 {
    // SAFETY: forwarded caller contract.
    let r = unsafe { with_client(client, |c| c.shutdown()) };
    if r.is_ok() {
        // SAFETY: the client was initialised (with_client succeeded) and is no longer borrowed.
        unsafe {
            let s = client.cast::<Storage>();
            addr_of_mut!((*s).magic).write(0);
            (*addr_of_mut!((*s).client)).assume_init_drop();
        }
    }
    code(r)
}

/// A static, NUL-terminated description of a status code ("unknown status" for others).
#[unsafe(no_mangle)]
pub extern "C" fn ota_strerror(status: i32) -> *const c_char {
    match status {
        OTA_OK => c"success".as_ptr(),
        s => Error::from_code(s).map_or(c"unknown status".as_ptr(), |e| e.c_text().as_ptr().cast()),
    }
}

/// True when the library has the built-in TLS (cargo feature `tls`, on in the default Linux
/// build): TLS connections are then the library's unless OTA_FLAG_HOST_TLS is set. False in MCU
/// builds: net_connect is asked for TLS (OTA_NET_TLS) and the host's stack (e.g. mbedTLS) opens it.
#[unsafe(no_mangle)]
pub extern "C" fn ota_has_builtin_tls() -> bool {
    cfg!(feature = "tls")
}

/// The library version, e.g. "0.1.0".
#[unsafe(no_mangle)]
pub extern "C" fn ota_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::State;
    use crate::platform::EventKind;

    /// The header states numbers cbindgen cannot compute; keep them equal to the Rust ones.
    #[test]
    fn header_constants_match_the_rust_definitions() {
        let consts = [
            (OTA_ERR_NULL_POINTER, Error::NullPointer),
            (OTA_ERR_INVALID_ARGUMENT, Error::InvalidArgument),
            (OTA_ERR_BUFFER_TOO_SMALL, Error::BufferTooSmall),
            (OTA_ERR_WRONG_STATE, Error::WrongState),
            (OTA_ERR_NOT_INITIALIZED, Error::NotInitialized),
            (OTA_ERR_BUSY, Error::Busy),
            (OTA_ERR_OTHER_TOPIC, Error::OtherTopic),
            (OTA_ERR_NET_CONNECT, Error::NetConnect),
            (OTA_ERR_NET_IO, Error::NetIo),
            (OTA_ERR_MQTT_REFUSED, Error::MqttRefused),
            (OTA_ERR_MQTT_TIMEOUT, Error::MqttTimeout),
            (OTA_ERR_MQTT_PROTOCOL, Error::MqttProtocol),
            (OTA_ERR_MQTT_OVERSIZE, Error::MqttOversize),
            (OTA_ERR_SUBSCRIBE_REJECTED, Error::SubscribeRejected),
            (OTA_ERR_BAD_MESSAGE, Error::BadMessage),
            (OTA_ERR_IMAGE_TOO_LARGE, Error::ImageTooLarge),
            (OTA_ERR_BAD_URL, Error::BadUrl),
            (OTA_ERR_VERSION_REJECTED, Error::VersionRejected),
            (OTA_ERR_HTTP_STATUS, Error::HttpStatus),
            (OTA_ERR_HTTP_NOT_FOUND, Error::HttpNotFound),
            (OTA_ERR_HTTP_FORBIDDEN, Error::HttpForbidden),
            (OTA_ERR_HTTP_PROTOCOL, Error::HttpProtocol),
            (OTA_ERR_DOWNLOAD_TIMEOUT, Error::DownloadTimeout),
            (OTA_ERR_MD5_MISMATCH, Error::Md5Mismatch),
            (OTA_ERR_SLOT, Error::Slot),
            (OTA_ERR_STORE, Error::Store),
            (OTA_ERR_ROLLED_BACK, Error::RolledBack),
            (OTA_ERR_DECLINED, Error::Declined),
            (OTA_ERR_REDIRECTED, Error::Redirected),
            (OTA_ERR_TLS_UNTRUSTED, Error::TlsUntrusted),
            (OTA_ERR_TLS_NAME_MISMATCH, Error::TlsNameMismatch),
            (OTA_ERR_TLS_EXPIRED, Error::TlsExpired),
            (OTA_ERR_TLS_ALERT, Error::TlsAlert),
            (OTA_ERR_TLS_HANDSHAKE, Error::TlsHandshake),
            (OTA_ERR_TLS_CONFIG, Error::TlsConfig),
            (OTA_ERR_TLS_DOWNGRADE, Error::TlsDowngrade),
        ];
        assert_eq!(consts.len(), Error::ALL.len());
        for (c, e) in consts {
            assert_eq!(c, e.code(), "{e:?}");
        }
        assert_eq!(OTA_PRODUCT_ID_MAX, crate::client::PRODUCT_ID_MAX);
        assert_eq!(OTA_DEVICE_NAME_MAX, crate::client::DEVICE_NAME_MAX);
        assert_eq!(OTA_HOST_MAX, crate::client::HOST_MAX);
        assert_eq!(OTA_URL_MAX, crate::protocol::URL_MAX);
        assert_eq!(OTA_VERSION_MAX, crate::protocol::VERSION_MAX);
        assert_eq!(OTA_MIN_MQTT_RX, crate::client::MIN_MQTT_RX);
        assert_eq!(OTA_MIN_MQTT_TX, crate::client::MIN_MQTT_TX);
        assert_eq!(OTA_MIN_HTTP, crate::client::MIN_HTTP);
        assert_eq!(OTA_MIN_TLS_LEN, crate::link::MIN_TLS_RX);

        for (c, l) in [
            (OTA_LOG_ERROR, Level::Error),
            (OTA_LOG_WARN, Level::Warn),
            (OTA_LOG_INFO, Level::Info),
            (OTA_LOG_DEBUG, Level::Debug),
        ] {
            assert_eq!(c, l as i32);
        }
        for (c, s) in [
            (OTA_STATE_IDLE, State::Idle),
            (OTA_STATE_OFFERED, State::Offered),
            (OTA_STATE_DOWNLOADING, State::Downloading),
            (OTA_STATE_READY, State::Ready),
            (OTA_STATE_CONFIRMING, State::Confirming),
        ] {
            assert_eq!(c, s as i32);
        }
        let events = [
            (OTA_EVENT_CONNECTED, EventKind::Connected),
            (OTA_EVENT_DISCONNECTED, EventKind::Disconnected),
            (OTA_EVENT_VERSION_REPORTED, EventKind::VersionReported),
            (OTA_EVENT_OFFERED, EventKind::Offered),
            (OTA_EVENT_DOWNLOAD_STARTED, EventKind::DownloadStarted),
            (OTA_EVENT_PROGRESS, EventKind::Progress),
            (OTA_EVENT_IMAGE_READY, EventKind::ImageReady),
            (OTA_EVENT_DONE, EventKind::Done),
            (OTA_EVENT_FAILED, EventKind::Failed),
            (OTA_EVENT_ERROR, EventKind::Error),
        ];
        for (c, k) in events {
            assert_eq!(c, k as i32);
        }
    }

    /// build.rs generates the header from this file; the checked-in copy must be that output.
    #[test]
    fn checked_in_header_is_fresh() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/qcloud_ota.h"));
        let checked_in = include_str!("../include/qcloud_ota.h");
        assert!(
            generated == checked_in,
            "include/qcloud_ota.h is stale: run scripts/gen-header.sh and commit it"
        );
    }

    #[test]
    fn client_storage_size() {
        let used = core::mem::size_of::<Storage>();
        std::println!("ota_client storage: {used} of {OTA_CLIENT_SIZE} bytes");
        assert!(used <= OTA_CLIENT_SIZE);
    }

    #[test]
    fn strerror_covers_every_status() {
        for e in Error::ALL {
            // SAFETY: ota_strerror returns a static NUL-terminated string.
            let s = unsafe { core::ffi::CStr::from_ptr(ota_strerror(e.code())) };
            assert_eq!(s.to_bytes_with_nul(), e.c_text());
        }
        // SAFETY: as above.
        let unknown = unsafe { core::ffi::CStr::from_ptr(ota_strerror(12345)) };
        assert_eq!(unknown, c"unknown status");
    }
}
