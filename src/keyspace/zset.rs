//! Sorted-set values.

use super::bytes::SmallBytes;

/// A sorted-set value: (score, member) pairs ordered by score, then member bytes.
#[derive(Clone, Default)]
pub struct ZSetValue {
    entries: Vec<(f64, SmallBytes)>,
}

impl ZSetValue {
    pub fn new() -> Self {
        ZSetValue::default()
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (member, score) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.entries.iter().map(|(s, m)| (m.as_slice(), *s))
    }

    /// Heap bytes owned by the set (MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(f64, SmallBytes)>()
    }
}
