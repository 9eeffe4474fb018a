//! The delta decoder (src/delta) against detools itself: real and synthetic image pairs go
//! through scripts/mkdelta.py, our decoder applies the patch in pieces of random sizes, and the
//! result must equal, byte for byte, what detools' own apply produces (and the new image).
//! Resuming from checkpoints must give the same image; patches made with other settings, and
//! damaged ones, must be refused. Needs python3 with detools 0.53.0 (scripts/setup.sh).
#![cfg(feature = "delta")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use qcloud_ota::delta::checkpoint::CHECKPOINT_LEN;
use qcloud_ota::delta::header::HEADER_LEN;
use qcloud_ota::delta::{Checkpoint, Error, Header, IoError, Patch, PatchIo};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory of this test process, removed by the OS's tmp cleaning at worst.
fn scratch() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "qcloud-delta-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn python(args: &[&str]) {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// scripts/mkdelta.py OLD NEW OUT: the delta file.
fn mkdelta(old: &[u8], new: &[u8], version: &str) -> Vec<u8> {
    let d = scratch();
    std::fs::write(d.join("old"), old).unwrap();
    std::fs::write(d.join("new"), new).unwrap();
    let script = root().join("scripts/mkdelta.py");
    python(&[
        script.to_str().unwrap(),
        d.join("old").to_str().unwrap(),
        d.join("new").to_str().unwrap(),
        d.join("out").to_str().unwrap(),
        "--base-version",
        version,
    ]);
    let out = std::fs::read(d.join("out")).unwrap();
    std::fs::remove_dir_all(&d).ok();
    out
}

/// detools' own apply of a bare patch.
fn detools_apply(old: &[u8], patch: &[u8]) -> Vec<u8> {
    let d = scratch();
    std::fs::write(d.join("old"), old).unwrap();
    std::fs::write(d.join("patch"), patch).unwrap();
    python(&[
        "-c",
        "import detools,sys; detools.apply_patch_filenames(sys.argv[1], sys.argv[2], sys.argv[3])",
        d.join("old").to_str().unwrap(),
        d.join("patch").to_str().unwrap(),
        d.join("new").to_str().unwrap(),
    ]);
    let out = std::fs::read(d.join("new")).unwrap();
    std::fs::remove_dir_all(&d).ok();
    out
}

/// A bare detools patch with other settings (`extra` is Python keyword arguments).
fn detools_create(old: &[u8], new: &[u8], extra: &str) -> Vec<u8> {
    let d = scratch();
    std::fs::write(d.join("old"), old).unwrap();
    std::fs::write(d.join("new"), new).unwrap();
    let code = format!(
        "import detools,sys; detools.create_patch_filenames(sys.argv[1], sys.argv[2], sys.argv[3], {extra})"
    );
    python(&[
        "-c",
        &code,
        d.join("old").to_str().unwrap(),
        d.join("new").to_str().unwrap(),
        d.join("patch").to_str().unwrap(),
    ]);
    let out = std::fs::read(d.join("patch")).unwrap();
    std::fs::remove_dir_all(&d).ok();
    out
}

struct Mem<'a> {
    base: &'a [u8],
    out: Vec<u8>,
    limit: usize,
}

impl PatchIo for Mem<'_> {
    fn read_base(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), IoError> {
        let at = offset as usize;
        // The decoder promises in-range reads: a violation fails the test, not the read.
        let src = self
            .base
            .get(at..at + buf.len())
            .expect("read inside the base");
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write(&mut self, data: &[u8]) -> Result<(), IoError> {
        assert!(data.len() <= 64 && !data.is_empty());
        self.out.extend_from_slice(data);
        assert!(self.out.len() <= self.limit, "wrote past the target size");
        Ok(())
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Feeds `patch` in random pieces (1 byte to 5 KiB); the decoder's result.
fn apply_pieces(p: &mut Patch, io: &mut Mem, patch: &[u8], rng: &mut Rng) -> Result<(), Error> {
    let mut at = 0;
    while at < patch.len() {
        let most = if rng.below(4) == 0 { 8 } else { 5000 };
        let n = (1 + rng.below(most)).min(patch.len() - at);
        p.feed(&patch[at..at + n], io)?;
        at += n;
    }
    p.finish()
}

/// Applies a delta file with our decoder as the device will: header first, then the patch.
fn apply(file: &[u8], base: &[u8], rng: &mut Rng) -> Result<Vec<u8>, Error> {
    let h = Header::parse(file).expect("header");
    assert_eq!(h.base_size as usize, base.len());
    let mut io = Mem {
        base,
        out: Vec::new(),
        limit: h.target_size as usize,
    };
    let mut p = Patch::new(h.target_size, h.base_size);
    apply_pieces(&mut p, &mut io, &file[HEADER_LEN..], rng)?;
    Ok(io.out)
}

fn md5(data: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(data).into()
}

/// Checkpoints every `interval` patch bytes (first checkpoint-able position at a 64-aligned
/// file offset after each), then resumes from each one: the image must be the same. Returns
/// (checkpoints, largest distance in patch bytes from a wish to its checkpoint).
fn resume_everywhere(
    file: &[u8],
    base: &[u8],
    new: &[u8],
    interval: u32,
    rng: &mut Rng,
) -> (usize, u32) {
    let h = Header::parse(file).unwrap();
    let patch = &file[HEADER_LEN..];
    let mut io = Mem {
        base,
        out: Vec::new(),
        limit: new.len(),
    };
    let mut p = Patch::new(h.target_size, h.base_size);
    let mut cps: Vec<Checkpoint> = Vec::new();
    let mut wish = interval;
    let mut worst = 0;
    let mut at = 0usize;
    while at < patch.len() {
        let fed = p
            .feed_until(&patch[at..], &mut io, |off| {
                off >= wish && (HEADER_LEN as u32 + off).is_multiple_of(64)
            })
            .unwrap();
        at += fed.consumed;
        if let Some(cp) = fed.checkpoint {
            assert_eq!(cp.patch_offset as usize, at);
            assert_eq!(
                io.out.len(),
                cp.target_offset as usize,
                "flushed at the checkpoint"
            );
            worst = worst.max(cp.patch_offset - wish);
            cps.push(cp);
            wish = cp.patch_offset + interval;
        }
    }
    p.finish().unwrap();
    assert_eq!(io.out, new);
    for cp in &cps {
        // Through the journal's bytes, as after a reboot.
        let cp = Checkpoint::from_bytes(&cp.to_bytes()).expect("round trip");
        let done = cp.target_offset as usize;
        let mut io = Mem {
            base,
            out: new[..done].to_vec(),
            limit: new.len(),
        };
        let slot = new[..done].to_vec();
        let mut p = Patch::new(0, 0);
        p.resume(&cp, h.target_size, h.base_size, &mut io, |off, buf| {
            buf.copy_from_slice(&slot[off as usize..off as usize + buf.len()]);
            Ok(())
        })
        .unwrap();
        apply_pieces(&mut p, &mut io, &patch[cp.patch_offset as usize..], rng).unwrap();
        assert!(io.out == new, "resumed at patch offset {}", cp.patch_offset);
    }
    (cps.len(), worst)
}

/// One pair end to end: mkdelta, detools' apply, ours in pieces, resumes. Prints the figures.
fn check_pair(name: &str, old: &[u8], new: &[u8], rng: &mut Rng) {
    let file = mkdelta(old, new, "1.0.0");
    let h = Header::parse(&file).unwrap();
    assert_eq!(h.base_md5, md5(old));
    assert_eq!(h.target_md5, md5(new));
    assert_eq!(h.base_version(), b"1.0.0");
    let theirs = detools_apply(old, &file[HEADER_LEN..]);
    assert!(theirs == new, "{name}: detools' own apply");
    for _ in 0..3 {
        let ours = apply(&file, old, rng).unwrap();
        assert!(ours == theirs, "{name}: ours differs from detools'");
    }
    let (n, worst) = resume_everywhere(&file, old, new, 512, rng);
    println!(
        "{name}: {} -> {} bytes, delta file {} bytes ({:.1} %), {n} checkpoints resumed, \
         farthest {worst} patch bytes after the wish",
        old.len(),
        new.len(),
        file.len(),
        100.0 * file.len() as f64 / new.len() as f64
    );
}

/// Edits like a rebuild makes: changed bytes, inserted and deleted blocks (shifting code).
fn edit(old: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = old.to_vec();
    for _ in 0..12 {
        let at = rng.below(v.len());
        match rng.below(3) {
            0 => {
                let n = (1 + rng.below(40)).min(v.len() - at);
                for b in &mut v[at..at + n] {
                    *b = b.wrapping_add(rng.next() as u8 | 1);
                }
            }
            1 => {
                let n = 1 + rng.below(600);
                let ins = rng.bytes(n);
                v.splice(at..at, ins);
            }
            _ => {
                let n = (1 + rng.below(600)).min(v.len() - at);
                v.drain(at..at + n);
            }
        }
    }
    v
}

/// Firmware-like synthetic images: code-ish words with repeats, and pure noise.
#[test]
fn synthetic_pairs_match_detools() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut words = Vec::new();
    for _ in 0..(48 * 1024 / 4) {
        let w = [
            0x4770u32,
            0xb510_4604,
            0xf000_f800,
            0x6800_6841,
            rng.next() as u32,
        ];
        words.extend_from_slice(&w[rng.below(w.len())].to_le_bytes());
    }
    let noisy = rng.bytes(40 * 1024);
    for (name, old) in [("code-like 48 KiB", words), ("random 40 KiB", noisy)] {
        let new = edit(&old, &mut rng);
        check_pair(name, &old, &new, &mut rng);
    }
    // Small corners: a target smaller than the window, an image that only grows.
    let tiny = rng.bytes(100);
    check_pair("tiny", &tiny, &edit(&tiny, &mut rng)[..90], &mut rng);
    let mut grown = tiny.clone();
    grown.extend(rng.bytes(3000));
    check_pair("grown", &tiny, &grown, &mut rng);
}

/// This repository's own Cortex-M firmware builds (written by tests/firmware_size.rs: the
/// flash report's firmware with and without the plain build of the library, for two CPUs) as
/// raw images.
#[test]
fn firmware_build_pairs_match_detools() {
    let dir = root().join("target/flash-report");
    let bin = |triple: &str, name: &str| -> Option<Vec<u8>> {
        let elf = dir.join(triple).join("plain").join(name);
        if !elf.exists() {
            return None;
        }
        let out = scratch().join("image.bin");
        let ok = Command::new("arm-none-eabi-objcopy")
            .args(["-O", "binary"])
            .arg(&elf)
            .arg(&out)
            .status()
            .ok()?
            .success();
        let data = if ok { std::fs::read(&out).ok() } else { None };
        std::fs::remove_dir_all(out.parent()?).ok();
        data
    };
    let em = "thumbv7em-none-eabihf";
    let m = "thumbv7m-none-eabi";
    let (Some(em_fw), Some(m_fw), Some(em_base)) =
        (bin(em, "fw.elf"), bin(m, "fw.elf"), bin(em, "base.elf"))
    else {
        // scripts/test.sh runs tests/firmware_size.rs (which writes them) before this test.
        panic!("no firmware in target/flash-report: run cargo test --test firmware_size first");
    };
    let mut rng = Rng(7);
    check_pair("firmware cortex-m3 -> cortex-m4", &m_fw, &em_fw, &mut rng);
    check_pair(
        "firmware without -> with the library",
        &em_base,
        &em_fw,
        &mut rng,
    );
}

/// Patches with other settings are refused at their first bytes, naming the option to use.
#[test]
fn other_detools_settings_are_refused() {
    let mut rng = Rng(11);
    let old = rng.bytes(5000);
    let new = edit(&old, &mut rng);
    let cases = [
        ("compression='lzma'", Error::Compression(1)),
        ("compression='crle'", Error::Compression(2)),
        ("compression='none'", Error::Compression(0)),
        (
            "compression='heatshrink', heatshrink_window_sz2=10, heatshrink_lookahead_sz2=4",
            Error::HeatshrinkParams(0x61),
        ),
        (
            "compression='heatshrink', patch_type='hdiffpatch', algorithm='hdiffpatch'",
            Error::NotSequential,
        ),
    ];
    for (kw, expect) in cases {
        let patch = detools_create(&old, &new, kw);
        let mut io = Mem {
            base: &old,
            out: Vec::new(),
            limit: new.len(),
        };
        let mut p = Patch::new(new.len() as u32, old.len() as u32);
        let e = p.feed(&patch, &mut io).unwrap_err();
        assert_eq!(e, expect, "{kw}");
        assert!(io.out.is_empty(), "{kw}: nothing written");
        assert!(
            e.reason().contains("--"),
            "{kw}: the reason names the option"
        );
    }
    assert!(Error::Compression(1).reason().contains("lzma"));
}

/// Damaged patches end in an error or in an image whose MD5 is not the header's: never in a
/// wrong image that passes.
#[test]
fn damaged_patches_never_give_a_wrong_image() {
    let mut rng = Rng(23);
    let old = rng.bytes(20_000);
    let new = edit(&old, &mut rng);
    let file = mkdelta(&old, &new, "1.0.0");
    let h = Header::parse(&file).unwrap();
    let patch = &file[HEADER_LEN..];
    let run = |patch: &[u8], base: &[u8], base_size: u32, rng: &mut Rng| {
        let mut io = Mem {
            base,
            out: Vec::new(),
            limit: h.target_size as usize,
        };
        let mut p = Patch::new(h.target_size, base_size);
        apply_pieces(&mut p, &mut io, patch, rng).map(|()| io.out)
    };
    // Truncated anywhere: Truncated (or a corrupt size where the cut fell inside one).
    for cut in [0, 1, 2, 3, patch.len() / 2, patch.len() - 1] {
        let e = run(&patch[..cut], &old, h.base_size, &mut rng).unwrap_err();
        assert_eq!(e, Error::Truncated, "cut at {cut}");
    }
    // Trailing bytes.
    let mut long = patch.to_vec();
    long.push(0);
    assert_eq!(
        run(&long, &old, h.base_size, &mut rng),
        Err(Error::Trailing)
    );
    // A base that is too short for the patch's reads.
    let short = &old[..old.len() / 2];
    assert_eq!(
        run(patch, short, short.len() as u32, &mut rng),
        Err(Error::OutsideBase)
    );
    // A wrong target size in the header.
    let mut io = Mem {
        base: &old,
        out: Vec::new(),
        limit: usize::MAX,
    };
    assert_eq!(
        Patch::new(h.target_size + 1, h.base_size).feed(patch, &mut io),
        Err(Error::TargetSize)
    );
    // Corrupted bytes.
    let mut errors = 0;
    for _ in 0..200 {
        let mut bad = patch.to_vec();
        let i = 3 + rng.below(bad.len() - 3);
        bad[i] ^= 1 << rng.below(8);
        match run(&bad, &old, h.base_size, &mut rng) {
            // A flip can give the same image (a back-reference to equal bytes); any other
            // image is caught by the header's target MD5 (the engine's read-back check).
            Ok(out) => {
                assert_eq!(out.len(), new.len());
                assert!(out == new || md5(&out) != h.target_md5);
            }
            Err(_) => errors += 1,
        }
    }
    println!("corrupted patches: {errors}/200 refused by the decoder, the rest by the MD5");
    // A checkpoint that does not fit.
    let cp_bytes = [0u8; CHECKPOINT_LEN];
    assert!(Checkpoint::from_bytes(&cp_bytes).is_none());
}
