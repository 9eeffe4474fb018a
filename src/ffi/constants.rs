//! The numbers C sees: status codes, sizes, defaults, flags, states and events.

pub use crate::error::codes::*;

// ---------------------------------------------------------------------------------------------
// Sizes, defaults and flags
// ---------------------------------------------------------------------------------------------

/// Bytes of ota_client storage on targets with 32-bit pointers (Cortex-M, 32-bit Linux). The
/// header's OTA_CLIENT_SIZE picks this or OTA_CLIENT_SIZE_64 by UINTPTR_MAX. (Used: 2576 bytes on
/// thumbv7em; the built-in TLS adds about 50 on a 32-bit host.)
pub const OTA_CLIENT_SIZE_32: usize = 2688;
/// Bytes of ota_client storage on targets with 64-bit pointers. (Used: 2648 bytes on x86-64 with
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
/// Needs the cargo feature `readback` (CMake QCLOUD_OTA_READBACK; host builds have it), else
/// ota_init() returns OTA_ERR_UNSUPPORTED.
pub const OTA_FLAG_READBACK_VERIFY: u32 = 16;

/// ota_config.flags: the host owns the MQTT connection (bring-your-own MQTT). The library
/// publishes and subscribes through ota_platform.mqtt_publish/mqtt_subscribe, the host calls
/// ota_mqtt_connected()/ota_mqtt_disconnected() and hands every message of ota_update_topic()
/// to ota_mqtt_input(); the MQTT buffers may be NULL. ota_poll() still runs the download.
/// Needs the cargo feature `host-mqtt` (CMake QCLOUD_OTA_HOST_MQTT; host builds have it), else
/// ota_init() returns OTA_ERR_UNSUPPORTED. A `host-mqtt-only` build (CMake
/// QCLOUD_OTA_BUILTIN_MQTT=OFF) has no built-in session and requires this flag.
pub const OTA_FLAG_HOST_MQTT: u32 = 32;

/// ota_config.flags: the host opens every TLS connection itself (net_connect gets OTA_NET_TLS)
/// even when the library has the built-in TLS (see ota_has_builtin_tls()). Without the built-in
/// TLS (every MCU build) TLS is always the host's and this flag changes nothing.
pub const OTA_FLAG_HOST_TLS: u32 = 64;

/// ota_config.flags: certificate authentication (a device created with it in the console). The
/// broker connection is TLS (implies OTA_FLAG_MQTT_TLS) with the device certificate as the TLS
/// client credentials; no device_secret is needed and CONNECT carries no password (client id and
/// username as with key authentication). The built-in TLS takes ota_config.client_cert and
/// client_key; the host's TLS (OTA_FLAG_HOST_TLS, every MCU build) gets OTA_NET_CLIENT_CERT in
/// net_connect's flags for the broker and presents its own.
pub const OTA_FLAG_CERT_AUTH: u32 = 128;

/// net_connect flags: the connection must be TLS, verified for the host name given.
pub const OTA_NET_TLS: u32 = 1;
/// net_connect flags (with OTA_NET_TLS, MQTT channel, OTA_FLAG_CERT_AUTH): present the device's
/// own TLS client certificate and key (certificate authentication); the host holds them.
pub const OTA_NET_CLIENT_CERT: u32 = 2;
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
