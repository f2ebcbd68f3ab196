//! LFU access counters (behaves like Redis 7.0's `LFUGetTimeInMinutes()`, `LFULogIncr()`,
//! `LFUDecrAndReturn()` and `updateLFU()`): under an `*-lfu` maxmemory policy an entry's
//! 24-bit `lru` field holds the minute of its last decrement (16 bits) and a logarithmic
//! access counter (8 bits), as Redis's object header does.

/// The counter a new key starts with (`LFU_INIT_VAL`).
pub const INIT_VAL: u8 = 5;

/// `lfu-log-factor` and `lfu-decay-time`, read while an LFU policy is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lfu {
    pub log_factor: u32,
    /// Minutes per decrement of an idle key's counter (0: never decays).
    pub decay_minutes: u32,
}

/// Minutes since the epoch, modulo 2^16.
fn minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u64 & 0xffff) as u32
}

/// Minutes since `ldt`, across the 16-bit wrap.
fn elapsed(ldt: u32, now_ms: i64) -> u32 {
    let now = minutes(now_ms);
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// The field of a new key.
pub fn new_field(now_ms: i64) -> u32 {
    with_counter(now_ms, INIT_VAL)
}

/// The field holding `counter`, decremented from now on.
pub fn with_counter(now_ms: i64, counter: u8) -> u32 {
    (minutes(now_ms) << 8) | u32::from(counter)
}

/// The counter of `field` after its idle decay (what OBJECT FREQ shows).
pub fn counter(field: u32, now_ms: i64, decay_minutes: u32) -> u8 {
    let ldt = (field >> 8) & 0xffff;
    let counter = (field & 0xff) as u8;
    let periods = elapsed(ldt, now_ms).checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(u8::try_from(periods).unwrap_or(u8::MAX))
}

/// Increments `counter` with probability 1 / ((counter - INIT_VAL) × log_factor + 1), so
/// that it grows logarithmically with the accesses; `r` is uniform in [0, 1).
fn log_incr(counter: u8, log_factor: u32, r: f64) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if r < p { counter + 1 } else { counter }
}

/// The field after an access: decayed, then maybe incremented (`updateLFU()`).
pub fn touched(field: u32, now_ms: i64, lfu: Lfu) -> u32 {
    let decayed = counter(field, now_ms, lfu.decay_minutes);
    let counter = log_incr(decayed, lfu.log_factor, rand::random::<f64>());
    with_counter(now_ms, counter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_access_with_log_factor_zero() {
        let lfu = Lfu {
            log_factor: 0,
            decay_minutes: 1,
        };
        let mut field = new_field(0);
        for _ in 0..10 {
            field = touched(field, 0, lfu);
        }
        assert_eq!(counter(field, 0, 1), 15);
        for _ in 0..300 {
            field = touched(field, 0, lfu);
        }
        assert_eq!(counter(field, 0, 1), 255, "saturates");
    }

    #[test]
    fn grows_logarithmically_and_decays_when_idle() {
        assert_eq!(
            log_incr(5, 10, 0.99),
            6,
            "at the initial value every access counts"
        );
        assert_eq!(log_incr(105, 10, 0.01), 105, "p = 1/1001");
        assert_eq!(log_incr(105, 10, 0.0005), 106);
        let field = with_counter(0, 20);
        assert_eq!(counter(field, 10 * 60_000, 1), 10, "one per idle minute");
        assert_eq!(counter(field, 10 * 60_000, 5), 18);
        assert_eq!(counter(field, 10 * 60_000, 0), 20, "decay-time 0: never");
        assert_eq!(counter(field, 100 * 60_000, 1), 0);
    }
}
