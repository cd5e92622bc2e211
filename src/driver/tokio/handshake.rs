//! The opening handshake over an async stream, for both roles: the sans-IO handshakes of
//! [`crate::handshake`] fed from the stream, each read bounded by the handshake's deadline on tokio's
//! clock.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::io::now;
use super::WebSocketStream;
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
    WebSocket(WebSocketStream<S>),
    /// A plain HTTP request, for the application to answer on the stream (for example with an
    /// [`HttpResponse`](crate::handshake::HttpResponse)'s `to_bytes`).
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
///
/// The socket is the application's, so its options are too: on a `TcpStream`, call
/// `set_nodelay(true)` first (the mio driver and `connect` do). Without it the kernel may hold the
/// last segment of a frame until the peer's delayed acknowledgement, up to 40 ms a message.
pub async fn accept<S>(stream: S, config: &Config) -> Result<Accepted<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, config, |_| Decision::accept()).await
}

/// Like [`accept`], with a policy that sees the whole request (path, query, headers, `Origin`, the
/// offered subprotocols) and decides: accept, with a subprotocol and extra response headers, or refuse
/// with any HTTP response. A refusal is sent and returned as [`Error::Refused`].
///
/// ```no_run
/// use wscore::driver::tokio::accept_with;
/// use wscore::handshake::{Acceptance, Decision};
///
/// # async fn run(stream: tokio::net::TcpStream) -> Result<(), wscore::Error> {
/// let accepted = accept_with(stream, &Default::default(), |upgrade| {
///     match upgrade.protocols().any(|p| p == "chat") {
///         true => Decision::Accept(Acceptance::new().protocol("chat")),
///         false => Decision::refuse(400),
///     }
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
pub async fn accept_with<S>(
    stream: S,
    config: &Config,
    policy: impl FnOnce(&Upgrade) -> Decision,
) -> Result<Accepted<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A task is as large as its future's largest state for all its life, and the handshake's (its
    // parser, its reads, the answer) is the largest: on the heap while it runs, it costs an idle
    // connection nothing (2 KiB a connection saved, measured in echo_server's task).
    Box::pin(server_handshake(stream, config, policy)).await
}

async fn server_handshake<S>(
    mut stream: S,
    config: &Config,
    policy: impl FnOnce(&Upgrade) -> Decision,
) -> Result<Accepted<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshake = ServerHandshake::new(config, now());
    let read = drive(&mut stream, &mut handshake).await;
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
            refuse(&mut stream, config, &response).await;
            return Err(error);
        }
        Answer::Open(opened) => opened,
    };
    within(config.close_timeout, async {
        stream.write_all(&opened.response).await?;
        stream.flush().await
    })
    .await?;
    let mut ws = WebSocketStream::from_parts(stream, opened.connection, handshake.leftover());
    ws.request = Some(Box::new(opened.request));
    ws.protocol = opened.protocol;
    Ok(Accepted::WebSocket(ws))
}

/// Runs `io` for at most `limit`: a peer that does not read the answer cannot hold the task.
async fn within<T>(
    limit: Duration,
    io: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match Instant::now().checked_add(limit) {
        Some(deadline) => timeout_at(deadline, io)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
        None => io.await,
    }
}

/// Sends a refusal and closes our side; then reads what the peer had already sent, so that closing does
/// not turn into a reset that could destroy the response before the peer reads it. The peer's later
/// bytes are not waited for: a silent peer must not hold the connection past the refusal.
async fn refuse<S>(stream: &mut S, config: &Config, response: &[u8])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let sent = within(config.close_timeout, async {
        stream.write_all(response).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
    if sent.is_err() {
        return;
    }
    let mut sink = vec![0u8; 4096];
    let _ = within(Duration::from_millis(10), async {
        for _ in 0..16 {
            if stream.read(&mut sink).await? == 0 {
                break;
            }
        }
        Ok(())
    })
    .await;
}

/// Opens a connection to a `ws://` URL (TCP) or a `wss://` one (TLS over TCP through tokio-rustls,
/// feature `tls`) and runs the client handshake with default options.
pub async fn connect(url: &str) -> Result<WebSocketStream<MaybeTls>, Error> {
    connect_with(url, &ClientOptions::default(), &Config::default()).await
}

/// Like [`connect`], with subprotocols, extra headers, a TLS configuration and limits. Connecting, the
/// TLS handshake and the WebSocket handshake together take at most `Config::handshake_timeout`. The
/// server's response is [`WebSocketStream::response`]; a refusal is [`Error::Refused`] with its
/// status, headers and body.
///
/// `wss://` (RFC 6455 §3) runs TLS first, with the URL's host as SNI and as the name the certificate
/// must carry (§4.1), checked against `ClientOptions::tls_config` or Mozilla's roots; a certificate
/// that fails is `Error::Tls` naming rustls' reason, as on the other drivers. Without the `tls`
/// feature a `wss://` URL is [`Error::InvalidUrl`].
pub async fn connect_with(
    url: &str,
    options: &ClientOptions,
    config: &Config,
) -> Result<WebSocketStream<MaybeTls>, Error> {
    let started = now();
    let parsed = WsUrl::parse(url)?;
    #[cfg(not(feature = "tls"))]
    if parsed.secure {
        return Err(Error::InvalidUrl("wss:// needs the tls feature"));
    }
    let open = async {
        let stream = TcpStream::connect((parsed.host.as_str(), parsed.port)).await?;
        // Frames are written whole; Nagle's algorithm would only delay small messages.
        stream.set_nodelay(true)?;
        #[cfg(feature = "tls")]
        if parsed.secure {
            let tls = super::tls::connect(stream, &parsed.host, options.tls.as_ref()).await?;
            return Ok(MaybeTls::Tls(Box::new(tls)));
        }
        Ok::<_, Error>(MaybeTls::Plain(stream))
    };
    let stream = match started.checked_add(config.handshake_timeout) {
        Some(deadline) => timeout_at(deadline.into(), open)
            .await
            .map_err(|_| Error::HandshakeTimeout)??,
        None => open.await?,
    };
    Box::pin(client_from(stream, &parsed, options, config, started)).await
}

/// Runs the client handshake over a stream the caller opened (TCP, TLS, a proxy tunnel), within
/// `Config::handshake_timeout` from now.
pub async fn client<S>(
    stream: S,
    url: &WsUrl,
    options: &ClientOptions,
    config: &Config,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // On the heap while it runs, as the server's handshake (see `accept_with`).
    Box::pin(client_from(stream, url, options, config, now())).await
}

async fn client_from<S>(
    mut stream: S,
    url: &WsUrl,
    options: &ClientOptions,
    config: &Config,
    started: std::time::Instant,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshake = ClientHandshake::new(url, options, config, started)?;
    let send = async {
        stream.write_all(handshake.request()).await?;
        stream.flush().await
    };
    match handshake.poll_timeout() {
        Some(deadline) => timeout_at(deadline.into(), send)
            .await
            .map_err(|_| Error::HandshakeTimeout)??,
        None => send.await?,
    }
    let response = drive(&mut stream, &mut handshake).await?;
    let connection = Connection::with_extensions(Role::Client, config, &response.extensions);
    let mut ws = WebSocketStream::from_parts(stream, connection, handshake.leftover());
    ws.protocol = response.protocol.clone();
    ws.response = Some(Box::new(response));
    Ok(ws)
}

/// Reads until the handshake decides, waiting in each read no longer than its deadline.
async fn drive<S: AsyncRead + Unpin, H: Handshake>(
    stream: &mut S,
    handshake: &mut H,
) -> Result<H::Outcome, Error> {
    // On the heap: an array here would live in every connection's task for its whole life (a future
    // is as large as its largest state), 4 KiB per idle connection.
    let mut chunk = vec![0u8; 4096];
    loop {
        if let Some(outcome) = handshake.poll()? {
            return Ok(outcome);
        }
        let read = match handshake.poll_timeout() {
            Some(deadline) => match timeout_at(deadline.into(), stream.read(&mut chunk)).await {
                Ok(read) => read,
                Err(_) => {
                    handshake.handle_timeout(now())?;
                    continue;
                }
            },
            None => stream.read(&mut chunk).await,
        };
        handshake_read(handshake, read, &chunk)?;
    }
}

/// The stream [`connect`] opens: TCP, or TLS over it for `wss://` (feature `tls`).
#[derive(Debug)]
pub enum MaybeTls {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`, through tokio-rustls.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}
