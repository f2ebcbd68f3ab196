//! DUMP payloads (behaves like `createDumpPayload()` / `verifyDumpPayload()` of Redis 7.0):
//! a value in RDB form, then the RDB version (u16 LE) and a CRC64 (u64 LE) of everything
//! before it.

use super::codec::{RdbReader, RdbWriter};
use super::{CRC64, RDB_VERSION, RdbError, value};
use crate::keyspace::value::{EncodingLimits, Value};

const FOOTER_LEN: usize = 10;

/// The payload DUMP replies for `value`.
pub fn payload(v: &Value, compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    value::write(&mut RdbWriter::new(&mut out, compress), v);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value part of a payload whose version this server reads and whose checksum holds.
pub fn verify(payload: &[u8]) -> Option<&[u8]> {
    let body_len = payload.len().checked_sub(FOOTER_LEN)?;
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().ok()?);
    (version <= RDB_VERSION && CRC64.checksum(&payload[..body_len + 2]) == crc).then_some(body)
}

/// Reads the value of a verified payload body.
pub fn read_value(body: &[u8], limits: &EncodingLimits) -> Result<Value, RdbError> {
    let mut r = RdbReader::new(body);
    let type_id = r.byte()?;
    value::read(&mut r, type_id, limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::SmallBytes;

    #[test]
    fn a_redis_payload_verifies_and_ours_is_identical() {
        // `SET a40 <40 × a>` then `DUMP a40` on Redis 7.0.15.
        let redis: &[u8] =
            b"\x00\xc3\x09\x28\x01aa\xe0\x1b\x00\x01aa\x0a\x00\xcf\x09\x2f\xaa\xae\x25\x83\x1d";
        let body = verify(redis).expect("valid");
        let limits = EncodingLimits::default();
        let Ok(Value::Str(s)) = read_value(body, &limits) else {
            panic!("not a string");
        };
        assert_eq!(s.as_slice(), &[b'a'; 40][..]);
        assert_eq!(
            payload(&Value::Str(SmallBytes::from_slice(&[b'a'; 40])), true),
            redis
        );
        let mut bad = redis.to_vec();
        bad[5] ^= 1;
        assert_eq!(verify(&bad), None, "checksum");
        let mut newer = redis.to_vec();
        newer[redis.len() - 10] = 11;
        assert_eq!(verify(&newer), None, "version");
        assert_eq!(verify(&redis[..9]), None, "short");
    }
}
