//! The pub/sub registry: channel, pattern and shard-channel subscribers, and delivery.
//!
//! Delivery appends the RESP-encoded message to each subscriber's outbox and wakes its
//! connection (behaves like `pubsubPublishMessage()`): channel subscribers first, in
//! subscription order, then pattern subscribers. Messages are encoded once per protocol
//! version, not once per subscriber.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use parking_lot::RwLock;

use super::client::ClientShared;
use crate::util::glob::glob_match;

type Subscribers = HashMap<Vec<u8>, Vec<Arc<ClientShared>>>;

/// Which namespace a subscription lives in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

#[derive(Default)]
pub struct PubSub {
    channels: RwLock<Subscribers>,
    patterns: RwLock<Subscribers>,
    shard: RwLock<Subscribers>,
    /// Total subscriptions of all kinds: publishing to nobody is one atomic load.
    total: AtomicUsize,
    /// `client-output-buffer-limit pubsub` hard limit in bytes (0 = none).
    hard_limit: AtomicU64,
}

/// One message encoded for both protocol versions.
struct Encoded {
    resp2: Vec<u8>,
    resp3: Vec<u8>,
}

fn encode(parts: &[&[u8]]) -> Encoded {
    let mut body = Vec::new();
    for p in parts {
        body.push(b'$');
        body.extend_from_slice(itoa::Buffer::new().format(p.len()).as_bytes());
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(p);
        body.extend_from_slice(b"\r\n");
    }
    let n = itoa::Buffer::new().format(parts.len()).to_string();
    let mut resp2 = format!("*{n}\r\n").into_bytes();
    resp2.extend_from_slice(&body);
    let mut resp3 = format!(">{n}\r\n").into_bytes();
    resp3.extend_from_slice(&body);
    Encoded { resp2, resp3 }
}

fn deliver(to: &ClientShared, msg: &Encoded, hard_limit: u64) {
    let bytes = if to.resp.load(Relaxed) >= 3 {
        &msg.resp3
    } else {
        &msg.resp2
    };
    let pending = {
        let mut outbox = to.outbox.lock();
        outbox.extend_from_slice(bytes);
        outbox.len() as u64
    };
    if hard_limit > 0 && pending > hard_limit && !to.is_killed() {
        tracing::warn!(
            "Client id={} addr={} closed for overcoming of output buffer limits.",
            to.id,
            to.addr
        );
        to.outbox.lock().clear();
        to.kill();
        return;
    }
    to.wake.notify_one();
}

impl PubSub {
    /// Sets the pub/sub clients' hard output limit.
    pub fn set_hard_limit(&self, bytes: u64) {
        self.hard_limit.store(bytes, Relaxed);
    }

    fn map(&self, kind: Kind) -> &RwLock<Subscribers> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    /// Adds a subscription; the caller checked that the client did not have it.
    pub fn subscribe(&self, kind: Kind, name: &[u8], client: &Arc<ClientShared>) {
        self.map(kind)
            .write()
            .entry(name.to_vec())
            .or_default()
            .push(client.clone());
        self.total.fetch_add(1, Relaxed);
    }

    /// Removes a subscription; returns whether it existed.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], client_id: u64) -> bool {
        let mut map = self.map(kind).write();
        let Some(list) = map.get_mut(name) else {
            return false;
        };
        let before = list.len();
        list.retain(|c| c.id != client_id);
        let removed = list.len() < before;
        if list.is_empty() {
            map.remove(name);
        }
        if removed {
            self.total.fetch_sub(1, Relaxed);
        }
        removed
    }

    /// PUBLISH: delivers to channel then pattern subscribers; returns the receiver count.
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        if self.total.load(Relaxed) == 0 {
            return 0;
        }
        let limit = self.hard_limit.load(Relaxed);
        let mut receivers = 0;
        {
            let channels = self.channels.read();
            if let Some(subs) = channels.get(channel) {
                let msg = encode(&[b"message", channel, message]);
                for s in subs {
                    deliver(s, &msg, limit);
                }
                receivers += subs.len();
            }
        }
        let patterns = self.patterns.read();
        for (pattern, subs) in patterns.iter() {
            if glob_match(pattern, channel, false) {
                let msg = encode(&[b"pmessage", pattern, channel, message]);
                for s in subs {
                    deliver(s, &msg, limit);
                }
                receivers += subs.len();
            }
        }
        receivers
    }

    /// SPUBLISH: delivers to shard-channel subscribers.
    pub fn spublish(&self, channel: &[u8], message: &[u8]) -> usize {
        if self.total.load(Relaxed) == 0 {
            return 0;
        }
        let limit = self.hard_limit.load(Relaxed);
        let shard = self.shard.read();
        match shard.get(channel) {
            Some(subs) => {
                let msg = encode(&[b"smessage", channel, message]);
                for s in subs {
                    deliver(s, &msg, limit);
                }
                subs.len()
            }
            None => 0,
        }
    }

    /// Whether anybody could receive a message (a cheap check before building one).
    #[inline]
    pub fn has_subscribers(&self) -> bool {
        self.total.load(Relaxed) > 0
    }

    /// Active channels (with at least one subscriber) matching `pattern`.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.map(kind)
            .read()
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscriber count of one channel.
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.map(kind).read().get(channel).map_or(0, Vec::len)
    }

    /// Number of distinct patterns subscribed.
    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }
}
