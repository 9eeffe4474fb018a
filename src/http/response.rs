//! The response head: the HTTP/1.x syntax (httparse's grammar in its default configuration,
//! checked line by line as the head arrives, a partial line as far as it goes), then the headers
//! that decide framing and whether the bytes are the ones we asked for. Names are compared without case (Tencent's SDK looks for
//! `Content-Length` with `strstr`), and anything ambiguous about the body length is an error
//! rather than a guess.

use crate::num::{number, parse_u64};
use crate::tables::word_table;
use crate::text::str_from_utf8;

/// Most header lines accepted; a COS/CDN response carries about a dozen.
pub const MAX_HEADERS: usize = 24;

/// `Content-Range: bytes start-end/total` (end inclusive; total `None` for `*`). 32-bit like the
/// slot API: a range beyond 4 GiB cannot answer a request for an image and is refused as bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u32,
    pub end: u32,
    pub total: Option<u32>,
}

impl ContentRange {
    /// Bytes in the range (end is inclusive).
    pub fn len(&self) -> u32 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }

    /// Never: a byte range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head<'a> {
    pub status: u16,
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub content_range: Option<ContentRange>,
    /// The ETag as sent (quotes and any `W/` included), if it is valid UTF-8.
    pub etag: Option<&'a str>,
    pub location: Option<&'a str>,
    /// `Connection: close`, HTTP/1.0 without keep-alive, or framing we cannot trust to reuse the
    /// connection (Transfer-Encoding together with Content-Length).
    pub close: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not an HTTP/1.x response head.
    Malformed,
    /// More than [`MAX_HEADERS`] header lines.
    TooManyHeaders,
    /// Content-Length not a decimal number, or larger than u64.
    BadContentLength,
    /// Two different Content-Length values: the body length is ambiguous.
    ConflictingContentLength,
    /// A transfer coding other than a single `chunked`.
    UnsupportedTransferEncoding,
    /// Content-Range that does not parse, has start > end or end >= total, a number beyond
    /// u32, or appears twice.
    BadContentRange,
}

/// Parse a response head at the start of `buf`. `Ok(None)` until the blank line has arrived (or
/// as long as every byte so far can start a valid head); then the head and its length in bytes.
/// A syntax error anywhere in the head wins over a bad header value before it.
///
/// Line by line: a line is its bytes up to `\n` less one `\r` before it (the grammar allows no
/// other `\r`); an incomplete last line is checked as far as it goes, so garbage fails at once.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head<'_>, usize)>, HeadError> {
    let mut f = Fields {
        head: Head {
            status: 0,
            content_length: None,
            chunked: false,
            content_range: None,
            etag: None,
            location: None,
            close: false,
        },
        transfer_encoding: false,
        keep_alive: false,
    };
    let mut http10 = false;
    let mut first_error = None;
    // Lines taken, the status line included (0: still before it).
    let mut lines = 0;
    let mut pos = 0;
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let nl = rest.iter().position(|&b| b == b'\n');
        let mut line = rest.get(..nl.unwrap_or(rest.len())).unwrap_or_default();
        // A `\r` can only end a line: without its `\n` yet, the line must be whole already.
        let mut ends = nl.is_some();
        if let [l @ .., b'\r'] = line {
            line = l;
            ends = true;
        }
        if line.is_empty() {
            let Some(nl) = nl else {
                return Ok(None);
            };
            pos += nl + 1;
            if lines == 0 {
                // Empty lines before the status line are skipped.
                continue;
            }
            break;
        }
        // The status line against its template; a header line as token characters up to the
        // first ':', text after it.
        let mut colon = None;
        for (i, &b) in line.iter().enumerate() {
            let ok = if lines == 0 {
                match STATUS_LINE.get(i) {
                    Some(1) => b == b'0' || b == b'1',
                    Some(2) => b.is_ascii_digit(),
                    Some(&t) => b == t,
                    None => is_text(b),
                }
            } else if colon.is_some() {
                is_text(b)
            } else if b == b':' && i > 0 {
                colon = Some(i);
                true
            } else {
                is_token(b)
            };
            if !ok {
                return Err(HeadError::Malformed);
            }
        }
        let short = if lines == 0 {
            line.len() < STATUS_LINE.len() - 1
        } else {
            colon.is_none()
        };
        if ends && short {
            return Err(HeadError::Malformed);
        }
        let Some(nl) = nl else {
            return Ok(None);
        };
        pos += nl + 1;
        if lines == 0 {
            http10 = matches!(line.get(7), Some(b'0'));
            for &d in line.get(9..12).unwrap_or_default() {
                f.head.status = f.head.status * 10 + u16::from(d - b'0');
            }
        } else if lines > MAX_HEADERS {
            return Err(HeadError::TooManyHeaders);
        } else if first_error.is_none() {
            let c = colon.unwrap_or(0);
            let name = line.get(..c).unwrap_or_default();
            let value = trim(line.get(c + 1..).unwrap_or_default());
            first_error = f.apply(name, value).err();
        }
        lines += 1;
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let head = &mut f.head;
    if f.transfer_encoding && !head.chunked {
        // "Transfer-Encoding:" with an empty value.
        return Err(HeadError::UnsupportedTransferEncoding);
    }
    if head.chunked && (head.content_length.is_some() || http10) {
        // RFC 9112 §6.3: Transfer-Encoding wins, but the framing is suspect (smuggling), so the
        // connection must not be reused.
        head.content_length = None;
        head.close = true;
    }
    head.close |= http10 && !f.keep_alive;
    Ok(Some((f.head, pos)))
}

/// `HTTP/1.x ddd`, then a space and a reason phrase (ignored) or nothing: 1 stands for the minor
/// version digit, 2 for a status digit.
const STATUS_LINE: &[u8] = b"HTTP/1.\x01 \x02\x02\x02 ";

/// RFC 9110 token characters (header names), one bit per ASCII byte.
const TOKEN: [u32; 4] = {
    let mut map = [0u32; 4];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphanumeric()
            || matches!(c, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.')
            || matches!(c, b'^' | b'_' | b'`' | b'|' | b'~')
        {
            map[b / 32] |= 1 << (b % 32);
        }
        b += 1;
    }
    map
};

fn is_token(b: u8) -> bool {
    TOKEN
        .get(usize::from(b >> 5))
        .is_some_and(|w| w >> (b & 31) & 1 != 0)
}

/// Header value and reason phrase characters: tab, visible ASCII, space, obs-text.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

/// The head being filled in from its header lines.
struct Fields<'a> {
    head: Head<'a>,
    transfer_encoding: bool,
    keep_alive: bool,
}

word_table! {
    /// The header names we read, then the list items we look for.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Keyword in KEYWORDS ignoring case {
        ContentLength = "content-length",
        TransferEncoding = "transfer-encoding",
        Connection = "connection",
        ContentRange = "content-range",
        Etag = "etag",
        Location = "location",
        Chunked = "chunked",
        Close = "close",
        KeepAlive = "keep-alive",
    }
}

/// The keyword `s` is, without case.
fn keyword(s: &[u8]) -> Option<Keyword> {
    Keyword::named(s)
}

impl<'a> Fields<'a> {
    #[inline(never)]
    fn apply(&mut self, name: &[u8], value: &'a [u8]) -> Result<(), HeadError> {
        let head = &mut self.head;
        use Keyword::*;
        let k = keyword(name);
        match k {
            Some(ContentRange) => parse_content_range(value, &mut head.content_range)?,
            Some(Etag | Location) => {
                let text = str_from_utf8(value).filter(|s| !s.is_empty());
                if k == Some(Etag) {
                    head.etag = text;
                } else {
                    head.location = text;
                }
            }
            Some(ContentLength | TransferEncoding | Connection) => {
                self.transfer_encoding |= k == Some(TransferEncoding);
                // Comma-separated lists; a repeated header adds to the same state.
                let mut rest = value;
                loop {
                    let comma = rest.iter().position(|&b| b == b',');
                    let item = trim(rest.get(..comma.unwrap_or(rest.len())).unwrap_or_default());
                    match (k, keyword(item)) {
                        (Some(ContentLength), _) => {
                            // "5, 5" or a repeated header is fine as long as every value agrees.
                            let n = parse_u64(item).ok_or(HeadError::BadContentLength)?;
                            if head.content_length.is_some_and(|prev| prev != n) {
                                return Err(HeadError::ConflictingContentLength);
                            }
                            head.content_length = Some(n);
                        }
                        // Only one `chunked` and nothing else: we never decode gzip/deflate, and
                        // chunked applied twice is invalid.
                        (Some(TransferEncoding), Some(Chunked)) if !head.chunked => {
                            head.chunked = true
                        }
                        (Some(TransferEncoding), _) if !item.is_empty() => {
                            return Err(HeadError::UnsupportedTransferEncoding);
                        }
                        (Some(Connection), Some(Close)) => head.close = true,
                        (Some(Connection), Some(KeepAlive)) => self.keep_alive = true,
                        _ => {}
                    }
                    let Some(c) = comma else { break };
                    rest = rest.get(c + 1..).unwrap_or_default();
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `bytes first-last/total` or `bytes first-last/*` into `out`, where there must be none yet; or
/// `bytes */total` (with 416), which says nothing about the body.
fn parse_content_range(v: &[u8], out: &mut Option<ContentRange>) -> Result<(), HeadError> {
    const E: HeadError = HeadError::BadContentRange;
    let number = |s: &[u8], i: &mut usize| number(s, i).and_then(|n| u32::try_from(n).ok());
    match v.get(..6) {
        Some(unit) if unit.eq_ignore_ascii_case(b"bytes ") => {}
        _ => return Err(E),
    }
    let spec = trim(v.get(6..).unwrap_or_default());
    let mut i = 0;
    let range = if eat(spec, &mut i, b'*') {
        None
    } else {
        let start = number(spec, &mut i).ok_or(E)?;
        if !eat(spec, &mut i, b'-') {
            return Err(E);
        }
        Some((start, number(spec, &mut i).ok_or(E)?))
    };
    if !eat(spec, &mut i, b'/') {
        return Err(E);
    }
    let total = if eat(spec, &mut i, b'*') {
        None
    } else {
        Some(number(spec, &mut i).ok_or(E)?)
    };
    match range {
        _ if i != spec.len() => Err(E),
        None if total.is_some() => Ok(()),
        Some((start, end)) if start <= end && total.is_none_or(|t| end < t) && out.is_none() => {
            *out = Some(ContentRange { start, end, total });
            Ok(())
        }
        _ => Err(E),
    }
}

/// Consume `b` at `s[*i]` if it is there.
fn eat(s: &[u8], i: &mut usize, b: u8) -> bool {
    let hit = s.get(*i) == Some(&b);
    *i += usize::from(hit);
    hit
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> (Head<'_>, usize) {
        parse_head(s.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn partial_206() {
        let raw = "HTTP/1.1 206 Partial Content\r\nServer: tencent-cos\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\nContent-Range: bytes 1024-2047/175436\r\nETag: \"6a6e4b3c\"\r\nConnection: keep-alive\r\n\r\nBODY";
        let (h, n) = head(raw);
        assert_eq!(n, raw.len() - 4);
        assert_eq!(h.status, 206);
        assert_eq!(h.content_length, Some(1024));
        assert_eq!(
            h.content_range,
            Some(ContentRange {
                start: 1024,
                end: 2047,
                total: Some(175436)
            })
        );
        assert_eq!(h.content_range.unwrap().len(), 1024);
        assert_eq!(h.etag, Some("\"6a6e4b3c\""));
        assert!(!h.chunked && !h.close && h.location.is_none());
    }

    #[test]
    fn full_200_and_case_insensitive_names() {
        let (h, _) = head(
            "HTTP/1.1 200 OK\r\ncontent-length: 42\r\nETAG: W/\"x\"\r\nCONNECTION: Close\r\n\r\n",
        );
        assert_eq!(
            (h.status, h.content_length, h.etag, h.close),
            (200, Some(42), Some("W/\"x\""), true)
        );
        let (h, _) = head("HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: Chunked\r\n\r\n");
        assert!(h.chunked);
        assert_eq!(h.content_length, None);
        let (h, _) = head("HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:   7  \r\n\r\n");
        assert_eq!(h.content_length, Some(7));
        let (h, _) = head("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((h.status, h.content_length), (200, Some(0)));
    }

    #[test]
    fn error_statuses_and_redirect() {
        for code in [403u16, 404, 500, 503] {
            let s = std::format!("HTTP/1.1 {code} X\r\nContent-Length: 5\r\n\r\nerror");
            let (h, n) = parse_head(s.as_bytes()).unwrap().unwrap();
            assert_eq!((h.status, n), (code, s.len() - 5));
        }
        let (h, _) = head(
            "HTTP/1.1 302 Found\r\nLocation: https://b.example/fw?sig=1&t=2\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(
            (h.status, h.location),
            (302, Some("https://b.example/fw?sig=1&t=2"))
        );
    }

    #[test]
    fn connection_semantics() {
        assert!(!head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n").0.close);
        assert!(head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").0.close);
        assert!(
            !head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n")
                .0
                .close
        );
        assert!(
            head("HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\n\r\n")
                .0
                .close
        );
        // TE + CL: chunked wins, the connection is not reused.
        let (h, _) =
            head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(h.chunked && h.close && h.content_length.is_none());
    }

    #[test]
    fn content_length_duplicates() {
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
                .0
                .content_length,
            Some(5)
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n")
                .0
                .content_length,
            Some(5)
        );
        let bad: &[(&str, HeadError)] = &[
            (
                "Content-Length: 5\r\nContent-Length: 6",
                HeadError::ConflictingContentLength,
            ),
            ("Content-Length: 5, 6", HeadError::ConflictingContentLength),
            ("Content-Length: -1", HeadError::BadContentLength),
            ("Content-Length: +1", HeadError::BadContentLength),
            ("Content-Length: 1e3", HeadError::BadContentLength),
            ("Content-Length: ", HeadError::BadContentLength),
            ("Content-Length: 0x10", HeadError::BadContentLength),
            (
                "Content-Length: 18446744073709551616",
                HeadError::BadContentLength,
            ),
            (
                "Content-Length: 99999999999999999999999",
                HeadError::BadContentLength,
            ),
            (
                "Transfer-Encoding: gzip, chunked",
                HeadError::UnsupportedTransferEncoding,
            ),
            (
                "Transfer-Encoding: chunked, chunked",
                HeadError::UnsupportedTransferEncoding,
            ),
            (
                "Transfer-Encoding: identity",
                HeadError::UnsupportedTransferEncoding,
            ),
            (
                "Transfer-Encoding: ",
                HeadError::UnsupportedTransferEncoding,
            ),
            ("Content-Range: bytes 5-4/10", HeadError::BadContentRange),
            ("Content-Range: bytes 0-10/10", HeadError::BadContentRange),
            ("Content-Range: bytes 0-1", HeadError::BadContentRange),
            ("Content-Range: items 0-1/2", HeadError::BadContentRange),
            ("Content-Range: bytes -1/2", HeadError::BadContentRange),
            ("Content-Range: bytes */*", HeadError::BadContentRange),
            (
                "Content-Range: bytes 0-1/2\r\nContent-Range: bytes 0-0/2",
                HeadError::BadContentRange,
            ),
            (
                "Content-Range: bytes 0-1/2\r\nContent-Range: bytes 0-1/2",
                HeadError::BadContentRange,
            ),
            (
                "Content-Range: bytes 0-1/4294967296",
                HeadError::BadContentRange,
            ),
            (
                "Content-Range: bytes 4294967296-4294967297/*",
                HeadError::BadContentRange,
            ),
        ];
        for (hdr, e) in bad {
            let s = std::format!("HTTP/1.1 206 X\r\n{hdr}\r\n\r\n");
            assert_eq!(parse_head(s.as_bytes()), Err(*e), "{hdr}");
        }
        assert_eq!(
            u64::MAX,
            head("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n")
                .0
                .content_length
                .unwrap()
        );
    }

    #[test]
    fn content_range_forms() {
        let (h, _) = head("HTTP/1.1 206 X\r\nContent-Range: bytes 0-0/*\r\n\r\n");
        assert_eq!(
            h.content_range,
            Some(ContentRange {
                start: 0,
                end: 0,
                total: None
            })
        );
        let (h, _) = head("HTTP/1.1 416 X\r\nContent-Range: bytes */1000\r\n\r\n");
        assert_eq!((h.status, h.content_range), (416, None));
    }

    #[test]
    fn incomplete_and_garbage() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
        for i in 0..full.len() {
            assert_eq!(parse_head(&full[..i]), Ok(None), "prefix {i}");
        }
        assert!(parse_head(full).unwrap().is_some());
        for g in [
            &b"<html>hello</html>\r\n\r\n"[..],
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"\x00\xff\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert_eq!(parse_head(g), Err(HeadError::Malformed), "{g:?}");
        }
        let mut many = std::string::String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..MAX_HEADERS + 1 {
            many += &std::format!("X-{i}: v\r\n");
        }
        many += "\r\n";
        assert_eq!(parse_head(many.as_bytes()), Err(HeadError::TooManyHeaders));
        // A huge but well-formed head parses (the size bound is the downloader's buffer).
        let big = std::format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 1\r\n\r\n",
            "a".repeat(100_000)
        );
        assert_eq!(head(&big).0.content_length, Some(1));
    }

    #[test]
    fn keywords() {
        use Keyword::*;
        let words = [
            (ContentLength, "content-length"),
            (TransferEncoding, "transfer-encoding"),
            (Connection, "connection"),
            (ContentRange, "content-range"),
            (Etag, "etag"),
            (Location, "location"),
            (Chunked, "chunked"),
            (Close, "close"),
            (KeepAlive, "keep-alive"),
        ];
        assert_eq!(Keyword::ALL.len(), words.len());
        for (k, w) in words {
            assert_eq!(keyword(w.as_bytes()), Some(k));
            assert_eq!(keyword(w.to_uppercase().as_bytes()), Some(k));
        }
        for w in ["content-lengt", "content-lengths", "", "keep alive"] {
            assert_eq!(keyword(w.as_bytes()), None);
        }
    }

    #[test]
    fn never_panics() {
        let base = b"HTTP/1.1 206 X\r\nContent-Length: 10\r\nContent-Range: bytes 0-9/10\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let mut x: u64 = 88172645463325252;
        for _ in 0..20_000 {
            let mut v = base.to_vec();
            for _ in 0..3 {
                x = crate::num::xorshift64(x);
                let i = (x as usize) % v.len();
                v[i] = (x >> 32) as u8;
            }
            let _ = parse_head(&v);
            let cut = (x >> 40) as usize % v.len();
            let _ = parse_head(&v[..cut]);
        }
    }
}
