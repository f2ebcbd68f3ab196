//! The one table of configuration options: name, alias, type, bounds, default, flags.
//!
//! It lists every option redis-server 7.0 accepts (its `static_configs[]`), so an existing
//! redis.conf loads unchanged and CONFIG GET answers with Redis's names and defaults, plus
//! Tessera's own options at the end. What an option *does* is decided where it is read
//! ([`super::Settings`]); options of subsystems Tessera does not have (jemalloc, THP,
//! syslog, …) are accepted and reported but change nothing.

use bitflags::bitflags;

bitflags! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct OptFlags: u16 {
        /// Only settable at start-up.
        const IMMUTABLE = 1 << 0;
        /// Value is redacted from logs.
        const SENSITIVE = 1 << 1;
        /// Not matched by CONFIG GET patterns (exact name only).
        const HIDDEN = 1 << 2;
        /// Refused by CONFIG SET unless `enable-protected-configs` allows it.
        const PROTECTED = 1 << 3;
        /// Takes several arguments on one config line.
        const MULTI_ARG = 1 << 4;
        /// Refused by CONFIG SET while loading a dataset.
        const DENY_LOADING = 1 << 5;
    }
}

/// How a numeric option is written and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumFormat {
    /// A plain integer.
    Plain,
    /// Bytes, with optional k/kb/m/mb/g/gb units.
    Memory,
    /// Bytes, or a percentage (`50%`) stored negated.
    MemoryOrPercent,
    /// Octal digits.
    Octal,
}

/// The value type of an option.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// Integer in `min..=max`; `unsigned` chooses how Redis prints the bounds in errors.
    Int {
        min: i64,
        max: i64,
        format: NumFormat,
        unsigned: bool,
    },
    /// One of a set of names.
    Enum(&'static [&'static str]),
    /// A set of flag names (`shutdown-on-sigterm save now`); the first name is the empty set.
    EnumFlags(&'static [&'static str]),
    /// A string; `null_if_empty` options print as empty when unset.
    Str,
    /// An option with its own grammar, handled in `special.rs`.
    Special(Special),
}

/// Options with their own grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    Dir,
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    NotifyKeyspaceEvents,
    Bind,
    ReplicaOf,
    LatencyTrackingInfoPercentiles,
}

/// One configuration option.
#[derive(Debug)]
pub struct OptSpec {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    /// The default, written as CONFIG GET prints it.
    pub default: &'static str,
    pub flags: OptFlags,
}

const I: OptFlags = OptFlags::IMMUTABLE;
const M: OptFlags = OptFlags::empty();
const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;

const fn b(
    name: &'static str,
    alias: Option<&'static str>,
    default: bool,
    flags: OptFlags,
) -> OptSpec {
    OptSpec {
        name,
        alias,
        kind: Kind::Bool,
        default: if default { "yes" } else { "no" },
        flags,
    }
}

const fn s(
    name: &'static str,
    alias: Option<&'static str>,
    default: &'static str,
    flags: OptFlags,
) -> OptSpec {
    OptSpec {
        name,
        alias,
        kind: Kind::Str,
        default,
        flags,
    }
}

const fn e(
    name: &'static str,
    values: &'static [&'static str],
    default: &'static str,
    flags: OptFlags,
) -> OptSpec {
    OptSpec {
        name,
        alias: None,
        kind: Kind::Enum(values),
        default,
        flags,
    }
}

#[allow(clippy::too_many_arguments)]
const fn n(
    name: &'static str,
    alias: Option<&'static str>,
    min: i64,
    max: i64,
    default: &'static str,
    format: NumFormat,
    unsigned: bool,
    flags: OptFlags,
) -> OptSpec {
    OptSpec {
        name,
        alias,
        kind: Kind::Int {
            min,
            max,
            format,
            unsigned,
        },
        default,
        flags,
    }
}

const fn sp(
    name: &'static str,
    alias: Option<&'static str>,
    special: Special,
    default: &'static str,
    flags: OptFlags,
) -> OptSpec {
    OptSpec {
        name,
        alias,
        kind: Kind::Special(special),
        default,
        flags,
    }
}

use NumFormat::{Memory, MemoryOrPercent, Octal, Plain};

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];
const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];

/// Every option, Redis's first (in `static_configs[]` order), then Tessera's own.
pub static OPTIONS: &[OptSpec] = &[
    // Bool options.
    b("rdbchecksum", None, true, I),
    b("daemonize", None, false, I),
    b("io-threads-do-reads", None, false, I),
    b("always-show-logo", None, false, I),
    b("protected-mode", None, true, M),
    b("rdbcompression", None, true, M),
    b("rdb-del-sync-files", None, false, M),
    b("activerehashing", None, true, M),
    b("stop-writes-on-bgsave-error", None, true, M),
    b("set-proc-title", None, true, I),
    b("dynamic-hz", None, true, M),
    b("lazyfree-lazy-eviction", None, false, M),
    b("lazyfree-lazy-expire", None, false, M),
    b("lazyfree-lazy-server-del", None, false, M),
    b("lazyfree-lazy-user-del", None, false, M),
    b("lazyfree-lazy-user-flush", None, false, M),
    b("repl-disable-tcp-nodelay", None, false, M),
    b("repl-diskless-sync", None, true, M),
    b("aof-rewrite-incremental-fsync", None, true, M),
    b("no-appendfsync-on-rewrite", None, false, M),
    b("cluster-require-full-coverage", None, true, M),
    b("rdb-save-incremental-fsync", None, true, M),
    b("aof-load-truncated", None, true, M),
    b("aof-use-rdb-preamble", None, true, M),
    b("aof-timestamp-enabled", None, false, M),
    b(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        false,
        M,
    ),
    b("replica-lazy-flush", Some("slave-lazy-flush"), false, M),
    b(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        true,
        M,
    ),
    b("replica-read-only", Some("slave-read-only"), true, M),
    b(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        true,
        M,
    ),
    b("jemalloc-bg-thread", None, true, M),
    b("activedefrag", None, false, M),
    b("syslog-enabled", None, false, I),
    b("cluster-enabled", None, false, I),
    OptSpec {
        flags: OptFlags::DENY_LOADING,
        ..b("appendonly", None, false, M)
    },
    b("cluster-allow-reads-when-down", None, false, M),
    b("cluster-allow-pubsubshard-when-down", None, true, M),
    b("crash-log-enabled", None, true, M),
    b("crash-memcheck-enabled", None, true, M),
    OptSpec {
        flags: OptFlags::HIDDEN,
        ..b("use-exit-on-panic", None, false, M)
    },
    b("disable-thp", None, true, I),
    b("cluster-allow-replica-migration", None, true, M),
    b("replica-announced", None, true, M),
    b("latency-tracking", None, true, M),
    b("aof-disable-auto-gc", None, false, M),
    b("replica-ignore-disk-write-errors", None, false, M),
    // TLS is not built in; the options exist so configs load (tls-port must stay 0).
    b("tls-cluster", None, false, M),
    b("tls-replication", None, false, M),
    b("tls-prefer-server-ciphers", None, false, M),
    b("tls-session-caching", None, true, M),
    // String options.
    s("aclfile", None, "", I),
    s("unixsocket", None, "", I),
    s("pidfile", None, "", I),
    s("replica-announce-ip", Some("slave-announce-ip"), "", M),
    OptSpec {
        flags: OptFlags::SENSITIVE,
        ..s("masteruser", None, "", M)
    },
    s("cluster-announce-ip", None, "", M),
    s("cluster-config-file", None, "nodes.conf", I),
    s("cluster-announce-hostname", None, "", M),
    s("syslog-ident", None, "redis", I),
    OptSpec {
        flags: OptFlags::PROTECTED,
        ..s("dbfilename", None, "dump.rdb", M)
    },
    s("appendfilename", None, "appendonly.aof", I),
    s("appenddirname", None, "appendonlydir", I),
    s("server_cpulist", None, "", I),
    s("bio_cpulist", None, "", I),
    s("aof_rewrite_cpulist", None, "", I),
    s("bgsave_cpulist", None, "", I),
    s("ignore-warnings", None, "", M),
    s(
        "proc-title-template",
        None,
        "{title} {listen-addr} {server-mode}",
        M,
    ),
    s("bind-source-addr", None, "", M),
    s("logfile", None, "", I),
    OptSpec {
        flags: OptFlags::SENSITIVE,
        ..s("masterauth", None, "", M)
    },
    OptSpec {
        flags: OptFlags::SENSITIVE,
        ..s("requirepass", None, "", M)
    },
    s("tls-cert-file", None, "", M),
    s("tls-key-file", None, "", M),
    s("tls-key-file-pass", None, "", M),
    s("tls-client-cert-file", None, "", M),
    s("tls-client-key-file", None, "", M),
    s("tls-client-key-file-pass", None, "", M),
    s("tls-dh-params-file", None, "", M),
    s("tls-ca-cert-file", None, "", M),
    s("tls-ca-cert-dir", None, "", M),
    s("tls-protocols", None, "", M),
    s("tls-ciphers", None, "", M),
    s("tls-ciphersuites", None, "", M),
    // Enum options.
    e("supervised", &["upstart", "systemd", "auto", "no"], "no", I),
    e(
        "syslog-facility",
        &[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ],
        "local0",
        I,
    ),
    e(
        "repl-diskless-load",
        &["disabled", "on-empty-db", "swapdb"],
        "disabled",
        OptFlags::DENY_LOADING,
    ),
    e("loglevel", LOGLEVELS, "notice", M),
    e("maxmemory-policy", MAXMEMORY_POLICIES, "noeviction", M),
    e("appendfsync", &["everysec", "always", "no"], "everysec", M),
    e(
        "oom-score-adj",
        &["no", "yes", "relative", "absolute"],
        "no",
        M,
    ),
    e(
        "acl-pubsub-default",
        &["allchannels", "resetchannels"],
        "resetchannels",
        M,
    ),
    e("sanitize-dump-payload", &["no", "yes", "clients"], "no", M),
    e("enable-protected-configs", PROTECTED_ACTION, "no", I),
    e("enable-debug-command", PROTECTED_ACTION, "no", I),
    e("enable-module-command", PROTECTED_ACTION, "no", I),
    e(
        "cluster-preferred-endpoint-type",
        &["ip", "hostname", "unknown-endpoint"],
        "ip",
        M,
    ),
    e(
        "propagation-error-behavior",
        &["ignore", "panic", "panic-on-replicas"],
        "ignore",
        M,
    ),
    OptSpec {
        name: "shutdown-on-sigint",
        alias: None,
        kind: Kind::EnumFlags(SHUTDOWN_FLAGS),
        default: "default",
        flags: OptFlags::MULTI_ARG,
    },
    OptSpec {
        name: "shutdown-on-sigterm",
        alias: None,
        kind: Kind::EnumFlags(SHUTDOWN_FLAGS),
        default: "default",
        flags: OptFlags::MULTI_ARG,
    },
    e("tls-auth-clients", &["no", "yes", "optional"], "yes", M),
    // Integer options.
    n("databases", None, 1, INT_MAX, "16", Plain, false, I),
    n("port", None, 0, 65535, "6379", Plain, false, M),
    n("io-threads", None, 1, 128, "1", Plain, false, I),
    n(
        "auto-aof-rewrite-percentage",
        None,
        0,
        INT_MAX,
        "100",
        Plain,
        false,
        M,
    ),
    n(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        0,
        INT_MAX,
        "10",
        Plain,
        false,
        M,
    ),
    n(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        INT_MIN,
        INT_MAX,
        "-2",
        Plain,
        false,
        M,
    ),
    n("tcp-keepalive", None, 0, INT_MAX, "300", Plain, false, M),
    n(
        "cluster-migration-barrier",
        None,
        0,
        INT_MAX,
        "1",
        Plain,
        false,
        M,
    ),
    n("active-defrag-cycle-min", None, 1, 99, "1", Plain, false, M),
    n(
        "active-defrag-cycle-max",
        None,
        1,
        99,
        "25",
        Plain,
        false,
        M,
    ),
    n(
        "active-defrag-threshold-lower",
        None,
        0,
        1000,
        "10",
        Plain,
        false,
        M,
    ),
    n(
        "active-defrag-threshold-upper",
        None,
        0,
        1000,
        "100",
        Plain,
        false,
        M,
    ),
    n("lfu-log-factor", None, 0, INT_MAX, "10", Plain, false, M),
    n("lfu-decay-time", None, 0, INT_MAX, "1", Plain, false, M),
    n(
        "replica-priority",
        Some("slave-priority"),
        0,
        INT_MAX,
        "100",
        Plain,
        false,
        M,
    ),
    n(
        "repl-diskless-sync-delay",
        None,
        0,
        INT_MAX,
        "5",
        Plain,
        false,
        M,
    ),
    n("maxmemory-samples", None, 1, INT_MAX, "5", Plain, false, M),
    n(
        "maxmemory-eviction-tenacity",
        None,
        0,
        100,
        "10",
        Plain,
        false,
        M,
    ),
    n("timeout", None, 0, INT_MAX, "0", Plain, false, M),
    n(
        "replica-announce-port",
        Some("slave-announce-port"),
        0,
        65535,
        "0",
        Plain,
        false,
        M,
    ),
    n("tcp-backlog", None, 0, INT_MAX, "511", Plain, false, I),
    n("cluster-port", None, 0, 65535, "0", Plain, false, I),
    n(
        "cluster-announce-bus-port",
        None,
        0,
        65535,
        "0",
        Plain,
        false,
        M,
    ),
    n(
        "cluster-announce-port",
        None,
        0,
        65535,
        "0",
        Plain,
        false,
        M,
    ),
    n(
        "cluster-announce-tls-port",
        None,
        0,
        65535,
        "0",
        Plain,
        false,
        M,
    ),
    n("repl-timeout", None, 1, INT_MAX, "60", Plain, false, M),
    n(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        1,
        INT_MAX,
        "10",
        Plain,
        false,
        M,
    ),
    n(
        "list-compress-depth",
        None,
        0,
        INT_MAX,
        "0",
        Plain,
        false,
        M,
    ),
    n(
        "rdb-key-save-delay",
        None,
        INT_MIN,
        INT_MAX,
        "0",
        Plain,
        false,
        OptFlags::HIDDEN,
    ),
    n(
        "key-load-delay",
        None,
        INT_MIN,
        INT_MAX,
        "0",
        Plain,
        false,
        OptFlags::HIDDEN,
    ),
    n("active-expire-effort", None, 1, 10, "1", Plain, false, M),
    n("hz", None, 0, INT_MAX, "10", Plain, false, M),
    n(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        0,
        INT_MAX,
        "0",
        Plain,
        false,
        M,
    ),
    n(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        0,
        INT_MAX,
        "10",
        Plain,
        false,
        M,
    ),
    n(
        "watchdog-period",
        None,
        0,
        INT_MAX,
        "0",
        Plain,
        false,
        OptFlags::HIDDEN,
    ),
    n("shutdown-timeout", None, 0, INT_MAX, "10", Plain, false, M),
    n(
        "repl-diskless-sync-max-replicas",
        None,
        0,
        INT_MAX,
        "0",
        Plain,
        false,
        M,
    ),
    n("maxclients", None, 1, UINT_MAX, "10000", Plain, true, M),
    n("unixsocketperm", None, 0, 0o777, "0", Octal, true, I),
    n("socket-mark-id", None, 0, UINT_MAX, "0", Plain, true, I),
    n(
        "active-defrag-max-scan-fields",
        None,
        1,
        LONG_MAX,
        "1000",
        Plain,
        false,
        M,
    ),
    n("slowlog-max-len", None, 0, LONG_MAX, "128", Plain, false, M),
    n("acllog-max-len", None, 0, LONG_MAX, "128", Plain, false, M),
    n(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        0,
        LONG_MAX,
        "5000",
        Plain,
        false,
        M,
    ),
    n(
        "cluster-node-timeout",
        None,
        0,
        LONG_MAX,
        "15000",
        Plain,
        false,
        M,
    ),
    n(
        "slowlog-log-slower-than",
        None,
        -1,
        LONG_MAX,
        "10000",
        Plain,
        false,
        M,
    ),
    n(
        "latency-monitor-threshold",
        None,
        0,
        LONG_MAX,
        "0",
        Plain,
        false,
        M,
    ),
    n(
        "proto-max-bulk-len",
        None,
        1024 * 1024,
        LONG_MAX,
        "536870912",
        Memory,
        false,
        M,
    ),
    n(
        "stream-node-max-entries",
        None,
        0,
        LONG_MAX,
        "100",
        Plain,
        false,
        M,
    ),
    n(
        "repl-backlog-size",
        None,
        1,
        LONG_MAX,
        "1048576",
        Memory,
        false,
        M,
    ),
    n("maxmemory", None, 0, LONG_MAX, "0", Memory, true, M),
    n(
        "cluster-link-sendbuf-limit",
        None,
        0,
        LONG_MAX,
        "0",
        Memory,
        true,
        M,
    ),
    n(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        0,
        LONG_MAX,
        "512",
        Plain,
        true,
        M,
    ),
    n(
        "set-max-intset-entries",
        None,
        0,
        LONG_MAX,
        "512",
        Plain,
        true,
        M,
    ),
    n(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        0,
        LONG_MAX,
        "128",
        Plain,
        true,
        M,
    ),
    n(
        "active-defrag-ignore-bytes",
        None,
        1,
        LONG_MAX,
        "104857600",
        Memory,
        true,
        M,
    ),
    n(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        0,
        LONG_MAX,
        "64",
        Memory,
        true,
        M,
    ),
    n(
        "stream-node-max-bytes",
        None,
        0,
        LONG_MAX,
        "4096",
        Memory,
        true,
        M,
    ),
    n(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        0,
        LONG_MAX,
        "64",
        Memory,
        true,
        M,
    ),
    n(
        "hll-sparse-max-bytes",
        None,
        0,
        LONG_MAX,
        "3000",
        Memory,
        true,
        M,
    ),
    n(
        "tracking-table-max-keys",
        None,
        0,
        LONG_MAX,
        "1000000",
        Plain,
        true,
        M,
    ),
    n(
        "client-query-buffer-limit",
        None,
        1024 * 1024,
        LONG_MAX,
        "1073741824",
        Memory,
        true,
        M,
    ),
    n(
        "maxmemory-clients",
        None,
        -100,
        LONG_MAX,
        "0",
        MemoryOrPercent,
        false,
        M,
    ),
    n(
        "repl-backlog-ttl",
        None,
        0,
        LONG_MAX,
        "3600",
        Plain,
        false,
        M,
    ),
    n(
        "auto-aof-rewrite-min-size",
        None,
        0,
        LONG_MAX,
        "67108864",
        Memory,
        false,
        M,
    ),
    n(
        "loading-process-events-interval-bytes",
        None,
        1024,
        INT_MAX,
        "2097152",
        Plain,
        false,
        OptFlags::HIDDEN,
    ),
    n("tls-port", None, 0, 65535, "0", Plain, false, M),
    n(
        "tls-session-cache-size",
        None,
        0,
        INT_MAX,
        "20480",
        Plain,
        false,
        M,
    ),
    n(
        "tls-session-cache-timeout",
        None,
        0,
        INT_MAX,
        "300",
        Plain,
        false,
        M,
    ),
    // Options with their own grammar.
    sp(
        "dir",
        None,
        Special::Dir,
        "",
        OptFlags::PROTECTED.union(OptFlags::DENY_LOADING),
    ),
    sp(
        "save",
        None,
        Special::Save,
        "3600 1 300 100 60 10000",
        OptFlags::MULTI_ARG,
    ),
    sp(
        "client-output-buffer-limit",
        None,
        Special::ClientOutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        OptFlags::MULTI_ARG,
    ),
    sp(
        "oom-score-adj-values",
        None,
        Special::OomScoreAdjValues,
        "0 200 800",
        OptFlags::MULTI_ARG,
    ),
    sp(
        "notify-keyspace-events",
        None,
        Special::NotifyKeyspaceEvents,
        "",
        M,
    ),
    sp("bind", None, Special::Bind, "* -::*", OptFlags::MULTI_ARG),
    sp(
        "replicaof",
        Some("slaveof"),
        Special::ReplicaOf,
        "",
        OptFlags::IMMUTABLE.union(OptFlags::MULTI_ARG),
    ),
    sp(
        "latency-tracking-info-percentiles",
        None,
        Special::LatencyTrackingInfoPercentiles,
        "50 99 99.9",
        OptFlags::MULTI_ARG,
    ),
    // Tessera's own options.
    n("server-threads", None, 0, 256, "0", Plain, false, I),
];

/// Finds an option by name or alias, case-insensitively. Returns its index and whether the
/// name was the alias.
pub fn lookup(name: &[u8]) -> Option<(usize, bool)> {
    OPTIONS.iter().enumerate().find_map(|(i, o)| {
        if o.name.as_bytes().eq_ignore_ascii_case(name) {
            Some((i, false))
        } else if o
            .alias
            .is_some_and(|a| a.as_bytes().eq_ignore_ascii_case(name))
        {
            Some((i, true))
        } else {
            None
        }
    })
}

/// Index of an option known to exist (for typed reads).
pub fn index_of(name: &str) -> usize {
    lookup(name.as_bytes())
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("invariant: option {name} is in the table"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for o in OPTIONS {
            assert!(seen.insert(o.name), "duplicate {}", o.name);
            if let Some(a) = o.alias {
                assert!(seen.insert(a), "duplicate alias {a}");
            }
        }
    }
}
