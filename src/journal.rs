//! The persistent record: what must survive a power cut so a download resumes where the flash
//! stands and the cloud hears the truth after a reboot.
//!
//! The host keeps two independent copies (two files, two flash sectors). Each save goes to the
//! copy that does not hold the newest record, with a higher sequence number, so a power cut in the
//! middle of a save tears only that copy: the other one is still the last good record.
//!
//! Layout (little endian), protected by a CRC-32:
//! `magic "QOTA" | format u8 | seq u32 | phase u8 | version_len u8 | version [32] | md5 [16] |
//!  file_size u32 | offset u32 | has_task u8 | task_id u64 | fw_type_len u8 | fw_type [16] |
//!  etag_len u8 | etag [48] | md5_state [24] | crc32 u32`

use crate::platform::{HostError, Platform};
use crate::protocol::{FW_TYPE_MAX, VERSION_MAX};
use crate::slices::copy_prefix;
use crate::text::Str;

const MAGIC: [u8; 4] = *b"QOTA";
const FORMAT: u8 = 2;
/// Longest ETag kept for `If-Range` (COS sends `"<32 hex>"`); a longer one is not used.
pub const ETAG_MAX: usize = 48;
/// The MD5 state after a whole number of 64-byte blocks: four words and the block count.
pub use crate::hash::MD5_STATE_LEN;
// Where each field starts in an encoded record (the layout above).
const FORMAT_AT: usize = 4;
const SEQ: usize = 5;
const PHASE: usize = 9;
/// A text field: its length byte, then its capacity in bytes (zero-padded).
const VERSION: usize = 10;
const MD5: usize = VERSION + 1 + VERSION_MAX;
const FILE_SIZE: usize = MD5 + 16;
const OFFSET: usize = FILE_SIZE + 4;
const HAS_TASK: usize = OFFSET + 4;
const TASK: usize = HAS_TASK + 1;
const FW_TYPE: usize = TASK + 8;
const ETAG: usize = FW_TYPE + 1 + FW_TYPE_MAX;
const MD5_STATE: usize = ETAG + 1 + ETAG_MAX;
const CRC: usize = MD5_STATE + MD5_STATE_LEN;
/// Bytes of one encoded record; each of the host's two copies must hold this much.
pub const RECORD_LEN: usize = CRC + 4;

/// Where the update stood when the record was written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Phase {
    /// Downloading: the first `offset` bytes are in the slot and `md5_state` covers them.
    Downloading = 1,
    /// The verified image was handed over as bootable; after the reboot, confirm or report rollback.
    Installed = 2,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    pub phase: Phase,
    pub version: Str<VERSION_MAX>,
    pub md5: [u8; 16],
    pub file_size: u32,
    /// A multiple of 64 while downloading (the MD5 state is saved between blocks).
    pub offset: u32,
    pub task_id: Option<u64>,
    pub fw_type: Str<FW_TYPE_MAX>,
    /// The server's strong ETag, for `If-Range` on resume ("" = none).
    pub etag: Str<ETAG_MAX>,
    pub md5_state: [u8; MD5_STATE_LEN],
}

/// CRC-32 (IEEE 802.3, reflected). Bitwise: the record is tiny, flash is not.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The record's bytes from `at` (an in-range constant: no check is left after inlining).
#[inline(always)]
fn get<const N: usize>(b: &[u8; RECORD_LEN], at: usize) -> [u8; N] {
    b.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

/// `bytes` into the record at `at` (out of line: a copy loop per field cost more).
#[inline(never)]
fn put(b: &mut [u8; RECORD_LEN], at: usize, bytes: &[u8]) {
    if let Some(dst) = b.get_mut(at..) {
        copy_prefix(dst, bytes);
    }
}

/// The text field at `at`, if it is UTF-8 (a length beyond the field's capacity is refused by
/// the `Str` it goes into).
fn text(b: &[u8; RECORD_LEN], at: usize) -> Option<&str> {
    let len = usize::from(*b.get(at)?);
    crate::text::str_from_utf8(b.get(at + 1..at + 1 + len)?)
}

fn put_text(b: &mut [u8; RECORD_LEN], at: usize, s: &[u8]) {
    put(b, at, &[s.len() as u8]);
    put(b, at + 1, s);
}

/// What a save writes: a record's fields, borrowed where they live (the engine's offer and
/// transfer), so no record-sized temporary is built for each save.
pub struct Entry<'a> {
    pub phase: Phase,
    pub version: &'a Str<VERSION_MAX>,
    pub md5: &'a [u8; 16],
    pub file_size: u32,
    pub offset: u32,
    pub task_id: Option<u64>,
    pub fw_type: &'a Str<FW_TYPE_MAX>,
    pub etag: &'a Str<ETAG_MAX>,
    /// `None` for an installed image (zeros: nothing to resume).
    pub md5_state: Option<&'a [u8; MD5_STATE_LEN]>,
}

impl Entry<'_> {
    /// The encoded record with sequence number `seq`, into the caller's buffer.
    pub fn encode_into(&self, seq: u32, b: &mut [u8; RECORD_LEN]) {
        b.fill(0);
        put(b, 0, &MAGIC);
        b[FORMAT_AT] = FORMAT;
        put(b, SEQ, &seq.to_le_bytes());
        b[PHASE] = self.phase as u8;
        put_text(b, VERSION, self.version.as_bytes());
        put(b, MD5, self.md5);
        put(b, FILE_SIZE, &self.file_size.to_le_bytes());
        put(b, OFFSET, &self.offset.to_le_bytes());
        b[HAS_TASK] = u8::from(self.task_id.is_some());
        put(b, TASK, &self.task_id.unwrap_or(0).to_le_bytes());
        put_text(b, FW_TYPE, self.fw_type.as_bytes());
        put_text(b, ETAG, self.etag.as_bytes());
        if let Some(state) = self.md5_state {
            put(b, MD5_STATE, state);
        }
        let crc = crc32(b.get(..CRC).unwrap_or(&[]));
        put(b, CRC, &crc.to_le_bytes());
    }
}

impl Record {
    /// The fields to save this record again.
    pub fn entry(&self) -> Entry<'_> {
        Entry {
            phase: self.phase,
            version: &self.version,
            md5: &self.md5,
            file_size: self.file_size,
            offset: self.offset,
            task_id: self.task_id,
            fw_type: &self.fw_type,
            etag: &self.etag,
            md5_state: Some(&self.md5_state),
        }
    }

    pub fn encode(&self, seq: u32) -> [u8; RECORD_LEN] {
        let mut buf = [0u8; RECORD_LEN];
        self.entry().encode_into(seq, &mut buf);
        buf
    }

    /// The sequence number and record, or `None` for anything that is not an intact record.
    pub fn decode(buf: &[u8]) -> Option<(u32, Record)> {
        let b: &[u8; RECORD_LEN] = buf.get(..RECORD_LEN)?.try_into().ok()?;
        let intact = crc32(b.get(..CRC)?) == u32::from_le_bytes(get(b, CRC));
        if !intact || get::<4>(b, 0) != MAGIC || b[FORMAT_AT] != FORMAT {
            return None;
        }
        let phase = match b[PHASE] {
            1 => Phase::Downloading,
            2 => Phase::Installed,
            _ => return None,
        };
        let mut rec = Record {
            phase,
            version: Str::new(),
            md5: get(b, MD5),
            file_size: u32::from_le_bytes(get(b, FILE_SIZE)),
            offset: u32::from_le_bytes(get(b, OFFSET)),
            task_id: (b[HAS_TASK] != 0).then(|| u64::from_le_bytes(get(b, TASK))),
            fw_type: Str::new(),
            etag: Str::new(),
            md5_state: get(b, MD5_STATE),
        };
        rec.version.push_str(text(b, VERSION)?).ok()?;
        rec.fw_type.push_str(text(b, FW_TYPE)?).ok()?;
        rec.etag.push_str(text(b, ETAG)?).ok()?;
        if rec.version.is_empty() || rec.offset > rec.file_size {
            return None;
        }
        Some((u32::from_le_bytes(get(b, SEQ)), rec))
    }
}

/// Which copy holds the newest record and the sequence number to continue from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Journal {
    seq: u32,
    newest: Option<u8>,
}

impl Journal {
    /// Read both copies; the intact one with the higher sequence number wins and lands in
    /// `newest` (in place: a record is ~230 bytes, and this runs on `ota_init`'s stack).
    pub fn load<P: Platform>(plat: &mut P, newest: &mut Option<Record>) -> Journal {
        let mut j = Journal::default();
        *newest = None;
        for copy in 0..2u8 {
            let mut buf = [0u8; RECORD_LEN];
            let n = plat.store_load(copy, &mut buf);
            let Some((seq, rec)) = buf.get(..n).and_then(Record::decode) else {
                continue;
            };
            if newest.is_none() || seq.wrapping_sub(j.seq) as i32 > 0 {
                *newest = Some(rec);
                j = Journal {
                    seq,
                    newest: Some(copy),
                };
            }
        }
        j
    }

    /// Write `rec` over the older copy; the newer one stays intact until this write completed.
    pub fn save<P: Platform>(&mut self, plat: &mut P, rec: &Entry<'_>) -> Result<(), HostError> {
        let copy = match self.newest {
            Some(0) => 1,
            _ => 0,
        };
        let seq = self.seq.wrapping_add(1);
        let mut buf = [0u8; RECORD_LEN];
        rec.encode_into(seq, &mut buf);
        plat.store_save(copy, &buf)?;
        self.seq = seq;
        self.newest = Some(copy);
        Ok(())
    }

    /// Erase both copies, the older first, so a cut in between leaves the newest record.
    pub fn clear<P: Platform>(&mut self, plat: &mut P) -> Result<(), HostError> {
        let newest = self.newest.unwrap_or(0);
        plat.store_save(1 - newest, &[])?;
        plat.store_save(newest, &[])?;
        self.newest = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::mock::Mock;

    fn sample() -> Record {
        Record {
            phase: Phase::Installed,
            version: Str::try_from_str("2.0.0").unwrap(),
            md5: [7; 16],
            file_size: 8 << 20,
            offset: 4096,
            task_id: Some(123456),
            fw_type: Str::try_from_str("mcu").unwrap(),
            etag: Str::try_from_str("\"0123456789abcdef0123456789abcdef\"").unwrap(),
            md5_state: [9; MD5_STATE_LEN],
        }
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// The on-flash layout (format 2) stays what the module doc says: records written before
    /// still load.
    #[test]
    fn layout_is_pinned() {
        assert_eq!(RECORD_LEN, 170);
        let b = sample().encode(0x0102_0304);
        assert_eq!(&b[..10], b"QOTA\x02\x04\x03\x02\x01\x02");
        assert_eq!(&b[10..16], b"\x052.0.0");
        assert_eq!(b[43..59], [7; 16]);
        assert_eq!(b[59..67], [0, 0, 0x80, 0, 0, 0x10, 0, 0]);
        assert_eq!(b[67..76], [1, 0x40, 0xe2, 1, 0, 0, 0, 0, 0]);
        assert_eq!(&b[76..80], b"\x03mcu");
        assert_eq!(b[93], 34);
        assert_eq!(b[142..166], [9; MD5_STATE_LEN]);
        assert_eq!(b[166..], crc32(&b[..166]).to_le_bytes());
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(Record::decode(&r.encode(5)), Some((5, r)));
        let mut r2 = sample();
        r2.task_id = None;
        r2.phase = Phase::Downloading;
        r2.etag = Str::new();
        assert_eq!(Record::decode(&r2.encode(u32::MAX)), Some((u32::MAX, r2)));
    }

    #[test]
    fn any_damage_is_rejected() {
        let bytes = sample().encode(1);
        for i in 0..RECORD_LEN {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes;
                b[i] ^= bit;
                assert_eq!(Record::decode(&b), None, "flip at byte {i}");
            }
        }
        for len in 0..RECORD_LEN {
            assert_eq!(Record::decode(&bytes[..len]), None);
        }
    }

    fn load(store: &mut Mock) -> (Journal, Option<Record>) {
        let mut rec = None;
        let j = Journal::load(store, &mut rec);
        (j, rec)
    }

    #[test]
    fn saves_alternate_and_the_newest_wins() {
        let mut store = Mock::default();
        let (mut j, none) = load(&mut store);
        assert!(none.is_none());
        let mut r = sample();
        for offset in [64, 128, 192] {
            r.offset = offset;
            j.save(&mut store, &r.entry()).unwrap();
            let (_, loaded) = load(&mut store);
            assert_eq!(loaded.unwrap().offset, offset);
        }
        assert!(!store.record[0].is_empty() && !store.record[1].is_empty());
    }

    #[test]
    fn a_torn_save_leaves_the_last_good_record() {
        for cut in 0..RECORD_LEN {
            let mut store = Mock::default();
            let (mut j, _) = load(&mut store);
            let mut r = sample();
            r.offset = 64;
            j.save(&mut store, &r.entry()).unwrap();
            r.offset = 128;
            j.save(&mut store, &r.entry()).unwrap();
            r.offset = 192;
            store.tear = Some(cut);
            assert!(j.save(&mut store, &r.entry()).is_err());
            let (mut j2, loaded) = load(&mut store);
            assert_eq!(loaded.unwrap().offset, 128, "cut after {cut} bytes");
            // The journal goes on from there: the next save lands and wins.
            r.offset = 256;
            j2.save(&mut store, &r.entry()).unwrap();
            assert_eq!(load(&mut store).1.unwrap().offset, 256);
        }
    }

    #[test]
    fn clear_erases_both() {
        let mut store = Mock::default();
        let (mut j, _) = load(&mut store);
        j.save(&mut store, &sample().entry()).unwrap();
        j.save(&mut store, &sample().entry()).unwrap();
        j.clear(&mut store).unwrap();
        assert!(load(&mut store).1.is_none());
    }
}
