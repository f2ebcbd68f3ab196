//! An AOF base written as commands, for `aof-use-rdb-preamble no` (behaves like
//! `rewriteAppendOnlyFileRio()`): per database a SELECT, then per key the commands that
//! rebuild it, at most 64 items per command, and PEXPIREAT for a key with a TTL.

use super::encode::command;
use crate::keyspace::value::Value;
use crate::keyspace::{Entry, ShardData};
use crate::protocol::float::format_double;

/// Items per RPUSH / SADD / HMSET / ZADD (`AOF_REWRITE_ITEMS_PER_CMD`).
const ITEMS_PER_COMMAND: usize = 64;

/// A shard's keys as commands, each database's run led by SELECT.
pub fn write_shard(out: &mut Vec<u8>, shard: &ShardData) {
    for db in 0..shard.db_count() {
        let Some(d) = shard.db_ref(db).filter(|d| !d.is_empty()) else {
            continue;
        };
        let mut n_buf = itoa::Buffer::new();
        let n = n_buf.format(db);
        command(out, &[b"SELECT", n.as_bytes()]);
        for entry in d.entries() {
            write_key(out, entry);
        }
    }
}

fn write_key(out: &mut Vec<u8>, e: &Entry) {
    let key = e.key.as_slice();
    match &e.value {
        Value::Str(s) => command(out, &[b"SET", key, s]),
        Value::List(l) => batched(
            out,
            b"RPUSH",
            key,
            l.items().iter().map(|i| vec![i.as_slice()]),
        ),
        Value::Set(s) => {
            let members = s.members();
            batched(
                out,
                b"SADD",
                key,
                members.iter().map(|m| vec![m.as_slice()]),
            );
        }
        Value::Hash(h) => {
            batched(
                out,
                b"HMSET",
                key,
                h.pairs()
                    .iter()
                    .map(|(f, v)| vec![f.as_slice(), v.as_slice()]),
            );
        }
        Value::ZSet(z) => {
            let scored: Vec<(Vec<u8>, &[u8])> = z
                .iter()
                .map(|(m, s)| (format_double(s, &mut [0u8; 40]).to_vec(), m))
                .collect();
            batched(
                out,
                b"ZADD",
                key,
                scored.iter().map(|(s, m)| vec![s.as_slice(), *m]),
            );
        }
    }
    if e.expire_at != 0 {
        let mut at_buf = itoa::Buffer::new();
        let at = at_buf.format(e.expire_at);
        command(out, &[b"PEXPIREAT", key, at.as_bytes()]);
    }
}

/// `name key item...` commands of at most [`ITEMS_PER_COMMAND`] items each.
fn batched<'a>(
    out: &mut Vec<u8>,
    name: &[u8],
    key: &[u8],
    items: impl Iterator<Item = Vec<&'a [u8]>>,
) {
    let items: Vec<Vec<&[u8]>> = items.collect();
    for chunk in items.chunks(ITEMS_PER_COMMAND) {
        let mut args: Vec<&[u8]> = vec![name, key];
        for item in chunk {
            args.extend(item);
        }
        command(out, &args);
    }
}
