//! One connection on the loop: its socket, where it stands (handshake, open, answering a plain request),
//! and the steps of a readiness event: read until the socket is empty, hand out the events, write
//! once. The rules are the core's; this only moves bytes and calls the handler.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use super::stream::Stream;
use super::{ConnId, Context, Handler};
use crate::handshake::{ClientHandshake, Decision, HttpResponse, Incoming, ServerHandshake};
use crate::{Config, Connection, Error, Role};

/// How long a connection with nothing to read keeps its buffers. Giving them back at every
/// `WouldBlock` would allocate once per message for a peer that sends one and waits for the answer;
/// keeping them for a quiet second costs nothing for busy connections and leaves idle ones without.
const RELEASE_BUFFERS_AFTER: Duration = Duration::from_secs(1);

/// Where a connection stands. Most connections are open most of the time, so the open state is kept
/// inline in the loop's slab rather than boxed: no allocation or indirection on the hot path.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Phase {
    /// A client: the TCP connect, then the request (in `head`), then the server's answer.
    Connecting {
        handshake: ClientHandshake,
        connected: bool,
    },
    /// A server reading the request.
    Accepting(ServerHandshake),
    /// Writing `head` (a plain request's answer or a refusal), then shutting down our side and
    /// discarding what arrives until the peer ends the stream or `until`.
    Answering {
        until: Option<Instant>,
    },
    Open(Connection),
}

/// What the loop does with a connection after a step.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fate {
    Keep,
    Remove,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) stream: Stream,
    phase: Phase,
    /// Bytes written before the connection's own output: the 101, a response, the client's request.
    head: Vec<u8>,
    head_written: usize,
    /// Readiness seen and not yet used up (edge-triggered: cleared only by `WouldBlock`).
    pub(super) readable: bool,
    pub(super) writable: bool,
    /// The peer ended its side (or the socket failed): read on to the end, even after a short read.
    pub(super) read_closed: bool,
    /// Whether `WRITABLE` is registered: only while output waits.
    pub(super) write_registered: bool,
    eof: bool,
    shut_down: bool,
    /// The handler was told of the connection (`open`), so it must be told of its end (`close`).
    opened: bool,
    /// The output filled up: the handler hears `writable` when it drains.
    was_full: bool,
    /// The deadline in the loop's heap for this connection.
    pub(super) scheduled: Option<Instant>,
    /// Output was queued for it by a broadcast or publish, to be written once the batch of commands
    /// is done (so that many messages cost one write).
    pub(super) touched: bool,
    /// Since when the connection has had nothing to read nor to write; its buffers go back
    /// `RELEASE_BUFFERS_AFTER` later.
    quiet_since: Option<Instant>,
    /// Bytes read in this step, against [`READ_BUDGET`].
    read_this_step: usize,
    /// It stopped at its budget with more to read, and waits in the loop's queue for another step.
    pub(super) yielded: bool,
    error: Option<Error>,
}

/// What one connection may read in one step before the loop turns to the others. A peer that sends
/// faster than its messages are handled (a burst, or compressed messages that take long to inflate
/// and answer) would otherwise hold the loop until its socket is empty, and every other connection's
/// echo, pong and timer would wait behind it (measured by `tools/soak.sh`: seconds with deflate).
pub(super) const READ_BUDGET: usize = 256 << 10;

impl Conn {
    pub(super) fn accepted(stream: Stream, config: &Config, now: Instant) -> Conn {
        Conn::new(
            stream,
            Phase::Accepting(ServerHandshake::new(config, now)),
            Vec::new(),
        )
    }

    pub(super) fn connecting(stream: Stream, handshake: ClientHandshake) -> Conn {
        let request = handshake.request().to_vec();
        let phase = Phase::Connecting {
            handshake,
            connected: false,
        };
        Conn::new(stream, phase, request)
    }

    fn new(stream: Stream, phase: Phase, head: Vec<u8>) -> Conn {
        Conn {
            stream,
            phase,
            head,
            head_written: 0,
            readable: true,
            writable: false,
            read_closed: false,
            write_registered: false,
            eof: false,
            shut_down: false,
            opened: false,
            was_full: false,
            scheduled: None,
            touched: false,
            quiet_since: None,
            read_this_step: 0,
            yielded: false,
            error: None,
        }
    }

    /// The open connection's protocol state, for sends from commands.
    pub(super) fn open_connection(&mut self) -> Option<&mut Connection> {
        match &mut self.phase {
            Phase::Open(connection) => Some(connection),
            _ => None,
        }
    }

    pub(super) fn is_connecting(&self) -> bool {
        matches!(self.phase, Phase::Connecting { .. })
    }

    pub(super) fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Accepting(_) | Phase::Connecting { .. })
    }

    /// When the loop must call [`Conn::on_timer`].
    pub(super) fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Connecting { handshake, .. } => handshake.poll_timeout(),
            Phase::Accepting(handshake) => handshake.poll_timeout(),
            Phase::Answering { until } => *until,
            Phase::Open(connection) => {
                let release = self
                    .quiet_since
                    .and_then(|quiet| quiet.checked_add(RELEASE_BUFFERS_AFTER));
                match (connection.poll_timeout(), release) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// Whether output waits for the socket (so `WRITABLE` is wanted): also what TLS holds.
    pub(super) fn wants_write(&self) -> bool {
        let connecting = matches!(
            self.phase,
            Phase::Connecting {
                connected: false,
                ..
            }
        );
        connecting
            || self.head_written < self.head.len()
            || self.stream.wants_write()
            || matches!(&self.phase, Phase::Open(c) if !c.pending_output().is_empty())
    }

    /// A deadline passed.
    pub(super) fn on_timer<H: Handler>(
        &mut self,
        now: Instant,
        id: ConnId,
        handler: &mut H,
        context: &mut Context,
        config: &Config,
    ) -> Fate {
        match &mut self.phase {
            Phase::Accepting(handshake) => {
                if let Err(error) = handshake.handle_timeout(now) {
                    handler.handshake_failed(&error);
                    // A peer still in the TLS handshake could not read a 408: it is dropped.
                    if self.stream.is_tls_handshaking() {
                        return Fate::Remove;
                    }
                    self.refuse(&error, config, now);
                }
            }
            Phase::Connecting { handshake, .. } => {
                if let Err(error) = handshake.handle_timeout(now) {
                    handler.connect_failed(context, id, &error);
                    return Fate::Remove;
                }
            }
            Phase::Answering { until } => {
                if until.is_some_and(|until| now >= until) {
                    return Fate::Remove;
                }
            }
            Phase::Open(connection) => {
                let quiet_enough = self
                    .quiet_since
                    .and_then(|quiet| quiet.checked_add(RELEASE_BUFFERS_AFTER))
                    .is_some_and(|release| now >= release);
                if quiet_enough {
                    connection.shrink_to_idle();
                    self.quiet_since = None;
                }
                connection.handle_timeout(now);
            }
        }
        Fate::Keep
    }

    /// Runs the connection as far as its readiness allows: reads until the socket is empty (or the
    /// output is full), handing out every event, then writes the batch's output at once.
    pub(super) fn pump<H: Handler>(
        &mut self,
        id: ConnId,
        handler: &mut H,
        context: &mut Context,
        scratch: &mut [u8],
        config: &Config,
    ) -> Fate {
        let result = self.pump_io(id, handler, context, scratch, config);
        if let Err(e) = result {
            // The socket failed: nothing more can be sent or read. A reset after the close handshake
            // is how some peers end; the core decides whether that was clean.
            if let Phase::Open(connection) = &mut self.phase {
                if let Err(error) = connection.receive_eof() {
                    self.error.get_or_insert(match e.kind() {
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => error,
                        _ => Error::from(e),
                    });
                }
            } else if let Phase::Connecting { .. } = self.phase {
                handler.connect_failed(context, id, &Error::from(e));
            } else if let Phase::Accepting(_) = self.phase {
                // A TLS failure (the peer refused our certificate, a corrupt record) or a reset.
                handler.handshake_failed(&Error::from(e));
            }
            return Fate::Remove;
        }
        let now = Instant::now();
        match &mut self.phase {
            Phase::Open(connection) => {
                // Stamps the traffic this step saw, and fires what is due.
                connection.handle_timeout(now);
                if connection.should_close_transport() && !self.shut_down {
                    self.shut_down = true;
                    let _ = self.stream.shutdown_write();
                }
                if connection.is_drained() {
                    return Fate::Remove;
                }
            }
            Phase::Answering { .. } => {
                if self.head_written == self.head.len() && !self.shut_down {
                    self.shut_down = true;
                    let _ = self.stream.shutdown_write();
                }
                if self.eof {
                    return Fate::Remove;
                }
            }
            Phase::Connecting { .. } | Phase::Accepting(_) if self.eof => return Fate::Remove,
            _ => {}
        }
        Fate::Keep
    }

    fn pump_io<H: Handler>(
        &mut self,
        id: ConnId,
        handler: &mut H,
        context: &mut Context,
        scratch: &mut [u8],
        config: &Config,
    ) -> io::Result<()> {
        if let Phase::Connecting {
            connected: connected @ false,
            ..
        } = &mut self.phase
        {
            // A non-blocking connect is done when the socket turns writable.
            if !self.writable {
                return Ok(());
            }
            if let Some(e) = self.stream.socket().take_error()? {
                return Err(e);
            }
            match self.stream.socket().peer_addr() {
                Ok(_) => *connected = true,
                Err(e) if e.kind() == ErrorKind::NotConnected => {
                    self.writable = false;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        self.read_this_step = 0;
        loop {
            self.read_and_deliver(id, handler, context, scratch, config)?;
            self.write_out()?;
            if self.over_budget() {
                return Ok(());
            }
            let full = self.is_full();
            if self.was_full && !full {
                self.was_full = false;
                if let Phase::Open(connection) = &mut self.phase {
                    handler.writable(context, id, connection.sender());
                }
                continue;
            }
            // Output may have drained enough to read on, or a handler answered the last events.
            let more_to_read = self.readable && !self.eof && !full;
            if !more_to_read || self.wants_write() {
                return Ok(());
            }
        }
    }

    /// Whether this step read its [`READ_BUDGET`] with more left to read: the loop steps it again
    /// after the others.
    pub(super) fn over_budget(&self) -> bool {
        self.read_this_step >= READ_BUDGET && self.readable && !self.eof
    }

    /// Reads until the socket is empty, the stream ends, the output is full, or the step's
    /// [`READ_BUDGET`] is spent, handing out every event as soon as it is complete.
    fn read_and_deliver<H: Handler>(
        &mut self,
        id: ConnId,
        handler: &mut H,
        context: &mut Context,
        scratch: &mut [u8],
        config: &Config,
    ) -> io::Result<()> {
        loop {
            if let Phase::Open(connection) = &mut self.phase {
                // The application is handed no event while its answers could be refused.
                while !connection.is_full() {
                    match connection.next_event() {
                        Ok(Some((event, sender))) => handler.event(context, id, event, sender),
                        Ok(None) => break,
                        Err(error) => {
                            self.error.get_or_insert(error);
                            break;
                        }
                    }
                }
                if connection.is_full() {
                    self.was_full = true;
                    return Ok(());
                }
            }
            if !self.readable || self.eof {
                self.mark_quiet();
                return Ok(());
            }
            if self.over_budget() {
                return Ok(());
            }
            let stream = &mut self.stream;
            let mut drained = false;
            let read = match &mut self.phase {
                // The connection picks where the bytes land: its own buffer once traffic has grown
                // it (no copy), else `scratch`, copied in.
                Phase::Open(connection) => connection
                    .receive_with(scratch, |buf| {
                        stream.read(buf).map(|(n, was_drained)| {
                            drained = was_drained;
                            n
                        })
                    })
                    .map(|n| (n, drained)),
                _ => stream.read(scratch),
            };
            match read {
                Ok((0, _)) => {
                    self.eof = true;
                    self.readable = false;
                    self.on_input(None, id, handler, context, config);
                }
                Ok((n, drained)) => {
                    self.quiet_since = None;
                    self.read_this_step += n;
                    // A read that came back short emptied the socket: more data will raise a new
                    // edge, so the read that would only say `WouldBlock` is skipped (a syscall per
                    // message for a peer that waits for each answer). Not when the peer has ended its
                    // side: its end came with this edge and raises no other.
                    if drained && !self.read_closed {
                        self.readable = false;
                    }
                    if !matches!(self.phase, Phase::Open(_)) {
                        self.on_input(Some(&scratch[..n]), id, handler, context, config);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.readable = false;
                    self.mark_quiet();
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                #[cfg(feature = "tls")]
                Err(e) if crate::driver::tls::is_not_tls(&e) => {
                    // Plain HTTP on a TLS port: answered 400 in plain HTTP, then closed.
                    self.stream.drop_tls();
                    let error = Error::from(e);
                    handler.handshake_failed(&error);
                    self.refuse(&error, config, Instant::now());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The socket has nothing more to read now: an open connection holding buffers gives them back if
    /// it stays that way for `RELEASE_BUFFERS_AFTER` (one that holds none needs no timer).
    fn mark_quiet(&mut self) {
        if let Phase::Open(connection) = &self.phase {
            if !self.eof && connection.heap_size() > 0 {
                self.quiet_since.get_or_insert_with(Instant::now);
            }
        }
    }

    /// Bytes read into `scratch` (`Some`), or the end of the stream (`None`), for the phase that reads
    /// them.
    fn on_input<H: Handler>(
        &mut self,
        input: Option<&[u8]>,
        id: ConnId,
        handler: &mut H,
        context: &mut Context,
        config: &Config,
    ) {
        match &mut self.phase {
            // An open connection takes its bytes in `read_and_deliver`; here only its end.
            Phase::Open(connection) => {
                if input.is_none() {
                    if let Err(error) = connection.receive_eof() {
                        self.error.get_or_insert(error);
                    }
                }
            }
            Phase::Accepting(handshake) => {
                match input {
                    Some(bytes) => handshake.receive(bytes),
                    None => handshake.receive_eof(),
                }
                self.after_request(id, handler, context, config);
            }
            Phase::Connecting { handshake, .. } => {
                match input {
                    Some(bytes) => handshake.receive(bytes),
                    None => handshake.receive_eof(),
                }
                self.after_response(id, handler, context, config);
            }
            // What a refused or answered peer still sends is read and dropped, so that closing does
            // not reset the stream under the answer.
            Phase::Answering { .. } => {}
        }
    }

    /// The server's handshake after new input: an upgrade to decide, a plain request to answer, a
    /// refusal, or more to wait for.
    fn after_request<H: Handler>(
        &mut self,
        id: ConnId,
        handler: &mut H,
        context: &mut Context,
        config: &Config,
    ) {
        let Phase::Accepting(handshake) = &mut self.phase else {
            return;
        };
        let now = Instant::now();
        let incoming = match handshake.poll() {
            Ok(None) => return,
            Ok(Some(incoming)) => incoming,
            Err(error) => {
                handler.handshake_failed(&error);
                return self.refuse(&error, config, now);
            }
        };
        let leftover = handshake.leftover().to_vec();
        match incoming {
            Incoming::Http(request) => {
                let response = handler.http(&request, &leftover);
                self.answer(response.to_bytes(), config, now);
            }
            Incoming::Upgrade(upgrade) => {
                let decision = handler.upgrade(&upgrade);
                match (upgrade.respond(&decision), decision) {
                    (Ok(response), Decision::Accept(_)) => {
                        self.head = response;
                        let mut connection =
                            Connection::with_extensions(Role::Server, config, upgrade.extensions());
                        connection.receive(&leftover);
                        connection.handle_timeout(now);
                        self.open(connection, id, handler, context);
                    }
                    (Ok(response), Decision::Refuse(_)) => self.answer(response, config, now),
                    // The policy's answer cannot be sent (a subprotocol not offered, a header the
                    // handshake writes itself): the application's fault, not the peer's.
                    (Err(_), _) => {
                        let response = HttpResponse::new(500).body("the server's policy failed");
                        self.answer(response.to_bytes(), config, now);
                    }
                }
            }
        }
    }

    /// The client's handshake after new input: open, fail, or wait.
    fn after_response<H: Handler>(
        &mut self,
        id: ConnId,
        handler: &mut H,
        context: &mut Context,
        config: &Config,
    ) {
        let Phase::Connecting { handshake, .. } = &mut self.phase else {
            return;
        };
        match handshake.poll() {
            Ok(None) => {}
            Ok(Some(response)) => {
                let mut connection =
                    Connection::with_extensions(Role::Client, config, &response.extensions);
                connection.receive(handshake.leftover());
                connection.handle_timeout(Instant::now());
                self.open(connection, id, handler, context);
            }
            Err(error) => {
                handler.connect_failed(context, id, &error);
                // Nothing more to do with it: the next step removes it.
                self.eof = true;
            }
        }
    }

    fn open<H: Handler>(
        &mut self,
        mut connection: Connection,
        id: ConnId,
        handler: &mut H,
        context: &mut Context,
    ) {
        self.opened = true;
        handler.open(context, id, connection.sender());
        self.phase = Phase::Open(connection);
    }

    /// Answers a refused request with its status (400, 408, 426, 431).
    fn refuse(&mut self, error: &Error, config: &Config, now: Instant) {
        let response = error
            .http_response()
            .unwrap_or_else(|| HttpResponse::new(400));
        self.answer(response.to_bytes(), config, now);
    }

    fn answer(&mut self, response: Vec<u8>, config: &Config, now: Instant) {
        self.head = response;
        self.head_written = 0;
        self.phase = Phase::Answering {
            until: now.checked_add(config.close_timeout),
        };
    }

    /// Writes the head, then the connection's output, then what TLS still holds, until done or the
    /// socket is full. What TLS takes counts as written: its buffer is bounded (`tls::BUFFER_LIMIT`),
    /// and it keeps `WRITABLE` registered until the socket has it.
    fn write_out(&mut self) -> io::Result<()> {
        while self.head_written < self.head.len() {
            match self.stream.write(&self.head[self.head_written..])? {
                Some(n) => self.head_written += n,
                None => {
                    self.writable = false;
                    return Ok(());
                }
            }
        }
        if self.head_written > 0 && self.head_written == self.head.len() {
            self.head = Vec::new();
            self.head_written = 0;
        }
        if let Phase::Open(connection) = &mut self.phase {
            if !connection.pending_output().is_empty() && self.quiet_since.is_some() {
                // Traffic the other way: a subscriber that only receives is not idle, and giving its
                // buffers (and compressor) back each second would rebuild them for the next message.
                self.quiet_since = Some(Instant::now());
            }
            while !connection.pending_output().is_empty() && !connection.is_drained() {
                match self.stream.write(connection.pending_output())? {
                    Some(n) => connection.consume_output(n),
                    None => {
                        self.writable = false;
                        return Ok(());
                    }
                }
            }
        }
        if !self.stream.flush()? {
            self.writable = false;
        }
        Ok(())
    }

    fn is_full(&self) -> bool {
        matches!(&self.phase, Phase::Open(connection) if connection.is_full())
    }

    /// Ends the connection's story for the handler.
    pub(super) fn finish<H: Handler>(self, id: ConnId, handler: &mut H, context: &mut Context) {
        if self.opened {
            handler.close(context, id, self.error.as_ref());
        }
    }
}
