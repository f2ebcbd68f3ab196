//! Configuration: redis.conf grammar and `--name value` arguments, CONFIG GET / SET /
//! REWRITE, and the typed [`Settings`] the rest of the server reads.
//!
//! Every option's value is kept as its canonical text (what CONFIG GET prints). A change
//! validates the new text, stores it, and rebuilds the typed `Settings`, which readers load
//! lock-free (behaves like Redis's config.c: `loadServerConfigFromString()`,
//! `configSetCommand()`, `configGetCommand()`, `rewriteConfig()`).

pub mod options;
mod special;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::keyspace::EventClass;
use crate::protocol::parse::{parse_i64, split_args};
use crate::util::glob::glob_match;
use options::{Kind, NumFormat, OPTIONS, OptFlags, Special};

/// A start-up configuration error, printed like Redis's "FATAL CONFIG FILE ERROR".
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{msg}")]
    Line {
        line: usize,
        text: String,
        msg: String,
    },
    #[error("Fatal error, can't open config file '{path}': {reason}")]
    Open { path: String, reason: String },
    #[error("{0}")]
    Other(String),
}

/// Client output buffer limits of one client class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

/// Typed view of the options the server acts on.
#[derive(Clone, Debug)]
pub struct Settings {
    pub port: u16,
    pub bind: Vec<String>,
    pub protected_mode: bool,
    pub requirepass: Option<Vec<u8>>,
    pub databases: usize,
    pub hz: u32,
    pub maxclients: u64,
    pub timeout_secs: u64,
    pub tcp_keepalive_secs: u64,
    pub tcp_backlog: u32,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: u64,
    pub notify_keyspace_events: EventClass,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// Largest sparse HyperLogLog, header included, before it turns dense.
    pub hll_sparse_max_bytes: usize,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: usize,
    pub latency_monitor_threshold: i64,
    pub loglevel: usize,
    pub logfile: String,
    pub pidfile: String,
    pub daemonize: bool,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    /// The LFU parameters while an `*-lfu` policy is in force.
    pub lfu: Option<crate::keyspace::lfu::Lfu>,
    pub active_expire_effort: u32,
    pub pubsub_limit: BufferLimit,
    pub normal_limit: BufferLimit,
    pub server_threads: usize,
    pub cluster_enabled: bool,
    pub save_points: Vec<(u64, u64)>,
    pub appendonly: bool,
    /// `rdbcompression`: LZF for long strings in RDB files and DUMP payloads.
    pub rdb_compression: bool,
    /// `min-replicas-to-write` (0: off) and `min-replicas-max-lag` (seconds).
    pub min_replicas_to_write: usize,
    pub min_replicas_max_lag: i64,
    /// `replica-read-only`.
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
}

impl Settings {
    /// Encoding thresholds for compact value representations.
    pub fn encoding_limits(&self) -> crate::keyspace::value::EncodingLimits {
        crate::keyspace::value::EncodingLimits {
            hash_max_listpack_entries: self.hash_max_listpack_entries,
            hash_max_listpack_value: self.hash_max_listpack_value,
            set_max_intset_entries: self.set_max_intset_entries,
            zset_max_listpack_entries: self.zset_max_listpack_entries,
            zset_max_listpack_value: self.zset_max_listpack_value,
        }
    }
}

/// What the config file and arguments produced besides option values.
#[derive(Clone, Debug, Default)]
pub struct Directives {
    /// `rename-command old new` (new empty = removed).
    pub renames: Vec<(String, String)>,
}

/// The configuration store.
pub struct Config {
    values: Mutex<Vec<String>>,
    settings: ArcSwap<Settings>,
    /// Absolute path of the config file, if one was given.
    pub config_file: Option<PathBuf>,
    pub directives: Directives,
}

/// Log levels, in `loglevel` order.
pub const LOGLEVELS: [&str; 4] = ["debug", "verbose", "notice", "warning"];

impl Config {
    /// Defaults only.
    pub fn defaults() -> Config {
        let values = OPTIONS
            .iter()
            .map(|o| o.default.to_string())
            .collect::<Vec<_>>();
        let settings = build_settings(&values);
        Config {
            values: Mutex::new(values),
            settings: ArcSwap::from_pointee(settings),
            config_file: None,
            directives: Directives::default(),
        }
    }

    /// Loads `tessera-server [configfile] [--name value ...]` like redis-server's `main()`:
    /// the file is read first, then the arguments are appended as config lines.
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let mut cfg = Config::defaults();
        let mut text = String::new();
        let mut rest = args;
        if let Some(first) = args.first()
            && !first.starts_with('-')
        {
            let path = std::path::absolute(first).unwrap_or_else(|_| PathBuf::from(first));
            text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Open {
                path: first.clone(),
                reason: io_reason(&e),
            })?;
            cfg.config_file = Some(path);
            rest = &args[1..];
        }
        text.push('\n');
        text.push_str(&args_to_config(rest));
        let mut loader = Loader {
            cfg: &mut cfg,
            save_seen: false,
        };
        loader.load_text(&text, 0)?;
        let values = cfg.values.lock().clone();
        cfg.settings.store(Arc::new(build_settings(&values)));
        Ok(cfg)
    }

    /// The current typed settings.
    #[inline]
    pub fn settings(&self) -> arc_swap::Guard<Arc<Settings>> {
        self.settings.load()
    }

    /// A counted handle on the current settings, for long-lived readers.
    pub fn settings_arc(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// The canonical text of one option (by its primary name).
    pub fn get(&self, name: &str) -> String {
        let i = options::index_of(name);
        self.value_text(i, &self.values.lock())
    }

    fn value_text(&self, i: usize, values: &[String]) -> String {
        match OPTIONS[i].kind {
            Kind::Special(Special::Dir) => std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            Kind::Special(Special::NotifyKeyspaceEvents) => EventClass::parse(values[i].as_bytes())
                .unwrap_or_default()
                .to_config_string(),
            _ => values[i].clone(),
        }
    }

    /// CONFIG GET: (name, value) pairs for every pattern, each option once, under the name
    /// the client matched (an alias matched by a pattern is listed too, as in Redis).
    pub fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let values = self.values.lock();
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for pat in patterns {
            let is_glob = pat.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
            if !is_glob {
                if let Some((i, _)) = options::lookup(pat) {
                    let name = String::from_utf8_lossy(pat).into_owned();
                    if seen.insert(name.to_ascii_lowercase()) {
                        out.push((name, self.value_text(i, &values)));
                    }
                }
                continue;
            }
            for (i, o) in OPTIONS.iter().enumerate() {
                if o.flags.contains(OptFlags::HIDDEN) {
                    continue;
                }
                for name in std::iter::once(o.name).chain(o.alias) {
                    if glob_match(pat, name.as_bytes(), true) && seen.insert(name.to_string()) {
                        out.push((name.to_string(), self.value_text(i, &values)));
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET with name/value pairs: all or nothing. Protected options (`dir`, ...)
    /// only with `allow_protected`. Returns the Redis error text.
    pub fn set_many(&self, pairs: &[(&[u8], &[u8])], allow_protected: bool) -> Result<(), String> {
        let mut values = self.values.lock();
        let mut chosen: Vec<usize> = Vec::with_capacity(pairs.len());
        let mut failure: Option<String> = None;
        for (name, _) in pairs {
            let Some((i, _)) = options::lookup(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(name)
                ));
            };
            if failure.is_some() {
                continue;
            }
            let o = &OPTIONS[i];
            let protected = o.flags.contains(OptFlags::PROTECTED) && !allow_protected;
            if o.flags.contains(OptFlags::IMMUTABLE) || protected {
                let what = if o.flags.contains(OptFlags::IMMUTABLE) {
                    "immutable"
                } else {
                    "protected"
                };
                failure = Some(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - can't set {what} config",
                    String::from_utf8_lossy(name)
                ));
                continue;
            }
            if chosen.contains(&i) {
                failure = Some(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - duplicate parameter",
                    String::from_utf8_lossy(name)
                ));
                continue;
            }
            chosen.push(i);
        }
        if let Some(f) = failure {
            return Err(f);
        }
        let backup = values.clone();
        for (&i, (_, value)) in chosen.iter().zip(pairs) {
            let o = &OPTIONS[i];
            let args: Vec<Vec<u8>> = if o.flags.contains(OptFlags::MULTI_ARG) && !value.is_empty() {
                let mut buf = Vec::new();
                let mut ranges = Vec::new();
                if !split_args(value, &mut buf, &mut ranges) {
                    *values = backup;
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{}') - Unbalanced quotes",
                        o.name
                    ));
                }
                ranges.into_iter().map(|r| buf[r].to_vec()).collect()
            } else {
                vec![value.to_vec()]
            };
            match canonical(i, &args, &values[i], false) {
                Ok(text) => values[i] = text,
                Err(msg) => {
                    *values = backup;
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{}') - {msg}",
                        o.name
                    ));
                }
            }
        }
        self.settings.store(Arc::new(build_settings(&values)));
        Ok(())
    }

    /// CONFIG REWRITE: rewrites the config file in place, keeping comments and unknown
    /// lines, replacing each option's first line with its current value, dropping its other
    /// lines, and appending changed options that were not in the file.
    pub fn rewrite(&self) -> Result<(), String> {
        let Some(path) = &self.config_file else {
            return Err("ERR The server is running without a config file".to_string());
        };
        let values = self.values.lock();
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let text = rewrite_text(&old, |i| self.value_text(i, &values));
        write_atomically(path, text.as_bytes())
            .map_err(|e| format!("ERR Rewriting config file: {}", io_reason(&e)))
    }
}

/// Builds the new config file text from the old one and the current values.
fn rewrite_text(old: &str, value_of: impl Fn(usize) -> String) -> String {
    const SIGNATURE: &str = "# Generated by CONFIG REWRITE";
    let mut lines: Vec<Option<String>> = Vec::new();
    let mut written = vec![false; OPTIONS.len()];
    for raw in old.lines() {
        if raw.trim() == SIGNATURE {
            continue;
        }
        let trimmed = raw.trim();
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        let opt = if trimmed.starts_with('#') || trimmed.is_empty() {
            None
        } else if split_args(trimmed.as_bytes(), &mut buf, &mut ranges) && !ranges.is_empty() {
            options::lookup(&buf[ranges[0].clone()]).map(|(i, _)| i)
        } else {
            None
        };
        match opt {
            Some(i) if written[i] => lines.push(None),
            Some(i) => {
                written[i] = true;
                lines.extend(option_lines(i, &value_of(i)).into_iter().map(Some));
            }
            None => lines.push(Some(raw.to_string())),
        }
    }
    let mut appended = Vec::new();
    for (i, o) in OPTIONS.iter().enumerate() {
        if written[i] || o.flags.contains(OptFlags::HIDDEN) {
            continue;
        }
        let v = value_of(i);
        let default = match o.kind {
            Kind::Special(Special::Dir) => continue,
            _ => o.default,
        };
        if v != default {
            appended.extend(option_lines(i, &v));
        }
    }
    let mut out: Vec<String> = lines.into_iter().flatten().collect();
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    if !appended.is_empty() {
        out.push(SIGNATURE.to_string());
        out.extend(appended);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The config-file line(s) for option `i` with canonical value `v`.
fn option_lines(i: usize, v: &str) -> Vec<String> {
    let o = &OPTIONS[i];
    match o.kind {
        Kind::Special(Special::Save) => {
            if v.is_empty() {
                return vec!["save \"\"".to_string()];
            }
            let parts: Vec<&str> = v.split(' ').collect();
            parts
                .chunks(2)
                .map(|c| format!("save {}", c.join(" ")))
                .collect()
        }
        Kind::Special(Special::ClientOutputBufferLimit) => {
            let parts: Vec<&str> = v.split(' ').collect();
            parts
                .chunks(4)
                .map(|c| format!("client-output-buffer-limit {}", c.join(" ")))
                .collect()
        }
        Kind::Special(_) if o.flags.contains(OptFlags::MULTI_ARG) => {
            if v.is_empty() {
                vec![format!("{} \"\"", o.name)]
            } else {
                vec![format!("{} {}", o.name, v)]
            }
        }
        Kind::EnumFlags(_) => vec![format!("{} {}", o.name, v)],
        _ => vec![format!("{} {}", o.name, quote(v))],
    }
}

/// Quotes a value for a config line when needed, with `sdscatrepr()`'s escapes.
fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\'')
    {
        return v.to_string();
    }
    let mut out = Vec::with_capacity(v.len() + 2);
    crate::util::repr::repr(&mut out, v.as_bytes());
    // repr() writes ASCII only.
    String::from_utf8_lossy(&out).into_owned()
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// An io::Error's text as C's `strerror()` prints it.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Turns `--port 7000 --save 900 1` into config lines (behaves like redis-server's
/// `main()`): each `--name` starts a line, values are quoted, a bare `--save` means "".
fn args_to_config(args: &[String]) -> String {
    let mut out = String::new();
    let mut handled_last = true;
    for (j, arg) in args.iter().enumerate() {
        if handled_last && arg.starts_with("--") {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&arg[2..]);
            out.push(' ');
            let mut buf = Vec::new();
            let mut ranges = Vec::new();
            let words = if split_args(arg.as_bytes(), &mut buf, &mut ranges) {
                ranges.len()
            } else {
                2
            };
            if words == 1 {
                handled_last = false;
                let next_is_opt = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
                if arg.eq_ignore_ascii_case("--save") && (next_is_opt || j == args.len() - 1) {
                    out.push_str("\"\"");
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            out.push_str(&quote_always(arg));
            out.push(' ');
            handled_last = true;
        }
    }
    out
}

fn quote_always(v: &str) -> String {
    let q = quote(v);
    if q.starts_with('"') {
        q
    } else {
        format!("\"{q}\"")
    }
}

/// Applies config text line by line.
struct Loader<'a> {
    cfg: &'a mut Config,
    /// Whether a `save` line was seen: the first one replaces the defaults, later ones add.
    save_seen: bool,
}

impl Loader<'_> {
    fn load_text(&mut self, text: &str, depth: usize) -> Result<(), ConfigError> {
        for (n, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |msg: String| ConfigError::Line {
                line: n + 1,
                text: line.to_string(),
                msg,
            };
            let mut buf = Vec::new();
            let mut ranges = Vec::new();
            if !split_args(line.as_bytes(), &mut buf, &mut ranges) {
                return Err(err("Unbalanced quotes in configuration line".into()));
            }
            let argv: Vec<Vec<u8>> = ranges.into_iter().map(|r| buf[r].to_vec()).collect();
            if argv.is_empty() {
                continue;
            }
            let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
            if let Some((i, _)) = options::lookup(name.as_bytes()) {
                let o = &OPTIONS[i];
                let multi = o.flags.contains(OptFlags::MULTI_ARG);
                if !multi && argv.len() != 2 {
                    return Err(err("wrong number of arguments".into()));
                }
                let mut args: Vec<Vec<u8>> = argv[1..].to_vec();
                if multi && args.len() == 1 && !args[0].is_empty() {
                    let mut b2 = Vec::new();
                    let mut r2 = Vec::new();
                    if split_args(&args[0], &mut b2, &mut r2) {
                        args = r2.into_iter().map(|r| b2[r].to_vec()).collect();
                    }
                }
                let values = self.cfg.values.get_mut();
                let mut prev = values[i].clone();
                if matches!(o.kind, Kind::Special(Special::Save)) && !self.save_seen {
                    self.save_seen = true;
                    prev.clear();
                }
                let text = canonical(i, &args, &prev, true).map_err(err)?;
                values[i] = text;
                continue;
            }
            match (name.as_str(), argv.len()) {
                (
                    "list-max-ziplist-entries"
                    | "list-max-ziplist-value"
                    | "lua-replicate-commands",
                    2,
                ) => {}
                ("include", 2) => {
                    if depth > 16 {
                        return Err(err("include nesting too deep".into()));
                    }
                    let path = String::from_utf8_lossy(&argv[1]).into_owned();
                    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Open {
                        path: path.clone(),
                        reason: io_reason(&e),
                    })?;
                    self.load_text(&text, depth + 1)?;
                }
                ("rename-command", 3) => {
                    let from = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
                    let to = String::from_utf8_lossy(&argv[2]).to_ascii_lowercase();
                    if !crate::commands::table::exists(&from) {
                        return Err(err("No such command in rename-command".into()));
                    }
                    self.cfg.directives.renames.push((from, to));
                }
                _ => return Err(err("Bad directive or wrong number of arguments".into())),
            }
        }
        Ok(())
    }
}

/// Validates `args` for option `i` and returns its canonical text. `prev` is the current
/// text (some options merge into it); `loading` is true while reading the config file.
fn canonical(i: usize, args: &[Vec<u8>], prev: &str, loading: bool) -> Result<String, String> {
    let o = &OPTIONS[i];
    let one = || args.first().map(|a| a.as_slice()).unwrap_or(b"");
    match o.kind {
        Kind::Bool => {
            let v = one();
            if v.eq_ignore_ascii_case(b"yes") {
                Ok("yes".into())
            } else if v.eq_ignore_ascii_case(b"no") {
                Ok("no".into())
            } else {
                Err("argument must be 'yes' or 'no'".into())
            }
        }
        Kind::Int {
            min,
            max,
            format,
            unsigned,
        } => {
            let v = parse_number(one(), format)?;
            let in_range = if unsigned {
                let u = v as u64;
                u >= min as u64 && u <= max as u64
            } else {
                v >= min && v <= max
            };
            if format == NumFormat::MemoryOrPercent && v < 0 {
                if v < min {
                    return Err(format!(
                        "percentage argument must be less or equal to {}",
                        -min
                    ));
                }
            } else if !in_range {
                return Err(match (format, unsigned) {
                    (NumFormat::Octal, _) => {
                        format!("argument must be between {min:o} and {max:o} inclusive")
                    }
                    (_, true) => format!(
                        "argument must be between {} and {} inclusive",
                        min as u64, max as u64
                    ),
                    (_, false) => format!("argument must be between {min} and {max} inclusive"),
                });
            }
            // COMPAT(redis 7.0): hz outside 1..=500 is accepted and clamped (updateHZ()).
            let v = if o.name == "hz" { v.clamp(1, 500) } else { v };
            Ok(match format {
                NumFormat::Octal => format!("{v:o}"),
                NumFormat::MemoryOrPercent if v < 0 => format!("{}%", -v),
                NumFormat::Memory if unsigned => (v as u64).to_string(),
                _ => v.to_string(),
            })
        }
        Kind::Enum(names) => {
            let v = one();
            names
                .iter()
                .find(|n| n.as_bytes().eq_ignore_ascii_case(v))
                .map(|n| n.to_string())
                .ok_or_else(|| {
                    format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    )
                })
        }
        Kind::EnumFlags(names) => {
            let mut set = vec![false; names.len()];
            for a in args {
                match names
                    .iter()
                    .position(|n| n.as_bytes().eq_ignore_ascii_case(a))
                {
                    Some(p) => set[p] = true,
                    None => {
                        return Err(format!(
                            "argument(s) must be one of the following: {}",
                            names.join(", ")
                        ));
                    }
                }
            }
            let chosen: Vec<&str> = names
                .iter()
                .zip(&set)
                .skip(1)
                .filter(|(_, s)| **s)
                .map(|(n, _)| *n)
                .collect();
            Ok(if chosen.is_empty() {
                names[0].to_string()
            } else {
                chosen.join(" ")
            })
        }
        Kind::Str => Ok(String::from_utf8_lossy(one()).into_owned()),
        Kind::Special(sp) => special::canonical(sp, args, prev, loading),
    }
}

/// Parses a numeric option value (behaves like `numericParseString()`).
fn parse_number(v: &[u8], format: NumFormat) -> Result<i64, String> {
    if matches!(format, NumFormat::Memory | NumFormat::MemoryOrPercent)
        && let Some(n) = parse_memory(v)
    {
        return Ok(n as i64);
    }
    if format == NumFormat::MemoryOrPercent
        && v.len() > 1
        && v.ends_with(b"%")
        && let Some(n) = parse_i64(&v[..v.len() - 1])
        && n >= 0
    {
        return Ok(-n);
    }
    if format == NumFormat::Octal {
        let s = std::str::from_utf8(v).unwrap_or("x");
        if let Ok(n) = i64::from_str_radix(s, 8) {
            return Ok(n);
        }
    }
    if format == NumFormat::Plain
        && let Some(n) = parse_i64(v)
    {
        return Ok(n);
    }
    Err(match format {
        NumFormat::MemoryOrPercent => "argument must be a memory or percent value",
        NumFormat::Memory => "argument must be a memory value",
        NumFormat::Octal => "argument couldn't be parsed as an octal number",
        NumFormat::Plain => "argument couldn't be parsed into an integer",
    }
    .to_string())
}

/// `1gb`, `100mb`, `64k`, `1024` → bytes (behaves like `memtoull()`).
pub fn parse_memory(v: &[u8]) -> Option<u64> {
    if v.first() == Some(&b'-') {
        return None;
    }
    let digits = v.iter().take_while(|c| c.is_ascii_digit()).count();
    let unit = &v[digits..];
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits == 0 {
        return if unit.is_empty() { None } else { Some(0) };
    }
    let n: u64 = std::str::from_utf8(&v[..digits]).ok()?.parse().ok()?;
    n.checked_mul(mul)
}

fn build_settings(values: &[String]) -> Settings {
    let get = |name: &str| values[options::index_of(name)].as_str();
    let int = |name: &str| get(name).parse::<i64>().unwrap_or(0);
    let bool_ = |name: &str| get(name) == "yes";
    let limits = special::parse_buffer_limits(get("client-output-buffer-limit"));
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.as_bytes().to_vec());
    Settings {
        port: int("port") as u16,
        bind: get("bind").split_whitespace().map(str::to_string).collect(),
        protected_mode: bool_("protected-mode"),
        requirepass: nonempty(get("requirepass")),
        databases: int("databases").max(1) as usize,
        hz: int("hz").clamp(1, 500) as u32,
        maxclients: int("maxclients") as u64,
        timeout_secs: int("timeout") as u64,
        tcp_keepalive_secs: int("tcp-keepalive") as u64,
        tcp_backlog: int("tcp-backlog") as u32,
        proto_max_bulk_len: int("proto-max-bulk-len"),
        client_query_buffer_limit: get("client-query-buffer-limit").parse().unwrap_or(u64::MAX),
        notify_keyspace_events: EventClass::parse(get("notify-keyspace-events").as_bytes())
            .unwrap_or_default(),
        hash_max_listpack_entries: int("hash-max-listpack-entries") as usize,
        hash_max_listpack_value: int("hash-max-listpack-value") as usize,
        set_max_intset_entries: int("set-max-intset-entries") as usize,
        zset_max_listpack_entries: int("zset-max-listpack-entries") as usize,
        zset_max_listpack_value: int("zset-max-listpack-value") as usize,
        hll_sparse_max_bytes: int("hll-sparse-max-bytes") as usize,
        slowlog_log_slower_than: int("slowlog-log-slower-than"),
        slowlog_max_len: int("slowlog-max-len") as usize,
        latency_monitor_threshold: int("latency-monitor-threshold"),
        loglevel: LOGLEVELS
            .iter()
            .position(|l| *l == get("loglevel"))
            .unwrap_or(2),
        logfile: get("logfile").to_string(),
        pidfile: get("pidfile").to_string(),
        daemonize: bool_("daemonize"),
        maxmemory: get("maxmemory").parse().unwrap_or(0),
        maxmemory_policy: get("maxmemory-policy").to_string(),
        lfu: get("maxmemory-policy")
            .ends_with("-lfu")
            .then(|| crate::keyspace::lfu::Lfu {
                log_factor: int("lfu-log-factor") as u32,
                decay_minutes: int("lfu-decay-time") as u32,
            }),
        active_expire_effort: int("active-expire-effort") as u32,
        pubsub_limit: limits.pubsub,
        normal_limit: limits.normal,
        server_threads: int("server-threads") as usize,
        cluster_enabled: bool_("cluster-enabled"),
        save_points: special::parse_save(get("save")),
        appendonly: bool_("appendonly"),
        min_replicas_to_write: int("min-replicas-to-write") as usize,
        min_replicas_max_lag: int("min-replicas-max-lag"),
        replica_read_only: bool_("replica-read-only"),
        replica_serve_stale_data: bool_("replica-serve-stale-data"),
        rdb_compression: bool_("rdbcompression"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quote_escapes_as_sdscatrepr() {
        assert_eq!(
            super::quote("a\u{7}b\u{8}c\n\u{1}"),
            "\"a\\ab\\bc\\n\\x01\""
        );
        assert_eq!(super::quote("plain"), "plain");
    }

    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn argv_overrides_and_errors_like_redis() {
        let c = Config::from_args(&args(&["--port", "7000", "--save", "--hz", "20"])).unwrap();
        assert_eq!(c.get("port"), "7000");
        assert_eq!(c.get("save"), "");
        assert_eq!(c.get("hz"), "20");
        match Config::from_args(&args(&["--port", "abc"])) {
            Err(ConfigError::Line { line, text, msg }) => {
                assert_eq!(line, 2);
                assert_eq!(text, "port \"abc\"");
                assert_eq!(msg, "argument couldn't be parsed into an integer");
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("expected an error"),
        }
        match Config::from_args(&args(&["--foo", "bar"])) {
            Err(ConfigError::Line { msg, .. }) => {
                assert_eq!(msg, "Bad directive or wrong number of arguments")
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory(b"1gb"), Some(1 << 30));
        assert_eq!(parse_memory(b"1k"), Some(1000));
        assert_eq!(parse_memory(b"12MB"), Some(12 << 20));
        assert_eq!(parse_memory(b"-1"), None);
        assert_eq!(parse_memory(b"1x"), None);
    }

    #[test]
    fn config_set_is_atomic() {
        let c = Config::defaults();
        let err = c
            .set_many(&[(b"hz", b"50"), (b"maxmemory-policy", b"bogus")], false)
            .unwrap_err();
        assert!(
            err.contains("possibly related to argument 'maxmemory-policy'"),
            "{err}"
        );
        assert_eq!(c.get("hz"), "10");
        c.set_many(&[(b"hz", b"50"), (b"maxmemory", b"1mb")], false)
            .unwrap();
        assert_eq!(c.get("hz"), "50");
        assert_eq!(c.get("maxmemory"), "1048576");
        assert_eq!(
            c.set_many(&[(b"daemonize", b"yes")], false).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
        );
    }

    #[test]
    fn glob_get_includes_aliases() {
        let c = Config::defaults();
        let got = c.get_matching(&[b"*max*ziplist*"]);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"hash-max-ziplist-entries"));
        assert!(!names.contains(&"hash-max-listpack-entries"));
    }

    #[test]
    fn rewrite_keeps_comments_and_appends() {
        let c = Config::defaults();
        c.set_many(&[(b"hz", b"42")], false).unwrap();
        let out = rewrite_text("# hello\nport 7000\nport 7001\n", |i| {
            if OPTIONS[i].name == "port" {
                "7002".into()
            } else {
                c.value_text(i, &c.values.lock())
            }
        });
        assert!(out.starts_with("# hello\nport 7002\n"), "{out}");
        assert!(out.contains("# Generated by CONFIG REWRITE\n"), "{out}");
        assert!(out.contains("hz 42\n"), "{out}");
    }
}
