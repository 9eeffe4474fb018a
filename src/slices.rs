//! Slice copies and moves without panic paths.
//!
//! At opt-level z, `copy_from_slice`, `copy_within` and `rotate_left` stay out-of-line calls that
//! can panic with a formatted message (which pulls `core::fmt` into the firmware) and bring
//! `memmove`; these loops do the same jobs with neither. Byte searches skip core's `memchr`.

/// Copies as much of `src` as fits into the start of `dst`; returns the bytes copied. LLVM turns
/// the loop into one `memcpy`.
pub fn copy_prefix(dst: &mut [u8], src: &[u8]) -> usize {
    let mut n = 0;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
        n += 1;
    }
    n
}

/// `s.contains(&b)` without core's word-at-a-time `memchr` (larger): every slice searched here
/// is a short header, URL or topic.
#[allow(clippy::manual_contains)] // `contains` is what this avoids
pub fn has_byte(s: &[u8], b: u8) -> bool {
    s.iter().any(|&c| c == b)
}

/// Moves `buf[from..end]` to the front of `buf` (`copy_within(from..end, 0)`); out-of-range bytes
/// are skipped. A forward byte loop: what is moved is a partial packet or head, never bulk data.
pub fn move_to_front(buf: &mut [u8], from: usize, end: usize) {
    for i in from..end {
        if let Some(b) = buf.get(i).copied()
            && let Some(d) = buf.get_mut(i - from)
        {
            *d = b;
        }
    }
}

/// `rotate_left(1)` by adjacent swaps, for the few-entry queues.
pub fn rotate_left_one<T>(a: &mut [T]) {
    for i in 1..a.len() {
        if let Some([x, y]) = a.get_mut(i - 1..=i) {
            core::mem::swap(x, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_moves() {
        let mut dst = [0u8; 4];
        assert_eq!(copy_prefix(&mut dst, b"abcdef"), 4);
        assert_eq!(&dst, b"abcd");
        assert_eq!(copy_prefix(&mut dst, b"xy"), 2);
        assert_eq!(&dst, b"xycd");

        // Overlapping (remainder longer than the offset) and disjoint moves.
        let mut buf = *b"0123456789";
        move_to_front(&mut buf, 2, 9);
        assert_eq!(&buf, b"2345678789");
        let mut buf = *b"0123456789";
        move_to_front(&mut buf, 7, 10);
        assert_eq!(&buf, b"7893456789");
        // Past the end: only what exists moves.
        let mut buf = *b"0123";
        move_to_front(&mut buf, 2, 9);
        assert_eq!(&buf, b"2323");

        let mut q = [1, 2, 3, 4];
        rotate_left_one(&mut q);
        assert_eq!(q, [2, 3, 4, 1]);
        let mut one = [7];
        rotate_left_one(&mut one);
        assert_eq!(one, [7]);
        rotate_left_one::<u8>(&mut []);
    }
}
