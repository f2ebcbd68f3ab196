//! nodes.conf and CLUSTER NODES: one line per node in Redis 7.0's format
//! (`clusterGenNodeDescription()`), then `vars currentEpoch N lastVoteEpoch M` in the file
//! (`clusterSaveConfig()`), and the loader for it (`clusterLoadConfig()`).
//!
//! ```text
//! <id> <ip>:<port>@<cport>[,<hostname>] <flags> <primary id|-> <ping-sent ms> <pong-recv ms> <config-epoch> <connected|disconnected> <slot ranges> [<slot>->-<id>] [<slot>-<-<id>]
//! ```
//!
//! A save rewrites the file in place, padded so that a killed process leaves no mix of old
//! and new lines (see [`save`]). The lock against a second process is held on a
//! `<file>.lock` beside it.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::bus::wire::{NodeId, node_flags as nf};
use super::node::{Node, flags_text, parse_name};
use super::state::{ClusterSettings, ClusterState, SlotRun};
use crate::keyspace::slot::SLOTS;

/// A node's line, without the newline.
pub fn node_line(st: &ClusterState, node: &Node) -> String {
    node_line_with(st, node, st.slot_runs())
}

/// A node's line, its slots taken from `runs` (see [`ClusterState::slot_runs`]).
fn node_line_with(st: &ClusterState, node: &Node, runs: &[SlotRun]) -> String {
    let mut line = String::with_capacity(128);
    let _ = write!(
        line,
        "{} {}:{}@{}",
        node.name, node.ip, node.port, node.cport
    );
    if !node.hostname.is_empty() {
        let _ = write!(line, ",{}", node.hostname);
    }
    line.push(' ');
    line.push_str(&flags_text(node.flags));
    match node.primary {
        Some(p) => {
            let _ = write!(line, " {p}");
        }
        None => line.push_str(" -"),
    }
    let epoch = match node.primary.and_then(|p| st.node(&p)) {
        Some(p) if node.is_replica() => p.config_epoch,
        _ => node.config_epoch,
    };
    let connected = node.link.is_some() || node.is_myself();
    let _ = write!(
        line,
        " {} {} {} {}",
        node.ping_sent_ms,
        node.pong_received_ms,
        epoch,
        if connected {
            "connected"
        } else {
            "disconnected"
        }
    );
    let mine = runs.iter().filter(|r| r.owner == node.name);
    for &SlotRun { start, end, .. } in mine {
        if start == end {
            let _ = write!(line, " {start}");
        } else {
            let _ = write!(line, " {start}-{end}");
        }
    }
    if node.is_myself() {
        // In slot order; a slot both migrating and importing shows as migrating.
        let mut open: Vec<(u16, String)> = st
            .migrating
            .iter()
            .map(|(slot, to)| (*slot, format!(" [{slot}->-{to}]")))
            .collect();
        open.extend(
            st.importing
                .iter()
                .filter(|(slot, _)| !st.migrating.contains_key(slot))
                .map(|(slot, from)| (*slot, format!(" [{slot}-<-{from}]"))),
        );
        open.sort_unstable_by_key(|(slot, _)| *slot);
        for (_, text) in open {
            line.push_str(&text);
        }
    }
    line
}

/// The slot ranges bound to `name` in the slot table, in order.
pub fn slot_ranges(st: &ClusterState, name: &NodeId) -> Vec<(u16, u16)> {
    st.slot_runs()
        .iter()
        .filter(|r| r.owner == *name)
        .map(|r| (r.start, r.end))
        .collect()
}

/// CLUSTER NODES: every node's line, each ending in a newline (`filter` drops nodes
/// with any of those flags).
pub fn describe(st: &ClusterState, filter: u16) -> String {
    let mut out = String::new();
    let runs = st.slot_runs();
    for node in st.nodes.values().filter(|n| n.flags & filter == 0) {
        out.push_str(&node_line_with(st, node, runs));
        out.push('\n');
    }
    out
}

/// The file's contents: nodes not in handshake, then the vars line.
pub fn render(st: &ClusterState) -> String {
    let mut out = describe(st, nf::HANDSHAKE);
    let _ = writeln!(
        out,
        "vars currentEpoch {} lastVoteEpoch {}",
        st.current_epoch, st.last_vote_epoch
    );
    out
}

/// Writes `contents` to `path` in place, as Redis's `clusterSaveConfig()` does: one write
/// at offset 0, padded with newlines to the old length, then a truncate. A process killed in
/// between leaves the new contents followed by blank lines, which the loader skips.
///
/// `durable` saves (the ones recording an epoch or a vote, Redis's
/// `CLUSTER_TODO_FSYNC_CONFIG`) are fsynced before returning, and the directory too when
/// the file is new. The others (each CLUSTER SETSLOT of a reshard, for one) are just
/// written. An earlier version wrote a temporary file and renamed it over the old one, with
/// two fsyncs; that was most of the time of a reshard, where every node saves for every slot
/// moved.
pub fn save(path: &Path, contents: &str, durable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let existed = path.exists();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let old_len = f.metadata()?.len();
    let mut buf = contents.as_bytes().to_vec();
    if let Ok(old_len) = usize::try_from(old_len)
        && old_len > buf.len()
    {
        buf.resize(old_len, b'\n');
    }
    f.write_all_at(&buf, 0)?;
    f.set_len(contents.len() as u64)?;
    if durable {
        f.sync_all()?;
        if !existed {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
    }
    Ok(())
}

/// Locks `<path>.lock` for as long as the returned file lives.
pub fn lock(path: &Path) -> Result<File, String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            format!(
                "Can't open {} in order to acquire a lock: {}",
                lock_path.display(),
                crate::config::io_reason(&e)
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "Sorry, the cluster configuration file {} is already used by a different Redis Cluster node. Please make sure that different nodes use different cluster configuration files.",
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "Impossible to lock {}: {}",
            path.display(),
            crate::config::io_reason(&e)
        )),
    }
}

/// Why a nodes.conf could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodesConfError {
    /// Missing or empty: start as a new node and write one.
    #[error("no cluster configuration")]
    Missing,
    #[error("Unrecoverable error: corrupted cluster config file \"{line}\": {reason}")]
    Corrupt { line: String, reason: &'static str },
    #[error("Loading the cluster node config: {0}")]
    Io(String),
}

/// Reads the file at `path` into a state.
pub fn load(
    path: &Path,
    settings: ClusterSettings,
    now_ms: i64,
) -> Result<ClusterState, NodesConfError> {
    let text = match std::fs::read(path) {
        Ok(t) if t.is_empty() => return Err(NodesConfError::Missing),
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(NodesConfError::Missing),
        Err(e) => return Err(NodesConfError::Io(crate::config::io_reason(&e))),
    };
    parse(&String::from_utf8_lossy(&text), settings, now_ms)
}

/// Parses nodes.conf text (`clusterLoadConfig()`).
pub fn parse(
    text: &str,
    settings: ClusterSettings,
    now_ms: i64,
) -> Result<ClusterState, NodesConfError> {
    let mut st = ClusterState::empty(settings, NodeId::NULL);
    let mut myself = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let corrupt = |reason| NodesConfError::Corrupt {
            line: line.chars().take(200).collect(),
            reason,
        };
        if fields[0].eq_ignore_ascii_case("vars") {
            if fields.len().is_multiple_of(2) {
                return Err(corrupt("odd vars line"));
            }
            for pair in fields[1..].chunks(2) {
                let value = pair[1].parse::<u64>().unwrap_or(0);
                if pair[0].eq_ignore_ascii_case("currentEpoch") {
                    st.current_epoch = value;
                } else if pair[0].eq_ignore_ascii_case("lastVoteEpoch") {
                    st.last_vote_epoch = value;
                } else {
                    tracing::warn!("Skipping unknown cluster config variable '{}'", pair[0]);
                }
            }
            continue;
        }
        if fields.len() < 8 {
            return Err(corrupt("fewer than eight fields"));
        }
        let name = parse_name(fields[0].as_bytes()).ok_or_else(|| corrupt("bad node id"))?;
        let node = st
            .nodes
            .entry(name)
            .or_insert_with(|| Node::new(name, 0, now_ms));
        // ip:port[@cport][,hostname]
        let (addr, hostname) = match fields[1].split_once(',') {
            Some((a, h)) => (a, h),
            None => (fields[1], ""),
        };
        node.hostname = hostname.to_string();
        let (ip, ports) = addr.rsplit_once(':').ok_or_else(|| corrupt("no port"))?;
        let (port, cport) = match ports.split_once('@') {
            Some((p, c)) => (p, Some(c)),
            None => (ports, None),
        };
        node.ip = ip.to_string();
        node.port = port.parse().map_err(|_| corrupt("bad port"))?;
        node.cport = match cport {
            Some(c) => c.parse().map_err(|_| corrupt("bad bus port"))?,
            None => node.port.wrapping_add(10000),
        };
        for flag in fields[2].split(',') {
            node.flags |= match flag.to_ascii_lowercase().as_str() {
                "myself" => {
                    if myself.is_some() {
                        return Err(corrupt("two nodes flagged myself"));
                    }
                    myself = Some(name);
                    nf::MYSELF
                }
                "master" => nf::PRIMARY,
                "slave" => nf::REPLICA,
                "fail?" => nf::PFAIL,
                "fail" => {
                    node.fail_time_ms = now_ms;
                    nf::FAIL
                }
                "handshake" => nf::HANDSHAKE,
                "noaddr" => nf::NOADDR,
                "nofailover" => nf::NOFAILOVER,
                "noflags" => 0,
                _ => return Err(corrupt("unknown flag")),
            };
        }
        if fields[4].parse::<i64>().unwrap_or(0) != 0 {
            node.ping_sent_ms = now_ms;
        }
        if fields[5].parse::<i64>().unwrap_or(0) != 0 {
            node.pong_received_ms = now_ms;
        }
        let epoch = fields[6].parse::<u64>().unwrap_or(0);
        let is_replica = node.is_replica();
        if fields[3] != "-" {
            let primary =
                parse_name(fields[3].as_bytes()).ok_or_else(|| corrupt("bad primary id"))?;
            st.nodes
                .entry(primary)
                .or_insert_with(|| Node::new(primary, 0, now_ms));
            if let Some(n) = st.nodes.get_mut(&name) {
                n.primary = Some(primary);
            }
            st.add_replica(&primary, name);
        }
        let has_primary = fields[3] != "-";
        if let Some(n) = st.nodes.get_mut(&name) {
            // A replica's epoch is its primary's: it is not its own.
            n.config_epoch = if is_replica && has_primary { 0 } else { epoch };
        }
        for item in &fields[8..] {
            if let Some(open) = item.strip_prefix('[') {
                let (slot, rest) = open
                    .split_once('-')
                    .ok_or_else(|| corrupt("bad open slot"))?;
                let slot: u16 = slot.parse().map_err(|_| corrupt("bad open slot"))?;
                if usize::from(slot) >= SLOTS {
                    return Err(corrupt("slot out of range"));
                }
                let (importing, peer) = if let Some(p) = rest.strip_prefix(">-") {
                    (false, p)
                } else if let Some(p) = rest.strip_prefix("<-") {
                    (true, p)
                } else {
                    return Err(corrupt("bad open slot"));
                };
                let peer = peer
                    .strip_suffix(']')
                    .ok_or_else(|| corrupt("bad open slot"))?;
                let peer = parse_name(peer.as_bytes()).ok_or_else(|| corrupt("bad node id"))?;
                st.nodes
                    .entry(peer)
                    .or_insert_with(|| Node::new(peer, 0, now_ms));
                if importing {
                    st.importing.insert(slot, peer);
                } else {
                    st.migrating.insert(slot, peer);
                }
                continue;
            }
            let (start, stop) = match item.split_once('-') {
                Some((a, b)) => (a, b),
                None => (*item, *item),
            };
            let start: usize = start.parse().map_err(|_| corrupt("bad slot"))?;
            let stop: usize = stop.parse().map_err(|_| corrupt("bad slot"))?;
            if start >= SLOTS || stop >= SLOTS {
                return Err(corrupt("slot out of range"));
            }
            for slot in start..=stop {
                st.add_slot(name, slot as u16);
            }
        }
    }
    let Some(myself) = myself else {
        return Err(NodesConfError::Corrupt {
            line: String::new(),
            reason: "no node flagged myself",
        });
    };
    st.myself = myself;
    st.current_epoch = st.current_epoch.max(st.max_epoch());
    tracing::info!("Node configuration loaded, I'm {myself}");
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30006@31006 slave 292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 0 1426238317741 6 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] [7-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
vars currentEpoch 6 lastVoteEpoch 0
";

    #[test]
    fn loads_redis_format() {
        let st = parse(SAMPLE, ClusterSettings::default(), 5).unwrap();
        assert_eq!(&st.myself.0, b"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca");
        assert_eq!(st.current_epoch, 6);
        assert_eq!(st.nodes.len(), 6);
        assert_eq!(st.me().numslots, 5461);
        assert_eq!(st.me().replicas.len(), 1);
        assert_eq!(st.migrating.len(), 1);
        assert_eq!(st.importing.len(), 1);
        let replica = parse_name(b"07c37dfeb235213a872192d90877d0cd55635b91").unwrap();
        let r = st.node(&replica).unwrap();
        assert!(r.is_replica());
        assert_eq!(r.config_epoch, 0, "a replica's epoch is its primary's");
        assert_eq!(r.hostname, "host-4");
        assert_eq!(r.pong_received_ms, 5);
    }

    #[test]
    fn render_then_parse_keeps_the_state() {
        let st = parse(SAMPLE, ClusterSettings::default(), 5).unwrap();
        let text = render(&st);
        assert!(text.ends_with("vars currentEpoch 6 lastVoteEpoch 0\n"));
        let again = parse(&text, ClusterSettings::default(), 5).unwrap();
        assert_eq!(render(&again), text);
        let me = node_line(&st, st.me());
        assert!(
            me.ends_with(
                " 1 connected 0-5460 [5->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] [7-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]"
            ),
            "{me}"
        );
        let replica = parse_name(b"07c37dfeb235213a872192d90877d0cd55635b91").unwrap();
        let line = node_line(&st, st.node(&replica).unwrap());
        assert!(
            line.starts_with(
                "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-4 slave e7d1"
            ),
            "{line}"
        );
        assert!(
            line.contains(" 1 disconnected"),
            "replica shows its primary's epoch: {line}"
        );
    }

    #[test]
    fn corrupt_files_are_refused() {
        let s = ClusterSettings::default;
        assert!(matches!(
            parse("x y\n", s(), 0),
            Err(NodesConfError::Corrupt { .. })
        ));
        let no_myself = SAMPLE.replace("myself,", "");
        assert!(matches!(
            parse(&no_myself, s(), 0),
            Err(NodesConfError::Corrupt { .. })
        ));
        let bad_slot = SAMPLE.replace("0-5460", "0-16384");
        assert!(matches!(
            parse(&bad_slot, s(), 0),
            Err(NodesConfError::Corrupt { .. })
        ));
        let bad_flag = SAMPLE.replace("myself,master", "myself,boss");
        assert!(matches!(
            parse(&bad_flag, s(), 0),
            Err(NodesConfError::Corrupt { .. })
        ));
    }

    #[test]
    fn saved_file_loads_and_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodes.conf");
        let st = ClusterState::new(ClusterSettings::default(), 0);
        save(&path, &render(&st), true).unwrap();
        let loaded = load(&path, ClusterSettings::default(), 0).unwrap();
        assert_eq!(loaded.myself, st.myself);
        let held = lock(&path).unwrap();
        assert!(lock(&path).is_err());
        drop(held);
        assert!(lock(&path).is_ok());
    }

    #[test]
    fn in_place_save_shrinks_the_file_and_its_padding_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodes.conf");
        let mut st = ClusterState::new(ClusterSettings::default(), 0);
        let me = st.myself;
        for slot in (0..SLOTS as u16).step_by(2) {
            st.add_slot(me, slot);
        }
        let long = render(&st);
        save(&path, &long, true).unwrap();
        for slot in (0..SLOTS as u16).step_by(2) {
            st.del_slot(slot);
        }
        let short = render(&st);
        assert!(short.len() < long.len());
        save(&path, &short, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), short);
        // Killed between the padded write and the truncate: blank lines follow.
        let padded = format!("{short}{}", "\n".repeat(long.len() - short.len()));
        let loaded = parse(&padded, ClusterSettings::default(), 0).unwrap();
        assert_eq!(loaded.myself, me);
        assert_eq!(loaded.me().numslots, 0);
    }
}
