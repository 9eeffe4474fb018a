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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Content-Length: `n` bytes to go.
    Length,
    UntilClose,
    /// Hex digits of a chunk size (into `n`).
    Size,
    /// Whitespace after the digits.
    SizeTail,
    /// A `;` extension (ignored) up to the CR.
    SizeExt,
    /// CR of the size line seen.
    SizeLf,
    /// Chunk data: `n` bytes to go.
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (an empty line ends the body).
    TrailerStart,
    TrailerLine,
    /// CR of a trailer line seen.
    TrailerLf,
    /// CR of the empty line seen.
    LastLf,
    Done,
}

#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    /// Bytes in the current size line, or in the whole trailer.
    line: u16,
    n: u64,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        let (state, n) = match framing {
            Framing::Length(0) => (State::Done, 0),
            Framing::Length(n) => (State::Length, n),
            Framing::Chunked => (State::Size, 0),
            Framing::UntilClose => (State::UntilClose, 0),
        };
        BodyDecoder { state, line: 0, n }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes still expected with Content-Length framing (None for the other framings).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length => Some(self.n),
            State::Done => Some(0),
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
                State::UntilClose => return Ok((input.len(), input)),
                State::Length | State::Data => {
                    let take = usize::try_from(self.n).map_or(rest.len(), |n| n.min(rest.len()));
                    self.n -= take as u64;
                    if self.n == 0 {
                        self.state = if self.state == State::Length {
                            State::Done
                        } else {
                            State::DataCr
                        };
                    }
                    // Framing before the data is consumed in the same call; data stays contiguous.
                    return Ok((i + take, rest.get(..take).unwrap_or_default()));
                }
                State::Done => return Ok((i, &[])),
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
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(BodyError::Truncated),
        }
    }

    /// One byte of chunk framing.
    fn step(&mut self, b: u8) -> Result<(), BodyError> {
        use State::*;
        let max = match self.state {
            Size | SizeTail | SizeExt => MAX_SIZE_LINE,
            TrailerStart | TrailerLine => MAX_TRAILER,
            _ => 0,
        };
        if max > 0 {
            self.line = self.line.saturating_add(1);
            if self.line > max {
                return Err(BodyError::LineTooLong);
            }
        }
        let hex = match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' | b'A'..=b'F' => Some((b | 0x20) - b'a' + 10),
            _ => None,
        };
        self.state = match (self.state, b) {
            (Size, _) if hex.is_some() => {
                if self.n > u64::MAX >> 4 {
                    return Err(BodyError::ChunkSizeOverflow);
                }
                self.n = self.n << 4 | u64::from(hex.unwrap_or(0));
                Size
            }
            // Not a digit, and none before it.
            (Size, _) if self.line == 1 => return Err(BodyError::BadChunkSize),
            (Size | SizeTail | SizeExt, b'\r') => SizeLf,
            (Size | SizeTail, b' ' | b'\t') => SizeTail,
            (Size | SizeTail | SizeExt, b';') => SizeExt,
            // Extension names/values are ignored, but stray text before `;` is not.
            (SizeExt, _) if b != b'\n' => SizeExt,
            (SizeLf, b'\n') => {
                self.line = 0;
                if self.n == 0 { TrailerStart } else { Data }
            }
            (Size | SizeTail | SizeExt | SizeLf, _) => return Err(BodyError::BadChunkSize),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size,
            (TrailerStart, b'\r') => LastLf,
            (TrailerLine, b'\r') => TrailerLf,
            (TrailerStart | TrailerLine, _) if b != b'\n' => TrailerLine,
            (TrailerLf, b'\n') => TrailerStart,
            (LastLf, b'\n') => Done,
            _ => return Err(BodyError::MissingCrlf),
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
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % v.len();
                v[i] = (x >> 24) as u8;
            }
            let cut = (x >> 40) as usize % v.len();
            let _ = run(Framing::Chunked, &[&v[..cut], &v[cut..]]);
        }
    }
}
