//! Topics on the tokio driver: split connections subscribe their [`WriteHalf`] to topics of a
//! [`Hub`], and any task publishes to a topic; the message is encoded once for every subscriber.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use super::split::WriteHalf;
use crate::driver::topics::{Counts, PublishStats, SlowSubscriber, Topics};
use crate::PreparedMessage;

/// Topics shared by any number of tokio connections: [`Hub::subscribe`] a connection's
/// [`WriteHalf`] to a topic, [`Hub::publish`] from any task or thread. It is `Send`, `Sync` and cheap
/// to clone. The names and the policy are those of the mio driver's hub.
///
/// A published message is queued into each subscriber's output at once (never waiting on a socket),
/// and written by the connection's [`ReadHalf`](super::ReadHalf), which is woken for it: keep it
/// polled, as a split connection needs anyway. A subscriber whose output is at
/// `Config::max_write_buffer` is handled by the hub's [`SlowSubscriber`] policy. A connection leaves
/// every topic when both its halves are dropped.
///
/// ```no_run
/// use wscore::driver::tokio::{accept, Accepted, Hub};
/// use wscore::{Message, PreparedMessage};
///
/// # async fn run() -> Result<(), wscore::Error> {
/// let hub = Hub::new();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// loop {
///     let (stream, _) = listener.accept().await?;
///     stream.set_nodelay(true)?;
///     let hub = hub.clone();
///     tokio::spawn(async move {
///         let Ok(Accepted::WebSocket(ws)) = accept(stream, &Default::default()).await else {
///             return;
///         };
///         let (mut reader, writer) = ws.split();
///         hub.subscribe("room", &writer);
///         // What one member says, every member hears (itself included).
///         while let Ok(Some(Message::Text(text))) = reader.read().await {
///             hub.publish("room", &PreparedMessage::text(&text));
///         }
///     });
/// }
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    registry: Mutex<Registry>,
    slow_subscriber: SlowSubscriber,
    counts: Counts,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            registry: Mutex::default(),
            slow_subscriber: SlowSubscriber::Drop,
            counts: Counts::default(),
        }
    }
}

/// Connections are keyed by the address of their shared state, which cannot be reused while the
/// registry holds a `Weak` to it.
type Key = usize;

#[derive(Default)]
struct Registry {
    topics: Topics<Key>,
    members: HashMap<Key, Weak<dyn Member>>,
}

/// What a hub needs of a connection, whatever its stream type.
pub(super) trait Member: Send + Sync {
    /// Queues the message, or applies the policy if the output is full; wakes the connection's reader
    /// to write it.
    fn deliver(&self, message: &PreparedMessage, policy: SlowSubscriber) -> Delivery;

    /// The hubs the connection joined, told when it ends.
    fn joined(&self, hub: Weak<Inner>);
}

/// What one delivery did.
pub(super) enum Delivery {
    Delivered,
    Dropped,
    Closed,
    /// The connection is closing: nothing more goes to it.
    Closing,
}

impl Hub {
    /// A hub whose slow subscribers miss messages ([`SlowSubscriber::Drop`]).
    pub fn new() -> Hub {
        Hub::default()
    }

    /// A hub with another policy for subscribers whose output is full.
    ///
    /// ```
    /// use wscore::driver::tokio::{Hub, SlowSubscriber};
    /// let hub = Hub::with_slow_subscriber(SlowSubscriber::Close(wscore::CloseCode::TRY_AGAIN_LATER));
    /// assert_eq!(hub.stats().closed, 0);
    /// ```
    pub fn with_slow_subscriber(policy: SlowSubscriber) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                slow_subscriber: policy,
                ..Inner::default()
            }),
        }
    }

    /// Subscribes the connection of `writer` to `topic`; false if it already was.
    pub fn subscribe<S>(&self, topic: &str, writer: &WriteHalf<S>) -> bool
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let member = writer.member();
        let key = key(&member);
        let mut registry = self.inner.lock();
        if let std::collections::hash_map::Entry::Vacant(entry) = registry.members.entry(key) {
            member.joined(Arc::downgrade(&self.inner));
            entry.insert(Arc::downgrade(&member));
        }
        registry.topics.subscribe(key, topic)
    }

    /// Unsubscribes the connection of `writer` from `topic`; false if it was not subscribed.
    pub fn unsubscribe<S>(&self, topic: &str, writer: &WriteHalf<S>) -> bool
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let key = key(&writer.member());
        self.inner.lock().topics.unsubscribe(key, topic)
    }

    /// Publishes to every subscriber of `topic`: the message is encoded once, each subscriber's
    /// output takes a copy (see [`PreparedMessage`]). Returns what this publish did. A subscriber in
    /// the middle of a fragmented message (`send_fragment`) misses it, counted as dropped.
    ///
    /// Not from inside [`WriteHalf::with_sender`]'s closure: that holds the connection, which a
    /// delivery to it would wait for.
    pub fn publish(&self, topic: &str, message: &PreparedMessage) -> PublishStats {
        let members: Vec<Weak<dyn Member>> = {
            let registry = self.inner.lock();
            let subscribers = registry.topics.subscribers(topic);
            subscribers
                .iter()
                .filter_map(|key| registry.members.get(key).cloned())
                .collect()
        };
        let mut stats = PublishStats::default();
        for member in members.iter().filter_map(Weak::upgrade) {
            match member.deliver(message, self.inner.slow_subscriber) {
                Delivery::Delivered => stats.delivered += 1,
                Delivery::Dropped => stats.dropped += 1,
                Delivery::Closed => stats.closed += 1,
                Delivery::Closing => {}
            }
        }
        self.inner.counts.add(stats);
        stats
    }

    /// How many connections subscribe to `topic`.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.inner.lock().topics.subscribers(topic).len()
    }

    /// What publishing has done so far.
    pub fn stats(&self) -> PublishStats {
        self.inner.counts.stats()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection ended (its halves were dropped): it leaves every topic.
    pub(super) fn leave(&self, key: Key) {
        let mut registry = self.lock();
        registry.topics.remove(key);
        registry.members.remove(&key);
    }
}

pub(super) fn key(member: &Arc<dyn Member>) -> Key {
    Arc::as_ptr(member).cast::<()>() as usize
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.inner.lock().members.len())
            .field("slow_subscriber", &self.inner.slow_subscriber)
            .field("stats", &self.stats())
            .finish()
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}
