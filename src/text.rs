//! Fixed-capacity strings and a byte writer, so messages can be built without heap or `core::fmt`
//! (which is large on a Cortex-M; the figures are in docs/size.md).

use crate::num::decimal;
use crate::slices::copy_prefix;

/// The value did not fit in the fixed capacity. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

/// The output buffer was too small for the whole message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// A UTF-8 string of at most `N` bytes stored inline.
///
/// Invariant: `buf[..len]` is valid UTF-8 (every mutation appends a whole `&str` or `char`, or
/// fills the buffer through `parts_mut` with UTF-8; were it broken, `as_str` gives "").
#[derive(Clone)]
pub struct Str<const N: usize> {
    len: usize,
    buf: [u8; N],
}

impl<const N: usize> Str<N> {
    pub const fn new() -> Self {
        Self {
            len: 0,
            buf: [0; N],
        }
    }

    pub fn try_from_str(s: &str) -> Result<Self, TooLong> {
        let mut out = Self::new();
        out.push_str(s)?;
        Ok(out)
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        utf8_or_empty(self.as_bytes())
    }

    pub const fn len(&self) -> usize {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub const fn capacity(&self) -> usize {
        N
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends all of `s` or, if it does not fit, nothing.
    #[inline]
    pub fn push_str(&mut self, s: &str) -> Result<(), TooLong> {
        append(&mut self.buf, &mut self.len, s.as_bytes())
    }

    /// The whole buffer and the length, to fill in place (the length is reset to 0). The caller
    /// keeps the invariant: what it counts in the length is UTF-8.
    pub(crate) fn parts_mut(&mut self) -> (&mut [u8], &mut usize) {
        self.len = 0;
        (&mut self.buf, &mut self.len)
    }

    pub fn push_char(&mut self, c: char) -> Result<(), TooLong> {
        let mut tmp = [0u8; 4];
        self.push_str(c.encode_utf8(&mut tmp))
    }
}

impl<const N: usize> Default for Str<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PartialEq for Str<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> Eq for Str<N> {}

impl<const N: usize> PartialEq<str> for Str<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> PartialEq<&str> for Str<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> core::fmt::Debug for Str<N> {
    // Only reached from tests or host logging; LTO drops it otherwise.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

// The work of `Str<N>`'s methods (once for every capacity rather than once per `N`) and of
// `Writer::bytes`.

#[inline(never)]
fn append(buf: &mut [u8], len: &mut usize, s: &[u8]) -> Result<(), TooLong> {
    let end = len.checked_add(s.len()).ok_or(TooLong)?;
    let dst = buf.get_mut(*len..end).ok_or(TooLong)?;
    copy_prefix(dst, s);
    *len = end;
    Ok(())
}

/// `b` as a `str` when it is valid UTF-8, checked by [`is_utf8`] instead of core's larger fast
/// validator. The crate's one unchecked conversion
/// outside the C ABI: here, in the lowest layer that needs it, rather than every parser
/// reaching up into `ffi`.
#[allow(unsafe_code)]
pub(crate) fn str_from_utf8(b: &[u8]) -> Option<&str> {
    // SAFETY: just checked to be UTF-8.
    is_utf8(b).then(|| unsafe { core::str::from_utf8_unchecked(b) })
}

/// `b` as a `str`, or "" when it is not UTF-8 (for bytes written as UTF-8, e.g. a `Str`, whose
/// invariant makes the fallback unreachable: it only avoids a panic path).
#[inline(never)]
pub(crate) fn utf8_or_empty(b: &[u8]) -> &str {
    str_from_utf8(b).unwrap_or("")
}

/// Entry `n` of `blob`, a run of texts each ending in NUL: its start and the index of its NUL
/// (`(0, 0)` when there is none). Text tables are such blobs, walked at run time: a `match` that
/// returns `&str` compiles to tables of pointers and lengths (a pointer and a length per case).
pub fn nul_entry(blob: &[u8], n: usize) -> (usize, usize) {
    let (mut start, mut seen) = (0, 0);
    for (i, &b) in blob.iter().enumerate() {
        if b == 0 {
            if seen == n {
                return (start, i);
            }
            seen += 1;
            start = i + 1;
        }
    }
    (0, 0)
}

/// The text of entry `n` of a NUL-separated `blob` (see [`nul_entry`]), without its NUL.
pub fn nul_text(blob: &'static str, n: usize) -> &'static str {
    let (start, end) = nul_entry(blob.as_bytes(), n);
    blob.get(start..end).unwrap_or("")
}

/// Whether `b` is valid UTF-8 (the rules of `core::str::from_utf8`: no overlong forms, no
/// surrogates, nothing above U+10FFFF). A plain loop: core's validator is tuned for speed at a
/// cost in flash, and the library only checks short names, topics and JSON texts.
pub fn is_utf8(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&lead) = b.get(i) {
        // Continuation bytes and the smallest code point each length may encode.
        let (more, min) = match lead {
            0x00..=0x7f => (0, 0),
            0xc2..=0xdf => (1, 0x80),
            0xe0..=0xef => (2, 0x800),
            0xf0..=0xf4 => (3, 0x1_0000),
            _ => return false,
        };
        // The lead byte's payload bits (the length marker's top bits are cut off by the shifts).
        let mut cp = u32::from(lead) & (0x7f >> more);
        for k in 1..=more {
            match b.get(i + k) {
                Some(&c) if c & 0xc0 == 0x80 => cp = cp << 6 | u32::from(c & 0x3f),
                _ => return false,
            }
        }
        if cp < min || (0xd800..0xe000).contains(&cp) || cp > 0x10_ffff {
            return false;
        }
        i += more + 1;
    }
    true
}

/// Appends to a caller's buffer. Overflow is sticky: once an item does not fit, that item and all
/// later ones are dropped whole and [`Writer::finish`] reports [`Overflow`], so formatting code can
/// append unconditionally and check once.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            overflow: false,
        }
    }

    pub fn bytes(&mut self, b: &[u8]) {
        if !self.overflow && append(self.buf, &mut self.len, b).is_err() {
            self.overflow = true;
        }
    }

    pub fn byte(&mut self, b: u8) {
        self.bytes(&[b]);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.int(false, v);
    }

    pub fn i64(&mut self, v: i64) {
        self.int(v < 0, v.unsigned_abs());
    }

    /// The sign and digits are reserved together so an overflow never leaves a lone '-'.
    fn int(&mut self, negative: bool, v: u64) {
        let mut tmp = [0u8; 20];
        let digits = decimal(&mut tmp, v);
        self.reserve(digits.len() + usize::from(negative));
        if negative {
            self.byte(b'-');
        }
        self.bytes(digits);
    }

    /// Lowercase hex, two digits per byte.
    pub fn hex_lower(&mut self, b: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.reserve(b.len().saturating_mul(2));
        for &x in b {
            self.byte(HEX[usize::from(x >> 4)]);
            self.byte(HEX[usize::from(x & 0x0f)]);
        }
    }

    /// Marks the overflow now if `n` more bytes do not fit, so a multi-part item is whole or absent.
    fn reserve(&mut self, n: usize) {
        if self.buf.len().saturating_sub(self.len) < n {
            self.overflow = true;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_overflow(&self) -> bool {
        self.overflow
    }

    /// What has been written so far (whole items only).
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    pub fn finish(self) -> Result<usize, Overflow> {
        if self.overflow {
            Err(Overflow)
        } else {
            Ok(self.len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_basics() {
        let mut s: Str<8> = Str::new();
        assert!(s.is_empty());
        assert_eq!(s.capacity(), 8);
        s.push_str("abc").unwrap();
        s.push_char('é').unwrap();
        assert_eq!(s, "abcé");
        assert_eq!(s.len(), 5);
        assert_eq!(s.as_bytes(), "abcé".as_bytes());
        // Does not fit: nothing appended.
        assert_eq!(s.push_str("wxyz"), Err(TooLong));
        assert_eq!(s.as_str(), "abcé");
        s.push_str("xyz").unwrap();
        assert_eq!(s.push_char('a'), Err(TooLong));
        assert_eq!(s.len(), 8);
        s.clear();
        assert_eq!(s, "");
        assert_eq!(Str::<3>::try_from_str("abcd"), Err(TooLong));
        assert_eq!(Str::<4>::try_from_str("abcd").unwrap(), "abcd");
        // A multibyte char that would straddle the end is rejected whole.
        let mut t: Str<2> = Str::try_from_str("a").unwrap();
        assert_eq!(t.push_char('é'), Err(TooLong));
        assert_eq!(t, "a");
        assert_eq!(Str::<0>::new().push_str(""), Ok(()));
    }

    #[test]
    fn writer_numbers() {
        let cases: &[(i64, &str)] = &[
            (0, "0"),
            (7, "7"),
            (-1, "-1"),
            (1234567890, "1234567890"),
            (i64::MAX, "9223372036854775807"),
            (i64::MIN, "-9223372036854775808"),
        ];
        for &(v, want) in cases {
            let mut buf = [0u8; 32];
            let mut w = Writer::new(&mut buf);
            w.i64(v);
            assert_eq!(w.written(), want.as_bytes());
        }
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        w.u64(u64::MAX);
        assert_eq!(w.written(), b"18446744073709551615");
        assert_eq!(w.finish(), Ok(20));
    }

    #[test]
    fn writer_overflow_is_sticky_and_whole() {
        let mut buf = [0u8; 5];
        let mut w = Writer::new(&mut buf);
        w.str("abc");
        w.i64(-123); // 4 bytes: does not fit, dropped whole
        assert!(w.is_overflow());
        w.str("d"); // would fit, but overflow is sticky
        assert_eq!(w.written(), b"abc");
        assert_eq!(w.finish(), Err(Overflow));

        let mut buf = [0u8; 3];
        let mut w = Writer::new(&mut buf);
        w.hex_lower(&[0xab, 0xcd]);
        assert_eq!(w.written(), b"");
        assert_eq!(w.finish(), Err(Overflow));

        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        w.hex_lower(&[0x0f, 0xa0]);
        w.bytes(b"");
        assert_eq!(w.written(), b"0fa0");
        assert_eq!(w.finish(), Ok(4));

        let mut empty: [u8; 0] = [];
        let mut w = Writer::new(&mut empty);
        assert!(w.is_empty());
        w.u64(0);
        assert_eq!(w.finish(), Err(Overflow));
    }
    #[test]
    fn is_utf8_agrees_with_core() {
        let agree = |b: &[u8]| {
            assert_eq!(is_utf8(b), core::str::from_utf8(b).is_ok(), "{b:02x?}");
        };
        // Every sequence of one and two bytes, and every three-byte one with a non-ASCII lead.
        for a in 0..=255u8 {
            agree(&[a]);
            for b in 0..=255u8 {
                agree(&[a, b]);
                if a >= 0x80 {
                    for c in 0..=255u8 {
                        agree(&[a, b, c]);
                    }
                }
            }
        }
        // Four-byte sequences around every boundary, and random text mixing all lengths.
        for lead in [0xefu8, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5] {
            for b in 0x70..=0xc0u8 {
                for c in [0x7f, 0x80, 0xbf, 0xc0] {
                    for d in [0x7f, 0x80, 0xbf, 0xc0] {
                        agree(&[lead, b, c, d]);
                        agree(&[b'a', lead, b, c, d, b'z']);
                    }
                }
            }
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let pieces: [&[u8]; 8] = [
            b"a",
            "é".as_bytes(),
            "€".as_bytes(),
            "😀".as_bytes(),
            &[0x80],
            &[0xed, 0xa0, 0x80],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xe2, 0x82],
        ];
        for _ in 0..20_000 {
            let mut buf = std::vec::Vec::new();
            for _ in 0..(x % 9) {
                x = crate::num::xorshift64(x);
                buf.extend_from_slice(pieces[(x % 8) as usize]);
            }
            agree(&buf);
        }
    }
}
