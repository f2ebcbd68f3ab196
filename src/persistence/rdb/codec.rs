//! RDB's primitive fields: lengths, strings (integer-encoded, LZF-compressed or plain) and
//! doubles (behaves like `rdbSaveLen()` / `rdbLoadLen()`, `rdbSaveRawString()` /
//! `rdbGenericLoadStringObject()` and the double helpers of Redis 7.0's rdb.c).

use std::io::Read;

use super::{RdbError, lzf};
use crate::protocol::parse::parse_i64;

/// A length's first byte: the top two bits say how long it is.
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
/// Top bits 11: not a length but a special string encoding in the low 6 bits.
const ENCVAL: u8 = 3;
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Writes RDB fields into a buffer.
pub struct RdbWriter<'a> {
    out: &'a mut Vec<u8>,
    /// `rdbcompression`: strings over 20 bytes are LZF-compressed when that saves > 4 bytes.
    compress: bool,
}

impl<'a> RdbWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>, compress: bool) -> Self {
        RdbWriter { out, compress }
    }

    pub fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    pub fn length(&mut self, n: u64) {
        if n < 1 << 6 {
            self.out.push(n as u8);
        } else if n < 1 << 14 {
            self.out
                .extend_from_slice(&[(LEN_14BIT << 6) | (n >> 8) as u8, n as u8]);
        } else if let Ok(n) = u32::try_from(n) {
            self.out.push(LEN_32BIT);
            self.out.extend_from_slice(&n.to_be_bytes());
        } else {
            self.out.push(LEN_64BIT);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A string as Redis stores it: short canonical integers in 1–4 bytes, long strings
    /// LZF-compressed when that pays, anything else length-prefixed.
    pub fn string(&mut self, s: &[u8]) {
        if s.len() <= 11
            && let Some(v) = parse_i64(s)
            && self.try_int(v)
        {
            return;
        }
        if self.compress
            && s.len() > 20
            && let Some(packed) = lzf::compress(s, s.len() - 4)
        {
            self.out.push((ENCVAL << 6) | ENC_LZF);
            self.length(packed.len() as u64);
            self.length(s.len() as u64);
            self.out.extend_from_slice(&packed);
            return;
        }
        self.length(s.len() as u64);
        self.out.extend_from_slice(s);
    }

    /// Writes `v` in an integer encoding when it fits 32 bits.
    fn try_int(&mut self, v: i64) -> bool {
        if let Ok(b) = i8::try_from(v) {
            self.out.push((ENCVAL << 6) | ENC_INT8);
            self.out.extend_from_slice(&b.to_le_bytes());
        } else if let Ok(b) = i16::try_from(v) {
            self.out.push((ENCVAL << 6) | ENC_INT16);
            self.out.extend_from_slice(&b.to_le_bytes());
        } else if let Ok(b) = i32::try_from(v) {
            self.out.push((ENCVAL << 6) | ENC_INT32);
            self.out.extend_from_slice(&b.to_le_bytes());
        } else {
            return false;
        }
        true
    }

    /// An integer written as a string (`rdbSaveLongLongAsStringObject()`).
    pub fn int_string(&mut self, v: i64) {
        if !self.try_int(v) {
            self.string(itoa::Buffer::new().format(v).as_bytes());
        }
    }

    pub fn binary_double(&mut self, d: f64) {
        self.out.extend_from_slice(&d.to_le_bytes());
    }
}

/// Reads RDB fields from any byte source, allocating only as data actually arrives (a
/// length field cannot make it reserve more than the input holds).
pub struct RdbReader<R> {
    input: R,
}

/// A length field: a count, or the marker of a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<R: Read> RdbReader<R> {
    pub fn new(input: R) -> Self {
        RdbReader { input }
    }

    pub fn into_inner(self) -> R {
        self.input
    }

    pub fn input_mut(&mut self) -> &mut R {
        &mut self.input
    }

    pub fn byte(&mut self) -> Result<u8, RdbError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    pub fn exact(&mut self, buf: &mut [u8]) -> Result<(), RdbError> {
        self.input.read_exact(buf).map_err(RdbError::from_read)
    }

    /// `n` bytes, read in steps so a lying length costs no more memory than the input.
    pub fn take(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        let mut out = Vec::with_capacity(n.min(64 * 1024) as usize);
        let got = (&mut self.input)
            .take(n)
            .read_to_end(&mut out)
            .map_err(RdbError::from_read)?;
        if got as u64 != n {
            return Err(RdbError::Truncated);
        }
        Ok(out)
    }

    fn raw_len(&mut self) -> Result<Len, RdbError> {
        let first = self.byte()?;
        match first >> 6 {
            LEN_6BIT => Ok(Len::Plain(u64::from(first & 0x3f))),
            LEN_14BIT => Ok(Len::Plain(
                (u64::from(first & 0x3f) << 8) | u64::from(self.byte()?),
            )),
            ENCVAL => Ok(Len::Encoded(first & 0x3f)),
            _ => match first {
                LEN_32BIT => {
                    let mut b = [0u8; 4];
                    self.exact(&mut b)?;
                    Ok(Len::Plain(u64::from(u32::from_be_bytes(b))))
                }
                LEN_64BIT => {
                    let mut b = [0u8; 8];
                    self.exact(&mut b)?;
                    Ok(Len::Plain(u64::from_be_bytes(b)))
                }
                _ => Err(RdbError::corrupt("unknown length encoding")),
            },
        }
    }

    pub fn length(&mut self) -> Result<u64, RdbError> {
        match self.raw_len()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(RdbError::corrupt(
                "a string encoding where a length belongs",
            )),
        }
    }

    /// A length used as an element count or size in memory.
    pub fn count(&mut self) -> Result<usize, RdbError> {
        usize::try_from(self.length()?).map_err(|_| RdbError::corrupt("length out of range"))
    }

    pub fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.raw_len()? {
            Len::Plain(n) => self.take(n),
            Len::Encoded(ENC_INT8) => self.int_text(1),
            Len::Encoded(ENC_INT16) => self.int_text(2),
            Len::Encoded(ENC_INT32) => self.int_text(4),
            Len::Encoded(ENC_LZF) => {
                let packed_len = self.length()?;
                let len = self.count()?;
                if len == 0 {
                    return Err(RdbError::corrupt("compressed string of length 0"));
                }
                let packed = self.take(packed_len)?;
                lzf::decompress(&packed, len).ok_or_else(|| RdbError::corrupt("invalid LZF data"))
            }
            Len::Encoded(_) => Err(RdbError::corrupt("unknown string encoding")),
        }
    }

    /// A little-endian signed integer of `width` bytes, as decimal text.
    fn int_text(&mut self, width: usize) -> Result<Vec<u8>, RdbError> {
        let mut b = [0u8; 8];
        self.exact(&mut b[..width])?;
        let shift = 64 - 8 * width as u32;
        let v = (i64::from_le_bytes(b) << shift) >> shift;
        Ok(itoa::Buffer::new().format(v).as_bytes().to_vec())
    }

    pub fn binary_double(&mut self) -> Result<f64, RdbError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(f64::from_le_bytes(b))
    }

    /// The text form of old RDB versions (`rdbLoadDoubleValue()`): a length byte, with 253,
    /// 254 and 255 standing for NaN, +inf and -inf.
    pub fn text_double(&mut self) -> Result<f64, RdbError> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            len => {
                let text = self.take(u64::from(len))?;
                std::str::from_utf8(&text)
                    .ok()
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .ok_or_else(|| RdbError::corrupt("invalid double"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut RdbWriter<'_>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut RdbWriter::new(&mut out, true));
        out
    }

    #[test]
    fn lengths_round_trip_in_each_size() {
        for (n, size) in [
            (0u64, 1),
            (63, 1),
            (64, 2),
            (16383, 2),
            (16384, 5),
            (u64::from(u32::MAX), 5),
            (u64::from(u32::MAX) + 1, 9),
        ] {
            let b = written(|w| w.length(n));
            assert_eq!(b.len(), size, "{n}");
            assert_eq!(RdbReader::new(&b[..]).length().ok(), Some(n));
        }
    }

    /// Byte forms from Redis 7.0 DUMP payloads (`SET k <value>`, `DUMP k`).
    #[test]
    fn strings_encode_as_redis_does() {
        assert_eq!(written(|w| w.string(b"12")), [0xc0, 12]);
        assert_eq!(written(|w| w.string(b"-300")), [0xc1, 0xd4, 0xfe]);
        assert_eq!(written(|w| w.string(b"100000")), [0xc2, 0xa0, 0x86, 1, 0]);
        assert_eq!(written(|w| w.string(b"012")), [3, b'0', b'1', b'2']);
        assert_eq!(
            written(|w| w.string(b"3000000000"))[0],
            10,
            "beyond 32 bits: text"
        );
        let a40 = written(|w| w.string(&[b'a'; 40]));
        assert_eq!(
            a40,
            [
                0xc3, 9, 40, 0x01, b'a', b'a', 0xe0, 0x1b, 0x00, 0x01, b'a', b'a'
            ]
        );
        let mut plain = Vec::new();
        RdbWriter::new(&mut plain, false).string(&[b'a'; 40]);
        assert_eq!(plain.len(), 41);
        for b in [a40, plain] {
            assert_eq!(RdbReader::new(&b[..]).string().ok(), Some(vec![b'a'; 40]));
        }
    }

    #[test]
    fn lying_lengths_fail_without_allocating_them() {
        let b = [
            LEN_64BIT, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'x',
        ];
        assert!(matches!(
            RdbReader::new(&b[..]).string(),
            Err(RdbError::Truncated)
        ));
        let lzf = [0xc3, 0x02, LEN_32BIT, 0x7f, 0xff, 0xff, 0xff, 0x00, b'a'];
        assert!(RdbReader::new(&lzf[..]).string().is_err());
        assert!(RdbReader::new(&[0xc5u8][..]).string().is_err());
        assert!(RdbReader::new(&[0x82u8][..]).length().is_err());
    }

    #[test]
    fn doubles_in_both_forms() {
        let b = written(|w| w.binary_double(1.5));
        assert_eq!(RdbReader::new(&b[..]).binary_double().ok(), Some(1.5));
        let text = [3, b'2', b'.', b'5', 254, 255];
        let mut r = RdbReader::new(&text[..]);
        assert_eq!(r.text_double().ok(), Some(2.5));
        assert_eq!(r.text_double().ok(), Some(f64::INFINITY));
        assert_eq!(r.text_double().ok(), Some(f64::NEG_INFINITY));
        assert!(
            RdbReader::new(&[253u8][..])
                .text_double()
                .is_ok_and(f64::is_nan)
        );
    }
}
