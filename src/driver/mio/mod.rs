//! An event-loop driver on [mio](https://docs.rs/mio) (feature `mio`): one thread serves many
//! connections, server and client alike, and [`serve`] runs one loop per core on a shared port.
//!
//! # The application's side: a [`Handler`]
//!
//! An event loop cannot block, so the application is a set of callbacks, as in uWebSockets and Node's
//! `ws`: [`Handler::upgrade`] decides a handshake, [`Handler::open`] starts a connection,
//! [`Handler::event`] receives each event with the [`Sender`] beside it (the event borrows the
//! connection's buffer, so an echo copies nothing), [`Handler::writable`] says a full output queue has
//! drained, and [`Handler::close`] ends it. A [`Context`] passed to each callback reaches the other
//! connections (send, broadcast, close, connect, shut down), and a [`Handle`] does the same from other
//! threads. A trait with one value per loop, rather than closures per connection, keeps the state the
//! application shares between connections in one place without locks.
//!
//! # What the loop does (and no protocol rule)
//!
//! - Readiness is edge-triggered: a connection is read until `WouldBlock` into one scratch buffer per
//!   loop and copied in with [`Connection::receive`](crate::Connection::receive), which unmasks while it copies (the faster of the
//!   core's two ways in at every size, `benches/receive.rs`); every complete event goes to the handler;
//!   then all the output the batch produced goes out in one write. `WRITABLE` is registered only while
//!   output waits.
//! - Backpressure: while a connection's output is at `Config::max_write_buffer`
//!   ([`Sender::is_full`]), the loop neither reads from it nor hands out its events; the application's
//!   answer to an event it was given is therefore never refused. When the output drains,
//!   [`Handler::writable`] is called and reading resumes.
//! - Time: one heap of deadlines per loop, fed by each connection's `poll_timeout()` (handshake
//!   deadline, keepalive, idle, close timeout); `Poll::poll` sleeps until the earliest.
//! - Memory: a connection that has had nothing to read or write for a second gives its buffers back
//!   (`shrink_to_idle`), so an idle connection costs its state and its socket, while a busy one keeps
//!   them and allocates nothing per message.
//! - TLS (feature `tls`): `wss://` clients ([`EventLoop::connect`]) and TLS listeners
//!   (`EventLoop::listen_tls`, `serve_tls`) run rustls without blocking on the same steps: the
//!   TLS handshake counts against the opening handshake's deadline, what rustls holds to send is
//!   bounded and keeps `WRITABLE` registered, and the connection's output is taken only as fast as TLS
//!   takes it, so backpressure works as over TCP. See `driver::tls`.
//! - Faults: a connection's I/O error ends that connection only; `EMFILE` and other accept errors pause
//!   accepting for 100 ms; past `LoopConfig::max_connections` a new connection is answered 503 and
//!   closed. A panic in a handler unwinds out of [`EventLoop::run`]: the loop stops and the panic
//!   reaches the caller, never silently.
//!
//! ```no_run
//! use wscore::driver::mio::{Context, ConnId, EventLoop, Handler};
//! use wscore::{Event, Sender};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
//!         let _ = match event {
//!             Event::Text(text) => sender.send_text(text),
//!             Event::Binary(data) => sender.send_binary(data),
//!             _ => Ok(()),
//!         };
//!     }
//! }
//!
//! let mut event_loop = EventLoop::new(Echo, wscore::Config::default(), Default::default())?;
//! event_loop.listen(std::net::TcpListener::bind("127.0.0.1:9001")?)?;
//! event_loop.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod conn;
mod event_loop;
mod hub;
mod stream;
mod timers;

use std::sync::{Arc, Mutex, PoisonError};

use crate::handshake::{ClientOptions, Decision, HttpResponse, Request, Upgrade};
use crate::{CloseCode, Error, Event, Message, PreparedMessage, Sender};

pub use crate::driver::topics::{PublishStats, SlowSubscriber};
#[cfg(feature = "tls")]
pub use event_loop::serve_tls;
pub use event_loop::{reuse_port_listeners, serve, EventLoop};
pub use hub::Hub;

/// One connection of a loop. Ids are not reused while the loop runs long enough to matter: a slot's
/// generation changes each time it is reused, so a stale id reaches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// The application, called by the loop. Every method but [`Handler::event`] has a default.
pub trait Handler {
    /// A plain HTTP request (not an upgrade), with the bytes read past its head; the response is sent
    /// and the connection closed. By default 404.
    fn http(&mut self, request: &Request, body_start: &[u8]) -> HttpResponse {
        let _ = (request, body_start);
        HttpResponse::new(404)
            .header("Content-Type", "text/plain")
            .body("not found\n")
    }

    /// Decides an upgrade request (see [`crate::handshake::Decision`]). By default accept.
    fn upgrade(&mut self, upgrade: &Upgrade) -> Decision {
        let _ = upgrade;
        Decision::accept()
    }

    /// A connection opened: a server's accepted upgrade, or a client's 101. On a server it follows the
    /// [`Handler::upgrade`] that accepted it at once, with no other callback between, so what the
    /// upgrade read from the request (a room, a role) can be carried over to it in the handler.
    fn open(&mut self, context: &mut Context, id: ConnId, sender: &mut Sender) {
        let _ = (context, id, sender);
    }

    /// Something the peer sent; it borrows the connection's buffer, and `sender` answers it.
    fn event(&mut self, context: &mut Context, id: ConnId, event: Event<'_>, sender: &mut Sender);

    /// The connection's output, which had filled to `Config::max_write_buffer`, drained: sending is
    /// possible again.
    fn writable(&mut self, context: &mut Context, id: ConnId, sender: &mut Sender) {
        let _ = (context, id, sender);
    }

    /// A connection that was opened has ended, with the error that ended it, if any (the peer's
    /// protocol error, a timer, an abnormal closure, I/O).
    fn close(&mut self, context: &mut Context, id: ConnId, error: Option<&Error>) {
        let _ = (context, id, error);
    }

    /// A client connection failed before it opened (refused, unreachable, timed out, its TLS
    /// certificate not valid for the host: [`Error::Tls`](crate::Error)).
    fn connect_failed(&mut self, context: &mut Context, id: ConnId, error: &Error) {
        let _ = (context, id, error);
    }

    /// A connection to the server failed before it opened, for a log: a request refused with a 4xx
    /// (which was sent), the handshake deadline, a TLS failure, plain HTTP on a TLS port (answered 400).
    /// By default nothing.
    fn handshake_failed(&mut self, error: &Error) {
        let _ = error;
    }
}

/// How many commands a loop may have waiting before it refuses deliveries published elsewhere.
const MAX_QUEUED_DELIVERIES: usize = 65_536;

/// What a handler or another thread asks the loop to do; carried out after the current callback.
#[derive(Debug)]
enum Command {
    Send(ConnId, Message),
    Broadcast(Message),
    Subscribe(ConnId, String),
    Unsubscribe(ConnId, String),
    /// To this loop's subscribers and to the other loops of its hub.
    Publish(Arc<str>, PreparedMessage),
    /// To this loop's subscribers only: another loop or thread published.
    Deliver(Arc<str>, PreparedMessage),
    Close(ConnId, CloseCode, String),
    Connect(String, ClientOptions),
    Adopt(std::net::TcpStream),
    Shutdown,
}

/// Reaches the loop's other connections from inside a callback. What it asks is done once the
/// callback returns, in order.
#[derive(Debug, Default)]
pub struct Context {
    commands: Vec<Command>,
}

impl Context {
    /// Sends a message to a connection (one that is not open is skipped; a full one skips it too and
    /// calls its [`Handler::writable`] later).
    pub fn send(&mut self, id: ConnId, message: Message) {
        self.commands.push(Command::Send(id, message));
    }

    /// Sends a message to every open connection of this loop.
    pub fn broadcast(&mut self, message: Message) {
        self.commands.push(Command::Broadcast(message));
    }

    /// Subscribes a connection to a topic (see [`Context::publish`]). Its subscriptions end with it.
    pub fn subscribe(&mut self, id: ConnId, topic: &str) {
        self.commands.push(Command::Subscribe(id, topic.to_owned()));
    }

    /// Unsubscribes a connection from a topic.
    pub fn unsubscribe(&mut self, id: ConnId, topic: &str) {
        self.commands
            .push(Command::Unsubscribe(id, topic.to_owned()));
    }

    /// Publishes to every subscriber of `topic`, on this loop and on every other loop of its [`Hub`],
    /// the sender included if it subscribes. The message is encoded once (and compressed once per
    /// permessage-deflate window in use, see [`PreparedMessage`]); a subscriber whose output is full is
    /// handled by [`LoopConfig::slow_subscriber`]. Messages one connection publishes reach each
    /// subscriber in the order they were published.
    pub fn publish(&mut self, topic: &str, message: PreparedMessage) {
        self.commands
            .push(Command::Publish(Arc::from(topic), message));
    }

    /// Starts the close handshake of a connection.
    pub fn close(&mut self, id: ConnId, code: CloseCode, reason: &str) {
        self.commands
            .push(Command::Close(id, code, reason.to_owned()));
    }

    /// Opens a client connection to a `ws://` or `wss://` URL on this loop (see
    /// [`EventLoop::connect`]); [`Handler::open`] or [`Handler::connect_failed`] follows. The host name
    /// is resolved before the loop goes on.
    pub fn connect(&mut self, url: &str, options: &ClientOptions) {
        self.commands
            .push(Command::Connect(url.to_owned(), options.clone()));
    }

    /// Stops the loop gracefully: no new connection; every open one has what it already sent handled
    /// (its answers queued) and is then closed with 1001; [`EventLoop::run`] returns once they are done (bounded by the close timeout, and for a peer that
    /// does not read, by the keepalive before it).
    pub fn shutdown(&mut self) {
        self.commands.push(Command::Shutdown);
    }
}

/// Sends to the loop's connections from any thread (it is `Send`, `Sync` and cheap to clone); each
/// call wakes the loop, and fails once the loop has stopped.
///
/// ```no_run
/// # use wscore::driver::mio::{Context, ConnId, EventLoop, Handler};
/// # struct App;
/// # impl Handler for App {
/// #     fn event(&mut self, _: &mut Context, _: ConnId, _: wscore::Event<'_>, _: &mut wscore::Sender) {}
/// # }
/// let event_loop = EventLoop::new(App, Default::default(), Default::default())?;
/// let handle = event_loop.handle();
/// std::thread::spawn(move || loop {
///     std::thread::sleep(std::time::Duration::from_secs(1));
///     if handle.broadcast(wscore::Message::from("tick")).is_err() {
///         break; // the loop is gone
///     }
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// What other threads asked; `None` once the loop has stopped or is gone, so that nothing is
    /// queued for nobody (a stream handed to `adopt` would stay open). One lock covers both, so no
    /// command slips in after the loop's last look.
    commands: Mutex<Option<Vec<Command>>>,
    waker: mio::Waker,
    /// The hub the loop belongs to.
    hub: Hub,
}

impl Shared {
    /// Queues a command and wakes the loop; fails once the loop has stopped, and refuses a delivery
    /// from another loop or thread while `MAX_QUEUED_DELIVERIES` commands wait (the loop is behind:
    /// publishers faster than it must not grow its queue without bound).
    fn push(&self, command: Command) -> std::io::Result<()> {
        match self
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            Some(commands)
                if matches!(command, Command::Deliver(..))
                    && commands.len() >= MAX_QUEUED_DELIVERIES =>
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "the event loop is behind: the publish was not queued",
                ))
            }
            Some(commands) => commands.push(command),
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the event loop has stopped",
                ))
            }
        }
        self.waker.wake()
    }

    fn is_running(&self) -> bool {
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Takes what was asked so far.
    fn take_commands(&self) -> Vec<Command> {
        let mut commands = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        commands.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The loop is done: later calls fail, and what was asked but not done is dropped now.
    fn stop(&self) {
        let dropped = self
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(dropped);
    }
}

impl Handle {
    /// Sends a message to one connection.
    pub fn send(&self, id: ConnId, message: Message) -> std::io::Result<()> {
        self.push(Command::Send(id, message))
    }

    /// Sends a message to every open connection of the loop.
    pub fn broadcast(&self, message: Message) -> std::io::Result<()> {
        self.push(Command::Broadcast(message))
    }

    /// Starts the close handshake of a connection.
    pub fn close(&self, id: ConnId, code: CloseCode, reason: &str) -> std::io::Result<()> {
        self.push(Command::Close(id, code, reason.to_owned()))
    }

    /// Serves a stream accepted elsewhere as one of the loop's server connections: a listener on
    /// another thread handing connections out, or a socket inherited from a supervisor. Like a
    /// connection the loop accepted itself, it gets the opening handshake's deadline from now, and a
    /// 503 past [`LoopConfig::max_connections`] or once the loop is shutting down.
    ///
    /// ```no_run
    /// # use wscore::driver::mio::{Context, ConnId, EventLoop, Handler};
    /// # struct App;
    /// # impl Handler for App {
    /// #     fn event(&mut self, _: &mut Context, _: ConnId, _: wscore::Event<'_>, _: &mut wscore::Sender) {}
    /// # }
    /// let event_loop = EventLoop::new(App, Default::default(), Default::default())?;
    /// let handle = event_loop.handle();
    /// let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
    /// std::thread::spawn(move || {
    ///     for stream in listener.incoming().flatten() {
    ///         let _ = handle.adopt(stream);
    ///     }
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn adopt(&self, stream: std::net::TcpStream) -> std::io::Result<()> {
        self.push(Command::Adopt(stream))
    }

    /// Stops the loop gracefully (see [`Context::shutdown`]).
    pub fn shutdown(&self) -> std::io::Result<()> {
        self.push(Command::Shutdown)
    }

    /// Publishes to a topic on every loop of the loop's [`Hub`] (see [`Context::publish`]); returns
    /// how many loops it was handed to.
    pub fn publish(&self, topic: &str, message: &PreparedMessage) -> usize {
        self.shared.hub.publish(topic, message)
    }

    /// The hub the loop belongs to.
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Fails once the loop has stopped (its `run` returned after a shutdown, or it was dropped).
    fn push(&self, command: Command) -> std::io::Result<()> {
        self.shared.push(command)
    }
}

/// Settings of the loop itself; the protocol's are in [`crate::Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopConfig {
    /// The most connections at once; past it a new one is answered 503 and closed. Default 10,000.
    pub max_connections: usize,
    /// The hub the loop joins, with the other loops given the same one; `None` (the default): a hub of
    /// its own, or with [`serve`], one hub for the loops it starts.
    pub hub: Option<Hub>,
    /// What publishing does with a subscriber whose output is full. Default [`SlowSubscriber::Drop`].
    pub slow_subscriber: SlowSubscriber,
}

impl Default for LoopConfig {
    fn default() -> LoopConfig {
        LoopConfig {
            max_connections: 10_000,
            hub: None,
            slow_subscriber: SlowSubscriber::Drop,
        }
    }
}

impl LoopConfig {
    /// Sets [`LoopConfig::max_connections`](#structfield.max_connections).
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> LoopConfig {
        self.max_connections = max;
        self
    }

    /// Sets [`LoopConfig::hub`](#structfield.hub).
    #[must_use]
    pub fn hub(mut self, hub: Hub) -> LoopConfig {
        self.hub = Some(hub);
        self
    }

    /// Sets [`LoopConfig::slow_subscriber`](#structfield.slow_subscriber).
    #[must_use]
    pub fn slow_subscriber(mut self, policy: SlowSubscriber) -> LoopConfig {
        self.slow_subscriber = policy;
        self
    }
}
