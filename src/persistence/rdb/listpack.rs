//! Listpacks: the flat encoding RDB uses for small hashes and sorted sets, and for the nodes
//! of a list (behaves like Redis 7.0's listpack.c, as far as the bytes go).
//!
//! Layout: total bytes (u32 LE), element count (u16 LE, 65535 = "count them"), the
//! elements, then 0xFF. An element is an encoding byte with its data, then a "backlen" (the
//! encoding + data length, 1–5 bytes of 7 bits) so the list can be walked from the tail. A
//! string that is an exact integer (`string2ll`) is stored as an integer in the smallest
//! form that holds it, as Redis does, so our listpacks are byte-identical to Redis's.

use crate::protocol::parse::parse_i64;

const HEADER_LEN: usize = 6;
const END: u8 = 0xff;
/// The element count at which the header stops counting.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One element as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element<'a> {
    Int(i64),
    Str(&'a [u8]),
}

/// Builds a listpack element by element.
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter::new()
    }
}

impl ListpackWriter {
    pub fn new() -> Self {
        ListpackWriter {
            buf: vec![0; HEADER_LEN],
            count: 0,
        }
    }

    /// The listpack's size in bytes once finished.
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends a string, as an integer when it is one.
    pub fn push(&mut self, s: &[u8]) {
        match parse_i64(s) {
            Some(v) if s.len() <= 20 => self.push_int(v),
            _ => self.push_str(s),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        match v {
            0..=127 => b.push(v as u8),
            -4096..=4095 => {
                let u = (v as u16) & 0x1fff;
                b.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
            }
            -32768..=32767 => {
                b.push(0xf1);
                b.extend_from_slice(&(v as i16).to_le_bytes());
            }
            -8_388_608..=8_388_607 => {
                b.push(0xf2);
                b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            _ if i32::try_from(v).is_ok() => {
                b.push(0xf3);
                b.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                b.push(0xf4);
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.end_element(start);
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let b = &mut self.buf;
        let len = s.len();
        if len < 64 {
            b.push(0x80 | len as u8);
        } else if len < 4096 {
            b.extend_from_slice(&[0xe0 | (len >> 8) as u8, len as u8]);
        } else {
            b.push(0xf0);
            b.extend_from_slice(&(len as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.end_element(start);
    }

    /// Writes the backlen of the element that starts at `start`.
    fn end_element(&mut self, start: usize) {
        let len = self.buf.len() - start;
        let b = &mut self.buf;
        // Most significant group first; every byte but the first carries 0x80, so reading
        // backwards knows when to stop.
        let groups = backlen_size(len);
        for g in (0..groups).rev() {
            let bits = ((len >> (7 * g)) & 0x7f) as u8;
            b.push(if g == groups - 1 { bits } else { bits | 0x80 });
        }
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// The bytes [`ListpackWriter::push`] adds for `s`: encoding, data and backlen.
pub fn element_size(s: &[u8]) -> usize {
    let len = match parse_i64(s) {
        Some(v) if s.len() <= 20 => match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8_388_608..=8_388_607 => 4,
            _ if i32::try_from(v).is_ok() => 5,
            _ => 9,
        },
        _ if s.len() < 64 => 1 + s.len(),
        _ if s.len() < 4096 => 2 + s.len(),
        _ => 5 + s.len(),
    };
    len + backlen_size(len)
}

/// The elements of a listpack, checking its structure (sizes, terminator, count) as
/// Redis's deep validation does; None when it is malformed.
pub fn decode(lp: &[u8]) -> Option<Vec<Element<'_>>> {
    let total = u32::from_le_bytes(lp.get(..4)?.try_into().ok()?) as usize;
    let count = u16::from_le_bytes(lp.get(4..6)?.try_into().ok()?);
    if total != lp.len() || lp.last() != Some(&END) {
        return None;
    }
    let mut out = Vec::with_capacity(usize::from(count.min(4096)));
    let mut pos = HEADER_LEN;
    while lp[pos] != END {
        let (element, len) = element_at(&lp[pos..lp.len() - 1])?;
        let backlen_len = backlen_size(len);
        let backlen = lp.get(pos + len..pos + len + backlen_len)?;
        if read_backlen(backlen)? != len {
            return None;
        }
        out.push(element);
        pos += len + backlen_len;
        if pos >= lp.len() {
            return None;
        }
    }
    if pos != lp.len() - 1 || (count != COUNT_UNKNOWN && usize::from(count) != out.len()) {
        return None;
    }
    Some(out)
}

fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

fn read_backlen(bytes: &[u8]) -> Option<usize> {
    let (first, rest) = bytes.split_first()?;
    if first & 0x80 != 0 {
        return None;
    }
    let mut v = usize::from(*first);
    for b in rest {
        if b & 0x80 == 0 {
            return None;
        }
        v = (v << 7) | usize::from(b & 0x7f);
    }
    Some(v)
}

/// The element at the start of `b` and its encoded length (without the backlen).
fn element_at(b: &[u8]) -> Option<(Element<'_>, usize)> {
    let first = *b.first()?;
    let le = |n: usize| -> Option<u64> {
        let bytes = b.get(1..1 + n)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |v, &x| (v << 8) | u64::from(x)),
        )
    };
    let sign_extend = |v: u64, bits: u32| ((v << (64 - bits)) as i64) >> (64 - bits);
    let string = |header: usize, len: usize| {
        let s = b.get(header..header + len)?;
        Some((Element::Str(s), header + len))
    };
    match first {
        0x00..=0x7f => Some((Element::Int(i64::from(first)), 1)),
        0x80..=0xbf => string(1, usize::from(first & 0x3f)),
        0xc0..=0xdf => {
            let v = (u64::from(first & 0x1f) << 8) | u64::from(*b.get(1)?);
            Some((Element::Int(sign_extend(v, 13)), 2))
        }
        0xe0..=0xef => string(
            2,
            (usize::from(first & 0x0f) << 8) | usize::from(*b.get(1)?),
        ),
        0xf0 => string(5, le(4)? as usize),
        0xf1 => Some((Element::Int(sign_extend(le(2)?, 16)), 3)),
        0xf2 => Some((Element::Int(sign_extend(le(3)?, 24)), 4)),
        0xf3 => Some((Element::Int(sign_extend(le(4)?, 32)), 5)),
        0xf4 => Some((Element::Int(le(8)? as i64), 9)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(items: &[&[u8]]) -> Vec<u8> {
        let mut w = ListpackWriter::new();
        for i in items {
            w.push(i);
        }
        w.finish()
    }

    /// Bytes Redis 7.0 keeps for `HSET h a 1 b 300 c -5000 d hello` (from DEBUG LISTPACK
    /// and a DUMP payload).
    #[test]
    fn small_values_encode_as_redis_does() {
        let lp = build(&[b"a", b"1", b"b", b"300", b"c", b"-5000", b"d", b"hello"]);
        let expected: &[u8] = &[
            0x23, 0, 0, 0, 8, 0, // header: 35 bytes, 8 elements
            0x81, b'a', 2, 0x01, 1, // "a", 1
            0x81, b'b', 2, 0xc1, 0x2c, 2, // "b", 300 as 13-bit
            0x81, b'c', 2, 0xf1, 0x78, 0xec, 3, // "c", -5000 as 16-bit
            0x81, b'd', 2, 0x85, b'h', b'e', b'l', b'l', b'o', 6, // "d", "hello"
            0xff,
        ];
        assert_eq!(lp, expected);
    }

    #[test]
    fn every_encoding_round_trips() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let ints: Vec<String> = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -32768,
            32767,
            40000,
            -8_388_608,
            8_388_607,
            8_388_608,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MIN,
            i64::MAX,
        ]
        .iter()
        .map(|v| v.to_string())
        .collect();
        let mut items: Vec<&[u8]> = ints.iter().map(|s| s.as_bytes()).collect();
        items.extend([&b""[..], b"007", b"-0", b"+1", b"1 ", &mid, &long]);
        let lp = build(&items);
        let decoded = decode(&lp).expect("valid");
        assert_eq!(decoded.len(), items.len());
        for (got, want) in decoded.iter().zip(&items) {
            match got {
                Element::Int(v) => assert_eq!(v.to_string().as_bytes(), *want),
                Element::Str(s) => assert_eq!(s, want),
            }
        }
        assert!(matches!(decoded[0], Element::Int(0)));
        assert!(matches!(decoded[18], Element::Str(b"007")));
    }

    #[test]
    fn element_size_is_what_push_adds() {
        let long = vec![b'z'; 5000];
        let mid = vec![b'z'; 100];
        for s in [
            &b"1"[..],
            b"-1",
            b"300",
            b"-5000",
            b"100000",
            b"3000000000",
            b"x",
            &mid,
            &long,
        ] {
            let mut w = ListpackWriter::new();
            let before = w.size();
            w.push(s);
            assert_eq!(
                w.size() - before,
                element_size(s),
                "{:?}",
                &s[..s.len().min(8)]
            );
        }
    }

    #[test]
    fn large_counts_and_malformed_input() {
        let mut w = ListpackWriter::new();
        for i in 0..70_000 {
            w.push_int(i);
        }
        let lp = w.finish();
        assert_eq!(&lp[4..6], &[0xff, 0xff]);
        assert_eq!(decode(&lp).map(|v| v.len()), Some(70_000));
        let good = build(&[b"a", b"12345"]);
        assert!(decode(&good).is_some());
        for cut in 0..good.len() {
            assert_eq!(decode(&good[..cut]), None, "cut at {cut}");
        }
        let mut bad_count = good.clone();
        bad_count[4] = 3;
        assert_eq!(decode(&bad_count), None);
        let mut bad_backlen = good.clone();
        bad_backlen[8] = 9;
        assert_eq!(decode(&bad_backlen), None);
        let mut bad_len = good;
        bad_len[0] += 1;
        assert_eq!(decode(&bad_len), None);
    }
}
