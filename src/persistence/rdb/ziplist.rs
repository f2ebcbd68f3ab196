//! Ziplists and zipmaps: the compact encodings of RDB files written before Redis 7.0
//! (lists, hashes and sorted sets up to RDB 9; zipmaps before Redis 2.6). Read only:
//! nothing writes them any more.
//!
//! Ziplist layout: total bytes (u32 LE), offset of the last entry (u32 LE), count (u16 LE,
//! 65535 = "count them"), entries, 0xFF. An entry is the previous entry's length (1 byte,
//! or 0xFE and a u32 LE), an encoding with its data, nothing after.

use super::listpack::Element;

const HEADER_LEN: usize = 10;
const END: u8 = 0xff;
const COUNT_UNKNOWN: u16 = u16::MAX;

/// The elements of a ziplist; None when it is malformed (sizes, back links, tail offset,
/// count or terminator).
pub fn decode(zl: &[u8]) -> Option<Vec<Element<'_>>> {
    let total = u32::from_le_bytes(zl.get(..4)?.try_into().ok()?) as usize;
    let tail = u32::from_le_bytes(zl.get(4..8)?.try_into().ok()?) as usize;
    let count = u16::from_le_bytes(zl.get(8..10)?.try_into().ok()?);
    if total != zl.len() || zl.last() != Some(&END) {
        return None;
    }
    let body = &zl[..zl.len() - 1];
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    let mut prev_len = 0;
    let mut last_start = HEADER_LEN;
    while pos < body.len() {
        let (stored_prev, prev_size) = match *body.get(pos)? {
            0xfe => (
                u32::from_le_bytes(body.get(pos + 1..pos + 5)?.try_into().ok()?) as usize,
                5,
            ),
            0xff => return None,
            b => (usize::from(b), 1),
        };
        if stored_prev != prev_len {
            return None;
        }
        let (element, data_len) = element_at(&body[pos + prev_size..])?;
        last_start = pos;
        prev_len = prev_size + data_len;
        pos += prev_len;
        out.push(element);
    }
    let tail_ok = tail == last_start || (out.is_empty() && tail == HEADER_LEN);
    let count_ok = count == COUNT_UNKNOWN || usize::from(count) == out.len();
    (pos == body.len() && tail_ok && count_ok).then_some(out)
}

/// The element at the start of `b` (after its previous-length field) and the length of
/// its encoding and data.
fn element_at(b: &[u8]) -> Option<(Element<'_>, usize)> {
    let first = *b.first()?;
    let int = |n: usize| -> Option<(Element<'_>, usize)> {
        let bytes = b.get(1..1 + n)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(bytes);
        let shift = 64 - 8 * n as u32;
        Some((
            Element::Int((i64::from_le_bytes(v) << shift) >> shift),
            1 + n,
        ))
    };
    let string = |header: usize, len: usize| {
        let s = b.get(header..header.checked_add(len)?)?;
        Some((Element::Str(s), header + len))
    };
    match first {
        0x00..=0x3f => string(1, usize::from(first)),
        0x40..=0x7f => string(
            2,
            (usize::from(first & 0x3f) << 8) | usize::from(*b.get(1)?),
        ),
        0x80 => string(
            5,
            u32::from_be_bytes(b.get(1..5)?.try_into().ok()?) as usize,
        ),
        0xc0 => int(2),
        0xd0 => int(4),
        0xe0 => int(8),
        0xf0 => int(3),
        0xfe => int(1),
        0xf1..=0xfd => Some((Element::Int(i64::from(first & 0x0f) - 1), 1)),
        _ => None,
    }
}

/// The field/value pairs of a zipmap (Redis before 2.6): a count byte, then per pair the
/// field's length and bytes, the value's length, a "free" byte count, the value and that
/// many unused bytes, and 0xFF. A length is one byte below 254, or 254 and a u32 LE.
pub fn decode_zipmap(zm: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut pos = 1;
    let mut pairs = Vec::new();
    let len_at = |pos: usize| -> Option<(usize, usize)> {
        match *zm.get(pos)? {
            254 => Some((
                u32::from_le_bytes(zm.get(pos + 1..pos + 5)?.try_into().ok()?) as usize,
                5,
            )),
            255 => None,
            b => Some((usize::from(b), 1)),
        }
    };
    while *zm.get(pos)? != END {
        let (field_len, size) = len_at(pos)?;
        pos += size;
        let field = zm.get(pos..pos.checked_add(field_len)?)?;
        pos += field_len;
        let (value_len, size) = len_at(pos)?;
        pos += size;
        let free = usize::from(*zm.get(pos)?);
        pos += 1;
        let value = zm.get(pos..pos.checked_add(value_len)?)?;
        pos += value_len + free;
        pairs.push((field, value));
    }
    (pos + 1 == zm.len()).then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ziplist holding "hello", 1, -2 and 300000, laid out by hand from the format.
    fn sample() -> Vec<u8> {
        let mut zl = vec![0; HEADER_LEN];
        let entries: [&[u8]; 4] = [
            &[0x00, 0x05, b'h', b'e', b'l', b'l', b'o'],
            &[0x07, 0xf2],
            &[0x02, 0xfe, 0xfe],
            &[0x03, 0xf0, 0xe0, 0x93, 0x04],
        ];
        let mut last = 0;
        for e in entries {
            last = zl.len();
            zl.extend_from_slice(e);
        }
        zl.push(END);
        let total = zl.len() as u32;
        zl[..4].copy_from_slice(&total.to_le_bytes());
        zl[4..8].copy_from_slice(&(last as u32).to_le_bytes());
        zl[8..10].copy_from_slice(&4u16.to_le_bytes());
        zl
    }

    #[test]
    fn reads_every_entry_kind() {
        let zl = sample();
        assert_eq!(
            decode(&zl),
            Some(vec![
                Element::Str(b"hello"),
                Element::Int(1),
                Element::Int(-2),
                Element::Int(300_000),
            ])
        );
    }

    #[test]
    fn rejects_malformed_ziplists() {
        let zl = sample();
        for cut in 0..zl.len() {
            assert_eq!(decode(&zl[..cut]), None, "cut at {cut}");
        }
        let mut bad_prev = zl.clone();
        bad_prev[17] = 3;
        assert_eq!(decode(&bad_prev), None);
        let mut bad_tail = zl.clone();
        bad_tail[4] = 11;
        assert_eq!(decode(&bad_tail), None);
        let mut bad_count = zl;
        bad_count[8] = 5;
        assert_eq!(decode(&bad_count), None);
    }

    #[test]
    fn reads_zipmaps() {
        let zm = [
            2, 1, b'a', 3, 0, b'x', b'y', b'z', 1, b'b', 1, 2, b'v', 0, 0, END,
        ];
        assert_eq!(
            decode_zipmap(&zm),
            Some(vec![(&b"a"[..], &b"xyz"[..]), (&b"b"[..], &b"v"[..])])
        );
        assert_eq!(decode_zipmap(&zm[..zm.len() - 1]), None);
        assert_eq!(decode_zipmap(&[0, 5, b'a']), None);
    }
}
