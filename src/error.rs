//! Every status the library reports, with its C name, its text, and the Tencent `result_code` it
//! maps to when it ends an update. One table, so the numbers can never collide the way the C SDK's
//! do (reference §5.8).

/// A library error. The numeric values are the C ABI's `OTA_ERR_*` constants and never change
/// (one byte each: the codes fit, and `Error::ALL` is then a 37-byte table, not 148).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i8)]
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
    /// The server refused the device's TLS client certificate (none presented, or not from a CA
    /// it trusts): certificate authentication.
    TlsClientCert = -57,
}

/// Tencent `result_code` values for `report_progress` with state `fail` (reference §3.5).
pub mod result_code {
    pub const TIMEOUT: i32 = -1;
    pub const NOT_FOUND: i32 = -2;
    pub const SIGNATURE_EXPIRED: i32 = -3;
    pub const MD5_MISMATCH: i32 = -4;
    pub const UPGRADE_FAILED: i32 = -5;
}

/// Every status's text, in `Error::ALL` order, each ending in NUL for C: one blob walked to the
/// n-th NUL rather than a `match`, which costs a table of pointers and lengths (~450 bytes on a
/// Cortex-M). Host builds (`std`) say what happened; bare-metal builds give the constant's
/// name, which the header documents (0.6 KiB less flash than the sentences).
const TEXTS: &str = if cfg!(feature = "std") {
    SENTENCES
} else {
    NAMES
};

/// The statuses' C names, in `Error::ALL` order (the bare-metal `ota_strerror`).
const NAMES: &str = concat!(
    "OTA_ERR_NULL_POINTER\0",
    "OTA_ERR_INVALID_ARGUMENT\0",
    "OTA_ERR_BUFFER_TOO_SMALL\0",
    "OTA_ERR_WRONG_STATE\0",
    "OTA_ERR_NOT_INITIALIZED\0",
    "OTA_ERR_BUSY\0",
    "OTA_ERR_OTHER_TOPIC\0",
    "OTA_ERR_NET_CONNECT\0",
    "OTA_ERR_NET_IO\0",
    "OTA_ERR_MQTT_REFUSED\0",
    "OTA_ERR_MQTT_TIMEOUT\0",
    "OTA_ERR_MQTT_PROTOCOL\0",
    "OTA_ERR_MQTT_OVERSIZE\0",
    "OTA_ERR_SUBSCRIBE_REJECTED\0",
    "OTA_ERR_BAD_MESSAGE\0",
    "OTA_ERR_IMAGE_TOO_LARGE\0",
    "OTA_ERR_BAD_URL\0",
    "OTA_ERR_VERSION_REJECTED\0",
    "OTA_ERR_HTTP_STATUS\0",
    "OTA_ERR_HTTP_NOT_FOUND\0",
    "OTA_ERR_HTTP_FORBIDDEN\0",
    "OTA_ERR_HTTP_PROTOCOL\0",
    "OTA_ERR_DOWNLOAD_TIMEOUT\0",
    "OTA_ERR_MD5_MISMATCH\0",
    "OTA_ERR_SLOT\0",
    "OTA_ERR_STORE\0",
    "OTA_ERR_ROLLED_BACK\0",
    "OTA_ERR_DECLINED\0",
    "OTA_ERR_REDIRECTED\0",
    "OTA_ERR_TLS_UNTRUSTED\0",
    "OTA_ERR_TLS_NAME_MISMATCH\0",
    "OTA_ERR_TLS_EXPIRED\0",
    "OTA_ERR_TLS_ALERT\0",
    "OTA_ERR_TLS_HANDSHAKE\0",
    "OTA_ERR_TLS_CONFIG\0",
    "OTA_ERR_TLS_DOWNGRADE\0",
    "OTA_ERR_TLS_CLIENT_CERT\0",
);

/// What each status means, in `Error::ALL` order (the host builds' `ota_strerror`).
const SENTENCES: &str = concat!(
    "a required pointer is NULL\0", // Error::NullPointer
    "invalid argument (empty, too long, not printable ASCII, or out of range)\0", // Error::InvalidArgument
    "a buffer is below its documented minimum\0", // Error::BufferTooSmall
    "not allowed in the current state\0",         // Error::WrongState
    "client not initialised\0",                   // Error::NotInitialized
    "called from one of the client's own callbacks\0", // Error::Busy
    "message for another client's topic\0",       // Error::OtherTopic
    "the host could not open a connection\0",     // Error::NetConnect
    "connection failed or closed by the peer\0",  // Error::NetIo
    "MQTT broker refused the connection (credentials?)\0", // Error::MqttRefused
    "MQTT broker did not answer in time\0",       // Error::MqttTimeout
    "malformed MQTT packet from the broker\0",    // Error::MqttProtocol
    "MQTT message over the receive buffer dropped\0", // Error::MqttOversize
    "broker rejected the OTA topic subscription\0", // Error::SubscribeRejected
    "malformed update_firmware message\0",        // Error::BadMessage
    "image does not fit the firmware slot\0",     // Error::ImageTooLarge
    "unsupported or malformed firmware URL\0",    // Error::BadUrl
    "cloud rejected the reported version\0",      // Error::VersionRejected
    "unexpected HTTP status\0",                   // Error::HttpStatus
    "firmware not found (HTTP 404)\0",            // Error::HttpNotFound
    "firmware URL refused (HTTP 403, signature expired)\0", // Error::HttpForbidden
    "malformed HTTP response or wrong range/length\0", // Error::HttpProtocol
    "firmware download stalled\0",                // Error::DownloadTimeout
    "image MD5 does not match md5sum\0",          // Error::Md5Mismatch
    "host firmware slot error\0",                 // Error::Slot
    "host record store error\0",                  // Error::Store
    "device came back on the old version\0",      // Error::RolledBack
    "host declined the update\0",                 // Error::Declined
    "redirected (followed by the library)\0",     // Error::Redirected
    "TLS: certificate not from a trusted CA (ota_config.ca)\0", // Error::TlsUntrusted
    "TLS: certificate not valid for the host name\0", // Error::TlsNameMismatch
    "TLS: certificate expired or not yet valid (clock?)\0", // Error::TlsExpired
    "TLS: the peer sent an alert\0",              // Error::TlsAlert
    "TLS handshake failed (version, cipher suite or message)\0", // Error::TlsHandshake
    "TLS set-up unusable (ota_config.ca or tls_buf)\0", // Error::TlsConfig
    "refused a redirect from https to http\0",    // Error::TlsDowngrade
    "TLS: the server refused the device certificate (missing, or from a CA it does not trust)\0", // Error::TlsClientCert
);

impl Error {
    pub const ALL: [Error; 37] = [
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
        Error::TlsClientCert,
    ];

    pub const fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| e.code() == code)
    }

    /// This status's text for `ota_strerror`, with its NUL.
    pub fn c_text(self) -> &'static [u8] {
        let (start, end) = self.span();
        TEXTS.as_bytes().get(start..=end).unwrap_or(b"\0")
    }

    /// This status's text (for log lines).
    pub fn as_str(self) -> &'static str {
        crate::text::nul_text(TEXTS, self.nth())
    }

    /// Where this status's text lies in `TEXTS`: its start and its NUL.
    fn span(self) -> (usize, usize) {
        crate::text::nul_entry(TEXTS.as_bytes(), self.nth())
    }

    /// This status's place in `Error::ALL` (and `TEXTS`).
    fn nth(self) -> usize {
        Error::ALL.iter().position(|&e| e == self).unwrap_or(0)
    }

    /// The Tencent `result_code` an update ending with this error reports: that of its
    /// `result_msg` for the first four texts (-1 time_out .. -4 md5 mismatch), else -5.
    pub fn result_code(self) -> i32 {
        match self.result_msg_nth() {
            n @ 1..=4 => -i32::from(n),
            _ => result_code::UPGRADE_FAILED,
        }
    }

    /// The short `result_msg` sent with a `fail` report.
    pub fn result_msg(self) -> &'static str {
        crate::text::nul_text(RESULT_MSGS, usize::from(self.result_msg_nth()))
    }

    /// This error's entry in `RESULT_MSGS`: entry n in 1..=4 is the text of `result_code` -n.
    /// Its own function returning a byte, so the compiler's lookup table holds a byte per error
    /// (inlined, it was widened to four).
    #[inline(never)]
    fn result_msg_nth(self) -> u8 {
        match self {
            Error::DownloadTimeout | Error::NetConnect | Error::NetIo => 1,
            Error::HttpNotFound => 2,
            Error::HttpForbidden => 3,
            Error::Md5Mismatch => 4,
            Error::ImageTooLarge => 5,
            Error::RolledBack => 6,
            Error::Declined => 7,
            Error::Slot => 8,
            Error::Store => 9,
            Error::BadMessage | Error::BadUrl => 10,
            Error::TlsUntrusted
            | Error::TlsNameMismatch
            | Error::TlsExpired
            | Error::TlsAlert
            | Error::TlsHandshake
            | Error::TlsConfig
            | Error::TlsDowngrade
            | Error::TlsClientCert => 11,
            _ => 0,
        }
    }
}

/// The `result_msg` texts, NUL-separated (see [`Error::result_msg`]).
const RESULT_MSGS: &str = concat!(
    "upgrade failed\0",
    "time_out\0",
    "file not found\0",
    "signature expired\0",
    "md5 mismatch\0",
    "image too large\0",
    "device came back on the old version\0",
    "declined by device\0",
    "flash write failed\0",
    "record store failed\0",
    "bad update_firmware message\0",
    "tls failed\0",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(Error::from_code(e.code()), Some(*e));
            assert!(e.code() < 0);
            assert!(!e.as_str().is_empty());
            assert!(e.c_text().ends_with(b"\0") && !e.as_str().contains('\0'));
            for other in &Error::ALL[i + 1..] {
                assert_ne!(e.code(), other.code());
            }
        }
        for texts in [SENTENCES, NAMES] {
            assert_eq!(
                texts.bytes().filter(|&b| b == 0).count(),
                Error::ALL.len(),
                "one text per status"
            );
        }
        assert_eq!(
            Error::Md5Mismatch.as_str(),
            "image MD5 does not match md5sum"
        );
        assert_eq!(
            Error::TlsDowngrade.c_text(),
            b"refused a redirect from https to http\0"
        );
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

    #[test]
    fn result_msgs() {
        let want: &[(Error, i32, &str)] = &[
            (Error::DownloadTimeout, -1, "time_out"),
            (Error::NetConnect, -1, "time_out"),
            (Error::NetIo, -1, "time_out"),
            (Error::HttpNotFound, -2, "file not found"),
            (Error::HttpForbidden, -3, "signature expired"),
            (Error::Md5Mismatch, -4, "md5 mismatch"),
            (Error::ImageTooLarge, -5, "image too large"),
            (Error::RolledBack, -5, "device came back on the old version"),
            (Error::Declined, -5, "declined by device"),
            (Error::Slot, -5, "flash write failed"),
            (Error::Store, -5, "record store failed"),
            (Error::BadMessage, -5, "bad update_firmware message"),
            (Error::BadUrl, -5, "bad update_firmware message"),
            (Error::HttpStatus, -5, "upgrade failed"),
            (Error::HttpProtocol, -5, "upgrade failed"),
            (Error::MqttTimeout, -5, "upgrade failed"),
            (Error::NullPointer, -5, "upgrade failed"),
        ];
        for &(e, code, msg) in want {
            assert_eq!((e.result_code(), e.result_msg()), (code, msg), "{e:?}");
        }
        for e in Error::ALL {
            if e.code() <= Error::TlsUntrusted.code() {
                assert_eq!(
                    (e.result_code(), e.result_msg()),
                    (-5, "tls failed"),
                    "{e:?}"
                );
            }
        }
        assert_eq!(
            RESULT_MSGS.bytes().filter(|&b| b == 0).count(),
            12,
            "every entry reachable"
        );
    }
    /// The bare-metal texts are exactly the header's names for the codes.
    #[test]
    fn names_are_the_headers() {
        let header = include_str!("../include/qcloud_ota.h");
        for (i, e) in Error::ALL.iter().enumerate() {
            let name = crate::text::nul_text(NAMES, i);
            let define = std::format!("#define {name} ({})", e.code());
            assert!(header.contains(&define), "{define} not in the header");
        }
    }
}
