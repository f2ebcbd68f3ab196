//! The cluster bus's messages, byte for byte as Redis 7.0.15 lays them out (`clusterMsg` and
//! its bodies in cluster.h), so a `redis-server` 7.0 peer reads what we write and we read
//! what it writes.
//!
//! A message is a fixed 2256-byte header (`CLUSTERMSG_MIN_LEN`) and a body whose shape the
//! type decides. Integers are big-endian, as Redis writes them with `htons` / `htonl` /
//! `htonu64`; the one exception is a MODULE message's module id (see [`ModuleMessage`]).
//! Node names are 40 raw bytes, IPs 46 NUL-padded bytes, slot sets 2048-byte bitmaps.
//!
//! - [`Message::decode`] checks a whole message as `clusterProcessPacket()` does before it
//!   acts on one: the declared length is the buffer's, the version is 1, and the length
//!   formula of the type holds exactly. A mismatch is a [`WireError`]: Redis drops such a
//!   packet and keeps the link.
//! - [`Message::encode`] writes what `clusterBuildMessageHdr()` and the `clusterSend*()`
//!   functions write.
//! - [`frame`] finds where messages end in a link's read buffer, as `clusterReadHandler()`
//!   does; its errors mean the link must be closed.
//!
//! The header (offsets as cluster.h's static asserts pin them):
//!
//! | offset | bytes | field |
//! |---:|---:|---|
//! | 0 | 4 | signature "RCmb" |
//! | 4 | 4 | totlen: the whole message, header included |
//! | 8 | 2 | ver: 1 |
//! | 10 | 2 | port: client port |
//! | 12 | 2 | type |
//! | 14 | 2 | count: gossip entries (PING, PONG, MEET) |
//! | 16 | 8 | currentEpoch |
//! | 24 | 8 | configEpoch |
//! | 32 | 8 | offset: replication offset |
//! | 40 | 40 | sender's name |
//! | 80 | 2048 | myslots bitmap |
//! | 2128 | 40 | slaveof: the primary's name, all zeros for none |
//! | 2168 | 46 | myip, NUL-padded |
//! | 2214 | 2 | extensions: ping extension count |
//! | 2216 | 30 | unused, zeros |
//! | 2246 | 2 | pport: plaintext client port when `port` is TLS |
//! | 2248 | 2 | cport: bus port |
//! | 2250 | 2 | flags: the sender's node flags |
//! | 2252 | 1 | state: the cluster state the sender sees |
//! | 2253 | 3 | mflags: message flags |
//! | 2256 | | body |

use std::fmt;

use crate::keyspace::slot::{SLOTS, Slot};

/// "RCmb": Redis Cluster message bus.
pub const SIGNATURE: [u8; 4] = *b"RCmb";
/// `CLUSTER_PROTO_VER`: the only version Redis 7.0 accepts.
pub const PROTO_VER: u16 = 1;
/// `CLUSTERMSG_MIN_LEN`: the header every message starts with; the body follows it.
pub const HEADER_LEN: usize = 2256;
/// `sizeof(clusterMsgDataGossip)`: one gossip entry.
pub const GOSSIP_LEN: usize = 104;
/// What a read must gather before a message's length is known: signature and totlen.
pub const PREFIX_LEN: usize = 8;
/// `CLUSTER_NAMELEN`.
pub const NAME_LEN: usize = 40;
/// `NET_IP_STR_LEN`.
pub const IP_LEN: usize = 46;
/// The largest message Redis 7.0 sends with default limits: a PUBLISH whose channel and
/// message are each `proto-max-bulk-len` (512 MiB). Redis itself sets no upper bound.
pub const DEFAULT_MAX_FRAME_LEN: usize = HEADER_LEN + PUBLISH_FIXED_LEN + 2 * (512 << 20);

const SLOT_BYTES: usize = SLOTS / 8;
/// FAIL body: the failing node's name.
const FAIL_LEN: usize = NAME_LEN;
/// UPDATE body: configEpoch, the slots' owner, its slots.
const UPDATE_LEN: usize = 8 + NAME_LEN + SLOT_BYTES;
/// PUBLISH body before channel and message: their lengths (`sizeof(clusterMsgDataPublish) - 8`).
const PUBLISH_FIXED_LEN: usize = 8;
/// MODULE body before the payload: module id, length, type (`sizeof(clusterMsgModule) - 3`).
const MODULE_FIXED_LEN: usize = 13;
/// A ping extension's own header: length, type, two bytes of padding.
const EXT_HEADER_LEN: usize = 8;

/// Header field offsets.
mod at {
    pub const TOTLEN: usize = 4;
    pub const VER: usize = 8;
    pub const PORT: usize = 10;
    pub const TYPE: usize = 12;
    pub const COUNT: usize = 14;
    pub const CURRENT_EPOCH: usize = 16;
    pub const CONFIG_EPOCH: usize = 24;
    pub const OFFSET: usize = 32;
    pub const SENDER: usize = 40;
    pub const MYSLOTS: usize = 80;
    pub const SLAVEOF: usize = 2128;
    pub const MYIP: usize = 2168;
    pub const EXTENSIONS: usize = 2214;
    pub const PPORT: usize = 2246;
    pub const CPORT: usize = 2248;
    pub const FLAGS: usize = 2250;
    pub const STATE: usize = 2252;
    pub const MFLAGS: usize = 2253;
}

/// Gossip entry field offsets (`clusterMsgDataGossip`).
mod gossip_at {
    pub const PING_SENT: usize = 40;
    pub const PONG_RECEIVED: usize = 44;
    pub const IP: usize = 48;
    pub const PORT: usize = 94;
    pub const CPORT: usize = 96;
    pub const FLAGS: usize = 98;
    pub const PPORT: usize = 100;
}

/// Message types (`CLUSTERMSG_TYPE_*`).
pub mod msg_type {
    pub const PING: u16 = 0;
    /// The reply to PING and MEET, shaped like them.
    pub const PONG: u16 = 1;
    /// A PING that makes the receiver add the sender (CLUSTER MEET).
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const FAILOVER_AUTH_REQUEST: u16 = 5;
    pub const FAILOVER_AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const MODULE: u16 = 9;
    pub const PUBLISHSHARD: u16 = 10;
    /// `CLUSTERMSG_TYPE_COUNT`: types from here on are unknown to Redis 7.0.
    pub const COUNT: u16 = 11;
}

/// Node flags (`CLUSTER_NODE_*`) as the header and gossip entries carry them.
pub mod node_flags {
    /// `CLUSTER_NODE_MASTER`.
    pub const PRIMARY: u16 = 1;
    /// `CLUSTER_NODE_SLAVE`.
    pub const REPLICA: u16 = 2;
    /// Not reachable from the sender's point of view; needs confirmation.
    pub const PFAIL: u16 = 4;
    /// Failed, as a majority of primaries agreed.
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    /// Met but the first PING/PONG exchange has not completed.
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    /// A MEET is to be sent to this node.
    pub const MEET: u16 = 128;
    /// A primary eligible for replica migration.
    pub const MIGRATE_TO: u16 = 256;
    /// A replica that will not try to fail over (`cluster-replica-no-failover`).
    pub const NOFAILOVER: u16 = 512;
}

/// Bits of the first message-flags byte (`CLUSTERMSG_FLAG0_*`).
pub mod msg_flags0 {
    /// The primary is paused for a manual failover.
    pub const PAUSED: u8 = 1 << 0;
    /// Grant a FAILOVER_AUTH_REQUEST even though the primary is up (manual failover).
    pub const FORCEACK: u8 = 1 << 1;
    /// The message carries ping extensions. The codec owns this bit: see
    /// [`MessageHeader::mflags`](super::MessageHeader::mflags).
    pub const EXT_DATA: u8 = 1 << 2;
}

/// Ping extension types Redis 7.0 knows (`clusterMsgPingtypes`); 7.2 adds more.
pub mod ext_type {
    pub const HOSTNAME: u16 = 0;
}

/// The header's `state`: the sender sees the cluster serving every slot (`CLUSTER_OK`).
pub const STATE_OK: u8 = 0;
/// The header's `state`: the sender sees the cluster down (`CLUSTER_FAIL`).
pub const STATE_FAIL: u8 = 1;

/// The name Redis logs for a message type (`clusterGetMessageTypeString()`).
pub fn type_name(kind: u16) -> &'static str {
    match kind {
        msg_type::PING => "ping",
        msg_type::PONG => "pong",
        msg_type::MEET => "meet",
        msg_type::FAIL => "fail",
        msg_type::PUBLISH => "publish",
        msg_type::PUBLISHSHARD => "publishshard",
        msg_type::FAILOVER_AUTH_REQUEST => "auth-req",
        msg_type::FAILOVER_AUTH_ACK => "auth-ack",
        msg_type::UPDATE => "update",
        msg_type::MFSTART => "mfstart",
        msg_type::MODULE => "module",
        _ => "unknown",
    }
}

/// Why bytes are not a valid message. Texts follow Redis's log lines where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The first 8 bytes are not "RCmb" and a length of at least a header: Redis frees the
    /// link.
    #[error("Bad message length or signature received from Cluster bus.")]
    BadPrefix { signature: [u8; 4], totlen: u32 },
    /// Longer than the framer's limit: the link must be closed.
    #[error("Cluster bus message of {totlen} bytes exceeds the {max} bytes limit.")]
    FrameTooLong { totlen: u32, max: usize },
    #[error("Cluster bus message of {len} bytes is shorter than the {HEADER_LEN}-byte header.")]
    Truncated { len: usize },
    #[error("Cluster bus message declares {totlen} bytes but {len} were given.")]
    TotlenMismatch { totlen: u32, len: usize },
    #[error("Cluster bus protocol version {0} is not supported.")]
    Version(u16),
    #[error(
        "Received invalid {} packet of length {totlen} but expected length {expected}",
        type_name(*.kind)
    )]
    BadLength {
        kind: u16,
        totlen: usize,
        expected: u64,
    },
    #[error("Received a {} packet without proper padding ({len} bytes)", type_name(*.kind))]
    ExtPadding { kind: u16, len: u32 },
    #[error(
        "Received invalid {} packet with extension data that exceeds total packet length ({totlen})",
        type_name(*.kind)
    )]
    ExtOverflow { kind: u16, totlen: usize },
    #[error("Received a {} packet with a {len}-byte extension, shorter than its header", type_name(*.kind))]
    ExtTooShort { kind: u16, len: u32 },
    #[error("Received a hostname extension without a terminating NUL")]
    HostnameUnterminated,
    /// A value the format cannot carry (a count over 65535, a message over 4 GiB).
    #[error("Cannot encode a cluster bus message with {0}")]
    Unencodable(&'static str),
}

/// A node's name: 40 bytes, lowercase hex when Redis made it; the bus carries it raw.
#[derive(Clone, Copy, Eq, PartialOrd, Ord)]
pub struct NodeId(pub [u8; NAME_LEN]);

/// Compared as five words, inline: the slot table (16384 owners) is walked comparing
/// names, and a call to `memcmp` per slot made those walks the cost of a CLUSTER SETSLOT.
impl PartialEq for NodeId {
    #[inline]
    fn eq(&self, other: &NodeId) -> bool {
        let word = |id: &NodeId, i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&id.0[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(w)
        };
        // Word by word: comparing whole arrays compiles back into a `memcmp` call.
        (0..NAME_LEN / 8).all(|i| word(self, i) == word(other, i))
    }
}

/// Consistent with `eq`: equal names have equal bytes.
impl std::hash::Hash for NodeId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl NodeId {
    /// All zeros: no node (`CLUSTER_NODE_NULL_NAME`).
    pub const NULL: NodeId = NodeId([0; NAME_LEN]);
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// An IP address as text in a 46-byte NUL-padded field. Always holds a NUL, so at most 45
/// bytes of text. Empty means unknown: in the header it tells the receiver to take the
/// link's peer address (`nodeIp2String()`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetIp([u8; IP_LEN]);

impl NetIp {
    pub const EMPTY: NetIp = NetIp([0; IP_LEN]);

    /// `None` when the text holds a NUL or is longer than 45 bytes.
    pub fn new(text: &[u8]) -> Option<NetIp> {
        if text.len() >= IP_LEN || text.contains(&0) {
            return None;
        }
        let mut ip = [0; IP_LEN];
        ip[..text.len()].copy_from_slice(text);
        Some(NetIp(ip))
    }

    pub fn as_bytes(&self) -> &[u8] {
        let len = memchr::memchr(0, &self.0).unwrap_or(IP_LEN);
        &self.0[..len]
    }

    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }

    /// The text before the first NUL. COMPAT(redis 7.0): Redis forces the last byte to NUL
    /// before using the field, so a 46th byte of text never counts.
    fn from_wire(raw: [u8; IP_LEN]) -> NetIp {
        let len = memchr::memchr(0, &raw).unwrap_or(IP_LEN).min(IP_LEN - 1);
        let mut ip = [0; IP_LEN];
        ip[..len].copy_from_slice(&raw[..len]);
        NetIp(ip)
    }
}

impl fmt::Debug for NetIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetIp({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A set of slots as Redis sends it: slot `s` is bit `s % 8` (least significant first) of
/// byte `s / 8` (`bitmapTestBit()`).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotBitmap(pub [u8; SLOT_BYTES]);

impl SlotBitmap {
    pub const EMPTY: SlotBitmap = SlotBitmap([0; SLOT_BYTES]);

    pub fn contains(&self, slot: Slot) -> bool {
        let s = usize::from(slot.0);
        self.0[s / 8] & (1 << (s % 8)) != 0
    }

    pub fn insert(&mut self, slot: Slot) {
        let s = usize::from(slot.0);
        self.0[s / 8] |= 1 << (s % 8);
    }

    pub fn remove(&mut self, slot: Slot) {
        let s = usize::from(slot.0);
        self.0[s / 8] &= !(1 << (s % 8));
    }
}

impl fmt::Debug for SlotBitmap {
    /// Slot ranges, as CLUSTER NODES lists them: `SlotBitmap[0-99 16383]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlotBitmap[")?;
        let mut first = true;
        let mut slot = 0;
        while slot < SLOTS {
            if !self.contains(Slot(slot as u16)) {
                slot += 1;
                continue;
            }
            let start = slot;
            while slot + 1 < SLOTS && self.contains(Slot(slot as u16 + 1)) {
                slot += 1;
            }
            let sep = if first { "" } else { " " };
            if start == slot {
                write!(f, "{sep}{start}")?;
            } else {
                write!(f, "{sep}{start}-{slot}")?;
            }
            first = false;
            slot += 1;
        }
        f.write_str("]")
    }
}

/// One message: who sends it, and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: MessageHeader,
    pub body: Body,
}

/// What every message says about its sender (`clusterBuildMessageHdr()`). The fields the
/// codec derives from the body (signature, totlen, version, type, count, extension count)
/// are not here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    /// The client port (the TLS one when the bus uses TLS).
    pub port: u16,
    pub current_epoch: u64,
    /// The sender's config epoch; a replica sends its primary's.
    pub config_epoch: u64,
    /// A primary's replication offset, or the offset a replica has processed.
    pub offset: u64,
    pub sender: NodeId,
    /// The slots the sender serves; a replica sends its primary's.
    pub slots: SlotBitmap,
    /// The sender's primary when it is a replica whose primary it knows (`slaveof`; all
    /// zeros on the wire for none).
    pub primary: Option<NodeId>,
    /// `myip`: the announced IP (`cluster-announce-ip`), or empty.
    pub ip: NetIp,
    /// The plaintext client port when `port` is the TLS one, else 0.
    pub pport: u16,
    /// The bus port.
    pub cport: u16,
    /// The sender's [`node_flags`].
    pub flags: u16,
    /// The cluster state the sender sees: [`STATE_OK`] or [`STATE_FAIL`].
    pub state: u8,
    /// Message flags, [`msg_flags0`] in the first byte. [`msg_flags0::EXT_DATA`] is the
    /// codec's: decode consumes it, encode sets it on PING, PONG and MEET with extensions.
    pub mflags: [u8; 3],
}

/// A message's body, by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Ping(PingBody),
    Pong(PingBody),
    Meet(PingBody),
    /// The node the sender has marked FAIL.
    Fail(NodeId),
    Publish(Publish),
    PublishShard(Publish),
    FailoverAuthRequest,
    FailoverAuthAck,
    Update(Box<Update>),
    MfStart,
    Module(ModuleMessage),
    /// A type Redis 7.0 does not know ([`msg_type::COUNT`] or above, never a known one). It
    /// takes no length check, still updates the sender's epochs and offset from the header,
    /// and is otherwise ignored.
    Unknown {
        kind: u16,
        data: Vec<u8>,
    },
}

/// What PING, PONG and MEET carry: gossip about other nodes, then ping extensions.
///
/// How many entries Redis puts in (`clusterSendPing()`): it wants ⌊nodes / 10⌋, at least 3
/// and at most nodes − 2 (neither sender nor receiver), drawn at random, skipping itself,
/// PFAIL nodes, nodes in handshake or without address, and disconnected nodes without
/// slots; then it appends every PFAIL node not in handshake and with an address, so failure
/// reports spread fast. Why a tenth: with N primaries, the expected reports about one PFAIL
/// node within the 2 × node_timeout validity window are 1/N (chance to be drawn) × N/10
/// (entries per packet) × 8N (4 packets each way per node_timeout, twice) = 0.8 N, a
/// majority.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PingBody {
    pub gossip: Vec<Gossip>,
    pub extensions: Vec<PingExt>,
}

/// One gossip entry: the sender's view of another node (`clusterSetGossipEntry()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gossip {
    pub node: NodeId,
    /// When the sender last pinged it, in Unix seconds truncated to 32 bits; 0 when no ping
    /// is pending.
    pub ping_sent_secs: u32,
    /// When the sender last got its PONG, in Unix seconds truncated to 32 bits.
    pub pong_received_secs: u32,
    pub ip: NetIp,
    pub port: u16,
    pub cport: u16,
    /// The sender's [`node_flags`] for this node.
    pub flags: u16,
    pub pport: u16,
}

/// A ping extension: 8-byte header (length including itself, type, padding), then a
/// payload zero-padded to a multiple of 8 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PingExt {
    /// `cluster-announce-hostname`, written NUL-terminated. Redis sends it only when set, so
    /// a PING without one clears the sender's hostname. Must not contain NUL.
    Hostname(Vec<u8>),
    /// A type Redis 7.0 does not know (7.2 adds forgotten-node, shard-id and human
    /// nodename): Redis logs it and skips it. `data` is the payload with its padding; encode
    /// pads it to 8 bytes.
    Unknown { kind: u16, data: Vec<u8> },
}

/// PUBLISH and PUBLISHSHARD: the channel and message of a client's (S)PUBLISH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub channel: Vec<u8>,
    pub message: Vec<u8>,
}

/// UPDATE: a node's slots, sent to a peer whose view of them is stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub config_epoch: u64,
    pub node: NodeId,
    pub slots: SlotBitmap,
}

/// MODULE: a message from a module's cluster API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleMessage {
    /// COMPAT(redis 7.0): Redis copies the id in the sender's own byte order ("already
    /// endian adjusted"), little-endian on every platform Redis clusters run on; we read
    /// and write it little-endian.
    pub module_id: u64,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// How much of a message a link's read buffer holds (behaves like `clusterReadHandler()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// This many more bytes are needed before asking again: first up to the 8-byte prefix,
    /// then up to the whole message.
    Incomplete(usize),
    /// The buffer's first `n` bytes are one message, for [`Message::decode`].
    Complete(usize),
}

/// Whether `buf` starts with a whole message. Errors mean the link must be closed: a
/// signature other than "RCmb", a length shorter than the header (Redis frees the link for
/// both), or a length over `max_len` ([`DEFAULT_MAX_FRAME_LEN`] or a limit derived from the
/// server's own bulk limits; Redis sets none).
pub fn frame(buf: &[u8], max_len: usize) -> Result<Frame, WireError> {
    let Some(prefix) = buf.first_chunk::<PREFIX_LEN>() else {
        return Ok(Frame::Incomplete(PREFIX_LEN - buf.len()));
    };
    let signature = field::<4>(prefix, 0);
    let totlen = be32(prefix, at::TOTLEN);
    if signature != SIGNATURE || (totlen as usize) < HEADER_LEN {
        return Err(WireError::BadPrefix { signature, totlen });
    }
    if totlen as usize > max_len {
        return Err(WireError::FrameTooLong {
            totlen,
            max: max_len,
        });
    }
    let totlen = totlen as usize;
    Ok(if buf.len() < totlen {
        Frame::Incomplete(totlen - buf.len())
    } else {
        Frame::Complete(totlen)
    })
}

impl Message {
    /// Reads one whole message: `buf` must be exactly its bytes. Checks, in Redis's order
    /// (`clusterProcessPacket()`): totlen is the buffer's length, version 1, then the type's
    /// length formula:
    ///
    /// - PING, PONG, MEET: header + 104 × count, plus, when [`msg_flags0::EXT_DATA`] is set,
    ///   the `extensions` ping extensions, each a multiple of 8 bytes that fits;
    /// - FAIL: header + 40; UPDATE: header + 2096;
    /// - PUBLISH, PUBLISHSHARD: header + 8 + channel_len + message_len;
    /// - MODULE: header + 13 + len;
    /// - FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK, MFSTART: the header alone;
    /// - unknown types: anything.
    pub fn decode(buf: &[u8]) -> Result<Message, WireError> {
        let Some((h, body)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(WireError::Truncated { len: buf.len() });
        };
        let signature = field::<4>(h, 0);
        let totlen = be32(h, at::TOTLEN);
        if signature != SIGNATURE {
            return Err(WireError::BadPrefix { signature, totlen });
        }
        if totlen as usize != buf.len() {
            return Err(WireError::TotlenMismatch {
                totlen,
                len: buf.len(),
            });
        }
        let ver = be16(h, at::VER);
        if ver != PROTO_VER {
            return Err(WireError::Version(ver));
        }
        let kind = be16(h, at::TYPE);
        let mut header = MessageHeader::decode(h);
        let ext_data = header.mflags[0] & msg_flags0::EXT_DATA != 0;
        header.mflags[0] &= !msg_flags0::EXT_DATA;
        let bad_length = |expected: usize| WireError::BadLength {
            kind,
            totlen: buf.len(),
            expected: (HEADER_LEN + expected) as u64,
        };
        let body = match kind {
            msg_type::PING | msg_type::PONG | msg_type::MEET => {
                let count = usize::from(be16(h, at::COUNT));
                let extensions = if ext_data { be16(h, at::EXTENSIONS) } else { 0 };
                let ping = PingBody::decode(kind, count, extensions, body)?;
                match kind {
                    msg_type::PING => Body::Ping(ping),
                    msg_type::PONG => Body::Pong(ping),
                    _ => Body::Meet(ping),
                }
            }
            msg_type::FAIL => Body::Fail(NodeId(
                *exact::<FAIL_LEN>(body).ok_or_else(|| bad_length(FAIL_LEN))?,
            )),
            msg_type::PUBLISH => Body::Publish(Publish::decode(kind, body)?),
            msg_type::PUBLISHSHARD => Body::PublishShard(Publish::decode(kind, body)?),
            msg_type::FAILOVER_AUTH_REQUEST | msg_type::FAILOVER_AUTH_ACK | msg_type::MFSTART => {
                if !body.is_empty() {
                    return Err(bad_length(0));
                }
                match kind {
                    msg_type::FAILOVER_AUTH_REQUEST => Body::FailoverAuthRequest,
                    msg_type::FAILOVER_AUTH_ACK => Body::FailoverAuthAck,
                    _ => Body::MfStart,
                }
            }
            msg_type::UPDATE => {
                let u = exact::<UPDATE_LEN>(body).ok_or_else(|| bad_length(UPDATE_LEN))?;
                Body::Update(Box::new(Update {
                    config_epoch: be64(u, 0),
                    node: NodeId(field(u, 8)),
                    slots: SlotBitmap(field(u, 8 + NAME_LEN)),
                }))
            }
            msg_type::MODULE => Body::Module(ModuleMessage::decode(body)?),
            _ => Body::Unknown {
                kind,
                data: body.to_vec(),
            },
        };
        Ok(Message { header, body })
    }

    /// The message's bytes. Fails only when the body cannot fit the format's fields: more
    /// than 65535 gossip entries or extensions, or more than 4 GiB in all (a PUBLISH can
    /// get there only with a raised `proto-max-bulk-len`).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let (count, extensions) = match &self.body {
            Body::Ping(p) | Body::Pong(p) | Body::Meet(p) => (p.gossip.len(), p.extensions.len()),
            _ => (0, 0),
        };
        let count = u16::try_from(count)
            .map_err(|_| WireError::Unencodable("more than 65535 gossip entries"))?;
        let extensions = u16::try_from(extensions)
            .map_err(|_| WireError::Unencodable("more than 65535 ping extensions"))?;
        let totlen = u32::try_from(HEADER_LEN as u64 + self.body.encoded_len())
            .map_err(|_| WireError::Unencodable("more than 4 GiB"))?;
        let mut out = Vec::with_capacity(totlen as usize);
        out.extend_from_slice(
            &self
                .header
                .encode(self.body.kind(), totlen, count, extensions),
        );
        self.body.encode(&mut out);
        debug_assert_eq!(out.len(), totlen as usize);
        Ok(out)
    }
}

impl MessageHeader {
    fn decode(h: &[u8; HEADER_LEN]) -> MessageHeader {
        let primary = NodeId(field(h, at::SLAVEOF));
        MessageHeader {
            port: be16(h, at::PORT),
            current_epoch: be64(h, at::CURRENT_EPOCH),
            config_epoch: be64(h, at::CONFIG_EPOCH),
            offset: be64(h, at::OFFSET),
            sender: NodeId(field(h, at::SENDER)),
            slots: SlotBitmap(field(h, at::MYSLOTS)),
            primary: (primary != NodeId::NULL).then_some(primary),
            ip: NetIp::from_wire(field(h, at::MYIP)),
            pport: be16(h, at::PPORT),
            cport: be16(h, at::CPORT),
            flags: be16(h, at::FLAGS),
            state: h[at::STATE],
            mflags: field(h, at::MFLAGS),
        }
    }

    /// The header bytes; the unused ones stay zero, as Redis leaves them.
    fn encode(&self, kind: u16, totlen: u32, count: u16, extensions: u16) -> [u8; HEADER_LEN] {
        let mut h = [0; HEADER_LEN];
        put(&mut h, 0, &SIGNATURE);
        put(&mut h, at::TOTLEN, &totlen.to_be_bytes());
        put(&mut h, at::VER, &PROTO_VER.to_be_bytes());
        put(&mut h, at::PORT, &self.port.to_be_bytes());
        put(&mut h, at::TYPE, &kind.to_be_bytes());
        put(&mut h, at::COUNT, &count.to_be_bytes());
        put(&mut h, at::CURRENT_EPOCH, &self.current_epoch.to_be_bytes());
        put(&mut h, at::CONFIG_EPOCH, &self.config_epoch.to_be_bytes());
        put(&mut h, at::OFFSET, &self.offset.to_be_bytes());
        put(&mut h, at::SENDER, &self.sender.0);
        put(&mut h, at::MYSLOTS, &self.slots.0);
        put(&mut h, at::SLAVEOF, &self.primary.unwrap_or(NodeId::NULL).0);
        put(&mut h, at::MYIP, &self.ip.0);
        put(&mut h, at::EXTENSIONS, &extensions.to_be_bytes());
        put(&mut h, at::PPORT, &self.pport.to_be_bytes());
        put(&mut h, at::CPORT, &self.cport.to_be_bytes());
        put(&mut h, at::FLAGS, &self.flags.to_be_bytes());
        h[at::STATE] = self.state;
        let mut mflags = self.mflags;
        mflags[0] &= !msg_flags0::EXT_DATA;
        if extensions > 0 {
            mflags[0] |= msg_flags0::EXT_DATA;
        }
        put(&mut h, at::MFLAGS, &mflags);
        h
    }
}

impl Body {
    /// The type number on the wire.
    pub fn kind(&self) -> u16 {
        match self {
            Body::Ping(_) => msg_type::PING,
            Body::Pong(_) => msg_type::PONG,
            Body::Meet(_) => msg_type::MEET,
            Body::Fail(_) => msg_type::FAIL,
            Body::Publish(_) => msg_type::PUBLISH,
            Body::PublishShard(_) => msg_type::PUBLISHSHARD,
            Body::FailoverAuthRequest => msg_type::FAILOVER_AUTH_REQUEST,
            Body::FailoverAuthAck => msg_type::FAILOVER_AUTH_ACK,
            Body::Update(_) => msg_type::UPDATE,
            Body::MfStart => msg_type::MFSTART,
            Body::Module(_) => msg_type::MODULE,
            Body::Unknown { kind, .. } => *kind,
        }
    }

    /// Bytes after the header; u64 so that no sum can wrap before `encode` checks it.
    fn encoded_len(&self) -> u64 {
        let len = |n: usize| n as u64;
        match self {
            Body::Ping(p) | Body::Pong(p) | Body::Meet(p) => {
                len(GOSSIP_LEN * p.gossip.len())
                    + p.extensions.iter().map(PingExt::encoded_len).sum::<u64>()
            }
            Body::Fail(_) => len(FAIL_LEN),
            Body::Publish(p) | Body::PublishShard(p) => {
                len(PUBLISH_FIXED_LEN) + len(p.channel.len()) + len(p.message.len())
            }
            Body::FailoverAuthRequest | Body::FailoverAuthAck | Body::MfStart => 0,
            Body::Update(_) => len(UPDATE_LEN),
            Body::Module(m) => len(MODULE_FIXED_LEN) + len(m.payload.len()),
            Body::Unknown { data, .. } => len(data.len()),
        }
    }

    /// Writes the body; `Message::encode` has checked that every length fits its field.
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Body::Ping(p) | Body::Pong(p) | Body::Meet(p) => {
                for g in &p.gossip {
                    out.extend_from_slice(&g.encode());
                }
                for ext in &p.extensions {
                    ext.encode(out);
                }
            }
            Body::Fail(node) => out.extend_from_slice(&node.0),
            Body::Publish(p) | Body::PublishShard(p) => {
                out.extend_from_slice(&(p.channel.len() as u32).to_be_bytes());
                out.extend_from_slice(&(p.message.len() as u32).to_be_bytes());
                out.extend_from_slice(&p.channel);
                out.extend_from_slice(&p.message);
            }
            Body::FailoverAuthRequest | Body::FailoverAuthAck | Body::MfStart => {}
            Body::Update(u) => {
                out.extend_from_slice(&u.config_epoch.to_be_bytes());
                out.extend_from_slice(&u.node.0);
                out.extend_from_slice(&u.slots.0);
            }
            Body::Module(m) => {
                out.extend_from_slice(&m.module_id.to_le_bytes());
                out.extend_from_slice(&(m.payload.len() as u32).to_be_bytes());
                out.push(m.kind);
                out.extend_from_slice(&m.payload);
            }
            Body::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

impl PingBody {
    /// Gossip entries then extensions, which must end exactly at the end of `body`. Every
    /// allocation is bounded by `body`: `count` entries are taken only once they fit, and
    /// each extension consumes at least 8 bytes.
    fn decode(
        kind: u16,
        count: usize,
        extensions: u16,
        body: &[u8],
    ) -> Result<PingBody, WireError> {
        let totlen = HEADER_LEN + body.len();
        let bad_length = |expected: usize| WireError::BadLength {
            kind,
            totlen,
            expected: expected as u64,
        };
        let Some((entries, mut rest)) = body.split_at_checked(GOSSIP_LEN * count) else {
            return Err(bad_length(HEADER_LEN + GOSSIP_LEN * count));
        };
        let gossip = entries
            .as_chunks::<GOSSIP_LEN>()
            .0
            .iter()
            .map(Gossip::decode)
            .collect();
        let mut exts = Vec::new();
        for _ in 0..extensions {
            let (ext, after) = PingExt::decode(kind, totlen, rest)?;
            exts.push(ext);
            rest = after;
        }
        if !rest.is_empty() {
            return Err(bad_length(totlen - rest.len()));
        }
        Ok(PingBody {
            gossip,
            extensions: exts,
        })
    }
}

impl Gossip {
    fn decode(g: &[u8; GOSSIP_LEN]) -> Gossip {
        Gossip {
            node: NodeId(field(g, 0)),
            ping_sent_secs: be32(g, gossip_at::PING_SENT),
            pong_received_secs: be32(g, gossip_at::PONG_RECEIVED),
            ip: NetIp::from_wire(field(g, gossip_at::IP)),
            port: be16(g, gossip_at::PORT),
            cport: be16(g, gossip_at::CPORT),
            flags: be16(g, gossip_at::FLAGS),
            pport: be16(g, gossip_at::PPORT),
        }
    }

    fn encode(&self) -> [u8; GOSSIP_LEN] {
        let mut g = [0; GOSSIP_LEN];
        put(&mut g, 0, &self.node.0);
        put(
            &mut g,
            gossip_at::PING_SENT,
            &self.ping_sent_secs.to_be_bytes(),
        );
        put(
            &mut g,
            gossip_at::PONG_RECEIVED,
            &self.pong_received_secs.to_be_bytes(),
        );
        put(&mut g, gossip_at::IP, &self.ip.0);
        put(&mut g, gossip_at::PORT, &self.port.to_be_bytes());
        put(&mut g, gossip_at::CPORT, &self.cport.to_be_bytes());
        put(&mut g, gossip_at::FLAGS, &self.flags.to_be_bytes());
        put(&mut g, gossip_at::PPORT, &self.pport.to_be_bytes());
        g
    }
}

impl PingExt {
    /// One extension at the start of `rest`, and what follows it. Like Redis: the length
    /// must be a multiple of 8 and fit in what is left. Stricter than Redis: the 8-byte
    /// header must be there to read, the length must cover it (Redis takes a 0 and reads the
    /// same extension again) and a hostname must end in a NUL inside its extension (Redis
    /// would read on). COMPAT(redis 7.0): Redis checks the length truncated to 16 bits but
    /// steps over all 32; we use all 32 for both.
    fn decode(kind: u16, totlen: usize, rest: &[u8]) -> Result<(PingExt, &[u8]), WireError> {
        let Some(head) = rest.first_chunk::<EXT_HEADER_LEN>() else {
            return Err(WireError::ExtOverflow { kind, totlen });
        };
        let len = be32(head, 0);
        if !len.is_multiple_of(8) {
            return Err(WireError::ExtPadding { kind, len });
        }
        let Some((ext, after)) = rest.split_at_checked(len as usize) else {
            return Err(WireError::ExtOverflow { kind, totlen });
        };
        let Some(payload) = ext.get(EXT_HEADER_LEN..) else {
            return Err(WireError::ExtTooShort { kind, len });
        };
        let ext = match be16(head, 4) {
            ext_type::HOSTNAME => {
                let end = memchr::memchr(0, payload).ok_or(WireError::HostnameUnterminated)?;
                PingExt::Hostname(payload[..end].to_vec())
            }
            other => PingExt::Unknown {
                kind: other,
                data: payload.to_vec(),
            },
        };
        Ok((ext, after))
    }

    /// The payload before padding: a hostname is written with its NUL.
    fn payload(&self) -> (u16, &[u8], usize) {
        match self {
            PingExt::Hostname(name) => (ext_type::HOSTNAME, name, name.len() + 1),
            PingExt::Unknown { kind, data } => (*kind, data, data.len()),
        }
    }

    /// 8-byte header + payload rounded up to 8 (`EIGHT_BYTE_ALIGN`).
    fn encoded_len(&self) -> u64 {
        let (_, _, unpadded) = self.payload();
        (EXT_HEADER_LEN + unpadded.next_multiple_of(8)) as u64
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let (kind, bytes, _) = self.payload();
        let len = self.encoded_len() as usize;
        let start = out.len();
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(bytes);
        out.resize(start + len, 0);
    }
}

impl Publish {
    /// COMPAT(redis 7.0): Redis adds the two lengths in 32 bits, so lengths whose sum wraps
    /// pass its check and it then reads past the packet; here the sum cannot wrap.
    fn decode(kind: u16, body: &[u8]) -> Result<Publish, WireError> {
        let totlen = HEADER_LEN + body.len();
        let Some((lens, data)) = body.split_first_chunk::<PUBLISH_FIXED_LEN>() else {
            return Err(WireError::BadLength {
                kind,
                totlen,
                expected: (HEADER_LEN + PUBLISH_FIXED_LEN) as u64,
            });
        };
        let channel_len = be32(lens, 0);
        let message_len = be32(lens, 4);
        let data_len = u64::from(channel_len) + u64::from(message_len);
        if data.len() as u64 != data_len {
            return Err(WireError::BadLength {
                kind,
                totlen,
                expected: (HEADER_LEN + PUBLISH_FIXED_LEN) as u64 + data_len,
            });
        }
        let (channel, message) = data.split_at(channel_len as usize);
        Ok(Publish {
            channel: channel.to_vec(),
            message: message.to_vec(),
        })
    }
}

impl ModuleMessage {
    fn decode(body: &[u8]) -> Result<ModuleMessage, WireError> {
        let totlen = HEADER_LEN + body.len();
        let bad_length = |payload_len: u64| WireError::BadLength {
            kind: msg_type::MODULE,
            totlen,
            expected: (HEADER_LEN + MODULE_FIXED_LEN) as u64 + payload_len,
        };
        let Some((fixed, payload)) = body.split_first_chunk::<MODULE_FIXED_LEN>() else {
            return Err(bad_length(0));
        };
        let len = be32(fixed, 8);
        if payload.len() as u64 != u64::from(len) {
            return Err(bad_length(u64::from(len)));
        }
        Ok(ModuleMessage {
            module_id: u64::from_le_bytes(field(fixed, 0)),
            kind: fixed[12],
            payload: payload.to_vec(),
        })
    }
}

/// `body` as an array when it has exactly `N` bytes.
fn exact<const N: usize>(body: &[u8]) -> Option<&[u8; N]> {
    body.try_into().ok()
}

/// `N` bytes at a fixed offset of a fixed-size block (the header, a gossip entry, ...).
fn field<const N: usize>(block: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&block[at..at + N]);
    out
}

fn be16(block: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(field(block, at))
}

fn be32(block: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(field(block, at))
}

fn be64(block: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(field(block, at))
}

fn put(block: &mut [u8], at: usize, bytes: &[u8]) {
    block[at..at + bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A MEET that redis-server 7.0.15 sent (port 21301, `cluster-announce-hostname
    /// node-a.example`, slots 0-99 and 16383, one peer at 21302) to a listener posing as a
    /// node it was told to CLUSTER MEET.
    const CAPTURED_MEET: &[u8] = include_bytes!("testdata/meet-redis-7.0.15.bin");

    fn name(c: u8) -> NodeId {
        NodeId([c; NAME_LEN])
    }

    fn ip(text: &str) -> NetIp {
        NetIp::new(text.as_bytes()).unwrap()
    }

    fn header() -> MessageHeader {
        let mut slots = SlotBitmap::EMPTY;
        slots.insert(Slot(0));
        slots.insert(Slot(16383));
        MessageHeader {
            port: 0x1234,
            current_epoch: 0x0102_0304_0506_0708,
            config_epoch: 0x1112_1314_1516_1718,
            offset: 0x2122_2324_2526_2728,
            sender: name(b'a'),
            slots,
            primary: Some(name(b'b')),
            ip: ip("10.0.0.1"),
            pport: 0x3132,
            cport: 0x4142,
            flags: node_flags::REPLICA | node_flags::MYSELF,
            state: STATE_FAIL,
            mflags: [msg_flags0::PAUSED, 0x55, 0x66],
        }
    }

    fn gossip(c: u8) -> Gossip {
        Gossip {
            node: name(c),
            ping_sent_secs: 0x5152_5354,
            pong_received_secs: 0x6162_6364,
            ip: ip("::1"),
            port: 0x7172,
            cport: 0x8182,
            flags: node_flags::PRIMARY | node_flags::PFAIL,
            pport: 0x9192,
        }
    }

    fn message(body: Body) -> Message {
        Message {
            header: header(),
            body,
        }
    }

    fn ping() -> PingBody {
        PingBody {
            gossip: vec![gossip(b'c'), gossip(b'd')],
            extensions: vec![
                PingExt::Hostname(b"node-a.example".to_vec()),
                PingExt::Unknown {
                    kind: 2,
                    data: vec![7; 16],
                },
            ],
        }
    }

    fn publish() -> Publish {
        Publish {
            channel: b"news".to_vec(),
            message: b"hello world".to_vec(),
        }
    }

    /// One message of every type, with its length by Redis's formulas.
    fn every_type() -> Vec<(Message, usize)> {
        let mut slots = SlotBitmap::EMPTY;
        slots.insert(Slot(5000));
        vec![
            (message(Body::Ping(ping())), 2256 + 2 * 104 + 24 + 24),
            (message(Body::Pong(PingBody::default())), 2256),
            (message(Body::Meet(ping())), 2256 + 2 * 104 + 24 + 24),
            (message(Body::Fail(name(b'f'))), 2296),
            (message(Body::Publish(publish())), 2256 + 8 + 4 + 11),
            (message(Body::PublishShard(publish())), 2256 + 8 + 4 + 11),
            (message(Body::FailoverAuthRequest), 2256),
            (message(Body::FailoverAuthAck), 2256),
            (
                message(Body::Update(Box::new(Update {
                    config_epoch: 9,
                    node: name(b'u'),
                    slots,
                }))),
                4352,
            ),
            (message(Body::MfStart), 2256),
            (
                message(Body::Module(ModuleMessage {
                    module_id: 0x0102_0304_0506_0708,
                    kind: 3,
                    payload: b"payload".to_vec(),
                })),
                2256 + 13 + 7,
            ),
            (
                message(Body::Unknown {
                    kind: 42,
                    data: b"whatever".to_vec(),
                }),
                2256 + 8,
            ),
        ]
    }

    fn be(bytes: &[u8], at: usize, len: usize) -> u64 {
        bytes[at..at + len]
            .iter()
            .fold(0, |n, &b| (n << 8) | u64::from(b))
    }

    #[test]
    fn header_fields_sit_at_redis_offsets() {
        let bytes = message(Body::FailoverAuthAck).encode().unwrap();
        // Offsets from cluster.h's static asserts, written out rather than taken from `at`.
        assert_eq!(&bytes[0..4], b"RCmb");
        assert_eq!(be(&bytes, 4, 4), 2256);
        assert_eq!(be(&bytes, 8, 2), 1);
        assert_eq!(be(&bytes, 10, 2), 0x1234);
        assert_eq!(be(&bytes, 12, 2), 6);
        assert_eq!(be(&bytes, 14, 2), 0);
        assert_eq!(be(&bytes, 16, 8), 0x0102_0304_0506_0708);
        assert_eq!(be(&bytes, 24, 8), 0x1112_1314_1516_1718);
        assert_eq!(be(&bytes, 32, 8), 0x2122_2324_2526_2728);
        assert_eq!(&bytes[40..80], &[b'a'; 40]);
        // Slot 0 is the low bit of the first bitmap byte, slot 16383 the high bit of the last.
        assert_eq!(bytes[80], 0x01);
        assert!(bytes[81..2127].iter().all(|&b| b == 0));
        assert_eq!(bytes[2127], 0x80);
        assert_eq!(&bytes[2128..2168], &[b'b'; 40]);
        assert_eq!(&bytes[2168..2176], b"10.0.0.1");
        assert!(bytes[2176..2214].iter().all(|&b| b == 0));
        assert_eq!(be(&bytes, 2214, 2), 0);
        assert!(bytes[2216..2246].iter().all(|&b| b == 0));
        assert_eq!(be(&bytes, 2246, 2), 0x3132);
        assert_eq!(be(&bytes, 2248, 2), 0x4142);
        assert_eq!(be(&bytes, 2250, 2), 2 | 16);
        assert_eq!(bytes[2252], 1);
        assert_eq!(&bytes[2253..2256], &[1, 0x55, 0x66]);
        assert_eq!(bytes.len(), 2256);
    }

    #[test]
    fn gossip_and_extensions_sit_at_redis_offsets() {
        let bytes = message(Body::Ping(ping())).encode().unwrap();
        assert_eq!(be(&bytes, 12, 2), 0);
        assert_eq!(be(&bytes, 14, 2), 2);
        assert_eq!(be(&bytes, 2214, 2), 2);
        assert_eq!(bytes[2253], msg_flags0::PAUSED | msg_flags0::EXT_DATA);
        let g = &bytes[2256..2360];
        assert_eq!(&g[0..40], &[b'c'; 40]);
        assert_eq!(be(g, 40, 4), 0x5152_5354);
        assert_eq!(be(g, 44, 4), 0x6162_6364);
        assert_eq!(&g[48..52], b"::1\0");
        assert_eq!(be(g, 94, 2), 0x7172);
        assert_eq!(be(g, 96, 2), 0x8182);
        assert_eq!(be(g, 98, 2), 1 | 4);
        assert_eq!(be(g, 100, 2), 0x9192);
        assert_eq!(&g[102..104], &[0, 0]);
        assert_eq!(&bytes[2360..2364], &[b'd'; 4]);
        // Hostname: length 8 + EIGHT_BYTE_ALIGN(14 + 1) = 24, type 0, then the NUL-padded name.
        let ext = &bytes[2464..2488];
        assert_eq!(be(ext, 0, 4), 24);
        assert_eq!(be(ext, 4, 2), 0);
        assert_eq!(&ext[6..8], &[0, 0]);
        assert_eq!(&ext[8..24], b"node-a.example\0\0");
        assert_eq!(be(&bytes, 2488, 4), 24);
        assert_eq!(be(&bytes, 2492, 2), 2);
        assert_eq!(bytes.len(), 2512);
    }

    #[test]
    fn every_type_round_trips_with_redis_lengths() {
        for (msg, len) in every_type() {
            let bytes = msg.encode().unwrap();
            assert_eq!(bytes.len(), len, "{msg:?}");
            assert_eq!(be(&bytes, 4, 4), len as u64);
            assert_eq!(be(&bytes, 12, 2), u64::from(msg.body.kind()));
            assert_eq!(Message::decode(&bytes), Ok(msg));
        }
    }

    #[test]
    fn body_layouts() {
        let bytes = message(Body::Publish(publish())).encode().unwrap();
        assert_eq!(be(&bytes, 2256, 4), 4);
        assert_eq!(be(&bytes, 2260, 4), 11);
        assert_eq!(&bytes[2264..], b"newshello world");

        let bytes = message(every_type()[8].0.body.clone()).encode().unwrap();
        assert_eq!(be(&bytes, 2256, 8), 9);
        assert_eq!(&bytes[2264..2304], &[b'u'; 40]);
        assert_eq!(bytes[2304 + 5000 / 8], 1 << (5000 % 8));

        let bytes = message(every_type()[10].0.body.clone()).encode().unwrap();
        assert_eq!(&bytes[2256..2264], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(be(&bytes, 2264, 4), 7);
        assert_eq!(bytes[2268], 3);
        assert_eq!(&bytes[2269..], b"payload");
    }

    #[test]
    fn decodes_a_meet_captured_from_redis() {
        let msg = Message::decode(CAPTURED_MEET).unwrap();
        let h = &msg.header;
        assert_eq!(
            h.sender.to_string(),
            "693b00191ec670494152e397466ccb8e3ac2aa3b"
        );
        assert_eq!((h.port, h.cport, h.pport), (21301, 31301, 0));
        assert_eq!(h.flags, node_flags::MYSELF | node_flags::PRIMARY);
        assert_eq!((h.current_epoch, h.config_epoch, h.offset), (1, 1, 0));
        assert_eq!(h.primary, None);
        assert!(h.ip.is_empty());
        assert_eq!(h.state, STATE_FAIL);
        assert_eq!(h.mflags, [0; 3]);
        assert_eq!(format!("{:?}", h.slots), "SlotBitmap[0-99 16383]");
        let Body::Meet(ping) = &msg.body else {
            panic!("not a MEET: {:?}", msg.body);
        };
        let [peer] = ping.gossip.as_slice() else {
            panic!("gossip: {:?}", ping.gossip);
        };
        assert_eq!(
            peer.node.to_string(),
            "d27599a2d7eb7073d074e956dff899e504145701"
        );
        assert_eq!(peer.ip.as_bytes(), b"127.0.0.1");
        assert_eq!((peer.port, peer.cport, peer.pport), (21302, 31302, 0));
        assert_eq!(peer.flags, node_flags::PRIMARY);
        assert_eq!(peer.ping_sent_secs, 0);
        assert_eq!(
            ping.extensions,
            [PingExt::Hostname(b"node-a.example".to_vec())]
        );
        assert_eq!(msg.encode().unwrap(), CAPTURED_MEET);
        assert_eq!(
            frame(CAPTURED_MEET, DEFAULT_MAX_FRAME_LEN),
            Ok(Frame::Complete(2384))
        );
    }

    /// `bytes` with the big-endian `value` written over `at..at + len`.
    fn patched(mut bytes: Vec<u8>, at: usize, len: usize, value: u64) -> Vec<u8> {
        bytes[at..at + len].copy_from_slice(&value.to_be_bytes()[8 - len..]);
        bytes
    }

    fn encoded(body: Body) -> Vec<u8> {
        message(body).encode().unwrap()
    }

    #[test]
    fn header_checks() {
        let ok = encoded(Body::MfStart);
        assert_eq!(
            Message::decode(&ok[..100]),
            Err(WireError::Truncated { len: 100 })
        );
        assert!(matches!(
            Message::decode(&patched(ok.clone(), 0, 1, u64::from(b'X'))),
            Err(WireError::BadPrefix { .. })
        ));
        assert_eq!(
            Message::decode(&patched(ok.clone(), 4, 4, 2257)),
            Err(WireError::TotlenMismatch {
                totlen: 2257,
                len: 2256
            })
        );
        assert_eq!(
            Message::decode(&patched(ok.clone(), 8, 2, 2)),
            Err(WireError::Version(2))
        );
        let mut longer = ok.clone();
        longer.push(0);
        assert_eq!(
            Message::decode(&patched(longer, 4, 4, 2257)),
            Err(WireError::BadLength {
                kind: msg_type::MFSTART,
                totlen: 2257,
                expected: 2256
            })
        );
        assert_eq!(
            WireError::BadLength {
                kind: msg_type::MFSTART,
                totlen: 2257,
                expected: 2256
            }
            .to_string(),
            "Received invalid mfstart packet of length 2257 but expected length 2256"
        );
    }

    /// `bytes` with its last `n` bytes cut and totlen fixed to match.
    fn shortened(mut bytes: Vec<u8>, n: usize) -> Vec<u8> {
        bytes.truncate(bytes.len() - n);
        let len = bytes.len() as u64;
        patched(bytes, 4, 4, len)
    }

    #[test]
    fn fixed_length_types_check_their_formula() {
        for body in [Body::Fail(name(b'f')), every_type()[8].0.body.clone()] {
            let kind = body.kind();
            let bytes = encoded(body);
            let expected = bytes.len() as u64;
            assert_eq!(
                Message::decode(&shortened(bytes, 1)),
                Err(WireError::BadLength {
                    kind,
                    totlen: expected as usize - 1,
                    expected
                })
            );
        }
    }

    #[test]
    fn publish_and_module_lengths() {
        let bytes = encoded(Body::Publish(publish()));
        assert_eq!(
            Message::decode(&patched(bytes.clone(), 2260, 4, 12)),
            Err(WireError::BadLength {
                kind: msg_type::PUBLISH,
                totlen: 2279,
                expected: 2280
            })
        );
        // COMPAT(redis 7.0): lengths whose 32-bit sum wraps to the right total pass Redis's
        // check; they must not pass ours.
        let wrapping = patched(patched(bytes.clone(), 2256, 4, 0xffff_fffc), 2260, 4, 19);
        assert!(matches!(
            Message::decode(&wrapping),
            Err(WireError::BadLength { expected, .. }) if expected == 2264 + 0xffff_fffc + 19
        ));
        let empty = patched(patched(shortened(bytes, 15), 2256, 4, 0), 2260, 4, 0);
        assert_eq!(
            Message::decode(&empty).map(|m| m.body),
            Ok(Body::Publish(Publish {
                channel: vec![],
                message: vec![]
            }))
        );
        let only_header = shortened(encoded(Body::Publish(publish())), 16);
        assert!(matches!(
            Message::decode(&only_header),
            Err(WireError::BadLength { expected: 2264, .. })
        ));

        let bytes = encoded(every_type()[10].0.body.clone());
        assert!(matches!(
            Message::decode(&patched(bytes.clone(), 2264, 4, 8)),
            Err(WireError::BadLength { expected: 2277, .. })
        ));
        assert!(matches!(
            Message::decode(&shortened(bytes, 10)),
            Err(WireError::BadLength { expected: 2269, .. })
        ));
    }

    #[test]
    fn gossip_count_must_match() {
        let bytes = encoded(Body::Pong(PingBody {
            gossip: vec![gossip(b'c')],
            extensions: vec![],
        }));
        assert_eq!(
            Message::decode(&patched(bytes.clone(), 14, 2, 2)),
            Err(WireError::BadLength {
                kind: msg_type::PONG,
                totlen: 2360,
                expected: 2464
            })
        );
        assert_eq!(
            Message::decode(&patched(bytes, 14, 2, 0)),
            Err(WireError::BadLength {
                kind: msg_type::PONG,
                totlen: 2360,
                expected: 2256
            })
        );
    }

    /// A PING with no gossip and the given extension bytes, EXT_DATA set, `count` extensions.
    fn ping_with_ext(count: u16, ext: &[u8]) -> Vec<u8> {
        let mut bytes = encoded(Body::Ping(PingBody::default()));
        bytes.extend_from_slice(ext);
        let len = bytes.len() as u64;
        bytes[2253] |= msg_flags0::EXT_DATA;
        patched(patched(bytes, 4, 4, len), 2214, 2, u64::from(count))
    }

    #[test]
    fn extension_checks() {
        let hostname = b"\0\0\0\x10\0\0\0\0host\0\0\0\0";
        assert_eq!(
            Message::decode(&ping_with_ext(1, hostname)).map(|m| m.body),
            Ok(Body::Ping(PingBody {
                gossip: vec![],
                extensions: vec![PingExt::Hostname(b"host".to_vec())]
            }))
        );
        let kind = msg_type::PING;
        assert_eq!(
            Message::decode(&ping_with_ext(1, b"\0\0\0\x0c\0\0\0\0host")),
            Err(WireError::ExtPadding { kind, len: 12 })
        );
        assert_eq!(
            Message::decode(&ping_with_ext(1, b"\0\0\0\x18\0\0\0\0host\0\0\0\0")),
            Err(WireError::ExtOverflow { kind, totlen: 2272 })
        );
        assert_eq!(
            Message::decode(&ping_with_ext(2, hostname)),
            Err(WireError::ExtOverflow { kind, totlen: 2272 })
        );
        assert_eq!(
            Message::decode(&ping_with_ext(1, b"\0\0\0\0\0\0\0\0")),
            Err(WireError::ExtTooShort { kind, len: 0 })
        );
        assert_eq!(
            Message::decode(&ping_with_ext(1, b"\0\0\0\x10\0\0\0\0hostname")),
            Err(WireError::HostnameUnterminated)
        );
        assert_eq!(
            Message::decode(&ping_with_ext(0, hostname)),
            Err(WireError::BadLength {
                kind,
                totlen: 2272,
                expected: 2256
            })
        );
        // Without EXT_DATA Redis reads no extensions whatever the count says.
        let mut unflagged = ping_with_ext(1, hostname);
        unflagged[2253] &= !msg_flags0::EXT_DATA;
        assert!(matches!(
            Message::decode(&unflagged),
            Err(WireError::BadLength { expected: 2256, .. })
        ));
        let unflagged = shortened(unflagged, 16);
        assert_eq!(
            Message::decode(&unflagged).map(|m| m.body),
            Ok(Body::Ping(PingBody::default()))
        );
        let unknown = b"\0\0\0\x10\0\x07\0\0abcdefgh";
        assert_eq!(
            Message::decode(&ping_with_ext(1, unknown)).map(|m| m.body),
            Ok(Body::Ping(PingBody {
                gossip: vec![],
                extensions: vec![PingExt::Unknown {
                    kind: 7,
                    data: b"abcdefgh".to_vec()
                }]
            }))
        );
    }

    #[test]
    fn ext_data_flag_belongs_to_the_codec() {
        let mut msg = message(Body::Pong(PingBody::default()));
        msg.header.mflags[0] |= msg_flags0::EXT_DATA;
        let bytes = msg.encode().unwrap();
        assert_eq!(bytes[2253], msg_flags0::PAUSED);
        let decoded = Message::decode(&bytes).unwrap();
        assert_eq!(decoded.header.mflags[0], msg_flags0::PAUSED);
    }

    #[test]
    fn framing() {
        let bytes = encoded(Body::Fail(name(b'f')));
        let max = DEFAULT_MAX_FRAME_LEN;
        assert_eq!(frame(&[], max), Ok(Frame::Incomplete(8)));
        assert_eq!(frame(&bytes[..5], max), Ok(Frame::Incomplete(3)));
        assert_eq!(frame(&bytes[..8], max), Ok(Frame::Incomplete(2288)));
        assert_eq!(frame(&bytes[..2295], max), Ok(Frame::Incomplete(1)));
        assert_eq!(frame(&bytes, max), Ok(Frame::Complete(2296)));
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes[..10]);
        assert_eq!(frame(&two, max), Ok(Frame::Complete(2296)));
        assert_eq!(
            frame(b"RCmc\0\0\x10\0", max),
            Err(WireError::BadPrefix {
                signature: *b"RCmc",
                totlen: 4096
            })
        );
        assert_eq!(
            frame(b"RCmb\0\0\x08\xcf", max),
            Err(WireError::BadPrefix {
                signature: *b"RCmb",
                totlen: 2255
            })
        );
        assert_eq!(frame(b"RCmb\0\0\x08\xd0", max), Ok(Frame::Incomplete(2248)));
        assert_eq!(
            frame(b"RCmb\xff\xff\xff\xff", max),
            Err(WireError::FrameTooLong {
                totlen: u32::MAX,
                max
            })
        );
        assert_eq!(
            frame(&bytes, 2295),
            Err(WireError::FrameTooLong {
                totlen: 2296,
                max: 2295
            })
        );
    }

    #[test]
    fn net_ip_and_slot_bitmap() {
        assert_eq!(
            NetIp::new(&[b'1'; 45]).map(|ip| ip.as_bytes().len()),
            Some(45)
        );
        assert_eq!(NetIp::new(&[b'1'; 46]), None);
        assert_eq!(NetIp::new(b"1\0.2"), None);
        assert_eq!(NetIp::from_wire([b'1'; IP_LEN]).as_bytes(), &[b'1'; 45]);
        let mut raw = [0; IP_LEN];
        raw[..10].copy_from_slice(b"127.0\0junk");
        assert_eq!(NetIp::from_wire(raw).as_bytes(), b"127.0");
        let mut slots = SlotBitmap::EMPTY;
        for s in [1, 2, 3, 8, 100, 16383] {
            slots.insert(Slot(s));
        }
        assert!(slots.contains(Slot(8)) && !slots.contains(Slot(9)));
        assert_eq!(format!("{slots:?}"), "SlotBitmap[1-3 8 100 16383]");
    }

    fn arb_name() -> impl Strategy<Value = NodeId> {
        prop::collection::vec(any::<u8>(), NAME_LEN).prop_map(|v| NodeId(v.try_into().unwrap()))
    }

    fn arb_ip() -> impl Strategy<Value = NetIp> {
        "[0-9a-f.:]{0,45}".prop_map(|s| NetIp::new(s.as_bytes()).unwrap())
    }

    fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..max)
    }

    fn arb_slots() -> impl Strategy<Value = SlotBitmap> {
        prop::collection::vec(any::<u8>(), SLOT_BYTES)
            .prop_map(|v| SlotBitmap(v.try_into().unwrap()))
    }

    fn arb_header() -> impl Strategy<Value = MessageHeader> {
        (
            (any::<u16>(), any::<u64>(), any::<u64>(), any::<u64>()),
            (arb_name(), arb_slots(), prop::option::of(arb_name())),
            (
                arb_ip(),
                any::<u16>(),
                any::<u16>(),
                any::<u16>(),
                any::<u8>(),
            ),
            (any::<u8>(), any::<u8>(), any::<u8>()),
        )
            .prop_map(
                |(
                    (port, current_epoch, config_epoch, offset),
                    (sender, slots, primary),
                    rest,
                    m,
                )| {
                    let (ip, pport, cport, flags, state) = rest;
                    MessageHeader {
                        port,
                        current_epoch,
                        config_epoch,
                        offset,
                        sender,
                        slots,
                        // The wire cannot tell an all-zero primary from none.
                        primary: primary.filter(|p| *p != NodeId::NULL),
                        ip,
                        pport,
                        cport,
                        flags,
                        state,
                        mflags: [m.0 & !msg_flags0::EXT_DATA, m.1, m.2],
                    }
                },
            )
    }

    fn arb_gossip() -> impl Strategy<Value = Gossip> {
        (
            arb_name(),
            any::<u32>(),
            any::<u32>(),
            arb_ip(),
            any::<[u16; 4]>(),
        )
            .prop_map(|(node, ping_sent_secs, pong_received_secs, ip, p)| Gossip {
                node,
                ping_sent_secs,
                pong_received_secs,
                ip,
                port: p[0],
                cport: p[1],
                flags: p[2],
                pport: p[3],
            })
    }

    fn arb_ext() -> impl Strategy<Value = PingExt> {
        prop_oneof![
            "[a-z0-9.-]{0,40}".prop_map(|h| PingExt::Hostname(h.into_bytes())),
            (1u16.., prop::collection::vec(any::<u64>(), 0..4)).prop_map(|(kind, words)| {
                PingExt::Unknown {
                    kind,
                    data: words.iter().flat_map(|w| w.to_le_bytes()).collect(),
                }
            }),
        ]
    }

    fn arb_ping() -> impl Strategy<Value = PingBody> {
        (
            prop::collection::vec(arb_gossip(), 0..5),
            prop::collection::vec(arb_ext(), 0..4),
        )
            .prop_map(|(gossip, extensions)| PingBody { gossip, extensions })
    }

    fn arb_publish() -> impl Strategy<Value = Publish> {
        (arb_bytes(40), arb_bytes(80)).prop_map(|(channel, message)| Publish { channel, message })
    }

    fn arb_body() -> impl Strategy<Value = Body> {
        prop_oneof![
            arb_ping().prop_map(Body::Ping),
            arb_ping().prop_map(Body::Pong),
            arb_ping().prop_map(Body::Meet),
            arb_name().prop_map(Body::Fail),
            arb_publish().prop_map(Body::Publish),
            arb_publish().prop_map(Body::PublishShard),
            Just(Body::FailoverAuthRequest),
            Just(Body::FailoverAuthAck),
            (any::<u64>(), arb_name(), arb_slots()).prop_map(|(config_epoch, node, slots)| {
                Body::Update(Box::new(Update {
                    config_epoch,
                    node,
                    slots,
                }))
            }),
            Just(Body::MfStart),
            (any::<u64>(), any::<u8>(), arb_bytes(64)).prop_map(|(module_id, kind, payload)| {
                Body::Module(ModuleMessage {
                    module_id,
                    kind,
                    payload,
                })
            }),
            (msg_type::COUNT.., arb_bytes(64))
                .prop_map(|(kind, data)| Body::Unknown { kind, data }),
        ]
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (arb_header(), arb_body()).prop_map(|(header, body)| Message { header, body })
    }

    /// Decoding must not panic; what it accepts must re-encode to something that decodes
    /// the same.
    fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
        let _ = frame(bytes, DEFAULT_MAX_FRAME_LEN);
        if let Ok(msg) = Message::decode(bytes) {
            let again = msg.encode().unwrap();
            prop_assert_eq!(Message::decode(&again), Ok(msg));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn round_trips(msg in arb_message()) {
            let bytes = msg.encode().unwrap();
            prop_assert_eq!(frame(&bytes, DEFAULT_MAX_FRAME_LEN), Ok(Frame::Complete(bytes.len())));
            prop_assert_eq!(Message::decode(&bytes), Ok(msg));
        }

        #[test]
        fn random_bytes_never_panic(bytes in arb_bytes(3000)) {
            check_decode(&bytes)?;
        }

        /// A valid prefix, version and a small type, so decoding gets past the first checks.
        #[test]
        fn random_bodies_never_panic(
            kind in 0u16..13,
            count in prop_oneof![0u16..4, any::<u16>()],
            extensions in prop_oneof![0u16..4, any::<u16>()],
            mflags0 in any::<u8>(),
            body in prop_oneof![
                arb_bytes(600),
                prop::collection::vec(prop_oneof![Just(0u8), Just(8), Just(16), any::<u8>()], 0..600),
            ],
        ) {
            let mut bytes = encoded(Body::MfStart);
            bytes.extend_from_slice(&body);
            let len = bytes.len() as u64;
            bytes[2253] = mflags0;
            let bytes = patched(patched(patched(patched(bytes, 4, 4, len), 12, 2, u64::from(kind)), 14, 2, u64::from(count)), 2214, 2, u64::from(extensions));
            check_decode(&bytes)?;
        }

        #[test]
        fn truncations_are_rejected(msg in arb_message(), cut in any::<prop::sample::Index>()) {
            let bytes = msg.encode().unwrap();
            let cut = cut.index(bytes.len());
            prop_assert!(Message::decode(&bytes[..cut]).is_err());
            let missing = if cut < PREFIX_LEN { PREFIX_LEN - cut } else { bytes.len() - cut };
            prop_assert_eq!(frame(&bytes[..cut], DEFAULT_MAX_FRAME_LEN), Ok(Frame::Incomplete(missing)));
            // With totlen fixed up to the cut, only the type's own formula can reject it.
            if cut >= HEADER_LEN {
                check_decode(&patched(bytes[..cut].to_vec(), 4, 4, cut as u64))?;
            }
        }

        #[test]
        fn mutations_never_panic(
            msg in arb_message(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            tail_edits in prop::collection::vec((0usize..64, any::<u8>()), 0..8),
        ) {
            let mut bytes = msg.encode().unwrap();
            let len = bytes.len();
            for (at, b) in edits {
                bytes[at.index(len)] = b;
            }
            // The body's length fields sit right after the header: hit them often.
            for (at, b) in tail_edits {
                if let Some(byte) = bytes.get_mut(HEADER_LEN + at) {
                    *byte = b;
                }
            }
            check_decode(&bytes)?;
        }
    }
}
