//! CLUSTER and the cluster connection commands ASKING, READONLY and READWRITE (behaves
//! like Redis 7.0's `clusterCommand()`, `askingCommand()`, `readonlyCommand()` and
//! `readwriteCommand()`), with Redis's reply shapes and error texts.

use std::fmt::Write as _;
use std::sync::Arc;

use super::args::{self, is};
use super::connection::reply_help;
use super::server::subcommand_syntax_error;
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::cluster::Cluster;
use crate::cluster::bus::wire::NodeId;
use crate::cluster::node::{Node, parse_name, random_name};
use crate::cluster::nodes_conf::{self, slot_ranges};
use crate::cluster::state::{ClusterState, Effect, HandshakeError, Host, todo};
use crate::cluster::view::EndpointType;
use crate::keyspace::slot::{SLOTS, Slot, key_slot};
use crate::protocol::Argv;
use crate::util::clock::now_ms;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("asking", asking),
    ("readonly", readonly),
    ("readwrite", readwrite),
    ("cluster|help", cluster_help),
    ("cluster|info", cluster_info),
    ("cluster|nodes", cluster_nodes),
    ("cluster|myid", cluster_myid),
    ("cluster|slots", cluster_slots),
    ("cluster|shards", cluster_shards),
    ("cluster|meet", cluster_meet),
    ("cluster|addslots", cluster_addslots),
    ("cluster|delslots", cluster_addslots),
    ("cluster|addslotsrange", cluster_addslotsrange),
    ("cluster|delslotsrange", cluster_addslotsrange),
    ("cluster|flushslots", cluster_flushslots),
    ("cluster|setslot", cluster_setslot),
    ("cluster|bumpepoch", cluster_bumpepoch),
    ("cluster|set-config-epoch", cluster_set_config_epoch),
    ("cluster|saveconfig", cluster_saveconfig),
    ("cluster|keyslot", cluster_keyslot),
    ("cluster|countkeysinslot", cluster_countkeysinslot),
    ("cluster|getkeysinslot", cluster_getkeysinslot),
    ("cluster|forget", cluster_forget),
    ("cluster|replicate", cluster_replicate),
    ("cluster|replicas", cluster_replicas),
    ("cluster|slaves", cluster_replicas),
    (
        "cluster|count-failure-reports",
        cluster_count_failure_reports,
    ),
    ("cluster|failover", cluster_failover),
    ("cluster|reset", cluster_reset),
    ("cluster|links", cluster_links),
];

const DISABLED: &str = "This instance has cluster support disabled";

/// The cluster, or Redis's error when cluster mode is off.
fn cluster<'a>(ctx: &Ctx<'a>) -> Result<&'a Arc<Cluster>, CmdError> {
    ctx.server.cluster.as_ref().ok_or(CmdError::err(DISABLED))
}

/// Runs `f` on the cluster state (see [`Cluster::with`]).
fn with_state<R>(
    ctx: &Ctx<'_>,
    f: impl FnOnce(&mut ClusterState, &dyn Host) -> R,
) -> Result<R, CmdError> {
    let c = cluster(ctx)?;
    Ok(c.with(ctx.server, f))
}

/// Runs a change on the state: its error, or +OK.
fn change_state(
    ctx: &mut Ctx<'_>,
    f: impl FnOnce(&mut ClusterState, &dyn Host) -> CmdResult,
) -> CmdResult {
    with_state(ctx, f)??;
    ctx.reply.ok();
    Ok(())
}

fn asking(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    ctx.client.asking = true;
    ctx.reply.ok();
    Ok(())
}

fn readonly(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    ctx.client.cluster_readonly = true;
    ctx.reply.ok();
    Ok(())
}

fn readwrite(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    ctx.client.cluster_readonly = false;
    ctx.reply.ok();
    Ok(())
}

const CLUSTER_HELP: &[&str] = &[
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
];

fn cluster_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    reply_help(ctx, argv, CLUSTER_HELP);
    Ok(())
}

/// CLUSTER INFO's text (also what the tests compare).
fn info_text(st: &ClusterState) -> String {
    let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
    for run in st.slot_runs() {
        let n = usize::from(run.end - run.start) + 1;
        assigned += n;
        match st.node(&run.owner) {
            Some(node) if node.failed() => fail += n,
            Some(node) if node.timed_out() => pfail += n,
            _ => ok += n,
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\n\
         cluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\n\
         cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
        if st.ok { "ok" } else { "fail" },
        st.nodes.len(),
        st.size,
        st.current_epoch,
        st.my_epoch(),
    );
    for (stats, dir) in [(&st.stats_sent, "sent"), (&st.stats_received, "received")] {
        let mut total = 0;
        for (kind, count) in stats.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            total += count;
            let name = crate::cluster::bus::wire::type_name(kind as u16);
            let _ = write!(out, "cluster_stats_messages_{name}_{dir}:{count}\r\n");
        }
        let _ = write!(out, "cluster_stats_messages_{dir}:{total}\r\n");
    }
    let _ = write!(
        out,
        "total_cluster_links_buffer_limit_exceeded:{}\r\n",
        st.links_buffer_limit_exceeded
    );
    out
}

fn cluster_info(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let text = with_state(ctx, |st, _| info_text(st))?;
    ctx.reply.verbatim(text.as_bytes(), "txt");
    Ok(())
}

fn cluster_nodes(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let text = with_state(ctx, |st, _| nodes_conf::describe(st, 0))?;
    ctx.reply.verbatim(text.as_bytes(), "txt");
    Ok(())
}

fn cluster_myid(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let id = cluster(ctx)?.myself();
    ctx.reply.bulk(&id.0);
    Ok(())
}

/// A node as CLUSTER SLOTS lists it: preferred endpoint, port, id, then a map of the
/// other known endpoints (`addNodeToNodeReply()`).
fn reply_slot_node(ctx: &mut Ctx<'_>, node: &Node, kind: EndpointType) {
    ctx.reply.array(4);
    match kind {
        EndpointType::Ip => ctx.reply.bulk(node.ip.as_bytes()),
        EndpointType::Hostname if !node.hostname.is_empty() => {
            ctx.reply.bulk(node.hostname.as_bytes())
        }
        EndpointType::Hostname => ctx.reply.bulk(b"?"),
        EndpointType::UnknownEndpoint => ctx.reply.null(),
    }
    ctx.reply.int(i64::from(node.port));
    ctx.reply.bulk(&node.name.0);
    let show_ip = kind != EndpointType::Ip;
    let show_hostname = kind != EndpointType::Hostname && !node.hostname.is_empty();
    ctx.reply
        .map(usize::from(show_ip) + usize::from(show_hostname));
    if show_ip {
        ctx.reply.bulk(b"ip");
        ctx.reply.bulk(node.ip.as_bytes());
    }
    if show_hostname {
        ctx.reply.bulk(b"hostname");
        ctx.reply.bulk(node.hostname.as_bytes());
    }
}

/// Whether a replica is listed by CLUSTER SLOTS: not failing and synced at least once
/// (`isReplicaAvailable()`).
fn replica_available(node: &Node, own_offset: u64) -> bool {
    let offset = if node.is_myself() {
        own_offset
    } else {
        node.repl_offset
    };
    !node.failed() && offset != 0
}

fn cluster_slots(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?.clone();
    let kind = c.view().knobs.endpoint_type;
    c.with(ctx.server, |st, host| {
        let own = host.repl_offset();
        let runs = st.slot_runs();
        ctx.reply.array(runs.len());
        for &crate::cluster::state::SlotRun { start, end, owner } in runs {
            let Some(primary) = st.node(&owner) else {
                ctx.reply.null();
                continue;
            };
            let replicas: Vec<&Node> = primary
                .replicas
                .iter()
                .filter_map(|r| st.node(r))
                .filter(|r| replica_available(r, own))
                .collect();
            ctx.reply.array(3 + replicas.len());
            ctx.reply.int(i64::from(start));
            ctx.reply.int(i64::from(end));
            reply_slot_node(ctx, primary, kind);
            for r in replicas {
                reply_slot_node(ctx, r, kind);
            }
        }
    });
    Ok(())
}

/// One node of a CLUSTER SHARDS entry (`addNodeDetailsToShardReply()`).
fn reply_shard_node(ctx: &mut Ctx<'_>, node: &Node, own_offset: u64, kind: EndpointType) {
    let with_hostname = !node.hostname.is_empty();
    ctx.reply.map(7 + usize::from(with_hostname));
    ctx.reply.bulk(b"id");
    ctx.reply.bulk(&node.name.0);
    ctx.reply.bulk(b"port");
    ctx.reply.int(i64::from(node.port));
    ctx.reply.bulk(b"ip");
    ctx.reply.bulk(node.ip.as_bytes());
    ctx.reply.bulk(b"endpoint");
    let endpoint = match kind {
        EndpointType::Ip => node.ip.as_str(),
        EndpointType::Hostname if with_hostname => node.hostname.as_str(),
        EndpointType::Hostname => "?",
        EndpointType::UnknownEndpoint => "",
    };
    ctx.reply.bulk(endpoint.as_bytes());
    if with_hostname {
        ctx.reply.bulk(b"hostname");
        ctx.reply.bulk(node.hostname.as_bytes());
    }
    let offset = if node.is_myself() {
        own_offset
    } else {
        node.repl_offset
    };
    ctx.reply.bulk(b"role");
    ctx.reply.bulk(if node.is_replica() {
        b"replica" as &[u8]
    } else {
        b"master"
    });
    ctx.reply.bulk(b"replication-offset");
    ctx.reply.int(offset as i64);
    ctx.reply.bulk(b"health");
    let health: &[u8] = if node.failed() {
        b"fail"
    } else if node.is_replica() && offset == 0 {
        b"loading"
    } else {
        b"online"
    };
    ctx.reply.bulk(health);
}

fn cluster_shards(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?.clone();
    let kind = c.view().knobs.endpoint_type;
    c.with(ctx.server, |st, host| {
        let own = host.repl_offset();
        let primaries: Vec<&Node> = st.nodes.values().filter(|n| n.is_primary()).collect();
        ctx.reply.array(primaries.len());
        for primary in primaries {
            ctx.reply.map(2);
            ctx.reply.bulk(b"slots");
            let ranges = slot_ranges(st, &primary.name);
            ctx.reply.array(ranges.len() * 2);
            for (start, end) in ranges {
                ctx.reply.int(i64::from(start));
                ctx.reply.int(i64::from(end));
            }
            ctx.reply.bulk(b"nodes");
            let members: Vec<&Node> = std::iter::once(primary)
                .chain(primary.replicas.iter().filter_map(|r| st.node(r)))
                .collect();
            ctx.reply.array(members.len());
            for n in members {
                reply_shard_node(ctx, n, own, kind);
            }
        }
    });
    Ok(())
}

fn cluster_meet(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    if argv.len() > 5 {
        return Err(subcommand_syntax_error(argv));
    }
    let text = |i: usize| String::from_utf8_lossy(argv.get(i)).into_owned();
    let port = args::int(argv.get(3))
        .map_err(|_| CmdError::err(format!("Invalid TCP base port specified: {}", text(3))))?;
    let cport = match argv.try_get(4) {
        Some(c) => args::int(c)
            .map_err(|_| CmdError::err(format!("Invalid TCP bus port specified: {}", text(4))))?,
        None => port + 10000,
    };
    let ip = text(2);
    let result = with_state(ctx, |st, _| st.start_handshake(&ip, port, cport, now_ms()))?;
    if result == Err(HandshakeError::Invalid) {
        return Err(CmdError::err(format!(
            "Invalid node address specified: {ip}:{}",
            text(3)
        )));
    }
    ctx.reply.ok();
    Ok(())
}

/// A slot argument (`getSlotOrReply()`).
fn slot_arg(arg: &[u8]) -> Result<u16, CmdError> {
    match args::int(arg) {
        Ok(s) if (0..SLOTS as i64).contains(&s) => Ok(s as u16),
        _ => Err(CmdError::err("Invalid or out of range slot")),
    }
}

/// Assigns (or unassigns) the slots marked in `chosen` after checking every one
/// (`checkSlotAssignmentsOrReply()` then `clusterUpdateSlots()`).
fn update_slots(ctx: &mut Ctx<'_>, ranges: &[(u16, u16)], del: bool) -> CmdResult {
    change_state(ctx, |st, _| {
        let mut chosen = vec![false; SLOTS];
        for &(start, end) in ranges {
            for slot in start..=end {
                let owner = st.slots()[usize::from(slot)];
                if del && owner.is_none() {
                    return Err(CmdError::err(format!("Slot {slot} is already unassigned")));
                }
                if !del && owner.is_some() {
                    return Err(CmdError::err(format!("Slot {slot} is already busy")));
                }
                if std::mem::replace(&mut chosen[usize::from(slot)], true) {
                    return Err(CmdError::err(format!(
                        "Slot {slot} specified multiple times"
                    )));
                }
            }
        }
        let myself = st.myself;
        for (slot, _) in chosen.iter().enumerate().filter(|(_, c)| **c) {
            let slot = slot as u16;
            st.importing.remove(&slot);
            if del {
                st.del_slot(slot);
            } else {
                st.add_slot(myself, slot);
            }
        }
        st.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        Ok(())
    })
}

fn cluster_addslots(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    let del = is(argv.get(1), "delslots");
    let mut ranges = Vec::with_capacity(argv.len() - 2);
    for arg in argv.iter().skip(2) {
        let s = slot_arg(arg)?;
        ranges.push((s, s));
    }
    update_slots(ctx, &ranges, del)
}

fn cluster_addslotsrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    if argv.len() % 2 == 1 {
        return Err(CmdError::Arity(ctx.cmd.name().to_string()));
    }
    let del = is(argv.get(1), "delslotsrange");
    let mut ranges = Vec::new();
    let mut i = 2;
    while i + 1 < argv.len() {
        let (start, end) = (slot_arg(argv.get(i))?, slot_arg(argv.get(i + 1))?);
        if start > end {
            return Err(CmdError::err(format!(
                "start slot number {start} is greater than end slot number {end}"
            )));
        }
        ranges.push((start, end));
        i += 2;
    }
    update_slots(ctx, &ranges, del)
}

fn cluster_flushslots(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    change_state(ctx, |st, host| {
        if host.db_size() != 0 {
            return Err(CmdError::err(
                "DB must be empty to perform CLUSTER FLUSHSLOTS.",
            ));
        }
        let myself = st.myself;
        st.del_node_slots(&myself);
        st.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        Ok(())
    })
}

fn cluster_setslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    let action = argv.get(3);
    let arg_name = argv.try_get(4).map(<[u8]>::to_vec);
    change_state(ctx, |st, host| {
        if st.me().is_replica() {
            return Err(CmdError::err("Please use SETSLOT only with masters."));
        }
        let slot = slot_arg(argv.get(2))?;
        let myself = st.myself;
        let owner = st.slots()[usize::from(slot)];
        let target = |st: &ClusterState, unknown: &str| -> Result<NodeId, CmdError> {
            let raw = arg_name.clone().unwrap_or_default();
            let name = parse_name(&raw)
                .filter(|n| st.node(n).is_some())
                .ok_or_else(|| {
                    CmdError::err(format!("{unknown} {}", String::from_utf8_lossy(&raw)))
                })?;
            if st.node(&name).is_some_and(Node::is_replica) {
                return Err(CmdError::err("Target node is not a master"));
            }
            Ok(name)
        };
        if is(action, "migrating") && argv.len() == 5 {
            if owner != Some(myself) {
                return Err(CmdError::err(format!(
                    "I'm not the owner of hash slot {slot}"
                )));
            }
            let n = target(st, "I don't know about node")?;
            st.migrating.insert(slot, n);
        } else if is(action, "importing") && argv.len() == 5 {
            if owner == Some(myself) {
                return Err(CmdError::err(format!(
                    "I'm already the owner of hash slot {slot}"
                )));
            }
            let n = target(st, "I don't know about node")?;
            st.importing.insert(slot, n);
        } else if is(action, "stable") && argv.len() == 4 {
            st.importing.remove(&slot);
            st.migrating.remove(&slot);
        } else if is(action, "node") && argv.len() == 5 {
            let n = target(st, "Unknown node")?;
            let keys = host.keys_in_slot(slot);
            if owner == Some(myself) && n != myself && keys != 0 {
                return Err(CmdError::err(format!(
                    "Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                )));
            }
            if keys == 0 {
                st.migrating.remove(&slot);
            }
            let was_mine = owner == Some(myself);
            st.del_slot(slot);
            st.add_slot(n, slot);
            if was_mine
                && n != myself
                && st.me().numslots == 0
                && st.settings.allow_replica_migration
            {
                tracing::warn!(
                    "Configuration change detected. Reconfiguring myself as a replica of {n}"
                );
                st.set_my_primary(n);
                st.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
            }
            if n == myself && st.importing.contains_key(&slot) {
                // A slot migrated by hand: a new epoch makes the new owner win everywhere.
                if st.bump_epoch_without_consensus() {
                    tracing::warn!("configEpoch updated after importing slot {slot}");
                }
                st.importing.remove(&slot);
                st.broadcast_pong(false, host, now_ms());
            }
        } else {
            return Err(CmdError::err(
                "Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
            ));
        }
        st.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
        Ok(())
    })
}

fn cluster_bumpepoch(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let (bumped, epoch) = with_state(ctx, |st, _| {
        let bumped = st.bump_epoch_without_consensus();
        (bumped, st.me().config_epoch)
    })?;
    ctx.reply.simple(&format!(
        "{} {epoch}",
        if bumped { "BUMPED" } else { "STILL" }
    ));
    Ok(())
}

fn cluster_set_config_epoch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    let epoch = args::int(argv.get(2))?;
    if epoch < 0 {
        return Err(CmdError::err(format!(
            "Invalid config epoch specified: {epoch}"
        )));
    }
    change_state(ctx, |st, _| {
        if st.nodes.len() > 1 {
            return Err(CmdError::err(
                "The user can assign a config epoch only when the node does not know any other node.",
            ));
        }
        if st.me().config_epoch != 0 {
            return Err(CmdError::err("Node config epoch is already non-zero"));
        }
        let epoch = epoch as u64;
        st.me_mut().config_epoch = epoch;
        tracing::warn!("configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH");
        st.current_epoch = st.current_epoch.max(epoch);
        st.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        Ok(())
    })
}

fn cluster_saveconfig(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?.save_now().map_err(|e| {
        CmdError::err(format!(
            "error saving the cluster node config: {}",
            crate::config::io_reason(&e)
        ))
    })?;
    ctx.reply.ok();
    Ok(())
}

fn cluster_keyslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    ctx.reply.int(i64::from(key_slot(argv.get(2)).0));
    Ok(())
}

fn cluster_countkeysinslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    let slot = args::int(argv.get(2))?;
    if !(0..SLOTS as i64).contains(&slot) {
        return Err(CmdError::err("Invalid slot"));
    }
    let n = ctx.keyspace().keys_in_slot(Slot(slot as u16), 0);
    ctx.reply.int(n as i64);
    Ok(())
}

fn cluster_getkeysinslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    let slot = args::int(argv.get(2))?;
    let count = args::int(argv.get(3))?;
    if !(0..SLOTS as i64).contains(&slot) || count < 0 {
        return Err(CmdError::err("Invalid slot or number of keys"));
    }
    let shard = ctx.keyspace().lock(Slot(slot as u16));
    let keys: Vec<Vec<u8>> = shard
        .db_ref(0)
        .map(|d| {
            d.entries()
                .iter()
                .take(count as usize)
                .map(|e| e.key.to_vec())
                .collect()
        })
        .unwrap_or_default();
    drop(shard);
    ctx.reply.array(keys.len());
    for k in keys {
        ctx.reply.bulk(&k);
    }
    Ok(())
}

/// A node named by a client argument, or Redis's `Unknown node` error.
fn known_node(st: &ClusterState, arg: &[u8]) -> Result<NodeId, CmdError> {
    parse_name(arg)
        .filter(|n| st.node(n).is_some())
        .ok_or_else(|| CmdError::err(format!("Unknown node {}", String::from_utf8_lossy(arg))))
}

fn cluster_forget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    change_state(ctx, |st, _| {
        let name = known_node(st, argv.get(2))?;
        if name == st.myself {
            return Err(CmdError::err("I tried hard but I can't forget myself..."));
        }
        if st.me().is_replica() && st.me().primary == Some(name) {
            return Err(CmdError::err("Can't forget my master!"));
        }
        st.blacklist_add(name, now_ms() / 1000);
        st.del_node(&name);
        st.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        Ok(())
    })
}

fn cluster_replicate(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    change_state(ctx, |st, host| {
        let name = known_node(st, argv.get(2))?;
        if name == st.myself {
            return Err(CmdError::err("Can't replicate myself"));
        }
        if st.node(&name).is_some_and(Node::is_replica) {
            return Err(CmdError::err(
                "I can only replicate a master, not a replica.",
            ));
        }
        let me = st.me();
        if me.is_primary() && (me.numslots != 0 || host.db_size() != 0) {
            return Err(CmdError::err(
                "To set a master the node must be empty and without assigned slots.",
            ));
        }
        st.set_my_primary(name);
        st.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        Ok(())
    })
}

fn cluster_replicas(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let lines = with_state(ctx, |st, _| {
        let name = known_node(st, argv.get(2))?;
        let node = st.node(&name).ok_or(CmdError::err("Unknown node"))?;
        if node.is_replica() {
            return Err(CmdError::err("The specified node is not a master"));
        }
        Ok(node
            .replicas
            .iter()
            .filter_map(|r| st.node(r))
            .map(|r| nodes_conf::node_line(st, r))
            .collect::<Vec<_>>())
    })??;
    ctx.reply.array(lines.len());
    for l in lines {
        ctx.reply.bulk(l.as_bytes());
    }
    Ok(())
}

fn cluster_count_failure_reports(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let n = with_state(ctx, |st, _| {
        let name = known_node(st, argv.get(2))?;
        let validity = st.settings.node_timeout_ms * 2;
        let node = st.node_mut(&name).ok_or(CmdError::err("Unknown node"))?;
        node.cleanup_failure_reports(now_ms(), validity);
        Ok::<_, CmdError>(node.fail_reports.len())
    })??;
    ctx.reply.int(n as i64);
    Ok(())
}

fn cluster_failover(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let (force, takeover) = match argv.try_get(2) {
        None => (false, false),
        Some(o) if is(o, "force") => (true, false),
        Some(o) if is(o, "takeover") => (true, true),
        Some(_) => return Err(CmdError::Syntax),
    };
    change_state(ctx, |st, host| {
        let me = st.me();
        if me.is_primary() {
            return Err(CmdError::err(
                "You should send CLUSTER FAILOVER to a replica",
            ));
        }
        let Some(primary) = me.primary.and_then(|p| st.node(&p)) else {
            return Err(CmdError::err(
                "I'm a replica but my master is unknown to me",
            ));
        };
        if !force && (primary.failed() || primary.link.is_none()) {
            return Err(CmdError::err(
                "Master is down or failed, please use CLUSTER FAILOVER FORCE",
            ));
        }
        st.start_manual_failover(force, takeover, host, now_ms());
        Ok(())
    })
}

fn cluster_reset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let hard = match argv.try_get(2) {
        None => false,
        Some(a) if is(a, "soft") => false,
        Some(a) if is(a, "hard") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    change_state(ctx, |st, host| {
        if st.me().is_primary() && host.db_size() != 0 {
            return Err(CmdError::err(
                "CLUSTER RESET can't be called with master nodes containing keys",
            ));
        }
        reset(st, hard);
        Ok(())
    })
}

/// `clusterReset()`: forget every other node and every slot; a replica becomes an empty
/// primary; HARD also takes a new name and zeroes the epochs.
fn reset(st: &mut ClusterState, hard: bool) {
    let myself = st.myself;
    if st.me().is_replica() {
        st.set_node_as_primary(&myself);
        st.effects.push(Effect::Replicate(None));
        st.effects.push(Effect::FlushAll);
    }
    st.close_all_slots();
    for slot in 0..SLOTS as u16 {
        st.del_slot(slot);
    }
    let others: Vec<NodeId> = st.nodes.keys().filter(|n| **n != myself).copied().collect();
    for n in others {
        st.del_node(&n);
    }
    if hard {
        st.current_epoch = 0;
        st.last_vote_epoch = 0;
        st.me_mut().config_epoch = 0;
        tracing::warn!("configEpoch set to 0 via CLUSTER RESET HARD");
        let new = random_name();
        st.rename_node(&myself, new);
        st.myself = new;
        tracing::info!("Node hard reset, now I'm {new}");
    }
    st.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
}

fn cluster_links(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let links = with_state(ctx, |st, _| {
        let mut out = Vec::new();
        for node in st.nodes.values() {
            for id in [node.link, node.inbound_link].into_iter().flatten() {
                if let Some(l) = st.links.get(&id) {
                    let queued = l.queued.load(std::sync::atomic::Ordering::Relaxed);
                    out.push((l.inbound, node.name, l.ctime_ms, queued));
                }
            }
        }
        out
    })?;
    ctx.reply.array(links.len());
    for (inbound, name, ctime, queued) in links {
        ctx.reply.map(6);
        ctx.reply.bulk(b"direction");
        ctx.reply
            .bulk(if inbound { b"from" as &[u8] } else { b"to" });
        ctx.reply.bulk(b"node");
        ctx.reply.bulk(&name.0);
        ctx.reply.bulk(b"create-time");
        ctx.reply.int(ctime);
        ctx.reply.bulk(b"events");
        ctx.reply
            .bulk(if queued > 0 { b"rw" as &[u8] } else { b"r" });
        ctx.reply.bulk(b"send-buffer-allocated");
        ctx.reply.int(queued as i64);
        ctx.reply.bulk(b"send-buffer-used");
        ctx.reply.int(queued as i64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::bus::wire::node_flags as nf;
    use crate::cluster::state::ClusterSettings;

    #[test]
    fn info_lists_redis_fields_in_order() {
        let mut st = ClusterState::new(ClusterSettings::default(), 0);
        st.stats_sent[0] = 3;
        st.stats_received[1] = 2;
        let text = info_text(&st);
        let keys: Vec<&str> = text
            .split("\r\n")
            .filter_map(|l| l.split_once(':').map(|(k, _)| k))
            .collect();
        assert_eq!(
            keys,
            [
                "cluster_state",
                "cluster_slots_assigned",
                "cluster_slots_ok",
                "cluster_slots_pfail",
                "cluster_slots_fail",
                "cluster_known_nodes",
                "cluster_size",
                "cluster_current_epoch",
                "cluster_my_epoch",
                "cluster_stats_messages_ping_sent",
                "cluster_stats_messages_sent",
                "cluster_stats_messages_pong_received",
                "cluster_stats_messages_received",
                "total_cluster_links_buffer_limit_exceeded",
            ]
        );
        assert!(text.starts_with("cluster_state:fail\r\n"));
    }

    #[test]
    fn hard_reset_takes_a_new_name_and_forgets_everyone() {
        let mut st = ClusterState::new(ClusterSettings::default(), 0);
        let old = st.myself;
        let other = random_name();
        st.add_node(Node::new(other, nf::PRIMARY, 0));
        st.add_slot(old, 1);
        st.current_epoch = 5;
        reset(&mut st, true);
        assert_ne!(st.myself, old);
        assert_eq!(st.nodes.len(), 1);
        assert_eq!(st.current_epoch, 0);
        assert!(st.slots().iter().all(Option::is_none));
    }
}
