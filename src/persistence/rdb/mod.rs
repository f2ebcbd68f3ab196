//! The RDB format of Redis 7.0 (version 10): writing it byte-compatibly, reading versions
//! up to 11 (Redis 7.2) with every value encoding those versions use.
//!
//! - [`codec`]: lengths, strings (integer, LZF, plain) and doubles;
//! - [`listpack`], [`intset`], [`ziplist`]: the compact blobs inside string fields;
//! - [`lzf`]: the string compression;
//! - [`value`]: one value (type byte + body), shared by RDB files and DUMP / RESTORE;
//! - [`dump`]: DUMP payloads (value + RDB version + CRC64);
//! - [`file`]: whole RDB files (preamble, records, trailer) and loading them.

pub mod codec;
pub mod dump;
pub mod file;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod value;
pub mod ziplist;

use crc::{CRC_64_REDIS, Crc, Table};

/// The version this server writes: Redis 7.0's.
pub const RDB_VERSION: u16 = 10;

/// CRC-64/REDIS (Jones polynomial, reflected), over a whole file or DUMP payload.
pub const CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// Value type bytes (`RDB_TYPE_*`).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Why RDB data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    #[error("unexpected end of data")]
    Truncated,
    #[error("corrupt data: {0}")]
    Corrupt(&'static str),
    #[error("value type {0} ({1}) is not supported")]
    Unsupported(u8, &'static str),
    /// An aggregate with no elements: Redis skips such keys when loading a file.
    #[error("empty key")]
    EmptyKey,
}

impl RdbError {
    pub fn corrupt(what: &'static str) -> Self {
        RdbError::Corrupt(what)
    }

    fn from_read(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            RdbError::Truncated
        } else {
            RdbError::Io(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_redis_check_value() {
        // crc64.c's self-test: crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca.
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }
}
