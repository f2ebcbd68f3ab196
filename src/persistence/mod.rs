//! Persistence in Redis 7.0's file formats, from fork-free snapshots.
//!
//! - [`aof`]: the multi-part append-only file;
//! - [`rdb`]: the RDB value and file encodings (also the DUMP / RESTORE payload format);
//! - [`save`]: writing a point-in-time RDB file from a keyspace snapshot, loading one.

pub mod aof;
pub mod rdb;
pub mod save;
