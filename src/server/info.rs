//! INFO: Redis 7.0's sections and field names, with Tessera's values (behaves like
//! `genRedisInfoString()`). Fields of subsystems that arrive with later work (persistence,
//! replication) report their idle values, as a Redis with those features unused does.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::{REDIS_VERSION, Server, TESSERA_VERSION};
use crate::util::{alloc, clock};

/// Sections printed by `INFO` / `INFO default`.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections a request selects (behaves like `genInfoSectionDict()`).
pub fn select_sections(args: &[&[u8]]) -> Vec<String> {
    if args.is_empty() {
        return DEFAULT.iter().map(|s| s.to_string()).collect();
    }
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    };
    for a in args {
        let name = String::from_utf8_lossy(a).to_ascii_lowercase();
        match name.as_str() {
            "default" => DEFAULT.iter().for_each(|s| add(s)),
            "all" => {
                DEFAULT.iter().for_each(|s| add(s));
                add("commandstats");
                add("latencystats");
            }
            "everything" => {
                DEFAULT.iter().for_each(|s| add(s));
                add("commandstats");
                add("latencystats");
                add("modules");
            }
            other => add(other),
        }
    }
    out
}

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else if n < 1024.0 * 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.2}T", n / (1024.0 * 1024.0 * 1024.0 * 1024.0))
    }
}

fn uname() -> String {
    // SAFETY: uname fills the zeroed struct we own.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "Linux".into();
        }
        let f = |b: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(b.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
    }
}

fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) }.max(0) as u64;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
}

/// (user, system) CPU seconds of the process.
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        (t(ru.ru_utime), t(ru.ru_stime))
    }
}

/// Builds the INFO text for the chosen sections.
pub fn generate(server: &Server, sections: &[String]) -> String {
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        let mut body = String::new();
        let title = match section.as_str() {
            "server" => {
                server_section(server, &mut body);
                "Server"
            }
            "clients" => {
                clients_section(server, &mut body);
                "Clients"
            }
            "memory" => {
                memory_section(server, &mut body);
                "Memory"
            }
            "persistence" => {
                persistence_section(server, &mut body);
                "Persistence"
            }
            "stats" => {
                stats_section(server, &mut body);
                "Stats"
            }
            "replication" => {
                replication_section(server, &mut body);
                "Replication"
            }
            "cpu" => {
                let (user, sys) = cpu_times();
                let _ = write!(
                    body,
                    "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{sys:.6}\r\nused_cpu_user_main_thread:{user:.6}\r\n"
                );
                "CPU"
            }
            "module_list" | "modules" => "Modules",
            "commandstats" => {
                commandstats_section(server, &mut body);
                "Commandstats"
            }
            "errorstats" => {
                for (code, n) in server.stats.errors() {
                    let _ = write!(body, "errorstat_{code}:count={n}\r\n");
                }
                "Errorstats"
            }
            "latencystats" => "Latencystats",
            "cluster" => {
                let _ = write!(
                    body,
                    "cluster_enabled:{}\r\n",
                    server.config.settings().cluster_enabled as u8
                );
                "Cluster"
            }
            "keyspace" => {
                keyspace_section(server, &mut body);
                "Keyspace"
            }
            _ => continue,
        };
        if i > 0 && !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n{body}");
    }
    out
}

fn server_section(server: &Server, b: &mut String) {
    let settings = server.config.settings();
    let now_us = clock::now_us();
    let uptime = (now_us / 1000 - server.process.start_ms) / 1000;
    let lru = crate::keyspace::effects::lru_clock(now_us / 1000);
    let mode = if settings.cluster_enabled {
        "cluster"
    } else {
        "standalone"
    };
    let config_file = server
        .config
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = write!(
        b,
        "redis_version:{REDIS_VERSION}\r\n\
         redis_git_sha1:00000000\r\n\
         redis_git_dirty:0\r\n\
         redis_build_id:0\r\n\
         redis_mode:{mode}\r\n\
         tessera_version:{TESSERA_VERSION}\r\n\
         os:{}\r\n\
         arch_bits:64\r\n\
         monotonic_clock:POSIX clock_gettime\r\n\
         multiplexing_api:epoll\r\n\
         atomicvar_api:c11-builtin\r\n\
         gcc_version:0.0.0\r\n\
         process_id:{}\r\n\
         process_supervised:no\r\n\
         run_id:{}\r\n\
         tcp_port:{}\r\n\
         server_time_usec:{now_us}\r\n\
         uptime_in_seconds:{uptime}\r\n\
         uptime_in_days:{}\r\n\
         hz:{}\r\n\
         configured_hz:{}\r\n\
         lru_clock:{lru}\r\n\
         executable:{}\r\n\
         config_file:{config_file}\r\n\
         io_threads_active:0\r\n\
         server_threads:{}\r\n",
        uname(),
        server.process.pid,
        server.process.run_id,
        server.process.tcp_port,
        uptime / 86400,
        settings.hz,
        settings.hz,
        server.process.executable,
        server.process.workers,
    );
}

fn clients_section(server: &Server, b: &mut String) {
    let settings = server.config.settings();
    let clients = server.clients.snapshot();
    let max_in = clients
        .iter()
        .map(|c| c.query_buf.load(Relaxed))
        .max()
        .unwrap_or(0);
    let max_out = clients
        .iter()
        .map(|c| c.outbox.lock().len())
        .max()
        .unwrap_or(0);
    let blocked = server.signals.blocked_clients();
    let in_timeout_table = server.blocking.with_timeout();
    let _ = write!(
        b,
        "connected_clients:{}\r\n\
         cluster_connections:{}\r\n\
         maxclients:{}\r\n\
         client_recent_max_input_buffer:{max_in}\r\n\
         client_recent_max_output_buffer:{max_out}\r\n\
         blocked_clients:{blocked}\r\n\
         tracking_clients:0\r\n\
         clients_in_timeout_table:{in_timeout_table}\r\n",
        clients.len(),
        cluster_connections(server),
        settings.maxclients,
    );
}

/// Bus connections as Redis counts them (`getClusterConnectionsCount()`): two per other
/// node.
fn cluster_connections(server: &Server) -> usize {
    server.cluster.as_ref().map_or(0, |c| {
        c.with(server, |st, _| st.nodes.len().saturating_sub(1) * 2)
    })
}

fn memory_section(server: &Server, b: &mut String) {
    let settings = server.config.settings();
    let used = alloc::used_memory();
    let peak = server.memory_peak.fetch_max(used, Relaxed).max(used);
    let rss = alloc::rss_bytes();
    let startup = server.memory_startup;
    let overhead = startup.min(used);
    let dataset = used.saturating_sub(overhead);
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let total = total_system_memory();
    let frag = if used == 0 {
        0.0
    } else {
        rss as f64 / used as f64
    };
    let _ = write!(
        b,
        "used_memory:{used}\r\n\
         used_memory_human:{}\r\n\
         used_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\n\
         used_memory_peak:{peak}\r\n\
         used_memory_peak_human:{}\r\n\
         used_memory_peak_perc:{:.2}%\r\n\
         used_memory_overhead:{overhead}\r\n\
         used_memory_startup:{startup}\r\n\
         used_memory_dataset:{dataset}\r\n\
         used_memory_dataset_perc:{:.2}%\r\n\
         allocator_allocated:{used}\r\n\
         allocator_active:{used}\r\n\
         allocator_resident:{rss}\r\n\
         total_system_memory:{total}\r\n\
         total_system_memory_human:{}\r\n\
         used_memory_lua:0\r\n\
         used_memory_vm_eval:0\r\n\
         used_memory_lua_human:0B\r\n\
         used_memory_scripts_eval:0\r\n\
         number_of_cached_scripts:0\r\n\
         number_of_functions:0\r\n\
         number_of_libraries:0\r\n\
         used_memory_vm_functions:0\r\n\
         used_memory_vm_total:0\r\n\
         used_memory_vm_total_human:0B\r\n\
         used_memory_functions:0\r\n\
         used_memory_scripts:0\r\n\
         used_memory_scripts_human:0B\r\n\
         maxmemory:{}\r\n\
         maxmemory_human:{}\r\n\
         maxmemory_policy:{}\r\n\
         allocator_frag_ratio:1.00\r\n\
         allocator_frag_bytes:0\r\n\
         allocator_rss_ratio:{frag:.2}\r\n\
         allocator_rss_bytes:{}\r\n\
         rss_overhead_ratio:1.00\r\n\
         rss_overhead_bytes:0\r\n\
         mem_fragmentation_ratio:{frag:.2}\r\n\
         mem_fragmentation_bytes:{}\r\n\
         mem_not_counted_for_evict:0\r\n\
         mem_replication_backlog:0\r\n\
         mem_total_replication_buffers:0\r\n\
         mem_clients_slaves:0\r\n\
         mem_clients_normal:0\r\n\
         mem_cluster_links:0\r\n\
         mem_aof_buffer:0\r\n\
         mem_allocator:mimalloc\r\n\
         active_defrag_running:0\r\n\
         lazyfree_pending_objects:0\r\n\
         lazyfreed_objects:0\r\n",
        human_bytes(used),
        human_bytes(rss),
        human_bytes(peak),
        pct(used, peak),
        pct(dataset, used.saturating_sub(startup).max(1)).min(100.0),
        human_bytes(total),
        settings.maxmemory,
        human_bytes(settings.maxmemory),
        settings.maxmemory_policy,
        rss as i64 - used as i64,
        rss as i64 - used as i64,
    );
}

fn persistence_section(server: &Server, b: &mut String) {
    let settings = server.config.settings();
    let rdb = server.rdb_info();
    let aof = server.aof_info();
    let status = |ok: bool| if ok { "ok" } else { "err" };
    let _ = write!(
        b,
        "loading:0\r\n\
         async_loading:0\r\n\
         current_cow_peak:0\r\n\
         current_cow_size:0\r\n\
         current_cow_size_age:0\r\n\
         current_fork_perc:0.00\r\n\
         current_save_keys_processed:0\r\n\
         current_save_keys_total:{}\r\n\
         rdb_changes_since_last_save:{}\r\n\
         rdb_bgsave_in_progress:{}\r\n\
         rdb_last_save_time:{}\r\n\
         rdb_last_bgsave_status:{}\r\n\
         rdb_last_bgsave_time_sec:{}\r\n\
         rdb_current_bgsave_time_sec:{}\r\n\
         rdb_saves:{}\r\n\
         rdb_last_cow_size:0\r\n\
         rdb_last_load_keys_expired:{}\r\n\
         rdb_last_load_keys_loaded:{}\r\n\
         aof_enabled:{}\r\n\
         aof_rewrite_in_progress:{}\r\n\
         aof_rewrite_scheduled:{}\r\n\
         aof_last_rewrite_time_sec:{}\r\n\
         aof_current_rewrite_time_sec:{}\r\n\
         aof_last_bgrewrite_status:{}\r\n\
         aof_rewrites:{}\r\n\
         aof_rewrites_consecutive_failures:{}\r\n\
         aof_last_write_status:{}\r\n\
         aof_last_cow_size:0\r\n\
         module_fork_in_progress:0\r\n\
         module_fork_last_cow_size:0\r\n",
        if rdb.bgsave_in_progress {
            rdb.keys_in_save
        } else {
            0
        },
        rdb.changes_since_last_save,
        rdb.bgsave_in_progress as u8,
        server.lastsave_secs.load(Relaxed),
        status(rdb.last_bgsave_ok),
        rdb.last_bgsave_secs,
        rdb.current_bgsave_secs,
        rdb.saves,
        server.rdb.last_load_keys_expired.load(Relaxed),
        server.rdb.last_load_keys_loaded.load(Relaxed),
        settings.appendonly as u8,
        aof.rewrite_in_progress as u8,
        aof.rewrite_scheduled as u8,
        aof.last_rewrite_secs,
        aof.current_rewrite_secs,
        status(aof.last_rewrite_ok),
        aof.rewrites,
        aof.consecutive_failures,
        status(aof.last_write_ok),
    );
    if settings.appendonly {
        let _ = write!(
            b,
            "aof_current_size:{}\r\n\
             aof_base_size:{}\r\n\
             aof_pending_rewrite:{}\r\n\
             aof_buffer_length:0\r\n\
             aof_pending_bio_fsync:0\r\n\
             aof_delayed_fsync:0\r\n",
            aof.current_size, aof.base_size, aof.rewrite_scheduled as u8,
        );
    }
}

fn stats_section(server: &Server, b: &mut String) {
    let s = &server.stats;
    let samples = &server.samples;
    let kbps = |v: u64| v as f64 / 100.0;
    let _ = write!(
        b,
        "total_connections_received:{}\r\n\
         total_commands_processed:{}\r\n\
         instantaneous_ops_per_sec:{}\r\n\
         total_net_input_bytes:{}\r\n\
         total_net_output_bytes:{}\r\n\
         total_net_repl_input_bytes:0\r\n\
         total_net_repl_output_bytes:0\r\n\
         instantaneous_input_kbps:{:.2}\r\n\
         instantaneous_output_kbps:{:.2}\r\n\
         instantaneous_input_repl_kbps:0.00\r\n\
         instantaneous_output_repl_kbps:0.00\r\n\
         rejected_connections:{}\r\n\
         sync_full:{}\r\n\
         sync_partial_ok:{}\r\n\
         sync_partial_err:{}\r\n\
         expired_keys:{}\r\n\
         expired_stale_perc:0.00\r\n\
         expired_time_cap_reached_count:0\r\n\
         expire_cycle_cpu_milliseconds:{}\r\n\
         evicted_keys:0\r\n\
         evicted_clients:0\r\n\
         total_eviction_exceeded_time:0\r\n\
         current_eviction_exceeded_time:0\r\n\
         keyspace_hits:{}\r\n\
         keyspace_misses:{}\r\n\
         pubsub_channels:{}\r\n\
         pubsub_patterns:{}\r\n\
         pubsubshard_channels:{}\r\n\
         latest_fork_usec:0\r\n\
         total_forks:0\r\n\
         migrate_cached_sockets:0\r\n\
         slave_expires_tracked_keys:0\r\n\
         active_defrag_hits:0\r\n\
         active_defrag_misses:0\r\n\
         active_defrag_key_hits:0\r\n\
         active_defrag_key_misses:0\r\n\
         total_active_defrag_time:0\r\n\
         current_active_defrag_time:0\r\n\
         tracking_total_keys:0\r\n\
         tracking_total_items:0\r\n\
         tracking_total_prefixes:0\r\n\
         unexpected_error_replies:0\r\n\
         total_error_replies:{}\r\n\
         dump_payload_sanitizations:0\r\n\
         total_reads_processed:{}\r\n\
         total_writes_processed:{}\r\n\
         io_threaded_reads_processed:0\r\n\
         io_threaded_writes_processed:0\r\n\
         reply_buffer_shrinks:0\r\n\
         reply_buffer_expands:0\r\n",
        server.clients.total_connections.load(Relaxed),
        s.total_commands(),
        samples.ops_per_sec.load(Relaxed),
        s.net_input_bytes(),
        s.net_output_bytes(),
        kbps(samples.input_kbps.load(Relaxed)),
        kbps(samples.output_kbps.load(Relaxed)),
        server.clients.rejected_connections.load(Relaxed),
        server.primary.sync_counts().0,
        server.primary.sync_counts().1,
        server.primary.sync_counts().2,
        s.expired_keys(),
        server.expire_cycle_ms.load(Relaxed),
        s.keyspace_hits(),
        s.keyspace_misses(),
        server
            .pubsub
            .channels(super::pubsub::Kind::Channel, None)
            .len(),
        server.pubsub.numpat(),
        server
            .pubsub
            .channels(super::pubsub::Kind::Shard, None)
            .len(),
        s.total_error_replies(),
        s.reads_processed(),
        s.writes_processed(),
    );
}

fn replication_section(server: &Server, b: &mut String) {
    let backlog = server.config.get("repl-backlog-size");
    let primary = &server.primary;
    let replicas = primary.replicas();
    let now = crate::util::clock::now_ms();
    let replica = &server.replica;
    let upstream = replica.primary.lock().clone();
    let ids = primary.ids(&server.process.replid);
    let mut offset = primary.offset();
    if let Some((host, port)) = &upstream {
        let link_offset = replica.offset.load(Relaxed);
        let up = replica.link_up.load(Relaxed);
        let syncing = replica.sync_in_progress.load(Relaxed);
        let _ = write!(
            b,
            "role:slave\r\n\
             master_host:{host}\r\n\
             master_port:{port}\r\n\
             master_link_status:{}\r\n\
             master_last_io_seconds_ago:{}\r\n\
             master_sync_in_progress:{}\r\n\
             slave_read_repl_offset:{link_offset}\r\n\
             slave_repl_offset:{link_offset}\r\n",
            if up { "up" } else { "down" },
            if up {
                (now - replica.last_io_ms.load(Relaxed)).max(0) / 1000
            } else {
                -1
            },
            syncing as u8,
        );
        if syncing {
            // The snapshot being received: 0 total while a diskless one streams (its
            // length is not known until its end mark), as Redis shows it.
            let total = replica.sync_total_bytes.load(Relaxed);
            let read = replica.sync_read_bytes.load(Relaxed) as i64;
            let perc = if total != 0 {
                read as f64 / total as f64 * 100.0
            } else {
                0.0
            };
            let _ = write!(
                b,
                "master_sync_total_bytes:{total}\r\n\
                 master_sync_read_bytes:{read}\r\n\
                 master_sync_left_bytes:{}\r\n\
                 master_sync_perc:{perc:.2}\r\n\
                 master_sync_last_io_seconds_ago:{}\r\n",
                total - read,
                (now - replica.last_io_ms.load(Relaxed)).max(0) / 1000,
            );
        }
        if !up {
            let since = replica.down_since_ms.load(Relaxed);
            let secs = if since == 0 {
                -1
            } else {
                (now - since).max(0) / 1000
            };
            let _ = write!(b, "master_link_down_since_seconds:{secs}\r\n");
        }
        let _ = write!(
            b,
            "slave_priority:{}\r\n\
             slave_read_only:{}\r\n\
             replica_announced:1\r\n",
            server.config.get("replica-priority"),
            server.config.settings().replica_read_only as u8,
        );
        offset = link_offset;
    } else {
        b.push_str("role:master\r\n");
    }
    let _ = write!(b, "connected_slaves:{}\r\n", replicas.len());
    for (i, r) in replicas.iter().enumerate() {
        let _ = write!(
            b,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.ip,
            r.port,
            r.state,
            r.ack,
            (now - r.ack_ms).max(0) / 1000
        );
    }
    let (active, first, histlen) = match primary.backlog_span() {
        Some((first, len)) if primary.backlog_active() => (1, first, len),
        _ => (0, 0, 0),
    };
    let _ = write!(
        b,
        "master_failover_state:no-failover\r\n\
         master_replid:{}\r\n\
         master_replid2:{}\r\n\
         master_repl_offset:{}\r\n\
         second_repl_offset:{}\r\n\
         repl_backlog_active:{active}\r\n\
         repl_backlog_size:{backlog}\r\n\
         repl_backlog_first_byte_offset:{first}\r\n\
         repl_backlog_histlen:{histlen}\r\n",
        ids.replid, ids.replid2, offset, ids.second_offset,
    );
}

fn commandstats_section(server: &Server, b: &mut String) {
    for cmd in server.commands.all() {
        let (calls, usec, rejected, failed) = server.stats.command(cmd.id);
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let per = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        let _ = write!(
            b,
            "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
            cmd.name()
        );
    }
}

/// Keys, keys with an expiry, and the sum of their expiry times of one database.
#[derive(Clone, Copy, Default)]
struct DbSize {
    keys: usize,
    expires: usize,
    expiry_sum_ms: i128,
}

fn keyspace_section(server: &Server, b: &mut String) {
    let mut sizes = vec![DbSize::default(); server.keyspace.databases()];
    server.keyspace.for_each_shard(|_, shard| {
        for (db, size) in sizes.iter_mut().enumerate() {
            if let Some(d) = shard.db_ref(db) {
                size.keys += d.len();
                size.expires += d.expires();
                size.expiry_sum_ms += d.expiry_sum_ms();
            }
        }
    });
    let now = clock::now_ms() as i128;
    for (db, size) in sizes.into_iter().enumerate() {
        if size.keys == 0 {
            continue;
        }
        let avg_ttl = match size.expires {
            0 => 0,
            n => (size.expiry_sum_ms / n as i128 - now).max(0),
        };
        let _ = write!(
            b,
            "db{db}:keys={},expires={},avg_ttl={avg_ttl}\r\n",
            size.keys, size.expires
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_selection() {
        assert_eq!(select_sections(&[]).len(), DEFAULT.len());
        let all = select_sections(&[b"all"]);
        assert!(all.contains(&"commandstats".to_string()));
        assert!(!all.contains(&"modules".to_string()));
        let some = select_sections(&[b"CPU", b"cpu", b"keyspace"]);
        assert_eq!(some, vec!["cpu".to_string(), "keyspace".to_string()]);
    }

    #[test]
    fn human_sizes_like_redis() {
        assert_eq!(human_bytes(1000), "1000B");
        assert_eq!(human_bytes(1138872), "1.09M");
        assert_eq!(human_bytes(25274793984), "23.54G");
    }
}
