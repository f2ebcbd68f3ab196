//! Tessera: a Redis Cluster-compatible sharded key-value server.
//!
//! Architecture map (see `../shared/DESIGN.md`):
//! - [`protocol`]: RESP2/RESP3 request parsing and reply encoding, numbers as Redis prints
//!   them.
//! - [`config`]: redis.conf grammar, the one option table, CONFIG GET/SET/REWRITE, the typed
//!   settings everything else reads.
//! - [`keyspace`]: 16384 slot shards, each behind its own lock, holding every database's keys
//!   of that slot; values, expiry, keyspace events staged as effects.
//! - [`cluster`]: Redis Cluster mode: the bus (Redis 7.0's wire format), gossip, nodes.conf,
//!   the routing view commands read.
//! - [`commands`]: the one command table (Redis 7.0's metadata joined with our handlers) and
//!   one file per command family.
//! - [`persistence`]: RDB files, DUMP / RESTORE payloads and the multi-part AOF in Redis
//!   7.0's formats, written from fork-free snapshots.
//! - [`replication`]: the replication stream, backlog and replica links.
//! - [`server`]: worker threads, connections, dispatch, pub/sub, INFO, cron, logging.
//! - [`util`]: glob matching, clocks, the counting allocator, Redis's partial quicksort,
//!   `sdscatrepr()` quoting.

pub mod cluster;
pub mod commands;
pub mod config;
pub mod keyspace;
pub mod persistence;
pub mod protocol;
pub mod replication;
pub mod server;
pub mod util;
