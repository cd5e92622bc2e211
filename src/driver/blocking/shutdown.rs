//! Graceful shutdown for a server with a thread per connection: stop accepting, close every connection
//! with 1001 without losing what it already sent, wait for them to end.
//!
//! Each connection's thread is blocked in `read`, and no other thread can wake that read. So a
//! connection joins a [`Shutdown`] with its [`Writer`], and [`Shutdown::trigger`] goes through the
//! writers: each connection [goes away](crate::Connection::go_away), a ping first and the 1001 close once
//! its pong comes back. The pong is what wakes the blocked reader, after every message the peer sent
//! before it (TCP keeps them in order), which the application reads and answers as usual; the close
//! follows those answers, the peer answers it (RFC 6455 §7.1.2–§7.1.3), the reader returns `None`, and
//! the connection leaves the shutdown. Every step is bounded by `Config::close_timeout`.
//!
//! The listener's `accept` is woken by a connection of our own to its address ([`Shutdown::incoming`]):
//! no polling, and no delay for the connections accepted before the shutdown.
//!
//! Lock order: the registry's lock is never held while a connection's locks are taken, nor the other
//! way round; a membership is dropped (which takes the registry's lock) only with no lock held.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::{Transport, Writer};

/// How long [`Shutdown::trigger`] tries to connect to a listener to wake its `accept`: a connection to
/// one's own listening socket completes at once unless its backlog is full.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// Stops a blocking server gracefully: the connections that joined it go away with 1001 once each has
/// answered what its peer sent before, the accept loops of [`Shutdown::incoming`] end, and
/// [`Shutdown::wait_until`] waits for the connections to finish. Cheap to clone, `Send` and `Sync`:
/// one clone per connection thread, one for whoever triggers it (a signal handler's thread, an admin
/// endpoint).
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::time::{Duration, Instant};
/// use wscore::driver::blocking::{accept, connect, Accepted, Shutdown};
/// use wscore::{CloseCode, Config, Error, Message};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let url = format!("ws://{}/", listener.local_addr()?);
/// let shutdown = Shutdown::new();
/// let server = {
///     let shutdown = shutdown.clone();
///     std::thread::spawn(move || {
///         // Ends once the shutdown is triggered.
///         for stream in shutdown.incoming(&listener) {
///             let (stream, shutdown) = (stream?, shutdown.clone());
///             std::thread::spawn(move || -> Result<(), Error> {
///                 let Accepted::WebSocket(ws) = accept(stream, &Config::default())? else {
///                     return Ok(());
///                 };
///                 let (mut reader, writer) = ws.split()?;
///                 shutdown.join(&writer);
///                 while let Some(message) = reader.read()? {
///                     if let Message::Text(_) | Message::Binary(_) = message {
///                         // Refused (`Error::Closed`) only for what arrives after our close.
///                         let _ = writer.send(message);
///                     }
///                 }
///                 Ok(())
///             });
///         }
///         std::io::Result::Ok(())
///     })
/// };
///
/// let mut client = connect(&url)?;
/// client.send(Message::from("hello"))?;
/// assert_eq!(client.read()?, Some(Message::from("hello"))); // so the server's thread has joined
///
/// shutdown.trigger(); // from a signal handler's thread, typically
/// server.join().unwrap()?; // accepting stopped
/// // The client sees the server's ping (answered by its core), then the close.
/// let close = loop {
///     match client.read()? {
///         Some(Message::Ping(_)) => continue,
///         other => break other,
///     }
/// };
/// let going_away = (CloseCode::GOING_AWAY, "server shutting down".to_owned());
/// assert_eq!(close, Some(Message::Close(Some(going_away))));
/// assert_eq!(client.read()?, None);
/// assert!(shutdown.wait_until(Instant::now() + Duration::from_secs(10)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Shutdown {
    registry: Arc<Registry>,
}

#[derive(Default)]
struct Registry {
    state: Mutex<State>,
    /// Notified whenever a connection leaves.
    left: Condvar,
}

#[derive(Default)]
struct State {
    triggered: bool,
    next_id: u64,
    /// The connections that joined and have not ended. Weak: a connection's handles keep it alive, the
    /// registry only reaches it.
    connections: HashMap<u64, Weak<dyn Member>>,
    /// Where to connect to wake the `accept` of each [`Incoming`] in use.
    listeners: HashMap<u64, SocketAddr>,
}

/// What the registry asks of a connection: a split connection's shared half.
pub(super) trait Member: Send + Sync {
    /// Starts going away, writing the ping if the stream takes it at once (the trigger must not wait on
    /// one slow peer while others wait for their 1001).
    fn go_away(&self);
}

/// A connection's place in a [`Shutdown`], held by the connection and dropped when it ends: then it
/// leaves the registry and [`Shutdown::wait_until`] is told.
pub(super) struct Membership {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut state = lock(&self.registry.state);
        state.connections.remove(&self.id);
        drop(state);
        self.registry.left.notify_all();
    }
}

impl fmt::Debug for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Membership").field("id", &self.id).finish()
    }
}

impl Shutdown {
    /// A shutdown not yet triggered, with no connection.
    ///
    /// ```
    /// let shutdown = wscore::driver::blocking::Shutdown::new();
    /// assert!(!shutdown.is_triggered());
    /// assert_eq!(shutdown.connections(), 0);
    /// ```
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Joins a split connection, through its writer (any clone): [`Shutdown::trigger`] will make it go
    /// away ([`Writer::go_away`]), and [`Shutdown::wait_until`] waits for it. If the shutdown was
    /// triggered already, it goes away at once (a connection whose handshake was under way when the
    /// server stopped). It leaves when its [`Reader`](super::Reader) returns the end of the connection
    /// (`Ok(None)`) or an error, or when the reader and every writer are dropped. A connection is in
    /// one shutdown at a time: joining another leaves this one.
    ///
    /// ```no_run
    /// use wscore::driver::blocking::{connect, Shutdown};
    ///
    /// let shutdown = Shutdown::new();
    /// let (mut reader, writer) = connect("ws://127.0.0.1:9001/")?.split()?;
    /// shutdown.join(&writer);
    /// assert_eq!(shutdown.connections(), 1);
    /// while let Some(message) = reader.read()? {
    ///     println!("{message:?}");
    /// }
    /// assert_eq!(shutdown.connections(), 0); // over: it left
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn join<S: Transport + Send + 'static>(&self, writer: &Writer<S>) {
        let member: Arc<dyn Member> = writer.member();
        let weak = Arc::downgrade(&member);
        let (id, triggered) = {
            let mut state = lock(&self.registry.state);
            let id = state.next_id;
            state.next_id += 1;
            state.connections.insert(id, weak);
            (id, state.triggered)
        };
        let membership = Membership {
            registry: Arc::clone(&self.registry),
            id,
        };
        // The one it replaces, if any, is dropped here, with no lock held.
        let earlier = writer.set_membership(Some(membership));
        drop(earlier);
        if triggered {
            member.go_away();
        }
        // The last handle to the connection may be this one, if its reader and writers are gone.
        drop(member);
    }

    /// Shuts down: every [`Shutdown::incoming`] ends, and every connection that joined goes away with
    /// 1001 (after answering what its peer sent before; see [`Writer::go_away`]). Returns without waiting
    /// for them: see [`Shutdown::wait_until`]. Triggering again does nothing.
    ///
    /// ```
    /// let shutdown = wscore::driver::blocking::Shutdown::new();
    /// let from_a_signal_thread = shutdown.clone();
    /// std::thread::spawn(move || from_a_signal_thread.trigger()).join().unwrap();
    /// assert!(shutdown.is_triggered());
    /// ```
    pub fn trigger(&self) {
        let (connections, listeners) = {
            let mut state = lock(&self.registry.state);
            if state.triggered {
                return;
            }
            state.triggered = true;
            let connections: Vec<Arc<dyn Member>> = state
                .connections
                .values()
                .filter_map(Weak::upgrade)
                .collect();
            let listeners: Vec<SocketAddr> = state.listeners.values().copied().collect();
            (connections, listeners)
        };
        // Accepting stops first, so no connection arrives behind the sweep.
        for addr in listeners {
            let _ = TcpStream::connect_timeout(&wake_address(addr), WAKE_TIMEOUT);
        }
        for connection in &connections {
            connection.go_away();
        }
        // Dropping the last handle to a connection that ended meanwhile takes the registry's lock.
        drop(connections);
    }

    /// Whether [`Shutdown::trigger`] was called.
    ///
    /// ```
    /// let shutdown = wscore::driver::blocking::Shutdown::new();
    /// shutdown.trigger();
    /// assert!(shutdown.is_triggered());
    /// ```
    pub fn is_triggered(&self) -> bool {
        lock(&self.registry.state).triggered
    }

    /// How many joined connections have not ended yet.
    ///
    /// ```
    /// let shutdown = wscore::driver::blocking::Shutdown::new();
    /// assert_eq!(shutdown.connections(), 0);
    /// ```
    pub fn connections(&self) -> usize {
        lock(&self.registry.state).connections.len()
    }

    /// Waits until every joined connection has ended, or `deadline` passes; returns whether they all
    /// ended. A connection's close is bounded by `Config::close_timeout` twice over (the wait for the
    /// pong of its ping, then for the peer's close), so a deadline beyond that waits only for a bug.
    /// Connections that join later are waited for too, if they join before it returns.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let shutdown = wscore::driver::blocking::Shutdown::new();
    /// shutdown.trigger();
    /// assert!(shutdown.wait_until(Instant::now() + Duration::from_secs(10)));
    /// ```
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut state = lock(&self.registry.state);
        loop {
            if state.connections.is_empty() {
                return true;
            }
            let Some(wait) = deadline
                .checked_duration_since(Instant::now())
                .filter(|wait| !wait.is_zero())
            else {
                return false;
            };
            state = self
                .registry
                .left
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The connections a listener accepts until the shutdown is triggered, as
    /// [`TcpListener::incoming`] gives them; then the iterator ends, woken by a connection of the
    /// trigger's own to the listener's address (to the loopback address if it listens on all of them).
    /// A connection accepted after the trigger is dropped unanswered. Accept errors (out of file
    /// descriptors, a connection reset before it was accepted) are handed out for the loop to decide.
    ///
    /// ```no_run
    /// use wscore::driver::blocking::Shutdown;
    ///
    /// let listener = std::net::TcpListener::bind("0.0.0.0:9001")?;
    /// let shutdown = Shutdown::new();
    /// for stream in shutdown.incoming(&listener) {
    ///     let Ok(stream) = stream else { continue };
    ///     // serve it on a thread; the connection joins `shutdown` once split
    ///     # drop(stream);
    /// }
    /// // Triggered: no longer accepting.
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming<'a>(&'a self, listener: &'a TcpListener) -> Incoming<'a> {
        // Without its address (an unusual socket) nothing can wake it: the loop then ends at the next
        // connection after the trigger.
        let id = listener.local_addr().ok().map(|addr| {
            let mut state = lock(&self.registry.state);
            let id = state.next_id;
            state.next_id += 1;
            state.listeners.insert(id, addr);
            id
        });
        Incoming {
            shutdown: self,
            listener,
            id,
        }
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.registry.state);
        f.debug_struct("Shutdown")
            .field("triggered", &state.triggered)
            .field("connections", &state.connections.len())
            .finish()
    }
}

/// The connections a listener accepts until a [`Shutdown`] is triggered: see [`Shutdown::incoming`].
///
/// ```
/// use wscore::driver::blocking::{Incoming, Shutdown};
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let shutdown = Shutdown::new();
/// let incoming: Incoming<'_> = shutdown.incoming(&listener);
/// shutdown.trigger();
/// assert_eq!(incoming.count(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    shutdown: &'a Shutdown,
    listener: &'a TcpListener,
    /// Its entry among the listeners to wake.
    id: Option<u64>,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        if self.shutdown.is_triggered() {
            return None;
        }
        let accepted = self.listener.accept();
        // The trigger's wake-up, or a connection that came after it.
        if self.shutdown.is_triggered() {
            return None;
        }
        Some(accepted.map(|(stream, _)| stream))
    }
}

impl Drop for Incoming<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.shutdown.registry.state).listeners.remove(&id);
        }
    }
}

/// Where to connect to reach a listener: its own address, or loopback if it listens on every address.
fn wake_address(listening: SocketAddr) -> SocketAddr {
    let ip = match listening.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listening.port())
}

/// A lock that outlives a panic elsewhere: the registry stays consistent between calls.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::blocking::{accept, connect, Accepted, MaybeTls, Reader, WebSocket};
    use crate::{CloseCode, Config, Error, Message};
    use std::sync::mpsc;
    use std::thread;

    const PATIENCE: Duration = Duration::from_secs(10);

    fn going_away() -> Option<Message> {
        Some(Message::Close(Some((
            CloseCode::GOING_AWAY,
            "server shutting down".to_owned(),
        ))))
    }

    /// A server connection and a client over loopback, the server's split.
    fn pair() -> (Reader<TcpStream>, Writer<TcpStream>, WebSocket<MaybeTls>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connecting = thread::spawn(move || connect(&format!("ws://{addr}/")).unwrap());
        let (stream, _) = listener.accept().unwrap();
        let Ok(Accepted::WebSocket(server)) = accept(stream, &Config::default()) else {
            panic!("no upgrade");
        };
        let (reader, writer) = server.split().unwrap();
        (reader, writer, connecting.join().unwrap())
    }

    /// Echoes until the end; an echo refused because our close went first is not an error.
    fn echo(mut reader: Reader<TcpStream>, writer: Writer<TcpStream>) -> Result<usize, Error> {
        let mut echoed = 0;
        while let Some(message) = reader.read()? {
            if let Message::Text(_) | Message::Binary(_) = message {
                match writer.send(message) {
                    Ok(()) => echoed += 1,
                    Err(Error::Closed) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(echoed)
    }

    /// Reads past pings (the core answers them) to the next message.
    fn next_message(client: &mut WebSocket<MaybeTls>) -> Option<Message> {
        loop {
            match client.read().unwrap() {
                Some(Message::Ping(_)) => continue,
                other => return other,
            }
        }
    }

    #[test]
    fn messages_sent_before_the_trigger_and_not_yet_read_are_answered_before_the_1001() {
        let (mut reader, writer, mut client) = pair();
        let shutdown = Shutdown::new();
        shutdown.join(&writer);
        // The application is busy elsewhere after its first message until `resume`.
        let (resume, resumed) = mpsc::channel::<()>();
        let server = thread::spawn(move || {
            let first = reader.read().unwrap().unwrap();
            writer.send(first).unwrap();
            resumed.recv().unwrap();
            echo(reader, writer).map(|echoed| echoed + 1)
        });
        client.send(Message::from("zero")).unwrap();
        assert_eq!(client.read().unwrap(), Some(Message::from("zero")));
        for text in ["one", "two", "three"] {
            client.send(Message::from(text)).unwrap();
        }
        // Sent and unread: closing at once would leave them unanswerable (RFC 6455 §5.5.1).
        shutdown.trigger();
        resume.send(()).unwrap();
        for text in ["one", "two", "three"] {
            assert_eq!(next_message(&mut client), Some(Message::from(text)));
        }
        assert_eq!(next_message(&mut client), going_away());
        assert_eq!(client.read().unwrap(), None);
        assert_eq!(server.join().unwrap().unwrap(), 4);
        assert!(shutdown.wait_until(Instant::now() + PATIENCE));
        assert_eq!(shutdown.connections(), 0);
    }

    #[test]
    fn an_idle_connection_blocked_in_read_is_woken_by_the_pong_and_closed() {
        let (reader, writer, mut client) = pair();
        let shutdown = Shutdown::new();
        shutdown.join(&writer);
        let server = thread::spawn(move || echo(reader, writer));
        client.send(Message::from("ready")).unwrap();
        assert_eq!(client.read().unwrap(), Some(Message::from("ready")));
        let triggered = Instant::now();
        shutdown.trigger();
        assert!(matches!(client.read().unwrap(), Some(Message::Ping(_))));
        assert_eq!(client.read().unwrap(), going_away());
        assert_eq!(client.read().unwrap(), None);
        assert!(shutdown.wait_until(Instant::now() + PATIENCE));
        // Woken by the pong, not by a timeout.
        assert!(triggered.elapsed() < Duration::from_secs(5));
        server.join().unwrap().unwrap();
    }

    #[test]
    fn a_connection_that_joins_after_the_trigger_goes_away_at_once() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        let (reader, writer, mut client) = pair();
        shutdown.join(&writer);
        let server = thread::spawn(move || echo(reader, writer));
        assert_eq!(next_message(&mut client), going_away());
        assert_eq!(client.read().unwrap(), None);
        assert_eq!(server.join().unwrap().unwrap(), 0);
        assert!(shutdown.wait_until(Instant::now() + PATIENCE));
    }

    #[test]
    fn wait_until_returns_false_at_the_deadline_while_a_connection_lasts() {
        let (reader, writer, _client) = pair();
        let shutdown = Shutdown::new();
        shutdown.join(&writer);
        assert_eq!(shutdown.connections(), 1);
        let start = Instant::now();
        assert!(!shutdown.wait_until(start + Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(!shutdown.wait_until(start), "a past deadline does not wait");
        // Dropping every handle ends the connection for the shutdown.
        drop((reader, writer));
        assert_eq!(shutdown.connections(), 0);
        assert!(shutdown.wait_until(start));
    }

    #[test]
    fn a_connection_leaves_when_its_reader_returns_the_end() {
        let (reader, writer, mut client) = pair();
        let shutdown = Shutdown::new();
        shutdown.join(&writer);
        // The writer lives on (kept, say, in a room's list), but the connection is over.
        let kept = writer.clone();
        let server = thread::spawn(move || echo(reader, writer));
        client.close(CloseCode::NORMAL, "bye").unwrap();
        server.join().unwrap().unwrap();
        assert_eq!(shutdown.connections(), 0);
        drop(kept);
    }

    #[test]
    fn joining_another_shutdown_leaves_the_first() {
        let (_reader, writer, _client) = pair();
        let (first, second) = (Shutdown::new(), Shutdown::new());
        first.join(&writer);
        second.join(&writer);
        assert_eq!((first.connections(), second.connections()), (0, 1));
    }

    #[test]
    fn incoming_ends_when_triggered_even_while_blocked_in_accept() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let (accepted, accepts) = mpsc::channel();
        let accepting = {
            let shutdown = shutdown.clone();
            thread::spawn(move || {
                for stream in shutdown.incoming(&listener) {
                    accepted.send(stream.is_ok()).unwrap();
                }
            })
        };
        let _early = TcpStream::connect(addr).unwrap();
        assert_eq!(accepts.recv_timeout(PATIENCE), Ok(true));
        shutdown.trigger();
        accepting.join().unwrap();
        assert!(accepts.try_recv().is_err(), "the wake-up is not handed out");
    }

    #[test]
    fn incoming_on_a_triggered_shutdown_accepts_nothing() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shutdown = Shutdown::new();
        shutdown.trigger();
        assert!(shutdown.incoming(&listener).next().is_none());
    }

    #[test]
    fn a_listener_on_every_address_is_woken_through_loopback() {
        let v4: SocketAddr = "0.0.0.0:9001".parse().unwrap();
        let v6: SocketAddr = "[::]:9001".parse().unwrap();
        let own: SocketAddr = "192.0.2.1:80".parse().unwrap();
        assert_eq!(wake_address(v4), "127.0.0.1:9001".parse().unwrap());
        assert_eq!(wake_address(v6), "[::1]:9001".parse().unwrap());
        assert_eq!(wake_address(own), own);
    }

    #[test]
    fn triggering_twice_pings_once() {
        let (reader, writer, mut client) = pair();
        let shutdown = Shutdown::new();
        shutdown.join(&writer);
        shutdown.trigger();
        shutdown.trigger();
        let server = thread::spawn(move || echo(reader, writer));
        assert!(matches!(client.read().unwrap(), Some(Message::Ping(_))));
        assert_eq!(client.read().unwrap(), going_away());
        assert_eq!(client.read().unwrap(), None);
        server.join().unwrap().unwrap();
    }

    #[test]
    fn the_shutdown_is_send_sync_and_the_membership_of_a_dropped_connection_is_gone() {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<Shutdown>();
        let shutdown = Shutdown::new();
        {
            let (_reader, writer, _client) = pair();
            shutdown.join(&writer);
            assert_eq!(shutdown.connections(), 1);
        }
        assert_eq!(shutdown.connections(), 0);
        shutdown.trigger(); // nothing to reach: no panic
    }
}
