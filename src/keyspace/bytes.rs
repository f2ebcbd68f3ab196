//! `SmallBytes`: a byte string that keeps up to 23 bytes inline in 24 bytes.
//!
//! Keys, short string values, hash fields and set members are mostly short, and one heap
//! allocation per key costs more than the key itself (the memory target is < 120 B/key for
//! 16-byte keys with 16-byte values). Layout, 24 bytes, little-endian:
//!
//! ```text
//! inline: [ data: 23 bytes                          ][ tag = len (0..=23) ]
//! heap:   [ ptr: 8 ][ len: 8 ][ cap: 7 (56 bits)    ][ tag = 0xFF        ]
//! ```
//!
//! The tag is an enum with 25 valid values, so the compiler has niches in byte 23: an
//! enum such as `Value { Str(SmallBytes), Hash(Box<..>), .. }` stays 24 bytes.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

/// Most bytes kept inline.
pub const INLINE_CAP: usize = 23;

#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(dead_code)]
enum Tag {
    L0 = 0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    L16,
    L17,
    L18,
    L19,
    L20,
    L21,
    L22,
    L23,
    Heap = 0xFF,
}

impl Tag {
    fn inline(len: usize) -> Tag {
        debug_assert!(len <= INLINE_CAP);
        // SAFETY: 0..=23 are all declared discriminants of `Tag`.
        unsafe { std::mem::transmute::<u8, Tag>(len as u8) }
    }
}

/// A byte string, inline when short.
#[repr(C, align(8))]
pub struct SmallBytes {
    data: [u8; INLINE_CAP],
    tag: Tag,
}

// SAFETY: SmallBytes owns its heap buffer exclusively, like Vec<u8>.
unsafe impl Send for SmallBytes {}
// SAFETY: shared access only reads.
unsafe impl Sync for SmallBytes {}

const _: () = assert!(std::mem::size_of::<SmallBytes>() == 24);

impl SmallBytes {
    /// The empty string.
    pub const fn new() -> Self {
        SmallBytes {
            data: [0; INLINE_CAP],
            tag: Tag::L0,
        }
    }

    pub fn from_slice(s: &[u8]) -> Self {
        if s.len() <= INLINE_CAP {
            let mut data = [0u8; INLINE_CAP];
            data[..s.len()].copy_from_slice(s);
            SmallBytes {
                data,
                tag: Tag::inline(s.len()),
            }
        } else {
            Self::from_heap_vec(s.to_vec())
        }
    }

    /// Takes ownership of `v`, going inline when it is short enough.
    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE_CAP {
            Self::from_slice(&v)
        } else {
            Self::from_heap_vec(v)
        }
    }

    fn from_heap_vec(v: Vec<u8>) -> Self {
        let mut v = ManuallyDrop::new(v);
        let ptr = v.as_mut_ptr().expose_provenance();
        let len = v.len();
        let cap = v.capacity();
        assert!(
            cap < (1 << 56),
            "invariant: strings are far below 2^56 bytes"
        );
        let mut data = [0u8; INLINE_CAP];
        data[0..8].copy_from_slice(&(ptr as u64).to_le_bytes());
        data[8..16].copy_from_slice(&(len as u64).to_le_bytes());
        data[16..23].copy_from_slice(&(cap as u64).to_le_bytes()[..7]);
        SmallBytes {
            data,
            tag: Tag::Heap,
        }
    }

    #[inline]
    fn is_heap(&self) -> bool {
        self.tag == Tag::Heap
    }

    #[inline]
    fn heap_parts(&self) -> (*mut u8, usize, usize) {
        let word = |r: std::ops::Range<usize>| {
            let mut b = [0u8; 8];
            b[..r.len()].copy_from_slice(&self.data[r]);
            u64::from_le_bytes(b) as usize
        };
        let ptr = std::ptr::with_exposed_provenance_mut::<u8>(word(0..8));
        (ptr, word(8..16), word(16..23))
    }

    fn set_heap_len(&mut self, len: usize) {
        self.data[8..16].copy_from_slice(&(len as u64).to_le_bytes());
    }

    #[inline]
    pub fn len(&self) -> usize {
        if self.is_heap() {
            self.heap_parts().1
        } else {
            self.tag as usize
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        if self.is_heap() {
            let (ptr, len, _) = self.heap_parts();
            // SAFETY: ptr/len describe the live Vec buffer this value owns.
            unsafe { std::slice::from_raw_parts(ptr, len) }
        } else {
            &self.data[..self.tag as usize]
        }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.is_heap() {
            let (ptr, len, _) = self.heap_parts();
            // SAFETY: ptr/len describe the live Vec buffer this value owns exclusively.
            unsafe { std::slice::from_raw_parts_mut(ptr, len) }
        } else {
            let len = self.tag as usize;
            &mut self.data[..len]
        }
    }

    /// Runs `f` on the heap buffer as a `Vec`, moving inline data to the heap first.
    fn with_vec<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut v = self.take_vec();
        let r = f(&mut v);
        *self = Self::from_heap_vec(v);
        r
    }

    /// Moves the bytes out as a `Vec`, leaving `self` empty.
    fn take_vec(&mut self) -> Vec<u8> {
        if self.is_heap() {
            let (ptr, len, cap) = self.heap_parts();
            self.tag = Tag::L0;
            // SAFETY: the parts came from a Vec<u8> we own; ownership moves out and `self`
            // no longer refers to it (tag reset to inline).
            unsafe { Vec::from_raw_parts(ptr, len, cap) }
        } else {
            let v = self.as_slice().to_vec();
            self.tag = Tag::L0;
            v
        }
    }

    /// The bytes as a `Vec`, consuming `self`.
    pub fn into_vec(mut self) -> Vec<u8> {
        self.take_vec()
    }

    pub fn extend_from_slice(&mut self, s: &[u8]) {
        let len = self.len();
        if !self.is_heap() && len + s.len() <= INLINE_CAP {
            self.data[len..len + s.len()].copy_from_slice(s);
            self.tag = Tag::inline(len + s.len());
            return;
        }
        if self.is_heap() {
            let (_, hlen, cap) = self.heap_parts();
            if hlen + s.len() <= cap {
                let (ptr, _, _) = self.heap_parts();
                // SAFETY: capacity covers the new bytes; the regions do not overlap since
                // `s` cannot borrow from `self` (we hold &mut self).
                unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), ptr.add(hlen), s.len()) };
                self.set_heap_len(hlen + s.len());
                return;
            }
        }
        self.with_vec(|v| v.extend_from_slice(s));
    }

    /// Grows with zero bytes or shrinks to `new_len`.
    pub fn resize(&mut self, new_len: usize) {
        let len = self.len();
        if new_len <= len {
            self.truncate(new_len);
        } else if !self.is_heap() && new_len <= INLINE_CAP {
            self.data[len..new_len].fill(0);
            self.tag = Tag::inline(new_len);
        } else {
            self.with_vec(|v| v.resize(new_len, 0));
        }
    }

    pub fn truncate(&mut self, new_len: usize) {
        if new_len >= self.len() {
            return;
        }
        if self.is_heap() {
            self.set_heap_len(new_len);
        } else {
            self.tag = Tag::inline(new_len);
        }
    }

    /// Bytes held on the heap (for MEMORY USAGE and used_memory estimates).
    pub fn heap_size(&self) -> usize {
        if self.is_heap() {
            self.heap_parts().2
        } else {
            0
        }
    }

    /// Drops spare capacity of a heap buffer, or moves it inline when short enough.
    pub fn shrink_to_fit(&mut self) {
        if self.is_heap() {
            let v = self.take_vec();
            *self = Self::from_vec(v.into_boxed_slice().into_vec());
        }
    }
}

impl Drop for SmallBytes {
    fn drop(&mut self) {
        if self.is_heap() {
            drop(self.take_vec());
        }
    }
}

impl Default for SmallBytes {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for SmallBytes {
    fn clone(&self) -> Self {
        Self::from_slice(self.as_slice())
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for SmallBytes {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for SmallBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(s: &[u8]) -> Self {
        Self::from_slice(s)
    }
}

impl From<Vec<u8>> for SmallBytes {
    fn from(v: Vec<u8>) -> Self {
        Self::from_vec(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn enums_use_the_tag_niche() {
        #[allow(dead_code)]
        enum V {
            S(SmallBytes),
            B(Box<u64>),
            C(Box<u32>),
        }
        assert_eq!(std::mem::size_of::<V>(), 24);
        assert_eq!(std::mem::size_of::<Option<SmallBytes>>(), 24);
    }

    #[test]
    fn inline_then_heap() {
        let mut s = SmallBytes::from_slice(b"0123456789");
        assert_eq!(s.heap_size(), 0);
        s.extend_from_slice(b"0123456789abc");
        assert_eq!(s.len(), 23);
        assert_eq!(s.heap_size(), 0);
        s.extend_from_slice(b"d");
        assert_eq!(&s[..], b"01234567890123456789abcd");
        assert!(s.heap_size() >= 24);
        s.truncate(3);
        assert_eq!(&s[..], b"012");
        s.shrink_to_fit();
        assert_eq!(s.heap_size(), 0);
        assert_eq!(&s[..], b"012");
    }

    proptest! {
        #[test]
        fn behaves_like_vec(ops in prop::collection::vec((0u8..3, prop::collection::vec(any::<u8>(), 0..40), 0usize..80), 0..30)) {
            let mut s = SmallBytes::new();
            let mut v: Vec<u8> = Vec::new();
            for (op, data, n) in ops {
                match op {
                    0 => { s.extend_from_slice(&data); v.extend_from_slice(&data); }
                    1 => { s.resize(n); v.resize(n, 0); }
                    _ => { s.truncate(n); v.truncate(n); }
                }
                prop_assert_eq!(s.as_slice(), &v[..]);
            }
            let c = s.clone();
            prop_assert_eq!(c.into_vec(), v);
        }
    }
}
