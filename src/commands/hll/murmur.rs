//! The element hash of Redis's HyperLogLog: MurmurHash64A with seed `0xadc83b19`, read
//! little-endian on every platform (behaves like `MurmurHash64A()` and `hllPatLen()`).

use super::value::{P, REGISTERS};

const SEED: u64 = 0xadc8_3b19;
const M: u64 = 0xc6a4_a793_5bd1_e995;
const R: u32 = 47;

/// MurmurHash2, 64-bit version (Austin Appleby's `MurmurHash64A`).
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    // The C code takes the length as an `int`; elements never reach 2^31 bytes.
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for w in words.by_ref() {
        let mut k = u64::from_le_bytes(w.try_into().expect("invariant: 8-byte chunk"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        h ^= k;
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Where an element lands: its register (the hash's low 14 bits) and the length of the
/// `0…01` pattern in the remaining 50 bits, counting the final 1 (1..=51).
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash as usize) & (REGISTERS - 1);
    // A sentinel bit above the 50 used bits bounds the count at 51.
    let rest = (hash >> P) | (1u64 << (64 - P));
    (index, rest.trailing_zeros() as u8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from Redis's C `MurmurHash64A()` with the HLL seed: empty input,
    /// tails of every length class, whole words, and words plus a tail.
    #[test]
    fn known_hashes() {
        let cases: [(&[u8], u64); 7] = [
            (b"", 0xd8df_ea65_85bc_9732),
            (b"a", 0x53d2_470a_9b43_b1a7),
            (b"ab", 0x0eae_d676_4371_42cf),
            (b"abcdefg", 0x22fe_613b_b08c_9602),
            (b"abcdefgh", 0xf3a6_5df5_5991_4567),
            (b"hello world!", 0x0fc4_4401_1f57_220c),
            (b"0123456789abcdefXYZ", 0x0301_0947_24c4_601e),
        ];
        for (input, want) in cases {
            assert_eq!(murmur64a(input, SEED), want, "{input:?}");
        }
    }

    /// Checked against the registers Redis sets for these elements.
    #[test]
    fn known_patterns() {
        // A run over 32, which turns a sparse HLL dense.
        assert_eq!(pattern(b"x4433771783"), (5455, 34));
        assert_eq!(pattern(b"a"), (12711, 2));
        assert_eq!(pattern(b"hello"), (9216, 1));
    }

    #[test]
    fn pattern_is_bounded() {
        for i in 0..10_000u32 {
            let (index, count) = pattern(&i.to_le_bytes());
            assert!(index < REGISTERS);
            assert!((1..=51).contains(&count));
        }
    }
}
