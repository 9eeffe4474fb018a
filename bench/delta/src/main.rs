//! `delta_bench OLD DELTA [K]`: applies the delta file (scripts/mkdelta.py) to OLD K times
//! (default 1) in 4 KiB pieces, as a download would hand them over, and prints the image's size
//! and a checksum. Run under `valgrind --tool=callgrind` at two K: the difference divided by
//! the target bytes is the decoder's instructions per output byte (no file I/O in between).
use qcloud_ota::delta::header::HEADER_LEN;
use qcloud_ota::delta::{Header, IoError, Patch, PatchIo};

struct Io<'a> {
    base: &'a [u8],
    sum: u32,
    len: usize,
}

impl PatchIo for Io<'_> {
    fn read_base(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), IoError> {
        let at = offset as usize;
        buf.copy_from_slice(self.base.get(at..at + buf.len()).ok_or(IoError)?);
        Ok(())
    }
    fn write(&mut self, data: &[u8]) -> Result<(), IoError> {
        // A cheap stand-in for a flash write that the optimiser cannot drop.
        self.sum = data
            .iter()
            .fold(self.sum, |s, &b| s.rotate_left(5) ^ u32::from(b));
        self.len += data.len();
        Ok(())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(old), Some(delta)) = (args.next(), args.next()) else {
        eprintln!("usage: delta_bench OLD DELTA [K]");
        std::process::exit(2);
    };
    let k: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let old = std::fs::read(old).expect("OLD");
    let file = std::fs::read(delta).expect("DELTA");
    let h = Header::parse(&file).expect("delta header");
    let mut io = Io {
        base: &old,
        sum: 0,
        len: 0,
    };
    for _ in 0..k {
        let mut p = Patch::new(h.target_size, h.base_size);
        for piece in file[HEADER_LEN..].chunks(4096) {
            p.feed(std::hint::black_box(piece), &mut io).expect("apply");
        }
        p.finish().expect("complete");
    }
    println!(
        "{} target bytes x {k}, checksum {:08x}, size_of::<Patch>() = {}",
        io.len / k.max(1),
        io.sum,
        core::mem::size_of::<Patch>()
    );
}
