//! Numbers as Redis reads and prints them.
//!
//! Doubles print with C's `%.17g` (Rust's shortest round-trip form differs: `1.1` vs
//! `1.1000000000000001`), parse with `strtod` under Redis's `string2d()` rules, and the
//! INCRBYFLOAT family computes in C `long double` like Redis (csrc/longdouble.c).

use std::ffi::c_char;

/// Formats `d` like Redis's `addReplyDouble()`: `inf`, `-inf`, else `%.17g`.
pub fn format_double(d: f64, buf: &mut [u8; 40]) -> &[u8] {
    if d.is_infinite() {
        return if d > 0.0 { b"inf" } else { b"-inf" };
    }
    // SAFETY: the buffer is 40 bytes and snprintf never writes more than its size; the
    // format takes exactly one double.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut c_char,
            buf.len(),
            c"%.17g".as_ptr(),
            d,
        )
    };
    let n = (n.max(0) as usize).min(buf.len() - 1);
    &buf[..n]
}

/// Redis's `string2d()`: the whole input is one `strtod` number, no leading space, no NaN,
/// no overflow to infinity (but "inf" itself is accepted).
pub fn parse_double(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[0] == 0x0b || s[0] == 0x0c {
        return None;
    }
    let (v, consumed, erange) = strtod(s);
    if consumed != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

/// C's `strtod()` on the text before the first NUL byte, which it must use up entirely
/// (so leading spaces pass and an empty text is 0); NaN is refused. Returns the value and
/// whether `strtod` set `ERANGE` (an overflow to ±inf, or an underflow to zero or a
/// subnormal), which some callers refuse and others accept.
pub fn c_strtod(arg: &[u8]) -> Option<(f64, bool)> {
    let text = &arg[..memchr::memchr(0, arg).unwrap_or(arg.len())];
    let (v, consumed, erange) = strtod(text);
    (consumed == text.len() && !v.is_nan()).then_some((v, erange))
}

/// Runs C's `strtod()` on `s` (which must hold no NUL to be read whole): the value, how
/// many bytes it used, and whether it set `ERANGE`.
fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut small = [0u8; 128];
    let mut big;
    let cstr: &mut [u8] = if s.len() < small.len() {
        small[..s.len()].copy_from_slice(s);
        &mut small[..=s.len()]
    } else {
        big = Vec::with_capacity(s.len() + 1);
        big.extend_from_slice(s);
        big.push(0);
        &mut big[..]
    };
    let start = cstr.as_ptr() as *const c_char;
    let mut end: *mut c_char = std::ptr::null_mut();
    // SAFETY: `cstr` is NUL-terminated; strtod reads up to the NUL and sets `end` inside it.
    let (v, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(start, &mut end);
        (v, *libc::__errno_location() == libc::ERANGE)
    };
    let consumed = (end as usize).wrapping_sub(start as usize);
    (v, consumed, erange)
}

#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct LdBox([u8; 16]);

unsafe extern "C" {
    fn tessera_ld_parse(s: *const c_char, len: usize, out: *mut LdBox) -> i32;
    fn tessera_ld_from_i64(n: i64, out: *mut LdBox);
    fn tessera_ld_to_f64(a: *const LdBox) -> f64;
    fn tessera_ld_add(a: *const LdBox, b: *const LdBox, out: *mut LdBox) -> i32;
    fn tessera_ld_format(a: *const LdBox, human: i32, buf: *mut c_char, cap: usize) -> usize;
}

/// A C `long double`, kept opaque.
#[derive(Clone, Copy)]
pub struct LongDouble(LdBox);

impl LongDouble {
    /// Redis's `string2ld()`.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        let mut out = LdBox([0; 16]);
        // SAFETY: the C side reads `len` bytes from `s` and writes one long double to `out`.
        let ok = unsafe { tessera_ld_parse(s.as_ptr() as *const c_char, s.len(), &mut out) };
        (ok == 1).then_some(LongDouble(out))
    }

    pub fn from_i64(n: i64) -> LongDouble {
        let mut out = LdBox([0; 16]);
        // SAFETY: writes one long double to `out`.
        unsafe { tessera_ld_from_i64(n, &mut out) };
        LongDouble(out)
    }

    pub fn to_f64(self) -> f64 {
        // SAFETY: reads the long double written by the C side.
        unsafe { tessera_ld_to_f64(&self.0) }
    }

    /// The sum, or `None` when it is NaN or infinite.
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let mut out = LdBox([0; 16]);
        // SAFETY: reads two long doubles, writes one.
        let ok = unsafe { tessera_ld_add(&self.0, &other.0, &mut out) };
        (ok == 1).then_some(LongDouble(out))
    }

    /// `%.17Lf` without trailing zeros: Redis's `LD_STR_HUMAN`.
    pub fn to_human(self) -> Vec<u8> {
        self.format(1)
    }

    fn format(self, human: i32) -> Vec<u8> {
        let mut buf = [0u8; 5200];
        // SAFETY: the C side writes at most `cap` bytes into `buf` and returns the length.
        let n = unsafe {
            tessera_ld_format(&self.0, human, buf.as_mut_ptr() as *mut c_char, buf.len())
        };
        buf[..n.min(buf.len())].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doubles_print_like_redis() {
        let mut b = [0u8; 40];
        assert_eq!(format_double(1.1, &mut b), b"1.1000000000000001");
        assert_eq!(format_double(3.0, &mut b), b"3");
        assert_eq!(format_double(f64::NEG_INFINITY, &mut b), b"-inf");
        assert_eq!(format_double(1e300, &mut b), b"1.0000000000000001e+300");
    }

    #[test]
    fn strict_double_parsing() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"0x10"), Some(16.0));
        for bad in [&b" 1"[..], b"1 ", b"", b"nan", b"1e999", b"abc", b"1\x002"] {
            assert_eq!(parse_double(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lenient_c_strtod() {
        assert_eq!(c_strtod(b" 1.5"), Some((1.5, false)));
        assert_eq!(c_strtod(b""), Some((0.0, false)));
        assert_eq!(c_strtod(b"2\x00junk"), Some((2.0, false)));
        assert_eq!(c_strtod(b"1e999"), Some((f64::INFINITY, true)));
        assert_eq!(c_strtod(b"1e-310").map(|(_, erange)| erange), Some(true));
        for bad in [&b"1 "[..], b"nan", b"abc"] {
            assert_eq!(c_strtod(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn incrbyfloat_arithmetic_matches_redis() {
        let a = LongDouble::parse(b"10.5").unwrap();
        let b = LongDouble::parse(b"0.1").unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_human(), b"10.6");
        let big = LongDouble::parse(b"5.0e3").unwrap();
        let c = LongDouble::parse(b"2.0e2").unwrap();
        assert_eq!(big.checked_add(c).unwrap().to_human(), b"5200");
        let inf = LongDouble::parse(b"inf").unwrap();
        assert!(inf.checked_add(b).is_none());
        assert_eq!(
            LongDouble::parse(b"-0.0").unwrap().to_human(),
            b"0",
            "-0 prints as 0"
        );
    }

    proptest! {
        /// `%.17g` output reads back to the same double.
        #[test]
        fn format_round_trips(d in any::<f64>().prop_filter("finite", |d| d.is_finite())) {
            let mut b = [0u8; 40];
            let text = format_double(d, &mut b).to_vec();
            prop_assert_eq!(parse_double(&text), Some(d));
        }
    }
}
