//! A streaming applier for detools *sequential* patches with heatshrink 8/7 compression,
//! written from the format (docs/delta.md):
//!
//! - raw prefix: one byte `0 | type(3) | compression(4)` (sequential = 0, heatshrink = 4), the
//!   target size as a size varint, then the heatshrink stream, whose first byte is its
//!   parameters (`0x44` for 8/7);
//! - decompressed: the data-format patch size (must be 0), then records `diff_size, diff bytes,
//!   extra_size, extra bytes, adjustment` until the target is complete. A diff byte is added
//!   (mod 256) to the base byte at the base pointer, which then advances; extra bytes are copied;
//!   the adjustment moves the base pointer by a signed amount (backwards too).
//!
//! The patch is fed in pieces of any size; the base is read and the target written through the
//! caller's [`PatchIo`], in pieces of at most [`CHUNK`] bytes, the target strictly in order.

use super::checkpoint::{Checkpoint, Run};
use super::heatshrink::{self, Heatshrink, WINDOW};

/// Target bytes are buffered and written, and base bytes read, in pieces of at most this size.
pub const CHUNK: usize = 64;

/// detools' compression numbers (`detools/common.py`) that we name in refusals.
const COMPRESSION_LZMA: u8 = 1;
const COMPRESSION_HEATSHRINK: u8 = 4;

/// A failed base read or target write in the caller's [`PatchIo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoError;

/// The base (running image, random access) and the target (written in order).
pub trait PatchIo {
    /// Fills `buf` with the base's bytes at `offset`; the range is always inside the base size.
    fn read_base(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), IoError>;
    /// Appends `data` to the target.
    fn write(&mut self, data: &[u8]) -> Result<(), IoError>;
}

/// Why a patch was refused or could not be applied. [`Error::reason`] is the text for the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not a detools sequential patch (in-place, hdiffpatch, or not detools at all).
    NotSequential,
    /// Compressed with something else than heatshrink (detools' number).
    Compression(u8),
    /// Heatshrink with other parameters than window 8 / lookahead 7 (the parameter byte).
    HeatshrinkParams(u8),
    /// Made with `--data-format` (not supported).
    DataFormat,
    /// The patch's target size is not the header's.
    TargetSize,
    /// A size that does not decode, is negative or absurdly large.
    Corrupt,
    /// A record that would write past the target size.
    PastTarget,
    /// A record that reads outside the base.
    OutsideBase,
    /// The caller's base read failed.
    BaseRead,
    /// The caller's target write failed.
    Write,
    /// Reading the target back (the slot) to resume failed.
    TargetRead,
    /// Bytes after the end of the patch.
    Trailing,
    /// The patch ended before the target was complete.
    Truncated,
    /// A checkpoint that does not fit the sizes it is resumed with.
    Checkpoint,
}

impl Error {
    pub fn reason(self) -> &'static str {
        match self {
            Error::NotSequential => {
                "delta: not a detools sequential patch; create it with scripts/mkdelta.py (detools create_patch --type sequential)"
            }
            Error::Compression(COMPRESSION_LZMA) => {
                "delta: lzma patch (detools' default); create it with --compression heatshrink"
            }
            Error::Compression(_) => {
                "delta: patch compression is not heatshrink; create it with --compression heatshrink"
            }
            Error::HeatshrinkParams(_) => {
                "delta: heatshrink parameters are not 8/7; use --heatshrink-window-sz2 8 --heatshrink-lookahead-sz2 7"
            }
            Error::DataFormat => {
                "delta: --data-format patches are not supported; create it without"
            }
            Error::TargetSize => "delta: the patch's target size differs from the header's",
            Error::Corrupt => "delta: corrupt patch (bad size field)",
            Error::PastTarget => "delta: corrupt patch (writes past the target size)",
            Error::OutsideBase => "delta: corrupt patch or wrong base (reads outside the base)",
            Error::BaseRead => "delta: reading the running image failed",
            Error::Write => "delta: writing the slot failed",
            Error::TargetRead => "delta: reading the slot back failed",
            Error::Trailing => "delta: bytes after the end of the patch",
            Error::Truncated => "delta: the patch ended before the image was complete",
            Error::Checkpoint => "delta: the saved checkpoint does not fit this update",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Type,
    ToSize,
    Params,
    DfSize,
    DiffSize,
    Diff,
    ExtraSize,
    Extra,
    Adjust,
    Done,
}

/// detools' size varint: first byte `more | negative | 6 value bits`, then `more | 7 bits`,
/// least significant group first.
#[derive(Clone, Copy, Default)]
struct Varint {
    value: u64,
    shift: u8,
    negative: bool,
}

impl Varint {
    /// The value once its last byte came.
    fn step(&mut self, b: u8) -> Result<Option<i64>, Error> {
        if self.shift == 0 {
            self.negative = b & 0x40 != 0;
            self.value = u64::from(b & 0x3f);
            self.shift = 6;
        } else {
            // Values beyond 2^41 are no size of any image: refuse before the shift overflows.
            if self.shift > 34 {
                return Err(Error::Corrupt);
            }
            self.value |= u64::from(b & 0x7f) << self.shift;
            self.shift += 7;
        }
        if b & 0x80 != 0 {
            return Ok(None);
        }
        // At most 41 bits: fits an i64 with its sign.
        let v = self.value as i64;
        let negative = self.negative;
        *self = Varint::default();
        Ok(Some(if negative { -v } else { v }))
    }
}

/// The result of [`Patch::feed_until`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fed {
    /// Patch bytes used from the input.
    pub consumed: usize,
    /// Set when the caller's `stop` accepted a checkpoint; the bytes after `consumed` are for
    /// the next call.
    pub checkpoint: Option<Checkpoint>,
}

/// One patch being applied.
pub struct Patch {
    hs: Heatshrink,
    state: State,
    size: Varint,
    target_size: u32,
    base_size: u32,
    /// Target bytes produced (some may still be in `buf`).
    to_off: u32,
    /// The base pointer (the next diff byte's base offset); adjustments may take it anywhere,
    /// only a read outside the base is an error.
    from_off: i64,
    /// Bytes left in the current diff or extra run, and bytes of it produced so far.
    left: u32,
    run_done: u32,
    /// Patch bytes consumed.
    patch_off: u32,
    buf: [u8; CHUNK],
    fill: u8,
    /// The first error: every later call returns it (the state is not consistent after one).
    failed: Option<Error>,
}

impl Patch {
    /// A patch that must rebuild a target of `target_size` bytes from a base of `base_size`
    /// (both from the header).
    pub const fn new(target_size: u32, base_size: u32) -> Self {
        Self {
            hs: Heatshrink::new(),
            state: State::Type,
            size: Varint {
                value: 0,
                shift: 0,
                negative: false,
            },
            target_size,
            base_size,
            to_off: 0,
            from_off: 0,
            left: 0,
            run_done: 0,
            patch_off: 0,
            buf: [0; CHUNK],
            fill: 0,
            failed: None,
        }
    }

    /// Target bytes produced so far.
    pub fn target_offset(&self) -> u32 {
        self.to_off
    }

    /// Patch bytes consumed so far.
    pub fn patch_offset(&self) -> u32 {
        self.patch_off
    }

    /// The whole target was produced and written.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Succeeds only when the patch ended exactly where the target is complete.
    pub fn finish(&self) -> Result<(), Error> {
        if let Some(e) = self.failed {
            Err(e)
        } else if self.is_done() {
            Ok(())
        } else {
            Err(Error::Truncated)
        }
    }

    /// Applies all of `input`.
    pub fn feed(&mut self, input: &[u8], io: &mut impl PatchIo) -> Result<(), Error> {
        self.feed_until(input, io, |_| false).map(|_| ())
    }

    /// Applies `input` but stops at the first checkpoint-able position for which `stop(patch
    /// offset)` says yes: the target written so far is flushed and the [`Checkpoint`] returned.
    /// A position can be checkpointed when the decoder is at least 256 bytes into a diff or
    /// extra run, so the heatshrink window is the run's last 256 bytes, which [`Patch::resume`]
    /// can rebuild from the target and the base.
    pub fn feed_until(
        &mut self,
        input: &[u8],
        io: &mut impl PatchIo,
        stop: impl FnMut(u32) -> bool,
    ) -> Result<Fed, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.feed_inner(input, io, stop);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn feed_inner(
        &mut self,
        input: &[u8],
        io: &mut impl PatchIo,
        mut stop: impl FnMut(u32) -> bool,
    ) -> Result<Fed, Error> {
        for (i, &b) in input.iter().enumerate() {
            if self.checkpointable() && stop(self.patch_off) {
                self.flush(io)?;
                return Ok(Fed {
                    consumed: i,
                    checkpoint: Some(self.checkpoint()),
                });
            }
            self.byte(b, io)?;
            self.patch_off = self.patch_off.wrapping_add(1);
        }
        Ok(Fed {
            consumed: input.len(),
            checkpoint: None,
        })
    }

    fn checkpointable(&self) -> bool {
        matches!(self.state, State::Diff | State::Extra) && self.run_done >= WINDOW as u32
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            patch_offset: self.patch_off,
            target_offset: self.to_off,
            base_offset: self.from_off,
            left: self.left,
            run_done: self.run_done,
            run: if self.state == State::Diff {
                Run::Diff
            } else {
                Run::Extra
            },
            bits: self.hs.bits(),
        }
    }

    /// Turns this decoder into one that continues an apply from `cp` (in place: no second
    /// decoder on the stack): the target's first `cp.target_offset` bytes are already written,
    /// `read_target` reads them back (the slot), and the next patch byte to feed is the one at
    /// `cp.patch_offset`. The heatshrink window is rebuilt from the last 256 target bytes (minus
    /// the base bytes under them in a diff run). On an error the decoder stays failed.
    pub fn resume(
        &mut self,
        cp: &Checkpoint,
        target_size: u32,
        base_size: u32,
        io: &mut impl PatchIo,
        read_target: impl FnMut(u32, &mut [u8]) -> Result<(), IoError>,
    ) -> Result<(), Error> {
        *self = Self::new(target_size, base_size);
        let r = self.rebuild(cp, io, read_target);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn rebuild(
        &mut self,
        cp: &Checkpoint,
        io: &mut impl PatchIo,
        mut read_target: impl FnMut(u32, &mut [u8]) -> Result<(), IoError>,
    ) -> Result<(), Error> {
        let win = WINDOW as u32;
        // A checkpoint is taken inside a run: at least one byte of it is still to come.
        let fits = cp.run_done >= win
            && cp.left >= 1
            && cp.target_offset >= cp.run_done
            && cp.target_offset <= self.target_size
            && cp.left <= self.target_size - cp.target_offset
            && (cp.run == Run::Extra
                || (cp.base_offset >= i64::from(win)
                    && cp.base_offset <= i64::from(self.base_size)));
        if !fits {
            return Err(Error::Checkpoint);
        }
        let window = self.hs.resume(cp.bits);
        let to_start = cp.target_offset - win;
        for (i, part) in window.chunks_mut(CHUNK).enumerate() {
            let at = to_start + (i * CHUNK) as u32;
            read_target(at, part).map_err(|_| Error::TargetRead)?;
            if cp.run == Run::Diff {
                let mut base = [0u8; CHUNK];
                let base = base.get_mut(..part.len()).ok_or(Error::Checkpoint)?;
                // In range: base_offset >= 256 and <= base_size was checked above.
                let from = (cp.base_offset - i64::from(win)) as u32 + (i * CHUNK) as u32;
                io.read_base(from, base).map_err(|_| Error::BaseRead)?;
                for (t, b) in part.iter_mut().zip(base.iter()) {
                    *t = t.wrapping_sub(*b);
                }
            }
        }
        self.state = match cp.run {
            Run::Diff => State::Diff,
            Run::Extra => State::Extra,
        };
        self.to_off = cp.target_offset;
        self.from_off = cp.base_offset;
        self.left = cp.left;
        self.run_done = cp.run_done;
        self.patch_off = cp.patch_offset;
        Ok(())
    }

    /// One raw patch byte.
    fn byte(&mut self, b: u8, io: &mut impl PatchIo) -> Result<(), Error> {
        match self.state {
            State::Type => {
                // bit 7 is 0, bits 6..4 the type (0 = sequential), bits 3..0 the compression.
                if b & 0xf0 != 0 {
                    return Err(Error::NotSequential);
                }
                if b != COMPRESSION_HEATSHRINK {
                    return Err(Error::Compression(b));
                }
                self.state = State::ToSize;
            }
            State::ToSize => {
                if let Some(v) = self.size.step(b)? {
                    if v != i64::from(self.target_size) {
                        return Err(Error::TargetSize);
                    }
                    // detools writes no body at all for an empty target.
                    self.state = if v == 0 { State::Done } else { State::Params };
                }
            }
            State::Params => {
                if b != heatshrink::PARAMS {
                    return Err(Error::HeatshrinkParams(b));
                }
                self.state = State::DfSize;
            }
            State::Done => return Err(Error::Trailing),
            _ => {
                self.hs.push(b);
                while let Some(o) = self.hs.pull() {
                    self.accept(o, io)?;
                    if self.state == State::Done {
                        // The last record ended: only the encoder's padding may follow.
                        return if self.hs.at_clean_end() {
                            Ok(())
                        } else {
                            Err(Error::Trailing)
                        };
                    }
                }
            }
        }
        Ok(())
    }

    /// One decompressed byte.
    fn accept(&mut self, b: u8, io: &mut impl PatchIo) -> Result<(), Error> {
        match self.state {
            State::DfSize => {
                if let Some(v) = self.size.step(b)? {
                    if v != 0 {
                        return Err(Error::DataFormat);
                    }
                    self.state = State::DiffSize;
                }
            }
            State::DiffSize | State::ExtraSize => {
                if let Some(v) = self.size.step(b)? {
                    let room = self.target_size - self.to_off;
                    let n = u32::try_from(v).map_err(|_| Error::Corrupt)?;
                    if n > room {
                        return Err(Error::PastTarget);
                    }
                    self.left = n;
                    self.run_done = 0;
                    let diff = self.state == State::DiffSize;
                    self.state = match (diff, n) {
                        (true, 0) => State::ExtraSize,
                        (true, _) => State::Diff,
                        (false, 0) => State::Adjust,
                        (false, _) => State::Extra,
                    };
                }
            }
            State::Diff | State::Extra => {
                if self.state == State::Diff {
                    if self.from_off < 0 || self.from_off >= i64::from(self.base_size) {
                        return Err(Error::OutsideBase);
                    }
                    self.from_off += 1;
                }
                if let Some(slot) = self.buf.get_mut(usize::from(self.fill)) {
                    *slot = b;
                }
                self.fill += 1;
                self.to_off += 1;
                self.left -= 1;
                self.run_done = self.run_done.saturating_add(1);
                if usize::from(self.fill) == CHUNK || self.left == 0 {
                    self.flush(io)?;
                }
                if self.left == 0 {
                    self.state = if self.state == State::Diff {
                        State::ExtraSize
                    } else {
                        State::Adjust
                    };
                }
            }
            State::Adjust => {
                if let Some(v) = self.size.step(b)? {
                    self.from_off = self.from_off.saturating_add(v);
                    self.state = if self.to_off == self.target_size {
                        State::Done
                    } else {
                        State::DiffSize
                    };
                }
            }
            // Raw states never see decompressed bytes; Done stops the loop in `byte`.
            _ => return Err(Error::Trailing),
        }
        Ok(())
    }

    /// Writes the buffered target bytes (adding the base under them in a diff run).
    fn flush(&mut self, io: &mut impl PatchIo) -> Result<(), Error> {
        let n = usize::from(self.fill);
        if n == 0 {
            return Ok(());
        }
        self.fill = 0;
        let Some(out) = self.buf.get_mut(..n) else {
            return Err(Error::Corrupt);
        };
        if self.state == State::Diff {
            let mut base = [0u8; CHUNK];
            let base = base.get_mut(..n).ok_or(Error::Corrupt)?;
            // Every byte's base offset was checked in `accept`: the range is inside the base.
            let from = (self.from_off - n as i64) as u32;
            io.read_base(from, base).map_err(|_| Error::BaseRead)?;
            for (o, b) in out.iter_mut().zip(base.iter()) {
                *o = o.wrapping_add(*b);
            }
        }
        io.write(out).map_err(|_| Error::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::heatshrink::test_writer::Writer;

    /// detools' size varint (`pack_size`), as the module doc states it.
    fn varint(v: i64) -> Vec<u8> {
        let mut m = v.unsigned_abs();
        let mut first = (m & 0x3f) as u8;
        if v < 0 {
            first |= 0x40;
        }
        m >>= 6;
        let mut out = vec![first];
        while m > 0 {
            *out.last_mut().unwrap() |= 0x80;
            out.push((m & 0x7f) as u8);
            m >>= 7;
        }
        out
    }

    /// A raw patch: header, parameters, then `body` (decompressed bytes) as heatshrink literals.
    fn raw(to_size: i64, body: &[u8]) -> Vec<u8> {
        let mut w = Writer::new();
        for &b in body {
            w.literal(b);
        }
        let mut p = vec![0x04];
        p.extend(varint(to_size));
        p.push(0x44);
        p.extend(w.finish());
        p
    }

    fn records(recs: &[(&[u8], &[u8], i64)]) -> Vec<u8> {
        let mut body = varint(0);
        for (diff, extra, adj) in recs {
            body.extend(varint(diff.len() as i64));
            body.extend_from_slice(diff);
            body.extend(varint(extra.len() as i64));
            body.extend_from_slice(extra);
            body.extend(varint(*adj));
        }
        body
    }

    struct Mem {
        base: Vec<u8>,
        out: Vec<u8>,
    }

    impl PatchIo for Mem {
        fn read_base(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), IoError> {
            let at = offset as usize;
            buf.copy_from_slice(&self.base[at..at + buf.len()]);
            Ok(())
        }
        fn write(&mut self, data: &[u8]) -> Result<(), IoError> {
            self.out.extend_from_slice(data);
            Ok(())
        }
    }

    fn apply(patch: &[u8], base: &[u8], to_size: u32) -> (Result<(), Error>, Vec<u8>) {
        let mut io = Mem {
            base: base.to_vec(),
            out: Vec::new(),
        };
        let mut p = Patch::new(to_size, base.len() as u32);
        // Byte by byte: the smallest pieces.
        for b in patch {
            if let Err(e) = p.feed(core::slice::from_ref(b), &mut io) {
                return (Err(e), io.out);
            }
        }
        (p.finish(), io.out)
    }

    #[test]
    fn varint_matches_detools_examples() {
        // From detools' pack_size: 0 -> 00, 63 -> 3f, 64 -> 80 01, -1 -> 41.
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(63), [0x3f]);
        assert_eq!(varint(64), [0x80, 0x01]);
        assert_eq!(varint(-1), [0x41]);
    }

    #[test]
    fn diff_extra_and_backward_seek() {
        // "BCDE" = base[0..4] + 1, "xy" copied, back 4, "AB" = base[0..2] + 0.
        let body = records(&[(&[1, 1, 1, 1], b"xy", -4), (&[0, 0], b"", 0)]);
        let (r, out) = apply(&raw(8, &body), b"ABCDEFGH", 8);
        assert_eq!(r, Ok(()));
        assert_eq!(out, b"BCDExyAB");
    }

    #[test]
    fn empty_target() {
        assert_eq!(apply(&[0x04, 0x00], b"A", 0), (Ok(()), vec![]));
        assert_eq!(apply(&[0x04, 0x00, 0x44], b"A", 0).0, Err(Error::Trailing));
    }

    #[test]
    fn refusals() {
        let good = raw(2, &records(&[(&[], b"hi", 0)]));
        assert_eq!(apply(&good, b"", 2), (Ok(()), b"hi".to_vec()));
        let with_first = |b: u8| {
            let mut p = good.clone();
            p[0] = b;
            apply(&p, b"", 2).0
        };
        assert_eq!(with_first(0x01), Err(Error::Compression(1)));
        assert_eq!(with_first(0x00), Err(Error::Compression(0)));
        assert_eq!(with_first(0x14), Err(Error::NotSequential));
        assert_eq!(with_first(0x24), Err(Error::NotSequential));
        assert_eq!(with_first(0x84), Err(Error::NotSequential));
        let mut p = good.clone();
        p[2] = 0x61; // heatshrink 10/4
        assert_eq!(apply(&p, b"", 2).0, Err(Error::HeatshrinkParams(0x61)));
        assert_eq!(apply(&good, b"", 3).0, Err(Error::TargetSize));
        assert_eq!(apply(&raw(-2, b""), b"", 2).0, Err(Error::TargetSize));
        // --data-format: a non-zero data-format patch size.
        let mut body = varint(5);
        body.extend([0; 5]);
        assert_eq!(apply(&raw(2, &body), b"", 2).0, Err(Error::DataFormat));
        // Sizes: past the target, negative, a varint that never ends.
        let past = raw(2, &records(&[(&[], b"abc", 0)]));
        assert_eq!(apply(&past, b"", 2), (Err(Error::PastTarget), vec![]));
        let mut neg = varint(0);
        neg.extend(varint(-1));
        assert_eq!(apply(&raw(2, &neg), b"", 2).0, Err(Error::Corrupt));
        let mut long = varint(0);
        long.extend([0xff; 8]);
        assert_eq!(apply(&raw(2, &long), b"", 2).0, Err(Error::Corrupt));
        // Reads outside the base, before and after it.
        let before = raw(1, &records(&[(&[], b"", -1), (&[0], b"", 0)]));
        assert_eq!(apply(&before, b"A", 1).0, Err(Error::OutsideBase));
        let after = raw(2, &records(&[(&[0, 0], b"", 0)]));
        assert_eq!(apply(&after, b"A", 2), (Err(Error::OutsideBase), vec![]));
        // Truncated, trailing bytes, a one in the padding.
        assert_eq!(
            apply(&good[..good.len() - 1], b"", 2).0,
            Err(Error::Truncated)
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(apply(&trailing, b"", 2).0, Err(Error::Trailing));
        let mut padded = good.clone();
        *padded.last_mut().unwrap() |= 1;
        assert_eq!(apply(&padded, b"", 2).0, Err(Error::Trailing));
        // An error sticks: the state after it is not fed on.
        let mut io = Mem {
            base: b"A".to_vec(),
            out: Vec::new(),
        };
        let mut p = Patch::new(2, 1);
        assert_eq!(p.feed(&after, &mut io), Err(Error::OutsideBase));
        assert_eq!(p.feed(&[0; 4], &mut io), Err(Error::OutsideBase));
        assert_eq!(p.finish(), Err(Error::OutsideBase));
        for e in [Error::Compression(1), Error::HeatshrinkParams(0)] {
            assert!(e.reason().contains("--"), "{e:?}");
        }
    }

    /// Checkpoints come only 256 bytes into a run; resuming at each gives the same target.
    #[test]
    fn checkpoint_and_resume_in_diff_and_extra_runs() {
        let base: Vec<u8> = (0..700u32).map(|i| (i * 7) as u8).collect();
        let diff: Vec<u8> = (0..600u32).map(|i| (i % 3) as u8).collect();
        let extra: Vec<u8> = (0..400u32).map(|i| (i * 13) as u8).collect();
        let body = records(&[(&diff, &extra, -100), (&diff[..100], b"", 0)]);
        let patch = raw(1100, &body);
        let (r, want) = apply(&patch, &base, 1100);
        assert_eq!(r, Ok(()));
        let mut p = Patch::new(1100, 700);
        let mut io = Mem {
            base: base.clone(),
            out: Vec::new(),
        };
        let mut cps = Vec::new();
        let mut at = 0;
        while at < patch.len() {
            let fed = p.feed_until(&patch[at..], &mut io, |_| true).unwrap();
            at += fed.consumed;
            if let Some(cp) = fed.checkpoint {
                assert!(cp.run_done >= 256);
                assert_eq!(io.out.len(), cp.target_offset as usize);
                cps.push(cp);
                // One step on, or the same position would be offered again.
                p.feed(&patch[at..at + 1], &mut io).unwrap();
                at += 1;
            }
        }
        assert_eq!(io.out, want);
        assert!(cps.iter().any(|c| c.run == Run::Diff) && cps.iter().any(|c| c.run == Run::Extra));
        for cp in &cps {
            let cp = Checkpoint::from_bytes(&cp.to_bytes()).unwrap();
            let done = cp.target_offset as usize;
            let mut io = Mem {
                base: base.clone(),
                out: want[..done].to_vec(),
            };
            let mut r = Patch::new(0, 0);
            r.resume(&cp, 1100, 700, &mut io, |off, buf| {
                buf.copy_from_slice(&want[off as usize..off as usize + buf.len()]);
                Ok(())
            })
            .unwrap();
            r.feed(&patch[cp.patch_offset as usize..], &mut io).unwrap();
            r.finish().unwrap();
            assert_eq!(io.out, want, "resumed at {}", cp.patch_offset);
        }
        // A checkpoint that does not fit the sizes is refused.
        let mut io = Mem {
            base,
            out: Vec::new(),
        };
        let bad = [
            Checkpoint {
                target_offset: 2000,
                ..cps[0]
            },
            Checkpoint { left: 0, ..cps[0] },
            Checkpoint {
                run_done: 255,
                ..cps[0]
            },
            Checkpoint {
                base_offset: 701,
                run: Run::Diff,
                ..cps[0]
            },
            Checkpoint {
                left: 1100,
                ..cps[0]
            },
        ];
        for cp in bad {
            assert!(
                matches!(
                    Patch::new(0, 0).resume(&cp, 1100, 700, &mut io, |_, _| Ok(())),
                    Err(Error::Checkpoint)
                ),
                "{cp:?}"
            );
        }
    }
}
