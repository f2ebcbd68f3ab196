//! Values stored under keys, and the entry that holds a key with its value.
//!
//! The internal representation is ours; what clients see of it (OBJECT ENCODING, the order
//! of small hashes and sets) follows Redis 7.0: a hash is a "listpack" (insertion-ordered
//! pairs) until `hash-max-listpack-entries`/`-value` are exceeded, then a "hashtable"; a set is
//! an "intset" (sorted integers) while every member is an integer and there are at most
//! `set-max-intset-entries`, then a "hashtable". Conversions are one-way, as in Redis.
//!
//! Random picks (HRANDFIELD, SRANDMEMBER, SPOP) work on positions: both forms of both types
//! are dense arrays, so a uniform pick is one random index. SCAN over a compact form returns
//! everything in one call with cursor 0, as Redis's `scanGenericCommand()` does for
//! listpacks and intsets.

use rand::Rng;

use super::bytes::SmallBytes;
use super::dense::{DenseTable, Keyed};
pub use super::list::ListValue;
pub use super::zset::ZSetValue;
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
    List(Box<ListValue>),
    ZSet(Box<ZSetValue>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 24);

/// The type of a value, as TYPE and SCAN TYPE name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    Hash,
    Set,
    List,
    ZSet,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::List => "list",
            ValueType::ZSet => "zset",
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
            Value::List(l) => l.encoding(),
            Value::ZSet(z) => z.encoding(),
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
            Value::List(_) => ValueType::List,
            Value::ZSet(_) => ValueType::ZSet,
        }
    }

    /// Approximate heap bytes owned by the value (MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::Hash(h) => std::mem::size_of::<HashValue>() + h.heap_size(),
            Value::Set(s) => std::mem::size_of::<SetValue>() + s.heap_size(),
            Value::List(l) => std::mem::size_of::<ListValue>() + l.heap_size(),
            Value::ZSet(z) => std::mem::size_of::<ZSetValue>() + z.heap_size(),
        }
    }
}

/// Thresholds that decide compact encodings (the `*-max-*` options).
#[derive(Clone, Copy, Debug)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

impl Default for EncodingLimits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        EncodingLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
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

    /// The pair at position `i` (0..len): listpack order for listpacks.
    pub fn pair_at(&self, i: usize) -> &Pair {
        &self.pairs()[i]
    }

    /// A uniformly random pair, `None` when empty (behaves like `hashTypeRandomElement()`).
    pub fn random_pair(&self, rng: &mut impl Rng) -> Option<&Pair> {
        let pairs = self.pairs();
        if pairs.is_empty() {
            return None;
        }
        Some(&pairs[rng.random_range(0..pairs.len())])
    }

    /// One HSCAN step: a listpack is returned whole with cursor 0; a hashtable is scanned
    /// from `cursor` (see [`DenseTable::scan`]). Returns the next cursor.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut visit: impl FnMut(&'a Pair)) -> u64 {
        match self {
            HashValue::Pairs(p) => {
                p.iter().for_each(visit);
                0
            }
            HashValue::Table(t) => t.scan(cursor, count, &mut visit),
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
        if let SetValue::Ints(_) = self {
            match parse_i64(member) {
                Some(n) => return self.add_int(n, limits),
                None => self.convert_to_table(),
            }
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

    /// The member at position `i` (0..len), without copying.
    pub fn get(&self, i: usize) -> Member<'_> {
        match self {
            SetValue::Ints(v) => Member::Int(v[i]),
            SetValue::Table(t) => Member::Bytes(t.at(i)),
        }
    }

    /// Every member, in storage order (ascending for intsets).
    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Whether `m` is a member; an integer is looked up in an intset without formatting it.
    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (self, m) {
            (SetValue::Ints(v), Member::Int(n)) => v.binary_search(&n).is_ok(),
            (_, Member::Int(n)) => self.contains(itoa::Buffer::new().format(n).as_bytes()),
            (_, Member::Bytes(b)) => self.contains(b),
        }
    }

    /// Adds `m` (see [`add`](Self::add)); an integer goes into an intset without parsing.
    pub fn add_member(&mut self, m: Member<'_>, limits: &EncodingLimits) -> bool {
        match m {
            Member::Int(n) => self.add_int(n, limits),
            Member::Bytes(b) => self.add(b, limits),
        }
    }

    /// Adds an integer: in place in an intset (converting past `set-max-intset-entries`),
    /// as its decimal text in a hashtable.
    fn add_int(&mut self, n: i64, limits: &EncodingLimits) -> bool {
        let SetValue::Ints(v) = self else {
            return self.add(itoa::Buffer::new().format(n).as_bytes(), limits);
        };
        match v.binary_search(&n) {
            Ok(_) => false,
            Err(i) => {
                v.insert(i, n);
                // Redis caps the limit at 2^30 entries because of intset internals.
                if v.len() > limits.set_max_intset_entries.min(1 << 30) {
                    self.convert_to_table();
                }
                true
            }
        }
    }

    /// Removes `m`; returns whether it was there.
    pub fn remove_member(&mut self, m: Member<'_>) -> bool {
        match (&mut *self, m) {
            (SetValue::Ints(v), Member::Int(n)) => match v.binary_search(&n) {
                Ok(i) => {
                    v.remove(i);
                    true
                }
                Err(_) => false,
            },
            (_, Member::Int(n)) => self.remove(itoa::Buffer::new().format(n).as_bytes()),
            (_, Member::Bytes(b)) => self.remove(b),
        }
    }

    /// A uniformly random member, `None` when empty (behaves like
    /// `setTypeRandomElement()`).
    pub fn random_member(&self, rng: &mut impl Rng) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        Some(self.get(rng.random_range(0..self.len())))
    }

    /// Removes and returns a uniformly random member (SPOP without a count).
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<SmallBytes> {
        if self.is_empty() {
            return None;
        }
        let i = rng.random_range(0..self.len());
        Some(self.remove_at(i))
    }

    /// Removes and returns `count` distinct random members, all of them when `count >= len`
    /// (behaves like `spopWithCountCommand()`).
    ///
    /// When few members would remain (`remaining * 5 <= count`), Redis draws the members
    /// to *keep* into a fresh set and returns the rest of the old one; the fresh set is
    /// created for its first member, so a hashtable of integers can come back as an
    /// intset. That is observable through OBJECT ENCODING, so it is done the same way.
    pub fn pop_many(
        &mut self,
        count: usize,
        limits: &EncodingLimits,
        rng: &mut impl Rng,
    ) -> Vec<SmallBytes> {
        /// How much bigger than the remainder the count must be to rebuild the set.
        const MOVE_STRATEGY_MUL: usize = 5;
        let len = self.len();
        if count >= len {
            let all = self.members();
            *self = SetValue::Ints(Vec::new());
            return all;
        }
        let remaining = len - count;
        if remaining.saturating_mul(MOVE_STRATEGY_MUL) > count {
            return (0..count).filter_map(|_| self.pop_random(rng)).collect();
        }
        let mut kept: Option<SetValue> = None;
        for _ in 0..remaining {
            let Some(m) = self.pop_random(rng) else { break };
            kept.get_or_insert_with(|| SetValue::for_member(&m))
                .add(&m, limits);
        }
        let popped = self.members();
        *self = kept.unwrap_or(SetValue::Ints(Vec::new()));
        popped
    }

    /// One SSCAN step: an intset is returned whole with cursor 0; a hashtable is scanned
    /// from `cursor` (see [`DenseTable::scan`]). Returns the next cursor.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut visit: impl FnMut(Member<'a>)) -> u64 {
        match self {
            SetValue::Ints(v) => {
                v.iter().for_each(|&n| visit(Member::Int(n)));
                0
            }
            SetValue::Table(t) => {
                t.scan(cursor, count, |m: &'a SmallBytes| visit(Member::Bytes(m)))
            }
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

/// A set member as stored: an intset integer or a hashtable string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// The member's bytes, owned (integers print in decimal and stay inline).
    pub fn to_bytes(self) -> SmallBytes {
        match self {
            Member::Int(n) => SmallBytes::from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Member::Bytes(b) => SmallBytes::from_slice(b),
        }
    }
}

/// `count` distinct positions out of `0..len`, in random order (the "unique" cases of
/// SRANDMEMBER and HRANDFIELD). Requires `count <= len`.
pub fn distinct_positions(len: usize, count: usize, rng: &mut impl Rng) -> Vec<usize> {
    rand::seq::index::sample(rng, len, count.min(len)).into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::BTreeSet;

    const LIMITS: EncodingLimits = EncodingLimits {
        hash_max_listpack_entries: 2,
        hash_max_listpack_value: 4,
        set_max_intset_entries: 2,
        zset_max_listpack_entries: 2,
        zset_max_listpack_value: 4,
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

    /// A model of a set: its members as byte strings.
    fn model(s: &SetValue) -> BTreeSet<Vec<u8>> {
        s.iter().map(|m| m.to_bytes().to_vec()).collect()
    }

    /// A set with these members, built as SADD would (first member picks the encoding).
    fn set_of(members: &[Vec<u8>], limits: &EncodingLimits) -> SetValue {
        let mut s = SetValue::for_member(members.first().map_or(&b"0"[..], |m| m));
        for m in members {
            s.add(m, limits);
        }
        s
    }

    /// Members drawn from a small space mixing integers and words, so both encodings and
    /// the conversion between them are exercised.
    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (-20i64..20).prop_map(|n| n.to_string().into_bytes()),
            "[a-e]{1,2}".prop_map(String::into_bytes),
        ]
    }

    const WIDE: EncodingLimits = EncodingLimits {
        hash_max_listpack_entries: 8,
        hash_max_listpack_value: 8,
        set_max_intset_entries: 8,
        zset_max_listpack_entries: 8,
        zset_max_listpack_value: 8,
    };

    #[test]
    fn intset_members_keep_redis_order_and_forms() {
        let s = set_of(&[b"5".to_vec(), b"-3".to_vec(), b"10".to_vec()], &WIDE);
        assert_eq!(s.encoding(), "intset");
        let got: Vec<Member<'_>> = s.iter().collect();
        assert_eq!(got, [Member::Int(-3), Member::Int(5), Member::Int(10)]);
        assert!(s.contains_member(Member::Int(5)));
        assert!(s.contains_member(Member::Bytes(b"10")));
        assert!(!s.contains_member(Member::Bytes(b"010")));
        let mut seen = Vec::new();
        assert_eq!(s.scan(77, 1, |m| seen.push(m)), 0, "an intset scans whole");
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn pop_many_rebuilds_a_small_remainder_like_redis() {
        // 20 integers in a hashtable (limit 8); popping 18 keeps 2, and 2 * 5 <= 18, so the
        // remainder is rebuilt for its first member: an intset again.
        let members: Vec<Vec<u8>> = (0..20).map(|i: i32| i.to_string().into_bytes()).collect();
        let mut s = set_of(&members, &WIDE);
        assert_eq!(s.encoding(), "hashtable");
        let mut rng = StdRng::seed_from_u64(7);
        let popped = s.pop_many(18, &WIDE, &mut rng);
        assert_eq!((popped.len(), s.len(), s.encoding()), (18, 2, "intset"));
        // Popping few keeps the encoding.
        let mut s = set_of(&members, &WIDE);
        s.pop_many(3, &WIDE, &mut rng);
        assert_eq!((s.len(), s.encoding()), (17, "hashtable"));
    }

    #[test]
    fn hash_random_picks_and_scans() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut h = HashValue::new();
        assert!(h.random_pair(&mut rng).is_none());
        for (f, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
            h.set(f.as_bytes(), v.as_bytes(), &WIDE);
        }
        for _ in 0..20 {
            let (f, v) = h.random_pair(&mut rng).expect("non-empty");
            assert_eq!(h.get(f), Some(v));
        }
        let mut fields = Vec::new();
        assert_eq!(h.scan(5, 1, |(f, _)| fields.push(f.to_vec())), 0);
        assert_eq!(fields, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        h.convert_to_table();
        let mut all = BTreeSet::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, 1, |(f, _)| {
                all.insert(f.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(all.len(), 3);
    }

    proptest! {
        /// Random picks are members; SPOP (single and counted) returns distinct members,
        /// removes exactly those, and leaves an encoding Redis would allow.
        #[test]
        fn pops_keep_the_set_consistent(
            members in prop::collection::vec(member(), 1..40),
            counts in prop::collection::vec(0usize..50, 1..6),
            seed in any::<u64>(),
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut s = set_of(&members, &WIDE);
            let mut expected = model(&s);
            prop_assert_eq!(s.len(), expected.len());
            for count in counts {
                if let Some(m) = s.random_member(&mut rng) {
                    prop_assert!(expected.contains(&m.to_bytes().to_vec()));
                }
                let popped = s.pop_many(count, &WIDE, &mut rng);
                prop_assert_eq!(popped.len(), count.min(expected.len()));
                let distinct: BTreeSet<Vec<u8>> = popped.iter().map(|m| m.to_vec()).collect();
                prop_assert_eq!(distinct.len(), popped.len());
                for m in &distinct {
                    prop_assert!(expected.remove(m), "popped a non-member");
                }
                prop_assert_eq!(model(&s), expected.clone());
                if let SetValue::Ints(v) = &s {
                    prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(v.len() <= WIDE.set_max_intset_entries);
                }
                if let Some(m) = s.pop_random(&mut rng) {
                    prop_assert!(expected.remove(&m.to_vec()));
                }
                prop_assert_eq!(model(&s), expected.clone());
            }
        }

        /// The `Member` forms of add / contains / remove agree with the byte forms.
        #[test]
        fn member_operations_match_a_model(
            ops in prop::collection::vec((0u8..3, member()), 0..80),
        ) {
            let mut s = SetValue::Ints(Vec::new());
            let mut expected = BTreeSet::new();
            for (op, m) in ops {
                let as_member = match crate::protocol::parse::parse_i64(&m) {
                    Some(n) => Member::Int(n),
                    None => Member::Bytes(&m),
                };
                match op {
                    0 => prop_assert_eq!(s.add_member(as_member, &WIDE), expected.insert(m.clone())),
                    1 => prop_assert_eq!(s.remove_member(as_member), expected.remove(&m)),
                    _ => prop_assert_eq!(s.contains_member(as_member), expected.contains(&m)),
                }
            }
            prop_assert_eq!(model(&s), expected);
        }

        /// Distinct positions are distinct, in range, and as many as asked.
        #[test]
        fn distinct_positions_are_distinct(len in 1usize..300, frac in 0.0f64..=1.0, seed in any::<u64>()) {
            let count = ((len as f64) * frac) as usize;
            let mut rng = StdRng::seed_from_u64(seed);
            let picks = distinct_positions(len, count, &mut rng);
            let set: BTreeSet<usize> = picks.iter().copied().collect();
            prop_assert_eq!(picks.len(), count);
            prop_assert_eq!(set.len(), count);
            prop_assert!(picks.iter().all(|&p| p < len));
        }
    }
}
