//! Tessera's integration tests: one binary (link time matters), a module per area. Every
//! test starts real server processes on free loopback ports and stops them by PID.

mod aof;
mod badinput;
mod blocking;
mod clients;
mod cluster;
mod common;
mod config;
mod differential;
mod dump;
mod expiry;
mod failover;
mod geo;
mod hll;
mod interop;
mod migrate;
mod partition;
mod persistence;
mod protocol;
mod pubsub;
mod replication;
mod reshard;
mod server;
mod sort;
mod transactions;
