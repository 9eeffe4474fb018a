//! The C ABI: the only module with `unsafe`. Every pointer C passes in is checked here; the rest
//! of the crate sees safe Rust types. The header `include/qcloud_ota.h` is generated from its
//! files (build.rs): `constants` (the numbers), `config` (`ota_config`, checked into a client),
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
            (OTA_ERR_TLS_CLIENT_CERT, Error::TlsClientCert),
        ];
        assert_eq!(consts.len(), Error::ALL.len());
        for (c, e) in consts {
            assert_eq!(c, e.code(), "{e:?}");
        }
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
