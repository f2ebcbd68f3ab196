//! The cardinality estimate from a register histogram: Otmar Ertl's improved estimator
//! ("New cardinality estimation algorithms for HyperLogLog sketches", arXiv:1702.01284),
//! as Redis 7.0 computes it in `hllCount()`, `hllSigma()` and `hllTau()`.
//!
//! With m = 16384 registers, q = 50 hash bits after the index, and C[k] the number of
//! registers holding k:
//!
//! ```text
//! z = m τ(1 − C[q+1]/m)
//! for k = q down to 1: z = (z + C[k]) / 2
//! z = z + m σ(C[0]/m)
//! E = round(α∞ m² / z),   α∞ = 1 / (2 ln 2)
//! ```
//!
//! The series for σ and τ run until the sum stops changing, in the same order of
//! operations as the C code, so the result is the same to the last bit.

use super::value::{Histogram, P, REGISTERS};

/// 0.5 / ln 2 (Redis writes 0.721347520444481703680: the same double).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Hash bits left after the register index.
const Q: usize = 64 - P as usize;

/// σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k−1).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))² 2^−k) / 3.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        // C's `pow(1 - x, 2)`, which compilers turn into this product.
        let d = 1.0 - x;
        z -= d * d * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// The estimated cardinality.
pub fn cardinality(hist: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(hist[Q + 1])) / m);
    for &count in hist[1..=Q].iter().rev() {
        z += f64::from(count);
        z *= 0.5;
    }
    z += m * sigma(f64::from(hist[0]) / m);
    llround(ALPHA_INF * m * m / z) as u64
}

/// C's `llroundl()` on x86-64: halves away from zero, and `LLONG_MIN` for a value out of
/// range. COMPAT(redis 7.0): registers all above 51 (only a hand-made dense string has
/// them) make z zero and the estimate infinite, which Redis reports as 2^63.
fn llround(x: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_finite() && x.abs() < LIMIT {
        x.round() as i64
    } else {
        i64::MIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(usize, u32)]) -> Histogram {
        let mut h = [0; 64];
        for &(k, n) in pairs {
            h[k] = n;
        }
        h
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(cardinality(&with(&[(0, REGISTERS as u32)])), 0);
    }

    #[test]
    fn one_register_is_one() {
        assert_eq!(cardinality(&with(&[(0, REGISTERS as u32 - 1), (1, 1)])), 1);
    }

    #[test]
    fn registers_past_51_are_not_counted() {
        let h = with(&[(0, REGISTERS as u32 - 1), (60, 1)]);
        assert_eq!(
            cardinality(&h),
            cardinality(&with(&[(0, REGISTERS as u32 - 1)]))
        );
        assert_eq!(cardinality(&with(&[(63, REGISTERS as u32)])), 1 << 63);
    }
}
