//! Topics, whatever the driver's I/O: which connections subscribe to which topics (the registry a
//! driver consults to publish; keys are the driver's connection ids), what publishing does with a
//! subscriber too slow to take a message, and the counts it keeps. Publishing walks one topic's
//! members as a slice; subscribing, unsubscribing and dropping a connection cost O(1) per topic.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What publishing has done so far, over every connection of a hub (`driver::mio::Hub`,
/// `driver::tokio::Hub`).
///
/// ```
/// # #[cfg(feature = "mio")] {
/// let stats = wscore::driver::mio::Hub::new().stats();
/// assert_eq!((stats.delivered, stats.dropped, stats.closed), (0, 0, 0));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishStats {
    /// Messages queued to a subscriber.
    pub delivered: u64,
    /// Messages a subscriber missed because its output was full ([`SlowSubscriber::Drop`]).
    pub dropped: u64,
    /// Subscribers closed because their output was full ([`SlowSubscriber::Close`]).
    pub closed: u64,
}

/// What publishing does with a subscriber whose output is at `Config::max_write_buffer`: it never
/// blocks the other subscribers, and never grows past the bound.
///
/// ```
/// # #[cfg(feature = "mio")] {
/// use wscore::driver::mio::{LoopConfig, SlowSubscriber};
/// use wscore::CloseCode;
/// let config = LoopConfig::default().slow_subscriber(SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER));
/// assert_eq!(LoopConfig::default().slow_subscriber, SlowSubscriber::Drop);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowSubscriber {
    /// The subscriber misses the message, counted in [`PublishStats::dropped`]; it gets later ones
    /// once its output drains. The default.
    Drop,
    /// The subscriber is closed with this code (1008 policy violation or 1013 try again later are the
    /// usual ones), counted in [`PublishStats::closed`].
    Close(crate::CloseCode),
}

/// The counts behind [`PublishStats`], shared by the threads that publish.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    delivered: AtomicU64,
    dropped: AtomicU64,
    closed: AtomicU64,
}

impl Counts {
    pub(crate) fn add(&self, stats: PublishStats) {
        self.delivered.fetch_add(stats.delivered, Ordering::Relaxed);
        self.dropped.fetch_add(stats.dropped, Ordering::Relaxed);
        self.closed.fetch_add(stats.closed, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> PublishStats {
        PublishStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
        }
    }
}

/// The topics of one driver instance (an event loop).
#[derive(Debug)]
pub(crate) struct Topics<K> {
    by_topic: HashMap<Arc<str>, Members<K>>,
    /// Each connection's topics, so that its end unsubscribes it everywhere.
    by_key: HashMap<K, Vec<Arc<str>>>,
}

/// A topic's members: a list to walk, and where each one is in it, so that leaving is a swap.
#[derive(Debug)]
struct Members<K> {
    list: Vec<K>,
    at: HashMap<K, usize>,
}

impl<K> Default for Topics<K> {
    fn default() -> Topics<K> {
        Topics {
            by_topic: HashMap::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> Topics<K> {
    /// Subscribes `key` to `topic`; false if it already was.
    pub(crate) fn subscribe(&mut self, key: K, topic: &str) -> bool {
        let topic: Arc<str> = match self.by_topic.get_key_value(topic) {
            Some((name, _)) => Arc::clone(name),
            None => Arc::from(topic),
        };
        let members = self
            .by_topic
            .entry(Arc::clone(&topic))
            .or_insert_with(|| Members {
                list: Vec::new(),
                at: HashMap::new(),
            });
        if members.at.contains_key(&key) {
            return false;
        }
        members.at.insert(key, members.list.len());
        members.list.push(key);
        self.by_key.entry(key).or_default().push(topic);
        true
    }

    /// Unsubscribes `key` from `topic`; false if it was not subscribed.
    pub(crate) fn unsubscribe(&mut self, key: K, topic: &str) -> bool {
        if !self.leave(key, topic) {
            return false;
        }
        if let Some(topics) = self.by_key.get_mut(&key) {
            topics.retain(|t| &**t != topic);
            if topics.is_empty() {
                self.by_key.remove(&key);
            }
        }
        true
    }

    /// Unsubscribes `key` from every topic (its connection ended).
    pub(crate) fn remove(&mut self, key: K) {
        for topic in self.by_key.remove(&key).unwrap_or_default() {
            self.leave(key, &topic);
        }
    }

    /// The members of `topic`, in no particular order.
    pub(crate) fn subscribers(&self, topic: &str) -> &[K] {
        self.by_topic.get(topic).map_or(&[], |m| &m.list)
    }

    /// The topics `key` subscribes to.
    #[cfg(test)]
    pub(crate) fn topics_of(&self, key: K) -> impl Iterator<Item = &str> {
        self.by_key.get(&key).into_iter().flatten().map(|t| &**t)
    }

    /// Takes `key` out of one topic's members; a topic left empty is forgotten.
    fn leave(&mut self, key: K, topic: &str) -> bool {
        let Some(members) = self.by_topic.get_mut(topic) else {
            return false;
        };
        let Some(index) = members.at.remove(&key) else {
            return false;
        };
        members.list.swap_remove(index);
        if let Some(&moved) = members.list.get(index) {
            members.at.insert(moved, index);
        }
        if members.list.is_empty() {
            self.by_topic.remove(topic);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn sorted(topics: &Topics<u32>, topic: &str) -> Vec<u32> {
        let mut members = topics.subscribers(topic).to_vec();
        members.sort_unstable();
        members
    }

    #[test]
    fn members_join_leave_and_are_dropped_with_their_connection() {
        let mut topics = Topics::default();
        assert!(topics.subscribe(1, "room"));
        assert!(!topics.subscribe(1, "room"), "already subscribed");
        assert!(topics.subscribe(2, "room"));
        assert!(topics.subscribe(2, "news"));
        assert_eq!(sorted(&topics, "room"), [1, 2]);
        assert!(topics.unsubscribe(1, "room"));
        assert!(!topics.unsubscribe(1, "room"));
        assert_eq!(sorted(&topics, "room"), [2]);
        topics.remove(2);
        assert!(topics.subscribers("room").is_empty());
        assert!(topics.subscribers("news").is_empty());
        assert!(topics.by_topic.is_empty() && topics.by_key.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Subscribe(u8, u8),
        Unsubscribe(u8, u8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8, 0u8..4).prop_map(|(k, t)| Op::Subscribe(k, t)),
            (0u8..8, 0u8..4).prop_map(|(k, t)| Op::Unsubscribe(k, t)),
            (0u8..8).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The registry agrees with a plain map of sets after any sequence of changes.
        #[test]
        fn the_registry_agrees_with_a_model(ops in prop::collection::vec(op(), 0..60)) {
            let mut topics = Topics::default();
            let mut model: BTreeMap<u8, BTreeSet<u32>> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Subscribe(k, t) => {
                        let new = model.entry(t).or_default().insert(u32::from(k));
                        prop_assert_eq!(topics.subscribe(u32::from(k), &t.to_string()), new);
                    }
                    Op::Unsubscribe(k, t) => {
                        let was = model.entry(t).or_default().remove(&u32::from(k));
                        prop_assert_eq!(topics.unsubscribe(u32::from(k), &t.to_string()), was);
                    }
                    Op::Remove(k) => {
                        for members in model.values_mut() {
                            members.remove(&u32::from(k));
                        }
                        topics.remove(u32::from(k));
                    }
                }
                for t in 0u8..4 {
                    let expected: Vec<u32> = model.get(&t).into_iter().flatten().copied().collect();
                    prop_assert_eq!(sorted(&topics, &t.to_string()), expected);
                }
                for k in 0u8..8 {
                    let mut mine: Vec<String> = topics.topics_of(u32::from(k)).map(str::to_owned).collect();
                    mine.sort();
                    let expected: Vec<String> = model
                        .iter()
                        .filter(|(_, members)| members.contains(&u32::from(k)))
                        .map(|(t, _)| t.to_string())
                        .collect();
                    prop_assert_eq!(mine, expected);
                }
            }
        }
    }
}
