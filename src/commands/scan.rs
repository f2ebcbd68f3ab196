//! What SCAN, HSCAN and SSCAN share: the cursor, the MATCH / COUNT / TYPE options and the
//! reply (behaves like `parseScanCursorOrReply()` and step 1 of `scanGenericCommand()`).

use super::CmdError;
use super::args::{self, is};
use crate::protocol::{Argv, Reply};
use crate::util::glob::glob_match;

/// Parses a SCAN cursor as Redis's `parseScanCursorOrReply()` does with `strtoul()`: an
/// optional sign, decimal digits, nothing else; no leading space; out of range fails.
/// COMPAT(redis 7.0): the empty string is cursor 0, a leading `-` wraps as C's unsigned
/// negation does, and parsing stops at a NUL byte as it does in C.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    let arg = &arg[..memchr::memchr(0, arg).unwrap_or(arg.len())];
    if arg.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let value = digits
        .iter()
        .try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or_else(invalid)?;
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// MATCH / COUNT (and, for SCAN, TYPE) options.
pub struct ScanOptions<'a> {
    pub count: usize,
    /// `None` when absent or exactly `*`, which matches everything.
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

impl<'a> ScanOptions<'a> {
    /// Parses the options from argument `start` on; TYPE is accepted only when
    /// `allow_type` (SCAN, not HSCAN/SSCAN), as in Redis.
    pub fn parse(argv: &Argv<'a>, start: usize, allow_type: bool) -> Result<Self, CmdError> {
        let mut o = ScanOptions {
            count: 10,
            pattern: None,
            type_name: None,
        };
        let mut i = start;
        while i < argv.len() {
            let opt = argv.get(i);
            match argv.try_get(i + 1) {
                Some(v) if is(opt, "count") => {
                    let n = args::int(v)?;
                    if n < 1 {
                        return Err(CmdError::Syntax);
                    }
                    o.count = usize::try_from(n).unwrap_or(usize::MAX);
                }
                Some(v) if is(opt, "match") => o.pattern = Some(v).filter(|p| *p != b"*"),
                Some(v) if allow_type && is(opt, "type") => o.type_name = Some(v),
                _ => return Err(CmdError::Syntax),
            }
            i += 2;
        }
        Ok(o)
    }

    /// Whether an element passes the MATCH filter.
    pub fn matches(&self, element: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, element, false))
    }
}

/// Writes a SCAN reply: the next cursor (as a bulk string), then the elements.
pub fn reply_scan(r: &mut Reply, cursor: u64, elements: &[&[u8]]) {
    r.array(2);
    r.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    r.array(elements.len());
    elements.iter().for_each(|e| r.bulk(e));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b"123"), Ok(123));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"007"), Ok(7));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"5\0junk"), Ok(5));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"abc",
            b"1a",
            b"-",
            b"+",
            b"0x10",
            b"1.5",
        ] {
            assert!(
                parse_cursor(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
