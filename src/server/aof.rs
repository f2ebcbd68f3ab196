//! The append-only file as the server runs it (behaves like the server side of Redis
//! 7.0's aof.c): loading the base and incr files at start-up, appending through the writer
//! thread, BGREWRITEAOF and the automatic rewrite, `CONFIG SET appendonly`, the figures of
//! INFO persistence, and the final sync at shutdown.
//!
//! A rewrite is a fork-free snapshot written as the new base (an RDB with `aof-base` set).
//! At its instant (under the gate) the writer is told to continue in a new incr file from
//! the next stamp on; once the base is complete the manifest names the new base and that
//! incr file, and the older files become history and are deleted.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::time::Instant;

use parking_lot::Mutex;

use super::Server;
use super::replay::Replay;
use crate::persistence::aof::manifest::{self, Manifest};
use crate::persistence::aof::reader::{AofReadError, CommandReader};
use crate::persistence::aof::writer::{self, FsyncPolicy, WriterState};
use crate::persistence::save;
use crate::util::clock::now_ms;

/// AOF state shared by commands, the cron and INFO.
pub struct AofState {
    /// The running writer; read on every command (MISCONF) and reply (always), so no lock.
    writer: arc_swap::ArcSwapOption<WriterState>,
    /// The writer's id as a consumer of the propagation stream.
    sink: AtomicU64,
    manifest: Mutex<Manifest>,
    pub rewrite_in_progress: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    rewrite_started_ms: AtomicI64,
    last_rewrite_secs: AtomicI64,
    last_rewrite_ok: AtomicBool,
    rewrites: AtomicU64,
    consecutive_failures: AtomicU64,
    /// Size of the base file plus incr files before the current one.
    settled_size: AtomicU64,
    /// `aof_current_size` right after the last rewrite or load (`aof_rewrite_base_size`).
    base_size: AtomicU64,
}

impl Default for AofState {
    fn default() -> Self {
        AofState {
            writer: arc_swap::ArcSwapOption::empty(),
            sink: AtomicU64::new(u64::MAX),
            manifest: Mutex::new(Manifest::default()),
            rewrite_in_progress: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            rewrite_started_ms: AtomicI64::new(0),
            last_rewrite_secs: AtomicI64::new(-1),
            last_rewrite_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            settled_size: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
        }
    }
}

/// Why a rewrite did not complete.
enum RewriteError {
    /// Another snapshot (a background save) was running.
    Busy,
    Failed(String),
}

impl From<String> for RewriteError {
    fn from(e: String) -> Self {
        RewriteError::Failed(e)
    }
}

/// The INFO persistence figures about the AOF.
pub struct AofInfo {
    pub rewrite_in_progress: bool,
    pub rewrite_scheduled: bool,
    pub last_rewrite_secs: i64,
    pub current_rewrite_secs: i64,
    pub last_rewrite_ok: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_write_ok: bool,
    pub current_size: u64,
    pub base_size: u64,
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

impl Server {
    fn aof_dir(&self) -> PathBuf {
        PathBuf::from(self.config.get("appenddirname"))
    }

    fn aof_prefix(&self) -> String {
        self.config.get("appendfilename")
    }

    fn manifest_name(&self) -> String {
        format!("{}.manifest", self.aof_prefix())
    }

    fn fsync_policy(&self) -> FsyncPolicy {
        FsyncPolicy::parse(&self.config.get("appendfsync"))
    }

    /// The running writer, if the AOF is on.
    pub fn aof_writer(&self) -> Option<Arc<WriterState>> {
        self.aof.writer.load_full()
    }

    /// The writer, when replies must wait for their writes to be synced (`appendfsync
    /// always`).
    pub fn aof_always(&self) -> Option<Arc<WriterState>> {
        self.aof_writer()
            .filter(|w| *w.policy.lock() == FsyncPolicy::Always)
    }

    /// The reason writes are refused after an AOF write error (MISCONF), if any.
    pub fn aof_write_error(&self) -> Option<String> {
        let guard = self.aof.writer.load();
        let w = guard.as_ref()?;
        if w.write_ok.load(Relaxed) {
            return None;
        }
        Some(format!(
            "MISCONF Errors writing to the AOF file: {}",
            w.last_error.lock()
        ))
    }

    /// Start-up with `appendonly yes` (behaves like `loadAppendOnlyFiles()` and
    /// `aofOpenIfNeededOnServerStart()`): loads the files the manifest names, creates a base
    /// and an incr file when there are none, and starts appending.
    pub fn aof_start_at_startup(&self) -> Result<(), String> {
        let dir = self.aof_dir();
        let manifest_path = dir.join(self.manifest_name());
        self.upgrade_old_aof(&dir)?;
        let mut manifest = match std::fs::read(&manifest_path) {
            Ok(text) => Manifest::parse(&text).map_err(|e| {
                let at = e
                    .line
                    .map(|(n, l)| format!("Reading the manifest file, at line {n}\n>>> '{l}'\n"))
                    .unwrap_or_default();
                format!("\n*** FATAL AOF MANIFEST FILE ERROR ***\n{at}{}", e.reason)
            })?,
            Err(_) => Manifest::default(),
        };
        let started = Instant::now();
        let files: Vec<String> = manifest
            .base
            .iter()
            .chain(&manifest.incrs)
            .map(|f| f.name.clone())
            .collect();
        for (i, name) in files.iter().enumerate() {
            let path = dir.join(name);
            if !path.exists() {
                return Err(format!(
                    "Unable to obtain the AOF file {name} length. stat: No such file or directory"
                ));
            }
            let last = i + 1 == files.len();
            let is_base = i == 0 && manifest.base.is_some();
            self.load_aof_file(&path, is_base, last)?;
            tracing::info!(
                "DB loaded from {} file {name}: {:.3} seconds",
                if is_base { "base" } else { "incr" },
                started.elapsed().as_secs_f64()
            );
        }
        if !files.is_empty() {
            tracing::info!(
                "DB loaded from append only file: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
        }
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "Can't open or create append-only dir {}: {e}",
                dir.display()
            )
        })?;
        let prefix = self.aof_prefix();
        if manifest.base.is_none() && manifest.incrs.is_empty() {
            let name = manifest.new_base(&prefix, self.rdb_preamble());
            tracing::info!("Creating AOF base file {name} on server start");
            self.write_base(&dir.join(&name), || {})
                .map_err(|e| format!("Can't create the AOF base file {name}: {e}"))?;
        }
        let incr = match manifest.incrs.last() {
            Some(f) => {
                tracing::info!("Opening AOF incr file {} on server start", f.name);
                f.name.clone()
            }
            None => {
                let name = manifest.add_incr(&prefix);
                tracing::info!("Creating AOF incr file {name} on server start");
                name
            }
        };
        manifest
            .save(&dir, &self.manifest_name())
            .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
        let incr_path = dir.join(&incr);
        let file = open_append(&incr_path)
            .map_err(|e| format!("Can't open the append-only file {incr}: {e}"))?;
        let settled: u64 = manifest
            .base
            .iter()
            .chain(&manifest.incrs[..manifest.incrs.len() - 1])
            .map(|f| file_size(&dir.join(&f.name)))
            .sum();
        let incr_size = file_size(&incr_path);
        self.aof.settled_size.store(settled, Relaxed);
        let base_file = manifest
            .base
            .as_ref()
            .map_or(0, |b| file_size(&dir.join(&b.name)));
        self.aof.base_size.store(base_file, Relaxed);
        *self.aof.manifest.lock() = manifest;
        let (tx, rx) = std::sync::mpsc::channel();
        let (sink, first) = self.propagation.connect(tx);
        self.aof.sink.store(sink, Relaxed);
        let started = writer::start(file, incr_size, first, self.fsync_policy(), rx);
        started.timestamps.store(self.timestamps_enabled(), Relaxed);
        self.aof.writer.store(Some(started));
        // Loading counted as changes; what was loaded is what is on disk.
        self.stats.reset();
        Ok(())
    }

    fn timestamps_enabled(&self) -> bool {
        self.config.get("aof-timestamp-enabled") == "yes"
    }

    fn rdb_preamble(&self) -> bool {
        self.config.get("aof-use-rdb-preamble") == "yes"
    }

    /// Writes a base file at `path` from a snapshot: an RDB with `aof-base` set, or
    /// commands with `aof-use-rdb-preamble no`;
    /// `at_instant` runs under the snapshot's gate.
    fn write_base(&self, path: &Path, at_instant: impl FnOnce()) -> Result<u64, save::SaveError> {
        let mut opts = self.save_options();
        opts.preamble.aof_base = true;
        opts.commands = !self.rdb_preamble();
        save::save_rdb_if(&self.keyspace, path, &opts, at_instant, || true)?;
        Ok(file_size(path))
    }

    /// Moves a single-file AOF of Redis before 7.0 (`appendfilename` in the working
    /// directory) into a new AOF directory as its base (behaves like
    /// `aofUpgradePrepare()`); nothing when the directory already has a manifest.
    fn upgrade_old_aof(&self, dir: &Path) -> Result<(), String> {
        let prefix = self.aof_prefix();
        let old = PathBuf::from(&prefix);
        if !old.exists() || dir.join(self.manifest_name()).exists() {
            return Ok(());
        }
        let failed =
            |e: std::io::Error| format!("Failed to migrate the old-style AOF file {prefix}: {e}");
        std::fs::create_dir_all(dir).map_err(failed)?;
        let manifest = Manifest {
            base: Some(manifest::AofFile {
                name: prefix.clone(),
                seq: 1,
                kind: manifest::FileKind::Base,
            }),
            ..Manifest::default()
        };
        manifest.save(dir, &self.manifest_name()).map_err(failed)?;
        std::fs::rename(&old, dir.join(&prefix)).map_err(failed)?;
        tracing::info!(
            "Successfully migrated an old-style AOF file ({prefix}) into the AOF directory ({}).",
            dir.display()
        );
        Ok(())
    }

    /// Replays one file: an RDB (a base written with the preamble, perhaps followed by
    /// commands), or commands.
    fn load_aof_file(&self, path: &Path, is_base: bool, last: bool) -> Result<(), String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut head = [0u8; 5];
        let is_rdb = File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
            && &head == b"REDIS";
        let old_style = name == self.aof_prefix();
        let mut start = 0;
        if is_rdb {
            if old_style {
                tracing::info!("Reading RDB preamble from AOF file...");
            } else if is_base {
                tracing::info!("Reading RDB base file on AOF loading...");
            }
            let loaded = self.load_rdb_file(path, false).map_err(|e| {
                format!("Error reading the RDB base file {name}, AOF loading aborted: {e}")
            })?;
            // An AOF written by Redis before 7.0 goes on with commands after the RDB.
            start = loaded.bytes;
            if start >= file_size(path) {
                return Ok(());
            }
            tracing::info!("Reading the remaining AOF tail...");
        }
        let mut file = File::open(path).map_err(|e| {
            format!("Fatal error: can't open the append log file {name} for reading: {e}")
        })?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start))
            .map_err(|e| format!("Unrecoverable error reading the append only file {name}: {e}"))?;
        let mut reader = CommandReader::new(BufReader::with_capacity(1 << 20, file), start);
        let mut replay = Replay::new(self, "aof");
        let mut multi_start: Option<u64> = None;
        let cut = loop {
            let before = reader.offset();
            match reader.next_command() {
                Ok(Some(argv)) => {
                    if argv[0].eq_ignore_ascii_case(b"multi") {
                        multi_start = Some(before);
                    } else if argv[0].eq_ignore_ascii_case(b"exec") {
                        multi_start = None;
                    }
                    let owned =
                        crate::protocol::OwnedArgv::from_slices(argv.iter().map(Vec::as_slice));
                    replay.run(&owned.argv()).map_err(|cmd| {
                        format!("Unknown command '{cmd}' reading the append only file {name}")
                    })?;
                }
                Ok(None) => match multi_start {
                    Some(at) => {
                        tracing::warn!(
                            "Revert incomplete MULTI/EXEC transaction in AOF file {name}"
                        );
                        break Some(at);
                    }
                    None => break None,
                },
                Err(AofReadError::Truncated(at)) => break Some(multi_start.unwrap_or(at)),
                Err(AofReadError::Format(_)) => {
                    return Err(format!(
                        "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
                    ));
                }
                Err(AofReadError::Io(e)) => {
                    return Err(format!(
                        "Unrecoverable error reading the append only file {name}: {e}"
                    ));
                }
            }
        };
        let Some(at) = cut else {
            return Ok(());
        };
        if self.config.get("aof-load-truncated") != "yes" {
            return Err(format!(
                "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
            ));
        }
        tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
        tracing::warn!("!!! Truncating the AOF {name} at offset {at} !!!");
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(at))
            .map_err(|e| format!("Error truncating the AOF file {name}: {e}"))?;
        if !last {
            return Err("Fatal error: the truncated file is not the last file".into());
        }
        tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
        Ok(())
    }

    /// BGREWRITEAOF and the automatic rewrite: false if one is already running.
    pub fn start_aof_rewrite(self: &Arc<Self>) -> bool {
        if self
            .aof
            .rewrite_in_progress
            .compare_exchange(false, true, Relaxed, Relaxed)
            .is_err()
        {
            return false;
        }
        self.aof.rewrite_scheduled.store(false, Relaxed);
        self.aof.rewrites.fetch_add(1, Relaxed);
        self.aof.rewrite_started_ms.store(now_ms(), Relaxed);
        let server = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tessera-aofrw".into())
            .spawn(move || {
                let started = Instant::now();
                let aof = &server.aof;
                match server.rewrite_aof() {
                    Ok(()) => {
                        tracing::info!("Background AOF rewrite finished successfully");
                        aof.last_rewrite_ok.store(true, Relaxed);
                        aof.consecutive_failures.store(0, Relaxed);
                    }
                    // A background save had the snapshot first: not an error, try later.
                    Err(RewriteError::Busy) => aof.rewrite_scheduled.store(true, Relaxed),
                    Err(RewriteError::Failed(e)) => {
                        tracing::warn!("Background AOF rewrite terminated with error: {e}");
                        aof.last_rewrite_ok.store(false, Relaxed);
                        aof.consecutive_failures.fetch_add(1, Relaxed);
                    }
                }
                aof.last_rewrite_secs
                    .store(started.elapsed().as_secs() as i64, Relaxed);
                aof.rewrite_started_ms.store(0, Relaxed);
                aof.rewrite_in_progress.store(false, Relaxed);
            });
        if spawned.is_err() {
            self.aof.rewrite_in_progress.store(false, Relaxed);
            return false;
        }
        tracing::info!("Background append only file rewriting started");
        true
    }

    /// The rewrite itself (behaves like `rewriteAppendOnlyFileBackground()` and
    /// `backgroundRewriteDoneHandler()`).
    fn rewrite_aof(&self) -> Result<(), RewriteError> {
        let dir = self.aof_dir();
        let prefix = self.aof_prefix();
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let writer = self.aof_writer();
        let mut next_incr = None;
        if writer.is_some() {
            let mut m = self.aof.manifest.lock();
            let name = m.add_incr(&prefix);
            m.save(&dir, &self.manifest_name())
                .map_err(|e| e.to_string())?;
            tracing::info!("Creating AOF incr file {name} on background rewrite");
            next_incr = Some(open_append(&dir.join(&name)).map_err(|e| e.to_string())?);
        }
        let base_name = self
            .aof
            .manifest
            .lock()
            .clone()
            .new_base(&prefix, self.rdb_preamble());
        let base_path = dir.join(&base_name);
        let mut switched = None;
        let at_instant = || {
            if let (Some(w), Some(file)) = (&writer, next_incr.take()) {
                let at = self.propagation.last_stamp() + 1;
                switched = Some(w.request_switch(at, file));
            }
        };
        let base_len = match self.write_base(&base_path, at_instant) {
            Ok(len) => len,
            Err(save::SaveError::Busy) => return Err(RewriteError::Busy),
            Err(e) => return Err(e.to_string().into()),
        };
        if let (Some(w), Some(done)) = (&writer, &switched) {
            w.wait_switched(done);
        }
        let history = {
            let mut m = self.aof.manifest.lock();
            m.new_base(&prefix, self.rdb_preamble());
            m.retire_incrs(usize::from(writer.is_some()));
            let history = std::mem::take(&mut m.history);
            m.save(&dir, &self.manifest_name())
                .map_err(|e| e.to_string())?;
            history
        };
        for f in history {
            tracing::info!("Removing the history file {} in the background", f.name);
            let _ = std::fs::remove_file(dir.join(&f.name));
        }
        self.aof.settled_size.store(base_len, Relaxed);
        let incr = writer.map_or(0, |w| w.incr_size.load(Relaxed));
        self.aof.base_size.store(base_len + incr, Relaxed);
        Ok(())
    }

    /// `CONFIG SET appendonly` and `appendfsync` taking effect (behaves like
    /// `startAppendOnly()` / `stopAppendOnly()`): turning the AOF on writes a new base from a
    /// snapshot, the writer connected at its instant; turning it off syncs and stops.
    pub fn apply_aof_settings(self: &Arc<Self>) {
        let on = self.config.settings().appendonly;
        let running = self.aof_writer();
        match (on, running) {
            (true, Some(w)) => {
                *w.policy.lock() = self.fsync_policy();
                w.timestamps.store(self.timestamps_enabled(), Relaxed);
            }
            (true, None) => {
                if !self.aof.rewrite_in_progress.load(Relaxed) {
                    let server = self.clone();
                    std::thread::spawn(move || {
                        if let Err(e) = server.turn_aof_on() {
                            tracing::warn!(
                                "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation: {e}"
                            );
                        }
                    });
                }
            }
            (false, Some(_)) => self.stop_aof(),
            (false, None) => {}
        }
    }

    fn turn_aof_on(&self) -> Result<(), String> {
        if self
            .aof
            .rewrite_in_progress
            .compare_exchange(false, true, Relaxed, Relaxed)
            .is_err()
        {
            return Err("a rewrite is running".into());
        }
        let result = self.turn_aof_on_locked();
        self.aof.rewrite_in_progress.store(false, Relaxed);
        result
    }

    fn turn_aof_on_locked(&self) -> Result<(), String> {
        let dir = self.aof_dir();
        let prefix = self.aof_prefix();
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut planned = self.aof.manifest.lock().clone();
        let incr_name = planned.add_incr(&prefix);
        let base_name = planned.new_base(&prefix, self.rdb_preamble());
        planned.retire_incrs(1);
        let incr_path = dir.join(&incr_name);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&incr_path)
            .map_err(|e| e.to_string())?;
        let mut file = Some(file);
        let policy = self.fsync_policy();
        let at_instant = || {
            let (tx, rx) = std::sync::mpsc::channel();
            let (sink, first) = self.propagation.connect(tx);
            self.aof.sink.store(sink, Relaxed);
            if let Some(f) = file.take() {
                let started = writer::start(f, 0, first, policy, rx);
                started.timestamps.store(self.timestamps_enabled(), Relaxed);
                self.aof.writer.store(Some(started));
            }
        };
        let written = self.write_base(&dir.join(&base_name), at_instant);
        let base_len = match written {
            Ok(len) => len,
            Err(e) => {
                self.stop_aof();
                let _ = std::fs::remove_file(&incr_path);
                return Err(e.to_string());
            }
        };
        let history = std::mem::take(&mut planned.history);
        planned
            .save(&dir, &self.manifest_name())
            .map_err(|e| e.to_string())?;
        *self.aof.manifest.lock() = planned;
        for f in history {
            let _ = std::fs::remove_file(dir.join(&f.name));
        }
        self.aof.settled_size.store(base_len, Relaxed);
        self.aof.base_size.store(base_len, Relaxed);
        tracing::info!("Background AOF rewrite finished successfully");
        Ok(())
    }

    /// Stops appending: the writer writes and syncs what it has, then ends (waited for, at
    /// most 5 s). Also the AOF part of shutdown.
    pub fn stop_aof(&self) {
        let Some(w) = self.aof.writer.swap(None) else {
            return;
        };
        self.propagation.disconnect(self.aof.sink.load(Relaxed));
        for _ in 0..500 {
            if w.stopped.load(Relaxed) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The cron's automatic rewrite (`auto-aof-rewrite-percentage` / `-min-size`) and
    /// scheduled rewrites.
    pub fn check_aof_rewrite(self: &Arc<Self>) {
        if self.aof.rewrite_in_progress.load(Relaxed) || self.rdb.bgsave_in_progress.load(Relaxed) {
            return;
        }
        if self.aof.rewrite_scheduled.load(Relaxed) {
            self.start_aof_rewrite();
            return;
        }
        if self.aof_writer().is_none() {
            return;
        }
        let percentage: u64 = self
            .config
            .get("auto-aof-rewrite-percentage")
            .parse()
            .unwrap_or(0);
        let min_size: u64 =
            crate::config::parse_memory(self.config.get("auto-aof-rewrite-min-size").as_bytes())
                .unwrap_or(u64::MAX);
        let current = self.aof_current_size();
        let base = self.aof.base_size.load(Relaxed).max(1);
        if percentage == 0 || current <= min_size {
            return;
        }
        let growth = (current * 100 / base).saturating_sub(100);
        if growth >= percentage {
            tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
            self.start_aof_rewrite();
        }
    }

    fn aof_current_size(&self) -> u64 {
        let incr = self.aof_writer().map_or(0, |w| w.incr_size.load(Relaxed));
        self.aof.settled_size.load(Relaxed) + incr
    }

    pub fn aof_info(&self) -> AofInfo {
        let started = self.aof.rewrite_started_ms.load(Relaxed);
        AofInfo {
            rewrite_in_progress: self.aof.rewrite_in_progress.load(Relaxed),
            rewrite_scheduled: self.aof.rewrite_scheduled.load(Relaxed),
            last_rewrite_secs: self.aof.last_rewrite_secs.load(Relaxed),
            current_rewrite_secs: if started == 0 {
                -1
            } else {
                (now_ms() - started) / 1000
            },
            last_rewrite_ok: self.aof.last_rewrite_ok.load(Relaxed),
            rewrites: self.aof.rewrites.load(Relaxed),
            consecutive_failures: self.aof.consecutive_failures.load(Relaxed),
            last_write_ok: self.aof_writer().is_none_or(|w| w.write_ok.load(Relaxed)),
            current_size: self.aof_current_size(),
            base_size: self.aof.base_size.load(Relaxed),
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}
