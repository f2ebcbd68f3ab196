//! LZF, the compression RDB files and DUMP payloads use for strings (`rdbcompression yes`).
//!
//! The stream is a sequence of items, each led by a control byte `c`:
//! - `c < 32`: a literal run, the next `c + 1` bytes are copied as they are;
//! - otherwise a back reference: length `c >> 5` (when 7, plus the next byte), then the
//!   offset's low byte; it copies `length + 2` bytes starting `((c & 0x1f) << 8 | low) + 1`
//!   bytes back in the output (the copy may overlap what it writes).
//!
//! Any stream of this shape decompresses, but the compressor reproduces the choices of the
//! liblzf build Redis 7.0 ships (`HLOG 16`, `VERY_FAST`): the same 3-byte hash and table,
//! matches only with an earlier position that is not the first byte, the same length scan,
//! the same two positions re-hashed after a match and the same output-size checks. So a
//! compressed string in our RDB files and DUMP payloads is byte-identical to Redis's.

/// The longest literal run one control byte can lead.
const MAX_LIT: usize = 32;
/// The furthest a back reference can reach (as `off = distance - 1 < MAX_OFF`).
const MAX_OFF: usize = 1 << 13;
/// The longest match one back reference can copy.
const MAX_REF: usize = (1 << 8) + (1 << 3);
const HASH_SIZE: usize = 1 << 16;

/// The hash of the three bytes at the low end of `h` (liblzf's `IDX()`).
fn slot(h: u32) -> usize {
    ((h >> 8).wrapping_sub(h.wrapping_mul(5)) as usize) & (HASH_SIZE - 1)
}

/// Compresses `input` into at most `out_len` bytes, or None when liblzf would give up (it
/// then returns 0 and Redis stores the string as it is). Redis passes `len - 4`.
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return None;
    }
    // A few bytes of slack: the final literals are written after a check that leaves up to
    // three bytes, as liblzf does.
    let mut out = vec![0u8; out_len + 8];
    // Each slot holds a position + 1; 0 is empty.
    let mut table = vec![0u32; HASH_SIZE];
    let mut ip = 0;
    // The pending literal run's length; its control byte sits at `op - lit - 1`.
    let mut lit = 0;
    let mut op = 1;
    let mut hval = if in_len >= 2 {
        (u32::from(input[0]) << 8) | u32::from(input[1])
    } else {
        0
    };
    while ip + 2 < in_len {
        hval = (hval << 8) | u32::from(input[ip + 2]);
        let h = slot(hval);
        let reference = (table[h] as usize).checked_sub(1);
        table[h] = (ip + 1) as u32;
        let found = reference.filter(|&r| {
            r > 0 && r < ip && ip - r - 1 < MAX_OFF && input[r..r + 3] == input[ip..ip + 3]
        });
        let Some(r) = found else {
            if op >= out_len {
                return None;
            }
            push_literal(&mut out, &mut op, &mut lit, input[ip]);
            ip += 1;
            continue;
        };
        let off = ip - r - 1;
        let len = match_len(input, r, ip);
        if op + 4 >= out_len && op - usize::from(lit == 0) + 4 >= out_len {
            return None;
        }
        out[op - lit - 1] = (lit as u8).wrapping_sub(1);
        op -= usize::from(lit == 0);
        // The length field counts the copied bytes minus 2.
        let field = len - 2;
        if field < 7 {
            out[op] = ((off >> 8) + (field << 5)) as u8;
            op += 1;
        } else {
            out[op] = ((off >> 8) + (7 << 5)) as u8;
            out[op + 1] = (field - 7) as u8;
            op += 2;
        }
        out[op] = off as u8;
        op += 2;
        lit = 0;
        ip += len;
        if ip + 2 >= in_len {
            break;
        }
        // Hash the last two positions the match covered.
        ip -= 2;
        hval = (u32::from(input[ip]) << 8) | u32::from(input[ip + 1]);
        for _ in 0..2 {
            hval = (hval << 8) | u32::from(input[ip + 2]);
            table[slot(hval)] = (ip + 1) as u32;
            ip += 1;
        }
    }
    if op + 3 > out_len {
        return None;
    }
    for &b in &input[ip..] {
        push_literal(&mut out, &mut op, &mut lit, b);
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// Appends a literal byte to the open run, closing the run when it is full.
fn push_literal(out: &mut [u8], op: &mut usize, lit: &mut usize, b: u8) {
    out[*op] = b;
    *op += 1;
    *lit += 1;
    if *lit == MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

/// How many bytes at `ip` repeat those at `r` (at least the 3 already compared), scanned
/// as liblzf scans: 16 at a time while far from the end, then up to its limit.
fn match_len(input: &[u8], r: usize, ip: usize) -> usize {
    let max = (input.len() - ip - 2).min(MAX_REF);
    let mut len = 2;
    if max > 16 {
        for _ in 0..16 {
            len += 1;
            if input[r + len] != input[ip + len] {
                return len;
            }
        }
    }
    loop {
        len += 1;
        if len >= max || input[r + len] != input[ip + len] {
            return len;
        }
    }
}

/// Decompresses `input`, which must expand to exactly `expected_len` bytes (RDB stores the
/// length beside the data); None on any malformed stream.
pub fn decompress(input: &[u8], expected_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(expected_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let run = input.get(i..i + ctrl + 1)?;
            if out.len() + run.len() > expected_len {
                return None;
            }
            out.extend_from_slice(run);
            i += ctrl + 1;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            let len = len + 2;
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            if back > out.len() || out.len() + len > expected_len {
                return None;
            }
            let start = out.len() - back;
            // Byte by byte: an overlapping reference repeats what it has just written.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == expected_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::SmallRng};

    fn round_trip(data: &[u8]) {
        if let Some(c) = compress(data, data.len()) {
            assert!(c.len() <= data.len());
            assert_eq!(decompress(&c, data.len()).as_deref(), Some(data));
        }
    }

    #[test]
    fn repetitive_data_compresses_and_round_trips() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(20);
        let c = compress(&data, data.len()).expect("compressible");
        assert!(c.len() < data.len() / 10, "{} bytes", c.len());
        assert_eq!(decompress(&c, data.len()), Some(data));
        let zeros = vec![0u8; 100_000];
        let c = compress(&zeros, zeros.len()).expect("compressible");
        assert_eq!(decompress(&c, zeros.len()), Some(zeros));
    }

    #[test]
    fn random_inputs_round_trip() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..300 {
            let len = rng.random_range(0..5000);
            let alphabet = rng.random_range(1..=255u8);
            let data: Vec<u8> = (0..len).map(|_| rng.random_range(0..=alphabet)).collect();
            round_trip(&data);
        }
    }

    #[test]
    fn incompressible_data_is_refused() {
        let mut rng = SmallRng::seed_from_u64(9);
        let data: Vec<u8> = (0..1000).map(|_| rng.random()).collect();
        assert_eq!(compress(&data, data.len() - 4), None);
    }

    /// Streams from Redis 7.0 DUMP payloads: 40 × "a", and "hello world" four times.
    #[test]
    fn decodes_redis_output_and_rejects_bad_streams() {
        let a40 = [0x01, b'a', b'a', 0xe0, 0x1b, 0x00, 0x01, b'a', b'a'];
        assert_eq!(decompress(&a40, 40), Some(vec![b'a'; 40]));
        let mut hello = vec![0x0c];
        hello.extend_from_slice(b"hello world h");
        hello.extend_from_slice(&[0xe0, 0x17, 0x0b, 0x01, b'l', b'd']);
        let text = "hello world hello world hello world hello world";
        assert_eq!(decompress(&hello, 47).as_deref(), Some(text.as_bytes()));
        assert_eq!(decompress(&a40, 39), None, "longer than expected");
        assert_eq!(decompress(&a40, 41), None, "short of the expected length");
        assert_eq!(decompress(&[0x05, b'a'], 6), None, "run past the end");
        assert_eq!(
            decompress(&[0x20, 0x00], 3),
            None,
            "reference before the start"
        );
        assert_eq!(decompress(&[0xe0], 9), None, "truncated reference");
    }
}
