//! SLOWLOG and the latency monitor (behaves like Redis's slowlog.c and latency.c, for the
//! "command" and "fast-command" events).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

use crate::protocol::Argv;

/// Most arguments kept per entry, and bytes kept per argument (Redis's limits).
const MAX_ARGS: usize = 32;
const MAX_ARG_BYTES: usize = 128;

/// One slow log entry.
#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub time_secs: i64,
    pub duration_us: u64,
    pub args: Vec<Vec<u8>>,
    pub client_addr: String,
    pub client_name: Vec<u8>,
}

#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<SlowEntry>>,
    next_id: AtomicU64,
}

impl SlowLog {
    /// Records a command that took `duration_us`, trimming to `max_len` entries.
    pub fn record(
        &self,
        argv: &Argv<'_>,
        duration_us: u64,
        time_secs: i64,
        client_addr: &str,
        client_name: &[u8],
        max_len: usize,
    ) {
        let mut args = Vec::with_capacity(argv.len().min(MAX_ARGS));
        let shown = if argv.len() > MAX_ARGS {
            MAX_ARGS - 1
        } else {
            argv.len()
        };
        for a in argv.iter().take(shown) {
            if a.len() > MAX_ARG_BYTES {
                let mut v = a[..MAX_ARG_BYTES].to_vec();
                v.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes(),
                );
                args.push(v);
            } else {
                args.push(a.to_vec());
            }
        }
        if argv.len() > MAX_ARGS {
            args.push(format!("... ({} more arguments)", argv.len() - shown).into_bytes());
        }
        let entry = SlowEntry {
            id: self.next_id.fetch_add(1, Relaxed),
            time_secs,
            duration_us,
            args,
            client_addr: client_addr.to_string(),
            client_name: client_name.to_vec(),
        };
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        while entries.len() > max_len {
            entries.pop_back();
        }
    }

    /// Newest first, at most `count` (all when `None`).
    pub fn get(&self, count: Option<usize>) -> Vec<SlowEntry> {
        let entries = self.entries.lock();
        let n = count.unwrap_or(entries.len()).min(entries.len());
        entries.iter().take(n).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    pub fn trim(&self, max_len: usize) {
        let mut entries = self.entries.lock();
        while entries.len() > max_len {
            entries.pop_back();
        }
    }
}

/// Samples kept per latency event (Redis's LATENCY_TS_LEN).
const LATENCY_TS_LEN: usize = 160;

/// One latency event's history.
#[derive(Default, Clone, Debug)]
pub struct LatencySeries {
    /// (unix seconds, latency ms), oldest first.
    pub samples: VecDeque<(i64, u64)>,
    pub max_ms: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    events: Mutex<HashMap<&'static str, LatencySeries>>,
}

impl LatencyMonitor {
    /// Adds a sample; samples in the same second keep the larger latency.
    pub fn add(&self, event: &'static str, time_secs: i64, latency_ms: u64) {
        let mut events = self.events.lock();
        let series = events.entry(event).or_default();
        series.max_ms = series.max_ms.max(latency_ms);
        match series.samples.back_mut() {
            Some(last) if last.0 == time_secs => last.1 = last.1.max(latency_ms),
            _ => {
                series.samples.push_back((time_secs, latency_ms));
                if series.samples.len() > LATENCY_TS_LEN {
                    series.samples.pop_front();
                }
            }
        }
    }

    /// (event, series) for every event with samples.
    pub fn all(&self) -> Vec<(&'static str, LatencySeries)> {
        let mut v: Vec<_> = self
            .events
            .lock()
            .iter()
            .map(|(k, s)| (*k, s.clone()))
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    pub fn history(&self, event: &[u8]) -> Option<LatencySeries> {
        self.events
            .lock()
            .iter()
            .find(|(k, _)| k.as_bytes() == event)
            .map(|(_, s)| s.clone())
    }

    /// Resets the named events (all when empty); returns how many were reset.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut events = self.events.lock();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let mut n = 0;
        events.retain(|k, _| {
            let hit = names.iter().any(|x| x.eq_ignore_ascii_case(k.as_bytes()));
            if hit {
                n += 1;
            }
            !hit
        });
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::OwnedArgv;

    #[test]
    fn slowlog_trims_args_like_redis() {
        let log = SlowLog::default();
        let long = vec![b'x'; 200];
        let mut args: Vec<&[u8]> = vec![b"set", &long];
        args.extend(std::iter::repeat_n(&b"a"[..], 40));
        let owned = OwnedArgv::from_slices(args);
        log.record(&owned.argv(), 20000, 1, "127.0.0.1:1", b"", 128);
        let e = &log.get(None)[0];
        assert_eq!(e.args.len(), 32);
        assert!(e.args[1].ends_with(b"... (72 more bytes)"));
        assert_eq!(e.args[31], b"... (11 more arguments)");
    }
}
