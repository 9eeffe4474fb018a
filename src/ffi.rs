//! The C ABI: all of the crate's `unsafe` but `text::str_from_utf8`. Every pointer C passes in is
//! checked here; the rest of the crate sees safe Rust types. The header `include/qcloud_ota.h`
//! is generated from `error/codes.rs` (the status codes) and these files (build.rs): `constants` (the numbers), `config` (`ota_config`, checked into a client),
//! `callbacks` (`ota_platform` and the crate's `Platform` over it), `gate` (the storage in
//! `ota_client` and the one entry gate), `api` (the `ota_*` entry points).
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod api;
#[cfg(all(target_arch = "arm", target_os = "none"))]
mod arm_mem;
mod callbacks;
mod config;
mod constants;
mod gate;

pub use api::*;
pub use callbacks::*;
pub use config::ota_config;
pub use constants::*;
pub use gate::ota_client;

#[cfg(test)]
mod tests {
    use super::gate::Storage;
    use super::*;
    use crate::engine::State;
    use crate::error::Error;
    use crate::platform::{EventKind, Level};

    /// The header states numbers cbindgen cannot compute; keep them equal to the Rust ones.
    #[test]
    fn header_constants_match_the_rust_definitions() {
        // The OTA_ERR_* values are tied to `Error` where it is declared (src/error.rs).
        // CPlatform hands the core's connect flags to net_connect as they are.
        assert_eq!(OTA_NET_TLS, crate::platform::NET_TLS);
        assert_eq!(OTA_NET_CLIENT_CERT, crate::platform::NET_CLIENT_CERT);
        assert_eq!(OTA_PRODUCT_ID_MAX, crate::client::PRODUCT_ID_MAX);
        assert_eq!(OTA_DEVICE_NAME_MAX, crate::client::DEVICE_NAME_MAX);
        assert_eq!(OTA_HOST_MAX, crate::client::HOST_MAX);
        assert_eq!(OTA_URL_MAX, crate::protocol::URL_MAX);
        assert_eq!(OTA_VERSION_MAX, crate::protocol::VERSION_MAX);
        assert_eq!(OTA_MIN_MQTT_RX, crate::client::MIN_MQTT_RX);
        assert_eq!(OTA_MIN_MQTT_TX, crate::client::MIN_MQTT_TX);
        assert_eq!(OTA_MIN_HTTP, crate::client::MIN_HTTP);
        #[cfg(feature = "tls")]
        assert_eq!(OTA_MIN_TLS_LEN, crate::tls::MIN_RX);

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

    /// The header's `#define OTA_ERR_<name> (<code>)` lines, read as C sees them.
    fn header_statuses() -> std::vec::Vec<(&'static str, i32)> {
        include_str!("../include/qcloud_ota.h")
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("#define OTA_ERR_")?;
                let (name, v) = rest.split_once(' ')?;
                let v = v.trim_start_matches('(').trim_end_matches(')');
                Some((name, v.parse().ok()?))
            })
            .collect()
    }

    mod host {
        //! A platform that does nothing, for ota_init without a network.
        use core::ffi::{c_char, c_void};
        pub unsafe extern "C" fn now_ms(_: *mut c_void) -> u64 {
            0
        }
        pub unsafe extern "C" fn connect(
            _: *mut c_void,
            _: i32,
            _: *const c_char,
            _: u16,
            _: u32,
        ) -> i32 {
            super::OTA_NET_ERROR
        }
        pub unsafe extern "C" fn send(_: *mut c_void, _: i32, _: *const u8, _: usize) -> i32 {
            super::OTA_NET_ERROR
        }
        pub unsafe extern "C" fn recv(_: *mut c_void, _: i32, _: *mut u8, _: usize) -> i32 {
            super::OTA_NET_ERROR
        }
        pub unsafe extern "C" fn close(_: *mut c_void, _: i32) {}
        pub unsafe extern "C" fn slot_open(_: *mut c_void, _: u32, _: u32) -> i32 {
            -1
        }
        pub unsafe extern "C" fn slot_write(_: *mut c_void, _: u32, _: *const u8, _: usize) -> i32 {
            -1
        }
        pub unsafe extern "C" fn slot_close(_: *mut c_void, _: bool) -> i32 {
            -1
        }
        pub unsafe extern "C" fn store_load(_: *mut c_void, _: u8, _: *mut u8, _: usize) -> i32 {
            0
        }
        pub unsafe extern "C" fn store_save(_: *mut c_void, _: u8, _: *const u8, _: usize) -> i32 {
            0
        }
        pub unsafe extern "C" fn subscribe(_: *mut c_void, _: *const c_char, _: u8) -> i32 {
            0
        }
        pub unsafe extern "C" fn publish(
            _: *mut c_void,
            _: *const c_char,
            _: *const u8,
            _: usize,
            _: u8,
        ) -> i32 {
            0
        }
    }

    fn full_platform() -> ota_platform {
        // SAFETY: all zero is a valid ota_platform (NULL pointers, no callbacks).
        let mut p: ota_platform = unsafe { core::mem::zeroed() };
        p.now_ms = Some(host::now_ms);
        p.net_connect = Some(host::connect);
        p.net_send = Some(host::send);
        p.net_recv = Some(host::recv);
        p.net_close = Some(host::close);
        p.slot_open = Some(host::slot_open);
        p.slot_write = Some(host::slot_write);
        p.slot_close = Some(host::slot_close);
        p.store_load = Some(host::store_load);
        p.store_save = Some(host::store_save);
        p.mqtt_subscribe = Some(host::subscribe);
        p.mqtt_publish = Some(host::publish);
        p
    }

    /// Buffers and a valid configuration over them.
    struct Setup {
        rx: [u8; OTA_MIN_MQTT_RX],
        tx: [u8; OTA_MIN_MQTT_TX],
        http: [u8; OTA_MIN_HTTP],
    }

    impl Setup {
        fn config(&mut self, flags: u32) -> ota_config {
            // SAFETY: all zero is a valid ota_config (NULL pointers, zero numbers).
            let mut c: ota_config = unsafe { core::mem::zeroed() };
            c.product_id = c"ABCDEFGHIJ".as_ptr();
            c.device_name = c"dev001".as_ptr();
            c.device_secret = c"MTIzNDU2Nzg5MGFiY2RlZg==".as_ptr();
            c.running_version = c"1.0.0".as_ptr();
            c.flags = flags;
            c.mqtt_rx_buf = self.rx.as_mut_ptr();
            c.mqtt_rx_len = self.rx.len();
            c.mqtt_tx_buf = self.tx.as_mut_ptr();
            c.mqtt_tx_len = self.tx.len();
            c.http_buf = self.http.as_mut_ptr();
            c.http_len = self.http.len();
            c
        }
    }

    /// ota_init over `p` and `flags` into a fresh client, then released.
    fn init_with(p: &ota_platform, flags: u32) -> i32 {
        let mut s = std::boxed::Box::new(Setup {
            rx: [0; OTA_MIN_MQTT_RX],
            tx: [0; OTA_MIN_MQTT_TX],
            http: [0; OTA_MIN_HTTP],
        });
        let cfg = s.config(flags);
        let mut client = std::boxed::Box::new(ota_client {
            _opaque: [0; OTA_CLIENT_WORDS],
        });
        // SAFETY: valid pointers; the buffers outlive the client (deinit below).
        unsafe {
            let r = ota_init(&mut *client, &cfg, p);
            if r == OTA_OK {
                assert_eq!(ota_deinit(&mut *client), OTA_OK);
            }
            r
        }
    }

    /// Every callback the header calls required is refused when NULL, the optional ones are
    /// not, and the host-MQTT ones only with OTA_FLAG_HOST_MQTT.
    #[test]
    fn ota_init_refuses_each_missing_required_callback() {
        let full = full_platform();
        assert_eq!(init_with(&full, 0), OTA_OK);
        assert_eq!(init_with(&full, OTA_FLAG_HOST_MQTT), OTA_OK);
        type Clear = fn(&mut ota_platform);
        let required: [(&str, Clear); 10] = [
            ("now_ms", |p| p.now_ms = None),
            ("net_connect", |p| p.net_connect = None),
            ("net_send", |p| p.net_send = None),
            ("net_recv", |p| p.net_recv = None),
            ("net_close", |p| p.net_close = None),
            ("slot_open", |p| p.slot_open = None),
            ("slot_write", |p| p.slot_write = None),
            ("slot_close", |p| p.slot_close = None),
            ("store_load", |p| p.store_load = None),
            ("store_save", |p| p.store_save = None),
        ];
        for (name, clear) in required {
            let mut p = full;
            clear(&mut p);
            for flags in [0, OTA_FLAG_HOST_MQTT] {
                assert_eq!(
                    init_with(&p, flags),
                    OTA_ERR_NULL_POINTER,
                    "{name} NULL, flags {flags}"
                );
            }
        }
        let host_mqtt: [(&str, Clear); 2] = [
            ("mqtt_subscribe", |p| p.mqtt_subscribe = None),
            ("mqtt_publish", |p| p.mqtt_publish = None),
        ];
        for (name, clear) in host_mqtt {
            let mut p = full;
            clear(&mut p);
            assert_eq!(init_with(&p, 0), OTA_OK, "{name} NULL without host MQTT");
            assert_eq!(
                init_with(&p, OTA_FLAG_HOST_MQTT),
                OTA_ERR_NULL_POINTER,
                "{name} NULL"
            );
        }
        // The optional ones: all NULL at once (slot_read, on_event, log, unix_time_s).
        let mut p = full;
        (p.slot_read, p.on_event, p.log, p.unix_time_s) = (None, None, None, None);
        assert_eq!(init_with(&p, 0), OTA_OK);
    }

    /// A client lives inside the OTA_CLIENT_SIZE bytes C declares for it: initialised, polled
    /// (connect attempts, backoff) and released between guard words that must stay untouched,
    /// and the header's sizes are the ones the library was built with.
    #[test]
    fn client_storage_size() {
        let used = core::mem::size_of::<Storage>();
        std::println!("ota_client storage: {used} of {OTA_CLIENT_SIZE} bytes");
        assert_eq!(core::mem::size_of::<ota_client>(), OTA_CLIENT_SIZE);
        assert_eq!(core::mem::align_of::<ota_client>(), 8);
        let header = include_str!("../include/qcloud_ota.h");
        for (name, v) in [
            ("OTA_CLIENT_SIZE_32", OTA_CLIENT_SIZE_32),
            ("OTA_CLIENT_SIZE_64", OTA_CLIENT_SIZE_64),
        ] {
            assert!(
                header.contains(&std::format!("#define {name} {v}\n")),
                "{name}"
            );
        }
        let mine = if cfg!(target_pointer_width = "64") {
            OTA_CLIENT_SIZE_64
        } else {
            OTA_CLIENT_SIZE_32
        };
        assert_eq!(OTA_CLIENT_SIZE, mine);

        const GUARD: u64 = 0xA5C3_5A3C_0FF0_F00F;
        #[repr(C)]
        struct Guarded {
            before: [u64; 4],
            client: ota_client,
            after: [u64; 4],
        }
        let mut g = std::boxed::Box::new(Guarded {
            before: [GUARD; 4],
            client: ota_client {
                _opaque: [GUARD; OTA_CLIENT_WORDS],
            },
            after: [GUARD; 4],
        });
        let mut s = std::boxed::Box::new(Setup {
            rx: [0; OTA_MIN_MQTT_RX],
            tx: [0; OTA_MIN_MQTT_TX],
            http: [0; OTA_MIN_HTTP],
        });
        let cfg = s.config(0);
        let p = full_platform();
        // SAFETY: valid pointers; the buffers outlive the client.
        unsafe {
            assert_eq!(ota_init(&mut g.client, &cfg, &p), OTA_OK);
            for _ in 0..8 {
                ota_poll(&mut g.client);
            }
            assert_eq!(ota_report_version(&mut g.client, c"1.0.1".as_ptr()), OTA_OK);
            assert_eq!(ota_deinit(&mut g.client), OTA_OK);
            assert_eq!(ota_poll(&mut g.client), u32::MAX, "deinitialised");
        }
        assert_eq!(g.before, [GUARD; 4], "written before the client");
        assert_eq!(g.after, [GUARD; 4], "written past OTA_CLIENT_SIZE");
        // What was written stays within the Rust client's size (the rest keeps its fill).
        let touched = g
            .client
            ._opaque
            .iter()
            .rposition(|&w| w != GUARD)
            .map_or(0, |i| (i + 1) * 8);
        assert!(touched <= used, "{touched} bytes touched, {used} used");
    }

    /// Every status the header defines has its own text, never "unknown status"; OTA_OK is
    /// "success"; every other code is "unknown status". Host builds give sentences (the bare-
    /// metal names are checked against the header in error.rs).
    #[test]
    fn strerror_covers_every_status() {
        let text = |code: i32| {
            // SAFETY: ota_strerror returns a static NUL-terminated string.
            unsafe { core::ffi::CStr::from_ptr(ota_strerror(code)) }
                .to_str()
                .unwrap_or("(not UTF-8)")
        };
        let statuses = header_statuses();
        assert_eq!(
            statuses.len(),
            Error::ALL.len(),
            "a header status without an Error"
        );
        let mut seen = std::collections::BTreeSet::new();
        for &(name, code) in &statuses {
            let t = text(code);
            assert!(
                !t.is_empty() && t != "unknown status" && t != "success",
                "{name}: {t:?}"
            );
            assert!(
                t.bytes().all(|b| (b' '..=b'~').contains(&b)),
                "{name}: {t:?}"
            );
            assert!(seen.insert(t), "OTA_ERR_{name} shares its text {t:?}");
        }
        for e in Error::ALL {
            assert_eq!(
                text(e.code()),
                e.as_str(),
                "the NUL ends the text the log lines use"
            );
        }
        assert_eq!(text(OTA_OK), "success");
        assert_eq!(
            text(OTA_ERR_MD5_MISMATCH),
            "image MD5 does not match md5sum"
        );
        assert_eq!(text(OTA_ERR_NULL_POINTER), "a required pointer is NULL");
        let known: std::collections::BTreeSet<i32> = statuses.iter().map(|s| s.1).collect();
        for code in (-70..=5).chain([12345, i32::MIN, i32::MAX]) {
            if code != OTA_OK && !known.contains(&code) {
                assert_eq!(text(code), "unknown status", "{code}");
            }
        }
    }
}
