//! The loop: a `mio::Poll` with a listener, a waker for other threads, the connections in a slab, and
//! the heap of their deadlines.

use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::conn::{Conn, Fate};
use super::stream::Stream;
use super::timers::Timers;
use super::{
    Command, ConnId, Context, Handle, Handler, Hub, LoopConfig, PublishStats, Shared,
    SlowSubscriber,
};
use crate::driver::topics::Topics;
use crate::handshake::{ClientHandshake, ClientOptions, HttpResponse, WsUrl};
use crate::{CloseCode, Config, Error, Message, PreparedMessage};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);

/// How much one read takes from a socket; one buffer for the whole loop.
const SCRATCH: usize = 64 << 10;

/// How long accepting pauses after an error such as `EMFILE`, rather than spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// An event loop serving WebSocket connections (and plain HTTP requests) to one [`Handler`].
pub struct EventLoop<H> {
    poll: Poll,
    events: Events,
    ready: Vec<(Token, bool, bool, bool)>,
    /// Connections that stopped at their read budget with more to read: stepped again after the
    /// events of the turn, in the order they yielded.
    yielded: Vec<u32>,
    listener: Option<TcpListener>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    handler: H,
    config: Config,
    loop_config: LoopConfig,
    timers: Timers,
    shared: Arc<Shared>,
    context: Context,
    scratch: Vec<u8>,
    accept_paused_until: Option<Instant>,
    shutting_down: bool,
    topics: Topics<ConnId>,
    /// A topic's members, copied out to publish while the loop is borrowed; kept between publishes.
    recipients: Vec<ConnId>,
    /// Connections a broadcast or publish queued output for, written after the batch of commands.
    touched: Vec<u32>,
    /// The listener speaks TLS.
    #[cfg(feature = "tls")]
    tls: Option<crate::driver::tls::TlsAcceptor>,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

impl<H: Handler> EventLoop<H> {
    /// A loop with no listener yet.
    pub fn new(handler: H, config: Config, loop_config: LoopConfig) -> io::Result<EventLoop<H>> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(Shared {
            commands: Mutex::new(Some(Vec::new())),
            waker,
            hub: loop_config.hub.clone().unwrap_or_default(),
        });
        shared.hub.join(&shared);
        Ok(EventLoop {
            poll,
            events: Events::with_capacity(1024),
            ready: Vec::new(),
            yielded: Vec::new(),
            listener: None,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            handler,
            config,
            loop_config,
            timers: Timers::default(),
            shared,
            context: Context::default(),
            scratch: vec![0; SCRATCH],
            accept_paused_until: None,
            shutting_down: false,
            topics: Topics::default(),
            recipients: Vec::new(),
            touched: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Serves the connections this listener accepts.
    pub fn listen(&mut self, listener: std::net::TcpListener) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        self.poll
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        self.listener = Some(listener);
        Ok(())
    }

    /// Serves the connections this listener accepts over TLS (feature `tls`): `https://` and `wss://`
    /// on one port. The TLS handshake counts against `Config::handshake_timeout`; plain HTTP on the
    /// port is answered 400 and closed; past `LoopConfig::max_connections` a new connection is closed
    /// without an answer (a plain 503 would be noise to a TLS client, and one over TLS would cost a
    /// handshake per refusal).
    ///
    /// ```no_run
    /// use wscore::driver::mio::{Context, ConnId, EventLoop, Handler};
    /// use wscore::driver::tls::TlsAcceptor;
    /// # struct Echo;
    /// # impl Handler for Echo {
    /// #     fn event(&mut self, _: &mut Context, _: ConnId, _: wscore::Event<'_>, _: &mut wscore::Sender) {}
    /// # }
    /// let acceptor = TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
    /// let mut event_loop = EventLoop::new(Echo, Default::default(), Default::default())?;
    /// event_loop.listen_tls(std::net::TcpListener::bind("127.0.0.1:9443")?, acceptor)?;
    /// event_loop.run()?;
    /// # Ok::<(), wscore::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn listen_tls(
        &mut self,
        listener: std::net::TcpListener,
        acceptor: crate::driver::tls::TlsAcceptor,
    ) -> io::Result<()> {
        self.listen(listener)?;
        self.tls = Some(acceptor);
        Ok(())
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle for other threads.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The hub the loop belongs to: publish to every loop's subscribers, shut them all down.
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably (between runs).
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// How many connections the loop holds, in any phase.
    pub fn connections(&self) -> usize {
        self.live
    }

    /// Opens a client connection to a `ws://` URL, or a `wss://` one (feature `tls`: TLS with the
    /// URL's host as SNI and as the certificate's name, checked against `ClientOptions::tls_config`
    /// or Mozilla's roots, RFC 6455 §4.1); [`Handler::open`] or [`Handler::connect_failed`] follows
    /// once the loop runs (a certificate that fails is `Error::Tls`). Connecting, TLS and the
    /// handshake take at most `Config::handshake_timeout`; the host name is resolved here, before the
    /// loop goes on.
    pub fn connect(&mut self, url: &str, options: &ClientOptions) -> Result<ConnId, Error> {
        let parsed = WsUrl::parse(url)?;
        #[cfg(not(feature = "tls"))]
        if parsed.secure {
            return Err(Error::InvalidUrl("wss:// needs the tls feature"));
        }
        #[cfg(feature = "tls")]
        let session = match parsed.secure {
            true => Some(crate::driver::tls::client_session(
                &parsed.host,
                options.tls.as_ref(),
            )?),
            false => None,
        };
        let addr = (parsed.host.as_str(), parsed.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "the host has no address"))?;
        let handshake = ClientHandshake::new(&parsed, options, &self.config, Instant::now())?;
        let socket = TcpStream::connect(addr)?;
        socket.set_nodelay(true)?;
        #[cfg(feature = "tls")]
        if let Some(session) = session {
            return Ok(self.insert(Conn::connecting(Stream::tls(socket, session), handshake))?);
        }
        let id = self.insert(Conn::connecting(Stream::plain(socket), handshake))?;
        Ok(id)
    }

    /// Runs until [`Context::shutdown`] or [`Handle::shutdown`] has closed every connection.
    pub fn run(&mut self) -> io::Result<()> {
        loop {
            if self.shutting_down && self.live == 0 {
                self.shared.stop();
                return Ok(());
            }
            self.turn(None)?;
        }
    }

    /// Waits for readiness, a deadline or a command at most `max_wait` (or until the next deadline),
    /// and handles what came. For tests and for applications that run the loop themselves.
    pub fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        let now = Instant::now();
        let mut wait = self
            .timers
            .next()
            .map(|at| at.saturating_duration_since(now));
        if let Some(until) = self.accept_paused_until {
            wait = Some(wait.map_or(until - now.min(until), |w| {
                w.min(until.saturating_duration_since(now))
            }));
        }
        if let Some(max_wait) = max_wait {
            wait = Some(wait.map_or(max_wait, |w| w.min(max_wait)));
        }
        if !self.yielded.is_empty() {
            // Connections wait for their next step: look for events, but do not sleep.
            wait = Some(Duration::ZERO);
        }
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        // Copied out (into a buffer kept between turns) so that handling an event may borrow the loop.
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|event| {
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_write_closed() || event.is_error();
            let closed = event.is_read_closed() || event.is_error();
            (event.token(), readable, writable, closed)
        }));
        for &(token, readable, writable, closed) in &ready {
            match token {
                LISTENER => self.accept_all(),
                WAKER => {
                    let commands = self.shared.take_commands();
                    self.run_commands(commands);
                }
                Token(index) => {
                    if let Some(conn) = self
                        .slots
                        .get_mut(index)
                        .and_then(|slot| slot.conn.as_mut())
                    {
                        conn.readable |= readable;
                        conn.writable |= writable;
                        conn.read_closed |= closed;
                        self.step(index as u32);
                    }
                }
            }
        }
        self.ready = ready;
        // One more step for each connection that yielded before this turn; one that yields again
        // waits for the next turn, after the events that came meanwhile.
        let yielded = std::mem::take(&mut self.yielded);
        for &index in &yielded {
            if let Some(conn) = self
                .slots
                .get_mut(index as usize)
                .and_then(|s| s.conn.as_mut())
            {
                if conn.yielded {
                    conn.yielded = false;
                    self.step(index);
                }
            }
        }
        if self.yielded.is_empty() {
            // Keeps the buffer's capacity.
            self.yielded = yielded;
            self.yielded.clear();
        }
        self.fire_timers();
        if self
            .accept_paused_until
            .is_some_and(|until| Instant::now() >= until)
        {
            self.accept_paused_until = None;
            self.accept_all();
        }
        Ok(())
    }

    /// Accepts until the listener has nothing more, refusing past the connection limit.
    fn accept_all(&mut self) {
        if self.shutting_down || self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, _)) => self.admit(stream),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Out of descriptors, or the like: keep serving the open connections and try again
                // shortly, rather than spin on an error that will not go away by itself.
                Err(_) => {
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Serves a stream a listener accepted (or another thread handed over), as the loop's listener
    /// speaks, or answers 503 past the connection limit and while shutting down. On a TLS listener the
    /// refusal is a plain close: a TLS client could not read a plain 503.
    fn admit(&mut self, mut stream: TcpStream) {
        if self.shutting_down || self.live >= self.loop_config.max_connections {
            #[cfg(feature = "tls")]
            if self.tls.is_some() {
                return;
            }
            // Answered without a slot: the response fits in the socket's buffer.
            let response = HttpResponse::new(503)
                .header("Retry-After", "1")
                .body("too many connections\n");
            let _ = stream.write(&response.to_bytes());
            return;
        }
        let _ = stream.set_nodelay(true);
        let Some(stream) = self.server_stream(stream) else {
            return;
        };
        let conn = Conn::accepted(stream, &self.config, Instant::now());
        if let Ok(id) = self.insert(conn) {
            self.step(id.index);
        }
    }

    /// An accepted socket as this listener speaks: plain, or a new TLS server session (`None` if rustls
    /// could not make one, and the socket is dropped).
    fn server_stream(&self, socket: TcpStream) -> Option<Stream> {
        #[cfg(feature = "tls")]
        if let Some(acceptor) = &self.tls {
            return acceptor
                .session()
                .ok()
                .map(|session| Stream::tls(socket, session));
        }
        Some(Stream::plain(socket))
    }

    fn insert(&mut self, mut conn: Conn) -> io::Result<ConnId> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let interest = if conn.wants_write() {
            conn.write_registered = true;
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if let Err(e) =
            self.poll
                .registry()
                .register(conn.stream.socket_mut(), Token(index as usize), interest)
        {
            self.free.push(index);
            return Err(e);
        }
        let slot = &mut self.slots[index as usize];
        slot.conn = Some(conn);
        self.live += 1;
        Ok(ConnId {
            index,
            generation: slot.generation,
        })
    }

    /// Runs a connection after readiness or a command, then keeps its registration, its deadline and
    /// its life in step with what it needs; then carries out what the handler asked.
    fn step(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let id = ConnId {
            index,
            generation: slot.generation,
        };
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        let fate = conn.pump(
            id,
            &mut self.handler,
            &mut self.context,
            &mut self.scratch,
            &self.config,
        );
        if fate == Fate::Keep && !conn.yielded && conn.over_budget() {
            conn.yielded = true;
            self.yielded.push(index);
        }
        self.settle(index, fate);
        self.run_context();
    }

    /// Registers `WRITABLE` only while output waits, schedules the next deadline, or removes.
    fn settle(&mut self, index: u32, fate: Fate) {
        let slot = &mut self.slots[index as usize];
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        if fate == Fate::Remove {
            self.remove(index);
            return;
        }
        let wants_write = conn.wants_write();
        if wants_write != conn.write_registered {
            let interest = if wants_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(conn.stream.socket_mut(), Token(index as usize), interest)
                .is_err()
            {
                self.remove(index);
                return;
            }
            conn.write_registered = wants_write;
        }
        // Traffic moves a busy connection's keepalive deadline later at every batch. An entry is pushed
        // only when the deadline moves earlier: a later one waits for the entry already there, which
        // then finds nothing due and schedules the real deadline. So the heap holds about one entry per
        // connection, not one per batch.
        match (conn.deadline(), conn.scheduled) {
            (Some(at), Some(scheduled)) if at >= scheduled => {}
            (Some(at), _) => {
                conn.scheduled = Some(at);
                self.timers.schedule(at, index, slot.generation);
            }
            (None, _) => conn.scheduled = None,
        }
    }

    fn remove(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let Some(mut conn) = slot.conn.take() else {
            return;
        };
        let id = ConnId {
            index,
            generation: slot.generation,
        };
        slot.generation = slot.generation.wrapping_add(1);
        let _ = self.poll.registry().deregister(conn.stream.socket_mut());
        self.free.push(index);
        self.live -= 1;
        self.topics.remove(id);
        conn.finish(id, &mut self.handler, &mut self.context);
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some((at, index, generation)) = self.timers.pop_due(now) {
            let slot = &mut self.slots[index as usize];
            let current = slot.generation == generation
                && slot
                    .conn
                    .as_ref()
                    .is_some_and(|conn| conn.scheduled == Some(at));
            if !current {
                continue;
            }
            let id = ConnId { index, generation };
            let Some(conn) = slot.conn.as_mut() else {
                continue;
            };
            conn.scheduled = None;
            match conn.on_timer(now, id, &mut self.handler, &mut self.context, &self.config) {
                Fate::Remove => {
                    self.remove(index);
                    self.run_context();
                }
                Fate::Keep => self.step(index),
            }
        }
    }

    /// Carries out what handlers asked through their [`Context`].
    fn run_context(&mut self) {
        while !self.context.commands.is_empty() {
            let commands = std::mem::take(&mut self.context.commands);
            self.run_commands(commands);
        }
    }

    fn run_commands(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Send(id, message) => {
                    if let Some(connection) = self.open(id) {
                        let _ = connection.sender().send(&message);
                        self.step(id.index);
                    }
                }
                Command::Broadcast(message) => self.broadcast(&message),
                Command::Subscribe(id, topic) => {
                    if self.open(id).is_some() {
                        self.topics.subscribe(id, &topic);
                    }
                }
                Command::Unsubscribe(id, topic) => {
                    self.topics.unsubscribe(id, &topic);
                }
                Command::Publish(topic, message) => {
                    let shared = Arc::clone(&self.shared);
                    shared.hub.send_to_loops(Some(&shared), &|| {
                        Command::Deliver(Arc::clone(&topic), message.clone())
                    });
                    self.deliver(&topic, &message);
                }
                Command::Deliver(topic, message) => self.deliver(&topic, &message),
                Command::Close(id, code, reason) => {
                    if let Some(connection) = self.open(id) {
                        let _ = connection.sender().close(code, &reason);
                        self.step(id.index);
                    }
                }
                Command::Connect(url, options) => {
                    let connected = match self.shutting_down {
                        // A connection made now would outlive the shutdown's sweep and keep `run`.
                        true => Err(Error::Io(io::Error::new(
                            ErrorKind::Interrupted,
                            "the event loop is shutting down",
                        ))),
                        false => self.connect(&url, &options),
                    };
                    let error = match connected {
                        Ok(_) => continue,
                        Err(error) => error,
                    };
                    // No slot was made: the failure has an id of its own.
                    let id = ConnId {
                        index: u32::MAX,
                        generation: 0,
                    };
                    self.handler.connect_failed(&mut self.context, id, &error);
                }
                Command::Adopt(stream) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.admit(TcpStream::from_std(stream));
                    }
                }
                Command::Shutdown => self.shut_down(),
            }
        }
        self.step_touched();
    }

    /// Sends to every open connection, encoded once when it is a data message; a full connection is
    /// skipped (its `writable` follows).
    fn broadcast(&mut self, message: &Message) {
        let prepared = PreparedMessage::from_message(message);
        for index in 0..self.slots.len() as u32 {
            let Some(conn) = self.slots[index as usize].conn.as_mut() else {
                continue;
            };
            let Some(connection) = conn.open_connection() else {
                continue;
            };
            let sender = connection.sender();
            let _ = match &prepared {
                Some(prepared) => sender.send_prepared(prepared),
                None => sender.send(message),
            };
            Self::touch(&mut self.touched, conn, index);
        }
    }

    /// Queues a published message to this loop's subscribers of `topic`; a subscriber whose output is
    /// full is handled by the slow-subscriber policy.
    fn deliver(&mut self, topic: &str, message: &PreparedMessage) {
        let mut recipients = std::mem::take(&mut self.recipients);
        recipients.clear();
        recipients.extend_from_slice(self.topics.subscribers(topic));
        let policy = self.loop_config.slow_subscriber;
        let mut stats = PublishStats::default();
        for &id in &recipients {
            let Some(conn) = self
                .slots
                .get_mut(id.index as usize)
                .filter(|slot| slot.generation == id.generation)
                .and_then(|slot| slot.conn.as_mut())
            else {
                continue;
            };
            let Some(connection) = conn.open_connection() else {
                continue;
            };
            let sender = connection.sender();
            match sender.send_prepared(message) {
                Ok(()) => stats.delivered += 1,
                Err(Error::WriteBufferFull { .. }) => match policy {
                    SlowSubscriber::Drop => stats.dropped += 1,
                    SlowSubscriber::Close(code) => {
                        let _ = sender.close(code, "too slow to keep up");
                        stats.closed += 1;
                    }
                },
                // The application is streaming a fragmented message to it (§5.4: nothing may come
                // between): it misses this one, as a full one would.
                Err(Error::Misuse(_)) => {
                    stats.dropped += 1;
                    continue;
                }
                // Closing: it gets nothing more.
                Err(_) => continue,
            }
            Self::touch(&mut self.touched, conn, id.index);
        }
        self.recipients = recipients;
        self.shared.hub.count(stats);
    }

    /// Marks a connection to be written after the current batch of commands, once however many
    /// messages the batch queued for it.
    fn touch(touched: &mut Vec<u32>, conn: &mut Conn, index: u32) {
        if !conn.touched {
            conn.touched = true;
            touched.push(index);
        }
    }

    /// Writes (and settles) every connection a broadcast or publish gave output.
    fn step_touched(&mut self) {
        while let Some(index) = self.touched.pop() {
            if let Some(conn) = self.slots[index as usize].conn.as_mut() {
                conn.touched = false;
            }
            self.step(index);
        }
    }

    fn open(&mut self, id: ConnId) -> Option<&mut crate::Connection> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_mut()?.open_connection()
    }

    /// Stops accepting, handles what every open connection has sent, then closes it with 1001, and
    /// drops those still in their handshake; `run` returns once all are gone.
    fn shut_down(&mut self) {
        // A handler may ask again from a callback of the shutdown's own sweep.
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for index in 0..self.slots.len() as u32 {
            let Some(conn) = self.slots[index as usize].conn.as_mut() else {
                continue;
            };
            if conn.is_handshaking() {
                // A client still connecting was promised `open` or `connect_failed`.
                if conn.is_connecting() {
                    let id = ConnId {
                        index,
                        generation: self.slots[index as usize].generation,
                    };
                    let error = Error::Io(io::Error::new(
                        ErrorKind::Interrupted,
                        "the event loop shut down before the connection opened",
                    ));
                    self.handler.connect_failed(&mut self.context, id, &error);
                }
                self.remove(index);
                continue;
            }
            // What the peer sent before the shutdown is read and handled first, so that its answers
            // go out ahead of the close: no message accepted before the shutdown is lost.
            conn.readable = true;
            self.step(index);
            let Some(connection) = self.slots[index as usize]
                .conn
                .as_mut()
                .and_then(Conn::open_connection)
            else {
                continue;
            };
            let _ = connection
                .sender()
                .close(CloseCode::GOING_AWAY, "server shutting down");
            self.step(index);
        }
    }
}

impl<H> Drop for EventLoop<H> {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

/// Runs one loop per listener, each on its own thread, until every loop has stopped. With listeners
/// from [`reuse_port_listeners`], the kernel spreads new connections over the loops and no loop waits
/// on another. `make` builds each loop's handler on its thread. The loops join one [`Hub`]
/// (`LoopConfig::hub`, or a new one), so a topic published on one reaches the subscribers of all.
///
/// ```no_run
/// use wscore::driver::mio::{reuse_port_listeners, serve, Context, ConnId, Handler};
/// # struct Echo;
/// # impl Handler for Echo {
/// #     fn event(&mut self, _: &mut Context, _: ConnId, _: wscore::Event<'_>, _: &mut wscore::Sender) {}
/// # }
/// let listeners = reuse_port_listeners("127.0.0.1:9001".parse().unwrap(), 2)?;
/// serve(listeners, wscore::Config::default(), Default::default(), || Echo)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve<H, F>(
    listeners: Vec<std::net::TcpListener>,
    config: Config,
    loop_config: LoopConfig,
    make: F,
) -> io::Result<()>
where
    H: Handler,
    F: Fn() -> H + Send + Sync,
{
    serve_listeners(
        listeners,
        &|event_loop, listener| event_loop.listen(listener),
        config,
        loop_config,
        make,
    )
}

/// [`serve`] over TLS (feature `tls`): every loop serves its listener with
/// [`EventLoop::listen_tls`], `https://` and `wss://` on one port.
///
/// ```no_run
/// use wscore::driver::mio::{reuse_port_listeners, serve_tls, Context, ConnId, Handler};
/// use wscore::driver::tls::TlsAcceptor;
/// # struct Echo;
/// # impl Handler for Echo {
/// #     fn event(&mut self, _: &mut Context, _: ConnId, _: wscore::Event<'_>, _: &mut wscore::Sender) {}
/// # }
/// let acceptor = TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
/// let listeners = reuse_port_listeners("127.0.0.1:9443".parse().unwrap(), 2)?;
/// serve_tls(listeners, acceptor, wscore::Config::default(), Default::default(), || Echo)?;
/// # Ok::<(), wscore::Error>(())
/// ```
#[cfg(feature = "tls")]
pub fn serve_tls<H, F>(
    listeners: Vec<std::net::TcpListener>,
    acceptor: crate::driver::tls::TlsAcceptor,
    config: Config,
    loop_config: LoopConfig,
    make: F,
) -> io::Result<()>
where
    H: Handler,
    F: Fn() -> H + Send + Sync,
{
    let listen =
        |event_loop: &mut EventLoop<H>, listener| event_loop.listen_tls(listener, acceptor.clone());
    serve_listeners(listeners, &listen, config, loop_config, make)
}

type Listen<'a, H> = dyn Fn(&mut EventLoop<H>, std::net::TcpListener) -> io::Result<()> + Sync + 'a;

fn serve_listeners<H, F>(
    listeners: Vec<std::net::TcpListener>,
    listen: &Listen<'_, H>,
    config: Config,
    loop_config: LoopConfig,
    make: F,
) -> io::Result<()>
where
    H: Handler,
    F: Fn() -> H + Send + Sync,
{
    let loop_config = LoopConfig {
        hub: Some(loop_config.hub.unwrap_or_default()),
        ..loop_config
    };
    std::thread::scope(|scope| {
        let runs: Vec<_> = listeners
            .into_iter()
            .map(|listener| {
                let (config, loop_config, make) = (config.clone(), loop_config.clone(), &make);
                scope.spawn(move || -> io::Result<()> {
                    let mut event_loop = EventLoop::new(make(), config, loop_config)?;
                    listen(&mut event_loop, listener)?;
                    event_loop.run()
                })
            })
            .collect();
        runs.into_iter().try_for_each(|run| {
            run.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

/// `count` listeners on one address with `SO_REUSEPORT`, for [`serve`]. Port 0 picks one free port
/// for all of them.
pub fn reuse_port_listeners(
    addr: SocketAddr,
    count: usize,
) -> io::Result<Vec<std::net::TcpListener>> {
    let first = reuse_port_listener(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(reuse_port_listener(addr)?);
    }
    Ok(listeners)
}

fn reuse_port_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Message, Sender};

    struct Echo;
    impl Handler for Echo {
        fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
            if let Event::Text(text) = event {
                let _ = sender.send_text(text);
            }
        }
    }

    #[test]
    fn a_loop_that_is_behind_refuses_deliveries_past_its_bound_but_not_a_shutdown() {
        let event_loop = EventLoop::new(Echo, Config::default(), LoopConfig::default()).unwrap();
        let hub = event_loop.hub().clone();
        let message = crate::PreparedMessage::text("news");
        for _ in 0..super::super::MAX_QUEUED_DELIVERIES {
            assert_eq!(hub.publish("feed", &message), 1);
        }
        assert_eq!(
            hub.publish("feed", &message),
            0,
            "refused: the loop is behind"
        );
        event_loop.handle().shutdown().unwrap();
    }

    #[test]
    fn a_busy_connection_keeps_about_one_deadline_in_the_heap() {
        // Regression: every batch moved the keepalive deadline and pushed an entry, so the heap grew
        // with the message rate.
        let mut event_loop =
            EventLoop::new(Echo, Config::default(), LoopConfig::default()).unwrap();
        event_loop
            .listen(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .unwrap();
        let url = format!("ws://{}/", event_loop.local_addr().unwrap());
        let client = std::thread::spawn(move || {
            let mut ws = crate::driver::blocking::connect(&url).unwrap();
            for i in 0..500 {
                ws.send(Message::from(format!("{i}"))).unwrap();
                assert_eq!(ws.read().unwrap(), Some(Message::from(format!("{i}"))));
            }
            ws.close(CloseCode::NORMAL, "").unwrap();
        });
        let mut most = 0;
        while !client.is_finished() {
            event_loop.turn(Some(Duration::from_millis(10))).unwrap();
            most = most.max(event_loop.timers.len());
        }
        client.join().unwrap();
        assert!(most <= 4, "{most} entries in the heap");
    }
}
