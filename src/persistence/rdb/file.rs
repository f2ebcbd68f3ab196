//! RDB files (behaves like `rdbSaveRio()` / `rdbLoadRio()` of Redis 7.0): "REDIS" and a
//! 4-digit version, AUX fields, then per database SELECTDB and RESIZEDB, the key-value
//! records (each optionally led by its expiry and idle time), EOF and a CRC-64 of all of it.
//!
//! A snapshot serializes shard by shard in whatever order writers and the walk reach them,
//! so the records of one database may come in several runs, each led by its own SELECTDB;
//! RESIZEDB for every database comes first, before any record. Redis's loader and
//! redis-check-rdb accept a SELECTDB anywhere.

use std::io::Read;

use super::codec::{RdbReader, RdbWriter};
use super::{CRC64, RDB_VERSION, RdbError, value};
use crate::keyspace::value::{EncodingLimits, Entry, Value};
use crate::keyspace::{ShardData, SmallBytes};

/// Opcodes that are not value types (`RDB_OPCODE_*`).
pub mod opcodes {
    pub const FUNCTION2: u8 = 0xf5;
    pub const FUNCTION: u8 = 0xf6;
    pub const MODULE_AUX: u8 = 0xf7;
    pub const IDLE: u8 = 0xf8;
    pub const FREQ: u8 = 0xf9;
    pub const AUX: u8 = 0xfa;
    pub const RESIZEDB: u8 = 0xfb;
    pub const EXPIRETIME_MS: u8 = 0xfc;
    pub const EXPIRETIME: u8 = 0xfd;
    pub const SELECTDB: u8 = 0xfe;
    pub const EOF: u8 = 0xff;
}

/// The newest version this server loads: Redis 7.2's.
pub const MAX_LOAD_VERSION: u16 = 11;

/// What the AUX fields at the start of a file say.
pub struct Preamble {
    pub redis_version: &'static str,
    pub ctime_secs: i64,
    pub used_mem: u64,
    pub repl_id: String,
    pub repl_offset: i64,
    /// Whether this RDB is the base of an AOF (`aof-base`).
    pub aof_base: bool,
}

/// How records are written.
#[derive(Clone, Copy)]
pub struct RecordOptions {
    /// `rdbcompression`.
    pub compress: bool,
    /// Write each key's idle time (an LRU `maxmemory-policy`), relative to this clock.
    pub lru_clock: Option<u32>,
    /// Write each key's LFU counter (an LFU policy): the time and `lfu-decay-time`.
    pub lfu: Option<(i64, u32)>,
}

/// The magic, the version and the AUX fields; then SELECTDB + RESIZEDB for each database
/// with keys: (db, keys, keys with an expiry).
pub fn write_preamble(out: &mut Vec<u8>, p: &Preamble, sizes: &[(usize, u64, u64)]) {
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    let mut w = RdbWriter::new(out, false);
    let mut aux = |name: &str, value: &[u8]| {
        w.byte(opcodes::AUX);
        w.string(name.as_bytes());
        w.string(value);
    };
    let mut num = itoa::Buffer::new();
    aux("redis-ver", p.redis_version.as_bytes());
    aux("redis-bits", b"64");
    aux("ctime", num.format(p.ctime_secs).as_bytes());
    aux("used-mem", num.format(p.used_mem).as_bytes());
    aux("repl-stream-db", b"0");
    aux("repl-id", p.repl_id.as_bytes());
    aux("repl-offset", num.format(p.repl_offset).as_bytes());
    aux("aof-base", if p.aof_base { b"1" } else { b"0" });
    for &(db, keys, expires) in sizes {
        w.byte(opcodes::SELECTDB);
        w.length(db as u64);
        w.byte(opcodes::RESIZEDB);
        w.length(keys);
        w.length(expires);
    }
}

/// The records of every key in a shard, each database's run led by SELECTDB.
pub fn write_shard(out: &mut Vec<u8>, shard: &ShardData, opts: RecordOptions) {
    for db in 0..shard.db_count() {
        if let Some(d) = shard.db_ref(db).filter(|d| !d.is_empty()) {
            write_db(out, db, d.entries(), opts);
        }
    }
}

/// One database's run of records, led by SELECTDB.
pub fn write_db(out: &mut Vec<u8>, db: usize, entries: &[Entry], opts: RecordOptions) {
    let mut w = RdbWriter::new(out, opts.compress);
    w.byte(opcodes::SELECTDB);
    w.length(db as u64);
    for entry in entries {
        write_record(&mut w, entry, opts);
    }
}

fn write_record(w: &mut RdbWriter<'_>, entry: &Entry, opts: RecordOptions) {
    if entry.expire_at != 0 {
        w.byte(opcodes::EXPIRETIME_MS);
        w.bytes(&entry.expire_at.to_le_bytes());
    }
    if let Some(clock) = opts.lru_clock {
        w.byte(opcodes::IDLE);
        w.length(u64::from(clock.wrapping_sub(entry.lru) & LRU_CLOCK_MAX));
    }
    if let Some((now_ms, decay)) = opts.lfu {
        w.byte(opcodes::FREQ);
        w.byte(crate::keyspace::lfu::counter(entry.lru, now_ms, decay));
    }
    value::write_keyed(w, &entry.key, &entry.value);
}

/// The 24-bit LRU clock's mask (Redis's `LRU_CLOCK_MAX`).
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// EOF and the checksum of everything before it (`crc` = None: `rdbchecksum no`, zeros).
pub fn write_trailer(
    out: &mut Vec<u8>,
    crc_before: Option<crc::Digest<'static, u64, crc::Table<16>>>,
) {
    out.push(opcodes::EOF);
    let sum = crc_before.map_or(0, |mut d| {
        d.update(&[opcodes::EOF]);
        d.finalize()
    });
    out.extend_from_slice(&sum.to_le_bytes());
}

/// One key read from a file.
pub struct Record {
    pub db: usize,
    pub key: SmallBytes,
    pub value: Value,
    /// Absolute ms; 0 = none.
    pub expire_at: i64,
    /// Seconds idle, when the file says.
    pub idle_secs: Option<u64>,
    /// The LFU counter, when the file says.
    pub freq: Option<u8>,
}

/// What a load found.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct LoadSummary {
    pub version: u16,
    pub keys_loaded: u64,
    pub keys_expired: u64,
    /// Empty aggregates skipped, as Redis skips them.
    pub empty_keys_skipped: u64,
    /// Bytes the RDB took, checksum included: an old AOF's commands follow from here.
    pub bytes: u64,
}

/// How a load treats the keys it reads.
pub struct LoadOptions {
    pub databases: usize,
    pub limits: EncodingLimits,
    /// Keys whose expiry is before this are counted and dropped (a primary's load).
    pub now_ms: i64,
}

/// A reader that keeps a running CRC-64 of what it has read.
struct Checksummed<R> {
    inner: R,
    digest: crc::Digest<'static, u64, crc::Table<16>>,
    read: u64,
}

impl<R: Read> Read for Checksummed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads a whole RDB file, handing each live key to `store` (which fails the load on a
/// duplicate key by returning false).
pub fn load(
    input: impl Read,
    opts: &LoadOptions,
    mut store: impl FnMut(Record) -> bool,
) -> Result<LoadSummary, RdbError> {
    let mut r = RdbReader::new(Checksummed {
        inner: input,
        digest: CRC64.digest(),
        read: 0,
    });
    let mut magic = [0u8; 9];
    r.exact(&mut magic)
        .map_err(|_| RdbError::corrupt("not an RDB file"))?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError::corrupt(
            "wrong signature trying to load DB from file",
        ));
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .filter(|v| (1..=MAX_LOAD_VERSION).contains(v))
        .ok_or(RdbError::corrupt("can't handle RDB format version"))?;
    let mut summary = LoadSummary {
        version,
        ..LoadSummary::default()
    };
    let mut db = 0;
    let mut expire_at = 0i64;
    let mut idle_secs = None;
    let mut freq = None;
    loop {
        let op = r.byte()?;
        match op {
            opcodes::EXPIRETIME_MS => {
                let mut b = [0u8; 8];
                r.exact(&mut b)?;
                expire_at = i64::from_le_bytes(b);
            }
            opcodes::EXPIRETIME => {
                let mut b = [0u8; 4];
                r.exact(&mut b)?;
                expire_at = i64::from(i32::from_le_bytes(b)) * 1000;
            }
            opcodes::IDLE => idle_secs = Some(r.length()?),
            opcodes::FREQ => freq = Some(r.byte()?),
            opcodes::SELECTDB => {
                db = r.count()?;
                if db >= opts.databases {
                    return Err(RdbError::corrupt(
                        "the file has more databases than this server is configured for",
                    ));
                }
            }
            opcodes::RESIZEDB => {
                r.length()?;
                r.length()?;
            }
            opcodes::AUX => {
                r.string()?;
                r.string()?;
            }
            opcodes::MODULE_AUX => return Err(RdbError::Unsupported(op, "module aux data")),
            opcodes::FUNCTION | opcodes::FUNCTION2 => {
                return Err(RdbError::Unsupported(op, "function library"));
            }
            opcodes::EOF => break,
            type_id => {
                let key = r.string()?;
                let value = match value::read(&mut r, type_id, &opts.limits) {
                    Err(RdbError::EmptyKey) => {
                        summary.empty_keys_skipped += 1;
                        expire_at = 0;
                        idle_secs = None;
                        freq = None;
                        continue;
                    }
                    other => other?,
                };
                if expire_at != 0 && expire_at < opts.now_ms {
                    summary.keys_expired += 1;
                } else {
                    let record = Record {
                        db,
                        key: SmallBytes::from_vec(key),
                        value,
                        expire_at,
                        idle_secs,
                        freq,
                    };
                    if !store(record) {
                        return Err(RdbError::corrupt("duplicate key"));
                    }
                    summary.keys_loaded += 1;
                }
                expire_at = 0;
                idle_secs = None;
                freq = None;
            }
        }
    }
    if version >= 5 {
        // The checksum covers everything up to and including the EOF opcode.
        let computed = r.input_mut().digest.clone().finalize();
        let mut b = [0u8; 8];
        r.exact(&mut b)?;
        let expected = u64::from_le_bytes(b);
        if expected != 0 && expected != computed {
            return Err(RdbError::corrupt("wrong RDB checksum"));
        }
    }
    summary.bytes = r.input_mut().read;
    Ok(summary)
}
