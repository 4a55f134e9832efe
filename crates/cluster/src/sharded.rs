//! Several independent Redis servers as one bus (`--redis a,b,…`): each topic lives on
//! one of them, picked by a jump consistent hash of its name, which every instance
//! computes alike without coordinating (as Centrifugo shards). Throughput grows with the
//! servers; an outage of one loses only the remote copies of its topics.

use bytes::Bytes;

use super::{PubSub, Subscribed};

pub struct ShardedBus {
    shards: Vec<Box<dyn PubSub>>,
}

impl ShardedBus {
    pub fn new(shards: Vec<Box<dyn PubSub>>) -> ShardedBus {
        assert!(!shards.is_empty(), "at least one shard");
        ShardedBus { shards }
    }

    fn shard(&self, topic: &str) -> &dyn PubSub {
        self.shards[jump_hash(fnv1a(topic.as_bytes()), self.shards.len())].as_ref()
    }
}

impl PubSub for ShardedBus {
    fn publish(&self, topic: String, message: Bytes) {
        self.shard(&topic).publish(topic, message);
    }

    fn subscribe(&self, topic: &str) -> Subscribed {
        self.shard(topic).subscribe(topic)
    }

    fn unsubscribe(&self, topic: &str) {
        self.shard(topic).unsubscribe(topic);
    }

    fn connected(&self) -> bool {
        self.shards.iter().all(|shard| shard.connected())
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Lamping and Veach's jump consistent hash: a bucket in `0..buckets`; adding a bucket
/// moves only the keys that land on it.
fn jump_hash(mut key: u64, buckets: usize) -> usize {
    let (mut bucket, mut next) = (-1i64, 0i64);
    while next < buckets as i64 {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        next = ((bucket + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    bucket as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_spread_over_the_shards_and_adding_one_moves_few() {
        let topics: Vec<String> = (0..10_000).map(|n| format!("wh:default:c:room-{n}")).collect();
        let on = |buckets| topics.iter().map(|t| jump_hash(fnv1a(t.as_bytes()), buckets)).collect::<Vec<_>>();
        let (three, four) = (on(3), on(4));
        for shard in 0..3 {
            let count = three.iter().filter(|&&s| s == shard).count();
            assert!((3_000..3_700).contains(&count), "shard {shard} has {count} of 10 000");
        }
        let moved = three.iter().zip(&four).filter(|(a, b)| a != b).count();
        assert!((2_200..2_800).contains(&moved), "{moved} moved; a quarter should");
        assert!(three.iter().zip(&four).all(|(a, b)| a == b || *b == 3), "moves only to the new shard");
    }
}
