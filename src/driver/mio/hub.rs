//! The loops of one server, joined: a topic published on any loop, or from any thread, reaches the
//! subscribers of every loop; one call shuts them all down; the delivery counts are kept here.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::{Command, Shared};
use crate::driver::topics::{Counts, PublishStats};
use crate::PreparedMessage;

/// The event loops of one server, for publishing to topics across all of them and shutting them down
/// together. Every loop belongs to one: [`serve`](super::serve) puts its loops in one hub (the one in
/// [`LoopConfig::hub`](super::LoopConfig::hub), or a new one), and a loop made alone with
/// [`EventLoop::new`](super::EventLoop::new) is in a hub of its own unless its `LoopConfig` names one.
/// It is `Send`, `Sync` and cheap to clone.
///
/// ```no_run
/// use wscore::driver::mio::{reuse_port_listeners, serve, Context, ConnId, Handler, Hub, LoopConfig};
/// use wscore::{Event, PreparedMessage, Sender};
///
/// struct Feed;
/// impl Handler for Feed {
///     fn open(&mut self, context: &mut Context, id: ConnId, _: &mut Sender) {
///         context.subscribe(id, "prices");
///     }
///     fn event(&mut self, _: &mut Context, _: ConnId, _: Event<'_>, _: &mut Sender) {}
/// }
///
/// let hub = Hub::new();
/// let publisher = hub.clone();
/// std::thread::spawn(move || loop {
///     std::thread::sleep(std::time::Duration::from_millis(100));
///     // Encoded once, written to every subscriber of every loop.
///     publisher.publish("prices", &PreparedMessage::text("{\"EURUSD\":1.08}"));
/// });
/// let listeners = reuse_port_listeners("127.0.0.1:9001".parse().unwrap(), 2)?;
/// serve(listeners, Default::default(), LoopConfig::default().hub(hub), || Feed)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The loops' command queues; a loop that stopped is dropped from the list on the next look.
    loops: Mutex<Vec<Weak<Shared>>>,
    counts: Counts,
}

impl Hub {
    /// A hub with no loop yet.
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Publishes to every subscriber of `topic` on every loop of the hub: the message is encoded once,
    /// each loop writes it to its subscribers. Returns how many loops it was handed to: a loop with
    /// 65,536 commands waiting is behind its publishers and refuses the message, so that publishing
    /// faster than the loops deliver cannot grow memory without bound.
    pub fn publish(&self, topic: &str, message: &PreparedMessage) -> usize {
        let topic: Arc<str> = Arc::from(topic);
        self.send_to_loops(None, &|| {
            Command::Deliver(Arc::clone(&topic), message.clone())
        })
    }

    /// Shuts every loop of the hub down gracefully (see [`Context::shutdown`](super::Context::shutdown)).
    pub fn shutdown(&self) {
        self.send_to_loops(None, &|| Command::Shutdown);
    }

    /// The delivery counts so far.
    pub fn stats(&self) -> PublishStats {
        self.inner.counts.stats()
    }

    /// How many loops are running in the hub.
    pub fn loops(&self) -> usize {
        self.live_loops().len()
    }

    pub(super) fn join(&self, shared: &Arc<Shared>) {
        self.lock().push(Arc::downgrade(shared));
    }

    /// Hands a command to every running loop but `except`, pruning the ones that stopped.
    pub(super) fn send_to_loops(
        &self,
        except: Option<&Arc<Shared>>,
        command: &dyn Fn() -> Command,
    ) -> usize {
        self.live_loops()
            .iter()
            .filter(|shared| except.is_none_or(|us| !Arc::ptr_eq(us, shared)))
            .filter(|shared| shared.push(command()).is_ok())
            .count()
    }

    pub(super) fn count(&self, stats: PublishStats) {
        self.inner.counts.add(stats);
    }

    fn live_loops(&self) -> Vec<Arc<Shared>> {
        let mut loops = self.lock();
        loops.retain(|shared| shared.upgrade().is_some_and(|s| s.is_running()));
        loops.iter().filter_map(Weak::upgrade).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Shared>>> {
        self.inner
            .loops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Two hubs are equal when they are the same hub.
impl PartialEq for Hub {
    fn eq(&self, other: &Hub) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Hub {}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("loops", &self.loops())
            .field("stats", &self.stats())
            .finish()
    }
}
