//! Hash slots: `CRC16-XMODEM(key or {hashtag}) mod 16384`, as Redis Cluster defines them.

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// A hash slot, 0..16384.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub u16);

const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

/// The slot of a key. Only the part between the first `{` and the next `}` is hashed when
/// that part is not empty (behaves like `keyHashSlot()`).
#[inline]
pub fn key_slot(key: &[u8]) -> Slot {
    let hashed = match memchr::memchr(b'{', key) {
        Some(open) => match memchr::memchr(b'}', &key[open + 1..]) {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    Slot(CRC16.checksum(hashed) & (SLOTS as u16 - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_cluster_spec() {
        // Values from CLUSTER KEYSLOT on redis-server 7.0.
        assert_eq!(key_slot(b"foo"), Slot(12182));
        assert_eq!(key_slot(b"bar"), Slot(5061));
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b""), Slot(0));
    }
}
