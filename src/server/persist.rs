//! RDB persistence as the server runs it: SAVE, BGSAVE on a thread of its own, save points,
//! the load at start-up, the save at shutdown, DEBUG RELOAD, and the figures INFO
//! persistence shows (behaves like the server-side half of Redis 7.0's rdb.c).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::time::Instant;

use super::{PausePurpose, REDIS_VERSION, Server};
use crate::keyspace::effects::lru_clock;
use crate::persistence::rdb::RdbError;
use crate::persistence::rdb::file::{LoadOptions, LoadSummary, Preamble, RecordOptions};
use crate::persistence::save::{self, SaveError, SaveOptions};
use crate::util::clock::now_ms;

/// How long a failed background save waits before a save point may try again
/// (`CONFIG_BGSAVE_RETRY_DELAY`).
const RETRY_DELAY_MS: i64 = 5000;

/// RDB state shared by commands, the cron and INFO.
pub struct RdbState {
    pub bgsave_in_progress: AtomicBool,
    /// BGSAVE SCHEDULE waits for the running AOF rewrite.
    pub bgsave_scheduled: AtomicBool,
    /// When the running background save started (ms), for INFO.
    bgsave_started_ms: AtomicI64,
    last_bgsave_ok: AtomicBool,
    /// Seconds the last background save took; -1 before the first.
    last_bgsave_secs: AtomicI64,
    last_bgsave_try_ms: AtomicI64,
    /// Successful saves since start (`rdb_saves`).
    saves: AtomicU64,
    /// The change counter when the last successful save started: changes since then are
    /// `rdb_changes_since_last_save`.
    dirty_at_save: AtomicU64,
    /// Keys in the save being written (`current_save_keys_total`).
    keys_in_save: AtomicU64,
    /// Bumped when the data a running background save copies stops being wanted (FLUSHALL):
    /// that save then discards its file instead of renaming it into place.
    generation: AtomicU64,
    pub last_load_keys_loaded: AtomicU64,
    pub last_load_keys_expired: AtomicU64,
    /// The shutdown save (or the decision not to save) is done.
    pub shutdown_handled: AtomicBool,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            bgsave_in_progress: AtomicBool::new(false),
            bgsave_scheduled: AtomicBool::new(false),
            bgsave_started_ms: AtomicI64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            last_bgsave_try_ms: AtomicI64::new(0),
            saves: AtomicU64::new(0),
            dirty_at_save: AtomicU64::new(0),
            keys_in_save: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
            shutdown_handled: AtomicBool::new(false),
        }
    }
}

/// The INFO persistence figures about RDB.
pub struct RdbInfo {
    pub changes_since_last_save: u64,
    pub bgsave_in_progress: bool,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    pub current_bgsave_secs: i64,
    pub saves: u64,
    pub keys_in_save: u64,
}

impl Server {
    /// The RDB file: `dbfilename` in the working directory (`dir`).
    pub fn rdb_path(&self) -> PathBuf {
        PathBuf::from(self.config.get("dbfilename"))
    }

    pub(crate) fn save_options(&self) -> SaveOptions {
        let settings = self.config.settings();
        let lru = settings.maxmemory_policy.ends_with("-lru");
        let now = now_ms();
        SaveOptions {
            preamble: Preamble {
                redis_version: REDIS_VERSION,
                ctime_secs: now / 1000,
                used_mem: crate::util::alloc::used_memory(),
                repl_id: self.primary.ids(&self.process.replid).replid,
                repl_offset: 0,
                aof_base: false,
            },
            records: RecordOptions {
                compress: settings.rdb_compression,
                lru_clock: lru.then(|| lru_clock(now)),
                lfu: settings.lfu.map(|l| (now, l.decay_minutes)),
            },
            checksum: self.config.get("rdbchecksum") == "yes",
            commands: false,
        }
    }

    /// Changes since the last successful save.
    pub fn changes_since_save(&self) -> u64 {
        self.stats
            .dirty()
            .saturating_sub(self.rdb.dirty_at_save.load(Relaxed))
    }

    /// SAVE, the shutdown save, DEBUG RELOAD: writes the file on this thread.
    pub fn save_now(&self) -> Result<(), SaveError> {
        if self.rdb.bgsave_in_progress.load(Relaxed) {
            return Err(SaveError::Busy);
        }
        let dirty = self.stats.dirty();
        match save::save_rdb(&self.keyspace, &self.rdb_path(), &self.save_options()) {
            Ok(_) => {
                tracing::info!("DB saved on disk");
                self.saved(dirty);
                Ok(())
            }
            Err(e) => {
                tracing::warn!("Error saving DB on disk: {e}");
                Err(e)
            }
        }
    }

    fn saved(&self, dirty_at_start: u64) {
        self.rdb.dirty_at_save.store(dirty_at_start, Relaxed);
        self.lastsave_secs.store(now_ms() / 1000, Relaxed);
        self.rdb.saves.fetch_add(1, Relaxed);
    }

    /// BGSAVE and save points: writes the file on a thread of its own.
    pub fn start_bgsave(self: &Arc<Self>) -> Result<(), SaveError> {
        if self
            .rdb
            .bgsave_in_progress
            .compare_exchange(false, true, Relaxed, Relaxed)
            .is_err()
        {
            return Err(SaveError::Busy);
        }
        let now = now_ms();
        self.rdb.bgsave_started_ms.store(now, Relaxed);
        self.rdb.last_bgsave_try_ms.store(now, Relaxed);
        let server = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tessera-bgsave".into())
            .spawn(move || server.run_bgsave());
        if let Err(e) = spawned {
            self.rdb.bgsave_in_progress.store(false, Relaxed);
            return Err(SaveError::Io(e));
        }
        tracing::info!("Background saving started");
        Ok(())
    }

    fn run_bgsave(&self) {
        let dirty = self.stats.dirty();
        let generation = self.rdb.generation.load(Relaxed);
        let started = Instant::now();
        let path = self.rdb_path();
        let keys = &self.rdb.keys_in_save;
        keys.store(0, Relaxed);
        let keep = || self.rdb.generation.load(Relaxed) == generation;
        let result = save::save_rdb_if(&self.keyspace, &path, &self.save_options(), || {}, keep);
        match &result {
            Ok(Some(summary)) => {
                keys.store(summary.keys, Relaxed);
                tracing::info!("Background saving terminated with success");
                self.saved(dirty);
                self.rdb.last_bgsave_ok.store(true, Relaxed);
            }
            // Like a child killed on purpose: not an error.
            Ok(None) => tracing::warn!("Background saving discarded: the data set was flushed"),
            // Lost a race with an AOF rewrite for the snapshot: not an error, try later.
            Err(SaveError::Busy) => self.rdb.bgsave_scheduled.store(true, Relaxed),
            Err(e) => {
                tracing::warn!("Background saving error: {e}");
                self.rdb.last_bgsave_ok.store(false, Relaxed);
            }
        }
        self.rdb
            .last_bgsave_secs
            .store(started.elapsed().as_secs() as i64, Relaxed);
        self.rdb.bgsave_started_ms.store(0, Relaxed);
        self.rdb.bgsave_in_progress.store(false, Relaxed);
    }

    /// After FLUSHALL: a running background save must not bring the old data back, and
    /// with save points the empty data set is saved at once (`flushAllDataAndResetRDB()`).
    pub fn after_flushall(&self) {
        self.rdb.generation.fetch_add(1, Relaxed);
        if !self.config.settings().save_points.is_empty()
            && save::save_rdb(&self.keyspace, &self.rdb_path(), &self.save_options()).is_ok()
        {
            // The flush itself still counts as unsaved changes, as in Redis.
            self.lastsave_secs.store(now_ms() / 1000, Relaxed);
            self.rdb.saves.fetch_add(1, Relaxed);
        }
    }

    /// Whether writes are refused because the last background save failed
    /// (`stop-writes-on-bgsave-error` with save points).
    pub fn writes_refused_by_save_error(&self) -> bool {
        !self.rdb.last_bgsave_ok.load(Relaxed)
            && !self.config.settings().save_points.is_empty()
            && self.config.get("stop-writes-on-bgsave-error") == "yes"
    }

    /// The cron's check of the save points (`save <seconds> <changes>`).
    pub fn check_save_points(self: &Arc<Self>) {
        if self.rdb.bgsave_in_progress.load(Relaxed) || self.aof.rewrite_in_progress.load(Relaxed) {
            return;
        }
        if self.rdb.bgsave_scheduled.swap(false, Relaxed) {
            let _ = self.start_bgsave();
            return;
        }
        let settings = self.config.settings();
        if settings.save_points.is_empty() {
            return;
        }
        let now = now_ms();
        let changes = self.changes_since_save();
        let since_save = now / 1000 - self.lastsave_secs.load(Relaxed);
        let may_retry = self.rdb.last_bgsave_ok.load(Relaxed)
            || now - self.rdb.last_bgsave_try_ms.load(Relaxed) > RETRY_DELAY_MS;
        let due = settings
            .save_points
            .iter()
            .find(|&&(secs, min_changes)| changes >= min_changes && since_save > secs as i64);
        if let Some((secs, min_changes)) = due
            && may_retry
        {
            tracing::info!("{min_changes} changes in {secs} seconds. Saving...");
            let _ = self.start_bgsave();
        }
    }

    /// Loads the RDB file at start-up, if there is one. An unreadable file stops the
    /// server, as in Redis.
    pub fn load_at_startup(&self) -> Result<(), RdbError> {
        let path = self.rdb_path();
        if !path.exists() {
            return Ok(());
        }
        let started = Instant::now();
        let summary = self.load_rdb_file(&path, false)?;
        tracing::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            summary.keys_loaded,
            summary.keys_expired
        );
        tracing::info!(
            "DB loaded from disk: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    pub(crate) fn load_rdb_file(
        &self,
        path: &std::path::Path,
        replace: bool,
    ) -> Result<LoadSummary, RdbError> {
        let settings = self.config.settings();
        let now = now_ms();
        let opts = LoadOptions {
            databases: settings.databases,
            limits: settings.encoding_limits(),
            now_ms: now,
        };
        let clock = save::AccessClock {
            lru_clock: lru_clock(now),
            lfu_now_ms: settings.lfu.map(|_| now),
        };
        let summary = save::load_rdb(&self.keyspace, path, &opts, clock, replace)?;
        self.rdb
            .last_load_keys_loaded
            .store(summary.keys_loaded, Relaxed);
        self.rdb
            .last_load_keys_expired
            .store(summary.keys_expired, Relaxed);
        // What was just loaded is what is on disk.
        self.rdb.dirty_at_save.store(self.stats.dirty(), Relaxed);
        Ok(summary)
    }

    /// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the keyspace, load the file
    /// back (each step as the options say); clients are paused meanwhile so no write
    /// falls between the save and the load. The error is the reply's text.
    pub fn debug_reload(&self, save: bool, flush: bool, merge: bool) -> Result<(), &'static str> {
        self.pause.pause(PausePurpose::Save, i64::MAX, true);
        let saved = if save {
            self.save_now().map_err(|_| "ERR")
        } else {
            Ok(())
        };
        let result = saved.and_then(|()| {
            if flush {
                let shards = self.keyspace.lock_all();
                let old: Vec<_> = shards.into_iter().map(|mut s| s.take_contents()).collect();
                drop(old);
            }
            match self.load_rdb_file(&self.rdb_path(), merge) {
                Ok(_) => {
                    tracing::warn!("DB reloaded by DEBUG RELOAD");
                    Ok(())
                }
                Err(e) => {
                    tracing::warn!("Error trying to load the RDB dump: {e}");
                    Err("ERR Error trying to load the RDB dump")
                }
            }
        });
        self.pause.unpause(PausePurpose::Save);
        result
    }

    /// The save at shutdown (`prepareForShutdown()`): with `save` forced, or with save
    /// points configured unless `nosave`. Clients are paused first, so every write that
    /// was acknowledged is in the file.
    pub fn shutdown_save(&self, save: bool, nosave: bool) -> Result<(), SaveError> {
        if self.rdb.shutdown_handled.swap(true, Relaxed) {
            return Ok(());
        }
        let wanted = save || (!nosave && !self.config.settings().save_points.is_empty());
        if !wanted {
            return Ok(());
        }
        self.pause.pause(PausePurpose::Save, i64::MAX, true);
        tracing::warn!("Saving the final RDB snapshot before exiting.");
        let result = self.wait_for_bgsave().and_then(|()| self.save_now());
        if result.is_err() {
            self.rdb.shutdown_handled.store(false, Relaxed);
            self.pause.unpause(PausePurpose::Save);
        }
        result
    }

    /// A running background save is left to finish (Redis kills its child; ours is a
    /// thread that finishes in bounded time), at most 60 s.
    fn wait_for_bgsave(&self) -> Result<(), SaveError> {
        for _ in 0..6000 {
            if !self.rdb.bgsave_in_progress.load(Relaxed) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(SaveError::Busy)
    }

    pub fn rdb_info(&self) -> RdbInfo {
        let started = self.rdb.bgsave_started_ms.load(Relaxed);
        RdbInfo {
            changes_since_last_save: self.changes_since_save(),
            bgsave_in_progress: self.rdb.bgsave_in_progress.load(Relaxed),
            last_bgsave_ok: self.rdb.last_bgsave_ok.load(Relaxed),
            last_bgsave_secs: self.rdb.last_bgsave_secs.load(Relaxed),
            current_bgsave_secs: if started == 0 {
                -1
            } else {
                (now_ms() - started) / 1000
            },
            saves: self.rdb.saves.load(Relaxed),
            keys_in_save: self.rdb.keys_in_save.load(Relaxed),
        }
    }
}
