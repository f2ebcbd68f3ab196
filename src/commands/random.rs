//! What the random-element commands share (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER, SPOP): the
//! count argument, the outline of a reply with a count, and the bound on how large a reply
//! of repeated picks may grow.

use rand::rngs::ThreadRng;

use super::args::{self, is};
use super::{CmdError, Ctx};
use crate::keyspace::value::distinct_positions;
use crate::protocol::{Argv, Reply};

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

/// Parses `<count> [<flag>]` of HRANDFIELD (`WITHVALUES`) and ZRANDMEMBER (`WITHSCORES`).
/// With the flag, twice the count must still fit a long: the RESP2 reply is flat.
pub(super) fn random_count_with(argv: &Argv<'_>, flag: &str) -> Result<(i64, bool), CmdError> {
    let count = random_count(argv.get(2))?;
    let with = match argv.len() {
        3 => false,
        4 if is(argv.get(3), flag) => true,
        _ => return Err(CmdError::Syntax),
    };
    if with && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::err("value is out of range"));
    }
    Ok((count, with))
}

/// How a collection of `len` elements is read for a random pick with a count.
pub(super) struct RandomSource<Pick, Whole, At> {
    pub len: usize,
    /// Whether each element is a pair (see [`Reply::pair_list`]).
    pub pairs: bool,
    /// Replies one element picked at random.
    pub pick: Pick,
    /// Replies every element, in the order Redis walks them.
    pub whole: Whole,
    /// Replies the element at a position.
    pub at: At,
}

/// Replies to a random pick with a count (the outline `hrandfieldWithCountCommand()`,
/// `srandmemberWithCountCommand()` and `zrandmemberWithCountCommand()` share): a negative
/// count may repeat elements and returns exactly that many; a positive one returns distinct
/// elements, and the whole collection when it asks for as many or more.
pub(super) fn reply_random_count<Pick, Whole, At>(
    ctx: &mut Ctx<'_>,
    count: i64,
    mut src: RandomSource<Pick, Whole, At>,
) where
    Pick: FnMut(&mut Reply, &mut ThreadRng),
    Whole: FnOnce(&mut Reply),
    At: FnMut(&mut Reply, usize),
{
    let (n, unique) = (count.unsigned_abs() as usize, count >= 0);
    if n == 0 {
        ctx.reply.array(0);
        return;
    }
    let mut rng = rand::rng();
    if !unique || n == 1 {
        ctx.reply.pair_list(n, src.pairs);
        for _ in 0..n {
            (src.pick)(ctx.reply, &mut rng);
            if random_reply_full(ctx) {
                break;
            }
        }
        return;
    }
    if n >= src.len {
        ctx.reply.pair_list(src.len, src.pairs);
        (src.whole)(ctx.reply);
        return;
    }
    ctx.reply.pair_list(n, src.pairs);
    for i in distinct_positions(src.len, n, &mut rng) {
        (src.at)(ctx.reply, i);
    }
}

/// Most bytes one reply of repeated random picks may grow to before the client is dropped
/// instead; Redis stops such loops when the client is flagged `CLOSE_ASAP` by its output
/// buffer limit, and with no limit would run out of memory.
const MAX_RANDOM_REPLY_BYTES: usize = 1 << 30;

/// Whether a reply of repeated random picks must stop here: the reply exceeded the
/// client's output buffer limit, so the connection is closed after what was written (the
/// aggregate stays incomplete, which a closing connection makes harmless).
fn random_reply_full(ctx: &mut Ctx<'_>) -> bool {
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
