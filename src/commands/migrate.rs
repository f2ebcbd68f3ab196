//! MIGRATE (behaves like `migrateCommand()` of Redis 7.0's cluster.c): keys go to another
//! server as RESTORE (RESTORE-ASKING in cluster mode) with DUMP payloads over a cached
//! connection, and are deleted here once the target has them, unless COPY.
//!
//! The keys' shards stay locked from the lookup until the target has answered, so no write
//! slips in between sending a key and deleting it: each key moves atomically, as with
//! Redis's blocking MIGRATE, while every other shard goes on being served.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::args::{self, is};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::EventClass;
use crate::persistence::aof::encode::command;
use crate::persistence::rdb::dump;
use crate::protocol::Argv;

pub(super) const HANDLERS: &[(&str, Handler)] = &[("migrate", migrate)];

/// At most this many cached connections (`MIGRATE_SOCKET_CACHE_ITEMS`).
const CACHE_ITEMS: usize = 64;
/// A cached connection unused this long is closed (`MIGRATE_SOCKET_CACHE_TTL`).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// The longest reply line read from the target (replies are +OK or an error line).
const MAX_LINE: u64 = 64 * 1024;

/// A connection to a MIGRATE target.
struct Link {
    out: TcpStream,
    input: BufReader<TcpStream>,
    /// The database the target has selected (None: unknown, SELECT again).
    db: Option<i64>,
    last_use: Instant,
}

/// Connections to MIGRATE targets by "host:port", kept for the next MIGRATE. A command
/// takes its link out while using it, so two commands never share one.
#[derive(Default)]
pub struct MigrateLinks {
    cache: Mutex<HashMap<String, Link>>,
}

impl MigrateLinks {
    fn take(&self, addr: &str) -> Option<Link> {
        let mut cache = self.cache.lock();
        cache.retain(|_, l| l.last_use.elapsed() <= CACHE_TTL);
        cache.remove(addr)
    }

    fn put(&self, addr: String, link: Link) {
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_ITEMS
            && !cache.contains_key(&addr)
            && let Some(any) = cache.keys().next().cloned()
        {
            cache.remove(&any);
        }
        cache.insert(addr, link);
    }
}

/// MIGRATE's options.
struct Options<'a> {
    copy: bool,
    replace: bool,
    /// (username for AUTH2, password).
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    /// Argument index of the first key, and how many.
    first_key: usize,
    num_keys: usize,
}

fn parse_options<'a>(argv: &'a Argv<'_>) -> Result<Options<'a>, CmdError> {
    let mut opts = Options {
        copy: false,
        replace: false,
        auth: None,
        first_key: 3,
        num_keys: 1,
    };
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv.get(j);
        if is(opt, "copy") {
            opts.copy = true;
        } else if is(opt, "replace") {
            opts.replace = true;
        } else if is(opt, "auth") {
            if more < 1 {
                return Err(CmdError::Syntax);
            }
            opts.auth = Some((None, argv.get(j + 1)));
            j += 1;
        } else if is(opt, "auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            opts.auth = Some((Some(argv.get(j + 1)), argv.get(j + 2)));
            j += 2;
        } else if is(opt, "keys") {
            if !argv.get(3).is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            opts.first_key = j + 1;
            opts.num_keys = more;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(opts)
}

/// A key to send: its name, its TTL in ms (0: none) and its DUMP payload.
struct Outgoing<'a> {
    key: &'a [u8],
    ttl: i64,
    payload: Vec<u8>,
}

/// How a round trip with the target failed.
enum LinkError {
    Connect,
    /// Writing (true) or reading; whether it timed out (no retry then); replies read.
    Io {
        writing: bool,
        timed_out: bool,
        replies: usize,
    },
}

fn io_error(e: &std::io::Error, writing: bool, replies: usize) -> LinkError {
    LinkError::Io {
        writing,
        timed_out: matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        replies,
    }
}

/// Connects with a timeout. As Redis's non-blocking connect does, only a timeout (or an
/// address that does not resolve) is a connect error: a refused connection shows up as
/// the write failing.
fn connect(host: &[u8], port: &[u8], timeout: Duration) -> Result<Link, LinkError> {
    let host = std::str::from_utf8(host).map_err(|_| LinkError::Connect)?;
    let port = atoi_port(port).ok_or(LinkError::Connect)?;
    let addr = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(LinkError::Connect)?;
    let out = TcpStream::connect_timeout(&addr, timeout).map_err(|e| match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => LinkError::Connect,
        _ => io_error(&e, true, 0),
    })?;
    let _ = out.set_nodelay(true);
    let input = BufReader::new(out.try_clone().map_err(|e| io_error(&e, true, 0))?);
    Ok(Link {
        out,
        input,
        db: None,
        last_use: Instant::now(),
    })
}

/// The port as C's `atoi()` reads it (leading digits, else 0); None beyond 65535.
fn atoi_port(arg: &[u8]) -> Option<u16> {
    let digits = arg.iter().take_while(|b| b.is_ascii_digit()).take(6);
    let n = digits.fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).ok()
}

/// One reply line without its CRLF (bounded).
fn read_line(input: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    input.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(line)
}

/// The target's answers: per key, Ok or the first error line of the exchange.
struct Answers {
    /// Keys the target restored, in order (a prefix of what was sent when a read failed).
    restored: Vec<bool>,
    /// The first error the target sent (AUTH's, SELECT's, or a RESTORE's), without '-'.
    target_error: Option<Vec<u8>>,
    /// A read failed after `restored.len()` replies.
    failed: Option<LinkError>,
}

/// Sends AUTH, SELECT and the RESTOREs in one write, then reads the replies.
fn exchange(
    link: &mut Link,
    opts: &Options<'_>,
    db: i64,
    cluster: bool,
    keys: &[Outgoing<'_>],
    timeout: Duration,
) -> Result<Answers, LinkError> {
    let mut buf = Vec::new();
    if let Some((user, password)) = opts.auth {
        match user {
            Some(user) => command(&mut buf, &[b"AUTH", user, password]),
            None => command(&mut buf, &[b"AUTH", password]),
        }
    }
    let select = link.db != Some(db);
    let db_text = db.to_string();
    if select {
        command(&mut buf, &[b"SELECT", db_text.as_bytes()]);
    }
    let restore: &[u8] = if cluster {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    for k in keys {
        let ttl = k.ttl.to_string();
        let mut args: Vec<&[u8]> = vec![restore, k.key, ttl.as_bytes(), &k.payload];
        if opts.replace {
            args.push(b"REPLACE");
        }
        command(&mut buf, &args);
    }
    let _ = link.out.set_write_timeout(Some(timeout));
    let _ = link.input.get_ref().set_read_timeout(Some(timeout));
    link.out
        .write_all(&buf)
        .map_err(|e| io_error(&e, true, 0))?;
    let mut first_error = None;
    if opts.auth.is_some() {
        let line = read_line(&mut link.input).map_err(|e| io_error(&e, false, 0))?;
        if line.first() == Some(&b'-') {
            first_error = Some(line[1..].to_vec());
        }
    }
    if select {
        let line = read_line(&mut link.input).map_err(|e| io_error(&e, false, 0))?;
        if line.first() == Some(&b'-') && first_error.is_none() {
            first_error = Some(line[1..].to_vec());
        }
    }
    let mut answers = Answers {
        restored: Vec::with_capacity(keys.len()),
        target_error: None,
        failed: None,
    };
    for _ in keys {
        let line = match read_line(&mut link.input) {
            Ok(line) => line,
            Err(e) => {
                answers.failed = Some(io_error(&e, false, answers.restored.len()));
                break;
            }
        };
        let error = first_error
            .clone()
            .or_else(|| (line.first() == Some(&b'-')).then(|| line[1..].to_vec()));
        if let Some(e) = error {
            answers.target_error.get_or_insert(e);
            answers.restored.push(false);
        } else {
            answers.restored.push(true);
        }
    }
    Ok(answers)
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
/// [AUTH2 username password] [KEYS key ...].
fn migrate(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let opts = parse_options(argv)?;
    let timeout_ms = args::int(argv.get(5))?;
    let db = args::int(argv.get(4))?;
    let timeout = Duration::from_millis(if timeout_ms <= 0 {
        1000
    } else {
        timeout_ms as u64
    });
    let (host, port) = (argv.get(1), argv.get(2));
    let addr = format!(
        "{}:{}",
        String::from_utf8_lossy(host),
        String::from_utf8_lossy(port)
    );
    let my_db = ctx.client.db;
    let cluster = ctx.server.cluster.is_some();
    let names: Vec<&[u8]> = (opts.first_key..opts.first_key + opts.num_keys)
        .map(|i| argv.get(i))
        .collect();
    let compress = ctx.settings.rdb_compression;
    let mut locked = ctx.keyspace().lock_keys(names.iter().copied());

    // What is here and not expired, serialized; keys that are missing are skipped, and
    // when none is here the reply is NOKEY (not an error: it often just expired).
    let mut outgoing = Vec::new();
    for &key in &names {
        let Some(d) = locked.shard(key).db_mut(my_db) else {
            continue;
        };
        let Some(pos) = d.find_read(key, ctx.fx) else {
            continue;
        };
        let entry = d.at(pos);
        let ttl = match entry.expire_at {
            0 => 0,
            at => (at - ctx.fx.now_ms).max(1),
        };
        outgoing.push(Outgoing {
            key,
            ttl,
            payload: dump::payload(&entry.value, compress),
        });
    }
    if outgoing.is_empty() {
        drop(locked);
        ctx.reply.simple("NOKEY");
        return Ok(());
    }

    let links = &ctx.server.migrate_links;
    let mut may_retry = true;
    let answers = loop {
        let link = match links.take(&addr) {
            Some(link) => Ok(link),
            None => connect(host, port, timeout),
        };
        let result = link.and_then(|mut link| {
            let answers = exchange(&mut link, &opts, db, cluster, &outgoing, timeout)?;
            Ok((link, answers))
        });
        match result {
            Ok((mut link, answers)) => {
                // A read that failed before any reply, not by timing out: the cached
                // connection was probably stale; try once more on a new one.
                if let Some(LinkError::Io {
                    timed_out: false,
                    replies: 0,
                    ..
                }) = &answers.failed
                    && answers.target_error.is_none()
                    && may_retry
                {
                    may_retry = false;
                    continue;
                }
                if answers.failed.is_none() {
                    link.db = if answers.target_error.is_some() {
                        None
                    } else {
                        Some(db)
                    };
                    link.last_use = Instant::now();
                    links.put(addr.clone(), link);
                }
                break answers;
            }
            Err(LinkError::Connect) => {
                return Err(CmdError::Raw(
                    "IOERR error or timeout connecting to the client".into(),
                ));
            }
            Err(LinkError::Io {
                writing, timed_out, ..
            }) => {
                if !timed_out && may_retry {
                    may_retry = false;
                    continue;
                }
                return Err(CmdError::Raw(format!(
                    "IOERR error or timeout {} to target instance",
                    if writing { "writing" } else { "reading" }
                )));
            }
        }
    };

    // The keys the target restored leave this server (unless COPY), replicated as DEL.
    let mut deleted: Vec<&[u8]> = Vec::new();
    if !opts.copy {
        for (k, _) in outgoing
            .iter()
            .zip(&answers.restored)
            .filter(|(_, ok)| **ok)
        {
            let Some(d) = locked.shard(k.key).db_mut(my_db) else {
                continue;
            };
            if let Some(pos) = d.find(k.key, ctx.fx) {
                drop(d.remove_at(pos));
                ctx.fx.notify(EventClass::GENERIC, "del", k.key);
                ctx.fx.dirty += 1;
                deleted.push(k.key);
            }
        }
    }
    drop(locked);
    if !deleted.is_empty() && ctx.fx.propagating() {
        let mut del: Vec<&[u8]> = vec![b"DEL"];
        del.extend(&deleted);
        ctx.fx.rewrite_as(&del);
    }
    if let Some(e) = answers.target_error {
        return Err(CmdError::Raw(format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(&e)
        )));
    }
    if answers.failed.is_some() {
        return Err(CmdError::Raw(
            "IOERR error or timeout reading to target instance".into(),
        ));
    }
    ctx.reply.ok();
    Ok(())
}
