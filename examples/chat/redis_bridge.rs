//! Rooms across processes: each process publishes its users' messages to a Redis channel per room
//! (`wscore:chat:ROOM`) and hands what Redis publishes to its own subscribers through the hub, so
//! users of different processes, or machines, share a room.
//!
//! Two threads talk to Redis, so the event loops never wait on it: one publishes what the loops queue
//! (in batches, one round trip each), one holds the subscription. While Redis is unreachable the chat
//! serves local rooms: messages go straight to the hub, the link reconnects with backoff, and each
//! change of state is logged once.
//!
//! Delivery between processes is at most once, as Redis pub/sub is: a message published while a
//! process's subscription is down never reaches that process, and around a reconnection a message can
//! be lost or, rarely, delivered twice to one process's users (published to Redis as the link broke,
//! then locally). A service that needs every message must add what Redis pub/sub lacks: sequence
//! numbers per room and a replay from a store (a Redis stream, a database) when a client or process
//! sees a gap.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wscore::driver::mio::Hub;
use wscore::PreparedMessage;

const CHANNEL_PREFIX: &str = "wscore:chat:";

/// How long connecting to Redis may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Messages waiting for the publisher; past this, the loops deliver locally instead of waiting.
const QUEUE: usize = 10_000;

/// The topic of a room on the hub.
pub fn topic(room: &str) -> String {
    format!("room:{room}")
}

/// The loops' side of the link; cheap to clone, one per loop.
#[derive(Clone)]
pub struct Bridge {
    outgoing: SyncSender<(String, String)>,
    link: Arc<Link>,
}

impl Bridge {
    /// Starts the two threads for the Redis server at `url` (`redis://HOST:PORT`).
    pub fn start(url: &str, hub: Hub) -> redis::RedisResult<Bridge> {
        let client = redis::Client::open(url)?;
        let link = Arc::new(Link {
            url: url.to_owned(),
            subscribed: AtomicBool::new(false),
            publishing: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let (outgoing, queued) = mpsc::sync_channel(QUEUE);
        let (subscriber_client, subscriber_hub, subscriber_link) =
            (client.clone(), hub.clone(), Arc::clone(&link));
        thread::spawn(move || subscribe(&subscriber_client, &subscriber_hub, &subscriber_link));
        let publisher_link = Arc::clone(&link);
        thread::spawn(move || publish(&client, &hub, &publisher_link, &queued));
        Ok(Bridge { outgoing, link })
    }

    /// Hands a user's message to Redis, for every process's users of the room (these included). While
    /// the subscription is down it says so, and the caller delivers the message locally. While Redis
    /// is up but slower than the users, a message that finds the queue full is dropped and counted:
    /// delivering it locally would put it ahead of the same user's earlier messages, still queued.
    pub fn publish(&self, room: &str, text: &str) -> Handed {
        if !self.link.subscribed.load(Ordering::Acquire) {
            // Our own users would not get it back from Redis.
            return Handed::Down;
        }
        match self.outgoing.try_send((room.to_owned(), text.to_owned())) {
            Ok(()) => Handed::Queued,
            Err(TrySendError::Full(_)) => {
                if self.link.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!(
                        "redis {}: more than {QUEUE} messages wait for Redis: dropping what does not fit \
                         (logged once)",
                        self.link.url
                    );
                }
                Handed::Dropped
            }
            Err(TrySendError::Disconnected(_)) => Handed::Down,
        }
    }
}

/// What became of a message handed to the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    /// On its way to Redis.
    Queued,
    /// Too many wait for Redis: dropped, counted.
    Dropped,
    /// The link is down: the caller delivers it to this process's users.
    Down,
}

/// The link's state, logged when it changes.
struct Link {
    url: String,
    subscribed: AtomicBool,
    publishing: AtomicBool,
    /// Messages dropped because the queue to Redis was full.
    dropped: AtomicU64,
}

impl Link {
    fn set(&self, flag: &AtomicBool, up: bool, what: &str, error: Option<&redis::RedisError>) {
        if flag.swap(up, Ordering::AcqRel) == up {
            return;
        }
        match (up, error) {
            (true, _) => eprintln!("redis {}: {what} up", self.url),
            (false, Some(error)) => eprintln!(
                "redis {}: {what} failed ({error}); serving local rooms, reconnecting with backoff",
                self.url
            ),
            (false, None) => eprintln!("redis {}: {what} stopped", self.url),
        }
    }
}

/// Exponential backoff between reconnections, 100 ms to 5 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MOST: Duration = Duration::from_secs(5);

    fn new() -> Backoff {
        Backoff(Backoff::FIRST)
    }

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(Backoff::MOST);
        wait
    }
}

/// Holds the subscription to every room's channel, handing each message to the hub; reconnects
/// with backoff.
fn subscribe(client: &redis::Client, hub: &Hub, link: &Link) {
    let mut backoff = Backoff::new();
    loop {
        let error = subscribe_once(client, hub, link, &mut backoff);
        link.set(&link.subscribed, false, "subscription", Some(&error));
        thread::sleep(backoff.next());
    }
}

fn subscribe_once(
    client: &redis::Client,
    hub: &Hub,
    link: &Link,
    backoff: &mut Backoff,
) -> redis::RedisError {
    let mut connection = match client.get_connection_with_timeout(CONNECT_TIMEOUT) {
        Ok(connection) => connection,
        Err(error) => return error,
    };
    let mut pubsub = connection.as_pubsub();
    if let Err(error) = pubsub
        .psubscribe(format!("{CHANNEL_PREFIX}*"))
        .and_then(|()| pubsub.set_read_timeout(Some(Duration::from_secs(5))))
    {
        return error;
    }
    link.set(&link.subscribed, true, "subscription", None);
    *backoff = Backoff::new();
    loop {
        match pubsub.get_message() {
            Ok(message) => {
                let Some(room) = message.get_channel_name().strip_prefix(CHANNEL_PREFIX) else {
                    continue;
                };
                // Only this chat publishes there, always text; anything else is skipped.
                if let Ok(text) = message.get_payload::<String>() {
                    hub.publish(&topic(room), &PreparedMessage::text(&text));
                }
            }
            // A quiet room: check that Redis is still there.
            Err(error) if error.is_timeout() => {
                if let Err(error) = pubsub.ping::<redis::Value>() {
                    return error;
                }
            }
            Err(error) => return error,
        }
    }
}

/// Publishes what the loops queued, in batches; while Redis is unreachable, delivers it locally and
/// tries to reconnect no more often than the backoff allows (never holding the queue up to wait).
fn publish(client: &redis::Client, hub: &Hub, link: &Link, queued: &Receiver<(String, String)>) {
    let mut connection: Option<redis::Connection> = None;
    let mut backoff = Backoff::new();
    let mut next_attempt = Instant::now();
    while let Ok(first) = queued.recv() {
        let batch: Vec<_> = std::iter::once(first)
            .chain(queued.try_iter().take(1023))
            .collect();
        // The subscription being up says Redis is back: no need to wait out the backoff.
        let due = Instant::now() >= next_attempt || link.subscribed.load(Ordering::Acquire);
        if connection.is_none() && due {
            match connect(client) {
                Ok(made) => connection = Some(made),
                Err(error) => {
                    link.set(&link.publishing, false, "publishing", Some(&error));
                    next_attempt = Instant::now() + backoff.next();
                }
            }
        }
        let result = match &mut connection {
            Some(connection) => {
                let mut pipeline = redis::pipe();
                for (room, text) in &batch {
                    pipeline
                        .cmd("PUBLISH")
                        .arg(format!("{CHANNEL_PREFIX}{room}"))
                        .arg(text)
                        .ignore();
                }
                pipeline.query::<()>(connection).map(|()| true)
            }
            None => Ok(false),
        };
        match result {
            Ok(true) => {
                link.set(&link.publishing, true, "publishing", None);
                backoff = Backoff::new();
                continue;
            }
            Ok(false) => {}
            Err(error) => {
                connection = None;
                link.set(&link.publishing, false, "publishing", Some(&error));
                next_attempt = Instant::now() + backoff.next();
            }
        }
        for (room, text) in batch {
            hub.publish(&topic(&room), &PreparedMessage::text(&text));
        }
    }
}

fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let connection = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    connection.set_read_timeout(Some(Duration::from_secs(2)))?;
    connection.set_write_timeout(Some(Duration::from_secs(2)))?;
    Ok(connection)
}
