//! The routing view: an immutable snapshot of who serves each slot, swapped in whole after
//! every change, so a command reads it without a lock. Its rules are Redis 7.0's
//! `getNodeByQuery()` and `clusterRedirectClient()`.

use super::bus::wire::NodeId;
use super::state::ClusterState;
use crate::keyspace::slot::{SLOTS, Slot, key_slot};

/// No owner in [`ClusterView::owners`].
const NONE: u16 = u16::MAX;

/// How clients are told to reach a node (`cluster-preferred-endpoint-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EndpointType {
    #[default]
    Ip,
    Hostname,
    UnknownEndpoint,
}

impl EndpointType {
    pub fn parse(text: &str) -> EndpointType {
        match text {
            "hostname" => EndpointType::Hostname,
            "unknown-endpoint" => EndpointType::UnknownEndpoint,
            _ => EndpointType::Ip,
        }
    }
}

/// The options routing reads (`cluster-preferred-endpoint-type`,
/// `cluster-allow-reads-when-down`, `cluster-allow-pubsubshard-when-down`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewKnobs {
    pub endpoint_type: EndpointType,
    pub allow_reads_when_down: bool,
    pub allow_pubsubshard_when_down: bool,
}

impl Default for ViewKnobs {
    /// Redis's defaults.
    fn default() -> ViewKnobs {
        ViewKnobs {
            endpoint_type: EndpointType::Ip,
            allow_reads_when_down: false,
            allow_pubsubshard_when_down: true,
        }
    }
}

/// A node as a redirection names it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub ip: String,
    pub hostname: String,
    pub port: u16,
}

impl Endpoint {
    /// The preferred endpoint text (`getPreferredEndpoint()`).
    pub fn preferred(&self, kind: EndpointType) -> &str {
        match kind {
            EndpointType::Ip => &self.ip,
            EndpointType::Hostname if !self.hostname.is_empty() => &self.hostname,
            EndpointType::Hostname => "?",
            EndpointType::UnknownEndpoint => "",
        }
    }
}

/// The snapshot.
#[derive(Clone, Debug)]
pub struct ClusterView {
    pub ok: bool,
    /// Index of every slot's owner in `nodes`, or NONE.
    owners: Box<[u16]>,
    nodes: Vec<Endpoint>,
    me: u16,
    /// Our primary's index when we are a replica.
    my_primary: Option<u16>,
    migrating: Vec<(u16, u16)>,
    importing: Vec<(u16, u16)>,
    pub knobs: ViewKnobs,
}

/// Why a command is not served here, as the client is told (`CLUSTER_REDIR_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    Moved { slot: u16, node: u16 },
    Ask { slot: u16, node: u16 },
    CrossSlot,
    TryAgain,
    DownUnbound,
    DownState,
    DownReadOnlyState,
}

/// What routing needs to know about one command (or a whole MULTI block at EXEC).
pub struct Query<'a> {
    /// Every key of the command(s), in order.
    pub keys: &'a [&'a [u8]],
    pub is_write: bool,
    /// SPUBLISH / SSUBSCRIBE / SUNSUBSCRIBE: channels route like keys.
    pub is_pubsubshard: bool,
    pub is_migrate: bool,
    /// ASKING was sent (or the command is flagged `asking`).
    pub asking: bool,
    /// READONLY was sent.
    pub readonly: bool,
}

impl ClusterView {
    /// The view of `st` now.
    pub fn build(st: &ClusterState, knobs: ViewKnobs) -> ClusterView {
        let mut nodes = Vec::with_capacity(st.nodes.len());
        let mut index = std::collections::HashMap::with_capacity(st.nodes.len());
        for n in st.nodes.values() {
            index.insert(n.name, nodes.len() as u16);
            nodes.push(Endpoint {
                ip: n.ip.clone(),
                hostname: n.hostname.clone(),
                port: n.port,
            });
        }
        let idx = |name: &NodeId| index.get(name).copied().unwrap_or(NONE);
        let mut owners = vec![NONE; SLOTS].into_boxed_slice();
        for run in st.slot_runs() {
            let i = idx(&run.owner);
            owners[usize::from(run.start)..=usize::from(run.end)].fill(i);
        }
        let me = st.me();
        ClusterView {
            ok: st.ok,
            owners,
            me: idx(&st.myself),
            my_primary: me.primary.filter(|_| me.is_replica()).map(|p| idx(&p)),
            migrating: st.migrating.iter().map(|(s, n)| (*s, idx(n))).collect(),
            importing: st.importing.iter().map(|(s, n)| (*s, idx(n))).collect(),
            nodes,
            knobs,
        }
    }

    fn migrating_to(&self, slot: u16) -> Option<u16> {
        self.migrating
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, n)| *n)
    }

    fn importing_from(&self, slot: u16) -> Option<u16> {
        self.importing
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, n)| *n)
    }

    /// Whether this node may serve the query, or where to send the client
    /// (`getNodeByQuery()`). `exists` tells whether a key is here; it is asked only for
    /// slots being migrated or imported.
    pub fn route(&self, q: &Query<'_>, exists: &dyn Fn(&[u8]) -> bool) -> Result<(), Redirect> {
        let Some(first) = q.keys.first() else {
            return Ok(());
        };
        let slot = key_slot(first).0;
        let owner = self.owners[usize::from(slot)];
        if owner == NONE {
            return Err(Redirect::DownUnbound);
        }
        let migrating = owner == self.me && self.migrating_to(slot).is_some();
        let importing = !migrating && self.importing_from(slot).is_some();
        let mut multiple_keys = false;
        let (mut missing, mut existing) = (0usize, 0usize);
        for key in q.keys {
            if *key != *first {
                if key_slot(key) != Slot(slot) {
                    return Err(Redirect::CrossSlot);
                }
                multiple_keys = true;
            }
            // Shard channels stay served by the source until the slot's move completes.
            if (migrating || importing) && !q.is_pubsubshard {
                if exists(key) {
                    existing += 1;
                } else {
                    missing += 1;
                }
            }
        }
        if !self.ok {
            if q.is_pubsubshard {
                if !self.knobs.allow_pubsubshard_when_down {
                    return Err(Redirect::DownState);
                }
            } else if !self.knobs.allow_reads_when_down {
                return Err(Redirect::DownState);
            } else if q.is_write {
                return Err(Redirect::DownReadOnlyState);
            }
        }
        if (migrating || importing) && q.is_migrate {
            return Ok(());
        }
        if migrating && missing > 0 {
            if existing > 0 {
                return Err(Redirect::TryAgain);
            }
            let to = self.migrating_to(slot).unwrap_or(NONE);
            return Err(Redirect::Ask { slot, node: to });
        }
        if importing && q.asking {
            if multiple_keys && missing > 0 {
                return Err(Redirect::TryAgain);
            }
            return Ok(());
        }
        if (q.readonly || q.is_pubsubshard) && !q.is_write && self.my_primary == Some(owner) {
            return Ok(());
        }
        if owner == self.me {
            Ok(())
        } else {
            Err(Redirect::Moved { slot, node: owner })
        }
    }

    /// Why a client blocked on a key of `slot` must stop waiting here, if it must
    /// (`clusterRedirectBlockedClientIfNeeded()`): the cluster went down (a write that
    /// would wake it may never come), or the slot is served elsewhere now and not being
    /// imported here (an importing slot's blocked client came with ASKING).
    pub fn blocked_client_redirect(&self, slot: u16) -> Option<Redirect> {
        if !self.ok {
            return Some(Redirect::DownState);
        }
        let owner = *self.owners.get(usize::from(slot))?;
        if owner == self.me || self.importing_from(slot).is_some() {
            return None;
        }
        Some(if owner == NONE {
            Redirect::DownUnbound
        } else {
            Redirect::Moved { slot, node: owner }
        })
    }

    /// The error a client gets (`clusterRedirectClient()`).
    pub fn error_text(&self, redirect: &Redirect) -> String {
        match redirect {
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            Redirect::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Redirect::DownState => "CLUSTERDOWN The cluster is down".into(),
            Redirect::DownReadOnlyState => {
                "CLUSTERDOWN The cluster is down and only accepts read commands".into()
            }
            Redirect::DownUnbound => "CLUSTERDOWN Hash slot not served".into(),
            Redirect::Moved { slot, node } | Redirect::Ask { slot, node } => {
                let kind = if matches!(redirect, Redirect::Ask { .. }) {
                    "ASK"
                } else {
                    "MOVED"
                };
                let (endpoint, port) = match self.nodes.get(usize::from(*node)) {
                    Some(n) => (n.preferred(self.knobs.endpoint_type), n.port),
                    None => ("", 0),
                };
                format!("{kind} {slot} {endpoint}:{port}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bus::wire::node_flags as nf;
    use super::super::node::{Node, random_name};
    use super::super::state::ClusterSettings;
    use super::*;

    /// Us serving slot of "foo" (12182); another node at 127.0.0.1:7001 serving the rest.
    fn two_nodes() -> (ClusterState, NodeId) {
        let mut st = ClusterState::new(ClusterSettings::default(), 0);
        st.me_mut().ip = "127.0.0.1".into();
        let other = random_name();
        let mut n = Node::new(other, nf::PRIMARY, 0);
        n.ip = "127.0.0.1".into();
        n.port = 7001;
        st.add_node(n);
        let me = st.myself;
        for s in 0..SLOTS as u16 {
            st.add_slot(if s == 12182 { me } else { other }, s);
        }
        st.ok = true;
        (st, other)
    }

    #[test]
    fn blocked_clients_leave_slots_served_elsewhere() {
        let (mut st, other) = two_nodes();
        let v = ClusterView::build(&st, ViewKnobs::default());
        assert_eq!(v.blocked_client_redirect(12182), None);
        let moved = v.blocked_client_redirect(1).expect("served elsewhere");
        assert_eq!(v.error_text(&moved), "MOVED 1 127.0.0.1:7001");
        st.importing.insert(1, other);
        let v = ClusterView::build(&st, ViewKnobs::default());
        assert_eq!(
            v.blocked_client_redirect(1),
            None,
            "importing: came with ASKING"
        );
        st.ok = false;
        let v = ClusterView::build(&st, ViewKnobs::default());
        assert_eq!(v.blocked_client_redirect(12182), Some(Redirect::DownState));
    }

    fn q<'a>(keys: &'a [&'a [u8]], is_write: bool) -> Query<'a> {
        Query {
            keys,
            is_write,
            is_pubsubshard: false,
            is_migrate: false,
            asking: false,
            readonly: false,
        }
    }

    #[test]
    fn routes_like_redis() {
        let (st, _) = two_nodes();
        let v = ClusterView::build(&st, ViewKnobs::default());
        let none = |_: &[u8]| false;
        assert_eq!(v.route(&q(&[b"foo"], true), &none), Ok(()));
        assert_eq!(v.route(&q(&[], true), &none), Ok(()));
        let moved = v.route(&q(&[b"bar"], false), &none).unwrap_err();
        assert_eq!(v.error_text(&moved), "MOVED 5061 127.0.0.1:7001");
        let cross = v.route(&q(&[b"foo", b"bar"], false), &none).unwrap_err();
        assert_eq!(
            v.error_text(&cross),
            "CROSSSLOT Keys in request don't hash to the same slot"
        );
        assert_eq!(v.route(&q(&[b"{foo}a", b"{foo}b"], false), &none), Ok(()));
    }

    #[test]
    fn down_cluster_rules() {
        let (mut st, _) = two_nodes();
        st.ok = false;
        let mut v = ClusterView::build(&st, ViewKnobs::default());
        let none = |_: &[u8]| false;
        let err = v.route(&q(&[b"foo"], false), &none).unwrap_err();
        assert_eq!(v.error_text(&err), "CLUSTERDOWN The cluster is down");
        v.knobs.allow_reads_when_down = true;
        assert_eq!(v.route(&q(&[b"foo"], false), &none), Ok(()));
        let err = v.route(&q(&[b"foo"], true), &none).unwrap_err();
        assert_eq!(
            v.error_text(&err),
            "CLUSTERDOWN The cluster is down and only accepts read commands"
        );
        st.del_slot(0);
        let v = ClusterView::build(&st, ViewKnobs::default());
        let key = (0..100_000)
            .map(|i| format!("k{i}"))
            .find(|k| key_slot(k.as_bytes()).0 == 0)
            .unwrap();
        let err = v.route(&q(&[key.as_bytes()], false), &none).unwrap_err();
        assert_eq!(v.error_text(&err), "CLUSTERDOWN Hash slot not served");
    }

    #[test]
    fn migration_asks_and_tries_again() {
        let (mut st, other) = two_nodes();
        st.migrating.insert(12182, other);
        let v = ClusterView::build(&st, ViewKnobs::default());
        let has_a = |k: &[u8]| k == b"{foo}a";
        let err = v.route(&q(&[b"foo"], false), &has_a).unwrap_err();
        assert_eq!(v.error_text(&err), "ASK 12182 127.0.0.1:7001");
        assert_eq!(v.route(&q(&[b"{foo}a"], false), &has_a), Ok(()));
        assert_eq!(
            v.route(&q(&[b"{foo}a", b"{foo}b"], false), &has_a),
            Err(Redirect::TryAgain)
        );
    }

    #[test]
    fn readonly_replica_serves_reads_of_its_primary() {
        let (mut st, other) = two_nodes();
        st.del_slot(12182);
        st.add_slot(other, 12182);
        st.set_my_primary(other);
        let v = ClusterView::build(&st, ViewKnobs::default());
        let none = |_: &[u8]| false;
        let mut read = q(&[b"foo"], false);
        assert!(matches!(v.route(&read, &none), Err(Redirect::Moved { .. })));
        read.readonly = true;
        assert_eq!(v.route(&read, &none), Ok(()));
        let mut write = q(&[b"foo"], true);
        write.readonly = true;
        assert!(matches!(
            v.route(&write, &none),
            Err(Redirect::Moved { .. })
        ));
    }
}
