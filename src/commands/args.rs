//! Argument parsing with Redis's error replies.

use super::CmdError;
use crate::protocol::float::parse_double;
use crate::protocol::parse::parse_i64;

/// A strict 64-bit integer (Redis's `getLongLongFromObjectOrReply()`).
#[inline]
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// A strict integer in C `int` range (Redis's `getIntFromObjectOrReply()`).
pub fn int32(arg: &[u8]) -> Result<i32, CmdError> {
    let n = int(arg)?;
    i32::try_from(n).map_err(|_| {
        CmdError::err(format!(
            "value is out of range, value must between {} and {}",
            i32::MIN,
            i32::MAX
        ))
    })
}

/// A strict integer >= 0 (Redis's `getPositiveLongFromObjectOrReply()`, which gives the
/// same error for a negative number and for a non-number).
pub fn non_negative(arg: &[u8]) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(CmdError::err("value is out of range, must be positive")),
    }
}

/// A double (Redis's `getDoubleFromObjectOrReply()`).
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    parse_double(arg).ok_or(CmdError::NotFloat)
}

/// Case-insensitive comparison with an option keyword.
#[inline]
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// Lossy UTF-8 text of an argument, for error messages.
pub fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}
