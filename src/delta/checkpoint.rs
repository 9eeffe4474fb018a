//! The decoder's state at a resumable point, saved with the journal so a power cut does not
//! restart the patch from zero. Only scalars: the 256-byte heatshrink window is not saved but
//! rebuilt by [`super::Patch::resume`] from the target already in the slot and the base, which
//! is possible when the decoder is at least 256 bytes into a diff or extra run (then the window
//! holds that run's last 256 bytes: `target - base` in a diff run, `target` in an extra run).
//! Such positions come within about 3 KiB of patch of any point in real patches (docs/delta.md).

use super::heatshrink::{Bits, Field, WINDOW};

/// Which kind of run the checkpoint is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    Diff,
    Extra,
}

/// Bytes of [`Checkpoint::to_bytes`].
pub const CHECKPOINT_LEN: usize = 29;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Patch bytes consumed: the next byte to feed is the patch's byte at this offset.
    pub patch_offset: u32,
    /// Target bytes written (all flushed to the caller).
    pub target_offset: u32,
    /// The base pointer.
    pub base_offset: i64,
    /// Bytes left in the run, and bytes of it produced (at least 256).
    pub left: u32,
    pub run_done: u32,
    pub run: Run,
    /// The heatshrink field read halfway when the checkpoint was taken.
    pub bits: Bits,
}

impl Checkpoint {
    /// Little-endian: patch_offset u32, target_offset u32, base_offset i64, left u32, run_done
    /// u32, run u8 (0 diff, 1 extra), heatshrink field u8 (0 tag, 1 literal, 2 index,
    /// 3 count), bits of it read u8, those bits u8, back-reference index u8: 29 bytes.
    pub fn to_bytes(&self) -> [u8; CHECKPOINT_LEN] {
        let mut b = [0u8; CHECKPOINT_LEN];
        b[0..4].copy_from_slice(&self.patch_offset.to_le_bytes());
        b[4..8].copy_from_slice(&self.target_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.base_offset.to_le_bytes());
        b[16..20].copy_from_slice(&self.left.to_le_bytes());
        b[20..24].copy_from_slice(&self.run_done.to_le_bytes());
        b[24] = match self.run {
            Run::Diff => 0,
            Run::Extra => 1,
        };
        b[25] = self.bits.field as u8;
        b[26] = self.bits.acc_bits;
        b[27] = self.bits.acc;
        b[28] = self.bits.index;
        b
    }

    /// The checkpoint `to_bytes` wrote, or `None` for bytes no checkpoint has.
    pub fn from_bytes(b: &[u8; CHECKPOINT_LEN]) -> Option<Self> {
        let u32_at = |at: usize| {
            b.get(at..at + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let base_offset = b
            .get(8..16)
            .and_then(|s| s.try_into().ok())
            .map(i64::from_le_bytes)?;
        let run = match b[24] {
            0 => Run::Diff,
            1 => Run::Extra,
            _ => return None,
        };
        let field = Field::from_u8(b[25])?;
        let acc_bits = b[26];
        let acc = b[27];
        // A checkpoint is taken with the field incomplete: fewer bits read than it has.
        if acc_bits >= field.width() || u16::from(acc) >= 1u16 << acc_bits {
            return None;
        }
        let cp = Self {
            patch_offset: u32_at(0)?,
            target_offset: u32_at(4)?,
            base_offset,
            left: u32_at(16)?,
            run_done: u32_at(20)?,
            run,
            bits: Bits {
                field,
                acc,
                acc_bits,
                index: b[28],
            },
        };
        (cp.run_done >= WINDOW as u32).then_some(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_refusals() {
        let cp = Checkpoint {
            patch_offset: 0x0102_0304,
            target_offset: 5000,
            base_offset: -3,
            left: 7,
            run_done: 300,
            run: Run::Extra,
            bits: Bits {
                field: Field::Count,
                acc: 0x15,
                acc_bits: 5,
                index: 0xfe,
            },
        };
        let b = cp.to_bytes();
        assert_eq!(b[..4], [4, 3, 2, 1]);
        assert_eq!(Checkpoint::from_bytes(&b), Some(cp));
        for (at, v) in [(24, 2), (25, 4), (26, 7), (27, 0x20), (20, 0)] {
            let mut x = b;
            x[at] = v;
            if at == 20 {
                x[21] = 0; // run_done 0
            }
            assert_eq!(Checkpoint::from_bytes(&x), None, "byte {at}");
        }
        // A tag is one bit: a checkpoint never holds a started one.
        let tag = Checkpoint {
            bits: Bits {
                field: Field::Tag,
                acc: 1,
                acc_bits: 1,
                index: 0,
            },
            ..cp
        };
        assert_eq!(Checkpoint::from_bytes(&tag.to_bytes()), None);
    }
}
