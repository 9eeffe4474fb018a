//! Tencent IoT Explorer MQTT key authentication (plain TCP, or TLS with username/password).
//!
//! clientId = `${productId}${deviceName}`
//! username = `${productId}${deviceName};${sdkappid};${connid};${expiry}`
//! password = `hex_lower(HMAC(base64_decode(deviceSecret), username));hmacsha1|hmacsha256`

use crate::hash::{Hash, hmac};
pub use crate::text::{Overflow, Writer};

/// The appid the console-generated credentials use. The C SDK sends `21010406`; the broker accepts
/// both.
pub const SDKAPPID: &str = "12010126";

/// The C SDK's HMAC refuses keys longer than one block instead of hashing them; do the same so a
/// too-long secret fails here rather than at the broker.
pub const KEY_MAX: usize = crate::hash::HMAC_KEY_MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// The device secret is not valid padded base64, or is empty.
    BadSecret,
    /// The decoded key is longer than [`KEY_MAX`] bytes (or the caller's buffer).
    KeyTooLong,
    /// The output buffer is too small.
    Overflow,
}

impl From<Overflow> for AuthError {
    fn from(_: Overflow) -> Self {
        AuthError::Overflow
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMethod {
    /// What the C and Python SDKs use.
    HmacSha1,
    /// What the Java SDK and the console tools use.
    HmacSha256,
}

/// The base64 alphabet; its first 62 symbols are also the connection id's characters.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_value(c: u8) -> Option<u32> {
    B64.iter().position(|&s| s == c).map(|v| v as u32)
}

/// Decodes a device secret (standard alphabet, `=` padding required) into `out`; returns the key
/// length. Non-zero bits in the last symbol before the padding are ignored, as the SDK's mbedTLS
/// decoder does.
pub fn decode_secret(b64: &str, out: &mut [u8]) -> Result<usize, AuthError> {
    let src = b64.as_bytes();
    if src.is_empty() || !src.len().is_multiple_of(4) {
        return Err(AuthError::BadSecret);
    }
    // Up to two '=' at the end; any other '=' fails as a symbol below.
    let mut body = src;
    for _ in 0..2 {
        if let Some((b'=', head)) = body.split_last() {
            body = head;
        }
    }
    // Bits are shifted in six at a time and each whole byte goes out.
    let (mut acc, mut bits, mut n) = (0u32, 0, 0usize);
    for &c in body {
        acc = (acc << 6) | b64_value(c).ok_or(AuthError::BadSecret)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if n >= KEY_MAX {
                return Err(AuthError::KeyTooLong);
            }
            *out.get_mut(n).ok_or(AuthError::KeyTooLong)? = (acc >> bits) as u8;
            n += 1;
        }
    }
    Ok(n)
}

fn check(w: &Writer<'_>) -> Result<(), Overflow> {
    if w.is_overflow() {
        Err(Overflow)
    } else {
        Ok(())
    }
}

/// `${productId}${deviceName}`.
pub fn write_client_id(
    w: &mut Writer<'_>,
    product_id: &str,
    device_name: &str,
) -> Result<(), Overflow> {
    w.str(product_id);
    w.str(device_name);
    check(w)
}

/// `${productId}${deviceName};${sdkappid};${connid};${expiry}`, `expiry` in Unix seconds.
pub fn write_username(
    w: &mut Writer<'_>,
    product_id: &str,
    device_name: &str,
    sdkappid: &str,
    connid: &str,
    expiry: u64,
) -> Result<(), Overflow> {
    write_client_id(w, product_id, device_name)?;
    w.byte(b';');
    w.str(sdkappid);
    w.byte(b';');
    w.str(connid);
    w.byte(b';');
    w.u64(expiry);
    check(w)
}

/// `hex_lower(HMAC(key, username))` followed by `;hmacsha1` or `;hmacsha256`; nothing for an
/// empty key (certificate authentication: no password).
///
/// `username` is bytes so the caller can pass what a [`Writer`] produced without re-validating it.
pub fn write_password(
    w: &mut Writer<'_>,
    key: &[u8],
    username: &[u8],
    method: SignMethod,
) -> Result<(), AuthError> {
    if key.is_empty() {
        return Ok(());
    }
    let (hash, suffix) = match method {
        SignMethod::HmacSha1 => (Hash::Sha1, ";hmacsha1"),
        SignMethod::HmacSha256 => (Hash::Sha256, ";hmacsha256"),
    };
    let mut mac = [0u8; 32];
    let n = hmac(hash, key, username, &mut mac).ok_or(AuthError::KeyTooLong)?;
    w.hex_lower(mac.get(..n).unwrap_or(&[]));
    w.str(suffix);
    Ok(check(w)?)
}

/// Five characters from `[A-Za-z0-9]`, like the C SDK's `get_next_conn_id`. The seed should vary
/// per connection (a timer or a hardware RNG). One 32-bit mix (a constant, so seed 0 is not
/// "AAAAA", then the `lowbias32` finaliser) spreads nearby seeds apart and gives all five digits
/// in base 62 (62^5 < 2^32); 32-bit because 64-bit arithmetic costs flash on a Cortex-M.
pub fn make_connid(seed: u64) -> [u8; 5] {
    let mut z = (seed ^ seed >> 32) as u32 ^ 0x9e37_79b9;
    z = (z ^ z >> 16).wrapping_mul(0x7feb_352d);
    z = (z ^ z >> 15).wrapping_mul(0x846c_a68b);
    z ^= z >> 16;
    let mut out = [0u8; 5];
    for c in out.iter_mut() {
        // The remainder is below 62; `get` only avoids a panic path.
        *c = B64.get((z % 62) as usize).copied().unwrap_or(b'A');
        z /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn username(buf: &mut [u8], sdkappid: &str) -> usize {
        let mut w = Writer::new(buf);
        write_username(
            &mut w,
            "ABCDEFGHIJ",
            "dev001",
            sdkappid,
            "Ab1Cd",
            2147483647,
        )
        .unwrap();
        w.finish().unwrap()
    }

    fn password(key: &[u8], user: &[u8], m: SignMethod) -> std::string::String {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        write_password(&mut w, key, user, m).unwrap();
        std::string::String::from_utf8(w.written().to_vec()).unwrap()
    }

    extern crate std;

    #[test]
    fn worked_example_8_4() {
        let mut key = [0u8; 64];
        let n = decode_secret("MTIzNDU2Nzg5MGFiY2RlZg==", &mut key).unwrap();
        assert_eq!(&key[..n], b"1234567890abcdef");

        let mut buf = [0u8; 80];
        let mut w = Writer::new(&mut buf);
        write_client_id(&mut w, "ABCDEFGHIJ", "dev001").unwrap();
        assert_eq!(w.written(), b"ABCDEFGHIJdev001");

        let mut ub = [0u8; 80];
        let un = username(&mut ub, "21010406");
        assert_eq!(&ub[..un], b"ABCDEFGHIJdev001;21010406;Ab1Cd;2147483647");
        assert_eq!(
            password(&key[..n], &ub[..un], SignMethod::HmacSha1),
            "a96c30c7e11f8f55cb40e747e852cbcf611542c9;hmacsha1"
        );

        let un = username(&mut ub, SDKAPPID);
        assert_eq!(&ub[..un], b"ABCDEFGHIJdev001;12010126;Ab1Cd;2147483647");
        assert_eq!(
            password(&key[..n], &ub[..un], SignMethod::HmacSha256),
            "e66ac1c8d0f75e9842745b3f4525e1805f2afc6d10dbd9618e64e59da4d17362;hmacsha256"
        );
    }

    #[test]
    fn sdk_hmac_sha1_vector() {
        let p = password(
            b"0123456789123456",
            b"Here is a test for hmac-sha1!",
            SignMethod::HmacSha1,
        );
        assert_eq!(p, "614b650ffefff7862c1bc7fdd9de4e472a8184c4;hmacsha1");
    }

    #[test]
    fn base64_valid() {
        let mut out = [0u8; 64];
        let cases: &[(&str, &[u8])] = &[
            ("TWFu", b"Man"),
            ("TWE=", b"Ma"),
            ("TQ==", b"M"),
            ("+/+/", &[0xfb, 0xff, 0xbf]),
            ("AAAA", &[0, 0, 0]),
        ];
        for &(s, want) in cases {
            let n = decode_secret(s, &mut out).unwrap();
            assert_eq!(&out[..n], want, "{s}");
        }
        // 64 bytes is the limit; 65 is refused.
        let mut s = std::string::String::new();
        for _ in 0..21 {
            s.push_str("QUJD");
        }
        s.push_str("QQ==");
        assert_eq!(decode_secret(&s, &mut out), Ok(64));
        s.truncate(s.len() - 4);
        s.push_str("QUI=");
        assert_eq!(decode_secret(&s, &mut out), Err(AuthError::KeyTooLong));
        // Caller buffer smaller than the key.
        assert_eq!(
            decode_secret("TWFu", &mut [0u8; 2]),
            Err(AuthError::KeyTooLong)
        );
    }

    #[test]
    fn base64_invalid() {
        let mut out = [0u8; 64];
        for bad in [
            "", "T", "TWF", "TWFuT", "TW=u", "T===", "====", "TQ==TWFu", "TWF*", "TWF-", "TWF_",
            " TWFu", "TWFu\n", "TWE=\0", "TWFué",
        ] {
            assert_eq!(
                decode_secret(bad, &mut out),
                Err(AuthError::BadSecret),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors() {
        let mut buf = [0u8; 10];
        let mut w = Writer::new(&mut buf);
        assert_eq!(
            write_username(&mut w, "ABCDEFGHIJ", "dev001", SDKAPPID, "Ab1Cd", 1),
            Err(Overflow)
        );
        let mut buf = [0u8; 48];
        let mut w = Writer::new(&mut buf);
        // 40 hex digits fit, the suffix does not.
        assert_eq!(
            write_password(&mut w, b"k", b"u", SignMethod::HmacSha1),
            Err(AuthError::Overflow)
        );
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        assert_eq!(
            write_password(&mut w, &[0u8; 65], b"u", SignMethod::HmacSha256),
            Err(AuthError::KeyTooLong)
        );
    }

    #[test]
    fn connid() {
        let a = make_connid(0);
        let b = make_connid(1);
        assert_ne!(a, b);
        assert_eq!(make_connid(12345), make_connid(12345));
        for seed in 0..1000u64 {
            let c = make_connid(seed.wrapping_mul(0x1234_5678_9abc));
            assert!(c.iter().all(u8::is_ascii_alphanumeric));
        }
    }
}
