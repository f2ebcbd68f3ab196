//! Values stored under keys, and the entry that holds a key with its value.
//!
//! The internal representation is ours; what clients see of it (OBJECT ENCODING, the order
//! of small hashes and sets) follows Redis 7.0: a hash is a "listpack" (insertion-ordered
//! pairs) until `hash-max-listpack-entries`/`-value` are exceeded, then a "hashtable"; a set is
//! an "intset" (sorted integers) while every member is an integer and there are at most
//! `set-max-intset-entries`, then a "hashtable". Conversions are one-way, as in Redis.

use super::bytes::SmallBytes;
use super::dense::{DenseTable, Keyed};
use crate::protocol::parse::parse_i64;

/// A field/value pair of a hash.
pub type Pair = (SmallBytes, SmallBytes);

/// A hash value.
#[derive(Clone)]
pub enum HashValue {
    /// Encoding "listpack": pairs in insertion order, searched linearly.
    Pairs(Vec<Pair>),
    /// Encoding "hashtable".
    Table(DenseTable<Pair>),
}

/// A set value.
#[derive(Clone)]
pub enum SetValue {
    /// Encoding "intset": distinct integers in ascending order.
    Ints(Vec<i64>),
    /// Encoding "hashtable".
    Table(DenseTable<SmallBytes>),
}

/// A value of any type.
#[derive(Clone)]
pub enum Value {
    Str(SmallBytes),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 24);

/// The type of a value, as TYPE and SCAN TYPE name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    Hash,
    Set,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
        }
    }

    /// Parses a TYPE name (SCAN ... TYPE t), case-insensitive.
    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        let lower = name.to_ascii_lowercase();
        match &lower[..] {
            b"string" => Some(ValueType::String),
            b"hash" => Some(ValueType::Hash),
            b"set" => Some(ValueType::Set),
            _ => None,
        }
    }
}

/// How a string reports its encoding (Redis keeps this in the object header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StrEncoding {
    /// Derived from the content like `tryObjectEncoding()`: int, embstr or raw.
    Auto = 0,
    /// Modified in place (APPEND, SETRANGE, SETBIT, ...): always "raw".
    Raw = 1,
    /// Created from a formatted number (INCRBYFLOAT): "embstr" or "raw", never "int".
    NoInt = 2,
}

/// Longest string Redis stores as "embstr".
const EMBSTR_MAX: usize = 44;

/// A key with its value and metadata: 64 bytes, one cache line.
pub struct Entry {
    pub key: SmallBytes,
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 = no expiry.
    pub expire_at: i64,
    /// Last access, in seconds of the LRU clock (OBJECT IDLETIME).
    pub lru: u32,
    /// How a string value reports its encoding.
    pub str_encoding: StrEncoding,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 64);

impl Keyed for Entry {
    #[inline]
    fn key(&self) -> &[u8] {
        self.key.as_slice()
    }
}

impl Entry {
    pub fn new(key: &[u8], value: Value, lru: u32) -> Self {
        Entry {
            key: SmallBytes::from_slice(key),
            value,
            expire_at: 0,
            lru,
            str_encoding: StrEncoding::Auto,
        }
    }

    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        match &self.value {
            Value::Str(s) => string_encoding(s, self.str_encoding),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
        }
    }
}

/// The encoding Redis would report for this string content.
pub fn string_encoding(s: &[u8], hint: StrEncoding) -> &'static str {
    match hint {
        StrEncoding::Raw => "raw",
        StrEncoding::Auto if s.len() <= 20 && parse_i64(s).is_some() => "int",
        _ if s.len() <= EMBSTR_MAX => "embstr",
        _ => "raw",
    }
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
        }
    }

    /// Approximate heap bytes owned by the value (MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::Hash(h) => std::mem::size_of::<HashValue>() + h.heap_size(),
            Value::Set(s) => std::mem::size_of::<SetValue>() + s.heap_size(),
        }
    }
}

/// Thresholds that decide compact encodings (the `*-max-*` options).
#[derive(Clone, Copy, Debug)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
}

impl HashValue {
    pub fn new() -> Self {
        HashValue::Pairs(Vec::new())
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Pairs(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Pairs(p) => p.len(),
            HashValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&SmallBytes> {
        match self {
            HashValue::Pairs(p) => p
                .iter()
                .find(|(f, _)| f.as_slice() == field)
                .map(|(_, v)| v),
            HashValue::Table(t) => t.get(field).map(|(_, v)| v),
        }
    }

    pub fn get_mut(&mut self, field: &[u8]) -> Option<&mut SmallBytes> {
        match self {
            HashValue::Pairs(p) => p
                .iter_mut()
                .find(|(f, _)| f.as_slice() == field)
                .map(|(_, v)| v),
            HashValue::Table(t) => t.get_mut(field).map(|(_, v)| v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Converts to a hashtable when a field or value of these lengths would not fit a
    /// listpack (behaves like `hashTypeTryConversion()`).
    pub fn prepare_for(&mut self, lens: impl IntoIterator<Item = usize>, limits: &EncodingLimits) {
        if let HashValue::Pairs(_) = self
            && lens.into_iter().any(|l| l > limits.hash_max_listpack_value)
        {
            self.convert_to_table();
        }
    }

    /// Sets a field; returns true when the field is new. Converts to a hashtable when the
    /// listpack grows past its limits.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &EncodingLimits) -> bool {
        self.prepare_for([field.len(), value.len()], limits);
        let added = match self {
            HashValue::Pairs(p) => {
                if let Some((_, v)) = p.iter_mut().find(|(f, _)| f.as_slice() == field) {
                    *v = SmallBytes::from_slice(value);
                    false
                } else {
                    p.push((SmallBytes::from_slice(field), SmallBytes::from_slice(value)));
                    true
                }
            }
            HashValue::Table(t) => t
                .insert((SmallBytes::from_slice(field), SmallBytes::from_slice(value)))
                .is_none(),
        };
        if let HashValue::Pairs(p) = self
            && p.len() > limits.hash_max_listpack_entries
        {
            self.convert_to_table();
        }
        added
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Pairs(p) => match p.iter().position(|(f, _)| f.as_slice() == field) {
                Some(i) => {
                    p.remove(i);
                    true
                }
                None => false,
            },
            HashValue::Table(t) => t.remove(field).is_some(),
        }
    }

    pub fn convert_to_table(&mut self) {
        if let HashValue::Pairs(p) = self {
            let mut t = DenseTable::with_capacity(p.len());
            for pair in p.drain(..) {
                t.insert(pair);
            }
            *self = HashValue::Table(t);
        }
    }

    /// All pairs, in listpack order for listpacks.
    pub fn pairs(&self) -> &[Pair] {
        match self {
            HashValue::Pairs(p) => p,
            HashValue::Table(t) => t.entries(),
        }
    }

    pub fn heap_size(&self) -> usize {
        let pairs = self.pairs();
        let strings: usize = pairs
            .iter()
            .map(|(f, v)| f.heap_size() + v.heap_size())
            .sum();
        strings
            + match self {
                HashValue::Pairs(p) => p.capacity() * std::mem::size_of::<Pair>(),
                HashValue::Table(t) => t.allocated_bytes(),
            }
    }
}

impl Default for HashValue {
    fn default() -> Self {
        Self::new()
    }
}

impl SetValue {
    /// An empty set suited to a first member (Redis's `setTypeCreate()`).
    pub fn for_member(member: &[u8]) -> Self {
        if parse_i64(member).is_some() {
            SetValue::Ints(Vec::new())
        } else {
            SetValue::Table(DenseTable::new())
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Ints(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(v) => v.len(),
            SetValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(v) => parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            SetValue::Table(t) => t.contains(member),
        }
    }

    /// Adds a member; returns true when it was not there (behaves like `setTypeAdd()`).
    pub fn add(&mut self, member: &[u8], limits: &EncodingLimits) -> bool {
        if let SetValue::Ints(v) = self {
            if let Some(n) = parse_i64(member) {
                return match v.binary_search(&n) {
                    Ok(_) => false,
                    Err(i) => {
                        v.insert(i, n);
                        if v.len() > limits.set_max_intset_entries {
                            self.convert_to_table();
                        }
                        true
                    }
                };
            }
            self.convert_to_table();
        }
        match self {
            SetValue::Table(t) => {
                if t.contains(member) {
                    false
                } else {
                    t.insert_new(SmallBytes::from_slice(member));
                    true
                }
            }
            SetValue::Ints(_) => unreachable!("converted above"),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(v) => match parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(i)) => {
                    v.remove(i);
                    true
                }
                _ => false,
            },
            SetValue::Table(t) => t.remove(member).is_some(),
        }
    }

    pub fn convert_to_table(&mut self) {
        if let SetValue::Ints(v) = self {
            let mut t = DenseTable::with_capacity(v.len());
            let mut buf = itoa::Buffer::new();
            for n in v.iter() {
                t.insert_new(SmallBytes::from_slice(buf.format(*n).as_bytes()));
            }
            *self = SetValue::Table(t);
        }
    }

    /// Member at position `i` (0..len), for random picks and iteration.
    pub fn member_at(&self, i: usize) -> SmallBytes {
        match self {
            SetValue::Ints(v) => {
                SmallBytes::from_slice(itoa::Buffer::new().format(v[i]).as_bytes())
            }
            SetValue::Table(t) => t.at(i).clone(),
        }
    }

    /// Every member, as owned byte strings (intsets in ascending order).
    pub fn members(&self) -> Vec<SmallBytes> {
        (0..self.len()).map(|i| self.member_at(i)).collect()
    }

    /// Removes and returns the member at position `i`.
    pub fn remove_at(&mut self, i: usize) -> SmallBytes {
        match self {
            SetValue::Ints(v) => {
                SmallBytes::from_slice(itoa::Buffer::new().format(v.remove(i)).as_bytes())
            }
            SetValue::Table(t) => t.remove_at(i),
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            SetValue::Ints(v) => v.capacity() * 8,
            SetValue::Table(t) => {
                t.allocated_bytes() + t.iter().map(|m| m.heap_size()).sum::<usize>()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: EncodingLimits = EncodingLimits {
        hash_max_listpack_entries: 2,
        hash_max_listpack_value: 4,
        set_max_intset_entries: 2,
    };

    #[test]
    fn string_encodings_like_redis() {
        assert_eq!(string_encoding(b"12345", StrEncoding::Auto), "int");
        assert_eq!(string_encoding(b"012", StrEncoding::Auto), "embstr");
        assert_eq!(string_encoding(b"12345", StrEncoding::NoInt), "embstr");
        assert_eq!(string_encoding(&[b'a'; 45], StrEncoding::Auto), "raw");
        assert_eq!(string_encoding(b"a", StrEncoding::Raw), "raw");
    }

    #[test]
    fn hash_converts_on_size_and_length() {
        let mut h = HashValue::new();
        assert!(h.set(b"a", b"1", &LIMITS));
        assert!(h.set(b"b", b"2", &LIMITS));
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"c", b"3", &LIMITS));
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::new();
        h.set(b"a", b"12345", &LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a").map(|v| v.to_vec()), Some(b"12345".to_vec()));
    }

    #[test]
    fn set_converts_like_redis() {
        let mut s = SetValue::for_member(b"3");
        assert!(s.add(b"3", &LIMITS));
        assert!(s.add(b"1", &LIMITS));
        assert!(!s.add(b"1", &LIMITS));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.member_at(0).to_vec(), b"1");
        assert!(s.add(b"x", &LIMITS));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"3") && s.contains(b"x"));
    }
}
