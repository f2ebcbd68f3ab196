//! The multi-part append-only file of Redis 7.0: a directory (`appenddirname`) holding a
//! base file (an RDB, or commands), incr files of commands appended since, and a manifest
//! naming them.
//!
//! - [`base`]: a base of commands (`aof-use-rdb-preamble no`);
//! - [`manifest`]: the manifest's format and the file naming;
//! - [`encode`]: propagated batches as AOF commands;
//! - [`reader`]: reading commands back, noticing a truncated tail;
//! - [`writer`]: the thread that appends and syncs.

pub mod base;
pub mod encode;
pub mod manifest;
pub mod reader;
pub mod writer;
