//! Test support: real server processes on free loopback ports, and a raw RESP client.
//!
//! Ports: every test process draws ports from its own window below 22768 (the cluster bus
//! uses port + 10000, and 32768+ is the ephemeral range), and each candidate port (and its
//! bus port) is checked free by binding it before the server is started.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Lowest port used by tests.
const PORT_MIN: u16 = 12000;
/// Ports are below this, so that port + 10000 stays below the ephemeral range.
const PORT_MAX: u16 = 22700;

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A port (and its bus port, +10000) that nothing listens on right now.
pub fn free_port() -> u16 {
    let span = PORT_MAX - PORT_MIN;
    let window = (std::process::id() as u16 % 64) * (span / 64);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % (span / 64);
        let port = PORT_MIN + (window + n) % span;
        if port_free(port) && port_free(port + 10000) {
            return port;
        }
    }
    panic!("no free port found");
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Path of the tessera-server binary under test.
pub fn tessera_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tessera-server"))
}

/// Whether the reference `redis-server` is installed.
pub fn redis_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Skips (returns true) when the reference server is missing, unless the environment
/// demands it (scripts/test.sh sets TESSERA_REQUIRE_REDIS=1, so CI fails loudly instead).
pub fn skip_without_redis() -> bool {
    if redis_available() {
        return false;
    }
    if std::env::var("TESSERA_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
        panic!("redis-server is required (TESSERA_REQUIRE_REDIS=1) but not installed");
    }
    eprintln!("redis-server not installed: skipping");
    true
}

/// A server process started by a test; killed (by PID) when dropped.
pub struct TestServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl TestServer {
    /// Starts tessera-server with `args` on a free port, without save points unless
    /// `args` sets some (as the reference server is started); waits until it answers PING.
    pub fn tessera(args: &[&str]) -> TestServer {
        let mut all = vec!["--save", ""];
        all.extend_from_slice(args);
        Self::start(&tessera_bin(), &all, &|_| {})
    }

    /// Starts tessera-server in a fresh directory holding `files` (name, contents) first,
    /// such as an RDB file to load; `args` as for [`TestServer::tessera`].
    pub fn tessera_with_files(files: &[(&str, &[u8])], args: &[&str]) -> TestServer {
        let mut all = vec!["--save", ""];
        all.extend_from_slice(args);
        Self::start(&tessera_bin(), &all, &|dir| write_files(dir, files))
    }

    /// Starts redis-server in a fresh directory holding `files` first.
    pub fn redis_with_files(files: &[(&str, &[u8])], args: &[&str]) -> TestServer {
        let mut all = vec!["--save", "", "--appendonly", "no"];
        all.extend_from_slice(args);
        Self::start(Path::new("redis-server"), &all, &|dir| {
            write_files(dir, files)
        })
    }

    /// Starts tessera-server with `dir` as its directory (a restart of a server stopped
    /// with [`TestServer::stop_keeping_dir`]); Err with its log if it did not come up.
    pub fn tessera_in(dir: tempfile::TempDir, args: &[&str]) -> Result<TestServer, String> {
        Self::start_at(&tessera_bin(), free_port(), dir, args)
    }

    /// Starts tessera-server on `port` with `dir` as its directory: a restart of a node
    /// whose address others remember (cluster nodes). Err with its log if it did not come
    /// up.
    pub fn tessera_at(
        port: u16,
        dir: tempfile::TempDir,
        args: &[&str],
    ) -> Result<TestServer, String> {
        Self::start_at(&tessera_bin(), port, dir, args)
    }

    /// [`TestServer::tessera_at`] for redis-server, persistence off as in
    /// [`TestServer::redis`].
    pub fn redis_at(
        port: u16,
        dir: tempfile::TempDir,
        args: &[&str],
    ) -> Result<TestServer, String> {
        let mut all = vec!["--save", "", "--appendonly", "no"];
        all.extend_from_slice(args);
        Self::start_at(Path::new("redis-server"), port, dir, &all)
    }

    fn start_at(
        bin: &Path,
        port: u16,
        dir: tempfile::TempDir,
        args: &[&str],
    ) -> Result<TestServer, String> {
        let mut server = Self::spawn(bin, port, dir, args);
        if server.wait_ready(Duration::from_secs(10)) {
            Ok(server)
        } else {
            Err(server.log())
        }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        // SAFETY: signals a child process this test started and still owns.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait_exit(Duration::from_secs(10))
    }

    /// Spawns `bin` on `port` in `dir`, its output logged there; does not wait.
    fn spawn(bin: &Path, port: u16, dir: tempfile::TempDir, args: &[&str]) -> TestServer {
        let log = |name: &str| {
            Stdio::from(std::fs::File::create(dir.path().join(name)).expect("log file"))
        };
        let child = Command::new(bin)
            .arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .expect("spawn server");
        TestServer { port, dir, child }
    }

    /// Kills the server (SIGKILL, if it still runs) and hands back its directory.
    pub fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// Starts the reference redis-server 7.0 with persistence off.
    pub fn redis(args: &[&str]) -> TestServer {
        let mut all = vec!["--save", "", "--appendonly", "no"];
        all.extend_from_slice(args);
        Self::start(Path::new("redis-server"), &all, &|_| {})
    }

    fn start(bin: &Path, args: &[&str], setup: &dyn Fn(&Path)) -> TestServer {
        for _attempt in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("tempdir");
            setup(dir.path());
            let mut server = Self::spawn(bin, port, dir, args);
            if server.wait_ready(Duration::from_secs(10)) {
                return server;
            }
            // Lost a race for the port, or failed: try another port.
        }
        panic!("server {} did not start", bin.display());
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut c) = RawClient::try_connect(self.port)
                && c.try_cmd(&["PING"]).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded) for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `files` (paths relative to `dir`, parents created) for a server to find.
fn write_files(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, contents) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a directory for the server");
        }
        std::fs::write(path, contents).expect("write a file for the server");
    }
}

/// A parsed RESP reply (RESP2 and RESP3 types), keeping enough shape to compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Resp>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
    Double(String),
    Bool(bool),
    Verbatim(String, Vec<u8>),
    BigNumber(String),
}

impl Resp {
    /// Text of a bulk or simple string.
    pub fn text(&self) -> String {
        match self {
            Resp::Simple(s) | Resp::Error(s) => s.clone(),
            Resp::Bulk(b) | Resp::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
            Resp::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(i) => *i,
            other => panic!("expected integer, got {other:?}"),
        }
    }

    pub fn items(&self) -> &[Resp] {
        match self {
            Resp::Array(v) | Resp::Set(v) | Resp::Push(v) => v,
            other => panic!("expected aggregate, got {other:?}"),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Error(_))
    }
}

/// A blocking RESP client that also returns the raw bytes of each reply.
pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Encodes a command as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl RawClient {
    pub fn connect(port: u16) -> RawClient {
        Self::try_connect(port).expect("connect")
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: TcpStream) -> RawClient {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn try_connect(port: u16) -> std::io::Result<RawClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn send(&mut self, args: &[&str]) {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send_raw(&encode(&a));
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads one whole reply; returns it parsed and as raw bytes.
    pub fn read_reply_raw(&mut self) -> std::io::Result<(Resp, Vec<u8>)> {
        loop {
            if let Some((resp, used)) = parse_resp(&self.buf) {
                let raw = self.buf.drain(..used).collect();
                return Ok((resp, raw));
            }
            self.fill()?;
        }
    }

    pub fn read_reply(&mut self) -> Resp {
        self.read_reply_raw().expect("reply").0
    }

    pub fn try_cmd(&mut self, args: &[&str]) -> std::io::Result<Resp> {
        self.send(args);
        Ok(self.read_reply_raw()?.0)
    }

    /// Sends a command and returns its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Resp {
        self.send(args);
        self.read_reply()
    }

    /// Sends a command given as byte strings and returns the raw reply bytes.
    pub fn cmd_raw(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_raw(&encode(args));
        self.read_reply_raw().expect("reply").1
    }

    /// True when the server closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self, timeout: Duration) -> bool {
        let _ = self.stream.set_read_timeout(Some(timeout));
        let mut b = [0u8; 1024];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let pos = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..pos], pos + 2))
}

/// Parses one RESP2/RESP3 value; returns it and the bytes used, or None if incomplete.
pub fn parse_resp(buf: &[u8]) -> Option<(Resp, usize)> {
    let (&kind, _) = buf.split_first()?;
    let (head, mut used) = line(&buf[1..])?;
    used += 1;
    let text = String::from_utf8_lossy(head).into_owned();
    let agg = |n: usize, used: &mut usize| -> Option<Vec<Resp>> {
        let mut items = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let (item, u) = parse_resp(&buf[*used..])?;
            *used += u;
            items.push(item);
        }
        Some(items)
    };
    let value = match kind {
        b'+' => Resp::Simple(text),
        b'-' => Resp::Error(text),
        b':' => Resp::Int(text.parse().ok()?),
        b'_' => Resp::Null,
        b',' => Resp::Double(text),
        b'#' => Resp::Bool(text == "t"),
        b'(' => Resp::BigNumber(text),
        b'$' | b'=' | b'!' => {
            let n: i64 = text.parse().ok()?;
            if n < 0 {
                Resp::Null
            } else {
                let n = n as usize;
                if buf.len() < used + n + 2 {
                    return None;
                }
                let data = buf[used..used + n].to_vec();
                used += n + 2;
                match kind {
                    b'=' => Resp::Verbatim(
                        String::from_utf8_lossy(&data[..3.min(data.len())]).into_owned(),
                        data.get(4..).unwrap_or_default().to_vec(),
                    ),
                    b'!' => Resp::Error(String::from_utf8_lossy(&data).into_owned()),
                    _ => Resp::Bulk(data),
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let n: i64 = text.parse().ok()?;
            if n < 0 {
                Resp::Null
            } else {
                let items = agg(n as usize, &mut used)?;
                match kind {
                    b'*' => Resp::Array(items),
                    b'~' => Resp::Set(items),
                    _ => Resp::Push(items),
                }
            }
        }
        b'%' => {
            let n: usize = text.parse().ok()?;
            let items = agg(n * 2, &mut used)?;
            let mut pairs = Vec::with_capacity(n);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Resp::Map(pairs)
        }
        _ => {
            return Some((
                Resp::Error(format!("unparseable reply byte {kind}")),
                buf.len(),
            ));
        }
    };
    Some((value, used))
}

/// A numeric field of an INFO section.
/// One field of an INFO section, as text.
pub fn info_text(c: &mut RawClient, section: &str, field: &str) -> String {
    let text = c.cmd(&["INFO", section]).text();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

fn info_field(c: &mut RawClient, section: &str, field: &str) -> i64 {
    info_text(c, section, field).parse().expect("a number")
}

/// Runs `commands` on a server, returning for each the change in `dirty`, then every
/// keyspace event published meanwhile, then the keyspace hits and misses.
fn observe(server: &TestServer, commands: &[&[&str]]) -> (Vec<i64>, Vec<String>, (i64, i64)) {
    let mut c = server.client();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEAnm"]);
    // Expiry only on access, so the `expired` event comes from the command under test.
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let mut sub = server.client();
    sub.send(&["PSUBSCRIBE", "__key*@0__:*"]);
    sub.read_reply();
    sub.send(&["SUBSCRIBE", "done"]);
    sub.read_reply();
    let mut dirty = Vec::new();
    for cmd in commands {
        let before = info_field(&mut c, "persistence", "rdb_changes_since_last_save");
        c.cmd(cmd);
        dirty.push(info_field(&mut c, "persistence", "rdb_changes_since_last_save") - before);
    }
    c.cmd(&["PUBLISH", "done", "."]);
    let mut events = Vec::new();
    loop {
        let message = sub.read_reply();
        if message.items().first().map(Resp::text).as_deref() == Some("message") {
            break;
        }
        // pmessage, pattern, channel, key or event.
        events.push(format!(
            "{} {}",
            message.items()[2].text(),
            message.items()[3].text()
        ));
    }
    let hits = info_field(&mut c, "stats", "keyspace_hits");
    let misses = info_field(&mut c, "stats", "keyspace_misses");
    (dirty, events, (hits, misses))
}

/// Runs `commands` on Tessera and on redis-server (debug commands enabled): the dirty
/// count of each, the keyspace events and the keyspace hits and misses must match.
pub fn assert_same_effects_as_redis(commands: &[&[&str]]) {
    let args = ["--enable-debug-command", "yes"];
    let tessera = TestServer::tessera(&args);
    let redis = TestServer::redis(&args);
    let ours = observe(&tessera, commands);
    let theirs = observe(&redis, commands);
    assert_eq!(ours.0, theirs.0, "dirty per command");
    assert_eq!(ours.1, theirs.1, "keyspace events");
    assert_eq!(ours.2, theirs.2, "keyspace hits and misses");
}
