//! Options with their own grammar: dir, save, client-output-buffer-limit,
//! oom-score-adj-values, notify-keyspace-events, bind, replicaof,
//! latency-tracking-info-percentiles (behaves like the `setConfig*Option()` functions of
//! Redis's config.c, with the same error texts).

use super::options::Special;
use super::{BufferLimit, parse_memory};
use crate::keyspace::EventClass;
use crate::protocol::float::parse_double;

/// Canonical text of a special option, or Redis's error text.
pub(super) fn canonical(
    sp: Special,
    args: &[Vec<u8>],
    prev: &str,
    loading: bool,
) -> Result<String, String> {
    let text = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
    match sp {
        Special::Dir => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            std::env::set_current_dir(text(&args[0])).map_err(|e| super::io_reason(&e))?;
            Ok(String::new())
        }
        Special::Save => {
            let args: &[Vec<u8>] = if args.len() == 1 && args[0].is_empty() {
                &[]
            } else {
                args
            };
            if args.len() % 2 == 1 {
                return Err("Invalid save parameters".into());
            }
            for (j, a) in args.iter().enumerate() {
                let n = strtoll_whole(a).ok_or("Invalid save parameters")?;
                if (j % 2 == 0 && n < 1) || (j % 2 == 1 && n < 0) {
                    return Err("Invalid save parameters".into());
                }
            }
            let mut parts: Vec<String> = if loading && !prev.is_empty() && !args.is_empty() {
                prev.split(' ').map(str::to_string).collect()
            } else {
                Vec::new()
            };
            for a in args {
                parts.push(strtoll_whole(a).unwrap_or(0).to_string());
            }
            Ok(parts.join(" "))
        }
        Special::ClientOutputBufferLimit => {
            if !args.len().is_multiple_of(4) {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            let mut limits = parse_buffer_limits(prev);
            for chunk in args.chunks(4) {
                let class = chunk[0].to_ascii_lowercase();
                let slot = match class.as_slice() {
                    b"normal" => &mut limits.normal,
                    b"slave" | b"replica" => &mut limits.replica,
                    b"pubsub" => &mut limits.pubsub,
                    _ => {
                        return Err(
                            "Invalid client class specified in buffer limit configuration.".into(),
                        );
                    }
                };
                let bad = || {
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .to_string()
                };
                let hard = parse_memory(&chunk[1]).ok_or_else(bad)?;
                let soft = parse_memory(&chunk[2]).ok_or_else(bad)?;
                let secs = strtoll_whole(&chunk[3])
                    .filter(|s| *s >= 0)
                    .ok_or_else(bad)?;
                *slot = BufferLimit {
                    hard_bytes: hard,
                    soft_bytes: soft,
                    soft_seconds: secs as u64,
                };
            }
            Ok(limits.to_text())
        }
        Special::OomScoreAdjValues => {
            if args.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut out = Vec::new();
            for a in args {
                match strtoll_whole(a) {
                    Some(v) if (-2000..=2000).contains(&v) => out.push(v.to_string()),
                    _ => {
                        return Err(
                            "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                                .into(),
                        );
                    }
                }
            }
            Ok(out.join(" "))
        }
        Special::NotifyKeyspaceEvents => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            // Stored losslessly; CONFIG GET prints Redis's form (see `Config::value_text`).
            EventClass::parse(&args[0])
                .map(|f| f.to_lossless_string())
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
        }
        Special::Bind => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            if args.len() == 1 && args[0].is_empty() {
                return Ok(String::new());
            }
            Ok(args.iter().map(|a| text(a)).collect::<Vec<_>>().join(" "))
        }
        Special::ReplicaOf => {
            if args.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if args[0].eq_ignore_ascii_case(b"no") && args[1].eq_ignore_ascii_case(b"one") {
                return Ok(String::new());
            }
            match strtoll_whole(&args[1]) {
                Some(p) if (0..=65535).contains(&p) => Ok(format!("{} {}", text(&args[0]), p)),
                _ => Err("Invalid master port".into()),
            }
        }
        Special::LatencyTrackingInfoPercentiles => {
            if args.len() == 1 && args[0].is_empty() {
                return Ok(String::new());
            }
            let mut out = Vec::new();
            for a in args {
                let p = parse_double(a)
                    .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                            .into(),
                    );
                }
                // Redis prints these with "%f" and trims trailing zeros.
                let text = format!("{p:.6}");
                let text = text.trim_end_matches('0').trim_end_matches('.');
                out.push(text.to_string());
            }
            Ok(out.join(" "))
        }
    }
}

/// C's `strtoll(s, &end, 10)` with `*end == '\0'` required (leading spaces and a sign are
/// allowed, an empty string is 0, as in Redis's checks).
fn strtoll_whole(a: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(a).ok()?;
    let t = s.trim_start();
    if t.is_empty() {
        return if s.is_empty() { Some(0) } else { None };
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    t.parse::<i64>().ok()
}

/// The three client classes' output buffer limits.
#[derive(Clone, Copy, Debug, Default)]
pub struct BufferLimits {
    pub normal: BufferLimit,
    pub replica: BufferLimit,
    pub pubsub: BufferLimit,
}

impl BufferLimits {
    fn to_text(self) -> String {
        let one = |name: &str, l: BufferLimit| {
            format!(
                "{name} {} {} {}",
                l.hard_bytes, l.soft_bytes, l.soft_seconds
            )
        };
        format!(
            "{} {} {}",
            one("normal", self.normal),
            one("slave", self.replica),
            one("pubsub", self.pubsub)
        )
    }
}

/// Parses the canonical `client-output-buffer-limit` text.
pub fn parse_buffer_limits(text: &str) -> BufferLimits {
    let mut limits = BufferLimits::default();
    let parts: Vec<&str> = text.split_whitespace().collect();
    for c in parts.chunks(4) {
        if c.len() < 4 {
            break;
        }
        let l = BufferLimit {
            hard_bytes: c[1].parse().unwrap_or(0),
            soft_bytes: c[2].parse().unwrap_or(0),
            soft_seconds: c[3].parse().unwrap_or(0),
        };
        match c[0] {
            "normal" => limits.normal = l,
            "slave" => limits.replica = l,
            "pubsub" => limits.pubsub = l,
            _ => {}
        }
    }
    limits
}

/// Parses the canonical `save` text into (seconds, changes) points.
pub fn parse_save(text: &str) -> Vec<(u64, u64)> {
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    nums.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0], c[1]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn save_lines_accumulate_while_loading() {
        let first = canonical(Special::Save, &v(&["900", "1"]), "", true).unwrap();
        let second = canonical(Special::Save, &v(&["300", "10"]), &first, true).unwrap();
        assert_eq!(second, "900 1 300 10");
        assert_eq!(
            canonical(Special::Save, &v(&["60", "5"]), &second, false).unwrap(),
            "60 5"
        );
        assert_eq!(
            canonical(Special::Save, &v(&[""]), &second, false).unwrap(),
            ""
        );
        assert!(canonical(Special::Save, &v(&["0", "1"]), "", false).is_err());
    }

    #[test]
    fn buffer_limits_merge_by_class() {
        let base = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        let out = canonical(
            Special::ClientOutputBufferLimit,
            &v(&["pubsub", "64mb", "16mb", "30"]),
            base,
            false,
        )
        .unwrap();
        assert_eq!(
            out,
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30"
        );
    }
}
