//! Redis Cluster mode, wire-compatible with Redis 7.0 so that `redis-server` nodes and
//! Tessera nodes can share one cluster.
//!
//! The modules it will hold (see `shared/DESIGN.md`): `view`, the immutable slot map and
//! routing rules that `server/` and `commands/` read; `state`, the nodes, epochs and slot
//! owners kept by the one cluster task; `bus`, the binary messages and the links that carry
//! them; then gossip, failure detection, failover, epochs, slot migration and nodes.conf.
//! For now only the bus's wire format exists: [`bus::wire`].

pub mod bus;
