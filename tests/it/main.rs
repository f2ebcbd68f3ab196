//! Tessera's integration tests: one binary (link time matters), a module per area. Every
//! test starts real server processes on free loopback ports and stops them by PID.

mod common;
mod differential;
