//! Persistence: Redis 7.0's file formats. [`rdb`] holds the RDB value and file encodings
//! (also the DUMP / RESTORE payload format).

pub mod rdb;
