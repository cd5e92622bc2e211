//! A driver on [tokio](https://docs.rs/tokio) (feature `tokio`): a WebSocket over any
//! `AsyncRead + AsyncWrite + Unpin` stream — a `TcpStream`, TLS from tokio-rustls, or hyper's
//! `Upgraded` inside an axum or hyper service (feature `http` answers their upgrade).
//!
//! The driver holds no protocol rule: it is the core's loop written as poll functions. One
//! `tokio::time::Sleep` per connection is armed at [`Connection::poll_timeout`], so the opening
//! handshake's deadline, keepalive, the idle close and the close timeout behave as on the other drivers;
//! tokio's clock is the core's, so `tokio::time::pause` drives them in tests. The output is bounded by
//! `Config::max_write_buffer`: while it is full, [`WebSocketStream`] neither reads nor hands out events,
//! and senders wait ([`futures_sink::Sink::poll_ready`] is pending), so a peer that never reads makes
//! writers wait and never grows memory.
//!
//! ```no_run
//! use wscore::driver::tokio::{accept, Accepted};
//! use wscore::Message;
//!
//! # async fn serve() -> Result<(), wscore::Error> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     stream.set_nodelay(true)?;
//!     tokio::spawn(async move {
//!         if let Ok(Accepted::WebSocket(mut ws)) = accept(stream, &Default::default()).await {
//!             while let Ok(Some(message)) = ws.read().await {
//!                 if let Message::Text(_) | Message::Binary(_) = message {
//!                     let _ = ws.send(message).await;
//!                 }
//!             }
//!         }
//!     });
//! }
//! # }
//! ```
//!
//! # Cancel safety
//!
//! | method | cancel-safe | if the future is dropped before it completes |
//! |---|---|---|
//! | [`WebSocketStream::read`], [`WebSocketStream::read_event`], `StreamExt::next`, [`ReadHalf::read`] | yes | nothing is lost: a message is taken out of the connection only by the poll that returns it, and a partial frame stays in the connection's buffer for the next call |
//! | [`WebSocketStream::send`], [`WriteHalf::send`] | yes, per message | the message is queued whole or not at all; once queued it is written by any later call |
//! | [`WebSocketStream::flush`], [`WriteHalf::flush`] | yes | what was not written stays queued |
//! | [`WebSocketStream::close`] | no | the close frame is queued; the rest of the handshake is not awaited (read on to finish it) |
//! | [`accept`], [`accept_with`], [`connect`], [`connect_with`], [`client`] | no | the handshake is abandoned with the stream |

mod handshake;
mod hub;
mod io;
mod split;
#[cfg(feature = "tls")]
mod tls;

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::handshake::{Request, Response, Upgrade};
use crate::{CloseCode, Config, Connection, Error, Event, Message, Role, Sender};
use io::Io;

pub use crate::driver::topics::{PublishStats, SlowSubscriber};
pub use handshake::{accept, accept_with, client, connect, connect_with, Accepted, MaybeTls};
pub use hub::Hub;
pub use split::{ReadHalf, WriteHalf};

/// A WebSocket over an async stream. It is a [`futures_core::Stream`] of messages and a
/// [`futures_sink::Sink`] of them, so `StreamExt` and `SinkExt` combine it; [`WebSocketStream::read`]
/// and [`WebSocketStream::send`] do the same without the traits, and [`WebSocketStream::read_event`]
/// lends each event with the [`Sender`] beside it, so an echo copies nothing.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use wscore::Message;
///
/// # async fn run() -> Result<(), wscore::Error> {
/// let mut ws = wscore::driver::tokio::connect("ws://127.0.0.1:9001/").await?;
/// ws.send(Message::from("hello")).await?;
/// while let Some(message) = ws.next().await {
///     println!("{:?}", message?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct WebSocketStream<S> {
    // Boxed, so that the stream is a few words wherever a task's future holds it (futures keep a slot
    // for each place a value lives across an await, and a connection is about a kilobyte): an idle
    // connection costs its state once.
    io: Box<Io<S>>,
    request: Option<Box<Request>>,
    response: Option<Box<Response>>,
    protocol: Option<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Wraps a stream whose handshake is done (by [`accept`], or by a hyper or axum handler that
    /// answered the upgrade); `leftover` are bytes read past the handshake. The connection's timers
    /// start now, on tokio's clock.
    ///
    /// ```
    /// use wscore::driver::tokio::WebSocketStream;
    /// use wscore::{Config, Connection, Role};
    ///
    /// let (stream, _peer) = tokio::io::duplex(4096);
    /// let connection = Connection::new(Role::Server, &Config::default());
    /// let ws = WebSocketStream::from_parts(stream, connection, &[]);
    /// assert_eq!(ws.connection().role(), Role::Server);
    /// ```
    pub fn from_parts(stream: S, connection: Connection, leftover: &[u8]) -> WebSocketStream<S> {
        WebSocketStream {
            io: Box::new(Io::new(stream, connection, leftover)),
            request: None,
            response: None,
            protocol: None,
        }
    }

    /// Runs an upgrade that an HTTP server answered itself (with
    /// `Upgrade::respond_http` under the `http` feature, in a hyper or axum handler): the connection
    /// takes the extensions the upgrade negotiated, and [`WebSocketStream::request`] and
    /// [`WebSocketStream::protocol`] report the request and the subprotocol the answer chose.
    ///
    /// ```
    /// use wscore::driver::tokio::WebSocketStream;
    /// use wscore::handshake::{read_request, Incoming};
    /// use wscore::Config;
    ///
    /// let head = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// let config = Config::default();
    /// let Ok(Some((Incoming::Upgrade(upgrade), _))) = read_request(head, &config) else {
    ///     panic!("an upgrade");
    /// };
    /// let (stream, _peer) = tokio::io::duplex(4096);
    /// let ws = WebSocketStream::from_upgrade(stream, &upgrade, None, &config);
    /// assert_eq!(ws.request().unwrap().path, "/chat");
    /// ```
    pub fn from_upgrade(
        stream: S,
        upgrade: &Upgrade,
        protocol: Option<&str>,
        config: &Config,
    ) -> WebSocketStream<S> {
        let connection = Connection::with_extensions(Role::Server, config, upgrade.extensions());
        let mut ws = WebSocketStream::from_parts(stream, connection, &[]);
        ws.request = Some(Box::new(upgrade.request().clone()));
        ws.protocol = protocol.map(str::to_owned);
        ws
    }

    /// Reads until the next event, writing what is queued (pongs, answers to earlier events) first.
    /// The event borrows the connection's buffer; the [`Sender`] beside it queues answers, written by
    /// the next call or by [`WebSocketStream::flush`]. `Ok(None)`: the connection is over. Cancel-safe.
    ///
    /// When the peer breaks the protocol or a timer fails the connection, the error comes back after the
    /// close frame with its code was written and the stream was shut down and drained (bounded by
    /// `Config::close_timeout`).
    ///
    /// ```no_run
    /// use wscore::Event;
    /// # async fn echo(mut ws: wscore::driver::tokio::WebSocketStream<tokio::net::TcpStream>) -> Result<(), wscore::Error> {
    /// while let Some((event, sender)) = ws.read_event().await? {
    ///     match event {
    ///         Event::Text(text) => sender.send_text(text)?,
    ///         Event::Binary(data) => sender.send_binary(data)?,
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_event(&mut self) -> Result<Option<(Event<'_>, &mut Sender)>, Error> {
        if !poll_fn(|cx| self.io.poll_event(cx)).await? {
            return Ok(None);
        }
        self.io.connection.next_event()
    }

    /// Reads the next message (pings, pongs and the close included), copied out of the connection's
    /// buffer. `Ok(None)`: closed. Cancel-safe.
    pub async fn read(&mut self) -> Result<Option<Message>, Error> {
        Ok(self
            .read_event()
            .await?
            .map(|(event, _)| Message::from(event)))
    }

    /// Queues a message, waiting first while the output is full, and writes it out. An error means the
    /// message was **not** queued ([`Error::Closed`], a message over the limits, …), except for an I/O error met while writing one that was: then this returns `Ok`, and the
    /// error comes back from the next call (as on the blocking driver). Cancel-safe per message.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.io.poll_ready(cx)).await?;
        self.io.start_send(&message)?;
        if let Err(error) = poll_fn(|cx| self.io.poll_flush(cx)).await {
            self.io.defer(error);
        }
        Ok(())
    }

    /// Writes everything queued (through [`WebSocketStream::sender`] or [`WebSocketStream::read_event`]).
    pub async fn flush(&mut self) -> Result<(), Error> {
        if let Some(error) = self.io.deferred.take() {
            return Err(error);
        }
        poll_fn(|cx| self.io.poll_flush(cx)).await
    }

    /// Runs the close handshake: sends a close frame (unless one was sent), then reads, discarding
    /// messages, until the peer's close arrives and the stream ends (RFC 6455 §7.1.1). Bounded by
    /// `Config::close_timeout`: a peer that never answers ends it with [`Error::CloseTimeout`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.io.connection.sender().close(code, reason)?;
        while self.read_event().await?.is_some() {}
        Ok(())
    }

    /// Closes gracefully with 1001 ([`Connection::go_away`]): queues a ping, written by the next read;
    /// the close follows once its pong shows that every message the peer sent before has been handed
    /// out by [`WebSocketStream::read_event`], so answers to them go out ahead of the close. Keep
    /// reading: the events, the peer's close, then `None`. A server shutting down calls it on each
    /// connection instead of [`Sender::close`], which would refuse answers to messages already on
    /// their way.
    ///
    /// ```no_run
    /// use wscore::Event;
    ///
    /// # async fn run(mut ws: wscore::driver::tokio::WebSocketStream<tokio::net::TcpStream>)
    /// # -> Result<(), wscore::Error> {
    /// ws.go_away();
    /// while let Some((event, sender)) = ws.read_event().await? {
    ///     if let Event::Text(text) = event {
    ///         let _ = sender.send_text(text); // `Error::Closed` once the close went first
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn go_away(&mut self) {
        self.io.connection.go_away(std::time::Instant::now());
    }

    /// The sending half of the connection, to queue frames without writing them yet (borrowed text,
    /// fragments, pings); they are written by the next read, send or flush.
    pub fn sender(&mut self) -> &mut Sender {
        self.io.connection.sender()
    }

    /// Splits into a [`ReadHalf`] and a [`WriteHalf`] that two tasks own; the writer clones for more.
    /// Closing from a writer wakes the reader, which returns the peer's close, then `None`.
    ///
    /// ```no_run
    /// use wscore::{CloseCode, Message};
    ///
    /// # async fn run() -> Result<(), wscore::Error> {
    /// let (mut reader, writer) = wscore::driver::tokio::connect("ws://127.0.0.1:9001/").await?.split();
    /// let sending = tokio::spawn(async move {
    ///     for i in 0..10 {
    ///         writer.send(Message::from(format!("message {i}"))).await?;
    ///     }
    ///     writer.close(CloseCode::NORMAL, "done").await
    /// });
    /// while let Some(message) = reader.read().await? {
    ///     println!("{message:?}");
    /// }
    /// sending.await.expect("the task ran")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        split::split(*self.io)
    }

    /// The request the server accepted (server side): path, query, headers, `Origin`.
    pub fn request(&self) -> Option<&Request> {
        self.request.as_deref()
    }

    /// The server's 101 response (client side): headers and the chosen subprotocol.
    pub fn response(&self) -> Option<&Response> {
        self.response.as_deref()
    }

    /// The subprotocol both ends agreed on in the handshake, if any (RFC 6455 §1.9).
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The protocol state.
    pub fn connection(&self) -> &Connection {
        &self.io.connection
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.io.stream
    }

    /// The stream; reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io.stream
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().io.poll_message(cx)
    }
}

/// `poll_ready` waits while the output is full; `start_send` queues; `poll_flush` writes (its errors
/// come back at once, as `SinkExt::send` expects); `poll_close` sends a 1000 close unless one was sent
/// and writes it; the peer's answer is read from the stream side.
impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().io.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().io.start_send(&message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().io.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().io.poll_close(cx)
    }
}
