//! One value in RDB form: its type byte and body (behaves like `rdbSaveObjectType()` /
//! `rdbSaveObject()` and `rdbLoadObject()` of Redis 7.0).
//!
//! Writing picks the type Redis 7.0 would for the same OBJECT ENCODING, so small values are
//! byte-identical to Redis's: strings; lists as quicklist-2 nodes of listpacks up to 8 KiB
//! (`list-max-listpack-size -2`); intsets; hash and sorted-set listpacks; otherwise plain
//! element sequences (sorted sets from the highest score down, as Redis walks them).
//!
//! Reading accepts every type Redis 7.0 and 7.2 write, and the older ziplist / zipmap /
//! linked-list forms, and rebuilds the value with the encoding Redis would give it after
//! loading. Streams and module values are refused by name, never dropped.

use std::io::Read;

use super::codec::{RdbReader, RdbWriter};
use super::listpack::{self, Element, ListpackWriter};
use super::{RdbError, intset, types, ziplist};
use crate::keyspace::SmallBytes;
use crate::keyspace::list::ListValue;
use crate::keyspace::value::{EncodingLimits, HashValue, SetValue, Value};
use crate::keyspace::zset::{ZSetValue, listpack_score_text};

/// The largest listpack a quicklist node is given (Redis's default fill, -2).
const LIST_NODE_BYTES: usize = 8192;
/// `QUICKLIST_NODE_CONTAINER_PLAIN` / `_PACKED`.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Writes `value`'s type byte and body (a DUMP payload's value).
pub fn write(w: &mut RdbWriter<'_>, value: &Value) {
    write_with_key(w, None, value);
}

/// Writes a key-value record: the type byte, the key, the body.
pub fn write_keyed(w: &mut RdbWriter<'_>, key: &[u8], value: &Value) {
    write_with_key(w, Some(key), value);
}

fn write_with_key(w: &mut RdbWriter<'_>, key: Option<&[u8]>, value: &Value) {
    let head = |w: &mut RdbWriter<'_>, type_id: u8| {
        w.byte(type_id);
        if let Some(k) = key {
            w.string(k);
        }
    };
    match value {
        Value::Str(s) => {
            head(w, types::STRING);
            w.string(s);
        }
        Value::List(list) => {
            let nodes = list_nodes(list);
            head(w, types::LIST_QUICKLIST_2);
            w.length(nodes.len() as u64);
            for lp in nodes {
                w.length(CONTAINER_PACKED);
                w.string(&lp);
            }
        }
        Value::Set(set) => match set.as_ref() {
            SetValue::Ints(ints) => {
                head(w, types::SET_INTSET);
                w.string(&intset::encode(ints));
            }
            SetValue::Table(members) => {
                head(w, types::SET);
                w.length(members.len() as u64);
                for m in members.iter() {
                    w.string(m);
                }
            }
        },
        Value::Hash(hash) => match hash.as_ref() {
            HashValue::Pairs(pairs) => {
                let mut lp = ListpackWriter::new();
                for (field, value) in pairs {
                    lp.push(field);
                    lp.push(value);
                }
                head(w, types::HASH_LISTPACK);
                w.string(&lp.finish());
            }
            HashValue::Table(pairs) => {
                head(w, types::HASH);
                w.length(pairs.len() as u64);
                for (field, value) in pairs.iter() {
                    w.string(field);
                    w.string(value);
                }
            }
        },
        Value::ZSet(z) if z.is_listpack() => {
            let mut lp = ListpackWriter::new();
            let mut buf = [0u8; 40];
            for (member, score) in z.iter() {
                lp.push(member);
                lp.push(listpack_score_text(score, &mut buf));
            }
            head(w, types::ZSET_LISTPACK);
            w.string(&lp.finish());
        }
        Value::ZSet(z) => {
            head(w, types::ZSET_2);
            w.length(z.len() as u64);
            for (member, score) in z.iter().rev() {
                w.string(member);
                w.binary_double(score);
            }
        }
    }
}

/// A list as quicklist nodes: listpacks of at most [`LIST_NODE_BYTES`] (or one element).
fn list_nodes(list: &ListValue) -> Vec<Vec<u8>> {
    let mut nodes = Vec::new();
    let mut node = ListpackWriter::new();
    for item in list.items() {
        if node.count() > 0 && node.size() + listpack::element_size(item) > LIST_NODE_BYTES {
            nodes.push(std::mem::take(&mut node).finish());
        }
        node.push(item);
    }
    if node.count() > 0 {
        nodes.push(node.finish());
    }
    nodes
}

/// Reads the body of a value of type `type_id`, building it as Redis would encode it under
/// `limits`.
pub fn read<R: Read>(
    r: &mut RdbReader<R>,
    type_id: u8,
    limits: &EncodingLimits,
) -> Result<Value, RdbError> {
    let value = match type_id {
        types::STRING => return Ok(Value::Str(SmallBytes::from_vec(r.string()?))),
        types::LIST => {
            let n = r.length()?;
            let mut list = ListValue::new();
            for _ in 0..n {
                list.push_tail(&r.string()?);
            }
            Value::List(Box::new(list))
        }
        types::LIST_ZIPLIST => {
            let blob = r.string()?;
            let mut list = ListValue::new();
            for e in ziplist::decode(&blob).ok_or(RdbError::corrupt("list ziplist"))? {
                list.push_tail(&element_bytes(e));
            }
            Value::List(Box::new(list))
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => read_quicklist(r, type_id)?,
        types::SET => read_set(r, limits)?,
        types::SET_INTSET => {
            let blob = r.string()?;
            let ints = intset::decode(&blob).ok_or(RdbError::corrupt("intset"))?;
            let mut set = SetValue::Ints(ints);
            if set.len() > limits.set_max_intset_entries {
                set.convert_to_table();
            }
            Value::Set(Box::new(set))
        }
        types::SET_LISTPACK => {
            let blob = r.string()?;
            let elements = listpack::decode(&blob).ok_or(RdbError::corrupt("set listpack"))?;
            let mut set = SetValue::Table(Default::default());
            for e in elements {
                if !set.add(&element_bytes(e), limits) {
                    return Err(RdbError::corrupt("duplicate set members"));
                }
            }
            Value::Set(Box::new(set))
        }
        types::HASH => read_hash(r, limits)?,
        types::HASH_ZIPMAP => {
            let blob = r.string()?;
            let pairs = ziplist::decode_zipmap(&blob).ok_or(RdbError::corrupt("zipmap"))?;
            let pairs = pairs
                .into_iter()
                .map(|(f, v)| (SmallBytes::from_slice(f), SmallBytes::from_slice(v)));
            hash_from_pairs(pairs, limits)?
        }
        types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            let blob = r.string()?;
            let elements = decode_blob(&blob, type_id == types::HASH_ZIPLIST, "hash listpack")?;
            let pairs = pairs_of(&elements)?.map(|(f, v)| (element_bytes(f), element_bytes(v)));
            hash_from_pairs(pairs, limits)?
        }
        types::ZSET | types::ZSET_2 => {
            let n = r.length()?;
            let mut z = ZSetValue::new_skiplist();
            for _ in 0..n {
                let member = r.string()?;
                let score = if type_id == types::ZSET_2 {
                    r.binary_double()?
                } else {
                    r.text_double()?
                };
                add_scored(&mut z, &member, score, limits)?;
            }
            z.convert_to_listpack_if_fits(limits);
            Value::ZSet(Box::new(z))
        }
        types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            let blob = r.string()?;
            let elements =
                decode_blob(&blob, type_id == types::ZSET_ZIPLIST, "sorted set listpack")?;
            let mut z = ZSetValue::new_skiplist();
            for (member, score) in pairs_of(&elements)? {
                let score = match score {
                    Element::Int(v) => v as f64,
                    Element::Str(s) => parse_score(s)?,
                };
                add_scored(&mut z, &element_bytes(member), score, limits)?;
            }
            // A listpack stays one up to the entry limit, whatever its members' lengths.
            let by_count = EncodingLimits {
                zset_max_listpack_value: usize::MAX,
                ..*limits
            };
            z.convert_to_listpack_if_fits(&by_count);
            Value::ZSet(Box::new(z))
        }
        types::MODULE | types::MODULE_2 => return Err(RdbError::Unsupported(type_id, "module")),
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
            return Err(RdbError::Unsupported(type_id, "stream"));
        }
        _ => return Err(RdbError::corrupt("unknown value type")),
    };
    if value_is_empty(&value) {
        return Err(RdbError::EmptyKey);
    }
    Ok(value)
}

/// The elements of a ziplist or listpack blob.
fn decode_blob<'a>(
    blob: &'a [u8],
    is_ziplist: bool,
    what: &'static str,
) -> Result<Vec<Element<'a>>, RdbError> {
    let elements = if is_ziplist {
        ziplist::decode(blob)
    } else {
        listpack::decode(blob)
    };
    elements.ok_or(RdbError::Corrupt(what))
}

fn value_is_empty(value: &Value) -> bool {
    match value {
        Value::Str(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::ZSet(z) => z.is_empty(),
    }
}

fn read_quicklist<R: Read>(r: &mut RdbReader<R>, type_id: u8) -> Result<Value, RdbError> {
    let nodes = r.length()?;
    let mut list = ListValue::new();
    for _ in 0..nodes {
        let container = if type_id == types::LIST_QUICKLIST_2 {
            r.length()?
        } else {
            CONTAINER_PACKED
        };
        let blob = r.string()?;
        match container {
            CONTAINER_PLAIN => list.push_tail(&blob),
            CONTAINER_PACKED => {
                let elements =
                    decode_blob(&blob, type_id == types::LIST_QUICKLIST, "quicklist node")?;
                for e in elements {
                    list.push_tail(&element_bytes(e));
                }
            }
            _ => return Err(RdbError::corrupt("quicklist container")),
        }
    }
    Ok(Value::List(Box::new(list)))
}

/// RDB_TYPE_SET: an intset while the members are integers and few enough.
fn read_set<R: Read>(r: &mut RdbReader<R>, limits: &EncodingLimits) -> Result<Value, RdbError> {
    let n = r.length()?;
    let mut set = if n > limits.set_max_intset_entries as u64 {
        SetValue::Table(Default::default())
    } else {
        SetValue::Ints(Vec::new())
    };
    for _ in 0..n {
        if !set.add(&r.string()?, limits) {
            return Err(RdbError::corrupt("duplicate set members"));
        }
    }
    Ok(Value::Set(Box::new(set)))
}

/// RDB_TYPE_HASH: a listpack while it fits the entry and value limits.
fn read_hash<R: Read>(r: &mut RdbReader<R>, limits: &EncodingLimits) -> Result<Value, RdbError> {
    let n = r.length()?;
    let mut hash = HashValue::new();
    if n > limits.hash_max_listpack_entries as u64 {
        hash.convert_to_table();
    }
    for _ in 0..n {
        let field = r.string()?;
        let value = r.string()?;
        if !hash.set(&field, &value, limits) {
            return Err(RdbError::corrupt("duplicate hash fields"));
        }
    }
    Ok(Value::Hash(Box::new(hash)))
}

/// A hash from a listpack, ziplist or zipmap: it stays a listpack up to the entry limit,
/// whatever its values' lengths.
fn hash_from_pairs(
    pairs: impl Iterator<Item = (SmallBytes, SmallBytes)>,
    limits: &EncodingLimits,
) -> Result<Value, RdbError> {
    let by_count = EncodingLimits {
        hash_max_listpack_value: usize::MAX,
        ..*limits
    };
    let mut hash = HashValue::new();
    for (field, value) in pairs {
        if !hash.set(&field, &value, &by_count) {
            return Err(RdbError::corrupt("duplicate hash fields"));
        }
    }
    Ok(Value::Hash(Box::new(hash)))
}

fn pairs_of<'a>(
    elements: &'a [Element<'a>],
) -> Result<impl Iterator<Item = (Element<'a>, Element<'a>)> + 'a, RdbError> {
    if !elements.len().is_multiple_of(2) {
        return Err(RdbError::corrupt(
            "odd number of elements in a pair listpack",
        ));
    }
    Ok(elements.chunks_exact(2).map(|p| (p[0], p[1])))
}

fn add_scored(
    z: &mut ZSetValue,
    member: &[u8],
    score: f64,
    limits: &EncodingLimits,
) -> Result<(), RdbError> {
    if score.is_nan() {
        return Err(RdbError::corrupt("sorted set score is NaN"));
    }
    if !z.insert(member, score, limits) {
        return Err(RdbError::corrupt("duplicate sorted set members"));
    }
    Ok(())
}

fn parse_score(s: &[u8]) -> Result<f64, RdbError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| match t {
            "inf" | "+inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => t.parse::<f64>().ok(),
        })
        .ok_or(RdbError::corrupt("sorted set score"))
}

fn element_bytes(e: Element<'_>) -> SmallBytes {
    match e {
        Element::Int(v) => SmallBytes::from_slice(itoa::Buffer::new().format(v).as_bytes()),
        Element::Str(s) => SmallBytes::from_slice(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Value) -> Value {
        let mut out = Vec::new();
        write(&mut RdbWriter::new(&mut out, true), v);
        let mut r = RdbReader::new(&out[..]);
        let type_id = r.byte().expect("type");
        let back = read(&mut r, type_id, &EncodingLimits::default()).expect("readable");
        assert!(r.into_inner().is_empty(), "all consumed");
        back
    }

    /// Every element of a value as text, in a canonical order, plus its encoding.
    fn contents(v: &Value) -> (Vec<Vec<u8>>, &'static str) {
        let mut items: Vec<Vec<u8>> = match v {
            Value::Str(s) => vec![s.to_vec()],
            Value::List(l) => return (l.items().iter().map(|i| i.to_vec()).collect(), "quicklist"),
            Value::Set(s) => s.members().iter().map(|m| m.to_vec()).collect(),
            Value::Hash(h) => h
                .pairs()
                .iter()
                .map(|(f, v)| [f.as_slice(), b"=", v].concat())
                .collect(),
            Value::ZSet(z) => z
                .iter()
                .map(|(m, s)| [m, b"=", s.to_string().as_bytes()].concat())
                .collect(),
        };
        items.sort();
        let encoding = match v {
            Value::Str(_) => "string",
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::ZSet(z) => z.encoding(),
        };
        (items, encoding)
    }

    fn sample_values() -> Vec<Value> {
        let limits = EncodingLimits::default();
        let mut values = vec![
            Value::Str(SmallBytes::from_slice(b"12")),
            Value::Str(SmallBytes::from_slice(&[b'q'; 1000])),
        ];
        for n in [3usize, 5000] {
            let mut list = ListValue::new();
            for i in 0..n {
                list.push_tail(format!("item-{i}-{}", "x".repeat(i % 50)).as_bytes());
            }
            values.push(Value::List(Box::new(list)));
            let mut ints = SetValue::Ints(Vec::new());
            let mut strs = SetValue::Table(Default::default());
            let mut hash = HashValue::new();
            let mut z = ZSetValue::new();
            for i in 0..n {
                ints.add(format!("{}", i as i64 * 7919 - 1000).as_bytes(), &limits);
                strs.add(format!("m{i}").as_bytes(), &limits);
                hash.set(
                    format!("f{i}").as_bytes(),
                    format!("{i}").as_bytes(),
                    &limits,
                );
                z.insert(format!("z{i}").as_bytes(), i as f64 / 3.0 - 7.0, &limits);
            }
            values.push(Value::Set(Box::new(ints)));
            values.push(Value::Set(Box::new(strs)));
            values.push(Value::Hash(Box::new(hash)));
            values.push(Value::ZSet(Box::new(z)));
        }
        values
    }

    #[test]
    fn every_type_and_encoding_round_trips() {
        let mut encodings = Vec::new();
        for v in sample_values() {
            let (want, encoding) = contents(&v);
            assert_eq!(contents(&round_trip(&v)), (want, encoding));
            encodings.push(encoding);
        }
        for e in ["intset", "hashtable", "listpack", "skiplist", "quicklist"] {
            assert!(encodings.contains(&e), "{e} not covered");
        }
    }

    #[test]
    fn small_values_are_bytes_redis_writes() {
        // `HSET h a 1 b 300 c -5000 d hello` then DUMP on Redis 7.0.15, footer removed.
        let limits = EncodingLimits::default();
        let mut hash = HashValue::new();
        for (f, v) in [("a", "1"), ("b", "300"), ("c", "-5000"), ("d", "hello")] {
            hash.set(f.as_bytes(), v.as_bytes(), &limits);
        }
        let mut out = Vec::new();
        write(
            &mut RdbWriter::new(&mut out, true),
            &Value::Hash(Box::new(hash)),
        );
        let redis: &[u8] = b"\x10\x23\x23\x00\x00\x00\x08\x00\x81a\x02\x01\x01\x81b\x02\xc1,\x02\x81c\x02\xf1x\xec\x03\x81d\x02\x85hello\x06\xff";
        assert_eq!(out, redis);
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        let mut out = Vec::new();
        for v in sample_values() {
            out.clear();
            write(&mut RdbWriter::new(&mut out, false), &v);
            for cut in [1, out.len() / 2, out.len() - 1] {
                let mut r = RdbReader::new(&out[1..cut]);
                assert!(read(&mut r, out[0], &EncodingLimits::default()).is_err());
            }
        }
        let limits = EncodingLimits::default();
        for type_id in 0..=255u8 {
            let mut r = RdbReader::new(&[0x02, 0xff, 0x00][..]);
            let _ = read(&mut r, type_id, &limits);
        }
        let empty_list = [0u8];
        let mut r = RdbReader::new(&empty_list[..]);
        assert!(matches!(
            read(&mut r, types::LIST, &limits),
            Err(RdbError::EmptyKey)
        ));
        let mut r = RdbReader::new(&[][..]);
        assert!(matches!(
            read(&mut r, types::STREAM_LISTPACKS_2, &limits),
            Err(RdbError::Unsupported(19, "stream"))
        ));
    }
}

/// Values in the encodings older servers (and Redis 7.2) write, built by hand from the
/// formats: each must read back into the type and encoding Redis gives it after loading.
#[cfg(test)]
mod older_encodings {
    use super::*;

    /// A ziplist of short strings (6-bit lengths, 1-byte previous lengths).
    fn ziplist(items: &[&[u8]]) -> Vec<u8> {
        let mut zl = vec![0u8; 10];
        let mut prev = 0usize;
        let mut last = 10usize;
        for item in items {
            last = zl.len();
            let start = zl.len();
            zl.push(prev as u8);
            zl.push(item.len() as u8);
            zl.extend_from_slice(item);
            prev = zl.len() - start;
        }
        zl.push(0xff);
        let total = zl.len() as u32;
        zl[..4].copy_from_slice(&total.to_le_bytes());
        zl[4..8].copy_from_slice(&(last as u32).to_le_bytes());
        zl[8..10].copy_from_slice(&(items.len() as u16).to_le_bytes());
        zl
    }

    fn read_as(type_id: u8, body: &[u8]) -> Value {
        let mut r = RdbReader::new(body);
        read(&mut r, type_id, &EncodingLimits::default()).expect("readable")
    }

    fn blob(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        RdbWriter::new(&mut out, false).string(bytes);
        out
    }

    #[test]
    fn ziplists_quicklists_zipmaps_and_set_listpacks() {
        let Value::List(l) = read_as(types::LIST_ZIPLIST, &blob(&ziplist(&[b"a", b"b"]))) else {
            panic!("a list");
        };
        assert_eq!(l.len(), 2);
        // Quicklist (RDB 7+): node count, then each node a ziplist.
        let mut body = vec![2u8];
        body.extend(blob(&ziplist(&[b"x"])));
        body.extend(blob(&ziplist(&[b"y", b"z"])));
        let Value::List(l) = read_as(types::LIST_QUICKLIST, &body) else {
            panic!("a list");
        };
        let items: Vec<&[u8]> = l.items().iter().map(|i| i.as_slice()).collect();
        assert_eq!(items, [&b"x"[..], b"y", b"z"]);
        let Value::Hash(h) = read_as(
            types::HASH_ZIPLIST,
            &blob(&ziplist(&[b"f", b"v", b"g", b"w"])),
        ) else {
            panic!("a hash");
        };
        assert_eq!((h.len(), h.encoding()), (2, "listpack"));
        let Value::ZSet(z) = read_as(
            types::ZSET_ZIPLIST,
            &blob(&ziplist(&[b"m", b"1.5", b"n", b"-2"])),
        ) else {
            panic!("a sorted set");
        };
        assert_eq!(z.score(b"m"), Some(1.5));
        assert_eq!(z.score(b"n"), Some(-2.0));
        let zipmap = [1u8, 1, b'k', 1, 0, b'v', 0xff];
        let Value::Hash(h) = read_as(types::HASH_ZIPMAP, &blob(&zipmap)) else {
            panic!("a hash");
        };
        assert_eq!(h.get(b"k").map(|v| v.as_slice()), Some(&b"v"[..]));
        // Redis 7.2's set listpack.
        let mut lp = ListpackWriter::new();
        for m in [&b"one"[..], b"2", b"three"] {
            lp.push(m);
        }
        let Value::Set(s) = read_as(types::SET_LISTPACK, &blob(&lp.finish())) else {
            panic!("a set");
        };
        assert!(s.contains(b"one") && s.contains(b"2") && s.contains(b"three"));
        // Duplicates are corruption, as Redis's deep check says.
        assert!(
            read(
                &mut RdbReader::new(&blob(&ziplist(&[b"f", b"v", b"f", b"w"]))[..]),
                types::HASH_ZIPLIST,
                &EncodingLimits::default()
            )
            .is_err()
        );
    }
}
