//! The opening handshake over a blocking stream, for both roles, within `Config::handshake_timeout`.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

use super::io::Timeouts;
use super::{Transport, WebSocket};
use crate::handshake::{
    read_request, ClientHandshake, ClientOptions, Incoming, Request, Upgrade, WsUrl,
};
use crate::{Config, Connection, Error, Role};

/// What [`accept`] found on a new stream.
// Made once per connection and matched at once: boxing the large variant would cost more than it saves.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Accepted<S> {
    /// The WebSocket is open.
    WebSocket(WebSocket<S>),
    /// A plain HTTP request, for the application to answer on the stream (for example with an
    /// [`HttpResponse`](crate::handshake::HttpResponse)).
    Http {
        /// The request head.
        request: Request,
        /// The stream, to answer on.
        stream: S,
        /// Bytes read past the head: the start of a body, or a pipelined request.
        leftover: Vec<u8>,
    },
}

/// Reads a handshake from a new stream and accepts it without a subprotocol. A refused request has been
/// answered (400, 408, 426, 431) when the error returns.
pub fn accept<S: Transport>(stream: S, config: &Config) -> Result<Accepted<S>, Error> {
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
pub fn accept_with<S: Transport>(
    mut stream: S,
    config: &Config,
    choose: impl FnOnce(&Upgrade) -> Option<String>,
) -> Result<Accepted<S>, Error> {
    let deadline = Instant::now() + config.handshake_timeout;
    let mut timeouts = Timeouts::default();
    let mut buf = Vec::new();
    let parsed = read_head(&mut stream, &mut timeouts, deadline, &mut buf, |buf| {
        read_request(buf, config)
    });
    let (incoming, used) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            if let Some(response) = error.http_response() {
                timeouts.write(&mut stream, Some(Instant::now() + config.close_timeout))?;
                stream.write_all(&response.to_bytes())?;
                stream.flush()?;
            }
            return Err(error);
        }
    };
    match incoming {
        Incoming::Http(request) => Ok(Accepted::Http {
            request,
            stream,
            leftover: buf[used..].to_vec(),
        }),
        Incoming::Upgrade(upgrade) => {
            let protocol = choose(&upgrade);
            timeouts.write(&mut stream, Some(deadline))?;
            stream.write_all(&upgrade.accept(protocol.as_deref())?)?;
            stream.flush()?;
            let connection = Connection::new(Role::Server, config);
            let mut ws = WebSocket::from_parts(stream, connection, &buf[used..]);
            ws.request = Some(upgrade.request().clone());
            Ok(Accepted::WebSocket(ws))
        }
    }
}

/// Opens a TCP connection to a `ws://` URL and runs the client handshake with default options.
pub fn connect(url: &str) -> Result<WebSocket<TcpStream>, Error> {
    connect_with(url, &ClientOptions::default(), &Config::default())
}

/// Like [`connect`], with subprotocols, extra headers and limits. Connecting and the handshake together
/// take at most `Config::handshake_timeout`. The server's response is [`WebSocket::response`]. `wss://`
/// needs a TLS stream: open one and use [`client`].
pub fn connect_with(
    url: &str,
    options: &ClientOptions,
    config: &Config,
) -> Result<WebSocket<TcpStream>, Error> {
    let deadline = Instant::now() + config.handshake_timeout;
    let parsed = WsUrl::parse(url)?;
    if parsed.secure {
        return Err(Error::InvalidUrl(
            "wss:// needs a TLS stream: open one and call client()",
        ));
    }
    let stream = connect_tcp(&parsed, deadline)?;
    // Frames are written whole; Nagle's algorithm would only delay small messages.
    stream.set_nodelay(true)?;
    client(stream, &parsed, options, config)
}

/// Tries each address of the host in turn until one connects, within the handshake deadline.
fn connect_tcp(url: &WsUrl, deadline: Instant) -> Result<TcpStream, Error> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::HandshakeTimeout);
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last.into())
}

/// Runs the client handshake over a stream the caller opened (TCP, TLS, a proxy tunnel), within
/// `Config::handshake_timeout` from now.
pub fn client<S: Transport>(
    mut stream: S,
    url: &WsUrl,
    options: &ClientOptions,
    config: &Config,
) -> Result<WebSocket<S>, Error> {
    let deadline = Instant::now() + config.handshake_timeout;
    let mut timeouts = Timeouts::default();
    let handshake = ClientHandshake::new(url, options, config)?;
    timeouts.write(&mut stream, Some(deadline))?;
    stream.write_all(handshake.request())?;
    stream.flush()?;
    let mut buf = Vec::new();
    let (response, used) = read_head(&mut stream, &mut timeouts, deadline, &mut buf, |buf| {
        handshake.read_response(buf, config)
    })?;
    let connection = Connection::new(Role::Client, config);
    let mut ws = WebSocket::from_parts(stream, connection, &buf[used..]);
    ws.response = Some(response);
    Ok(ws)
}

/// Reads into `buf` until `parse` finds a complete head, waiting no longer than `deadline` in all.
fn read_head<S: Transport, T>(
    stream: &mut S,
    timeouts: &mut Timeouts,
    deadline: Instant,
    buf: &mut Vec<u8>,
    mut parse: impl FnMut(&[u8]) -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let mut chunk = [0u8; 4096];
    loop {
        if Instant::now() >= deadline {
            return Err(Error::HandshakeTimeout);
        }
        timeouts.read(stream, Some(deadline))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if super::io::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                continue
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(parsed) = parse(buf)? {
            return Ok(parsed);
        }
    }
}
