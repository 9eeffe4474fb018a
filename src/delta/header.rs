//! Our safety header in front of the detools patch: what detools does not carry (the base's
//! size, MD5 and version, the target's size and MD5), so a patch is never applied to the wrong
//! image and the result is checked. Layout (docs/delta.md, all integers little-endian, 96 B):
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `QDLT` |
//! | 4 | header format, 1 |
//! | 5 | patch format, 1 = detools sequential |
//! | 6 | compression, 4 = heatshrink (window 8, lookahead 7) |
//! | 7 | header length, 96 (the patch starts there) |
//! | 8..12 | base size |
//! | 12..28 | base MD5 |
//! | 28..32 | target size |
//! | 32..48 | target MD5 |
//! | 48 | base version length (1..=32) |
//! | 49..81 | base version, zero-padded |
//! | 81..92 | reserved, zero |
//! | 92..96 | CRC-32 (IEEE, as the journal's) of bytes 0..92 |

use crate::journal::crc32;

pub const MAGIC: [u8; 4] = *b"QDLT";
pub const HEADER_LEN: usize = 96;
pub const HEADER_FORMAT: u8 = 1;
pub const PATCH_DETOOLS_SEQUENTIAL: u8 = 1;
pub const COMPRESSION_HEATSHRINK_8_7: u8 = 4;
pub const VERSION_MAX: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Short,
    /// No magic: not a delta file (a plain image).
    NotDelta,
    /// The magic but a wrong CRC: a damaged header (or, with odds of 2^-32, an image that
    /// starts with the magic; refused either way, never flashed as an image).
    Crc,
    /// A header format, patch format or compression this build does not know.
    Unsupported,
    /// A length or reserved byte out of range.
    Invalid,
}

impl HeaderError {
    pub fn reason(self) -> &'static str {
        match self {
            HeaderError::Short => "delta: header incomplete",
            HeaderError::NotDelta => "delta: no delta header",
            HeaderError::Crc => "delta: header CRC mismatch",
            HeaderError::Unsupported => {
                "delta: unknown header or patch format (update the device first)"
            }
            HeaderError::Invalid => "delta: invalid header",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub base_size: u32,
    pub base_md5: [u8; 16],
    pub target_size: u32,
    pub target_md5: [u8; 16],
    version_len: u8,
    version: [u8; VERSION_MAX],
}

impl Header {
    /// `None` when `base_version` is empty or longer than [`VERSION_MAX`].
    pub fn new(
        base_size: u32,
        base_md5: [u8; 16],
        target_size: u32,
        target_md5: [u8; 16],
        base_version: &[u8],
    ) -> Option<Self> {
        if base_version.is_empty() || base_version.len() > VERSION_MAX {
            return None;
        }
        let mut version = [0u8; VERSION_MAX];
        version
            .get_mut(..base_version.len())?
            .copy_from_slice(base_version);
        Some(Self {
            base_size,
            base_md5,
            target_size,
            target_md5,
            version_len: base_version.len() as u8,
            version,
        })
    }

    /// The running version the patch was made from.
    pub fn base_version(&self) -> &[u8] {
        self.version
            .get(..usize::from(self.version_len))
            .unwrap_or_default()
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = HEADER_FORMAT;
        b[5] = PATCH_DETOOLS_SEQUENTIAL;
        b[6] = COMPRESSION_HEATSHRINK_8_7;
        b[7] = HEADER_LEN as u8;
        b[8..12].copy_from_slice(&self.base_size.to_le_bytes());
        b[12..28].copy_from_slice(&self.base_md5);
        b[28..32].copy_from_slice(&self.target_size.to_le_bytes());
        b[32..48].copy_from_slice(&self.target_md5);
        b[48] = self.version_len;
        b[49..81].copy_from_slice(&self.version);
        let crc = crc32(&b[..92]);
        b[92..96].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// True when `start` (the first bytes of a download) begins with the magic: enough to tell
    /// a delta file from an image before the whole header arrived.
    pub fn has_magic(start: &[u8]) -> bool {
        start.starts_with(&MAGIC)
    }

    /// The header at the start of `file` (the patch follows at [`HEADER_LEN`]).
    pub fn parse(file: &[u8]) -> Result<Self, HeaderError> {
        if !Self::has_magic(file) {
            return Err(if MAGIC.starts_with(file) {
                HeaderError::Short
            } else {
                HeaderError::NotDelta
            });
        }
        let b: &[u8; HEADER_LEN] = file.first_chunk().ok_or(HeaderError::Short)?;
        let crc = u32::from_le_bytes([b[92], b[93], b[94], b[95]]);
        if crc32(&b[..92]) != crc {
            return Err(HeaderError::Crc);
        }
        if b[4] != HEADER_FORMAT
            || b[5] != PATCH_DETOOLS_SEQUENTIAL
            || b[6] != COMPRESSION_HEATSHRINK_8_7
            || usize::from(b[7]) != HEADER_LEN
        {
            return Err(HeaderError::Unsupported);
        }
        let version_len = usize::from(b[48]);
        let padding_clean = b
            .get(49 + version_len.min(VERSION_MAX)..92)
            .is_some_and(|rest| rest.iter().all(|&x| x == 0));
        if version_len == 0 || version_len > VERSION_MAX || !padding_clean {
            return Err(HeaderError::Invalid);
        }
        let md5_at = |at: usize| {
            let mut m = [0u8; 16];
            m.copy_from_slice(&b[at..at + 16]);
            m
        };
        let mut version = [0u8; VERSION_MAX];
        version.copy_from_slice(&b[49..81]);
        Ok(Self {
            base_size: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            base_md5: md5_at(12),
            target_size: u32::from_le_bytes([b[28], b[29], b[30], b[31]]),
            target_md5: md5_at(32),
            version_len: version_len as u8,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header::new(38_872, [1; 16], 39_220, [2; 16], b"1.0.0").unwrap()
    }

    #[test]
    fn round_trip_and_layout() {
        let h = sample();
        let b = h.encode();
        assert_eq!(&b[..8], b"QDLT\x01\x01\x04\x60");
        assert_eq!(b[8..12], 38_872u32.to_le_bytes());
        assert_eq!(&b[48..54], b"\x051.0.0");
        assert_eq!(Header::parse(&b), Ok(h));
        assert_eq!(h.base_version(), b"1.0.0");
        // The patch after the header is not the header's business.
        let mut file = b.to_vec();
        file.extend_from_slice(&[0x04, 0x80]);
        assert_eq!(Header::parse(&file), Ok(h));
    }

    #[test]
    fn refusals() {
        let b = sample().encode();
        assert_eq!(Header::parse(&b[..95]), Err(HeaderError::Short));
        assert_eq!(Header::parse(b"QD"), Err(HeaderError::Short));
        assert_eq!(
            Header::parse(&[0x00, 0x20, 0x00, 0x20]),
            Err(HeaderError::NotDelta)
        );
        for i in 0..HEADER_LEN {
            let mut bad = b;
            bad[i] ^= 0x10;
            assert!(Header::parse(&bad).is_err(), "byte {i}");
        }
        // Fields wrong under a valid CRC.
        let resign = |mut x: [u8; HEADER_LEN]| {
            let crc = crc32(&x[..92]);
            x[92..].copy_from_slice(&crc.to_le_bytes());
            x
        };
        for (at, v, e) in [
            (4, 2, HeaderError::Unsupported),
            (5, 2, HeaderError::Unsupported),
            (6, 1, HeaderError::Unsupported),
            (48, 0, HeaderError::Invalid),
            (48, 33, HeaderError::Invalid),
            (60, 1, HeaderError::Invalid),
            (91, 1, HeaderError::Invalid),
        ] {
            let mut x = b;
            x[at] = v;
            assert_eq!(Header::parse(&resign(x)), Err(e), "byte {at}");
        }
        assert!(Header::new(1, [0; 16], 1, [0; 16], b"").is_none());
        assert!(Header::new(1, [0; 16], 1, [0; 16], &[b'1'; 33]).is_none());
    }
}
