//! The response head: the HTTP/1.x syntax (httparse's grammar in its default configuration,
//! checked byte by byte as the head arrives), then the headers that decide framing and whether the
//! bytes are the ones we asked for. Names are compared without case (Tencent's SDK looks for
//! `Content-Length` with `strstr`), and anything ambiguous about the body length is an error
//! rather than a guess.

use crate::slices::has_byte;

/// Most header lines accepted; a COS/CDN response carries about a dozen.
pub const MAX_HEADERS: usize = 24;

/// `Content-Range: bytes start-end/total` (end inclusive; total `None` for `*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: Option<u64>,
}

impl ContentRange {
    /// Bytes in the range (end is inclusive).
    pub fn len(&self) -> u64 {
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
    /// Content-Range that does not parse, has start > end or end >= total, or appears twice.
    BadContentRange,
}

/// Parse a response head at the start of `buf`. `Ok(None)` until the blank line has arrived (or
/// as long as every byte so far can start a valid head); then the head and its length in bytes.
/// A syntax error anywhere in the head wins over a bad header value before it.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head<'_>, usize)>, HeadError> {
    match parse(&mut Cursor { buf, pos: 0 }) {
        Ok(done) => done.map(Some),
        Err(Stop::More) => Ok(None),
        Err(Stop::Bad(e)) => Err(e),
    }
}

/// Why the syntax pass stopped early.
enum Stop {
    /// The input ends inside the head.
    More,
    Bad(HeadError),
}

const MALFORMED: Stop = Stop::Bad(HeadError::Malformed);

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Result<u8, Stop> {
        self.buf.get(self.pos).copied().ok_or(Stop::More)
    }
    fn next(&mut self) -> Result<u8, Stop> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }
    /// Ends a line at `b`: `\n`, or `\r` followed by `\n`.
    fn end_line(&mut self, b: u8) -> Result<(), Stop> {
        match b {
            b'\n' => Ok(()),
            b'\r' if self.next()? == b'\n' => Ok(()),
            _ => Err(MALFORMED),
        }
    }
}

/// RFC 9110 token characters (header names).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || has_byte(b"!#$%&'*+-.^_`|~", b)
}

/// Header value and reason phrase characters: tab, visible ASCII, space, obs-text.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// The status line and the header lines; the header values are applied as they come, but their
/// first error is only returned once the whole head is known to be well-formed.
fn parse<'a>(c: &mut Cursor<'a>) -> Result<Result<(Head<'a>, usize), HeadError>, Stop> {
    // Empty lines before the status line are skipped.
    while let b @ (b'\r' | b'\n') = c.peek()? {
        c.pos += 1;
        c.end_line(b)?;
    }
    for &want in b"HTTP/1." {
        if c.next()? != want {
            return Err(MALFORMED);
        }
    }
    let http10 = match c.next()? {
        b'0' => true,
        b'1' => false,
        _ => return Err(MALFORMED),
    };
    if c.next()? != b' ' {
        return Err(MALFORMED);
    }
    let mut status = 0u16;
    for _ in 0..3 {
        let d = c.next()?;
        if !d.is_ascii_digit() {
            return Err(MALFORMED);
        }
        status = status * 10 + u16::from(d - b'0');
    }
    let mut b = c.next()?;
    if b == b' ' {
        // The reason phrase: ignored.
        b = c.next()?;
        while is_text(b) {
            b = c.next()?;
        }
    }
    c.end_line(b)?;

    let mut st = Fields {
        head: Head {
            status,
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
    let mut first_error = None;
    let mut lines = 0;
    loop {
        let start = c.pos;
        let mut b = c.next()?;
        if b == b'\r' || b == b'\n' {
            c.end_line(b)?;
            break;
        }
        while is_token(b) {
            b = c.next()?;
        }
        if b != b':' || c.pos == start + 1 {
            return Err(MALFORMED);
        }
        let name = c.buf.get(start..c.pos - 1).unwrap_or(&[]);
        b = c.next()?;
        while b == b' ' || b == b'\t' {
            b = c.next()?;
        }
        let value_start = c.pos - 1;
        while is_text(b) {
            b = c.next()?;
        }
        let value = c.buf.get(value_start..c.pos - 1).unwrap_or(&[]);
        c.end_line(b)?;
        if lines == MAX_HEADERS {
            return Err(Stop::Bad(HeadError::TooManyHeaders));
        }
        lines += 1;
        if first_error.is_none() {
            first_error = st.apply(name, trim(value)).err();
        }
    }
    Ok(match first_error {
        Some(e) => Err(e),
        None => st.finish(http10).map(|head| (head, c.pos)),
    })
}

/// The head being filled in from its header lines.
struct Fields<'a> {
    head: Head<'a>,
    transfer_encoding: bool,
    keep_alive: bool,
}

impl<'a> Fields<'a> {
    fn apply(&mut self, name: &[u8], value: &'a [u8]) -> Result<(), HeadError> {
        let head = &mut self.head;
        if name.eq_ignore_ascii_case(b"content-length") {
            // A list ("5, 5") or repeated header is fine as long as every value agrees.
            let mut rest = Some(value);
            while let Some(item) = next_item(&mut rest) {
                let n = parse_u64(item).ok_or(HeadError::BadContentLength)?;
                match head.content_length {
                    Some(prev) if prev != n => return Err(HeadError::ConflictingContentLength),
                    _ => head.content_length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.transfer_encoding = true;
            let mut rest = Some(value);
            while let Some(item) = next_item(&mut rest) {
                if item.is_empty() {
                    continue;
                }
                // Only one `chunked` and nothing else: we never decode gzip/deflate, and chunked
                // applied twice is invalid.
                if !item.eq_ignore_ascii_case(b"chunked") || head.chunked {
                    return Err(HeadError::UnsupportedTransferEncoding);
                }
                head.chunked = true;
            }
        } else if name.eq_ignore_ascii_case(b"content-range") {
            let cr = parse_content_range(value)?;
            // `bytes */N` (with 416) says nothing about the body; only a real range is kept.
            if let Some(cr) = cr {
                if head.content_range.is_some_and(|prev| prev != cr) {
                    return Err(HeadError::BadContentRange);
                }
                head.content_range = Some(cr);
            }
        } else if name.eq_ignore_ascii_case(b"etag") {
            head.etag = core::str::from_utf8(value).ok().filter(|s| !s.is_empty());
        } else if name.eq_ignore_ascii_case(b"location") {
            head.location = core::str::from_utf8(value).ok().filter(|s| !s.is_empty());
        } else if name.eq_ignore_ascii_case(b"connection") {
            let mut rest = Some(value);
            while let Some(item) = next_item(&mut rest) {
                if item.eq_ignore_ascii_case(b"close") {
                    head.close = true;
                } else if item.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                }
            }
        }
        Ok(())
    }

    fn finish(self, http10: bool) -> Result<Head<'a>, HeadError> {
        let mut head = self.head;
        if self.transfer_encoding && !head.chunked {
            // "Transfer-Encoding:" with an empty value.
            return Err(HeadError::UnsupportedTransferEncoding);
        }
        if head.chunked && (head.content_length.is_some() || http10) {
            // RFC 9112 §6.3: Transfer-Encoding wins, but the framing is suspect (smuggling), so
            // the connection must not be reused.
            head.content_length = None;
            head.close = true;
        }
        if http10 && !self.keep_alive {
            head.close = true;
        }
        Ok(head)
    }
}

/// The next comma-separated item of a header value (trimmed), or `None` after the last one.
#[inline(never)]
fn next_item<'a>(rest: &mut Option<&'a [u8]>) -> Option<&'a [u8]> {
    let v = rest.take()?;
    let item = match v.iter().position(|&b| b == b',') {
        Some(i) => {
            *rest = v.get(i + 1..);
            v.get(..i).unwrap_or(&[])
        }
        None => v,
    };
    Some(trim(item))
}

/// `bytes first-last/total`, `bytes first-last/*`, or `bytes */total` (→ `None`).
fn parse_content_range(v: &[u8]) -> Result<Option<ContentRange>, HeadError> {
    const E: HeadError = HeadError::BadContentRange;
    let unit = v.get(..6).ok_or(E)?;
    if !unit.eq_ignore_ascii_case(b"bytes ") {
        return Err(E);
    }
    let spec = trim(v.get(6..).ok_or(E)?);
    let slash = spec.iter().position(|&b| b == b'/').ok_or(E)?;
    let range = spec.get(..slash).ok_or(E)?;
    let total = spec.get(slash + 1..).ok_or(E)?;
    let total = if total == b"*" {
        None
    } else {
        Some(parse_u64(total).ok_or(E)?)
    };
    if range == b"*" {
        return if total.is_some() { Ok(None) } else { Err(E) };
    }
    let dash = range.iter().position(|&b| b == b'-').ok_or(E)?;
    let start = parse_u64(range.get(..dash).ok_or(E)?).ok_or(E)?;
    let end = parse_u64(range.get(dash + 1..).ok_or(E)?).ok_or(E)?;
    if start > end || total.is_some_and(|t| end >= t) {
        return Err(E);
    }
    Ok(Some(ContentRange { start, end, total }))
}

/// Strictly decimal digits, at least one, no sign, no overflow.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
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
    fn never_panics() {
        let base = b"HTTP/1.1 206 X\r\nContent-Length: 10\r\nContent-Range: bytes 0-9/10\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let mut x: u64 = 88172645463325252;
        for _ in 0..20_000 {
            let mut v = base.to_vec();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % v.len();
                v[i] = (x >> 32) as u8;
            }
            let _ = parse_head(&v);
            let cut = (x >> 40) as usize % v.len();
            let _ = parse_head(&v[..cut]);
        }
    }
}
