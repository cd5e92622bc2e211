//! Echoes every text and binary message; a plain `GET /` gets a page that talks to the echo from the
//! browser. With the `mio` feature it serves on event loops (`--driver mio`, the default then; `--threads
//! N` loops sharing the port); `--driver blocking` serves one thread per connection. Either way at most
//! `--max-connections` at once: beyond that a new connection is answered `503 Service Unavailable` and
//! closed, so opening sockets cannot exhaust the server. A connection that sends nothing is answered 408
//! at the handshake deadline; after the handshake the core's keepalive ends a silent peer. On every
//! driver, SIGTERM or Ctrl-C stops it gracefully: no new connection, every open one gets the echoes of
//! what it already sent, then a 1001 close, and the process exits 0 once they are closed, or once the
//! close timeout and the handshake deadline have passed (a second signal ends it at once). The
//! blocking driver pings each connection first and closes when the pong is back (`Shutdown`), so
//! even messages still on the wire are echoed.
//!
//! `cargo run --release --features mio --example echo_server -- --addr 127.0.0.1:9001`, then open
//! http://127.0.0.1:9001/
//!
//! Flags: `--addr HOST:PORT` (127.0.0.1:9001), `--driver mio|blocking|tokio`, `--threads N` (1: mio
//! loops or tokio workers),
//! `--max-connections N` (1024 blocking, 10000 mio), `--handshake-timeout-ms MS` (10000),
//! `--ping-interval-ms MS` (20000), `--ping-timeout-ms MS` (20000), `--close-timeout-ms MS` (10000),
//! `--idle-timeout-ms MS` (off: with it, a connection with no message either way for that long is closed
//! with 1001, which the interop tests use to see a close the server starts), `--origin ORIGIN`
//! (repeatable: only pages from these origins may open a WebSocket; others get 403, the defence against
//! cross-site WebSocket hijacking; by default any page may), `--tls-cert PEM --tls-key PEM` (feature
//! `tls`: serve `https://` and `wss://` on the port instead, page included; the page picks `wss://` when
//! loaded over `https://`; plain HTTP to the port is answered 400 and logged), `--trace` (every frame
//! both ways on stderr, one line each). With the `deflate` feature it negotiates permessage-deflate.
//! `--addr 127.0.0.1:0` lets the system pick a free port; the first line printed names the address.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wscore::driver::blocking::{accept_with, Accepted, Shutdown, Transport, TryClone};
use wscore::handshake::{AllowedOrigins, Decision, HttpResponse, Request, Upgrade};
use wscore::trace::Tracer;
use wscore::{Config, Error, Message};

#[cfg(feature = "tls")]
type Tls = Option<wscore::driver::tls::TlsAcceptor>;
/// Without the `tls` feature there is no TLS to serve.
#[cfg(not(feature = "tls"))]
type Tls = Option<std::convert::Infallible>;

const PAGE: &str = include_str!("echo_page.html");

/// Which driver serves: `--driver blocking|mio|tokio`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    Blocking,
    Mio,
    Tokio,
}

struct Options {
    addr: String,
    driver: Driver,
    threads: usize,
    max_connections: Option<usize>,
    config: Config,
    origins: Vec<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

fn main() -> std::io::Result<()> {
    let options = parse_options(std::env::args().skip(1));
    let origins = match options.origins.is_empty() {
        true => None,
        false => match AllowedOrigins::new(options.origins.iter().map(String::as_str)) {
            Ok(origins) => Some(Arc::new(origins)),
            Err(e) => {
                eprintln!("--origin: {e}");
                std::process::exit(2);
            }
        },
    };
    let tls = tls_acceptor(&options);
    match options.driver {
        #[cfg(feature = "mio")]
        Driver::Mio => event_loop::run(&options, origins, tls),
        #[cfg(feature = "tokio")]
        Driver::Tokio => tokio_server::run(&options, origins, tls),
        _ => serve_blocking(&options, origins, tls),
    }
}

/// The TLS identity from `--tls-cert` and `--tls-key`, if given; exits with a clear line if it cannot
/// be loaded.
fn tls_acceptor(options: &Options) -> Tls {
    let (cert, key) = match (&options.tls_cert, &options.tls_key) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            eprintln!("--tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    #[cfg(feature = "tls")]
    match wscore::driver::tls::TlsAcceptor::from_pem_files(cert, key) {
        Ok(acceptor) => Some(acceptor),
        Err(e) => {
            eprintln!("TLS: {e}");
            std::process::exit(2);
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (cert, key);
        eprintln!("--tls-cert needs the tls feature: cargo run --features tls ...");
        std::process::exit(2);
    }
}

fn announce(addr: std::net::SocketAddr, tls: bool) {
    match tls {
        true => println!("echo server on wss://{addr}/ — open https://{addr}/ in a browser"),
        false => println!("echo server on ws://{addr}/ — open http://{addr}/ in a browser"),
    }
}

/// One thread per connection. SIGTERM or Ctrl-C triggers the `Shutdown`: the accept loop ends, and
/// every connection echoes what its peer sent before, then closes with 1001.
fn serve_blocking(
    options: &Options,
    origins: Option<Arc<AllowedOrigins>>,
    tls: Tls,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(&options.addr)?;
    let shutdown = Shutdown::new();
    // Waiting for signals before the address is announced: whoever reads it may signal at once.
    let stopper = shutdown.clone();
    signals::on_shutdown_signal(move || stopper.trigger());
    announce(listener.local_addr()?, tls.is_some());
    let max_connections = options.max_connections.unwrap_or(1024);
    let live = Arc::new(AtomicUsize::new(0));
    for stream in shutdown.incoming(&listener) {
        let stream = match stream {
            Ok(stream) => stream,
            // Out of file descriptors, or a connection reset before it was accepted: keep serving.
            Err(e) => {
                eprintln!("accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if live.load(Ordering::Relaxed) >= max_connections {
            // A TLS client could not read a plain 503; it is closed without one.
            if tls.is_none() {
                refuse(stream);
            }
            continue;
        }
        live.fetch_add(1, Ordering::Relaxed);
        let slot = Slot(Arc::clone(&live));
        let config = options.config.clone();
        let origins = origins.clone();
        let shutdown = shutdown.clone();
        // Without the tls feature `Tls` is an `Option<Infallible>`, which is Copy.
        #[allow(clippy::clone_on_copy)]
        let tls = tls.clone();
        let spawned = thread::Builder::new().stack_size(256 << 10).spawn(move || {
            let _slot = slot;
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            // Plain HTTP on the TLS port shows here as "handshake refused with 400: this port speaks
            // TLS", answered and closed at once.
            if let Err(e) = serve_maybe_tls(stream, tls, &config, origins.as_deref(), &shutdown) {
                eprintln!("{peer}: {e}");
            }
        });
        if let Err(e) = spawned {
            eprintln!("no thread for a connection: {e}");
        }
    }
    // Stopped accepting. A connection's close is bounded by twice the close timeout (the pong, then
    // the peer's close), and one still in its opening handshake by the handshake deadline (it joins
    // then, and goes away at once); waiting past those would only wait for a bug. Its thread ends
    // after the connection, so the count of live threads covers both.
    let config = &options.config;
    let patience = config.close_timeout * 2 + config.handshake_timeout + Duration::from_secs(1);
    let deadline = Instant::now() + patience;
    while !shutdown.wait_until(deadline) || live.load(Ordering::Relaxed) > 0 {
        if Instant::now() >= deadline {
            eprintln!(
                "{} connections still open at the deadline",
                live.load(Ordering::Relaxed)
            );
            break;
        }
        // A thread still in its handshake, or just past its connection's end.
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A connection's place under `--max-connections`, given back when its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers a connection over the limit without a thread: the response fits in the socket's buffer.
fn refuse(mut stream: TcpStream) {
    let response = HttpResponse::new(503)
        .header("Retry-After", "1")
        .header("Content-Type", "text/plain")
        .body("too many connections\n");
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(&response.to_bytes());
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Options {
    let mut options = Options {
        addr: "127.0.0.1:9001".to_owned(),
        driver: if cfg!(feature = "mio") {
            Driver::Mio
        } else {
            Driver::Blocking
        },
        threads: 1,
        max_connections: None,
        // Autobahn's 9.x cases send 16 MiB messages; allow well beyond that.
        config: Config::default()
            .max_frame_size(64 << 20)
            .max_message_size(64 << 20),
        origins: Vec::new(),
        tls_cert: None,
        tls_key: None,
    };
    while let Some(arg) = args.next() {
        if arg == "--trace" {
            options.config = options.config.trace(Tracer::stderr());
            continue;
        }
        let value = args.next();
        match (arg.as_str(), value) {
            ("--addr", Some(value)) => options.addr = value,
            ("--max-connections", Some(value)) if value.parse::<usize>().is_ok() => {
                options.max_connections = value.parse().ok()
            }
            ("--threads", Some(value)) if value.parse::<usize>().is_ok_and(|n| n > 0) => {
                options.threads = value.parse().unwrap_or(1)
            }
            ("--driver", Some(value)) if value == "blocking" => options.driver = Driver::Blocking,
            ("--driver", Some(value)) if value == "mio" && cfg!(feature = "mio") => {
                options.driver = Driver::Mio
            }
            ("--driver", Some(value)) if value == "tokio" && cfg!(feature = "tokio") => {
                options.driver = Driver::Tokio
            }
            ("--handshake-timeout-ms", Some(value)) if value.parse::<u64>().is_ok() => {
                let ms = value.parse().unwrap_or_default();
                options.config = options.config.handshake_timeout(Duration::from_millis(ms));
            }
            // The keepalive and close timers, shortened by the soak's CI lanes so that a peer that
            // stops reading is ended within their minute.
            ("--ping-interval-ms", Some(value)) if value.parse::<u64>().is_ok() => {
                let ms = value.parse().unwrap_or_default();
                let interval = Duration::from_millis(ms);
                options.config = options.config.ping_interval(Some(interval));
            }
            ("--ping-timeout-ms", Some(value)) if value.parse::<u64>().is_ok() => {
                let ms = value.parse().unwrap_or_default();
                options.config = options.config.ping_timeout(Duration::from_millis(ms));
            }
            ("--close-timeout-ms", Some(value)) if value.parse::<u64>().is_ok() => {
                let ms = value.parse().unwrap_or_default();
                options.config = options.config.close_timeout(Duration::from_millis(ms));
            }
            ("--idle-timeout-ms", Some(value)) if value.parse::<u64>().is_ok() => {
                let ms = value.parse().unwrap_or_default();
                let idle = Duration::from_millis(ms);
                options.config = options.config.idle_timeout(Some(idle));
            }
            ("--origin", Some(value)) => options.origins.push(value),
            ("--tls-cert", Some(value)) => options.tls_cert = Some(value),
            ("--tls-key", Some(value)) => options.tls_key = Some(value),
            _ => {
                eprintln!(
                    "usage: echo_server [--addr HOST:PORT] [--driver mio|blocking|tokio] [--threads N] \
                     [--max-connections N] [--handshake-timeout-ms MS] [--ping-interval-ms MS] \
                     [--ping-timeout-ms MS] [--close-timeout-ms MS] [--idle-timeout-ms MS] \
                     [--origin ORIGIN]... [--tls-cert PEM --tls-key PEM] [--trace]\n\
                     (--driver mio needs the mio feature, --driver tokio the tokio feature, \
                     --tls-cert the tls feature: cargo run --features mio,tokio,tls ...)"
                );
                std::process::exit(2);
            }
        }
    }
    // permessage-deflate when built with the feature, as browsers offer it.
    #[cfg(feature = "deflate")]
    {
        options.config = options.config.deflate(wscore::deflate::Deflate::default());
    }
    options
}

/// Serves one connection, over TLS if the server has an identity.
fn serve_maybe_tls(
    stream: TcpStream,
    tls: Tls,
    config: &Config,
    origins: Option<&AllowedOrigins>,
    shutdown: &Shutdown,
) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    match tls {
        #[cfg(feature = "tls")]
        Some(acceptor) => serve(acceptor.accept(stream)?, config, origins, shutdown),
        _ => serve(stream, config, origins, shutdown),
    }
}

fn serve<S: Transport + TryClone + Send + 'static>(
    stream: S,
    config: &Config,
    origins: Option<&AllowedOrigins>,
    shutdown: &Shutdown,
) -> Result<(), Error> {
    match accept_with(stream, config, |upgrade| policy(origins, upgrade))? {
        Accepted::Http {
            request,
            mut stream,
            ..
        } => {
            stream.write_all(&page(&request).to_bytes())?;
            // TLS writes its records here, then close_notify and the FIN.
            stream.flush()?;
            let _ = stream.shutdown_write();
            Ok(())
        }
        Accepted::WebSocket(ws) => {
            // Split, so that the shutdown reaches the connection through its writer while this thread
            // is blocked reading.
            let (mut reader, writer) = ws.split()?;
            shutdown.join(&writer);
            while let Some(message) = reader.read()? {
                if let Message::Text(_) | Message::Binary(_) = message {
                    match writer.send(message) {
                        // After our 1001 nothing more may be sent (RFC 6455 §5.5.1): a message the
                        // peer sent once it had the shutdown's ping goes unanswered.
                        Ok(()) | Err(Error::Closed) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(())
        }
    }
}

/// Echoes a text or binary message from the buffer it arrived in (the core answers pings and closes):
/// the mio and tokio drivers hand out borrowed events.
#[cfg(any(feature = "mio", feature = "tokio"))]
fn echo(event: wscore::Event<'_>, sender: &mut wscore::Sender) -> Result<(), Error> {
    use wscore::Event;
    match event {
        Event::Text(text) => sender.send_text(text),
        Event::Binary(data) => sender.send_binary(data),
        Event::Ping(_) | Event::Pong(_) | Event::Close(_) => Ok(()),
    }
}

/// The answer to a plain request: the page at `/`, 404 elsewhere.
fn page(request: &Request) -> HttpResponse {
    if request.method == "GET" && request.path == "/" {
        HttpResponse::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(PAGE)
    } else {
        HttpResponse::new(404)
            .header("Content-Type", "text/plain")
            .body("not found\n")
    }
}

/// Accepts an upgrade unless `--origin` was given and the page's origin is not in it.
fn policy(origins: Option<&AllowedOrigins>, upgrade: &Upgrade) -> Decision {
    match origins.map(|origins| origins.check(upgrade.request())) {
        Some(Err(forbidden)) => Decision::Refuse(forbidden),
        _ => Decision::accept(),
    }
}

#[path = "common/signals.rs"]
mod signals;

/// Event loops (the `mio` feature): one per `--threads`, sharing the port.
#[cfg(feature = "mio")]
mod event_loop {
    use std::net::ToSocketAddrs;
    use std::sync::Arc;

    use wscore::driver::mio::{
        reuse_port_listeners, serve, ConnId, Context, Handler, Hub, LoopConfig,
    };
    use wscore::handshake::{AllowedOrigins, Decision, HttpResponse, Request, Upgrade};
    use wscore::{Error, Event, Sender};

    use super::{announce, page, policy, Options, Tls};

    struct Echo {
        origins: Option<Arc<AllowedOrigins>>,
    }

    impl Handler for Echo {
        fn http(&mut self, request: &Request, _: &[u8]) -> HttpResponse {
            page(request)
        }

        fn upgrade(&mut self, upgrade: &Upgrade) -> Decision {
            policy(self.origins.as_deref(), upgrade)
        }

        fn handshake_failed(&mut self, error: &Error) {
            // One line per refused connection: a 4xx, the handshake deadline, a TLS failure, plain
            // HTTP on the TLS port ("this port speaks TLS", answered 400).
            eprintln!("{error}");
        }

        fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
            // The loop hands out no event while the output is full, so an answer is never refused.
            let _ = super::echo(event, sender);
        }
    }

    pub(super) fn run(
        options: &Options,
        origins: Option<Arc<AllowedOrigins>>,
        tls: Tls,
    ) -> std::io::Result<()> {
        let addr = options
            .addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
        let listeners = reuse_port_listeners(addr, options.threads)?;
        let hub = Hub::new();
        let loop_config = options
            .max_connections
            .map_or_else(LoopConfig::default, |max| {
                LoopConfig::default().max_connections(max)
            })
            .hub(hub.clone());
        // SIGTERM or Ctrl-C: every connection's pending echoes go out, then 1001, then `serve` returns.
        // Waiting for signals before the address is announced: whoever reads it may signal at once.
        let stopper = hub.clone();
        super::signals::on_shutdown_signal(move || stopper.shutdown());
        announce(listeners[0].local_addr()?, tls.is_some());
        let make = || Echo {
            origins: origins.clone(),
        };
        match tls {
            #[cfg(feature = "tls")]
            Some(acceptor) => wscore::driver::mio::serve_tls(
                listeners,
                acceptor,
                options.config.clone(),
                loop_config,
                make,
            ),
            _ => serve(listeners, options.config.clone(), loop_config, make),
        }
    }
}

/// The tokio driver (the `tokio` feature): a task per connection on a multi-thread runtime with
/// `--threads` workers.
#[cfg(feature = "tokio")]
mod tokio_server {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use std::time::Duration;

    use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;
    use wscore::driver::tokio::{accept_with, Accepted};
    use wscore::handshake::{AllowedOrigins, HttpResponse};
    use wscore::{Config, Error};

    /// Turns true when the server shuts down.
    type Stopped = watch::Receiver<bool>;

    use super::{announce, page, policy, Options, Slot, Tls};

    pub(super) fn run(
        options: &Options,
        origins: Option<Arc<AllowedOrigins>>,
        tls: Tls,
    ) -> std::io::Result<()> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .enable_all()
            .build()?
            .block_on(serve(options, origins, tls))
    }

    async fn serve(
        options: &Options,
        origins: Option<Arc<AllowedOrigins>>,
        tls: Tls,
    ) -> std::io::Result<()> {
        let listener = TcpListener::bind(&options.addr).await?;
        #[cfg(feature = "tls")]
        let tls =
            tls.map(|acceptor| tokio_rustls::TlsAcceptor::from(Arc::clone(acceptor.config())));
        let max_connections = options.max_connections.unwrap_or(10_000);
        let live = Arc::new(AtomicUsize::new(0));
        let config = Arc::new(options.config.clone());
        // SIGTERM or Ctrl-C: stop accepting; every connection echoes what it already holds, then
        // closes with 1001; the server returns once they are closed (or the close timeout passed).
        let (stop, stopped) = watch::channel(false);
        super::signals::on_shutdown_signal(move || {
            let _ = stop.send(true);
        });
        // Announced once the signals are watched: whoever reads the address may signal at once.
        announce(listener.local_addr()?, tls.is_some());
        let mut stopping = stopped.clone();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopping.changed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors, or a connection reset before it was accepted: keep serving.
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if live.load(Ordering::Relaxed) >= max_connections {
                if tls.is_none() {
                    tokio::spawn(refuse(stream));
                }
                continue;
            }
            live.fetch_add(1, Ordering::Relaxed);
            let slot = Slot(Arc::clone(&live));
            let (config, origins, stopped) =
                (Arc::clone(&config), origins.clone(), stopped.clone());
            #[allow(clippy::clone_on_copy)]
            let tls = tls.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let served = serve_maybe_tls(stream, tls, &config, origins.as_deref(), stopped);
                if let Err(e) = served.await {
                    eprintln!("{peer}: {e}");
                }
            });
        }
        drop(listener);
        // Every connection's close handshake is bounded by the close timeout (and its handshake by
        // the handshake deadline); waiting past both would only wait for a bug.
        let patience = config.close_timeout + config.handshake_timeout + Duration::from_secs(1);
        let deadline = tokio::time::Instant::now() + patience;
        while live.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    #[cfg(feature = "tls")]
    type Acceptor = Option<tokio_rustls::TlsAcceptor>;
    #[cfg(not(feature = "tls"))]
    type Acceptor = Tls;

    async fn serve_maybe_tls(
        stream: TcpStream,
        tls: Acceptor,
        config: &Config,
        origins: Option<&AllowedOrigins>,
        stopped: Stopped,
    ) -> Result<(), Error> {
        stream.set_nodelay(true)?;
        match tls {
            #[cfg(feature = "tls")]
            Some(acceptor) => {
                // The TLS handshake counts against the opening handshake's deadline.
                let tls = tokio::time::timeout(config.handshake_timeout, acceptor.accept(stream))
                    .await
                    .map_err(|_| Error::HandshakeTimeout)??;
                // Boxed: a TLS stream is large, and plain connections' tasks need not carry room for it.
                Box::pin(echo(tls, config, origins, stopped)).await
            }
            _ => echo(stream, config, origins, stopped).await,
        }
    }

    async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
        stream: S,
        config: &Config,
        origins: Option<&AllowedOrigins>,
        mut stopped: Stopped,
    ) -> Result<(), Error> {
        match accept_with(stream, config, |upgrade| policy(origins, upgrade)).await? {
            Accepted::Http {
                request,
                mut stream,
                ..
            } => {
                stream.write_all(&page(&request).to_bytes()).await?;
                // TLS writes close_notify here, then the FIN.
                let _ = stream.shutdown().await;
                Ok(())
            }
            Accepted::WebSocket(mut ws) => {
                // The event borrows the connection's buffer; the sender beside it echoes without a
                // copy, and what it queues goes out with the next read. A shutdown goes away
                // (`go_away`): a ping first, the 1001 once its pong shows every message the peer sent
                // before was read and echoed, even those still on the wire when the signal came.
                let mut open = !*stopped.borrow();
                if !open {
                    ws.go_away();
                }
                loop {
                    let stop = tokio::select! {
                        biased;
                        event = ws.read_event() => match event? {
                            Some((event, sender)) => {
                                // Refused with `Closed` once the 1001 went first: what the peer sent
                                // after it saw the ping is not answered (§5.5.1).
                                match super::echo(event, sender) {
                                    Ok(()) | Err(Error::Closed) => {}
                                    Err(e) => return Err(e),
                                }
                                false
                            }
                            None => return Ok(()),
                        },
                        _ = stopped.changed(), if open => true,
                    };
                    if stop {
                        open = false;
                        ws.go_away();
                    }
                }
            }
        }
    }

    /// Answers a connection over the limit with 503 and closes it.
    async fn refuse(mut stream: TcpStream) {
        let response = HttpResponse::new(503)
            .header("Retry-After", "1")
            .header("Content-Type", "text/plain")
            .body("too many connections\n");
        let _ = stream.write_all(&response.to_bytes()).await;
        let _ = stream.shutdown().await;
    }
}
