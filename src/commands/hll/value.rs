//! An HLL value: Redis's exact bytes, a 16-byte header followed by the registers in the
//! sparse or the dense encoding (behaves like `struct hllhdr`, `isHLLObjectOrReply()`,
//! `createHLLObject()`, `hllAdd()`, `hllMerge()`, `hllSparseToDense()` and `hllCount()`).
//!
//! ```text
//! +------+----------+-----------+---------------------------+-----------
//! | HYLL | encoding | 3 unused  | cardinality (8 bytes, LE) | registers
//! +------+----------+-----------+---------------------------+-----------
//! ```
//!
//! The encoding byte is 0 for dense, 1 for sparse. The top bit of the last cardinality
//! byte marks the cached cardinality stale; every change to the registers sets it, and a
//! PFCOUNT on one key recomputes and clears it. The unused bytes are kept as found (a
//! conversion to dense copies the whole header).

use super::estimate;
use super::{dense, murmur, sparse};

/// Bits of the hash that choose the register.
pub const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Length of the header.
pub const HEADER_LEN: usize = 16;
/// Length of a whole dense HLL.
pub const DENSE_LEN: usize = HEADER_LEN + dense::BYTES;

const MAGIC: &[u8; 4] = b"HYLL";
const ENCODING_AT: usize = 4;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// The cached cardinality's bytes, and the byte holding its stale bit.
const CARD: std::ops::Range<usize> = 8..16;
const STALE_AT: usize = 15;
const STALE_BIT: u8 = 0x80;

/// How many registers hold each value (0..=63).
pub type Histogram = [u32; 64];

/// A sparse HLL whose opcodes do not cover exactly the 16384 registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Whether a string holds an HLL Redis accepts: the magic, a known encoding, and for
/// dense the exact length. Sparse opcodes are only checked when they are read.
pub fn is_hll(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && bytes.starts_with(MAGIC)
        && match bytes[ENCODING_AT] {
            DENSE => bytes.len() == DENSE_LEN,
            SPARSE => true,
            _ => false,
        }
}

/// Whether an HLL (checked by [`is_hll`]) is dense.
pub fn is_dense(hll: &[u8]) -> bool {
    hll[ENCODING_AT] == DENSE
}

/// An empty HLL, sparse, with a valid cached cardinality of 0.
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + 2);
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&[SPARSE, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    sparse::push_empty(&mut v);
    v
}

/// The cached cardinality, unless it is stale.
pub fn cached_cardinality(hll: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(hll[CARD].try_into().expect("invariant: 8 bytes"));
    (hll[STALE_AT] & STALE_BIT == 0).then_some(card)
}

/// Stores a computed cardinality in the header.
pub fn set_cached_cardinality(hll: &mut [u8], card: u64) {
    hll[CARD].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
pub fn invalidate_cache(hll: &mut [u8]) {
    hll[STALE_AT] |= STALE_BIT;
}

/// Adds an element; returns whether a register changed (behaves like `hllAdd()`).
pub fn add(hll: &mut Vec<u8>, element: &[u8], sparse_max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = murmur::pattern(element);
    raise(hll, index, count, sparse_max_bytes)
}

/// Raises register `index` to `value` if it is lower; returns whether it changed, and
/// then marks the cache stale (behaves like `hllDenseSet()` / `hllSparseSet()`).
pub fn raise(
    hll: &mut Vec<u8>,
    index: usize,
    value: u8,
    sparse_max_bytes: usize,
) -> Result<bool, Corrupt> {
    let mut cursor = sparse::Cursor::start(HEADER_LEN);
    raise_from(hll, &mut cursor, index, value, sparse_max_bytes)
}

/// Raises each register to its value in `max` (one byte per register), one by one in
/// index order as PFMERGE does, so a sparse HLL grows (or turns dense) as in Redis.
pub fn raise_all(hll: &mut Vec<u8>, max: &[u8], sparse_max_bytes: usize) -> Result<(), Corrupt> {
    let mut cursor = sparse::Cursor::start(HEADER_LEN);
    for (index, &value) in max.iter().enumerate().filter(|(_, v)| **v > 0) {
        raise_from(hll, &mut cursor, index, value, sparse_max_bytes)?;
    }
    Ok(())
}

/// [`raise`], with a sparse search resuming at `cursor`. A sparse HLL turns dense when
/// the value does not fit a sparse opcode or the string would grow past
/// `sparse_max_bytes`.
fn raise_from(
    hll: &mut Vec<u8>,
    cursor: &mut sparse::Cursor,
    index: usize,
    value: u8,
    sparse_max_bytes: usize,
) -> Result<bool, Corrupt> {
    let changed = if is_dense(hll) {
        dense::raise(&mut hll[HEADER_LEN..], index, value)
    } else {
        match sparse::raise(hll, cursor, index, value, sparse_max_bytes)? {
            sparse::Raised::Unchanged => false,
            sparse::Raised::Changed => true,
            sparse::Raised::NeedsDense => {
                to_dense(hll)?;
                dense::raise(&mut hll[HEADER_LEN..], index, value)
            }
        }
    };
    if changed {
        invalidate_cache(hll);
    }
    Ok(changed)
}

/// Rewrites a sparse HLL as dense, header copied (behaves like `hllSparseToDense()`).
pub fn to_dense(hll: &mut Vec<u8>) -> Result<(), Corrupt> {
    if is_dense(hll) {
        return Ok(());
    }
    let mut out = vec![0u8; DENSE_LEN];
    out[..HEADER_LEN].copy_from_slice(&hll[..HEADER_LEN]);
    out[ENCODING_AT] = DENSE;
    let regs = &mut out[HEADER_LEN..];
    sparse::for_each_run(&hll[HEADER_LEN..], |first, value, len| {
        (first..first + len).for_each(|i| dense::set(regs, i, value));
    })?;
    *hll = out;
    Ok(())
}

/// Raises each of `max` (one byte per register) to the HLL's register (behaves like
/// `hllMerge()`).
pub fn merge_into(max: &mut [u8], hll: &[u8]) -> Result<(), Corrupt> {
    let body = &hll[HEADER_LEN..];
    if is_dense(hll) {
        dense::merge_into(max, body);
        return Ok(());
    }
    sparse::for_each_run(body, |first, value, len| {
        for m in &mut max[first..first + len] {
            *m = (*m).max(value);
        }
    })
}

/// The estimated cardinality of an HLL, computed from its registers.
pub fn cardinality(hll: &[u8]) -> Result<u64, Corrupt> {
    let body = &hll[HEADER_LEN..];
    let mut hist: Histogram = [0; 64];
    if is_dense(hll) {
        dense::histogram(body, &mut hist);
    } else {
        let mut nonzero = 0;
        sparse::for_each_run(body, |_, value, len| {
            hist[usize::from(value)] += len as u32;
            nonzero += len;
        })?;
        hist[0] = (REGISTERS - nonzero) as u32;
    }
    Ok(estimate::cardinality(&hist))
}

/// The estimated cardinality of a plain register array (one byte per register), as
/// PFCOUNT of several keys builds it.
pub fn cardinality_of_registers(max: &[u8]) -> u64 {
    let mut hist: Histogram = [0; 64];
    max.iter().for_each(|&r| hist[usize::from(r)] += 1);
    estimate::cardinality(&hist)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    const MAX: usize = 3000;

    fn registers_of(hll: &[u8]) -> Vec<u8> {
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, hll).expect("valid");
        max
    }

    #[test]
    fn empty_hll_bytes() {
        let v = new_sparse();
        assert_eq!(v, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert!(is_hll(&v));
        assert_eq!(cached_cardinality(&v), Some(0));
        assert_eq!(cardinality(&v), Ok(0));
    }

    #[test]
    fn header_checks() {
        assert!(!is_hll(b"HYLL"));
        assert!(!is_hll(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0"));
        assert!(!is_hll(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0"));
        assert!(is_hll(b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0"));
        // Dense must have the exact length.
        assert!(!is_hll(b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"));
        let mut d = new_sparse();
        to_dense(&mut d).unwrap();
        assert!(is_hll(&d));
        d.push(0);
        assert!(!is_hll(&d));
    }

    #[test]
    fn cache_round_trip() {
        let mut v = new_sparse();
        invalidate_cache(&mut v);
        assert_eq!(cached_cardinality(&v), None);
        set_cached_cardinality(&mut v, 12345);
        assert_eq!(cached_cardinality(&v), Some(12345));
        assert_eq!(&v[8..16], &12345u64.to_le_bytes());
    }

    /// The same adds to a sparse HLL (promoted along the way) and to a dense one give
    /// the same registers and the same count; the sparse one turns dense exactly when
    /// it outgrows the limit.
    #[test]
    fn sparse_and_dense_agree() {
        let mut rng = StdRng::seed_from_u64(42);
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        let mut model = vec![0u8; REGISTERS];
        for i in 0..20_000u32 {
            let element = rng.random::<u64>().to_le_bytes();
            let (index, count) = murmur::pattern(&element);
            let grows = count > model[index];
            model[index] = model[index].max(count);
            assert_eq!(add(&mut sparse, &element, MAX), Ok(grows), "element {i}");
            assert_eq!(add(&mut dense, &element, MAX), Ok(grows));
            assert!(is_dense(&sparse) || sparse.len() <= MAX);
            if i % 997 == 0 {
                assert_eq!(registers_of(&sparse), model);
                assert_eq!(cardinality(&sparse), cardinality(&dense));
            }
        }
        assert!(is_dense(&sparse));
        assert_eq!(sparse, dense);
        assert_eq!(
            cardinality_of_registers(&model),
            cardinality(&dense).unwrap()
        );
    }

    #[test]
    fn conversion_keeps_registers_and_header() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut v = new_sparse();
        for _ in 0..300 {
            add(&mut v, &rng.random::<u32>().to_le_bytes(), MAX).unwrap();
        }
        assert!(!is_dense(&v));
        v[5] = 0xAA;
        set_cached_cardinality(&mut v, 77);
        let before = registers_of(&v);
        let count = cardinality(&v).unwrap();
        to_dense(&mut v).unwrap();
        assert_eq!(v.len(), DENSE_LEN);
        assert_eq!(v[5], 0xAA);
        assert_eq!(cached_cardinality(&v), Some(77));
        assert_eq!(registers_of(&v), before);
        assert_eq!(cardinality(&v), Ok(count));
    }

    #[test]
    fn a_value_over_32_promotes() {
        let mut v = new_sparse();
        assert_eq!(raise(&mut v, 10, 33, MAX), Ok(true));
        assert!(is_dense(&v));
        assert_eq!(dense::get(&v[HEADER_LEN..], 10), 33);
        assert_eq!(cached_cardinality(&v), None);
    }

    #[test]
    fn corrupt_sparse_is_reported() {
        let mut v = new_sparse();
        v.truncate(HEADER_LEN);
        assert_eq!(cardinality(&v), Err(Corrupt));
        assert_eq!(add(&mut v, b"x", MAX), Err(Corrupt));
        assert_eq!(to_dense(&mut v), Err(Corrupt));
        let mut max = vec![0; REGISTERS];
        assert_eq!(merge_into(&mut max, &v), Err(Corrupt));
    }
}
