//! The primary's replication commands (behaves like `syncCommand()`, `replconfCommand()`,
//! `waitCommand()` and `roleCommand()` of Redis 7.0): PSYNC / SYNC turn the connection into
//! a replica link, REPLCONF records what the replica says about itself, WAIT waits for
//! acknowledgements, ROLE reports the replicas.

use super::args::{self, is};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::protocol::Argv;
use crate::replication::replica::set_primary;
use crate::replication::serve::PsyncRequest;
use crate::server::client::{ConnAction, WaitRequest};
use std::sync::atomic::Ordering::Relaxed;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("psync", psync),
    ("sync", sync),
    ("replconf", replconf),
    ("wait", wait),
    ("role", role),
    ("replicaof", replicaof),
    ("slaveof", replicaof),
];

/// PSYNC replid offset: no reply here; the connection answers +FULLRESYNC or +CONTINUE.
fn psync(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let offset = args::int(argv.get(2))?;
    ctx.client.action = Some(ConnAction::Replicate(PsyncRequest {
        replid: argv.get(1).to_vec(),
        offset,
        legacy: false,
    }));
    Ok(())
}

fn sync(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.client.action = Some(ConnAction::Replicate(PsyncRequest {
        replid: b"?".to_vec(),
        offset: -1,
        legacy: true,
    }));
    Ok(())
}

/// REPLCONF option value [option value ...].
fn replconf(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut j = 1;
    while j < argv.len() {
        let (opt, value) = (argv.get(j), argv.get(j + 1));
        if is(opt, "listening-port") {
            let port = args::int(value)?;
            ctx.client.replica_port = u16::try_from(port).unwrap_or(0);
        } else if is(opt, "ip-address") {
            ctx.client.replica_ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if is(opt, "capa") {
            if is(value, "eof") {
                ctx.client.replica_capa_eof = true;
            }
        } else if is(opt, "rdb-only") || is(opt, "rdb-filter-only") {
            // Filters for tools that only want the snapshot: it is sent whole.
        } else if is(opt, "ack") || is(opt, "getack") {
            // ACKs come on replica links (read there); GETACK is for replicas. No reply.
            return Ok(());
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 2;
    }
    ctx.reply.ok();
    Ok(())
}

/// WAIT numreplicas timeout: the connection waits, then replies how many replicas
/// acknowledged the client's last write.
fn wait(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.server.replica.is_replica() {
        return Err(CmdError::err(
            "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    let replicas = args::int(argv.get(1))?;
    let timeout = args::int(argv.get(2))
        .map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    ctx.client.wait = Some(WaitRequest {
        replicas: usize::try_from(replicas).unwrap_or(0),
        deadline_ms: if timeout == 0 {
            0
        } else {
            ctx.fx.now_ms.saturating_add(timeout)
        },
    });
    Ok(())
}

/// REPLICAOF host port | NO ONE (behaves like `replicaofCommand()`).
fn replicaof(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.settings.cluster_enabled {
        return Err(CmdError::err("REPLICAOF not allowed in cluster mode."));
    }
    let Some(server) = ctx.server.handle() else {
        return Err(CmdError::Raw("ERR".into()));
    };
    let (host, port) = (argv.get(1), argv.get(2));
    if is(host, "no") && is(port, "one") {
        if server.replica.is_replica() {
            set_primary(&server, None);
            let _ = server.config.set_many(&[(b"replicaof", b"no one")], true);
            tracing::info!(
                "MASTER MODE enabled (user request from 'id={} addr={}')",
                ctx.client.id,
                ctx.client.shared.addr
            );
        }
        ctx.reply.ok();
        return Ok(());
    }
    let port = match args::int(port) {
        Ok(p) if (0..=65535).contains(&p) => p as u16,
        _ => return Err(CmdError::err("Invalid master port")),
    };
    let host = String::from_utf8_lossy(host).into_owned();
    if server.replica.primary.lock().as_ref() == Some(&(host.clone(), port)) {
        tracing::info!(
            "REPLICAOF would result into synchronization with the master we are already connected with. No operation performed."
        );
        ctx.reply.simple("OK Already connected to specified master");
        return Ok(());
    }
    let value = format!("{host} {port}");
    let _ = server
        .config
        .set_many(&[(b"replicaof", value.as_bytes())], true);
    set_primary(&server, Some((host, port)));
    ctx.reply.ok();
    Ok(())
}

/// ROLE: ["master", offset, [[ip, port, acknowledged offset], ...]], or on a replica
/// ["slave", host, port, link state, offset].
fn role(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let replica = &ctx.server.replica;
    if let Some((host, port)) = replica.primary.lock().clone() {
        let link = if replica.link_up.load(Relaxed) {
            "connected"
        } else if replica.sync_in_progress.load(Relaxed) {
            "sync"
        } else {
            "connect"
        };
        ctx.reply.array(5);
        ctx.reply.bulk(b"slave");
        ctx.reply.bulk(host.as_bytes());
        ctx.reply.int(i64::from(port));
        ctx.reply.bulk(link.as_bytes());
        ctx.reply.int(replica.offset.load(Relaxed) as i64);
        return Ok(());
    }
    let primary = &ctx.server.primary;
    let replicas = primary.replicas();
    ctx.reply.array(3);
    ctx.reply.bulk(b"master");
    ctx.reply.int(primary.offset() as i64);
    ctx.reply.array(replicas.len());
    for r in &replicas {
        ctx.reply.array(3);
        ctx.reply.bulk(r.ip.as_bytes());
        ctx.reply.bulk(r.port.to_string().as_bytes());
        ctx.reply.bulk(r.ack.to_string().as_bytes());
    }
    Ok(())
}
