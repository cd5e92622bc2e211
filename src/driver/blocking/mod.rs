//! A blocking driver over a stream: a `TcpStream`, a Unix socket, or TLS over either (anything that
//! implements [`Transport`]). With the `tls` feature, [`connect`] opens `wss://` URLs too, and a
//! `driver::tls::TlsAcceptor` makes a server's socket a TLS stream for [`accept`].
//!
//! The driver holds no protocol rule and no timer of its own: it reads and writes, and sets the stream's
//! timeouts to the connection's next deadline ([`Connection::poll_timeout`]), so a blocked call wakes in
//! time for the opening-handshake deadline, a keepalive ping, an idle close or the close timeout. A peer
//! that sends nothing, or never reads, is therefore bounded in time; the output queue is bounded by
//! `Config::max_write_buffer`.
//!
//! ```no_run
//! use wscore::driver::blocking::connect;
//! use wscore::Message;
//! let mut ws = connect("ws://127.0.0.1:9001/")?;
//! ws.send(Message::from("hello"))?;
//! if let Some(Message::Text(echo)) = ws.read()? {
//!     println!("{echo}");
//! }
//! ws.close(wscore::CloseCode::NORMAL, "bye")?;
//! # Ok::<(), wscore::Error>(())
//! ```
//!
//! One thread can read while others send: [`WebSocket::split`] gives a [`Reader`] and a [`Writer`]
//! (which clones, and doubles as the handle that closes the connection from another thread).
//!
//! A server with a thread per connection shuts down gracefully with a [`Shutdown`]: its accept loop
//! ends, and every connection that joined it answers what its peer already sent, then closes with
//! 1001.

mod handshake;
mod io;
mod shutdown;
mod split;
mod transport;

use crate::handshake::{Request, Response};
use std::time::Instant;

use crate::{CloseCode, Connection, Error, Event, Message, Sender, State};
use io::{Next, Timeouts};

pub use handshake::{accept, accept_with, client, connect, connect_with, Accepted};
pub use shutdown::{Incoming, Shutdown};
pub use split::{Reader, Writer};
pub use transport::{MaybeTls, Transport, TryClone};

/// A WebSocket over a blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    connection: Connection,
    timeouts: Timeouts,
    shut_down: bool,
    /// An I/O error met while writing a message that had been queued, reported by the next call.
    deferred: Option<Error>,
    request: Option<Request>,
    response: Option<Response>,
    protocol: Option<String>,
}

impl<S: Transport> WebSocket<S> {
    /// Wraps a stream whose handshake is done; `leftover` are bytes read past the handshake. The
    /// connection's timers start now.
    pub fn from_parts(stream: S, mut connection: Connection, leftover: &[u8]) -> WebSocket<S> {
        connection.receive(leftover);
        connection.handle_timeout(Instant::now());
        WebSocket {
            stream,
            connection,
            timeouts: Timeouts::default(),
            shut_down: false,
            deferred: None,
            request: None,
            response: None,
            protocol: None,
        }
    }

    /// Reads until the next event, writing what is queued (pongs, answers to earlier events) first. The
    /// event borrows the connection's buffer; the [`Sender`] beside it queues answers, written on the
    /// next call or by [`WebSocket::flush`]. `Ok(None)`: the connection is over and the stream can be
    /// dropped.
    ///
    /// When the peer breaks the protocol or a timer fails the connection, the error comes back after the
    /// close frame with its code was written and the stream was shut down and drained (bounded by
    /// `Config::close_timeout`), so the peer reads the code instead of a reset.
    pub fn read_event(&mut self) -> Result<Option<(Event<'_>, &mut Sender)>, Error> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        loop {
            match self.step().and_then(|()| self.next_step()) {
                Ok(Next::Event) => break,
                Ok(Next::Done) => return Ok(None),
                // Parsing queued output without an event (a going-away's close): it goes out before
                // the wait, which may be long. `step` writes everything, so this loops once.
                Ok(Next::Read(_)) if !self.connection.pending_output().is_empty() => continue,
                Ok(Next::Read(deadline)) => {
                    if let Err(error) = self.read_once(deadline) {
                        return Err(self.linger_then(error));
                    }
                }
                Err(error) => return Err(self.linger_then(error)),
            }
        }
        // Every check ran in poll_event, so this hands out the event without failing.
        self.connection.next_event()
    }

    /// Reads the next message, copied out of the connection's buffer. `Ok(None)`: closed.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        Ok(self.read_event()?.map(|(event, _)| Message::from(event)))
    }

    /// Queues a message and writes it out. An error means the message was **not** queued
    /// ([`Error::WriteBufferFull`], [`Error::Closed`], …), except for an I/O error met while writing one
    /// that was: then this returns `Ok`, the message stays queued, and the error comes back from the next
    /// call. A `Close` message starts the close handshake without waiting for the answer (see
    /// [`WebSocket::close`]).
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        self.connection.sender().send(&message)?;
        if let Err(error) = self.step() {
            self.deferred = Some(error);
        }
        Ok(())
    }

    /// The sending half, to queue frames without writing them yet (borrowed text, fragments, a close
    /// whose answer the caller will read itself); they are written by the next read, send or
    /// [`WebSocket::flush`].
    pub fn sender(&mut self) -> &mut Sender {
        self.connection.sender()
    }

    /// Writes everything queued.
    pub fn flush(&mut self) -> Result<(), Error> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        self.step()
    }

    /// Runs the close handshake: sends a close frame (unless one was sent), then reads, discarding
    /// messages, until the peer's close arrives and the stream ends (RFC 6455 §7.1.1). Bounded by
    /// `Config::close_timeout`: a peer that never answers ends it with [`Error::CloseTimeout`].
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.connection.sender().close(code, reason)?;
        while self.read_event()?.is_some() {}
        Ok(())
    }

    /// Closes gracefully with 1001 ([`Connection::go_away`]): writes a ping now; the close follows once
    /// its pong shows that every message the peer sent before has been handed out by
    /// [`WebSocket::read_event`], so answers to them go out ahead of the close. Keep reading: the
    /// events, the peer's close, then `None`. For a connection that one thread both reads and decides
    /// to end; from another thread, use [`Writer::go_away`].
    ///
    /// ```no_run
    /// use wscore::driver::blocking::connect;
    /// use wscore::Event;
    ///
    /// let mut ws = connect("ws://127.0.0.1:9001/")?;
    /// ws.go_away()?;
    /// while let Some((event, sender)) = ws.read_event()? {
    ///     if let Event::Text(text) = event {
    ///         let _ = sender.send_text(text); // `Error::Closed` once the close went first
    ///     }
    /// }
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn go_away(&mut self) -> Result<(), Error> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        self.connection.go_away(Instant::now());
        self.step()
    }

    /// The request the server accepted (server side): path, query, headers, `Origin`.
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    /// The server's 101 response (client side): headers and the chosen subprotocol.
    pub fn response(&self) -> Option<&Response> {
        self.response.as_ref()
    }

    /// The subprotocol both ends agreed on in the handshake, if any (RFC 6455 §1.9).
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The protocol state.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The stream. Its timeouts are the driver's: they are set to the connection's deadlines.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Splits into a [`Reader`] and a [`Writer`] for two threads; the writer clones for more.
    ///
    /// ```no_run
    /// use wscore::driver::blocking::connect;
    /// use wscore::{CloseCode, Message};
    ///
    /// let (mut reader, writer) = connect("ws://127.0.0.1:9001/")?.split()?;
    /// let closer = writer.clone();
    /// let sending = std::thread::spawn(move || {
    ///     let mut writer = writer;
    ///     for i in 0..10 {
    ///         writer.send(Message::from(format!("message {i}")))?;
    ///     }
    ///     closer.close(CloseCode::NORMAL, "done")
    /// });
    /// while let Some(message) = reader.read()? {
    ///     println!("{message:?}");
    /// }
    /// sending.join().unwrap()?;
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn split(self) -> Result<(Reader<S>, Writer<S>), Error>
    where
        S: TryClone,
    {
        split::split(self)
    }

    /// Writes what is queued.
    fn step(&mut self) -> Result<(), Error> {
        io::write_queued(&mut self.connection, &mut self.stream, &mut self.timeouts)
    }

    fn next_step(&mut self) -> Result<Next, Error> {
        io::next_step(&mut self.connection, &mut self.stream, &mut self.shut_down)
    }

    /// Reads once, straight into the connection's buffer, waiting at most until `deadline`.
    fn read_once(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        let read = self
            .timeouts
            .read(&mut self.stream, deadline)
            .and_then(|()| self.stream.read(self.connection.read_buffer()));
        io::after_read(&mut self.connection, read, Connection::commit)
    }

    /// After the connection failed or ended: writes its close frame, shuts the stream down and reads
    /// until the peer ends it or the close timeout passes; then returns the error. An I/O error on a
    /// connection still open returns at once.
    fn linger_then(&mut self, error: Error) -> Error {
        if self.connection.state() == State::Closed {
            while let Ok(Next::Read(deadline)) = self.step().and_then(|()| self.next_step()) {
                if self.read_once(deadline).is_err() {
                    break;
                }
            }
        }
        error
    }
}
