//! A blocking driver over any `Read + Write` stream: a `TcpStream`, a TLS stream, a Unix socket.
//!
//! Timeouts are the stream's: set `TcpStream::set_read_timeout` (and `set_write_timeout`) before handing
//! the stream over. A read that times out returns [`Error::Io`] with `WouldBlock` or `TimedOut` and leaves
//! the connection usable; a client waiting for the server to close TCP after the close handshake waits at
//! most that long too.
//!
//! ```no_run
//! use wscore::driver::blocking::{connect, Message};
//! let mut ws = connect("ws://127.0.0.1:9001/")?;
//! ws.send_text("hello")?;
//! if let Some(Message::Text(echo)) = ws.read()? {
//!     println!("{echo}");
//! }
//! ws.close(wscore::CloseCode::NORMAL, "bye")?;
//! # Ok::<(), wscore::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use crate::handshake::{
    read_request, ClientHandshake, ClientOptions, Incoming, Request, Response, Upgrade, WsUrl,
};
use crate::{CloseCode, Config, Connection, Error, Event, MessageKind, Role, Sender};

/// An owned message, for applications that keep what they read. [`WebSocket::read_event`] borrows instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (already answered).
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// The peer's close frame (already answered): its code and reason, if it had a code.
    Close(Option<(CloseCode, String)>),
}

impl From<Event<'_>> for Message {
    fn from(event: Event<'_>) -> Message {
        match event {
            Event::Text(text) => Message::Text(text.to_owned()),
            Event::Binary(data) => Message::Binary(data.to_vec()),
            Event::Ping(data) => Message::Ping(data.to_vec()),
            Event::Pong(data) => Message::Pong(data.to_vec()),
            Event::Close(frame) => Message::Close(frame.map(|f| (f.code, f.reason.to_owned()))),
        }
    }
}

/// A WebSocket over a blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    connection: Connection,
}

impl<S: Read + Write> WebSocket<S> {
    /// Wraps a stream whose handshake is done; `leftover` are bytes read past the handshake.
    pub fn from_parts(stream: S, mut connection: Connection, leftover: &[u8]) -> WebSocket<S> {
        connection.receive(leftover);
        WebSocket { stream, connection }
    }

    /// Reads until the next event, writing queued frames (such as pongs and answers to earlier events)
    /// first. The event borrows the connection's buffer; the [`Sender`] beside it queues answers, written
    /// on the next call or by [`WebSocket::flush`]. `Ok(None)`: the connection is closed and the stream can
    /// be dropped.
    pub fn read_event(&mut self) -> Result<Option<(Event<'_>, &mut Sender)>, Error> {
        loop {
            self.flush()?;
            match self.connection.poll_event() {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => return Err(self.flush_then(error)),
            }
            if self.connection.should_close_transport() {
                return Ok(None);
            }
            self.fill()?;
        }
        // Every check ran in poll_event, so this hands out the event without failing.
        self.connection.next_event()
    }

    /// Reads the next message, copied out of the connection's buffer. `Ok(None)`: closed.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        Ok(self.read_event()?.map(|(event, _)| Message::from(event)))
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.connection.sender().send_text(text)?;
        self.flush()
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.connection.sender().send_binary(data)?;
        self.flush()
    }

    /// Sends one fragment of a message; see [`Sender::send_fragment`].
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.connection.sender().send_fragment(kind, payload, fin)?;
        self.flush()
    }

    /// Sends a ping.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.connection.sender().send_ping(payload)?;
        self.flush()
    }

    /// Runs the close handshake: sends a close frame, then reads (discarding messages) until the peer's
    /// close arrives and, for a client, until the server closes the stream (RFC 6455 §7.1.1).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.connection.sender().close(code, reason)?;
        while self.read_event()?.is_some() {}
        Ok(())
    }

    /// Writes everything queued.
    pub fn flush(&mut self) -> Result<(), Error> {
        while !self.connection.pending_output().is_empty() {
            match self.stream.write(self.connection.pending_output()) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => self.connection.consume_output(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.stream.flush()?;
        Ok(())
    }

    /// The sending half, to queue frames without writing them yet (for example a close whose answer
    /// the caller will read itself); they are written by the next read or [`WebSocket::flush`].
    pub fn sender(&mut self) -> &mut Sender {
        self.connection.sender()
    }

    /// The protocol state.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The stream, e.g. to change its timeouts.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Reads once from the stream into the connection's buffer.
    fn fill(&mut self) -> Result<(), Error> {
        match self.stream.read(self.connection.read_buffer()) {
            Ok(0) => self.connection.receive_eof(),
            Ok(n) => {
                self.connection.commit(n);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            // A peer that closes right after the close handshake may reset rather than end the stream;
            // the core decides whether that was clean.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                self.connection.receive_eof().map_err(|_| e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// After the core failed the connection, writes its close frame if the stream allows, and returns the
    /// error that caused it.
    fn flush_then(&mut self, error: Error) -> Error {
        let _ = self.flush();
        error
    }
}

/// What [`accept`] found on a new stream.
// Made once per connection and matched at once: boxing the large variant would cost more than it saves.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Accepted<S> {
    /// The WebSocket is open.
    WebSocket(WebSocket<S>),
    /// A plain HTTP request, for the application to answer on the stream (for example with
    /// [`crate::handshake::http_response`]).
    Http(Request, S),
}

/// Reads a handshake from a new stream and accepts it without a subprotocol. A refused request has been
/// answered (400, 426, 431) when the error returns.
pub fn accept<S: Read + Write>(stream: S, config: &Config) -> Result<Accepted<S>, Error> {
    accept_with(stream, config, |_| None)
}

/// Like [`accept`], with `choose` picking the subprotocol from the client's offer (RFC 6455 §4.2.2).
///
/// ```no_run
/// # use wscore::driver::blocking::accept_with;
/// # let stream = std::net::TcpStream::connect("127.0.0.1:1").unwrap();
/// let accepted = accept_with(stream, &Default::default(), |upgrade| {
///     upgrade.protocols().find(|p| *p == "chat").map(str::to_owned)
/// })?;
/// # Ok::<(), wscore::Error>(())
/// ```
pub fn accept_with<S: Read + Write>(
    mut stream: S,
    config: &Config,
    choose: impl FnOnce(&Upgrade) -> Option<String>,
) -> Result<Accepted<S>, Error> {
    let mut buf = Vec::new();
    let timed_out = || Error::BadRequest {
        status: 408,
        reason: "the handshake took too long",
    };
    let parsed = read_head(&mut stream, &mut buf, config, timed_out, |buf| {
        read_request(buf, config)
    });
    let (incoming, used) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            if let Some(response) = error.http_response() {
                stream.write_all(&response.to_bytes())?;
                stream.flush()?;
            }
            return Err(error);
        }
    };
    match incoming {
        Incoming::Http(request) => Ok(Accepted::Http(request, stream)),
        Incoming::Upgrade(upgrade) => {
            let protocol = choose(&upgrade);
            stream.write_all(&upgrade.accept(protocol.as_deref())?)?;
            stream.flush()?;
            let connection = Connection::new(Role::Server, config);
            Ok(Accepted::WebSocket(WebSocket::from_parts(
                stream,
                connection,
                &buf[used..],
            )))
        }
    }
}

/// Opens a TCP connection to a `ws://` URL and runs the client handshake with default options.
pub fn connect(url: &str) -> Result<WebSocket<TcpStream>, Error> {
    Ok(connect_with(url, &ClientOptions::default(), &Config::default())?.0)
}

/// Like [`connect`], with subprotocols, extra headers and limits; also returns the server's response.
/// `wss://` needs a TLS stream: open one and use [`client`].
pub fn connect_with(
    url: &str,
    options: &ClientOptions,
    config: &Config,
) -> Result<(WebSocket<TcpStream>, Response), Error> {
    let parsed = WsUrl::parse(url)?;
    if parsed.secure {
        return Err(Error::InvalidUrl(
            "wss:// needs a TLS stream: open one and call client()",
        ));
    }
    let stream = TcpStream::connect((parsed.host.as_str(), parsed.port))?;
    // Frames are written whole; Nagle's algorithm would only delay small messages.
    stream.set_nodelay(true)?;
    client(stream, &parsed, options, config)
}

/// Runs the client handshake over a stream the caller opened (TCP, TLS, a proxy tunnel).
pub fn client<S: Read + Write>(
    mut stream: S,
    url: &WsUrl,
    options: &ClientOptions,
    config: &Config,
) -> Result<(WebSocket<S>, Response), Error> {
    let mut handshake = ClientHandshake::new(url, options, config, Instant::now())?;
    stream.write_all(handshake.request())?;
    stream.flush()?;
    let mut chunk = [0u8; 1024];
    let response = loop {
        if let Some(response) = handshake.poll()? {
            break response;
        }
        match stream.read(&mut chunk) {
            Ok(0) => handshake.receive_eof(),
            Ok(n) => handshake.receive(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        handshake.handle_timeout(Instant::now())?;
    };
    let connection = Connection::new(Role::Client, config);
    Ok((
        WebSocket::from_parts(stream, connection, handshake.leftover()),
        response,
    ))
}

/// Reads into `buf` until `parse` finds a complete head; the stream ending first is an error, and so is
/// the handshake outlasting `config.handshake_timeout` (checked after each read: a peer that sends
/// nothing at all is stopped by the stream's own read timeout).
fn read_head<S: Read, T>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    config: &Config,
    timed_out: fn() -> Error,
    mut parse: impl FnMut(&[u8]) -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    loop {
        // Never read more than the limit allows past what is buffered: `parse` refuses a larger head.
        let room = chunk
            .len()
            .min(config.max_handshake_size.saturating_sub(buf.len()))
            .max(1);
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        if let Some(parsed) = parse(buf)? {
            return Ok(parsed);
        }
        if started.elapsed() > config.handshake_timeout {
            return Err(timed_out());
        }
    }
}
