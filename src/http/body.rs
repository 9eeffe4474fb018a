//! Body decoder: Content-Length, chunked, or until the peer closes. Zero copy: data comes back as
//! sub-slices of the input. Chunk framing is consumed byte by byte into a few bytes of state, so a
//! size line split across reads never has to be buffered or moved.

/// Longest chunk-size line we accept (hex digits, whitespace and extensions, without CRLF).
pub const MAX_SIZE_LINE: u16 = 256;
/// Most trailer bytes we skip after the last chunk.
pub const MAX_TRAILER: u16 = 4096;

/// How the body's end is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// A chunk-size line that is not hex digits, optional whitespace/extension and CRLF.
    BadChunkSize,
    /// A chunk size beyond u64.
    ChunkSizeOverflow,
    /// Chunk data not followed by CRLF (the size lied).
    MissingCrlf,
    /// A size line or the trailer is longer than we are willing to skip.
    LineTooLong,
    /// The peer closed before the promised end of the body.
    Truncated,
}

// Decoder states. The chunk framing ones come first: each has a row in `NEXT`.
/// Before the first hex digit of a chunk size.
const SIZE_START: u8 = 0;
/// Hex digits of a chunk size (into `n`).
const SIZE: u8 = 1;
/// Whitespace after the digits.
const SIZE_TAIL: u8 = 2;
/// A `;` extension (ignored) up to the CR.
const SIZE_EXT: u8 = 3;
/// CR of the size line seen.
const SIZE_LF: u8 = 4;
const DATA_CR: u8 = 5;
const DATA_LF: u8 = 6;
/// At the start of a trailer line (an empty line ends the body).
const TRAILER_START: u8 = 7;
const TRAILER_LINE: u8 = 8;
/// CR of a trailer line seen.
const TRAILER_LF: u8 = 9;
/// CR of the empty line seen.
const LAST_LF: u8 = 10;
/// Content-Length: `n` bytes to go.
const LENGTH: u8 = 11;
const UNTIL_CLOSE: u8 = 12;
/// Chunk data: `n` bytes to go.
const DATA: u8 = 13;
const DONE: u8 = 14;

/// The framing states, which have rows in `NEXT`, are those below `LENGTH`.
const FRAMING: usize = LENGTH as usize;

// Errors in `NEXT`.
const BAD: u8 = 0x80;
const CRLF: u8 = 0x81;

/// The next framing state by byte class: hex digit, CR, LF, space or tab, `;`, anything else.
/// `DATA` after a size line means `TRAILER_START` for the last (empty) chunk. Each row is placed
/// by its state's name, and every framing state must have exactly one, or this does not compile.
const NEXT: [[u8; 6]; FRAMING] = {
    let mut next = [[0; 6]; FRAMING];
    let mut placed = [false; FRAMING];
    #[rustfmt::skip]
    let rows = [
        (SIZE_START,    [SIZE, BAD, BAD, BAD, BAD, BAD]),
        (SIZE,          [SIZE, SIZE_LF, BAD, SIZE_TAIL, SIZE_EXT, BAD]),
        // Extension names/values are ignored, but stray text before `;` is not.
        (SIZE_TAIL,     [BAD, SIZE_LF, BAD, SIZE_TAIL, SIZE_EXT, BAD]),
        (SIZE_EXT,      [SIZE_EXT, SIZE_LF, BAD, SIZE_EXT, SIZE_EXT, SIZE_EXT]),
        (SIZE_LF,       [BAD, BAD, DATA, BAD, BAD, BAD]),
        (DATA_CR,       [CRLF, DATA_LF, CRLF, CRLF, CRLF, CRLF]),
        (DATA_LF,       [CRLF, CRLF, SIZE_START, CRLF, CRLF, CRLF]),
        (TRAILER_START, [TRAILER_LINE, LAST_LF, CRLF, TRAILER_LINE, TRAILER_LINE, TRAILER_LINE]),
        (TRAILER_LINE,  [TRAILER_LINE, TRAILER_LF, CRLF, TRAILER_LINE, TRAILER_LINE, TRAILER_LINE]),
        (TRAILER_LF,    [CRLF, CRLF, TRAILER_START, CRLF, CRLF, CRLF]),
        (LAST_LF,       [CRLF, CRLF, DONE, CRLF, CRLF, CRLF]),
    ];
    let mut i = 0;
    while i < rows.len() {
        let (state, row) = rows[i];
        // A state past the table does not compile (index out of bounds).
        assert!(!placed[state as usize], "one row per state");
        placed[state as usize] = true;
        next[state as usize] = row;
        i += 1;
    }
    assert!(rows.len() == next.len(), "a row for every framing state");
    next
};

#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: u8,
    /// Bytes in the current size line, or in the whole trailer.
    line: u16,
    n: u64,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        let (state, n) = match framing {
            Framing::Length(0) => (DONE, 0),
            Framing::Length(n) => (LENGTH, n),
            Framing::Chunked => (SIZE_START, 0),
            Framing::UntilClose => (UNTIL_CLOSE, 0),
        };
        BodyDecoder { state, line: 0, n }
    }

    pub fn is_done(&self) -> bool {
        self.state == DONE
    }

    /// Body bytes still expected with Content-Length framing (None for the other framings).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            LENGTH => Some(self.n),
            DONE => Some(0),
            _ => None,
        }
    }

    /// Consume from `input`: returns (bytes consumed, body data), the data being a sub-slice of
    /// `input` (empty when only framing was consumed). (0, []) means it needs more input, or it
    /// is done. Call again with the rest until then.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, &'a [u8]), BodyError> {
        let mut i = 0;
        loop {
            let rest = input.get(i..).unwrap_or_default();
            match self.state {
                UNTIL_CLOSE => return Ok((input.len(), input)),
                LENGTH | DATA => {
                    let take = usize::try_from(self.n).map_or(rest.len(), |n| n.min(rest.len()));
                    self.n -= take as u64;
                    if self.n == 0 {
                        self.state = if self.state == LENGTH { DONE } else { DATA_CR };
                    }
                    // Framing before the data is consumed in the same call; data stays contiguous.
                    return Ok((i + take, rest.get(..take).unwrap_or_default()));
                }
                DONE => return Ok((i, &[])),
                _ => {
                    let Some(&b) = rest.first() else {
                        return Ok((i, &[]));
                    };
                    self.step(b)?;
                    i += 1;
                }
            }
        }
    }

    /// The peer closed the connection.
    pub fn on_eof(&mut self) -> Result<(), BodyError> {
        match self.state {
            UNTIL_CLOSE | DONE => {
                self.state = DONE;
                Ok(())
            }
            _ => Err(BodyError::Truncated),
        }
    }

    /// One byte of chunk framing.
    fn step(&mut self, b: u8) -> Result<(), BodyError> {
        let max = match self.state {
            SIZE_START..=SIZE_EXT => MAX_SIZE_LINE,
            TRAILER_START | TRAILER_LINE => MAX_TRAILER,
            _ => 0,
        };
        if max > 0 {
            self.line = self.line.saturating_add(1);
            if self.line > max {
                return Err(BodyError::LineTooLong);
            }
        }
        let (class, digit) = match b {
            b'0'..=b'9' => (0, b - b'0'),
            b'a'..=b'f' | b'A'..=b'F' => (0, (b | 0x20) - b'a' + 10),
            b'\r' => (1, 0),
            b'\n' => (2, 0),
            b' ' | b'\t' => (3, 0),
            b';' => (4, 0),
            _ => (5, 0),
        };
        let next = NEXT
            .get(usize::from(self.state))
            .and_then(|row| row.get(class))
            .copied()
            .unwrap_or(BAD);
        self.state = match next {
            BAD => return Err(BodyError::BadChunkSize),
            CRLF => return Err(BodyError::MissingCrlf),
            SIZE => {
                if self.n > u64::MAX >> 4 {
                    return Err(BodyError::ChunkSizeOverflow);
                }
                self.n = self.n << 4 | u64::from(digit);
                SIZE
            }
            DATA => {
                self.line = 0;
                if self.n == 0 { TRAILER_START } else { DATA }
            }
            s => s,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Feed `parts` in order, keeping any unconsumed remainder (as a caller's buffer would).
    fn run(framing: Framing, parts: &[&[u8]]) -> Result<(Vec<u8>, bool, usize), BodyError> {
        let mut d = BodyDecoder::new(framing);
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for p in parts {
            pending.extend_from_slice(p);
            loop {
                let (n, data) = d.decode(&pending)?;
                out.extend_from_slice(data);
                pending.drain(..n);
                if n == 0 {
                    break;
                }
            }
        }
        Ok((out, d.is_done(), pending.len()))
    }

    const CHUNKED: &[u8] = b"5\r\nhello\r\n1A;name=\"v;x\"\r\nabcdefghijklmnopqrstuvwxyz\r\n00a \t;e\r\n0123456789\r\n0\r\nX-Trailer: 1\r\nMD5: x\r\n\r\n";
    const CHUNKED_BODY: &[u8] = b"helloabcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn chunked_whole() {
        assert_eq!(
            run(Framing::Chunked, &[CHUNKED]),
            Ok((CHUNKED_BODY.to_vec(), true, 0))
        );
        assert_eq!(
            run(Framing::Chunked, &[b"0\r\n\r\n"]),
            Ok((Vec::new(), true, 0))
        );
    }

    #[test]
    fn chunked_split_at_every_boundary() {
        for i in 0..=CHUNKED.len() {
            for j in i..=CHUNKED.len() {
                let r = run(
                    Framing::Chunked,
                    &[&CHUNKED[..i], &CHUNKED[i..j], &CHUNKED[j..]],
                );
                assert_eq!(r, Ok((CHUNKED_BODY.to_vec(), true, 0)), "split {i} {j}");
            }
        }
        let bytes: Vec<&[u8]> = CHUNKED.chunks(1).collect();
        assert_eq!(
            run(Framing::Chunked, &bytes),
            Ok((CHUNKED_BODY.to_vec(), true, 0))
        );
    }

    #[test]
    fn chunked_stops_at_end() {
        let mut input = CHUNKED.to_vec();
        input.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let (_, done, left) = run(Framing::Chunked, &[&input]).unwrap();
        assert!(done);
        assert_eq!(left, 17);
    }

    #[test]
    fn chunked_errors() {
        let bad: &[(&[u8], BodyError)] = &[
            (b"\r\n", BodyError::BadChunkSize),
            (b"g\r\n", BodyError::BadChunkSize),
            (b"-1\r\n", BodyError::BadChunkSize),
            (b"5 x\r\n", BodyError::BadChunkSize),
            (b"5\n", BodyError::BadChunkSize),
            (b"5\rx", BodyError::BadChunkSize),
            (b"0x5\r\n", BodyError::BadChunkSize),
            (b"1\r\na\r\n\r\n", BodyError::BadChunkSize),
            (b"1\r\na\r\n;x\r\n", BodyError::BadChunkSize),
            (b"5\r\nhelloX", BodyError::MissingCrlf),
            (b"5\r\nhello\rX", BodyError::MissingCrlf),
            (b"5\r\nhello\n", BodyError::MissingCrlf),
            (b"10000000000000000\r\n", BodyError::ChunkSizeOverflow),
            (b"0\r\nX\n", BodyError::MissingCrlf),
            (b"0\r\n\rX", BodyError::MissingCrlf),
        ];
        for (input, e) in bad {
            assert_eq!(run(Framing::Chunked, &[input]), Err(*e), "{input:?}");
        }
        // The largest size is fine (and a stream that long just keeps going).
        let (out, done, _) = run(Framing::Chunked, &[b"ffffffffffffffff\r\nab"]).unwrap();
        assert_eq!((out.as_slice(), done), (&b"ab"[..], false));
        let long_ext: Vec<u8> = [&b"1;"[..], &[b'x'; 300], b"\r\n"].concat();
        assert_eq!(
            run(Framing::Chunked, &[&long_ext]),
            Err(BodyError::LineTooLong)
        );
        let zeros = [b'0'; 300];
        assert_eq!(
            run(Framing::Chunked, &[&zeros]),
            Err(BodyError::LineTooLong)
        );
        let mut trailer = b"0\r\n".to_vec();
        for _ in 0..1000 {
            trailer.extend_from_slice(b"X: y\r\n");
        }
        assert_eq!(
            run(Framing::Chunked, &[&trailer]),
            Err(BodyError::LineTooLong)
        );
    }

    #[test]
    fn length_and_until_close() {
        assert_eq!(
            run(Framing::Length(5), &[b"he", b"llo"]),
            Ok((b"hello".to_vec(), true, 0))
        );
        assert_eq!(
            run(Framing::Length(3), &[b"abcdef"]),
            Ok((b"abc".to_vec(), true, 3))
        );
        assert_eq!(run(Framing::Length(0), &[b"x"]), Ok((Vec::new(), true, 1)));
        assert_eq!(
            run(Framing::Length(u64::MAX), &[b"xyz"]),
            Ok((b"xyz".to_vec(), false, 0))
        );
        let mut d = BodyDecoder::new(Framing::Length(10));
        assert_eq!(d.decode(b"abc"), Ok((3, &b"abc"[..])));
        assert_eq!(d.remaining(), Some(7));
        assert_eq!(d.on_eof(), Err(BodyError::Truncated));

        let mut d = BodyDecoder::new(Framing::UntilClose);
        assert_eq!(d.decode(b"abc"), Ok((3, &b"abc"[..])));
        assert_eq!(d.decode(b""), Ok((0, &b""[..])));
        assert!(!d.is_done());
        assert_eq!(d.on_eof(), Ok(()));
        assert!(d.is_done());

        let mut d = BodyDecoder::new(Framing::Chunked);
        assert_eq!(d.decode(b"5\r\nab"), Ok((5, &b"ab"[..])));
        assert_eq!(d.on_eof(), Err(BodyError::Truncated));
        let mut d = BodyDecoder::new(Framing::Chunked);
        assert_eq!(d.decode(b"0\r\n\r\n"), Ok((5, &b""[..])));
        assert_eq!(d.on_eof(), Ok(()));
    }

    #[test]
    fn never_panics() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut v = CHUNKED.to_vec();
            for _ in 0..2 {
                x = crate::num::xorshift64(x);
                let i = (x as usize) % v.len();
                v[i] = (x >> 24) as u8;
            }
            let cut = (x >> 40) as usize % v.len();
            let _ = run(Framing::Chunked, &[&v[..cut], &v[cut..]]);
        }
    }
}
