//! Connection commands: PING ECHO QUIT RESET SELECT AUTH HELLO and the CLIENT family
//! (behaves like Redis's `pingCommand()`, `helloCommand()`, `authCommand()`,
//! `clientCommand()`).

use std::sync::atomic::Ordering::Relaxed;

use super::args::{self, is};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::protocol::Argv;
use crate::server::client::{ReplyMode, flags};
use crate::server::pubsub::Kind;
use crate::server::{PausePurpose, REDIS_VERSION, Server};
use crate::util::clock;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("ping", ping),
    ("echo", echo),
    ("quit", quit),
    ("reset", reset),
    ("select", select),
    ("auth", auth),
    ("hello", hello),
    ("client|help", client_help),
    ("client|id", client_id),
    ("client|info", client_info),
    ("client|list", client_list),
    ("client|setname", client_setname),
    ("client|getname", client_getname),
    ("client|kill", client_kill),
    ("client|pause", client_pause),
    ("client|unpause", client_unpause),
    ("client|reply", client_reply),
    ("client|no-evict", client_no_evict),
    ("client|setinfo", client_setinfo),
    ("client|unblock", client_unblock),
];

/// Replies with a HELP text the way `addReplyHelp()` does.
pub(super) fn reply_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>, lines: &[&str]) {
    let cmd = String::from_utf8_lossy(argv.get(0)).to_ascii_uppercase();
    ctx.reply.array(lines.len() + 3);
    ctx.reply.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.reply.simple(l);
    }
    ctx.reply.simple("HELP");
    ctx.reply.simple("    Prints this help.");
}

fn ping(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 2 {
        return Err(CmdError::Arity("ping".into()));
    }
    if ctx.client.in_subscribe_mode() && ctx.client.resp == 2 {
        ctx.reply.array(2);
        ctx.reply.bulk(b"pong");
        ctx.reply.bulk(argv.try_get(1).unwrap_or(b""));
    } else if argv.len() == 1 {
        ctx.reply.simple("PONG");
    } else {
        ctx.reply.bulk(argv.get(1));
    }
    Ok(())
}

fn echo(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ctx.reply.bulk(argv.get(1));
    Ok(())
}

fn quit(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.reply.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// Unsubscribes the client from everything, without replies.
pub(super) fn unsubscribe_all_silently(ctx: &mut Ctx<'_>) {
    let id = ctx.client.id;
    let ps = &ctx.server.pubsub;
    for ch in ctx.client.channels.drain() {
        ps.unsubscribe(Kind::Channel, &ch, id);
    }
    for p in ctx.client.patterns.drain(..) {
        ps.unsubscribe(Kind::Pattern, &p, id);
    }
    for ch in ctx.client.shard_channels.drain() {
        ps.unsubscribe(Kind::Shard, &ch, id);
    }
    let shared = &ctx.client.shared;
    shared.subscriptions.store(0, Relaxed);
    shared.patterns.store(0, Relaxed);
    shared.shard_subscriptions.store(0, Relaxed);
    shared.set_flag(flags::PUBSUB, false);
}

fn reset(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.client.discard_transaction(&ctx.server.signals);
    unsubscribe_all_silently(ctx);
    if ctx.client.monitor {
        ctx.server.monitors.remove(ctx.client.id);
        ctx.client.monitor = false;
        ctx.client.shared.set_flag(flags::MONITOR, false);
    }
    ctx.client.select(0);
    ctx.client.set_resp(2);
    ctx.reply.resp = 2;
    ctx.client.reply_mode = ReplyMode::On;
    *ctx.client.shared.name.lock() = None;
    ctx.client.shared.set_flag(flags::NO_EVICT, false);
    ctx.client.asking = false;
    ctx.client.cluster_readonly = false;
    let needs_auth = ctx.settings.requirepass.is_some();
    ctx.client.set_authenticated(!needs_auth);
    ctx.reply.simple("RESET");
    Ok(())
}

fn select(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let db = args::int32(argv.get(1))?;
    if ctx.settings.cluster_enabled && db != 0 {
        return Err(CmdError::err("SELECT is not allowed in cluster mode"));
    }
    if db < 0 || db as usize >= ctx.keyspace().databases() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.client.select(db as usize);
    ctx.reply.ok();
    Ok(())
}

/// Checks a username/password pair against the default user (the only user without
/// ACL support): with no `requirepass` any password is accepted, as for Redis's nopass
/// default user.
fn credentials_ok(ctx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> bool {
    if user != b"default" {
        return false;
    }
    match &ctx.settings.requirepass {
        None => true,
        Some(p) => constant_time_eq(p, pass),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn auth(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let (user, pass): (&[u8], &[u8]) = if argv.len() == 2 {
        if ctx.settings.requirepass.is_none() {
            return Err(CmdError::err(
                "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        (b"default", argv.get(1))
    } else {
        (argv.get(1), argv.get(2))
    };
    if credentials_ok(ctx, user, pass) {
        ctx.client.set_authenticated(true);
        ctx.reply.ok();
        Ok(())
    } else {
        Err(CmdError::WrongPass)
    }
}

/// Client names may not hold spaces or non-printable characters.
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn set_client_name(ctx: &mut Ctx<'_>, name: &[u8]) -> CmdResult {
    if !valid_client_name(name) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *ctx.client.shared.name.lock() = (!name.is_empty()).then(|| name.to_vec());
    Ok(())
}

fn hello(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut ver = 0;
    let mut j = 1;
    if argv.len() >= 2 {
        ver = crate::protocol::parse::parse_i64(argv.get(1))
            .ok_or_else(|| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&ver) {
            return Err(CmdError::Raw("NOPROTO unsupported protocol version".into()));
        }
        j = 2;
    }
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv.get(j);
        if is(opt, "auth") && more >= 2 {
            if !credentials_ok(ctx, argv.get(j + 1), argv.get(j + 2)) {
                return Err(CmdError::WrongPass);
            }
            ctx.client.set_authenticated(true);
            j += 3;
        } else if is(opt, "setname") && more >= 1 {
            set_client_name(ctx, argv.get(j + 1))?;
            j += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                args::text(opt)
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::Raw(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
        ));
    }
    if ver != 0 {
        ctx.client.set_resp(ver as u8);
        ctx.reply.resp = ver as u8;
    }
    let r = &mut *ctx.reply;
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(REDIS_VERSION.as_bytes());
    r.bulk(b"proto");
    r.int(ctx.client.resp as i64);
    r.bulk(b"id");
    r.int(ctx.client.id as i64);
    r.bulk(b"mode");
    r.bulk(if ctx.settings.cluster_enabled {
        b"cluster"
    } else {
        b"standalone"
    });
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
    Ok(())
}

const CLIENT_HELP: &[&str] = &[
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

fn client_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_help(ctx, argv, CLIENT_HELP);
    Ok(())
}

fn client_id(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.reply.int(ctx.client.id as i64);
    Ok(())
}

/// The client type names CLIENT LIST / KILL accept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

fn client_type_by_name(name: &[u8]) -> Option<ClientType> {
    match name.to_ascii_lowercase().as_slice() {
        b"normal" => Some(ClientType::Normal),
        b"slave" | b"replica" => Some(ClientType::Replica),
        b"pubsub" => Some(ClientType::PubSub),
        b"master" => Some(ClientType::Master),
        _ => None,
    }
}

/// The type CLIENT LIST/KILL filter on (behaves like `getClientType()`: a MONITOR client is
/// "normal" unless subscribed).
fn client_type_of(c: &crate::server::client::ClientShared) -> ClientType {
    if c.in_pubsub() {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

/// One CLIENT LIST line (behaves like `catClientInfoString()`).
pub fn client_info_line(
    server: &Server,
    c: &crate::server::client::ClientShared,
    now_ms: i64,
) -> String {
    let mut fl = String::new();
    if c.has_flag(flags::MONITOR) {
        fl.push('O');
    }
    if c.in_pubsub() {
        fl.push('P');
    }
    if c.has_flag(flags::MULTI) {
        fl.push('x');
    }
    if c.has_flag(flags::BLOCKED) {
        fl.push('b');
    }
    if c.is_killed() {
        fl.push('A');
    }
    if c.has_flag(flags::NO_EVICT) {
        fl.push('e');
    }
    if fl.is_empty() {
        fl.push('N');
    }
    let name = c.name.lock().clone().unwrap_or_default();
    let last = c.last_cmd.load(Relaxed);
    let cmd = if last == 0 {
        "NULL"
    } else {
        server.commands.get(last - 1).name()
    };
    let qbuf = c.query_buf.load(Relaxed);
    let qbuf_free = c.query_buf_free.load(Relaxed);
    let omem = c.outbox.lock().len();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        String::from_utf8_lossy(&name),
        (now_ms - c.created_ms) / 1000,
        (now_ms - c.last_interaction_ms.load(Relaxed)) / 1000,
        fl,
        c.db.load(Relaxed),
        c.subscriptions.load(Relaxed),
        c.patterns.load(Relaxed),
        c.shard_subscriptions.load(Relaxed),
        qbuf,
        qbuf_free,
        omem,
        qbuf + qbuf_free + omem + 16384,
        cmd,
        c.resp.load(Relaxed),
    )
}

fn client_info(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    // This command is the client's last command while its own line is printed.
    ctx.client.shared.last_cmd.store(ctx.cmd.id + 1, Relaxed);
    let mut line = client_info_line(ctx.server, &ctx.client.shared, clock::now_ms());
    line.push('\n');
    ctx.reply.verbatim(line.as_bytes(), "txt");
    Ok(())
}

fn client_list(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ctx.client.shared.last_cmd.store(ctx.cmd.id + 1, Relaxed);
    let now = clock::now_ms();
    let mut out = String::new();
    if argv.len() == 4 && is(argv.get(2), "type") {
        let ty = client_type_by_name(argv.get(3)).ok_or_else(|| {
            CmdError::err(format!("Unknown client type '{}'", args::text(argv.get(3))))
        })?;
        for c in ctx.server.clients.snapshot() {
            if client_type_of(&c) == ty {
                out.push_str(&client_info_line(ctx.server, &c, now));
                out.push('\n');
            }
        }
    } else if argv.len() > 3 && is(argv.get(2), "id") {
        for a in argv.iter().skip(3) {
            let id = crate::protocol::parse::parse_i64(a)
                .ok_or_else(|| CmdError::err("Invalid client ID"))?;
            if let Some(c) = ctx.server.clients.get(id as u64) {
                out.push_str(&client_info_line(ctx.server, &c, now));
                out.push('\n');
            }
        }
    } else if argv.len() != 2 {
        return Err(CmdError::Syntax);
    } else {
        for c in ctx.server.clients.snapshot() {
            out.push_str(&client_info_line(ctx.server, &c, now));
            out.push('\n');
        }
    }
    ctx.reply.verbatim(out.as_bytes(), "txt");
    Ok(())
}

fn client_setname(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    set_client_name(ctx, argv.get(2))?;
    ctx.reply.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    match ctx.client.shared.name.lock().as_deref() {
        Some(n) => ctx.reply.bulk(n),
        None => ctx.reply.null(),
    }
    Ok(())
}

fn client_setinfo(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let attr = argv.get(2);
    let value = argv.get(3);
    let slot = if is(attr, "lib-name") {
        &ctx.client.shared.lib_name
    } else if is(attr, "lib-ver") {
        &ctx.client.shared.lib_ver
    } else {
        return Err(CmdError::err(format!(
            "Unrecognized option '{}'",
            args::text(attr)
        )));
    };
    if !valid_client_name(value) {
        return Err(CmdError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            args::text(attr)
        )));
    }
    *slot.lock() = (!value.is_empty()).then(|| value.to_vec());
    ctx.reply.ok();
    Ok(())
}

fn client_kill(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut ty: Option<ClientType> = None;
    let mut id: u64 = 0;
    let mut skipme = true;
    if argv.len() == 3 {
        addr = Some(argv.get(2));
        skipme = false;
    } else {
        let mut i = 2;
        while i < argv.len() {
            let more = argv.len() > i + 1;
            let opt = argv.get(i);
            if !more {
                return Err(CmdError::Syntax);
            }
            let val = argv.get(i + 1);
            if is(opt, "id") {
                match crate::protocol::parse::parse_i64(val) {
                    Some(n) if n >= 1 => id = n as u64,
                    _ => return Err(CmdError::err("client-id should be greater than 0")),
                }
            } else if is(opt, "type") {
                ty = Some(client_type_by_name(val).ok_or_else(|| {
                    CmdError::err(format!("Unknown client type '{}'", args::text(val)))
                })?);
            } else if is(opt, "addr") {
                addr = Some(val);
            } else if is(opt, "laddr") {
                laddr = Some(val);
            } else if is(opt, "user") {
                if val != b"default" {
                    return Err(CmdError::err(format!("No such user '{}'", args::text(val))));
                }
            } else if is(opt, "skipme") {
                skipme = if is(val, "yes") {
                    true
                } else if is(val, "no") {
                    false
                } else {
                    return Err(CmdError::Syntax);
                };
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
    }
    let me = ctx.client.id;
    let mut killed = 0;
    for c in ctx.server.clients.snapshot() {
        if addr.is_some_and(|a| a != c.addr.as_bytes())
            || laddr.is_some_and(|a| a != c.laddr.as_bytes())
            || ty.is_some_and(|t| t != client_type_of(&c))
            || (id != 0 && c.id != id)
            || (c.id == me && skipme)
        {
            continue;
        }
        if c.id == me {
            ctx.client.close_after_reply = true;
        } else {
            c.kill();
        }
        killed += 1;
    }
    if argv.len() == 3 {
        if killed == 0 {
            return Err(CmdError::err("No such client"));
        }
        ctx.reply.ok();
    } else {
        ctx.reply.int(killed);
    }
    Ok(())
}

fn client_pause(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut all = true;
    if argv.len() == 4 {
        if is(argv.get(3), "write") {
            all = false;
        } else if !is(argv.get(3), "all") {
            return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let ms = crate::protocol::parse::parse_i64(argv.get(2))
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    ctx.server.pause.pause(
        PausePurpose::Client,
        clock::now_ms().saturating_add(ms),
        all,
    );
    ctx.reply.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.server.pause.unpause(PausePurpose::Client);
    ctx.reply.ok();
    Ok(())
}

fn client_reply(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mode = argv.get(2);
    if is(mode, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.reply.ok();
    } else if is(mode, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(mode, "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking wait, as a timeout
/// (the default) or with an -UNBLOCKED error; 1 if it was blocked.
fn client_unblock(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 4 {
        return Err(super::server::subcommand_syntax_error(argv));
    }
    let error = match argv.try_get(3) {
        None => false,
        Some(r) if is(r, "timeout") => false,
        Some(r) if is(r, "error") => true,
        Some(_) => {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    };
    let id = args::int(argv.get(2))?;
    let unblocked = u64::try_from(id).is_ok_and(|id| ctx.server.blocking.unblock(id, error));
    ctx.reply.int(i64::from(unblocked));
    Ok(())
}

fn client_no_evict(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let v = argv.get(2);
    if is(v, "on") {
        ctx.client.shared.set_flag(flags::NO_EVICT, true);
    } else if is(v, "off") {
        ctx.client.shared.set_flag(flags::NO_EVICT, false);
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.reply.ok();
    Ok(())
}
