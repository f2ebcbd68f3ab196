//! Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE
//! PUBLISH SPUBLISH PUBSUB (behaves like Redis's pubsub.c). Subscription replies are pushes
//! (`>3` in RESP3, `*3` in RESP2) counting the client's subscriptions after the change.

use std::sync::atomic::Ordering::Relaxed;

use super::connection::reply_help;
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::protocol::Argv;
use crate::server::client::flags;
use crate::server::pubsub::Kind;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("subscribe", subscribe),
    ("unsubscribe", unsubscribe),
    ("psubscribe", psubscribe),
    ("punsubscribe", punsubscribe),
    ("ssubscribe", ssubscribe),
    ("sunsubscribe", sunsubscribe),
    ("publish", publish),
    ("spublish", spublish),
    ("pubsub|help", pubsub_help),
    ("pubsub|channels", pubsub_channels),
    ("pubsub|numsub", pubsub_numsub),
    ("pubsub|numpat", pubsub_numpat),
    ("pubsub|shardchannels", pubsub_shardchannels),
    ("pubsub|shardnumsub", pubsub_shardnumsub),
];

/// The count a (un)subscribe reply carries: channels + patterns, or shard channels.
fn count(ctx: &Ctx<'_>, kind: Kind) -> usize {
    match kind {
        Kind::Shard => ctx.client.shard_channels.len(),
        _ => ctx.client.channels.len() + ctx.client.patterns.len(),
    }
}

/// Writes one subscription push: [event, name or nil, count].
fn push_reply(ctx: &mut Ctx<'_>, event: &str, name: Option<&[u8]>, kind: Kind) {
    let n = count(ctx, kind);
    ctx.reply.push(3);
    ctx.reply.bulk(event.as_bytes());
    match name {
        Some(n) => ctx.reply.bulk(n),
        None => ctx.reply.null(),
    }
    ctx.reply.int(n as i64);
}

/// Mirrors the local subscription sets into the shared client record (CLIENT LIST, cron).
fn sync_shared(ctx: &Ctx<'_>) {
    let s = &ctx.client.shared;
    s.subscriptions.store(ctx.client.channels.len(), Relaxed);
    s.patterns.store(ctx.client.patterns.len(), Relaxed);
    s.shard_subscriptions
        .store(ctx.client.shard_channels.len(), Relaxed);
    s.set_flag(flags::PUBSUB, ctx.client.in_subscribe_mode());
}

/// Adds one subscription if new; returns whether it was added.
fn add(ctx: &mut Ctx<'_>, kind: Kind, name: &[u8]) -> bool {
    let added = match kind {
        Kind::Channel => ctx.client.channels.insert(name.to_vec()),
        Kind::Shard => ctx.client.shard_channels.insert(name.to_vec()),
        Kind::Pattern => {
            if ctx.client.patterns.iter().any(|p| p == name) {
                false
            } else {
                ctx.client.patterns.push(name.to_vec());
                true
            }
        }
    };
    if added {
        ctx.server.pubsub.subscribe(kind, name, &ctx.client.shared);
    }
    added
}

/// Removes one subscription if present; returns whether it was removed.
fn remove(ctx: &mut Ctx<'_>, kind: Kind, name: &[u8]) -> bool {
    let removed = match kind {
        Kind::Channel => ctx.client.channels.remove(name),
        Kind::Shard => ctx.client.shard_channels.remove(name),
        Kind::Pattern => match ctx.client.patterns.iter().position(|p| p == name) {
            Some(i) => {
                ctx.client.patterns.remove(i);
                true
            }
            None => false,
        },
    };
    if removed {
        ctx.server.pubsub.unsubscribe(kind, name, ctx.client.id);
    }
    removed
}

fn subscribe_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind, event: &str) -> CmdResult {
    for name in argv.iter().skip(1) {
        add(ctx, kind, name);
        push_reply(ctx, event, Some(name), kind);
    }
    sync_shared(ctx);
    Ok(())
}

fn unsubscribe_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind, event: &str) -> CmdResult {
    if argv.len() > 1 {
        for name in argv.iter().skip(1) {
            remove(ctx, kind, name);
            push_reply(ctx, event, Some(name), kind);
        }
    } else {
        let all: Vec<Vec<u8>> = match kind {
            Kind::Channel => ctx.client.channels.iter().cloned().collect(),
            Kind::Shard => ctx.client.shard_channels.iter().cloned().collect(),
            Kind::Pattern => ctx.client.patterns.clone(),
        };
        if all.is_empty() {
            push_reply(ctx, event, None, kind);
        }
        for name in all {
            remove(ctx, kind, &name);
            push_reply(ctx, event, Some(&name), kind);
        }
    }
    sync_shared(ctx);
    Ok(())
}

fn subscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    subscribe_generic(ctx, argv, Kind::Channel, "subscribe")
}

fn unsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    unsubscribe_generic(ctx, argv, Kind::Channel, "unsubscribe")
}

fn psubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    subscribe_generic(ctx, argv, Kind::Pattern, "psubscribe")
}

fn punsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    unsubscribe_generic(ctx, argv, Kind::Pattern, "punsubscribe")
}

fn ssubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    subscribe_generic(ctx, argv, Kind::Shard, "ssubscribe")
}

fn sunsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    unsubscribe_generic(ctx, argv, Kind::Shard, "sunsubscribe")
}

fn publish(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if let Some(cluster) = &ctx.server.cluster {
        cluster.with(ctx.server, |st, host| {
            st.propagate_publish(argv.get(1), argv.get(2), false, host)
        });
    }
    let n = ctx.server.pubsub.publish(argv.get(1), argv.get(2));
    ctx.reply.int(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if let Some(cluster) = &ctx.server.cluster {
        cluster.with(ctx.server, |st, host| {
            st.propagate_publish(argv.get(1), argv.get(2), true, host)
        });
    }
    let n = ctx.server.pubsub.spublish(argv.get(1), argv.get(2));
    ctx.reply.int(n as i64);
    Ok(())
}

const PUBSUB_HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

fn pubsub_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_help(ctx, argv, PUBSUB_HELP);
    Ok(())
}

fn channel_list(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Arity(ctx.cmd.name().to_string()));
    }
    let list = ctx.server.pubsub.channels(kind, argv.try_get(2));
    ctx.reply.array(list.len());
    for c in list {
        ctx.reply.bulk(&c);
    }
    Ok(())
}

fn numsub(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) -> CmdResult {
    ctx.reply.array((argv.len() - 2) * 2);
    for ch in argv.iter().skip(2) {
        ctx.reply.bulk(ch);
        ctx.reply.int(ctx.server.pubsub.numsub(kind, ch) as i64);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    channel_list(ctx, argv, Kind::Channel)
}

fn pubsub_shardchannels(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    channel_list(ctx, argv, Kind::Shard)
}

fn pubsub_numsub(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    numsub(ctx, argv, Kind::Channel)
}

fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    numsub(ctx, argv, Kind::Shard)
}

fn pubsub_numpat(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.reply.int(ctx.server.pubsub.numpat() as i64);
    Ok(())
}
