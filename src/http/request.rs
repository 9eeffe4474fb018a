//! The GET request. Unlike Tencent's SDKs: the Range end is inclusive (RFC 7233), `Host:` carries a
//! non-default port, and there is no `Accept-Encoding` (nothing here decompresses, and the image
//! must arrive byte for byte for its MD5).

use super::url::{Url, parts};
use crate::text::Writer;

/// The request, with stand-ins (control bytes that a request never holds): 0x10 + i the URL's
/// part `i` ([`parts`]: 1 to 5 the authority, 6 and 7 the target), 0x18 the Range's first byte,
/// 0x19 its last, 0x1a the If-Range ETag. A line starting with 0x1b is only sent with a range,
/// one starting with 0x1c only with an ETag.
const TEMPLATE: &[u8] = concat!(
    "GET \x16\x17 HTTP/1.1\r\n",
    "Host: \x11\x12\x13\x14\x15\r\n",
    "User-Agent: qcloud-ota/",
    env!("CARGO_PKG_VERSION"),
    "\r\n",
    "Accept: */*\r\n",
    "\x1bRange: bytes=\x18-\x19\r\n",
    "\x1cIf-Range: \x1a\r\n",
    "Connection: keep-alive\r\n\r\n"
)
.as_bytes();

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The request does not fit in the buffer.
    BufferTooSmall,
    /// Range start after its end.
    BadRange,
    /// The If-Range ETag is empty, weak (`W/`, forbidden by RFC 7233 §3.2) or contains bytes that
    /// cannot go in a header.
    BadIfRange,
}

/// Write `GET` for `url` into `out`; returns the request length.
///
/// `range` is `(first, last)`, both inclusive. `if_range` is an ETag exactly as the server sent it
/// (with its quotes): the server then sends the whole object with 200 if it changed, instead of
/// a range of a different object.
pub fn write_get(
    out: &mut [u8],
    url: &Url<'_>,
    range: Option<(u64, u64)>,
    if_range: Option<&str>,
) -> Result<usize, RequestError> {
    let (first, last) = range.unwrap_or_default();
    if first > last {
        return Err(RequestError::BadRange);
    }
    let tag = if_range.unwrap_or_default().as_bytes();
    if if_range.is_some()
        && (tag.is_empty() || tag.starts_with(b"W/") || tag.iter().any(|&c| c < b' ' || c == 0x7f))
    {
        return Err(RequestError::BadIfRange);
    }
    // Appended unconditionally: the writer drops whatever does not fit and says so once.
    let mut w = Writer::new(out);
    let mut digits = [0; 20];
    let parts = parts(url, &mut digits);
    let mut skip = false;
    for &t in TEMPLATE {
        match t {
            _ if skip => {}
            0x10..=0x17 => put_ascii(&mut w, parts.get(usize::from(t - 0x10)).unwrap_or(&&[][..])),
            0x18 => w.u64(first),
            0x19 => w.u64(last),
            0x1a => w.bytes(tag),
            0x1b => skip = range.is_none(),
            0x1c => skip = if_range.is_none(),
            _ => w.byte(t),
        }
        skip &= t != b'\n';
    }
    w.finish().map_err(|_| RequestError::BufferTooSmall)
}

/// `s` with non-ASCII bytes percent-encoded: a URL taken verbatim from JSON may carry raw UTF-8
/// in its path; the request line must be ASCII. Control bytes were refused by the URL parser.
fn put_ascii(w: &mut Writer<'_>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b >= 0x80 {
            let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            let lo = HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0');
            w.bytes(&[b'%', hi, lo]);
        } else {
            w.byte(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::url::parse;
    use super::*;

    fn req(url: &str, range: Option<(u64, u64)>, if_range: Option<&str>) -> std::string::String {
        let mut out = [0u8; 1024];
        let n = write_get(&mut out, &parse(url).unwrap(), range, if_range).unwrap();
        std::string::String::from_utf8(out[..n].to_vec()).unwrap()
    }

    const UA: &str = concat!("User-Agent: qcloud-ota/", env!("CARGO_PKG_VERSION"), "\r\n");

    #[test]
    fn plain_get() {
        assert_eq!(
            req("http://example.com/fw.bin?sign=a%2Fb&t=1", None, None),
            std::format!(
                "GET /fw.bin?sign=a%2Fb&t=1 HTTP/1.1\r\nHost: example.com\r\n{UA}Accept: */*\r\nConnection: keep-alive\r\n\r\n"
            )
        );
    }

    #[test]
    fn range_and_if_range() {
        assert_eq!(
            req("https://h:8443/f", Some((1024, 2047)), Some("\"abc-1\"")),
            std::format!(
                "GET /f HTTP/1.1\r\nHost: h:8443\r\n{UA}Accept: */*\r\nRange: bytes=1024-2047\r\nIf-Range: \"abc-1\"\r\nConnection: keep-alive\r\n\r\n"
            )
        );
        let r = req("http://h/f", Some((0, u64::MAX)), None);
        assert!(
            r.contains("\r\nRange: bytes=0-18446744073709551615\r\n"),
            "{r}"
        );
        let r = req("http://h/f", Some((7, 7)), None);
        assert!(r.contains("\r\nRange: bytes=7-7\r\n"), "{r}");
    }

    #[test]
    fn host_header_forms() {
        assert!(req("http://[::1]:8080/x", None, None).contains("\r\nHost: [::1]:8080\r\n"));
        assert!(req("https://[2001:db8::2]/x", None, None).contains("\r\nHost: [2001:db8::2]\r\n"));
        assert!(req("https://h:80/x", None, None).contains("\r\nHost: h:80\r\n"));
        assert!(req("http://h:443/x", None, None).contains("\r\nHost: h:443\r\n"));
        assert!(req("http://h:80/x", None, None).contains("\r\nHost: h\r\n"));
    }

    #[test]
    fn target_forms() {
        assert!(req("http://h", None, None).starts_with("GET / HTTP/1.1\r\n"));
        assert!(req("http://h?a=1&b=2", None, None).starts_with("GET /?a=1&b=2 HTTP/1.1\r\n"));
        assert!(req("http://h/é", None, None).starts_with("GET /%C3%A9 HTTP/1.1\r\n"));
        assert!(!req("http://h/", Some((0, 1)), None).contains("Accept-Encoding"));
    }

    #[test]
    fn errors() {
        let url = parse("http://example.com/fw.bin").unwrap();
        let mut out = [0u8; 512];
        assert_eq!(
            write_get(&mut out, &url, Some((5, 4)), None),
            Err(RequestError::BadRange)
        );
        for tag in ["", "W/\"x\"", "\"a\r\nX: y\"", "\"a\x7f\""] {
            assert_eq!(
                write_get(&mut out, &url, None, Some(tag)),
                Err(RequestError::BadIfRange)
            );
        }
        let full = write_get(&mut out, &url, Some((1, 2)), Some("\"e\"")).unwrap();
        for len in 0..full {
            let mut small = std::vec![0u8; len];
            assert_eq!(
                write_get(&mut small, &url, Some((1, 2)), Some("\"e\"")),
                Err(RequestError::BufferTooSmall)
            );
        }
        let mut exact = std::vec![0u8; full];
        assert_eq!(
            write_get(&mut exact, &url, Some((1, 2)), Some("\"e\"")),
            Ok(full)
        );
    }
}
