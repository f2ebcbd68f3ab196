//! The static description of a command: everything COMMAND INFO and COMMAND DOCS print,
//! and what routing, MULTI, ACL and propagation read.
//!
//! The values for Redis's own commands live in `meta_data.rs`, recorded from redis-server
//! 7.0.15 itself (see `scripts/gen_command_meta.py`). Flag sets are bitflags whose
//! declaration order is the order Redis prints them in (`addReplyFlagsForCommand()`,
//! `addReplyCommandCategories()`, `addReplyFlagsForKeyArgs()`).

use bitflags::bitflags;

bitflags! {
    /// Command flags, in the order `COMMAND INFO` lists them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct CmdFlags: u32 {
        const WRITE = 1 << 0;
        const READONLY = 1 << 1;
        const DENYOOM = 1 << 2;
        const MODULE = 1 << 3;
        const ADMIN = 1 << 4;
        const PUBSUB = 1 << 5;
        const NOSCRIPT = 1 << 6;
        const BLOCKING = 1 << 7;
        const LOADING = 1 << 8;
        const STALE = 1 << 9;
        const SKIP_MONITOR = 1 << 10;
        const SKIP_SLOWLOG = 1 << 11;
        const ASKING = 1 << 12;
        const FAST = 1 << 13;
        const NO_AUTH = 1 << 14;
        const NO_MANDATORY_KEYS = 1 << 15;
        const NO_ASYNC_LOADING = 1 << 16;
        const NO_MULTI = 1 << 17;
        const MOVABLEKEYS = 1 << 18;
        const ALLOW_BUSY = 1 << 19;
    }
}

/// Names of [`CmdFlags`] bits, in bit order.
pub const CMD_FLAG_NAMES: &[&str] = &[
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "no_mandatory_keys",
    "no_async_loading",
    "no_multi",
    "movablekeys",
    "allow_busy",
];

bitflags! {
    /// ACL categories, in the order of Redis's `ACLCommandCategories` table.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct AclCategories: u32 {
        const KEYSPACE = 1 << 0;
        const READ = 1 << 1;
        const WRITE = 1 << 2;
        const SET = 1 << 3;
        const SORTEDSET = 1 << 4;
        const LIST = 1 << 5;
        const HASH = 1 << 6;
        const STRING = 1 << 7;
        const BITMAP = 1 << 8;
        const HYPERLOGLOG = 1 << 9;
        const GEO = 1 << 10;
        const STREAM = 1 << 11;
        const PUBSUB = 1 << 12;
        const ADMIN = 1 << 13;
        const FAST = 1 << 14;
        const SLOW = 1 << 15;
        const BLOCKING = 1 << 16;
        const DANGEROUS = 1 << 17;
        const CONNECTION = 1 << 18;
        const TRANSACTION = 1 << 19;
        const SCRIPTING = 1 << 20;
    }
}

/// Names of [`AclCategories`] bits, in bit order.
pub const ACL_CATEGORY_NAMES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

bitflags! {
    /// Key-spec flags, in the order `COMMAND INFO` lists them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct KeyFlags: u16 {
        const RO = 1 << 0;
        const RW = 1 << 1;
        const OW = 1 << 2;
        const RM = 1 << 3;
        const ACCESS = 1 << 4;
        const UPDATE = 1 << 5;
        const INSERT = 1 << 6;
        const DELETE = 1 << 7;
        const NOT_KEY = 1 << 8;
        const INCOMPLETE = 1 << 9;
        const VARIABLE_FLAGS = 1 << 10;
    }
}

/// Names of [`KeyFlags`] bits, in bit order.
pub const KEY_FLAG_NAMES: &[&str] = &[
    "RO",
    "RW",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
];

bitflags! {
    /// COMMAND DOCS `doc_flags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct DocFlags: u8 {
        const DEPRECATED = 1 << 0;
        const SYSCMD = 1 << 1;
    }
}

/// Names of [`DocFlags`] bits, in bit order.
pub const DOC_FLAG_NAMES: &[&str] = &["deprecated", "syscmd"];

bitflags! {
    /// Flags of one documented argument.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ArgFlags: u8 {
        const OPTIONAL = 1 << 0;
        const MULTIPLE = 1 << 1;
        const MULTIPLE_TOKEN = 1 << 2;
    }
}

/// Names of [`ArgFlags`] bits, in bit order.
pub const ARG_FLAG_NAMES: &[&str] = &["optional", "multiple", "multiple_token"];

/// Where the search for a key spec's keys starts.
#[derive(Clone, Copy, Debug)]
pub enum Begin {
    Unknown,
    /// At this argument index.
    Index(i32),
    /// After the first argument equal to `keyword` (case-insensitive), searching from
    /// `startfrom` (negative: from the end, backwards).
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
}

/// How many keys follow the start of a key spec.
#[derive(Clone, Copy, Debug)]
pub enum Find {
    Unknown,
    /// Keys up to `lastkey` (relative to the start; negative counts from the end,
    /// -1 = last argument), every `keystep`-th; `limit` > 0 bounds to 1/limit of the rest.
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    /// The number of keys is at `keynumidx` (relative to the start), keys begin at
    /// `firstkey` (relative to the start).
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
}

/// One key specification of a command (Redis 7.0 key-spec model).
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: KeyFlags,
    pub begin: Begin,
    pub find: Find,
}

/// The type of a documented argument, as COMMAND DOCS names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum ArgKind {
    STRING,
    INTEGER,
    DOUBLE,
    KEY,
    PATTERN,
    UNIX_TIME,
    PURE_TOKEN,
    ONEOF,
    BLOCK,
}

impl ArgKind {
    /// The name COMMAND DOCS prints.
    pub fn name(self) -> &'static str {
        match self {
            ArgKind::STRING => "string",
            ArgKind::INTEGER => "integer",
            ArgKind::DOUBLE => "double",
            ArgKind::KEY => "key",
            ArgKind::PATTERN => "pattern",
            ArgKind::UNIX_TIME => "unix-time",
            ArgKind::PURE_TOKEN => "pure-token",
            ArgKind::ONEOF => "oneof",
            ArgKind::BLOCK => "block",
        }
    }
}

/// One documented argument (COMMAND DOCS `arguments`).
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
    /// -1 when the argument is not a key.
    pub key_spec_index: i32,
    pub token: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    pub flags: ArgFlags,
    pub arguments: &'static [Arg],
}

/// The COMMAND DOCS part of a command's description.
#[derive(Debug)]
pub struct Doc {
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub group: &'static str,
    pub complexity: Option<&'static str>,
    pub doc_flags: DocFlags,
    pub deprecated_since: Option<&'static str>,
    pub replaced_by: Option<&'static str>,
    pub history: &'static [(&'static str, &'static str)],
    pub arguments: &'static [Arg],
}

/// Everything Redis publishes about one command or subcommand.
#[derive(Debug)]
pub struct CommandMeta {
    /// Lower-case full name: `get`, or `client|list` for a subcommand.
    pub name: &'static str,
    /// Redis rule: N means exactly N arguments (command name included), -N at least N.
    pub arity: i32,
    pub flags: CmdFlags,
    /// The legacy (first, last, step) key range COMMAND INFO prints.
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub acl: AclCategories,
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub doc: Doc,
    pub subcommands: &'static [CommandMeta],
}

impl CommandMeta {
    /// The subcommand part of a full name (`list` of `client|list`), or the whole name.
    pub fn short_name(&self) -> &'static str {
        match self.name.rsplit_once('|') {
            Some((_, sub)) => sub,
            None => self.name,
        }
    }

    /// Whether `argc` arguments (the command name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

/// Subcommands Tessera serves beyond Redis 7.0.15's table, with the metadata Redis 7.2
/// gives them: (parent command, subcommand). Client libraries send CLIENT SETINFO on
/// connect since Redis 7.2.
pub static EXTRA_SUBCOMMANDS: &[(&str, CommandMeta)] = &[(
    "client",
    CommandMeta {
        name: "client|setinfo",
        arity: 4,
        flags: CmdFlags::NOSCRIPT
            .union(CmdFlags::LOADING)
            .union(CmdFlags::STALE),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl: AclCategories::SLOW.union(AclCategories::CONNECTION),
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: Some("Sets information specific to the client or connection."),
            since: Some("7.2.0"),
            group: "connection",
            complexity: Some("O(1)"),
            doc_flags: DocFlags::empty(),
            deprecated_since: None,
            replaced_by: None,
            history: &[],
            arguments: &[Arg {
                name: "attr",
                kind: ArgKind::ONEOF,
                key_spec_index: -1,
                token: None,
                summary: None,
                since: None,
                deprecated_since: None,
                flags: ArgFlags::empty(),
                arguments: &[
                    Arg {
                        name: "libname",
                        kind: ArgKind::STRING,
                        key_spec_index: -1,
                        token: Some("LIB-NAME"),
                        summary: None,
                        since: None,
                        deprecated_since: None,
                        flags: ArgFlags::empty(),
                        arguments: &[],
                    },
                    Arg {
                        name: "libver",
                        kind: ArgKind::STRING,
                        key_spec_index: -1,
                        token: Some("LIB-VER"),
                        summary: None,
                        since: None,
                        deprecated_since: None,
                        flags: ArgFlags::empty(),
                        arguments: &[],
                    },
                ],
            }],
        },
        subcommands: &[],
    },
)];
