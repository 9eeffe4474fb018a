//! A streaming heatshrink decoder for window 2^8 / lookahead 2^7 (what detools and esp_delta_ota
//! use), written from the format: an MSB-first bit stream of items, each a tag bit, then either
//! `1` + an 8-bit literal, or `0` + an 8-bit back-reference index (distance - 1) + a 7-bit count
//! (length - 1). A back-reference before the start of the output reads zeros (the window starts
//! zeroed). The encoder pads the last byte with zero bits.
//!
//! Input arrives one byte at a time ([`Heatshrink::push`]); output is pulled one byte at a time
//! ([`Heatshrink::pull`]). The state is the 256-byte window plus a few bytes, all of which
//! except the window is what a [`super::checkpoint::Checkpoint`] saves.

/// log2 of the window: 256 bytes, so a `u8` index wraps exactly.
pub const WINDOW_SZ2: u8 = 8;
/// log2 of the lookahead: back-references copy 1..=128 bytes.
pub const LOOKAHEAD_SZ2: u8 = 7;
/// The parameter byte that opens detools' heatshrink stream: `(window-4) << 4 | (lookahead-3)`.
pub const PARAMS: u8 = ((WINDOW_SZ2 - 4) << 4) | (LOOKAHEAD_SZ2 - 3);
pub const WINDOW: usize = 1 << WINDOW_SZ2;

/// Which field of an item the bit reader is filling.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Field {
    Tag = 0,
    Literal = 1,
    Index = 2,
    Count = 3,
}

impl Field {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Field::Tag,
            1 => Field::Literal,
            2 => Field::Index,
            3 => Field::Count,
            _ => return None,
        })
    }

    /// Bits in the field.
    pub fn width(self) -> u8 {
        match self {
            Field::Tag => 1,
            Field::Literal | Field::Index => 8,
            Field::Count => LOOKAHEAD_SZ2,
        }
    }
}

/// The scalar state between two input bytes (the window aside): the half-read field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bits {
    pub field: Field,
    /// Bits of `field` read so far, MSB first.
    pub acc: u8,
    pub acc_bits: u8,
    /// The back-reference index, once read (while `field` is `Count`).
    pub index: u8,
}

pub struct Heatshrink {
    window: [u8; WINDOW],
    /// Where the next output byte goes in `window`.
    head: u8,
    /// The input byte being read and how many of its bits are left (from the top).
    cur: u8,
    cur_bits: u8,
    bits: Bits,
    /// A back-reference being copied: its distance (1..=256) and the bytes still to copy.
    distance: u16,
    copy_left: u8,
}

impl Default for Heatshrink {
    fn default() -> Self {
        Self::new()
    }
}

impl Heatshrink {
    pub const fn new() -> Self {
        Self {
            window: [0; WINDOW],
            head: 0,
            cur: 0,
            cur_bits: 0,
            bits: Bits {
                field: Field::Tag,
                acc: 0,
                acc_bits: 0,
                index: 0,
            },
            distance: 0,
            copy_left: 0,
        }
    }

    /// Prepares a fresh decoder to continue at a byte boundary of the input with the half-read
    /// field `bits`; the caller then fills [`Heatshrink::window_mut`] with the last 256 output
    /// bytes, oldest first (in place: no second 256-byte copy on the stack).
    pub fn resume(&mut self, bits: Bits) -> &mut [u8; WINDOW] {
        *self = Self::new();
        self.bits = bits;
        // head 0: the byte 256 back is window[0], the latest window[255].
        &mut self.window
    }

    /// True when every bit given so far was used and no back-reference is being copied: the
    /// decoder wants a new input byte.
    pub fn wants_input(&self) -> bool {
        self.cur_bits == 0 && self.copy_left == 0
    }

    /// The half-read field (meaningful when [`Heatshrink::wants_input`]).
    pub fn bits(&self) -> Bits {
        self.bits
    }

    /// True while bytes of a back-reference are still to come.
    pub fn copying(&self) -> bool {
        self.copy_left != 0
    }

    /// True right after a whole item when nothing but the encoder's zero padding is left in the
    /// current input byte: where a stream that the consumer found complete must end.
    pub fn at_clean_end(&self) -> bool {
        self.copy_left == 0
            && self.bits.field == Field::Tag
            && self.bits.acc_bits == 0
            && (self.cur_bits == 0 || self.cur & (0xff >> (8 - self.cur_bits)) == 0)
    }

    /// Gives the decoder its next input byte; only when [`Heatshrink::wants_input`].
    pub fn push(&mut self, byte: u8) {
        self.cur = byte;
        self.cur_bits = 8;
    }

    /// The next output byte, or `None` when the decoder needs another input byte.
    #[inline]
    pub fn pull(&mut self) -> Option<u8> {
        loop {
            if self.copy_left != 0 {
                self.copy_left -= 1;
                // distance is 1..=256: the subtraction wraps around the 256-byte window.
                let at = self.head.wrapping_sub(self.distance as u8);
                let b = self.window[usize::from(at)];
                return Some(self.emit(b));
            }
            let value = self.field()?;
            match self.bits.field {
                Field::Tag => {
                    self.bits.field = if value != 0 {
                        Field::Literal
                    } else {
                        Field::Index
                    };
                }
                Field::Literal => {
                    self.bits.field = Field::Tag;
                    return Some(self.emit(value));
                }
                Field::Index => {
                    self.bits.index = value;
                    self.bits.field = Field::Count;
                }
                Field::Count => {
                    self.bits.field = Field::Tag;
                    self.distance = u16::from(self.bits.index) + 1;
                    self.copy_left = value + 1;
                }
            }
        }
    }

    #[inline]
    fn emit(&mut self, b: u8) -> u8 {
        self.window[usize::from(self.head)] = b;
        self.head = self.head.wrapping_add(1);
        b
    }

    /// Completes the current field from the input bits, or `None` when they ran out first.
    #[inline]
    fn field(&mut self) -> Option<u8> {
        let width = self.bits.field.width();
        while self.bits.acc_bits < width {
            if self.cur_bits == 0 {
                return None;
            }
            // Take as many bits as the field still needs and the byte still has, at once.
            let take = (width - self.bits.acc_bits).min(self.cur_bits);
            let shift = self.cur_bits - take;
            let chunk = (u16::from(self.cur) >> shift) & ((1u16 << take) - 1);
            self.bits.acc = ((u16::from(self.bits.acc) << take) | chunk) as u8;
            self.bits.acc_bits += take;
            self.cur_bits = shift;
        }
        let value = self.bits.acc;
        self.bits.acc = 0;
        self.bits.acc_bits = 0;
        Some(value)
    }
}

/// Builds heatshrink streams bit by bit for the tests (the format as the module doc states it).
#[cfg(test)]
pub(crate) mod test_writer {
    /// A bit writer to build streams by hand: the format as the module doc states it.
    pub(crate) struct Writer {
        out: Vec<u8>,
        bits: u32,
        n: u32,
    }

    impl Writer {
        pub(crate) fn new() -> Self {
            Self {
                out: Vec::new(),
                bits: 0,
                n: 0,
            }
        }
        pub(crate) fn put(&mut self, value: u32, width: u32) {
            for i in (0..width).rev() {
                self.bits = (self.bits << 1) | ((value >> i) & 1);
                self.n += 1;
                if self.n == 8 {
                    self.out.push(self.bits as u8);
                    self.bits = 0;
                    self.n = 0;
                }
            }
        }
        pub(crate) fn literal(&mut self, b: u8) {
            self.put(1, 1);
            self.put(u32::from(b), 8);
        }
        pub(crate) fn backref(&mut self, distance: u32, len: u32) {
            self.put(0, 1);
            self.put(distance - 1, 8);
            self.put(len - 1, 7);
        }
        pub(crate) fn finish(mut self) -> Vec<u8> {
            if self.n > 0 {
                self.out.push((self.bits << (8 - self.n)) as u8);
            }
            self.out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_writer::Writer;
    use super::*;

    fn decode(stream: &[u8]) -> Vec<u8> {
        let mut hs = Heatshrink::new();
        let mut out = Vec::new();
        for &b in stream {
            assert!(hs.wants_input());
            hs.push(b);
            while let Some(o) = hs.pull() {
                out.push(o);
            }
        }
        out
    }

    #[test]
    fn params_byte_is_detools_default() {
        assert_eq!(PARAMS, 0x44);
    }

    #[test]
    fn literals_backrefs_overlap_and_zero_window() {
        let mut w = Writer::new();
        for b in b"abc" {
            w.literal(*b);
        }
        w.backref(3, 7); // overlapping copy: abcabca
        w.backref(256, 2); // before the start: the zeroed window
        w.literal(0xff);
        let out = decode(&w.finish());
        assert_eq!(out, b"abcabcabca\0\0\xff");
    }

    #[test]
    fn longest_backref_and_padding() {
        let mut w = Writer::new();
        w.literal(7);
        w.backref(1, 128);
        let stream = w.finish();
        let mut hs = Heatshrink::new();
        let mut out = Vec::new();
        for &b in &stream {
            hs.push(b);
            while out.len() < 129
                && let Some(o) = hs.pull()
            {
                out.push(o);
            }
        }
        assert_eq!(out, [7u8; 129]);
        assert!(hs.at_clean_end());
        // A one bit in the padding is not padding.
        let mut bad = stream.clone();
        if let Some(last) = bad.last_mut() {
            *last |= 1;
        }
        let mut hs = Heatshrink::new();
        let mut n = 0;
        for &b in &bad {
            hs.push(b);
            while n < 129 && hs.pull().is_some() {
                n += 1;
            }
        }
        assert!(!hs.at_clean_end());
    }
}
