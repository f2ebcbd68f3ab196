//! The joined command table: Redis's metadata plus Tessera's handlers, with dense ids and a
//! case-insensitive lookup (after `rename-command` directives).

use hashbrown::HashMap;

use super::meta::{CmdFlags, CommandMeta, EXTRA_SUBCOMMANDS};
use super::meta_data::COMMANDS;
use super::{
    Handler, bitmap, blocking, cluster, connection, dump, generic, geo, hash, hll, introspect,
    list, migrate, pubsub, replication, save, server, set, sort, string, transaction, zset,
};

/// Every family's handlers, by full command name (`get`, `client|list`).
fn all_handlers() -> impl Iterator<Item = &'static (&'static str, Handler)> {
    [
        string::HANDLERS,
        bitmap::HANDLERS,
        generic::HANDLERS,
        save::HANDLERS,
        replication::HANDLERS,
        dump::HANDLERS,
        migrate::HANDLERS,
        hash::HANDLERS,
        set::HANDLERS,
        pubsub::HANDLERS,
        connection::HANDLERS,
        cluster::HANDLERS,
        server::HANDLERS,
        introspect::HANDLERS,
        list::HANDLERS,
        zset::HANDLERS,
        geo::HANDLERS,
        hll::HANDLERS,
        sort::HANDLERS,
        transaction::HANDLERS,
        blocking::HANDLERS,
    ]
    .into_iter()
    .flatten()
}

/// Runs `f` on the lower-case form of `name`, on the stack for the usual short names.
#[inline]
fn with_lowercase<R>(name: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = [0u8; 32];
    if name.len() <= buf.len() {
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        f(lower)
    } else {
        // Renamed commands may have long names (rename-command to a random string).
        f(&name.to_ascii_lowercase())
    }
}

/// What the dispatcher treats specially inside MULTI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxRole {
    /// Queued inside MULTI.
    Queued,
    /// EXEC: runs the queue.
    Exec,
    /// Runs at once even inside MULTI: MULTI, DISCARD, WATCH, QUIT, RESET.
    Immediate,
}

impl TxRole {
    fn of(name: &str) -> TxRole {
        match name {
            "exec" => TxRole::Exec,
            "multi" | "discard" | "watch" | "quit" | "reset" => TxRole::Immediate,
            _ => TxRole::Queued,
        }
    }
}

/// One command or subcommand the server serves.
pub struct Command {
    /// Dense id, for per-command statistics.
    pub id: usize,
    pub meta: &'static CommandMeta,
    /// `None` for a container such as CLIENT, which dispatches on its subcommand.
    pub handler: Option<Handler>,
    /// Subcommands by lower-case short name.
    subcommands: HashMap<Vec<u8>, usize>,
    pub parent: Option<usize>,
    pub tx_role: TxRole,
}

impl Command {
    #[inline]
    pub fn flags(&self) -> CmdFlags {
        self.meta.flags
    }

    /// The full lower-case name (`client|list`).
    pub fn name(&self) -> &'static str {
        self.meta.name
    }

    pub fn is_container(&self) -> bool {
        self.handler.is_none()
    }

    /// Ids of the subcommands served.
    pub fn subcommand_ids(&self) -> impl Iterator<Item = usize> + '_ {
        self.subcommands.values().copied()
    }

    pub fn is_write(&self) -> bool {
        self.meta.flags.contains(CmdFlags::WRITE)
    }
}

/// What a lookup found.
pub enum Lookup<'t> {
    Found(&'t Command),
    /// No such command.
    Unknown,
    /// A container whose subcommand (argv[1]) does not exist.
    UnknownSubcommand(&'t Command),
}

/// All commands served by this server.
pub struct CommandTable {
    commands: Vec<Command>,
    by_name: HashMap<Vec<u8>, usize>,
}

/// Whether Redis has a top-level command of this name (for `rename-command`).
pub fn exists(name: &str) -> bool {
    COMMANDS.iter().any(|c| c.name == name)
}

impl CommandTable {
    /// Joins metadata and handlers; `renames` are `rename-command` directives.
    pub fn new(renames: &[(String, String)]) -> Self {
        let handlers: HashMap<&str, Handler> = all_handlers().map(|(n, h)| (*n, *h)).collect();
        let mut commands = Vec::new();
        let mut by_name = HashMap::new();
        for meta in COMMANDS {
            let extras = EXTRA_SUBCOMMANDS
                .iter()
                .filter(|(parent, _)| *parent == meta.name)
                .map(|(_, sub)| sub);
            let served_subs: Vec<&'static CommandMeta> = meta
                .subcommands
                .iter()
                .chain(extras)
                .filter(|s| handlers.contains_key(s.name))
                .collect();
            let handler = handlers.get(meta.name).copied();
            if handler.is_none() && served_subs.is_empty() {
                continue;
            }
            let id = commands.len();
            commands.push(Command {
                id,
                meta,
                handler,
                subcommands: HashMap::new(),
                parent: None,
                tx_role: TxRole::of(meta.name),
            });
            for sub in served_subs {
                let sid = commands.len();
                commands.push(Command {
                    id: sid,
                    meta: sub,
                    handler: handlers.get(sub.name).copied(),
                    subcommands: HashMap::new(),
                    parent: Some(id),
                    tx_role: TxRole::Queued,
                });
                commands[id]
                    .subcommands
                    .insert(sub.short_name().as_bytes().to_vec(), sid);
            }
            by_name.insert(meta.name.as_bytes().to_vec(), id);
        }
        for (from, to) in renames {
            if let Some(id) = by_name.remove(from.as_bytes())
                && !to.is_empty()
            {
                by_name.insert(to.as_bytes().to_vec(), id);
            }
        }
        CommandTable { commands, by_name }
    }

    /// Finds the command for `name` (and `sub`, for containers), case-insensitively.
    #[inline]
    pub fn lookup(&self, name: &[u8], sub: Option<&[u8]>) -> Lookup<'_> {
        let Some(id) = self.find_top(name) else {
            return Lookup::Unknown;
        };
        let cmd = &self.commands[id];
        // Like `lookupCommand()`: with subcommands and an argument after the name, the
        // argument names the subcommand (COMMAND INFO); a bare container (CLIENT) is found
        // as itself and then fails its arity check.
        let Some(sub) = sub.filter(|_| !cmd.subcommands.is_empty()) else {
            return Lookup::Found(cmd);
        };
        match self.find_sub(cmd, sub) {
            Some(s) => Lookup::Found(s),
            None => Lookup::UnknownSubcommand(cmd),
        }
    }

    fn find_top(&self, name: &[u8]) -> Option<usize> {
        with_lowercase(name, |lower| self.by_name.get(lower).copied())
    }

    fn find_sub<'t>(&'t self, container: &Command, sub: &[u8]) -> Option<&'t Command> {
        with_lowercase(sub, |lower| container.subcommands.get(lower).copied())
            .map(|i| &self.commands[i])
    }

    /// A command by full name (`get`, `client|list`), for introspection.
    pub fn by_full_name(&self, full: &str) -> Option<&Command> {
        let lower = full.to_ascii_lowercase();
        match lower.split_once('|') {
            None => self.find_top(lower.as_bytes()).map(|i| &self.commands[i]),
            Some((top, sub)) => {
                let c = &self.commands[self.find_top(top.as_bytes())?];
                self.find_sub(c, sub.as_bytes())
            }
        }
    }

    pub fn get(&self, id: usize) -> &Command {
        &self.commands[id]
    }

    /// Number of commands and subcommands (the size of per-command stat arrays).
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Top-level commands as clients see them: (name as looked up, command).
    pub fn top_level(&self) -> impl Iterator<Item = (&[u8], &Command)> {
        self.by_name
            .iter()
            .map(|(name, &id)| (name.as_slice(), &self.commands[id]))
    }

    /// Every command and subcommand.
    pub fn all(&self) -> &[Command] {
        &self.commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_names_a_redis_command() {
        for (name, _) in all_handlers() {
            let found = COMMANDS
                .iter()
                .any(|c| c.name == *name || c.subcommands.iter().any(|s| s.name == *name))
                || EXTRA_SUBCOMMANDS.iter().any(|(_, s)| s.name == *name);
            assert!(found, "handler {name} has no Redis metadata");
        }
    }

    #[test]
    fn no_duplicate_handlers() {
        let mut seen = std::collections::HashSet::new();
        for (name, _) in all_handlers() {
            assert!(seen.insert(*name), "duplicate handler {name}");
        }
    }

    #[test]
    fn containers_serve_help_when_they_serve_anything() {
        let t = CommandTable::new(&[]);
        for (_, c) in t.top_level() {
            if c.is_container() {
                assert!(
                    t.find_sub(c, b"help").is_some(),
                    "{} has subcommands but no HELP",
                    c.name()
                );
            }
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_renames_apply() {
        let t = CommandTable::new(&[("get".into(), "fetch".into())]);
        assert!(matches!(t.lookup(b"FETCH", None), Lookup::Found(c) if c.name() == "get"));
        assert!(matches!(t.lookup(b"get", None), Lookup::Unknown));
        assert!(matches!(
            t.lookup(b"client", Some(b"nope")),
            Lookup::UnknownSubcommand(_)
        ));
    }

    /// The README's command table lists exactly the served commands, by Redis group.
    #[test]
    fn readme_lists_every_served_command() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let start = readme
            .find("<!-- commands:begin")
            .expect("commands:begin marker");
        let end = readme
            .find("<!-- commands:end")
            .expect("commands:end marker");
        let mut listed: Vec<(String, String)> = Vec::new();
        for line in readme[start..end].lines().filter(|l| l.starts_with("| ")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 3 || cells[1] == "group" || cells[1].starts_with("---") {
                continue;
            }
            for name in cells[2].split_whitespace() {
                listed.push((cells[1].to_string(), name.to_ascii_lowercase()));
            }
        }
        let t = CommandTable::new(&[]);
        let mut served: Vec<(String, String)> = t
            .top_level()
            .map(|(_, c)| (c.meta.doc.group.to_string(), c.name().to_string()))
            .collect();
        served.sort();
        listed.sort();
        assert_eq!(listed, served, "README command table vs served commands");
    }

    #[test]
    fn write_commands_are_flagged_consistently() {
        let t = CommandTable::new(&[]);
        for c in t.all() {
            let f = c.flags();
            assert!(
                !(f.contains(CmdFlags::WRITE) && f.contains(CmdFlags::READONLY)),
                "{} is both write and readonly",
                c.name()
            );
            if c.meta.arity != 0 && !c.is_container() {
                for spec in c.meta.key_specs {
                    if let super::super::meta::Begin::Index(i) = spec.begin {
                        assert!(i >= 1, "{}: key index {i}", c.name());
                    }
                }
            }
        }
    }
}
