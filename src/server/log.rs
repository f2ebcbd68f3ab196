//! Logging in Redis's format, because operators and tools grep for it:
//! `pid:M 21 Nov 2026 09:54:28.597 * Ready to accept connections`.
//!
//! A minimal `tracing` subscriber: the level (`loglevel`) is an atomic read on every event,
//! so CONFIG SET loglevel takes effect at once. Level marks as Redis: `.` debug,
//! `-` verbose, `*` notice, `#` warning. Mapping: trace = debug, debug = verbose,
//! info = notice, warn/error = warning.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Index into `LOGLEVELS` (debug, verbose, notice, warning).
static LEVEL: AtomicUsize = AtomicUsize::new(2);

/// Sets the minimum level by its config index (0 = debug … 3 = warning).
pub fn set_level(index: usize) {
    LEVEL.store(index.min(3), Relaxed);
}

fn rank(level: &Level) -> usize {
    match *level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        _ => 3,
    }
}

struct RedisLog {
    out: Mutex<Box<dyn Write + Send>>,
    pid: u32,
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

/// Local time as Redis prints it: `21 Nov 2026 09:54:28.597`.
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own; strftime writes at most
    // the buffer size.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%d %b %Y %H:%M:%S".as_ptr(),
            &tm,
        );
        format!(
            "{}.{:03}",
            String::from_utf8_lossy(&buf[..n]),
            now.subsec_millis()
        )
    }
}

impl Subscriber for RedisLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        rank(metadata.level()) >= LEVEL.load(Relaxed)
    }

    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if !self.enabled(event.metadata()) {
            return;
        }
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let mark = match rank(event.metadata().level()) {
            0 => '.',
            1 => '-',
            2 => '*',
            _ => '#',
        };
        let role = if REPLICA.load(std::sync::atomic::Ordering::Relaxed) {
            'S'
        } else {
            'M'
        };
        let line = format!("{}:{role} {} {} {}\n", self.pid, timestamp(), mark, msg.0);
        let mut out = self.out.lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Installs the logger writing to `logfile` (empty = stdout).
pub fn init(logfile: &str, level_index: usize) -> std::io::Result<()> {
    set_level(level_index);
    let out: Box<dyn Write + Send> = if logfile.is_empty() {
        Box::new(std::io::stdout())
    } else {
        Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logfile)?,
        )
    };
    let sub = RedisLog {
        out: Mutex::new(out),
        pid: std::process::id(),
    };
    let _ = tracing::subscriber::set_global_default(sub);
    Ok(())
}

/// Whether this server is a replica: log lines then carry Redis's role letter `S` instead of
/// `M`.
static REPLICA: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records the role shown in log lines.
pub fn set_replica_role(replica: bool) {
    REPLICA.store(replica, std::sync::atomic::Ordering::Relaxed);
}
