//! The dense HLL encoding: 16384 registers of 6 bits each, packed from the least
//! significant bit of each byte upwards, 12288 bytes in all (behaves like Redis's
//! `HLL_DENSE_GET_REGISTER` / `HLL_DENSE_SET_REGISTER`, `hllDenseSet()` and
//! `hllDenseRegHisto()`).
//!
//! Register `i` starts at bit `6 i`: byte `6 i / 8`, shifted by `6 i mod 8`, and spills
//! into the next byte when the shift is over 2. Every 3 bytes hold exactly 4 registers.

use super::value::{Histogram, REGISTERS};

const BITS: usize = 6;
const MASK: u16 = (1 << BITS) - 1;

/// Bytes of the register area.
pub const BYTES: usize = REGISTERS * BITS / 8;

/// Byte and bit position of register `index`.
fn position(index: usize) -> (usize, u32) {
    let bit = index * BITS;
    (bit / 8, (bit % 8) as u32)
}

/// The value of register `index` (< 16384) in a register area of [`BYTES`] bytes.
pub fn get(regs: &[u8], index: usize) -> u8 {
    let (byte, shift) = position(index);
    // The last register ends inside the last byte; Redis reads the string's terminator.
    let pair = u16::from(regs[byte]) | u16::from(regs.get(byte + 1).copied().unwrap_or(0)) << 8;
    ((pair >> shift) & MASK) as u8
}

/// Sets register `index` to `value` (< 64).
pub fn set(regs: &mut [u8], index: usize, value: u8) {
    let (byte, shift) = position(index);
    let next = regs.get(byte + 1).copied().unwrap_or(0);
    let mut pair = u16::from(regs[byte]) | u16::from(next) << 8;
    pair = (pair & !(MASK << shift)) | (u16::from(value) & MASK) << shift;
    let [lo, hi] = pair.to_le_bytes();
    regs[byte] = lo;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = hi;
    }
}

/// Raises register `index` to `value` if it is lower; returns whether it changed
/// (behaves like `hllDenseSet()`).
pub fn raise(regs: &mut [u8], index: usize, value: u8) -> bool {
    let changed = value > get(regs, index);
    if changed {
        set(regs, index, value);
    }
    changed
}

/// Every register in order, four from each 3 bytes.
pub fn registers(regs: &[u8]) -> impl Iterator<Item = u8> + '_ {
    regs.chunks_exact(3).flat_map(|c| {
        let (b0, b1, b2) = (c[0], c[1], c[2]);
        [
            b0 & 0x3f,
            (b0 >> 6 | b1 << 2) & 0x3f,
            (b1 >> 4 | b2 << 4) & 0x3f,
            b2 >> 2,
        ]
    })
}

/// Adds every register's value to the histogram.
pub fn histogram(regs: &[u8], hist: &mut Histogram) {
    registers(regs).for_each(|r| hist[usize::from(r)] += 1);
}

/// Raises each of `max` to the matching register (behaves like the dense half of
/// `hllMerge()`).
pub fn merge_into(max: &mut [u8], regs: &[u8]) {
    for (m, r) in max.iter_mut().zip(registers(regs)) {
        *m = (*m).max(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn set_and_get_agree_with_a_model() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut regs = vec![0u8; BYTES];
        let mut model = vec![0u8; REGISTERS];
        for _ in 0..50_000 {
            let i = rng.random_range(0..REGISTERS);
            let v = rng.random_range(0..64u8);
            set(&mut regs, i, v);
            model[i] = v;
        }
        for (i, &want) in model.iter().enumerate() {
            assert_eq!(get(&regs, i), want, "register {i}");
        }
        assert!(registers(&regs).eq(model.iter().copied()));
    }

    #[test]
    fn layout_is_lsb_first() {
        let mut regs = vec![0u8; BYTES];
        set(&mut regs, 0, 0b11_1111);
        set(&mut regs, 1, 0b10_0001);
        assert_eq!(&regs[..2], &[0b0111_1111, 0b0000_1000]);
        set(&mut regs, REGISTERS - 1, 63);
        assert_eq!(regs[BYTES - 1], 0b1111_1100);
        assert_eq!(get(&regs, REGISTERS - 1), 63);
    }

    #[test]
    fn raise_only_grows() {
        let mut regs = vec![0u8; BYTES];
        assert!(raise(&mut regs, 5, 3));
        assert!(!raise(&mut regs, 5, 3));
        assert!(!raise(&mut regs, 5, 2));
        assert!(raise(&mut regs, 5, 4));
        assert_eq!(get(&regs, 5), 4);
    }
}
