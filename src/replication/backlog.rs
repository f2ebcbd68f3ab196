//! The replication backlog (behaves like Redis's `repl_backlog`): the last bytes of the
//! replication stream, addressed by their offset in it, so a replica that reconnects can
//! continue from where it stopped (PSYNC CONTINUE) and connected replicas read from it.
//!
//! It keeps at least `size` bytes, and more while a connected replica still needs older
//! bytes (one that is receiving a snapshot, or slow), up to a hard limit past which such a
//! replica is given up (as `client-output-buffer-limit replica` does).

use std::collections::VecDeque;

/// The replication stream's recent bytes.
#[derive(Debug)]
pub struct Backlog {
    bytes: VecDeque<u8>,
    /// Offset of `bytes[0]` in the stream.
    first: u64,
    /// The backlog size to keep (`repl-backlog-size`).
    size: usize,
}

impl Backlog {
    /// An empty backlog whose next byte is at `offset`.
    pub fn new(offset: u64, size: usize) -> Self {
        Backlog {
            bytes: VecDeque::new(),
            first: offset,
            size: size.max(1),
        }
    }

    /// The offset after the last byte (`master_repl_offset`).
    pub fn end(&self) -> u64 {
        self.first + self.bytes.len() as u64
    }

    /// The offset of the oldest byte kept (`repl_backlog_first_byte_offset` minus one).
    pub fn first(&self) -> u64 {
        self.first
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn set_size(&mut self, size: usize) {
        self.size = size.max(1);
    }

    /// Appends stream bytes, then drops the oldest beyond the size, keeping everything from
    /// `keep_from` on (the oldest offset a replica still reads).
    pub fn append(&mut self, data: &[u8], keep_from: Option<u64>) {
        self.bytes.extend(data);
        let mut excess = self.bytes.len().saturating_sub(self.size);
        if let Some(keep) = keep_from {
            excess = excess.min(keep.saturating_sub(self.first) as usize);
        }
        self.bytes.drain(..excess);
        self.first += excess as u64;
    }

    /// Whether the bytes from `offset` on are all here.
    pub fn holds(&self, offset: u64) -> bool {
        offset >= self.first && offset <= self.end()
    }

    /// Up to `max` bytes from `offset` on; None if they are no longer (or not yet) here.
    pub fn read(&self, offset: u64, max: usize) -> Option<Vec<u8>> {
        if !self.holds(offset) {
            return None;
        }
        let start = (offset - self.first) as usize;
        let end = (start + max).min(self.bytes.len());
        Some(self.bytes.range(start..end).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_its_size_unless_a_reader_needs_more() {
        let mut b = Backlog::new(100, 10);
        b.append(b"0123456789abcdef", None);
        assert_eq!((b.first(), b.end()), (106, 116));
        assert_eq!(b.read(110, 100).as_deref(), Some(&b"abcdef"[..]));
        assert_eq!(b.read(105, 1), None, "dropped");
        assert_eq!(b.read(117, 1), None, "not yet written");
        assert_eq!(b.read(116, 10).as_deref(), Some(&b""[..]));
        b.append(b"XYZ", Some(108));
        assert_eq!(b.first(), 108, "kept for a reader at 108");
        assert_eq!(b.read(108, 3).as_deref(), Some(&b"89a"[..]));
        b.append(b"", None);
        assert_eq!(b.len(), 10);
    }
}
