//! Integer helpers that need no 64-bit division: on a Cortex-M, `u64 / u64` is a large library
//! routine, while every divisor here is small and the CPU divides 32-bit numbers in hardware.

/// `(v / d, v % d)` for a divisor below 2^16, by long division over 16-bit limbs: each step
/// divides a number below `d * 2^16 < 2^32`. `d == 0` gives `(u64::MAX, 0)` rather than a panic.
pub fn div_rem(v: u64, d: u16) -> (u64, u16) {
    let d = u32::from(d);
    if d == 0 {
        return (u64::MAX, 0);
    }
    let (mut q, mut r) = (0u64, 0u32);
    for shift in [48u32, 32, 16, 0] {
        let cur = (r << 16) | ((v >> shift) as u32 & 0xffff);
        q = (q << 16) | u64::from(cur / d);
        r = cur % d;
    }
    (q, r as u16)
}

/// `done * 100 / total`, at most 100 (100 for an empty total): the largest `p` with
/// `p * total <= done * 100`, found bit by bit (the products are 32x32->64-bit multiplies).
pub fn percent(done: u32, total: u32) -> u8 {
    if total == 0 {
        return 100;
    }
    let target = u64::from(done) * 100;
    let mut p = 0u8;
    for bit in (0..7).rev() {
        let t = p | (1 << bit);
        if u64::from(t) * u64::from(total) <= target {
            p = t;
        }
    }
    p.min(100)
}

/// The decimal digits of `v`, right-aligned in `buf` (20 digits hold any u64).
pub fn decimal(buf: &mut [u8; 20], mut v: u64) -> &[u8] {
    let mut n = 0;
    for slot in buf.iter_mut().rev() {
        let (q, r) = div_rem(v, 10);
        *slot = b'0' + r as u8;
        v = q;
        n += 1;
        if v == 0 {
            break;
        }
    }
    buf.get(buf.len() - n..).unwrap_or(&[])
}

/// Milliseconds on the library's internal clock: the low 32 bits of the host's `now_ms`. They
/// wrap every 49.7 days; deadlines are compared wrap-safe, so any span below 24.8 days works, and
/// a Cortex-M handles them in single registers (64-bit time costs flash; docs/size.md).
#[allow(dead_code)] // until the layers move to 32-bit time
pub type Ms = u32;

/// The internal clock reading for the host's 64-bit `now_ms`.
#[allow(dead_code)]
pub fn ms(now_ms: u64) -> Ms {
    now_ms as Ms
}

/// Whether the deadline `at` has come at `now` (wrap-safe).
#[allow(dead_code)]
pub fn reached(now: Ms, at: Ms) -> bool {
    now.wrapping_sub(at) < 1 << 31
}

/// Milliseconds from `now` until `at`, 0 once it has come.
#[allow(dead_code)]
pub fn until(now: Ms, at: Ms) -> Ms {
    if reached(now, at) {
        0
    } else {
        at.wrapping_sub(now)
    }
}

/// The decimal number at `s[*i..]`: at least one digit, no sign, no overflow.
pub(crate) fn number(s: &[u8], i: &mut usize) -> Option<u64> {
    let start = *i;
    let mut v: u64 = 0;
    while let Some(d) = s
        .get(*i)
        .and_then(|b| b.checked_sub(b'0'))
        .filter(|&d| d < 10)
    {
        if v > u64::MAX / 10 {
            return None;
        }
        v = (v * 10).checked_add(u64::from(d))?;
        *i += 1;
    }
    (*i > start).then_some(v)
}

/// Strictly decimal digits, at least one, no sign, no overflow.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    let mut i = 0;
    number(s, &mut i).filter(|_| i == s.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    #[test]
    fn div_rem_matches_the_operators() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let values = (0..2000).map(|_| {
            x = xorshift64(x);
            x >> (x % 64)
        });
        let edges = [
            0,
            1,
            9,
            10,
            65_535,
            65_536,
            u32::MAX as u64,
            1 << 32,
            u64::MAX,
        ];
        for v in values.chain(edges) {
            for d in [1u16, 2, 3, 10, 62, 8001, 15_001, u16::MAX] {
                let d64 = u64::from(d);
                assert_eq!(div_rem(v, d), (v / d64, (v % d64) as u16), "{v} / {d}");
            }
        }
        assert_eq!(div_rem(5, 0), (u64::MAX, 0));
    }

    #[test]
    fn percent_matches_the_operators() {
        let totals = [
            1u32,
            2,
            3,
            7,
            99,
            100,
            101,
            1000,
            175_436,
            1 << 31,
            u32::MAX,
        ];
        for total in totals {
            let mut dones = std::vec![0, 1, total / 3, total / 2, total - 1, total];
            dones.extend((0..=100u64).map(|p| (u64::from(total) * p / 100) as u32));
            for done in dones {
                let want = (u64::from(done) * 100 / u64::from(total)).min(100) as u8;
                assert_eq!(percent(done, total), want, "{done}/{total}");
            }
        }
        assert_eq!(percent(5, 0), 100);
        assert_eq!(percent(u32::MAX, 1), 100);
    }

    #[test]
    fn decimal_digits() {
        for v in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            12345,
            1 << 32,
            u64::MAX / 10,
            u64::MAX,
        ] {
            let mut b = [0u8; 20];
            assert_eq!(decimal(&mut b, v), std::format!("{v}").as_bytes());
        }
    }
    #[test]
    fn deadlines_survive_the_wrap() {
        let near_wrap = ms(0x1_ffff_fff0);
        let at = near_wrap.wrapping_add(0x20);
        assert!(!reached(near_wrap, at));
        assert_eq!(until(near_wrap, at), 0x20);
        assert!(reached(at, at));
        assert!(reached(at.wrapping_add(5), at));
        assert_eq!(until(at.wrapping_add(5), at), 0);
    }
}

/// The next state of xorshift32 (Marsaglia): connection ids and retry jitter, never secrets.
/// 0 stays 0: seed with a non-zero value.
pub fn xorshift32(mut x: u32) -> u32 {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

/// The next state of xorshift64 (Marsaglia, 13/7/17): the unit tests' deterministic
/// pseudo-random inputs, where 32 bits are too few (64-bit operands, bit 40 and up).
#[cfg(test)]
pub fn xorshift64(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// The longest wait [`backoff`] gives (before jitter).
pub const MAX_BACKOFF_MS: u32 = 60_000;

/// Exponential backoff for every retry in the library: `base_ms` doubled `step` times (at most
/// 6), at most [`MAX_BACKOFF_MS`], plus up to a quarter of that from `rnd` (so a fleet does not
/// retry in step; 0 for none). `base_ms` must stay below 2^26 (the callers' are at most 60 s):
/// a shift, not a checked multiply, to keep flash. Not inlined: one copy for its three callers.
#[inline(never)]
pub fn backoff(base_ms: u32, step: u32, rnd: u32) -> u32 {
    let d = (base_ms << step.min(6)).min(MAX_BACKOFF_MS);
    d + rnd % (d / 4 + 1)
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    #[test]
    fn xorshift32_is_marsaglias() {
        // The reference sequence from 1 (Marsaglia 2003, the 13/17/5 triple).
        let mut x = 1;
        let seq: [u32; 4] = core::array::from_fn(|_| {
            x = xorshift32(x);
            x
        });
        assert_eq!(seq, [270_369, 67_634_689, 2_647_435_461, 307_599_695]);
        assert_eq!(xorshift32(0), 0);
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_a_quarter() {
        assert_eq!(backoff(1000, 0, 0), 1000);
        assert_eq!(backoff(1000, 1, 0), 2000);
        assert_eq!(backoff(1000, 5, 0), 32_000);
        assert_eq!(backoff(1000, 6, 0), MAX_BACKOFF_MS);
        assert_eq!(backoff(1000, 40, 0), MAX_BACKOFF_MS, "no shift overflow");
        assert_eq!(backoff(60_000, 6, 0), MAX_BACKOFF_MS, "the longest base");
        assert_eq!(backoff(500, 1, 0), 1000);
        assert_eq!(backoff(500, 6, 0), 32_000);
        assert_eq!(backoff(10_000, 1, 0), 20_000);
        // Jitter: up to a quarter, all of the range reachable.
        assert_eq!(backoff(1000, 0, 250), 1250);
        assert_eq!(backoff(1000, 0, 251), 1000);
        assert_eq!(backoff(1000, 0, u32::MAX), 1000 + u32::MAX % 251);
        assert_eq!(backoff(1000, 6, 15_000), MAX_BACKOFF_MS + 15_000);
        assert_eq!(backoff(0, 3, 12345), 0);
    }
}
