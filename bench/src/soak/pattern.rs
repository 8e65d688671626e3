//! The seeded byte pattern every soak flow sends, so the receiver can check each byte it gets
//! back without keeping a copy of what was sent.
//!
//! Byte `i` of the stream with `seed` is byte `i % 8` of `splitmix64(seed ^ (i / 8))`: any
//! window of the stream can be produced or checked on its own, from its offset alone.

/// `splitmix64`: a fast, well-mixed 64-bit hash (Steele, Lea and Flood).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The byte at `offset` of the stream `seed`.
fn byte_at(seed: u64, offset: u64) -> u8 {
    splitmix64(seed ^ (offset / 8)).to_le_bytes()[(offset % 8) as usize]
}

/// Fills `buf` with the stream `seed` from `offset` on.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut at = offset;
    let mut rest = &mut buf[..];
    // Up to the next multiple of 8 byte by byte, then whole words.
    while !at.is_multiple_of(8) && !rest.is_empty() {
        rest[0] = byte_at(seed, at);
        rest = &mut rest[1..];
        at += 1;
    }
    let mut words = rest.chunks_exact_mut(8);
    for word in &mut words {
        word.copy_from_slice(&splitmix64(seed ^ (at / 8)).to_le_bytes());
        at += 8;
    }
    for byte in words.into_remainder() {
        *byte = byte_at(seed, at);
        at += 1;
    }
}

/// The stream `seed` from `offset`, `len` bytes long.
pub fn bytes(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    fill(seed, offset, &mut buf);
    buf
}

/// The first offset (relative to `buf`) where `buf` differs from the stream `seed` at
/// `offset`, or `None` when every byte matches.
pub fn first_mismatch(seed: u64, offset: u64, buf: &[u8]) -> Option<usize> {
    let mut expected = [0u8; 4096];
    let mut done = 0;
    for chunk in buf.chunks(expected.len()) {
        let want = &mut expected[..chunk.len()];
        fill(seed, offset + done as u64, want);
        if let Some(i) = chunk.iter().zip(want.iter()).position(|(a, b)| a != b) {
            return Some(done + i);
        }
        done += chunk.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_window_equals_the_same_bytes_of_the_whole_stream() {
        let whole = bytes(42, 0, 100);
        for start in 0..20 {
            for len in [0, 1, 7, 8, 9, 33] {
                assert_eq!(
                    bytes(42, start as u64, len),
                    whole[start..start + len],
                    "window {start}+{len}"
                );
            }
        }
    }

    #[test]
    fn seeds_give_different_streams() {
        assert_ne!(bytes(1, 0, 32), bytes(2, 0, 32));
    }

    #[test]
    fn a_changed_byte_is_found_at_its_offset() {
        let mut buf = bytes(7, 1000, 10_000);
        assert_eq!(first_mismatch(7, 1000, &buf), None);
        buf[5000] ^= 1;
        assert_eq!(first_mismatch(7, 1000, &buf), Some(5000));
        assert!(first_mismatch(8, 1000, &buf[..16]).is_some());
    }
}
