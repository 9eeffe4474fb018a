//! The GET request. Unlike Tencent's SDKs: the Range end is inclusive (RFC 7233), `Host:` carries a
//! non-default port, and there is no `Accept-Encoding` (nothing here decompresses, and the image
//! must arrive byte for byte for its MD5).

use super::url::Url;
use crate::text::Writer;

const USER_AGENT: &str = concat!("qcloud-ota/", env!("CARGO_PKG_VERSION"));

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
    if range.is_some_and(|(first, last)| first > last) {
        return Err(RequestError::BadRange);
    }
    if let Some(tag) = if_range {
        let b = tag.as_bytes();
        if b.is_empty() || b.starts_with(b"W/") || b.iter().any(|&c| c < b' ' || c == 0x7f) {
            return Err(RequestError::BadIfRange);
        }
    }
    // Appended unconditionally: the writer drops whatever does not fit and says so once.
    let mut w = Writer::new(out);
    w.str("GET ");
    if url.path.starts_with('?') {
        w.byte(b'/');
    }
    put_target(&mut w, url.path.as_bytes());
    w.str(" HTTP/1.1\r\nHost: ");
    if url.host_is_ipv6() {
        w.byte(b'[');
        w.str(url.host);
        w.byte(b']');
    } else {
        w.str(url.host);
    }
    if !url.port_is_default() {
        w.byte(b':');
        w.u64(u64::from(url.port));
    }
    w.str("\r\nUser-Agent: ");
    w.str(USER_AGENT);
    w.str("\r\nAccept: */*\r\n");
    if let Some((first, last)) = range {
        w.str("Range: bytes=");
        w.u64(first);
        w.byte(b'-');
        w.u64(last);
        w.str("\r\n");
    }
    if let Some(tag) = if_range {
        w.str("If-Range: ");
        w.str(tag);
        w.str("\r\n");
    }
    w.str("Connection: keep-alive\r\n\r\n");
    w.finish().map_err(|_| RequestError::BufferTooSmall)
}

/// The request target, with non-ASCII bytes percent-encoded (a URL taken verbatim from JSON may
/// carry raw UTF-8; the request line must be ASCII). Control bytes were refused by the URL parser.
fn put_target(w: &mut Writer<'_>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b >= 0x80 {
            w.bytes(s.get(start..i).unwrap_or_default());
            let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            let lo = HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0');
            w.bytes(&[b'%', hi, lo]);
            start = i + 1;
        }
    }
    w.bytes(s.get(start..).unwrap_or_default());
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
