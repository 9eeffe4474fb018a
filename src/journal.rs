//! The persistent record: what must survive a reboot so the cloud hears the truth afterwards.
//!
//! Layout (little endian), protected by a CRC-32 so a torn or foreign record is ignored:
//! `magic "QOTA" | format u8 | phase u8 | version_len u8 | version [32] | md5 [16] | file_size u32 |
//!  offset u32 | has_task u8 | task_id u64 | fw_type_len u8 | fw_type [16] | crc32 u32`

use crate::protocol::{FW_TYPE_MAX, VERSION_MAX};
use crate::text::Str;

const MAGIC: [u8; 4] = *b"QOTA";
const FORMAT: u8 = 1;
/// Bytes of an encoded record; the host's store must hold at least this much.
pub const RECORD_LEN: usize =
    4 + 1 + 1 + 1 + VERSION_MAX + 16 + 4 + 4 + 1 + 8 + 1 + FW_TYPE_MAX + 4;

/// Where the update stood when the record was written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Phase {
    /// Downloading; `offset` bytes are durably in the slot.
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
    pub offset: u32,
    pub task_id: Option<u64>,
    pub fw_type: Str<FW_TYPE_MAX>,
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

fn put(out: &mut [u8; RECORD_LEN], pos: &mut usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(*pos..*pos + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
    *pos += bytes.len();
}

fn put_text<const N: usize>(out: &mut [u8; RECORD_LEN], pos: &mut usize, s: &Str<N>) {
    let mut field = [0u8; N];
    let b = s.as_bytes();
    if let Some(dst) = field.get_mut(..b.len()) {
        dst.copy_from_slice(b);
    }
    put(out, pos, &[b.len() as u8]);
    put(out, pos, &field);
}

impl Record {
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        let mut pos = 0;
        put(&mut out, &mut pos, &MAGIC);
        put(&mut out, &mut pos, &[FORMAT, self.phase as u8]);
        put_text(&mut out, &mut pos, &self.version);
        put(&mut out, &mut pos, &self.md5);
        put(&mut out, &mut pos, &self.file_size.to_le_bytes());
        put(&mut out, &mut pos, &self.offset.to_le_bytes());
        put(&mut out, &mut pos, &[u8::from(self.task_id.is_some())]);
        put(&mut out, &mut pos, &self.task_id.unwrap_or(0).to_le_bytes());
        put_text(&mut out, &mut pos, &self.fw_type);
        let crc = crc32(out.get(..pos).unwrap_or(&[]));
        put(&mut out, &mut pos, &crc.to_le_bytes());
        out
    }

    /// `None` for anything that is not an intact record of this format.
    pub fn decode(buf: &[u8]) -> Option<Record> {
        let body = buf.get(..RECORD_LEN - 4)?;
        let crc = u32::from_le_bytes(buf.get(RECORD_LEN - 4..RECORD_LEN)?.try_into().ok()?);
        if crc32(body) != crc {
            return None;
        }
        let mut c = Cursor { buf: body, pos: 0 };
        if c.take(4)? != MAGIC || c.u8()? != FORMAT {
            return None;
        }
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
        if version.is_empty() || offset > file_size {
            return None;
        }
        Some(Record {
            phase,
            version,
            md5,
            file_size,
            offset,
            task_id: has_task.then_some(task),
            fw_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            phase: Phase::Installed,
            version: Str::try_from_str("2.0.0").unwrap(),
            md5: [7; 16],
            file_size: 8 << 20,
            offset: 4096,
            task_id: Some(123456),
            fw_type: Str::try_from_str("mcu").unwrap(),
        }
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(Record::decode(&r.encode()), Some(r));
        let mut r2 = sample();
        r2.task_id = None;
        r2.phase = Phase::Downloading;
        assert_eq!(Record::decode(&r2.encode()), Some(r2));
    }

    #[test]
    fn any_damage_is_rejected() {
        let bytes = sample().encode();
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
}
