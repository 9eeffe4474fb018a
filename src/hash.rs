//! The hashes: MD5 for the image (resumable, its state saved in the journal) and HMAC-SHA1 /
//! HMAC-SHA256 for the MQTT login signature.
//!
//! All three share one 64-byte block buffer with the same padding (0x80, zeros, the bit length;
//! MD5 little-endian, SHA big-endian). Whole blocks are compressed straight from the input. All
//! three compressions are small loops, because flash is scarcer than time on a Cortex-M (the md-5
//! crate, kept as the tests' oracle, and the RustCrypto SHA crates unroll theirs; docs/size.md has
//! the figures). MD5 is the one hot loop, and its loop is still fast enough for any MCU's network;
//! the password is signed once per connect.

use crate::slices::copy_prefix;

/// Which hash the HMAC uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
}

const BLOCK: usize = 64;
type Block = [u8; BLOCK];

/// Which compression function a [`Buffer`] feeds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alg {
    Md5,
    Sha1,
    Sha256,
}

/// Compresses whole blocks into `state` (MD5: 4 words, SHA-1: 5 of 8, SHA-256: 8).
fn compress(alg: Alg, state: &mut [u32], blocks: &[Block]) {
    match alg {
        Alg::Md5 => {
            if let Some(s) = state.first_chunk_mut::<4>() {
                md5_blocks(s, blocks);
            }
        }
        _ => {
            if let Some(s) = state.first_chunk_mut::<8>() {
                sha_compress(alg == Alg::Sha1, s, blocks);
            }
        }
    }
}

/// Bytes not yet compressed, and the message length so far.
#[derive(Clone)]
struct Buffer {
    block: Block,
    /// Bytes in `block`, always < 64 between calls.
    fill: usize,
    /// Message bytes so far.
    total: u64,
}

impl Buffer {
    const fn new() -> Self {
        Self {
            block: [0; BLOCK],
            fill: 0,
            total: 0,
        }
    }

    /// Appends `data`, compressing each completed block into `state`; whole blocks of `data` go
    /// straight from the input, in one call.
    fn update(&mut self, alg: Alg, state: &mut [u32], mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.fill > 0 {
            let n = copy_prefix(self.block.get_mut(self.fill..).unwrap_or(&mut []), data);
            self.fill += n;
            data = data.get(n..).unwrap_or(&[]);
            if self.fill < BLOCK {
                return;
            }
            compress(alg, state, core::slice::from_ref(&self.block));
            self.fill = 0;
        }
        let (blocks, rest) = data.as_chunks::<BLOCK>();
        if !blocks.is_empty() {
            compress(alg, state, blocks);
        }
        self.fill = copy_prefix(&mut self.block, rest);
    }

    /// Pads the message (0x80, zeros, the bit length: MD5 little-endian, SHA big-endian),
    /// compresses the last block(s) into `state` and writes its first words to `out` in the same
    /// byte order.
    fn finish(&self, alg: Alg, state: &mut [u32], out: &mut [u8]) {
        let be = alg != Alg::Md5;
        let bits = self.total.wrapping_mul(8);
        let len = if be {
            bits.to_be_bytes()
        } else {
            bits.to_le_bytes()
        };
        // The padding goes through `update` on a copy, a byte at a time (once per digest).
        let mut tail = self.clone();
        tail.update(alg, state, &[0x80]);
        while tail.fill != BLOCK - 8 {
            tail.update(alg, state, &[0]);
        }
        tail.update(alg, state, &len);
        for (o, s) in out.as_chunks_mut::<4>().0.iter_mut().zip(state) {
            *o = if be { s.to_be_bytes() } else { s.to_le_bytes() };
        }
    }
}

/// HMAC keys longer than one block would have to be hashed first (RFC 2104); the only caller
/// refuses them (as Tencent's C SDK does), so [`hmac`] refuses them too.
pub const HMAC_KEY_MAX: usize = BLOCK;

/// The initial states: SHA-1 (five words, padded) and SHA-256.
const SHA_INIT: [[u32; 8]; 2] = [
    [
        0x6745_2301,
        0xefcd_ab89,
        0x98ba_dcfe,
        0x1032_5476,
        0xc3d2_e1f0,
        0,
        0,
        0,
    ],
    [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ],
];

const SHA1_K: [u32; 4] = [0x5a82_7999, 0x6ed9_eba1, 0x8f1b_bcdc, 0xca62_c1d6];

#[rustfmt::skip]
const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

impl Hash {
    /// Digest length in bytes.
    pub const fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
        }
    }
}

#[cfg(any(not(feature = "std"), test))]
/// MD5's step constants, `floor(abs(sin(i + 1)) * 2^32)` (RFC 1321 §3.4).
#[rustfmt::skip]
const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// MD5's rotations: four per round, used in turn.
#[cfg(any(not(feature = "std"), test))]
const MD5_S: [u8; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/// MD5's compression where flash is cheap (`std`: Linux gateways and hosts): md-5's, fully
/// unrolled, several times faster than the loop below (docs/size.md), which keeps a download
/// faster than `curl | md5sum`.
#[cfg(feature = "std")]
fn md5_blocks(state: &mut [u32; 4], blocks: &[Block]) {
    md5::block_api::compress(state, blocks);
}

/// On bare metal the loop below: much smaller than md-5's, and a Cortex-M's network is slower
/// than either.
#[cfg(not(feature = "std"))]
fn md5_blocks(state: &mut [u32; 4], blocks: &[Block]) {
    md5_compress(state, blocks);
}

/// RFC 1321's compression, as one loop over the 64 steps with the table of constants (md-5
/// unrolls the steps). Host tests compare it with md-5.
#[cfg(any(not(feature = "std"), test))]
fn md5_compress(state: &mut [u32; 4], blocks: &[Block]) {
    for block in blocks {
        let mut w = [0u32; 16];
        for (w, b) in w.iter_mut().zip(block.as_chunks::<4>().0) {
            *w = u32::from_le_bytes(*b);
        }
        let [mut a, mut b, mut c, mut d] = *state;
        for (i, &k) in MD5_K.iter().enumerate() {
            // The round's function and which message word the step takes.
            let (f, g) = match i / 16 {
                // F and G in their three-operation forms: (b & c) | (!b & d), (d & b) | (!d & c).
                0 => (d ^ (b & (c ^ d)), i),
                1 => (c ^ (d & (b ^ c)), 5 * i + 1),
                2 => (b ^ c ^ d, 3 * i + 5),
                _ => (c ^ (b | !d), 7 * i),
            };
            let s = MD5_S[(i >> 2 & 12) | (i & 3)];
            let t = a
                .wrapping_add(f)
                .wrapping_add(k)
                .wrapping_add(w[g & 15])
                .rotate_left(u32::from(s));
            (a, b, c, d) = (d, b.wrapping_add(t), b, c);
        }
        for (s, v) in state.iter_mut().zip(&[a, b, c, d]) {
            *s = s.wrapping_add(*v);
        }
    }
}

/// The bytes of one MD5 state saved in the journal: the four words after the last whole block
/// and the block count, little-endian (the layout md-5 serialises).
pub const MD5_STATE_LEN: usize = 24;

const MD5_INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The image's MD5, resumable from a saved state.
#[derive(Clone)]
pub struct Md5 {
    state: [u32; 4],
    buf: Buffer,
}

impl Md5 {
    pub const fn new() -> Self {
        Self {
            state: MD5_INIT,
            buf: Buffer::new(),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.buf.update(Alg::Md5, &mut self.state, data);
    }

    /// The digest; `self` is only read (no 96-byte move on the stack of the caller).
    pub fn finish(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        self.buf.finish(Alg::Md5, &mut self.state.clone(), &mut out);
        out
    }

    /// The state after the last whole block, and how many bytes came after it (they are not in
    /// the state: a resume fetches them again).
    pub fn save(&self) -> ([u8; MD5_STATE_LEN], usize) {
        let mut out = [0u8; MD5_STATE_LEN];
        for (o, s) in out.as_chunks_mut::<4>().0.iter_mut().zip(self.state) {
            *o = s.to_le_bytes();
        }
        let blocks = (self.buf.total - self.buf.fill as u64) / BLOCK as u64;
        if let Some(count) = out.last_chunk_mut::<8>() {
            *count = blocks.to_le_bytes();
        }
        (out, self.buf.fill)
    }

    /// Continues from a state [`Md5::save`] returned.
    pub fn restore(saved: &[u8; MD5_STATE_LEN]) -> Self {
        let mut md5 = Md5::new();
        for (s, w) in md5.state.iter_mut().zip(saved.as_chunks::<4>().0) {
            *s = u32::from_le_bytes(*w);
        }
        if let Some(count) = saved.last_chunk::<8>() {
            md5.buf.total = u64::from_le_bytes(*count).wrapping_mul(BLOCK as u64);
        }
        md5
    }
}

impl Default for Md5 {
    fn default() -> Self {
        Self::new()
    }
}

/// A SHA-1 or SHA-256 computation in progress.
#[derive(Clone)]
struct Hasher {
    hash: Hash,
    /// SHA-1 uses the first five words.
    state: [u32; 8],
    buf: Buffer,
}

impl Hasher {
    fn new(hash: Hash) -> Self {
        Self {
            hash,
            state: SHA_INIT[hash as usize],
            buf: Buffer::new(),
        }
    }

    fn alg(&self) -> Alg {
        match self.hash {
            Hash::Sha1 => Alg::Sha1,
            Hash::Sha256 => Alg::Sha256,
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.buf.update(self.alg(), &mut self.state, data);
    }

    /// Writes the digest into `out`; returns its length.
    fn finish(&mut self, out: &mut [u8; 32]) -> usize {
        let n = self.hash.len();
        let out = out.get_mut(..n).unwrap_or(&mut []);
        self.buf.finish(self.alg(), &mut self.state, out);
        n
    }
}

/// SHA-1 and SHA-256 (FIPS 180-4) in one loop: both keep the message schedule in a 16-word ring
/// (word `i >= 16` replaces word `i - 16`) and both shift their working words down by one per
/// round. SHA-1's five words are the first five of the eight: its round is the same shift with
/// `rotl(b, 30)` into the third word and `d` (unchanged) into the fifth. The last three words
/// are junk for SHA-1 (never output).
fn sha_compress(sha1: bool, state: &mut [u32; 8], blocks: &[Block]) {
    for block in blocks {
        let words = block.as_chunks::<4>().0;
        let mut w: [u32; 16] =
            core::array::from_fn(|k| words.get(k).map_or(0, |b| u32::from_be_bytes(*b)));
        let mut v = *state;
        for i in 0..if sha1 { 80 } else { 64 } {
            let r = |k: usize| w[(i + k) & 15];
            if i >= 16 {
                let next = if sha1 {
                    (r(13) ^ r(8) ^ r(2) ^ r(0)).rotate_left(1)
                } else {
                    let (w15, w2) = (r(1), r(14));
                    let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
                    let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
                    r(0).wrapping_add(s0).wrapping_add(r(9)).wrapping_add(s1)
                };
                w[i & 15] = next;
            }
            let wi = w[i & 15];
            let [a, b, c, d, e, f, g, h] = v;
            let ch = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
            let maj = |x: u32, y: u32, z: u32| (x & y) | (z & (x | y));
            let (t, third, fifth) = if sha1 {
                let f = match i / 20 {
                    0 => ch(b, c, d),
                    2 => maj(b, c, d),
                    _ => b ^ c ^ d,
                };
                let k = SHA1_K[(i / 20) & 3];
                let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e);
                (t.wrapping_add(k).wrapping_add(wi), b.rotate_left(30), d)
            } else {
                let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
                let k = SHA256_K.get(i).copied().unwrap_or(0);
                let t1 = h
                    .wrapping_add(s1)
                    .wrapping_add(ch(e, f, g))
                    .wrapping_add(k)
                    .wrapping_add(wi);
                let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
                let t2 = s0.wrapping_add(maj(a, b, c));
                (t1.wrapping_add(t2), b, d.wrapping_add(t1))
            };
            v = [t, a, third, c, fifth, e, f, g];
        }
        for (s, v) in state.iter_mut().zip(&v) {
            *s = s.wrapping_add(*v);
        }
    }
}

/// `HMAC(key, msg)` (RFC 2104) into `out`; returns the digest length (20 or 32), or `None` for a
/// key longer than [`HMAC_KEY_MAX`].
pub fn hmac(hash: Hash, key: &[u8], msg: &[u8], out: &mut [u8; 32]) -> Option<usize> {
    if key.len() > HMAC_KEY_MAX {
        return None;
    }
    // One hasher at a time (stack): the inner hash, then the outer one over its digest.
    let mut pad = [0u8; BLOCK];
    copy_prefix(&mut pad, key);
    let mut n = 0;
    for (xor, inner) in [(0x36, true), (0x36 ^ 0x5c, false)] {
        for p in &mut pad {
            *p ^= xor;
        }
        let mut h = Hasher::new(hash);
        h.update(&pad);
        h.update(if inner {
            msg
        } else {
            out.get(..n).unwrap_or(&[])
        });
        n = h.finish(out);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::String;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| std::format!("{b:02x}")).collect()
    }

    fn digest(hash: Hash, msg: &[u8]) -> String {
        let mut h = Hasher::new(hash);
        h.update(msg);
        let mut out = [0u8; 32];
        let n = h.finish(&mut out);
        hex(&out[..n])
    }

    fn mac(hash: Hash, key: &[u8], msg: &[u8]) -> String {
        let mut out = [0u8; 32];
        let n = hmac(hash, key, msg, &mut out).unwrap();
        hex(&out[..n])
    }

    /// FIPS 180-2 appendix examples plus the padding edges (55/56/64 bytes).
    #[test]
    fn sha_vectors() {
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let cases: &[(&[u8], &str, &str)] = &[
            (
                b"",
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "a9993e364706816aba3e25717850c26c9cd0d89d",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                long,
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for &(msg, sha1, sha256) in cases {
            assert_eq!(digest(Hash::Sha1, msg), sha1);
            assert_eq!(digest(Hash::Sha256, msg), sha256);
        }
        // One million 'a': many blocks, fed in uneven pieces.
        let million = std::vec![b'a'; 1_000_000];
        for (hash, want) in [
            (Hash::Sha1, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
            (
                Hash::Sha256,
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
            ),
        ] {
            let mut h = Hasher::new(hash);
            for piece in million.chunks(1000 - 7) {
                h.update(piece);
            }
            let mut out = [0u8; 32];
            let n = h.finish(&mut out);
            assert_eq!(hex(&out[..n]), want);
        }
        // Lengths around the padding boundary (one or two final blocks; references from Python's
        // hashlib).
        let edges: &[(usize, &str, &str)] = &[
            (
                55,
                "cef734ba81a024479e09eb5a75b6ddae62e6abf1",
                "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072",
            ),
            (
                56,
                "901305367c259952f4e7af8323f480d59f81335b",
                "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e",
            ),
            (
                63,
                "0ddc4e0cccd9a12850deb5abb0853a4425559fec",
                "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2",
            ),
            (
                64,
                "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163",
                "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c",
            ),
            (
                65,
                "78c741ddc482e4cdf8c474a0876347a0905b6233",
                "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9",
            ),
        ];
        for &(n, sha1, sha256) in edges {
            let msg = std::vec![b'x'; n];
            assert_eq!(digest(Hash::Sha1, &msg), sha1, "{n}");
            assert_eq!(digest(Hash::Sha256, &msg), sha256, "{n}");
        }
    }

    fn md5_hex(data: &[u8]) -> String {
        let mut m = Md5::new();
        m.update(data);
        hex(&m.finish())
    }

    /// RFC 1321's test suite.
    #[test]
    fn md5_vectors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for &(msg, want) in cases {
            assert_eq!(md5_hex(msg), want);
        }
    }

    /// Against md-5's own buffered hasher: the same digest for any length fed in any pieces, and
    /// the same saved state (the journal's layout, written by earlier versions through md-5's
    /// serialisation) at every point.
    #[test]
    fn md5_matches_md5_crate_and_its_saved_state() {
        use md5::digest::Digest;
        use md5::digest::common::hazmat::SerializableState;
        let data: std::vec::Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 500, 1000] {
            for piece in [1, 3, 63, 64, 65, 200, 1000] {
                let msg = &data[..len];
                let (mut ours, mut theirs) = (Md5::new(), md5::Md5::new());
                for p in msg.chunks(piece) {
                    ours.update(p);
                    theirs.update(p);
                    let full = theirs.serialize();
                    let (state, pending) = ours.save();
                    assert_eq!(&state[..], &full[..MD5_STATE_LEN], "{len}/{piece}");
                    assert_eq!(pending, usize::from(full[MD5_STATE_LEN]));
                }
                assert_eq!(ours.finish()[..], theirs.finalize()[..], "{len}/{piece}");
            }
        }
    }

    /// The compression alone against md-5's, from random states over one to three random blocks.
    #[test]
    fn md5_compress_matches_md5_crate() {
        let mut x: u64 = 0x0123_4567_89ab_cdef;
        let mut rnd = move || {
            x = crate::num::xorshift64(x);
            x as u32
        };
        for n in [1, 2, 3].into_iter().cycle().take(300) {
            let state: [u32; 4] = core::array::from_fn(|_| rnd());
            let blocks: std::vec::Vec<Block> = (0..n)
                .map(|_| core::array::from_fn(|_| rnd() as u8))
                .collect();
            let (mut ours, mut theirs) = (state, state);
            md5_compress(&mut ours, &blocks);
            md5::block_api::compress(&mut theirs, &blocks);
            assert_eq!(ours, theirs);
        }
    }

    /// Saving after any byte and restoring, then feeding again what came after the last whole
    /// block, gives the digest of the whole image (what a resume does).
    #[test]
    fn md5_resumes_from_a_saved_state() {
        let data: std::vec::Vec<u8> = (0..700u32).map(|i| (i ^ (i >> 3)) as u8).collect();
        let want = md5_hex(&data);
        for cut in [0, 1, 63, 64, 65, 128, 300, 699, 700] {
            let mut m = Md5::new();
            m.update(&data[..cut]);
            let (state, pending) = m.save();
            let mut resumed = Md5::restore(&state);
            resumed.update(&data[cut - pending..]);
            assert_eq!(hex(&resumed.finish()), want, "{cut}");
        }
    }

    /// RFC 2202 (HMAC-SHA1) and RFC 4231 (HMAC-SHA256) test cases 1 and 2, and a key of exactly one block.
    #[test]
    fn hmac_vectors() {
        let k20 = [0x0bu8; 20];
        assert_eq!(
            mac(Hash::Sha1, &k20, b"Hi There"),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            mac(Hash::Sha256, &k20, b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            mac(Hash::Sha1, b"Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            mac(Hash::Sha256, b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key of exactly one block is used as is; one byte more is refused.
        assert_eq!(
            mac(Hash::Sha1, &[0xaa; 64], b"m"),
            "bd01311a10476f953002befd059c9b54a12c6ade"
        );
        assert_eq!(
            mac(Hash::Sha256, &[0xaa; 64], b"m"),
            "cdb5d9cab7afaa5ababb13c058c1744bfc88f7b7fc848616dbb904d3fc058a1e"
        );
        let mut out = [0u8; 32];
        assert_eq!(hmac(Hash::Sha256, &[0xaa; 65], b"m", &mut out), None);
    }
}
