//! List values.
//!
//! Redis 7.0 stores every list as a quicklist (OBJECT ENCODING always says "quicklist");
//! we keep the elements in a ring buffer, so pushes and pops at both ends are O(1) and
//! LINDEX / LSET are O(1) too.

use std::collections::VecDeque;

use super::bytes::SmallBytes;

/// A list value.
#[derive(Clone, Default)]
pub struct ListValue {
    items: VecDeque<SmallBytes>,
}

impl ListValue {
    pub fn new() -> Self {
        ListValue::default()
    }

    /// OBJECT ENCODING's answer (Redis 7.0 has no other list encoding).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The elements, head first.
    pub fn items(&self) -> &VecDeque<SmallBytes> {
        &self.items
    }

    /// The elements for in-place changes.
    pub fn items_mut(&mut self) -> &mut VecDeque<SmallBytes> {
        &mut self.items
    }

    /// Heap bytes owned by the list (MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<SmallBytes>()
            + self.items.iter().map(SmallBytes::heap_size).sum::<usize>()
    }
}
