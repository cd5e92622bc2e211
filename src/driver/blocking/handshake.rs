//! The opening handshake over a blocking stream, for both roles: the sans-IO handshakes of
//! [`crate::handshake`] fed from the stream, whose read timeout is their deadline.

use std::io::{self, ErrorKind};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::io::Timeouts;
use super::{MaybeTls, Transport, WebSocket};
use crate::driver::step::{answer, handshake_read, Answer, Handshake};
use crate::handshake::{
    ClientHandshake, ClientOptions, Decision, Request, ServerHandshake, Upgrade, WsUrl,
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

/// Reads a handshake from a new stream and accepts any valid upgrade, without a subprotocol. Call it
/// as soon as the stream is accepted: the handshake must finish within `Config::handshake_timeout`. A
/// refused request has been answered (400, 408, 426, 431) when the error returns.
pub fn accept<S: Transport>(stream: S, config: &Config) -> Result<Accepted<S>, Error> {
    accept_with(stream, config, |_| Decision::accept())
}

/// Like [`accept`], with a policy that sees the whole request (path, query, headers, `Origin`, the
/// offered subprotocols) and decides: accept, with a subprotocol and extra response headers, or refuse
/// with any HTTP response. A refusal is sent and returned as [`Error::Refused`].
///
/// ```no_run
/// use wscore::driver::blocking::accept_with;
/// use wscore::handshake::{Acceptance, AllowedOrigins, Decision};
///
/// let origins = AllowedOrigins::new(["https://example.com"])?;
/// # let stream = std::net::TcpStream::connect("127.0.0.1:1")?;
/// let accepted = accept_with(stream, &Default::default(), |upgrade| {
///     if let Err(forbidden) = origins.check(upgrade.request()) {
///         return Decision::Refuse(forbidden); // 403: cross-site WebSocket hijacking
///     }
///     let mut acceptance = Acceptance::new().header("Set-Cookie", "session=1; HttpOnly");
///     if upgrade.protocols().any(|p| p == "chat") {
///         acceptance = acceptance.protocol("chat");
///     }
///     Decision::Accept(acceptance)
/// })?;
/// # Ok::<(), wscore::Error>(())
/// ```
pub fn accept_with<S: Transport>(
    mut stream: S,
    config: &Config,
    policy: impl FnOnce(&Upgrade) -> Decision,
) -> Result<Accepted<S>, Error> {
    let mut handshake = ServerHandshake::new(config, Instant::now());
    let mut timeouts = Timeouts::default();
    let read = drive(&mut stream, &mut timeouts, &mut handshake);
    let opened = match answer(read, config, policy)? {
        Answer::Http(request) => {
            let leftover = handshake.leftover().to_vec();
            return Ok(Accepted::Http {
                request,
                stream,
                leftover,
            });
        }
        Answer::Refuse(response, error) => {
            refuse(&mut stream, &mut timeouts, config, &response);
            return Err(error);
        }
        Answer::Open(opened) => opened,
    };
    timeouts.write(
        &mut stream,
        Instant::now().checked_add(config.close_timeout),
    )?;
    stream.write_all(&opened.response)?;
    stream.flush()?;
    let mut ws = WebSocket::from_parts(stream, opened.connection, handshake.leftover());
    ws.request = Some(opened.request);
    ws.protocol = opened.protocol;
    Ok(Accepted::WebSocket(ws))
}

/// Sends a refusal and closes our side; then reads what the peer had already sent, so that closing does
/// not turn into a reset that could destroy the response before the peer reads it. The peer's later
/// bytes are not waited for: a silent peer must not hold the connection past the refusal.
fn refuse<S: Transport>(stream: &mut S, timeouts: &mut Timeouts, config: &Config, response: &[u8]) {
    let sent = timeouts
        .write(stream, Instant::now().checked_add(config.close_timeout))
        .and_then(|()| stream.write_all(response))
        .and_then(|()| stream.flush())
        .and_then(|()| stream.shutdown_write());
    if sent.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let drain_until = Instant::now() + Duration::from_millis(10);
    for _ in 0..16 {
        let read = timeouts
            .read(stream, Some(drain_until))
            .and_then(|()| stream.read(&mut sink));
        if !matches!(read, Ok(n) if n > 0) {
            break;
        }
    }
}

/// Opens a connection to a `ws://` URL (TCP) or a `wss://` one (TLS over TCP, feature `tls`) and runs
/// the client handshake with default options.
pub fn connect(url: &str) -> Result<WebSocket<MaybeTls>, Error> {
    connect_with(url, &ClientOptions::default(), &Config::default())
}

/// Like [`connect`], with subprotocols, extra headers, a TLS configuration and limits. Connecting, the
/// TLS handshake and the WebSocket handshake together take at most `Config::handshake_timeout`. The
/// server's response is [`WebSocket::response`]; a refusal (a 401 with `WWW-Authenticate`, a redirect
/// with `Location`) is [`Error::Refused`] with its status, headers and body.
///
/// `wss://` (RFC 6455 §3, port 443 by default) runs TLS first, with the URL's host as SNI and as the
/// name the certificate must carry (§4.1); the certificate is checked against
/// `ClientOptions::tls_config` or Mozilla's roots. A certificate that fails is `Error::Tls` naming
/// rustls' reason. Without the `tls` feature a `wss://` URL is [`Error::InvalidUrl`].
pub fn connect_with(
    url: &str,
    options: &ClientOptions,
    config: &Config,
) -> Result<WebSocket<MaybeTls>, Error> {
    let started = Instant::now();
    let parsed = WsUrl::parse(url)?;
    #[cfg(not(feature = "tls"))]
    if parsed.secure {
        return Err(Error::InvalidUrl("wss:// needs the tls feature"));
    }
    let stream = connect_tcp(&parsed, started.checked_add(config.handshake_timeout))?;
    // Frames are written whole; Nagle's algorithm would only delay small messages.
    stream.set_nodelay(true)?;
    #[cfg(feature = "tls")]
    if parsed.secure {
        let tls =
            crate::driver::tls::TlsStream::client(stream, &parsed.host, options.tls.as_ref())?;
        return client_from(MaybeTls::Tls(tls), &parsed, options, config, started);
    }
    client_from(MaybeTls::Plain(stream), &parsed, options, config, started)
}

/// Tries each address of the host in turn until one connects, within the handshake deadline (`None`:
/// the system's own connect timeout).
fn connect_tcp(url: &WsUrl, deadline: Option<Instant>) -> Result<TcpStream, Error> {
    let mut last = io::Error::new(ErrorKind::NotFound, "the host has no address");
    let passed = || deadline.is_some_and(|deadline| Instant::now() >= deadline);
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        if passed() {
            return Err(Error::HandshakeTimeout);
        }
        let connected = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                TcpStream::connect_timeout(&addr, left.max(Duration::from_millis(1)))
            }
            None => TcpStream::connect(addr),
        };
        match connected {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    if last.kind() == ErrorKind::TimedOut && passed() {
        return Err(Error::HandshakeTimeout);
    }
    Err(last.into())
}

/// Runs the client handshake over a stream the caller opened (TCP, TLS such as
/// `driver::tls::TlsStream::client`, a proxy tunnel), within
/// `Config::handshake_timeout` from now.
pub fn client<S: Transport>(
    stream: S,
    url: &WsUrl,
    options: &ClientOptions,
    config: &Config,
) -> Result<WebSocket<S>, Error> {
    client_from(stream, url, options, config, Instant::now())
}

fn client_from<S: Transport>(
    mut stream: S,
    url: &WsUrl,
    options: &ClientOptions,
    config: &Config,
    started: Instant,
) -> Result<WebSocket<S>, Error> {
    let mut handshake = ClientHandshake::new(url, options, config, started)?;
    let mut timeouts = Timeouts::default();
    timeouts.write(&mut stream, handshake.poll_timeout())?;
    stream.write_all(handshake.request())?;
    stream.flush()?;
    let response = drive(&mut stream, &mut timeouts, &mut handshake)?;
    let connection = Connection::with_extensions(Role::Client, config, &response.extensions);
    let mut ws = WebSocket::from_parts(stream, connection, handshake.leftover());
    ws.protocol = response.protocol.clone();
    ws.response = Some(response);
    Ok(ws)
}

/// Reads until the handshake decides, sleeping in each read no longer than its deadline.
fn drive<S: Transport, H: Handshake>(
    stream: &mut S,
    timeouts: &mut Timeouts,
    handshake: &mut H,
) -> Result<H::Outcome, Error> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(outcome) = handshake.poll()? {
            return Ok(outcome);
        }
        let deadline = handshake.poll_timeout();
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            handshake.handle_timeout(Instant::now())?;
        }
        timeouts.read(stream, deadline)?;
        let read = stream.read(&mut chunk);
        handshake_read(handshake, read, &chunk)?;
    }
}
