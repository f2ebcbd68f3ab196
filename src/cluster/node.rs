//! One node of the cluster as this node sees it (behaves like Redis 7.0's `clusterNode`):
//! its flags, epochs, address, slots, primary and replicas, the times of the last ping and
//! pong, and the failure reports other primaries sent about it.
//!
//! Nodes refer to each other by name ([`NodeId`]), never by index, so removing a node can
//! leave no dangling reference behind: [`super::state::ClusterState::del_node`] clears every
//! mention of it.

use super::bus::wire::{NodeId, SlotBitmap, node_flags as nf};

/// A bus link's handle in [`super::state::ClusterState::links`].
pub type LinkId = u64;

/// Another primary's report that this node looked unreachable (PFAIL or FAIL in its
/// gossip), and when it last said so.
#[derive(Clone, Debug)]
pub struct FailReport {
    pub reporter: NodeId,
    pub time_ms: i64,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: NodeId,
    /// [`nf`] bits: myself, master, slave, fail?, fail, handshake, noaddr, meet, ...
    pub flags: u16,
    /// When this node entered our table (handshake timeouts count from here).
    pub ctime_ms: i64,
    pub config_epoch: u64,
    /// The slots this node claims as a primary.
    pub slots: Box<SlotBitmap>,
    pub numslots: u32,
    /// Its replicas, when it is a primary.
    pub replicas: Vec<NodeId>,
    /// Its primary, when it is a replica (it may be unknown to us).
    pub primary: Option<NodeId>,
    /// Unix ms of the PING we wait a PONG for; 0: none pending.
    pub ping_sent_ms: i64,
    pub pong_received_ms: i64,
    /// Unix ms of the last message of any kind from it.
    pub data_received_ms: i64,
    pub fail_time_ms: i64,
    /// Unix ms of our last vote for one of its replicas.
    pub voted_time_ms: i64,
    pub repl_offset: u64,
    pub ip: String,
    /// `cluster-announce-hostname` as it announces it (empty: none).
    pub hostname: String,
    pub port: u16,
    /// The plaintext port when `port` is a TLS port (0 otherwise).
    pub pport: u16,
    pub cport: u16,
    /// The link we opened to it (we send PINGs there).
    pub link: Option<LinkId>,
    /// The link it opened to us (we answer its PINGs there).
    pub inbound_link: Option<LinkId>,
    pub fail_reports: Vec<FailReport>,
    /// Since when this primary has had no working replica (replica migration).
    pub orphaned_time_ms: i64,
}

impl Node {
    pub fn new(name: NodeId, flags: u16, now_ms: i64) -> Node {
        Node {
            name,
            flags,
            ctime_ms: now_ms,
            config_epoch: 0,
            slots: Box::new(SlotBitmap::EMPTY),
            numslots: 0,
            replicas: Vec::new(),
            primary: None,
            ping_sent_ms: 0,
            pong_received_ms: 0,
            data_received_ms: 0,
            fail_time_ms: 0,
            voted_time_ms: 0,
            repl_offset: 0,
            ip: String::new(),
            hostname: String::new(),
            port: 0,
            pport: 0,
            cport: 0,
            link: None,
            inbound_link: None,
            fail_reports: Vec::new(),
            orphaned_time_ms: 0,
        }
    }

    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    pub fn is_primary(&self) -> bool {
        self.has(nf::PRIMARY)
    }

    pub fn is_replica(&self) -> bool {
        self.has(nf::REPLICA)
    }

    pub fn in_handshake(&self) -> bool {
        self.has(nf::HANDSHAKE)
    }

    pub fn has_addr(&self) -> bool {
        !self.has(nf::NOADDR)
    }

    /// PFAIL: we saw no PONG within the node timeout (`nodeTimedOut()`).
    pub fn timed_out(&self) -> bool {
        self.has(nf::PFAIL)
    }

    pub fn failed(&self) -> bool {
        self.has(nf::FAIL)
    }

    pub fn is_myself(&self) -> bool {
        self.has(nf::MYSELF)
    }

    /// Adds a failure report, or refreshes its time; true when it is new
    /// (`clusterNodeAddFailureReport()`).
    pub fn add_failure_report(&mut self, reporter: NodeId, now_ms: i64) -> bool {
        if let Some(r) = self
            .fail_reports
            .iter_mut()
            .find(|r| r.reporter == reporter)
        {
            r.time_ms = now_ms;
            return false;
        }
        self.fail_reports.push(FailReport {
            reporter,
            time_ms: now_ms,
        });
        true
    }

    /// Drops reports older than `max_age_ms` (2 × node timeout: only recent reports count
    /// toward FAIL), as `clusterNodeCleanupFailureReports()`.
    pub fn cleanup_failure_reports(&mut self, now_ms: i64, max_age_ms: i64) {
        self.fail_reports
            .retain(|r| now_ms - r.time_ms <= max_age_ms);
    }

    pub fn del_failure_report(&mut self, reporter: &NodeId) -> bool {
        let before = self.fail_reports.len();
        self.fail_reports.retain(|r| r.reporter != *reporter);
        before != self.fail_reports.len()
    }
}

/// The comma-separated flags CLUSTER NODES shows (`representClusterNodeFlags()`), in
/// Redis's order; "noflags" when none applies.
pub fn flags_text(flags: u16) -> String {
    const NAMES: [(u16, &str); 8] = [
        (nf::MYSELF, "myself"),
        (nf::PRIMARY, "master"),
        (nf::REPLICA, "slave"),
        (nf::PFAIL, "fail?"),
        (nf::FAIL, "fail"),
        (nf::HANDSHAKE, "handshake"),
        (nf::NOADDR, "noaddr"),
        (nf::NOFAILOVER, "nofailover"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        "noflags".to_string()
    } else {
        names.join(",")
    }
}

/// A fresh random node name: 40 lowercase hex characters.
pub fn random_name() -> NodeId {
    let hex = crate::server::random_hex(40);
    let mut name = [0u8; 40];
    name.copy_from_slice(&hex.as_bytes()[..40]);
    NodeId(name)
}

/// A node name as a client typed it: exactly 40 bytes (`verifyClusterNodeId()` only
/// checks the length), or None.
pub fn parse_name(text: &[u8]) -> Option<NodeId> {
    let raw: [u8; 40] = text.try_into().ok()?;
    Some(NodeId(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_render_in_redis_order() {
        assert_eq!(flags_text(nf::PRIMARY | nf::MYSELF), "myself,master");
        assert_eq!(flags_text(nf::REPLICA | nf::FAIL), "slave,fail");
        assert_eq!(flags_text(0), "noflags");
        assert_eq!(flags_text(nf::MEET), "noflags");
        assert_eq!(
            flags_text(nf::PRIMARY | nf::PFAIL | nf::NOFAILOVER),
            "master,fail?,nofailover"
        );
    }

    #[test]
    fn failure_reports_refresh_and_expire() {
        let mut n = Node::new(random_name(), nf::PRIMARY, 0);
        let a = random_name();
        assert!(n.add_failure_report(a, 100));
        assert!(!n.add_failure_report(a, 200));
        n.cleanup_failure_reports(1000, 900);
        assert_eq!(n.fail_reports.len(), 1);
        n.cleanup_failure_reports(1200, 900);
        assert!(n.fail_reports.is_empty());
    }

    #[test]
    fn random_names_are_hex() {
        let n = random_name();
        assert!(n.0.iter().all(|b| b.is_ascii_hexdigit()));
        assert!(parse_name(&n.0).is_some());
        assert!(parse_name(b"abc").is_none());
    }
}
