//! `md5_alone BYTES [CHUNK]`: MD5 over BYTES bytes fed in CHUNK-byte updates (default 16384, the
//! bench's HTTP buffer), printing the digest. The data is one chunk of a fixed pattern hashed again
//! and again: MD5's cost does not depend on the bytes, and no generator adds to the count.
use md5::{Digest, Md5};

fn main() {
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().and_then(|s| s.parse().ok()).expect("usage: md5_alone BYTES [CHUNK]");
    let chunk: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(16384);
    let buf: Vec<u8> = (0..chunk).map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3]).collect();
    let mut h = Md5::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk as u64) as usize;
        h.update(std::hint::black_box(&buf[..n]));
        left -= n as u64;
    }
    let d = h.finalize();
    for b in d.iter() {
        print!("{b:02x}");
    }
    println!("  {total} bytes");
}
