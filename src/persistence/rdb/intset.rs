//! Intsets: the RDB form of a set of integers (behaves like Redis's intset.c, as far as the
//! bytes go). Layout: element width in bytes (u32 LE: 2, 4 or 8), count (u32 LE), then the
//! values in ascending order, little-endian, each in that width.

/// Encodes ascending, distinct `values` in the narrowest width that holds them all.
pub fn encode(values: &[i64]) -> Vec<u8> {
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + values.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The values of an intset; None when the header, the size or the order is wrong (Redis's
/// `intsetValidateIntegrity()` with deep checks).
pub fn decode(b: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width)? != b.len() - 8 {
        return None;
    }
    let values: Vec<i64> = b[8..]
        .chunks_exact(width)
        .map(|c| {
            let mut v = [0u8; 8];
            v[..width].copy_from_slice(c);
            // Sign-extend from the stored width.
            let shift = 64 - 8 * width as u32;
            (i64::from_le_bytes(v) << shift) >> shift
        })
        .collect();
    values.windows(2).all(|w| w[0] < w[1]).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SADD s 1 2 3` then DUMP in Redis 7.0: width 2, three values.
    #[test]
    fn small_sets_match_redis() {
        assert_eq!(
            encode(&[1, 2, 3]),
            [2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 3, 0]
        );
        assert_eq!(encode(&[-70000, 5])[0], 4);
        assert_eq!(encode(&[i64::MIN])[0], 8);
    }

    #[test]
    fn round_trips_and_rejects_bad_input() {
        for values in [
            vec![],
            vec![-5, 0, 7],
            vec![-70000, 1, 70000],
            vec![i64::MIN, -1, i64::MAX],
        ] {
            assert_eq!(decode(&encode(&values)), Some(values));
        }
        let good = encode(&[1, 2, 3]);
        assert_eq!(decode(&good[..good.len() - 1]), None, "short");
        let mut unsorted = good.clone();
        unsorted[8] = 9;
        assert_eq!(decode(&unsorted), None);
        let mut bad_width = good;
        bad_width[0] = 3;
        assert_eq!(decode(&bad_width), None);
        assert_eq!(decode(&[2, 0, 0]), None);
    }
}
