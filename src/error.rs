//! Every status the library reports, with its C name, its text, and the Tencent `result_code` it
//! maps to when it ends an update. One table, so the numbers can never collide the way the C SDK's
//! do (reference §5.8).

/// A library error. The numeric values are the C ABI's `OTA_ERR_*` constants and never change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum Error {
    NullPointer = -1,
    InvalidArgument = -2,
    BufferTooSmall = -3,
    WrongState = -4,
    NotInitialized = -5,
    Busy = -6,
    OtherTopic = -7,
    NetConnect = -10,
    NetIo = -11,
    MqttRefused = -12,
    MqttTimeout = -13,
    MqttProtocol = -14,
    MqttOversize = -15,
    SubscribeRejected = -16,
    BadMessage = -20,
    ImageTooLarge = -21,
    BadUrl = -22,
    VersionRejected = -23,
    HttpStatus = -30,
    HttpNotFound = -31,
    HttpForbidden = -32,
    HttpProtocol = -33,
    DownloadTimeout = -34,
    Md5Mismatch = -35,
    Slot = -40,
    Store = -41,
    RolledBack = -42,
    Declined = -43,
    /// Internal: the server redirected; the next request goes to the new location.
    Redirected = -44,
    /// The server's certificate chain does not lead to a trusted root.
    TlsUntrusted = -50,
    /// The server's certificate is not for the host name that was connected to.
    TlsNameMismatch = -51,
    /// The server's certificate has expired or is not yet valid (at the host's clock).
    TlsExpired = -52,
    /// The server ended the TLS session with an alert.
    TlsAlert = -53,
    /// The TLS handshake failed otherwise (no common version or cipher, bad message).
    TlsHandshake = -54,
    /// The TLS set-up is unusable: extra CA not PEM/DER certificates, or no TLS buffer.
    TlsConfig = -55,
    /// A redirect from https to http was refused.
    TlsDowngrade = -56,
}

/// Tencent `result_code` values for `report_progress` with state `fail` (reference §3.5).
pub mod result_code {
    pub const TIMEOUT: i32 = -1;
    pub const NOT_FOUND: i32 = -2;
    pub const SIGNATURE_EXPIRED: i32 = -3;
    pub const MD5_MISMATCH: i32 = -4;
    pub const UPGRADE_FAILED: i32 = -5;
}

impl Error {
    pub const ALL: [Error; 36] = [
        Error::NullPointer,
        Error::InvalidArgument,
        Error::BufferTooSmall,
        Error::WrongState,
        Error::NotInitialized,
        Error::Busy,
        Error::OtherTopic,
        Error::NetConnect,
        Error::NetIo,
        Error::MqttRefused,
        Error::MqttTimeout,
        Error::MqttProtocol,
        Error::MqttOversize,
        Error::SubscribeRejected,
        Error::BadMessage,
        Error::ImageTooLarge,
        Error::BadUrl,
        Error::VersionRejected,
        Error::HttpStatus,
        Error::HttpNotFound,
        Error::HttpForbidden,
        Error::HttpProtocol,
        Error::DownloadTimeout,
        Error::Md5Mismatch,
        Error::Slot,
        Error::Store,
        Error::RolledBack,
        Error::Declined,
        Error::Redirected,
        Error::TlsUntrusted,
        Error::TlsNameMismatch,
        Error::TlsExpired,
        Error::TlsAlert,
        Error::TlsHandshake,
        Error::TlsConfig,
        Error::TlsDowngrade,
    ];

    pub const fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| e.code() == code)
    }

    /// The text behind `ota_strerror`, NUL-terminated for C.
    pub const fn text(self) -> &'static core::ffi::CStr {
        match self {
            Error::NullPointer => c"a required pointer was NULL",
            Error::InvalidArgument => {
                c"invalid argument (empty, too long, not UTF-8, or out of range)"
            }
            Error::BufferTooSmall => c"a buffer is smaller than its documented minimum",
            Error::WrongState => c"not allowed in the current state",
            Error::NotInitialized => c"client not initialised",
            Error::Busy => c"called from inside one of this client's own callbacks",
            Error::OtherTopic => c"the message is for another client's topic",
            Error::NetConnect => c"the host could not open a connection",
            Error::NetIo => c"connection failed or closed by the peer",
            Error::MqttRefused => c"the MQTT broker refused the connection (check the credentials)",
            Error::MqttTimeout => c"the MQTT broker did not answer in time",
            Error::MqttProtocol => c"malformed MQTT packet from the broker",
            Error::MqttOversize => c"an MQTT message larger than the receive buffer was dropped",
            Error::SubscribeRejected => c"the broker rejected the OTA topic subscription",
            Error::BadMessage => c"malformed or incomplete update_firmware message",
            Error::ImageTooLarge => c"the offered image does not fit the firmware slot",
            Error::BadUrl => c"unsupported or malformed firmware URL",
            Error::VersionRejected => c"the cloud rejected the reported version",
            Error::HttpStatus => c"unexpected HTTP status from the firmware server",
            Error::HttpNotFound => c"firmware not found (HTTP 404)",
            Error::HttpForbidden => c"firmware URL refused (HTTP 403, signature expired)",
            Error::HttpProtocol => c"malformed HTTP response or wrong range/length",
            Error::DownloadTimeout => c"firmware download stalled",
            Error::Md5Mismatch => c"image MD5 does not match md5sum",
            Error::Slot => c"the host's firmware slot reported an error",
            Error::Store => c"the host's persistent record store reported an error",
            Error::RolledBack => c"the device came back on the old version",
            Error::Declined => c"the host declined the update",
            Error::Redirected => c"redirected (followed by the library)",
            Error::TlsUntrusted => {
                c"TLS: server certificate not signed by a trusted CA (add its root to ota_config.ca)"
            }
            Error::TlsNameMismatch => {
                c"TLS: server certificate is not valid for the host name (check broker_host / the URL)"
            }
            Error::TlsExpired => {
                c"TLS: server certificate expired or not yet valid (check the clock: unix_time_s)"
            }
            Error::TlsAlert => c"TLS: the server ended the session with an alert",
            Error::TlsHandshake => {
                c"TLS handshake failed (no common TLS version or cipher suite, or a bad message)"
            }
            Error::TlsConfig => {
                c"TLS set-up unusable (ota_config.ca is not PEM/DER certificates, or tls_buf is missing)"
            }
            Error::TlsDowngrade => c"refused a redirect from https to http",
        }
    }

    pub fn as_str(self) -> &'static str {
        self.text().to_str().unwrap_or("")
    }

    /// The Tencent `result_code` an update ending with this error reports.
    pub const fn result_code(self) -> i32 {
        match self {
            Error::HttpNotFound => result_code::NOT_FOUND,
            Error::HttpForbidden => result_code::SIGNATURE_EXPIRED,
            Error::Md5Mismatch => result_code::MD5_MISMATCH,
            Error::DownloadTimeout | Error::NetConnect | Error::NetIo => result_code::TIMEOUT,
            _ => result_code::UPGRADE_FAILED,
        }
    }

    /// The short `result_msg` sent with a `fail` report.
    pub const fn result_msg(self) -> &'static str {
        match self {
            Error::HttpNotFound => "file not found",
            Error::HttpForbidden => "signature expired",
            Error::Md5Mismatch => "md5 mismatch",
            Error::DownloadTimeout | Error::NetConnect | Error::NetIo => "time_out",
            Error::ImageTooLarge => "image too large",
            Error::RolledBack => "device came back on the old version",
            Error::Declined => "declined by device",
            Error::Slot => "flash write failed",
            Error::Store => "record store failed",
            Error::BadMessage | Error::BadUrl => "bad update_firmware message",
            Error::TlsUntrusted
            | Error::TlsNameMismatch
            | Error::TlsExpired
            | Error::TlsAlert
            | Error::TlsHandshake
            | Error::TlsConfig
            | Error::TlsDowngrade => "tls failed",
            _ => "upgrade failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(Error::from_code(e.code()), Some(*e));
            assert!(e.code() < 0);
            assert!(!e.as_str().is_empty());
            for other in &Error::ALL[i + 1..] {
                assert_ne!(e.code(), other.code());
            }
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(-999), None);
    }

    #[test]
    fn tencent_result_codes_never_collide() {
        assert_eq!(Error::DownloadTimeout.result_code(), -1);
        assert_eq!(Error::HttpNotFound.result_code(), -2);
        assert_eq!(Error::HttpForbidden.result_code(), -3);
        assert_eq!(Error::Md5Mismatch.result_code(), -4);
        assert_eq!(Error::Slot.result_code(), -5);
        // A parse or connection problem is never "file not found" or "signature expired".
        assert_eq!(Error::HttpProtocol.result_code(), -5);
        assert_eq!(Error::BadUrl.result_code(), -5);
        assert_eq!(Error::NetConnect.result_code(), -1);
    }
}
