//! Every status the library reports, with its C name, its text, and the Tencent `result_code` it
//! maps to when it ends an update: one table, so the numbers can never collide the way the C
//! SDK's do (reference §5.8), and a status cannot be missing from any of its lists.

/// The C values (`OTA_OK`, `OTA_ERR_*`) with their header documentation: plain constants, the
/// one thing cbindgen must read as written (it does not expand macros). The table below names
/// each, so a status without its constant does not compile.
pub mod codes;

pub use codes::*;

/// Declares [`Error`], [`Error::ALL`], the texts and the `result_msg` of every status from one
/// table. Each row: the variant, its C constant (its value, and the bare-metal `ota_strerror`
/// text), the host builds' sentence, and the [`Msg`] a `fail` report sends.
macro_rules! errors {
    ($($variant:ident = $c:ident, $sentence:literal, $msg:ident;)*) => {
        /// A library error. The numeric values are the C ABI's `OTA_ERR_*` constants and never
        /// change (one byte each: the codes fit, and `Error::ALL` then takes a byte per status,
        /// not four).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(i8)]
        pub enum Error {
            $($variant = $c as i8,)*
        }

        // Each C value fits the byte it is stored in.
        $(const _: () = assert!($c as i8 as i32 == $c && $c < 0);)*

        impl Error {
            pub const ALL: [Error; [$($c),*].len()] = [$(Error::$variant),*];

            /// This error's entry in `RESULT_MSGS`. Its own function returning a byte, so the
            /// compiler's lookup table holds a byte per error (inlined, it was widened to four).
            #[inline(never)]
            fn result_msg_nth(self) -> u8 {
                match self {
                    $(Error::$variant => Msg::$msg as u8,)*
                }
            }
        }

        /// The statuses' C names, in `Error::ALL` order (the bare-metal `ota_strerror`).
        const NAMES: &str = concat!($(stringify!($c), "\0",)*);

        /// What each status means, in `Error::ALL` order (the host builds' `ota_strerror`).
        const SENTENCES: &str = concat!($($sentence, "\0",)*);
    };
}

errors! {
    NullPointer = OTA_ERR_NULL_POINTER, "a required pointer is NULL", Failed;
    InvalidArgument = OTA_ERR_INVALID_ARGUMENT, "invalid argument (empty, too long, not printable ASCII, or out of range)", Failed;
    BufferTooSmall = OTA_ERR_BUFFER_TOO_SMALL, "a buffer is below its documented minimum", Failed;
    WrongState = OTA_ERR_WRONG_STATE, "not allowed in the current state", Failed;
    NotInitialized = OTA_ERR_NOT_INITIALIZED, "client not initialised", Failed;
    Busy = OTA_ERR_BUSY, "called from one of the client's own callbacks", Failed;
    OtherTopic = OTA_ERR_OTHER_TOPIC, "message for another client's topic", Failed;
    Unsupported = OTA_ERR_UNSUPPORTED, "not in this build of the library (a cargo feature: host-mqtt, readback, or the built-in MQTT)", Failed;
    NetConnect = OTA_ERR_NET_CONNECT, "the host could not open a connection", TimeOut;
    NetIo = OTA_ERR_NET_IO, "connection failed or closed by the peer", TimeOut;
    MqttRefused = OTA_ERR_MQTT_REFUSED, "MQTT broker refused the connection (credentials?)", Failed;
    MqttTimeout = OTA_ERR_MQTT_TIMEOUT, "MQTT broker did not answer in time", Failed;
    MqttProtocol = OTA_ERR_MQTT_PROTOCOL, "malformed MQTT packet from the broker", Failed;
    MqttOversize = OTA_ERR_MQTT_OVERSIZE, "MQTT message over the receive buffer dropped", Failed;
    SubscribeRejected = OTA_ERR_SUBSCRIBE_REJECTED, "broker rejected the OTA topic subscription", Failed;
    BadMessage = OTA_ERR_BAD_MESSAGE, "malformed update_firmware message", BadMessage;
    ImageTooLarge = OTA_ERR_IMAGE_TOO_LARGE, "image does not fit the firmware slot", TooLarge;
    BadUrl = OTA_ERR_BAD_URL, "unsupported or malformed firmware URL", BadMessage;
    VersionRejected = OTA_ERR_VERSION_REJECTED, "cloud rejected the reported version", Failed;
    HttpStatus = OTA_ERR_HTTP_STATUS, "unexpected HTTP status", Failed;
    HttpNotFound = OTA_ERR_HTTP_NOT_FOUND, "firmware not found (HTTP 404)", NotFound;
    HttpForbidden = OTA_ERR_HTTP_FORBIDDEN, "firmware URL refused (HTTP 403, signature expired)", SignatureExpired;
    HttpProtocol = OTA_ERR_HTTP_PROTOCOL, "malformed HTTP response or wrong range/length", Failed;
    DownloadTimeout = OTA_ERR_DOWNLOAD_TIMEOUT, "firmware download stalled", TimeOut;
    Md5Mismatch = OTA_ERR_MD5_MISMATCH, "image MD5 does not match md5sum", Md5Mismatch;
    Slot = OTA_ERR_SLOT, "host firmware slot error", FlashWrite;
    Store = OTA_ERR_STORE, "host record store error", RecordStore;
    RolledBack = OTA_ERR_ROLLED_BACK, "device came back on the old version", RolledBack;
    Declined = OTA_ERR_DECLINED, "host declined the update", Declined;
    Redirected = OTA_ERR_REDIRECTED, "redirected (followed by the library)", Failed;
    TlsUntrusted = OTA_ERR_TLS_UNTRUSTED, "TLS: certificate not from a trusted CA (ota_config.ca)", Tls;
    TlsNameMismatch = OTA_ERR_TLS_NAME_MISMATCH, "TLS: certificate not valid for the host name", Tls;
    TlsExpired = OTA_ERR_TLS_EXPIRED, "TLS: certificate expired or not yet valid (clock?)", Tls;
    TlsAlert = OTA_ERR_TLS_ALERT, "TLS: the peer sent an alert", Tls;
    TlsHandshake = OTA_ERR_TLS_HANDSHAKE, "TLS handshake failed (version, cipher suite or message)", Tls;
    TlsConfig = OTA_ERR_TLS_CONFIG, "TLS set-up unusable (ota_config.ca or tls_buf)", Tls;
    TlsDowngrade = OTA_ERR_TLS_DOWNGRADE, "refused a redirect from https to http", Tls;
    TlsClientCert = OTA_ERR_TLS_CLIENT_CERT, "TLS: the server refused the device certificate (missing, or from a CA it does not trust)", Tls;
}

crate::tables::text_table! {
    /// The short `result_msg` of a `fail` report. The first four are the texts of
    /// `result_code` -1 .. -4 ([`Error::result_code`]); every other one goes with -5. Its texts
    /// are `RESULT_MSGS` (see [`Error::result_msg`]).
    #[derive(Clone, Copy)]
    #[repr(u8)]
    enum Msg in RESULT_MSGS {
        Failed = "upgrade failed",
        TimeOut = "time_out",
        NotFound = "file not found",
        SignatureExpired = "signature expired",
        Md5Mismatch = "md5 mismatch",
        TooLarge = "image too large",
        RolledBack = "device came back on the old version",
        Declined = "declined by device",
        FlashWrite = "flash write failed",
        RecordStore = "record store failed",
        BadMessage = "bad update_firmware message",
        Tls = "tls failed",
    }
}

const _: () = assert!(Msg::TimeOut as i32 == -result_code::TIMEOUT);
const _: () = assert!(Msg::NotFound as i32 == -result_code::NOT_FOUND);
const _: () = assert!(Msg::SignatureExpired as i32 == -result_code::SIGNATURE_EXPIRED);
const _: () = assert!(Msg::Md5Mismatch as i32 == -result_code::MD5_MISMATCH);

/// Tencent `result_code` values for `report_progress` with state `fail` (reference §3.5).
pub mod result_code {
    pub const TIMEOUT: i32 = -1;
    pub const NOT_FOUND: i32 = -2;
    pub const SIGNATURE_EXPIRED: i32 = -3;
    pub const MD5_MISMATCH: i32 = -4;
    pub const UPGRADE_FAILED: i32 = -5;
}

/// Every status's text, in `Error::ALL` order, each ending in NUL for C: one blob walked to the
/// n-th NUL rather than a `match`, which costs a table of pointers and lengths. Host builds
/// (`std`) say what happened; bare-metal builds give the constant's name, which the header
/// documents (the sentences cost flash; docs/size.md).
const TEXTS: &str = if cfg!(feature = "std") {
    SENTENCES
} else {
    NAMES
};
const _: () = assert!(TEXTS.is_ascii() && SENTENCES.is_ascii() && NAMES.is_ascii());

impl Error {
    pub const fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| e.code() == code)
    }

    /// This status's text for `ota_strerror`, NUL-terminated: [`Error::as_str`] is a slice of
    /// `TEXTS`, where a NUL ends every entry (no second lookup for the NUL: flash). Always within
    /// `TEXTS`: its entries are ASCII (asserted), so slicing it at entry bounds cannot fail over
    /// to a literal.
    pub fn c_text(self) -> *const u8 {
        self.as_str().as_ptr()
    }

    /// This status's text (for log lines).
    pub fn as_str(self) -> &'static str {
        crate::text::nul_text(TEXTS, self.nth())
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
            assert!(!e.as_str().contains('\0'));
            // c_text's NUL: ffi::tests::strerror_covers_every_status reads it as C does.
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
            Error::TlsDowngrade.as_str(),
            "refused a redirect from https to http"
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
