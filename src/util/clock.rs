//! Wall and monotonic clocks as the server uses them.
//!
//! Command durations (INFO commandstats, SLOWLOG, the latency monitor) are measured with the
//! CPU's time-stamp counter where it is invariant: two `rdtsc` reads cost a few nanoseconds,
//! against ~40 ns for two vDSO `clock_gettime` calls on a virtual machine, and this is paid
//! on every command.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
#[inline]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix time in microseconds.
#[inline]
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Time-stamp-counter ticks per microsecond, or `None` when the counter is not usable
/// (then [`Stopwatch`] falls back to `Instant`).
fn ticks_per_us() -> Option<f64> {
    static RATE: OnceLock<Option<f64>> = OnceLock::new();
    *RATE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
            if !(flags.contains("constant_tsc") && flags.contains("nonstop_tsc")) {
                return None;
            }
            let t0 = Instant::now();
            let c0 = rdtsc();
            std::thread::sleep(std::time::Duration::from_millis(20));
            let c1 = rdtsc();
            let us = t0.elapsed().as_secs_f64() * 1e6;
            let rate = (c1.wrapping_sub(c0)) as f64 / us;
            (rate.is_finite() && rate > 1.0).then_some(rate)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            None
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Calibrates the counter; call once at start-up so no command pays for it.
pub fn calibrate() {
    let _ = ticks_per_us();
}

/// Measures short durations cheaply.
#[derive(Clone, Copy)]
pub enum Stopwatch {
    Tsc(u64, f64),
    Mono(Instant),
}

impl Stopwatch {
    #[inline]
    pub fn start() -> Stopwatch {
        #[cfg(target_arch = "x86_64")]
        if let Some(rate) = ticks_per_us() {
            return Stopwatch::Tsc(rdtsc(), rate);
        }
        Stopwatch::Mono(Instant::now())
    }

    /// Microseconds since `start`.
    #[inline]
    pub fn elapsed_us(&self) -> u64 {
        match *self {
            #[cfg(target_arch = "x86_64")]
            Stopwatch::Tsc(t0, rate) => (rdtsc().wrapping_sub(t0) as f64 / rate) as u64,
            #[cfg(not(target_arch = "x86_64"))]
            Stopwatch::Tsc(..) => 0,
            Stopwatch::Mono(t0) => t0.elapsed().as_micros() as u64,
        }
    }
}

/// The clock commands run on: Unix ms, re-read from the system when the commands run since
/// the last read add up to half a millisecond (their durations are measured anyway), so a
/// batch of fast commands costs one clock read while a slow command still leaves the next
/// one with a fresh clock (as Redis's per-command clock would).
#[derive(Debug)]
pub struct CommandClock {
    now_ms: i64,
    run_since_read_us: u64,
}

/// Work after which the command clock is read again.
const CLOCK_REFRESH_US: u64 = 500;

impl CommandClock {
    pub fn new() -> Self {
        CommandClock {
            now_ms: now_ms(),
            run_since_read_us: 0,
        }
    }

    /// Reads the system clock (at the start of a batch of commands).
    pub fn refresh(&mut self) {
        self.now_ms = now_ms();
        self.run_since_read_us = 0;
    }

    /// The clock for the next command.
    #[inline]
    pub fn now_ms(&mut self) -> i64 {
        if self.run_since_read_us >= CLOCK_REFRESH_US {
            self.refresh();
        }
        self.now_ms
    }

    /// Accounts for a command that ran for `us` microseconds.
    #[inline]
    pub fn ran(&mut self, us: u64) {
        self.run_since_read_us += us;
    }
}

impl Default for CommandClock {
    fn default() -> Self {
        Self::new()
    }
}
