//! The status codes C sees (`include/qcloud_ota.h` is generated from this file too). The table
//! in `error.rs` names every `OTA_ERR_*` here; `OTA_OK` is not an error.

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
/// ota_init(): the configuration needs what this build of the library left out: OTA_FLAG_HOST_MQTT
/// without the cargo feature `host-mqtt`, OTA_FLAG_READBACK_VERIFY without `readback`, or the
/// built-in MQTT (no OTA_FLAG_HOST_MQTT) in a `host-mqtt-only` build (README, "Firmware").
pub const OTA_ERR_UNSUPPORTED: i32 = -8;
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
/// TLS, certificate authentication: the broker refused the device certificate (none presented,
/// or one from a CA it does not trust). Check ota_config.client_cert/client_key, or the host's
/// client credentials with OTA_NET_CLIENT_CERT.
pub const OTA_ERR_TLS_CLIENT_CERT: i32 = -57;
