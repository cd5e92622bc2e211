//! The sans-IO connection: bytes in, events out, bytes to send, and the close handshake (RFC 6455 §5–§7).
//!
//! # Borrowing events and answering them
//!
//! An [`Event`] borrows the connection's input buffer (text as `&str`, binary as `&[u8]`, no copy), yet
//! an echo server wants to send while it holds one. So [`Connection::next_event`] hands out the event
//! together with the [`Sender`]: the two borrow disjoint halves of the connection, the input and the
//! output. The event's bytes are released when `next_event` is called again.
//!
//! # States
//!
//! | state     | entered when                                             | may send | events   |
//! |-----------|----------------------------------------------------------|----------|----------|
//! | `Open`    | the handshake completed                                  | yes      | yes      |
//! | `Closing` | we sent a close frame                                    | no       | yes      |
//! | `Closed`  | both close frames crossed, the connection failed, or the transport ended | no | only those received whole before the transport ended |
//!
//! [`Connection::go_away`] is the graceful way out of `Open` (a server shutting down): a ping first, the
//! 1001 close once its pong shows that everything the peer sent before has been handed out.
//!
//! A close frame from the peer is answered at once (echoing its code, RFC 6455 §5.5.1), so receiving one
//! leads straight to `Closed`. Once closed, [`Connection::should_close_transport`] says when the driver
//! shuts down its side of the transport: the server first (RFC 6455 §7.1.1), the client after waiting
//! for it, either at once after failing the connection. The driver then keeps reading (the core
//! discards what arrives) until the peer ends the transport or the close timeout passes, which
//! [`Connection::is_drained`] reports: closing a socket with unread bytes would send a TCP reset, and
//! the peer could lose the close frame with its code.
//!
//! # Time
//!
//! The connection reads no clock (quinn-proto's shape). [`Connection::poll_timeout`] says when it next
//! needs to be told the time, and [`Connection::handle_timeout`] tells it; the first call starts its
//! timers, so a driver makes it as soon as the connection exists, and again whenever the deadline
//! passes (calling it more often, for instance after each read, does no harm and keeps the timers
//! precise). The timers, all in [`Config`]:
//!
//! | timer | default | when it fires |
//! |---|---|---|
//! | keepalive | 20 s + 20 s | nothing received for `ping_interval`: a ping; nothing received for `ping_timeout` after it: fail with 1011, [`Error::KeepaliveTimeout`] |
//! | idle | off | no message either way for `idle_timeout`: close with 1001 (going away: the endpoint leaves, the peer did nothing wrong) |
//! | close | 10 s | from our close frame written out (or the peer's close, or a failure), the close handshake and the transport's end outlasted `close_timeout`: drop the transport; an unanswered close is [`Error::CloseTimeout`] |
//! | going away | 10 s | [`Connection::go_away`]'s ping got no pong within `close_timeout`: close with 1001 without it |
//!
//! Any bytes from the peer count as its answer to a keepalive ping, not only the pong: a pong cannot
//! overtake a large frame the peer is still sending (RFC 6455 §5.4), and that peer is plainly alive. So
//! does the transport taking output while more waits behind it (a write that took only part of the
//! queue, or the rest of a queue that had backed up): our ping may wait behind that output, and a peer
//! that keeps reading it is alive. A queue written whole at once proves nothing (the kernel's buffer
//! takes it even from a vanished peer); a large one can fool the rule once, by the size of that
//! buffer, never for longer.
//! Errors of the timers come out of [`Connection::next_event`] once, like the peer's errors.

use std::time::Instant;

use crate::close::{parse_close_payload, CloseFrame};
use crate::config::Purpose;
use crate::error::Error;
use crate::handshake::Extensions;
use crate::receive::{Ready, Receiver};
use crate::send::{MessageKind, Sender};
use crate::trace::Tap;
use crate::{CloseCode, Config};

mod going_away;
mod timers;
use going_away::GoingAway;
use timers::{Seen, Timers};

/// Which end of the connection we are. Clients mask, servers do not (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We opened the connection.
    Client,
    /// We accepted it.
    Server,
}

/// Where the close handshake stands; see the module docs for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    Closing,
    /// The close handshake finished, or the connection failed, or the transport ended.
    Closed,
}

/// Something the peer sent. Borrowed from the connection until the next call to
/// [`Connection::next_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete text message, valid UTF-8.
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    /// A ping; the core has already queued the pong.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame, `None` if it carried no code; the core has already answered it.
    Close(Option<CloseFrame<'a>>),
}

/// A WebSocket connection after the handshake, with no I/O of its own.
///
/// ```
/// use wscore::{Config, Connection, Event, Role};
///
/// let mut client = Connection::new(Role::Client, &Config::default());
/// let mut server = Connection::new(Role::Server, &Config::default());
/// client.sender().send_text("hello").unwrap();
///
/// // The driver moves bytes: here straight from one to the other.
/// server.receive(client.pending_output());
/// let n = client.pending_output().len();
/// client.consume_output(n);
///
/// // The server echoes the text while the event still borrows its input buffer.
/// while let Some((event, sender)) = server.next_event().unwrap() {
///     if let Event::Text(text) = event {
///         assert_eq!(text, "hello");
///         sender.send_text(text).unwrap();
///     }
/// }
/// client.receive(server.pending_output());
/// assert!(matches!(client.next_event().unwrap(), Some((Event::Text("hello"), _))));
/// ```
#[derive(Debug)]
pub struct Connection {
    receiver: Receiver,
    sender: Sender,
    /// An event found by [`Connection::poll_event`], handed out by the next `next_event`.
    ready: Option<Ready>,
    transport_ended: bool,
    timers: Timers,
    /// An error found outside `next_event` (a timer, the generator), reported by its next call.
    pending_error: Option<Error>,
    /// Traffic since the timers last looked.
    received_bytes: bool,
    received_message: bool,
    /// A graceful close waiting for its ping's pong ([`Connection::go_away`]).
    going_away: Option<GoingAway>,
}

impl Connection {
    /// A connection whose handshake has completed, in the given role. Its timers start with the first
    /// [`Connection::handle_timeout`].
    ///
    /// A client draws its masking keys from a generator of its own (RFC 6455 §5.3); if the operating
    /// system cannot seed it, the connection starts closed and its first `next_event` returns
    /// [`Error::Random`]. A server masks nothing and has no generator.
    pub fn new(role: Role, config: &Config) -> Connection {
        Connection::with_extensions(role, config, &Extensions::default())
    }

    /// A connection with the extensions its handshake negotiated ([`crate::handshake::Upgrade::extensions`]
    /// on a server, [`crate::handshake::Response::extensions`] on a client); otherwise as
    /// [`Connection::new`].
    pub fn with_extensions(role: Role, config: &Config, extensions: &Extensions) -> Connection {
        let _ = extensions;
        let (masks, pending_error) = match role {
            Role::Server => (None, None),
            Role::Client => match config.rng(Purpose::Masks) {
                Ok(rng) => (Some(Box::new(rng)), None),
                Err(error) => (None, Some(error)),
            },
        };
        let tap = config.trace.as_ref().map(|tracer| Tap::new(tracer, role));
        let mut sender = Sender::new(role, masks, config.max_write_buffer, tap.clone());
        #[cfg(feature = "deflate")]
        if let Some(params) = &extensions.deflate {
            let settings = config.deflate.clone().unwrap_or_default();
            sender.deflate(crate::deflate::Deflater::new(role, params, &settings));
        }
        #[allow(unused_mut)] // changed only with the deflate feature
        let mut receiver = Receiver::new(role, config, tap);
        #[cfg(feature = "deflate")]
        if let Some(params) = &extensions.deflate {
            receiver.inflate(crate::deflate::Inflater::new(role, params));
        }
        if pending_error.is_some() {
            sender.disable();
        }
        Connection {
            receiver,
            sender,
            ready: None,
            transport_ended: false,
            timers: Timers::new(config),
            pending_error,
            received_bytes: false,
            received_message: false,
            going_away: None,
        }
    }

    /// Copies bytes received from the transport in. Once the connection is closed they are ignored
    /// (RFC 6455 §5.5.1: after a close, data is not processed).
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.accepts_input() {
            self.received_bytes |= !bytes.is_empty();
            self.receiver.receive(bytes);
        }
    }

    /// Room to read into from the transport, to avoid a copy; follow with [`Connection::commit`].
    /// It is sized for the frame being received, growing only as its bytes arrive.
    pub fn read_buffer(&mut self) -> &mut [u8] {
        self.receiver.read_buffer()
    }

    /// Reads once from the transport through `read` and takes in what it read, choosing where it lands:
    /// straight into the connection's buffer when earlier traffic has already grown it (no copy: the
    /// payload is unmasked in place), else into the caller's `scratch`, copied in with
    /// [`Connection::receive`], which keeps a connection that carries little traffic holding a buffer no
    /// larger than what it holds. For event loops serving many connections with one scratch buffer;
    /// returns what `read` returned (`Ok(0)`: nothing was read).
    ///
    /// ```
    /// use wscore::{Config, Connection, Event, Role};
    ///
    /// let mut server = Connection::new(Role::Server, &Config::default());
    /// let mut socket: &[u8] = &[0x82, 0x82, 1, 2, 3, 4, 0x2b ^ 1, 0x2c ^ 2]; // a masked binary [43, 44]
    /// let mut scratch = vec![0; 64 << 10];
    /// let n = server.receive_with(&mut scratch, |buf| std::io::Read::read(&mut socket, buf))?;
    /// assert_eq!(n, 8);
    /// let (event, _) = server.next_event()?.unwrap();
    /// assert_eq!(event, Event::Binary(&[43, 44]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_with<E>(
        &mut self,
        scratch: &mut [u8],
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        if self.accepts_input() {
            if let Some(room) = self.receiver.warm_read_buffer() {
                let n = read(room)?;
                self.commit(n);
                return Ok(n);
            }
        }
        let n = read(scratch)?;
        self.receive(&scratch[..n]);
        Ok(n)
    }

    /// Records that `n` bytes were read into [`Connection::read_buffer`].
    pub fn commit(&mut self, n: usize) {
        if self.accepts_input() {
            self.received_bytes |= n > 0;
            self.receiver.commit(n);
        }
    }

    /// Records that the transport reached its end. If the close handshake had not finished, the
    /// connection closed abnormally (1006, RFC 6455 §7.1.5): the error says so. Whole messages received
    /// before the end are still handed out by [`Connection::next_event`].
    pub fn receive_eof(&mut self) -> Result<(), Error> {
        let clean = self.receiver.close_received() || self.sender.failed();
        self.transport_ended = true;
        self.sender.end();
        if clean {
            Ok(())
        } else {
            Err(Error::AbnormalClosure)
        }
    }

    /// The next event, or `None` when more bytes are needed (or the connection is closed). The event comes
    /// with the [`Sender`] so it can be answered while borrowed.
    ///
    /// If the peer broke the protocol, the error is returned once, a close frame with its code (1002, 1007,
    /// 1009) is already queued, and the connection is [`State::Closed`].
    pub fn next_event(&mut self) -> Result<Option<(Event<'_>, &mut Sender)>, Error> {
        // An event found by `poll_event` is the rare case: tested before it is moved out.
        let ready = if self.ready.is_some() {
            self.ready.take()
        } else {
            self.advance()?
        };
        let Some(ready) = ready else {
            return Ok(None);
        };
        let Connection {
            receiver, sender, ..
        } = self;
        let event = match ready {
            Ready::Message(MessageKind::Binary, range) => {
                Event::Binary(receiver.message_bytes(&range))
            }
            // The receiver validated the text as it arrived; this second pass cannot fail, and keeps the
            // crate free of `unsafe` (`from_utf8_unchecked`). With the `simdutf8` feature it costs
            // little; without it, it halves text throughput on non-ASCII (benches/utf8.rs).
            Ready::Message(MessageKind::Text, range) => {
                match crate::utf8::to_str(receiver.message_bytes(&range)) {
                    Some(text) => Event::Text(text),
                    None => return Err(sender.fail(Error::InvalidUtf8)),
                }
            }
            Ready::Ping(range) => Event::Ping(&receiver.unread()[range]),
            Ready::Pong(range) => Event::Pong(&receiver.unread()[range]),
            // Checked when it was parsed; parsing again is cheap and keeps `Ready` free of borrows.
            Ready::Close(range) => Event::Close(
                parse_close_payload(&receiver.unread()[range])
                    .ok()
                    .flatten(),
            ),
        };
        Ok(Some((event, sender)))
    }

    /// Parses what has arrived and tells whether [`Connection::next_event`] now has an event; fails as
    /// `next_event` would. For drivers that
    /// wait in a loop: the event is borrowed only after the loop.
    pub fn poll_event(&mut self) -> Result<bool, Error> {
        if self.ready.is_none() {
            self.ready = self.advance()?;
        }
        Ok(self.ready.is_some())
    }

    /// Inlined into `next_event`, the receiver's fast path with it (a call and its register saves cost
    /// 17 instructions a message, callgrind); the rare turns stay out of line.
    #[inline(always)]
    fn advance(&mut self) -> Result<Option<Ready>, Error> {
        if self.pending_error.is_some() || !self.parses_input() {
            return self.not_parsing();
        }
        if self.going_away.is_some() {
            self.going_away_before();
        }
        match self.receiver.advance(&mut self.sender) {
            Ok(ready) => {
                self.received_message |= matches!(ready, Some(Ready::Message(..)));
                if self.going_away.is_some() {
                    self.going_away_after(&ready);
                }
                Ok(ready)
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    /// `advance` when a pending error is due or the input is no longer parsed.
    #[cold]
    fn not_parsing(&mut self) -> Result<Option<Ready>, Error> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        self.discard_input();
        Ok(None)
    }

    /// Fails the connection for the peer's error: queues the close frame, drops the input.
    #[cold]
    fn fail(&mut self, error: Error) -> Error {
        self.receiver.discard();
        self.sender.fail(error)
    }

    /// Turns the receiver's fast path off, to hold it equal to the general path.
    #[cfg(test)]
    pub(crate) fn set_fast_path(&mut self, on: bool) {
        self.receiver.fast_path = on;
    }

    /// The sending half: every way to send is on [`Sender`].
    pub fn sender(&mut self) -> &mut Sender {
        &mut self.sender
    }

    /// Tells the connection the time: the first call starts its timers, and every call fires those that
    /// are due (a keepalive ping, a keepalive failure, an idle close, the end of the close timeout).
    /// Call it when [`Connection::poll_timeout`] passes; calling it at other times is harmless. What it
    /// queues is in [`Connection::pending_output`]; an error it finds comes out of the next
    /// [`Connection::next_event`].
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wscore::{Config, Connection, Error, Role, State};
    ///
    /// let mut server = Connection::new(Role::Server, &Config::default());
    /// let start = Instant::now();
    /// server.handle_timeout(start);
    /// // Nothing arrives: a ping after the interval, then failure with 1011.
    /// let ping_at = server.poll_timeout().unwrap();
    /// assert_eq!(ping_at, start + Duration::from_secs(20));
    /// server.handle_timeout(ping_at);
    /// assert_eq!(server.pending_output(), [0x89, 0x00]);
    /// server.handle_timeout(server.poll_timeout().unwrap());
    /// assert!(matches!(server.next_event(), Err(Error::KeepaliveTimeout)));
    /// assert_eq!(server.state(), State::Closed);
    /// assert_eq!(&server.pending_output()[2..6], [0x88, 0x13, 0x03, 0xf3]); // close 1011
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) {
        let seen = Seen {
            bytes: std::mem::take(&mut self.received_bytes)
                | std::mem::take(&mut self.sender.drained_backlog),
            message: std::mem::take(&mut self.received_message)
                | std::mem::take(&mut self.sender.sent_message),
            open: self.state() == State::Open,
            closing: self.closing(),
        };
        let due = self.timers.update(now, seen);
        if due.keepalive_failed {
            self.discard_input();
            let error = self.sender.fail(Error::KeepaliveTimeout);
            self.pending_error.get_or_insert(error);
        } else if due.idle {
            let _ = self.sender.close(CloseCode::GOING_AWAY, "idle timeout");
        } else if due.ping {
            self.sender.send_own_ping(&[]);
        }
        if due.go_away {
            self.close_going_away();
        }
        if due.close_expired {
            self.discard_input();
            self.sender.end();
            let unanswered = self.sender.close_sent()
                && !self.receiver.close_received()
                && !self.sender.failed();
            if unanswered && !self.transport_ended {
                self.pending_error.get_or_insert(Error::CloseTimeout);
            }
        }
    }

    /// When [`Connection::handle_timeout`] should next be called; `None` while no timer runs (before the
    /// first `handle_timeout`, with every timer off, or once drained).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_drained() {
            return None;
        }
        self.timers.next_deadline(Seen {
            bytes: false,
            message: false,
            open: self.state() == State::Open,
            closing: self.closing(),
        })
    }

    /// Whether the close timer runs: our close frame is written out (not merely queued behind a large
    /// message the peer is still reading), the peer's close arrived, the connection failed, or the
    /// transport ended.
    fn closing(&self) -> bool {
        self.sender.close_written()
            || self.sender.failed()
            || self.receiver.close_received()
            || self.transport_ended
    }

    /// Whether the transport can be dropped: the peer ended it after the close, or the close timeout
    /// passed. Until then a driver that has shut down its side keeps reading, so that unread bytes do
    /// not turn its close into a reset.
    pub fn is_drained(&self) -> bool {
        self.transport_ended || self.timers.close_expired()
    }

    /// Bytes waiting to be written to the transport.
    pub fn pending_output(&self) -> &[u8] {
        self.sender.pending_output()
    }

    /// Whether the output is at its high-water mark (see [`Sender::is_full`]): an event loop stops
    /// reading and handing out events until it drains.
    pub fn is_full(&self) -> bool {
        self.sender.is_full()
    }

    /// Records that the first `n` bytes of [`Connection::pending_output`] were written.
    pub fn consume_output(&mut self, n: usize) {
        self.sender.consume_output(n)
    }

    /// `Config::close_timeout`, for a driver that bounds a wait the connection cannot see the end of.
    pub(crate) fn close_timeout(&self) -> std::time::Duration {
        self.timers.close_timeout()
    }

    /// See [`Sender::pin_output`]; for a driver that writes copies of the output from another thread.
    pub(crate) fn pin_output(&mut self, n: usize) {
        self.sender.pin_output(n);
    }

    /// Where the close handshake stands.
    pub fn state(&self) -> State {
        if self.transport_ended
            || self.sender.failed()
            || self.receiver.close_received()
            || self.timers.close_expired()
        {
            State::Closed
        } else if self.sender.close_sent() {
            State::Closing
        } else {
            State::Open
        }
    }

    /// Whether the driver should shut down its side of the transport now (TCP: `shutdown(Write)`, a FIN):
    /// the connection is closed, its output is written, and it is our turn. The server closes first
    /// (RFC 6455 §7.1.1); a client waits for the server to, unless it failed the connection (§7.1.7); the
    /// close timeout ends every wait, even for output the peer never read. Then read until
    /// [`Connection::is_drained`].
    pub fn should_close_transport(&self) -> bool {
        self.timers.close_expired()
            || (self.state() == State::Closed
                && self.pending_output().is_empty()
                && (self.role() == Role::Server || self.sender.failed() || self.transport_ended))
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.receiver.role()
    }

    /// Gives back every buffer that holds nothing, so a connection waiting for its peer costs no heap.
    /// Buffers are otherwise kept between messages so that steady traffic allocates nothing; an event
    /// loop calls this when a connection's socket has nothing more to read (the next read allocates
    /// again, once).
    pub fn shrink_to_idle(&mut self) {
        // An event found by poll_event still lives in the input buffer.
        if self.ready.is_none() {
            self.receiver.release_idle();
        }
        self.sender.release_idle();
    }

    /// Heap bytes held by the connection's buffers, for monitoring memory per connection.
    pub fn heap_size(&self) -> usize {
        self.receiver.heap_size() + self.sender.heap_size()
    }

    /// Whether new bytes are taken in.
    fn accepts_input(&self) -> bool {
        self.state() != State::Closed
    }

    /// Whether buffered bytes are still parsed: also after the transport ended, so that the messages
    /// that arrived whole before it are not lost.
    fn parses_input(&self) -> bool {
        !(self.sender.failed() || self.receiver.close_received() || self.timers.close_expired())
    }

    /// Drops all input, including an event found by `poll_event` and not yet handed out: a timer may
    /// fail the connection between the two calls (another thread's `handle_timeout`, in a split driver).
    fn discard_input(&mut self) {
        self.ready = None;
        self.receiver.discard();
    }
}

#[cfg(all(test, feature = "deflate"))]
mod deflate_tests;
#[cfg(test)]
mod receive_with_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod timer_tests;
