//! COMMAND, COMMAND COUNT / INFO / DOCS / LIST / GETKEYS / GETKEYSANDFLAGS / HELP, all
//! answered from the one command table (behaves like `commandCommand()` and friends in
//! Redis's server.c).

use super::args::is;
use super::connection::reply_help;
use super::keyspec::find_keys;
use super::meta::{
    ACL_CATEGORY_NAMES, ARG_FLAG_NAMES, Arg, ArgKind, Begin, CMD_FLAG_NAMES, CmdFlags,
    DOC_FLAG_NAMES, Find, KEY_FLAG_NAMES, KeyFlags,
};
use super::table::{Command, CommandTable, Lookup};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::protocol::{Argv, Reply};
use crate::util::glob::glob_match;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("command", command),
    ("command|count", command_count),
    ("command|info", command_info),
    ("command|docs", command_docs),
    ("command|list", command_list),
    ("command|getkeys", command_getkeys),
    ("command|getkeysandflags", command_getkeysandflags),
    ("command|help", command_help),
];

/// Writes a set of status strings for the bits of `bits` named in `names`.
fn flag_set(r: &mut Reply, bits: u32, names: &[&str], prefix: &str) {
    let set: Vec<&str> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    r.set(set.len());
    for n in set {
        r.simple(&format!("{prefix}{n}"));
    }
}

fn key_specs(r: &mut Reply, cmd: &Command) {
    r.set(cmd.meta.key_specs.len());
    for spec in cmd.meta.key_specs {
        r.map(3 + spec.notes.is_some() as usize);
        if let Some(notes) = spec.notes {
            r.bulk(b"notes");
            r.bulk(notes.as_bytes());
        }
        r.bulk(b"flags");
        flag_set(r, spec.flags.bits() as u32, KEY_FLAG_NAMES, "");
        r.bulk(b"begin_search");
        r.map(2);
        r.bulk(b"type");
        match spec.begin {
            Begin::Unknown => {
                r.bulk(b"unknown");
                r.bulk(b"spec");
                r.map(0);
            }
            Begin::Index(pos) => {
                r.bulk(b"index");
                r.bulk(b"spec");
                r.map(1);
                r.bulk(b"index");
                r.int(pos as i64);
            }
            Begin::Keyword { keyword, startfrom } => {
                r.bulk(b"keyword");
                r.bulk(b"spec");
                r.map(2);
                r.bulk(b"keyword");
                r.bulk(keyword.as_bytes());
                r.bulk(b"startfrom");
                r.int(startfrom as i64);
            }
        }
        r.bulk(b"find_keys");
        r.map(2);
        r.bulk(b"type");
        match spec.find {
            Find::Unknown => {
                r.bulk(b"unknown");
                r.bulk(b"spec");
                r.map(0);
            }
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                r.bulk(b"range");
                r.bulk(b"spec");
                r.map(3);
                r.bulk(b"lastkey");
                r.int(lastkey as i64);
                r.bulk(b"keystep");
                r.int(keystep as i64);
                r.bulk(b"limit");
                r.int(limit as i64);
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                r.bulk(b"keynum");
                r.bulk(b"spec");
                r.map(3);
                r.bulk(b"keynumidx");
                r.int(keynumidx as i64);
                r.bulk(b"firstkey");
                r.int(firstkey as i64);
                r.bulk(b"keystep");
                r.int(keystep as i64);
            }
        }
    }
}

/// One COMMAND INFO entry (behaves like `addReplyCommandInfo()`).
fn info_entry(table: &CommandTable, r: &mut Reply, cmd: &Command) {
    let m = cmd.meta;
    r.array(10);
    r.bulk(m.name.as_bytes());
    r.int(m.arity as i64);
    flag_set(r, m.flags.bits(), CMD_FLAG_NAMES, "");
    r.int(m.first_key as i64);
    r.int(m.last_key as i64);
    r.int(m.key_step as i64);
    flag_set(r, m.acl.bits(), ACL_CATEGORY_NAMES, "@");
    r.set(m.tips.len());
    for t in m.tips {
        r.bulk(t.as_bytes());
    }
    key_specs(r, cmd);
    let subs: Vec<usize> = cmd.subcommand_ids().collect();
    if subs.is_empty() {
        r.set(0);
    } else {
        r.array(subs.len());
        for id in subs {
            info_entry(table, r, table.get(id));
        }
    }
}

fn args_docs(r: &mut Reply, args: &[Arg]) {
    r.array(args.len());
    for a in args {
        let nested = matches!(a.kind, ArgKind::ONEOF | ArgKind::BLOCK);
        let n = 2
            + (a.key_spec_index >= 0) as usize
            + a.token.is_some() as usize
            + a.summary.is_some() as usize
            + a.since.is_some() as usize
            + a.deprecated_since.is_some() as usize
            + (!a.flags.is_empty()) as usize
            + nested as usize;
        r.map(n);
        r.bulk(b"name");
        r.bulk(a.name.as_bytes());
        r.bulk(b"type");
        r.bulk(a.kind.name().as_bytes());
        if a.key_spec_index >= 0 {
            r.bulk(b"key_spec_index");
            r.int(a.key_spec_index as i64);
        }
        for (label, value) in [
            ("token", a.token),
            ("summary", a.summary),
            ("since", a.since),
            ("deprecated_since", a.deprecated_since),
        ] {
            if let Some(v) = value {
                r.bulk(label.as_bytes());
                r.bulk(v.as_bytes());
            }
        }
        if !a.flags.is_empty() {
            r.bulk(b"flags");
            flag_set(r, a.flags.bits() as u32, ARG_FLAG_NAMES, "");
        }
        if nested {
            r.bulk(b"arguments");
            args_docs(r, a.arguments);
        }
    }
}

/// One COMMAND DOCS entry (behaves like `addReplyCommandDocs()`).
fn docs_entry(table: &CommandTable, r: &mut Reply, cmd: &Command) {
    let d = &cmd.meta.doc;
    let subs: Vec<usize> = cmd.subcommand_ids().collect();
    let n = 1
        + d.summary.is_some() as usize
        + d.since.is_some() as usize
        + d.complexity.is_some() as usize
        + (!d.doc_flags.is_empty()) as usize
        + d.deprecated_since.is_some() as usize
        + d.replaced_by.is_some() as usize
        + (!d.history.is_empty()) as usize
        + (!d.arguments.is_empty()) as usize
        + (!subs.is_empty()) as usize;
    r.map(n);
    if let Some(s) = d.summary {
        r.bulk(b"summary");
        r.bulk(s.as_bytes());
    }
    if let Some(s) = d.since {
        r.bulk(b"since");
        r.bulk(s.as_bytes());
    }
    r.bulk(b"group");
    r.bulk(d.group.as_bytes());
    if let Some(s) = d.complexity {
        r.bulk(b"complexity");
        r.bulk(s.as_bytes());
    }
    if !d.doc_flags.is_empty() {
        r.bulk(b"doc_flags");
        flag_set(r, d.doc_flags.bits() as u32, DOC_FLAG_NAMES, "");
    }
    if let Some(s) = d.deprecated_since {
        r.bulk(b"deprecated_since");
        r.bulk(s.as_bytes());
    }
    if let Some(s) = d.replaced_by {
        r.bulk(b"replaced_by");
        r.bulk(s.as_bytes());
    }
    if !d.history.is_empty() {
        r.bulk(b"history");
        r.set(d.history.len());
        for (since, change) in d.history {
            r.array(2);
            r.bulk(since.as_bytes());
            r.bulk(change.as_bytes());
        }
    }
    if !d.arguments.is_empty() {
        r.bulk(b"arguments");
        args_docs(r, d.arguments);
    }
    if !subs.is_empty() {
        r.bulk(b"subcommands");
        r.map(subs.len());
        for id in subs {
            let sub = table.get(id);
            r.bulk(sub.name().as_bytes());
            docs_entry(table, r, sub);
        }
    }
}

fn command(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    let table = &ctx.server.commands;
    let top: Vec<&Command> = table.top_level().map(|(_, c)| c).collect();
    ctx.reply.array(top.len());
    for c in top {
        info_entry(table, ctx.reply, c);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.reply
        .int(ctx.server.commands.top_level().count() as i64);
    Ok(())
}

/// The command a client names (`get`, or `client|list` for a subcommand).
fn named<'t>(table: &'t CommandTable, name: &[u8]) -> Option<&'t Command> {
    table.by_full_name(&String::from_utf8_lossy(name))
}

fn command_info(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() == 2 {
        return command(ctx, argv);
    }
    let table = &ctx.server.commands;
    ctx.reply.array(argv.len() - 2);
    for name in argv.iter().skip(2) {
        match named(table, name) {
            Some(c) => info_entry(table, ctx.reply, c),
            None => ctx.reply.null(),
        }
    }
    Ok(())
}

fn command_docs(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let table = &ctx.server.commands;
    let found: Vec<&Command> = if argv.len() == 2 {
        table.top_level().map(|(_, c)| c).collect()
    } else {
        argv.iter()
            .skip(2)
            .filter_map(|n| named(table, n))
            .collect()
    };
    ctx.reply.map(found.len());
    for c in found {
        ctx.reply.bulk(c.name().as_bytes());
        docs_entry(table, ctx.reply, c);
    }
    Ok(())
}

fn command_list(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    // COMMAND LIST [FILTERBY MODULE name | ACLCAT cat | PATTERN pattern]
    enum Filter<'a> {
        None,
        Module,
        AclCat(Option<usize>),
        Pattern(&'a [u8]),
    }
    let filter = match argv.len() {
        2 => Filter::None,
        5 if is(argv.get(2), "filterby") => {
            let kind = argv.get(3);
            let value = argv.get(4);
            if is(kind, "module") {
                Filter::Module
            } else if is(kind, "aclcat") {
                Filter::AclCat(
                    ACL_CATEGORY_NAMES
                        .iter()
                        .position(|n| n.as_bytes().eq_ignore_ascii_case(value)),
                )
            } else if is(kind, "pattern") {
                Filter::Pattern(value)
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let names: Vec<&str> = ctx
        .server
        .commands
        .all()
        .iter()
        .filter(|c| match &filter {
            Filter::None => true,
            Filter::Module => false,
            Filter::AclCat(None) => false,
            Filter::AclCat(Some(bit)) => c.meta.acl.bits() & (1 << bit) != 0,
            Filter::Pattern(p) => glob_match(p, c.name().as_bytes(), true),
        })
        .map(|c| c.name())
        .collect();
    ctx.reply.array(names.len());
    for n in names {
        ctx.reply.bulk(n.as_bytes());
    }
    Ok(())
}

fn getkeys(ctx: &mut Ctx<'_>, argv: &Argv<'_>, with_flags: bool) -> CmdResult {
    let inner: Vec<&[u8]> = argv.iter().skip(2).collect();
    let owned = crate::protocol::OwnedArgv::from_slices(inner.iter().copied());
    let sub = owned.argv();
    let cmd = match ctx.server.commands.lookup(sub.get(0), sub.try_get(1)) {
        Lookup::Found(c) => c,
        _ => return Err(CmdError::err("Invalid command specified")),
    };
    if cmd.meta.key_specs.is_empty() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !cmd.meta.arity_ok(sub.len()) {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys = find_keys(cmd.meta, &sub).unwrap_or_default();
    if keys.is_empty() && !cmd.flags().contains(CmdFlags::NO_MANDATORY_KEYS) {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    ctx.reply.array(keys.len());
    for k in keys {
        if with_flags {
            ctx.reply.array(2);
            ctx.reply.bulk(sub.get(k.pos));
            let flags: KeyFlags = k.flags;
            flag_set(ctx.reply, flags.bits() as u32, KEY_FLAG_NAMES, "");
        } else {
            ctx.reply.bulk(sub.get(k.pos));
        }
    }
    Ok(())
}

fn command_getkeys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    getkeys(ctx, argv, false)
}

fn command_getkeysandflags(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    getkeys(ctx, argv, true)
}

const COMMAND_HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

fn command_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_help(ctx, argv, COMMAND_HELP);
    Ok(())
}
