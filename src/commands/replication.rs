//! The primary's replication commands (behaves like `syncCommand()`, `replconfCommand()`,
//! `waitCommand()` and `roleCommand()` of Redis 7.0): PSYNC / SYNC turn the connection into
//! a replica link, REPLCONF records what the replica says about itself, WAIT waits for
//! acknowledgements, ROLE reports the replicas.

use super::args::{self, is};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::protocol::Argv;
use crate::replication::serve::PsyncRequest;
use crate::server::client::{ConnAction, WaitRequest};

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("psync", psync),
    ("sync", sync),
    ("replconf", replconf),
    ("wait", wait),
    ("role", role),
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
        } else if is(opt, "capa") || is(opt, "rdb-only") || is(opt, "rdb-filter-only") {
            // Capabilities and filters: a disk-style payload suits every replica.
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

/// ROLE: ["master", offset, [[ip, port, acknowledged offset], ...]].
fn role(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
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
