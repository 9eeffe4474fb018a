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
/// Bytes of one encoded record; each of the host's two copies must hold this much.
pub const RECORD_LEN: usize = 4
    + 1
    + 4
    + 1
    + 1
    + VERSION_MAX
    + 16
    + 4
    + 4
    + 1
    + 8
    + 1
    + FW_TYPE_MAX
    + 1
    + ETAG_MAX
    + MD5_STATE_LEN
    + 4;

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

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn text<const N: usize>(&mut self) -> Option<Str<N>> {
        let len = usize::from(self.u8()?);
        let field = self.take(N)?;
        let s = core::str::from_utf8(field.get(..len)?).ok()?;
        Str::try_from_str(s).ok()
    }
}

struct Out<'a> {
    buf: &'a mut [u8; RECORD_LEN],
    pos: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            copy_prefix(dst, bytes);
        }
        self.pos += bytes.len();
    }
    fn text<const N: usize>(&mut self, s: &Str<N>) {
        let mut field = [0u8; N];
        let b = s.as_bytes();
        if let Some(dst) = field.get_mut(..b.len()) {
            copy_prefix(dst, b);
        }
        self.put(&[b.len() as u8]);
        self.put(&field);
    }
}

impl Record {
    pub fn encode(&self, seq: u32) -> [u8; RECORD_LEN] {
        let mut buf = [0u8; RECORD_LEN];
        self.encode_into(seq, &mut buf);
        buf
    }

    /// [`Self::encode`] into the caller's buffer (no record-sized return value on the stack).
    pub fn encode_into(&self, seq: u32, buf: &mut [u8; RECORD_LEN]) {
        buf.fill(0);
        let mut o = Out { buf, pos: 0 };
        o.put(&MAGIC);
        o.put(&[FORMAT]);
        o.put(&seq.to_le_bytes());
        o.put(&[self.phase as u8]);
        o.text(&self.version);
        o.put(&self.md5);
        o.put(&self.file_size.to_le_bytes());
        o.put(&self.offset.to_le_bytes());
        o.put(&[u8::from(self.task_id.is_some())]);
        o.put(&self.task_id.unwrap_or(0).to_le_bytes());
        o.text(&self.fw_type);
        o.text(&self.etag);
        o.put(&self.md5_state);
        let crc = crc32(o.buf.get(..o.pos).unwrap_or(&[]));
        o.put(&crc.to_le_bytes());
    }

    /// The sequence number and record, or `None` for anything that is not an intact record.
    pub fn decode(buf: &[u8]) -> Option<(u32, Record)> {
        let body = buf.get(..RECORD_LEN - 4)?;
        let crc = u32::from_le_bytes(buf.get(RECORD_LEN - 4..RECORD_LEN)?.try_into().ok()?);
        if crc32(body) != crc {
            return None;
        }
        let mut c = Cursor { buf: body, pos: 0 };
        if c.take(4)? != MAGIC || c.u8()? != FORMAT {
            return None;
        }
        let seq = c.u32()?;
        let phase = match c.u8()? {
            1 => Phase::Downloading,
            2 => Phase::Installed,
            _ => return None,
        };
        let version = c.text::<VERSION_MAX>()?;
        let md5 = c.take(16)?.try_into().ok()?;
        let file_size = c.u32()?;
        let offset = c.u32()?;
        let has_task = c.u8()? != 0;
        let task = c.u64()?;
        let fw_type = c.text::<FW_TYPE_MAX>()?;
        let etag = c.text::<ETAG_MAX>()?;
        let md5_state = c.take(MD5_STATE_LEN)?.try_into().ok()?;
        if version.is_empty() || offset > file_size {
            return None;
        }
        let task_id = has_task.then_some(task);
        Some((
            seq,
            Record {
                phase,
                version,
                md5,
                file_size,
                offset,
                task_id,
                fw_type,
                etag,
                md5_state,
            },
        ))
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
    pub fn save<P: Platform>(&mut self, plat: &mut P, rec: &Record) -> Result<(), HostError> {
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
            j.save(&mut store, &r).unwrap();
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
            j.save(&mut store, &r).unwrap();
            r.offset = 128;
            j.save(&mut store, &r).unwrap();
            r.offset = 192;
            store.tear = Some(cut);
            assert!(j.save(&mut store, &r).is_err());
            let (mut j2, loaded) = load(&mut store);
            assert_eq!(loaded.unwrap().offset, 128, "cut after {cut} bytes");
            // The journal goes on from there: the next save lands and wins.
            r.offset = 256;
            j2.save(&mut store, &r).unwrap();
            assert_eq!(load(&mut store).1.unwrap().offset, 256);
        }
    }

    #[test]
    fn clear_erases_both() {
        let mut store = Mock::default();
        let (mut j, _) = load(&mut store);
        j.save(&mut store, &sample()).unwrap();
        j.save(&mut store, &sample()).unwrap();
        j.clear(&mut store).unwrap();
        assert!(load(&mut store).1.is_none());
    }
}
