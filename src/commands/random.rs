//! What the random-element commands share (HRANDFIELD, SRANDMEMBER, SPOP): the count
//! argument and the bound on how large a reply of repeated picks may grow.

use super::{CmdError, Ctx, args};

/// Parses the count of HRANDFIELD / SRANDMEMBER: any integer but `i64::MIN`, whose
/// magnitude has no positive counterpart (behaves like `getRangeLongFromObjectOrReply()`
/// with bounds ±LONG_MAX).
pub(super) fn random_count(arg: &[u8]) -> Result<i64, CmdError> {
    match args::int(arg)? {
        i64::MIN => Err(CmdError::err(format_args!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        ))),
        n => Ok(n),
    }
}

/// Most bytes one reply of repeated random picks may grow to before the client is dropped
/// instead; Redis stops such loops when the client is flagged `CLOSE_ASAP` by its output
/// buffer limit, and with no limit would run out of memory.
const MAX_RANDOM_REPLY_BYTES: usize = 1 << 30;

/// Whether a reply of repeated random picks must stop here: the reply exceeded the
/// client's output buffer limit, so the connection is closed after what was written (the
/// aggregate stays incomplete, which a closing connection makes harmless).
pub(super) fn random_reply_full(ctx: &mut Ctx<'_>) -> bool {
    let hard = ctx.settings.normal_limit.hard_bytes as usize;
    let cap = if hard > 0 {
        hard
    } else {
        MAX_RANDOM_REPLY_BYTES
    };
    if ctx.reply.len() > cap {
        ctx.client.close_after_reply = true;
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_counts_exclude_long_min() {
        assert_eq!(random_count(b"-5"), Ok(-5));
        assert_eq!(random_count(b"-9223372036854775807"), Ok(-i64::MAX));
        assert_eq!(
            random_count(b"-9223372036854775808").map_err(|e| e.to_string()),
            Err(
                "ERR value is out of range, value must between -9223372036854775807 and \
                 9223372036854775807"
                    .to_string()
            )
        );
        assert_eq!(random_count(b"x"), Err(CmdError::NotInteger));
    }
}
