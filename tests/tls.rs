#![cfg(feature = "tls")]
//! wss:// and https:// over loopback, with a self-signed certificate made for each test by rcgen: our
//! client and server on both drivers, crosswise; certificates that must be refused; peers that stall
//! in the TLS handshake or speak plain HTTP to the TLS port; full duplex over one TLS session. Every
//! wait is bounded, so a broken driver fails a test instead of hanging it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wscore::driver::blocking::{accept, connect_with, Accepted, MaybeTls, Transport, WebSocket};
use wscore::driver::tls::{client_config, TlsAcceptor};
use wscore::handshake::ClientOptions;
use wscore::{CloseCode, Config, Error, Event, Message};

/// How long a test waits for anything before failing instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

/// A server identity for `names` and a client configuration that trusts it (and nothing else).
fn identity(names: &[&str]) -> (TlsAcceptor, Arc<rustls::ClientConfig>) {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let acceptor = TlsAcceptor::from_pem(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    (acceptor, client_config(roots))
}

/// The usual identity: valid for `localhost` and `127.0.0.1`.
fn local_identity() -> (TlsAcceptor, Arc<rustls::ClientConfig>) {
    identity(&["localhost", "127.0.0.1"])
}

fn big_config() -> Config {
    Config::default()
        .max_frame_size(32 << 20)
        .max_message_size(32 << 20)
}

fn trusting(config: &Arc<rustls::ClientConfig>) -> ClientOptions {
    ClientOptions::new().tls_config(Arc::clone(config))
}

fn sixteen_mib() -> Vec<u8> {
    (0..16u32 << 20).map(|i| (i % 251) as u8).collect()
}

// ---- A blocking TLS server. ----

/// Serves `count` connections on the blocking driver over TLS, echoing every message; returns each
/// connection's outcome.
fn blocking_echo_server(
    acceptor: TlsAcceptor,
    config: Config,
    count: usize,
) -> (SocketAddr, JoinHandle<Vec<Result<usize, Error>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        (0..count)
            .map(|_| {
                let (socket, _) = listener.accept().unwrap();
                echo(acceptor.accept(socket)?, &config)
            })
            .collect()
    });
    (addr, server)
}

/// Echoes until the connection ends; how many messages it echoed.
fn echo<S: Transport>(stream: S, config: &Config) -> Result<usize, Error> {
    let Accepted::WebSocket(mut ws) = accept(stream, config)? else {
        return Err(Error::Misuse("not an upgrade"));
    };
    let mut echoed = 0;
    while let Some((event, sender)) = ws.read_event()? {
        match event {
            Event::Text(text) => sender.send_text(text)?,
            Event::Binary(data) => sender.send_binary(data)?,
            _ => continue,
        }
        echoed += 1;
    }
    Ok(echoed)
}

fn negotiated_alpn(ws: &WebSocket<MaybeTls>) -> Option<Vec<u8>> {
    match ws.get_ref() {
        MaybeTls::Tls(tls) => {
            tls.with_session(|session| session.alpn_protocol().map(<[u8]>::to_vec))
        }
        _ => panic!("not a TLS stream"),
    }
}

#[test]
fn blocking_client_and_server_echo_over_wss_with_alpn_and_a_16_mib_message_byte_exact() {
    let (acceptor, trust) = local_identity();
    let (addr, server) = blocking_echo_server(acceptor, big_config(), 1);
    let url = format!("wss://localhost:{}/chat", addr.port());
    let mut ws = connect_with(&url, &trusting(&trust), &big_config()).unwrap();
    assert_eq!(negotiated_alpn(&ws).as_deref(), Some(&b"http/1.1"[..]));
    ws.send(Message::from("héllo over TLS")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::from("héllo over TLS")));
    let big = sixteen_mib();
    ws.send(Message::Binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(big)));
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(ws.read().unwrap(), None);
    assert_eq!(server.join().unwrap().pop().unwrap().unwrap(), 2);
}

#[test]
fn a_certificate_for_another_name_is_refused_with_the_reason() {
    let (acceptor, trust) = identity(&["other.test"]);
    let (addr, server) = blocking_echo_server(acceptor, Config::default(), 1);
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let error = connect_with(&url, &trusting(&trust), &Config::default()).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("TLS"), "{error}");
    // The server hears why: our client's alert.
    let served = server.join().unwrap().pop().unwrap();
    assert!(
        matches!(
            served,
            Err(Error::Tls(rustls::Error::AlertReceived(
                rustls::AlertDescription::BadCertificate
            )))
        ),
        "{served:?}"
    );
}

#[test]
fn a_certificate_no_trusted_root_signed_is_refused_by_default() {
    let (acceptor, _) = local_identity();
    let (addr, server) = blocking_echo_server(acceptor, Config::default(), 1);
    // No tls_config: Mozilla's roots, which did not sign a certificate made a moment ago.
    let url = format!("wss://localhost:{}/", addr.port());
    let error = connect_with(&url, &ClientOptions::new(), &Config::default()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{error:?}"
    );
    assert!(server.join().unwrap().pop().unwrap().is_err());
}

#[test]
fn a_split_tls_connection_reads_on_one_thread_while_another_writes() {
    let (acceptor, trust) = local_identity();
    let (addr, server) = blocking_echo_server(acceptor, Config::default(), 1);
    let url = format!("wss://localhost:{}/", addr.port());
    let ws = connect_with(&url, &trusting(&trust), &Config::default()).unwrap();
    let (mut reader, writer) = ws.split().unwrap();
    let closer = writer.clone();
    let sending = thread::spawn(move || -> Result<(), Error> {
        for i in 0..2000 {
            // Sizes that cross TLS records (16 KiB) now and then.
            let text = format!("{i:05}").repeat(1 + i % 4000);
            writer.send(Message::from(text))?;
        }
        closer.close(CloseCode::NORMAL, "done")
    });
    let mut received = 0;
    while let Some(message) = reader.read().unwrap() {
        match message {
            Message::Text(text) => {
                assert_eq!(text, format!("{received:05}").repeat(1 + received % 4000));
                received += 1;
            }
            Message::Close(frame) => {
                assert_eq!(frame.map(|f| f.0), Some(CloseCode::NORMAL))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    sending.join().unwrap().unwrap();
    assert_eq!(received, 2000);
    assert_eq!(server.join().unwrap().pop().unwrap().unwrap(), 2000);
}

#[test]
fn a_client_whose_server_never_answers_tls_times_out_with_the_handshake_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("wss://localhost:{}/", listener.local_addr().unwrap().port());
    let silent = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        // Reads the ClientHello and says nothing, until the client leaves.
        let mut sink = Vec::new();
        let _ = socket.read_to_end(&mut sink);
    });
    let config = Config::default().handshake_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = connect_with(&url, &ClientOptions::new(), &config).unwrap_err();
    assert!(matches!(error, Error::HandshakeTimeout), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    silent.join().unwrap();
}

// ---- Raw peers at a TLS port. ----

/// The start of a real ClientHello (a handshake record header and the first bytes of its body): a
/// peer that sends this much and stops is stalled in the TLS handshake.
const PARTIAL_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];

/// Connects, sends `bytes`, then reads until the server ends the stream; returns what came and how
/// long the server took to end it.
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let started = Instant::now();
    socket.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match socket.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server did not end the stream: {e} after {answer:?}"),
        }
    }
    (answer, started.elapsed())
}

fn assert_dropped_at_deadline(addr: SocketAddr, bytes: &[u8], deadline: Duration) {
    let (answer, took) = raw_exchange(addr, bytes);
    assert!(
        took >= deadline,
        "dropped after {took:?}, before the deadline"
    );
    assert!(
        took < deadline + Duration::from_secs(3),
        "dropped after {took:?}"
    );
    // Nothing it could read as HTTP: it never finished a TLS handshake.
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
}

fn assert_plain_http_answered_400(addr: SocketAddr) {
    let (answer, took) = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("this port speaks TLS"), "{answer}");
    // Promptly: the handshake deadline is far away.
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

#[test]
fn blocking_server_drops_a_tls_peer_stalled_in_the_handshake_at_the_deadline() {
    let deadline = Duration::from_millis(400);
    let (acceptor, _) = local_identity();
    let config = Config::default().handshake_timeout(deadline);
    let (addr, server) = blocking_echo_server(acceptor, config, 2);
    assert_dropped_at_deadline(addr, b"", deadline);
    assert_dropped_at_deadline(addr, PARTIAL_CLIENT_HELLO, deadline);
    for served in server.join().unwrap() {
        assert!(matches!(served, Err(Error::HandshakeTimeout)), "{served:?}");
    }
}

#[test]
fn blocking_server_answers_plain_http_on_its_tls_port_with_400_at_once() {
    let (acceptor, _) = local_identity();
    let config = Config::default().handshake_timeout(Duration::from_secs(60));
    let (addr, server) = blocking_echo_server(acceptor, config, 1);
    assert_plain_http_answered_400(addr);
    let served = server.join().unwrap().pop().unwrap();
    assert!(
        matches!(served, Err(Error::BadRequest { status: 400, reason }) if reason.contains("TLS")),
        "{served:?}"
    );
}

// ---- The echo server example over TLS. ----

/// A self-signed identity for localhost written to PEM files, removed when dropped.
struct PemFiles {
    dir: std::path::PathBuf,
    trust: Arc<rustls::ClientConfig>,
}

impl PemFiles {
    fn new(name: &str) -> PemFiles {
        let dir = std::env::temp_dir().join(format!("wscore-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).unwrap();
        std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
        let trust = client_config(wscore::driver::tls::load_roots(dir.join("cert.pem")).unwrap());
        PemFiles { dir, trust }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// GET / over TLS with a plain rustls client: the page.
fn https_get(addr: SocketAddr, trust: &Arc<rustls::ClientConfig>, path: &str) -> String {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let session = rustls::ClientConnection::new(Arc::clone(trust), name).unwrap();
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut tls = rustls::StreamOwned::new(session, socket);
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    tls.write_all(request.as_bytes()).unwrap();
    let mut page = Vec::new();
    let _ = tls.read_to_end(&mut page);
    String::from_utf8_lossy(&page).into_owned()
}

fn echo_server_example_serves_https_and_wss_on_one_port(driver: &str) {
    let pem = PemFiles::new(driver);
    let server = common::EchoServer::start(&[
        "--driver",
        driver,
        "--tls-cert",
        &pem.path("cert.pem"),
        "--tls-key",
        &pem.path("key.pem"),
    ]);
    let page = https_get(server.addr, &pem.trust, "/");
    assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
    // The page's script picks wss:// when it was loaded over https://.
    assert!(
        page.contains("location.protocol === 'https:' ? 'wss://'"),
        "{page}"
    );
    let url = format!("wss://localhost:{}/", server.addr.port());
    // Trusting the server's own certificate file, as `client --ca` does.
    let options = ClientOptions::new()
        .trust_pem_file(pem.path("cert.pem"))
        .unwrap();
    let mut ws = connect_with(&url, &options, &Config::default()).unwrap();
    ws.send(Message::from("echo?")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::from("echo?")));
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert_plain_http_answered_400(server.addr);
}

#[test]
#[cfg(feature = "mio")]
fn echo_server_example_on_the_event_loop_serves_https_and_wss_on_one_port() {
    echo_server_example_serves_https_and_wss_on_one_port("mio");
}

#[test]
fn echo_server_example_on_the_blocking_driver_serves_https_and_wss_on_one_port() {
    echo_server_example_serves_https_and_wss_on_one_port("blocking");
}

// ---- The event loop. ----

#[cfg(feature = "mio")]
mod event_loop {
    use std::sync::mpsc::{self, Receiver, Sender as Channel};

    use wscore::driver::mio::{ConnId, Context, EventLoop, Handle, Handler, LoopConfig};
    use wscore::handshake::{HttpResponse, Request};
    use wscore::Sender;

    use super::*;

    /// Echoes, answers `GET /` with a page, and reports refused handshakes.
    struct Echo {
        refused: Channel<String>,
    }

    impl Handler for Echo {
        fn http(&mut self, request: &Request, _: &[u8]) -> HttpResponse {
            HttpResponse::new(200).body(format!("page at {}", request.path))
        }

        fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
            let _ = match event {
                Event::Text(text) => sender.send_text(text),
                Event::Binary(data) => sender.send_binary(data),
                _ => Ok(()),
            };
        }

        fn handshake_failed(&mut self, error: &Error) {
            let _ = self.refused.send(error.to_string());
        }
    }

    /// A loop on its own thread, shut down when dropped.
    struct Running {
        addr: SocketAddr,
        handle: Handle,
        thread: Option<JoinHandle<()>>,
        refused: Receiver<String>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.handle.shutdown();
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    fn mio_echo_server(acceptor: TlsAcceptor, config: Config) -> Running {
        let (ready_tx, ready) = mpsc::channel();
        let (refused_tx, refused) = mpsc::channel();
        let thread = thread::spawn(move || {
            let echo = Echo {
                refused: refused_tx,
            };
            let mut event_loop = EventLoop::new(echo, config, LoopConfig::default()).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            event_loop.listen_tls(listener, acceptor).unwrap();
            ready_tx
                .send((event_loop.local_addr().unwrap(), event_loop.handle()))
                .unwrap();
            event_loop.run().unwrap();
        });
        let (addr, handle) = ready.recv_timeout(PATIENCE).unwrap();
        Running {
            addr,
            handle,
            thread: Some(thread),
            refused,
        }
    }

    /// A client on its own loop: sends `messages` one at a time, each after the echo of the one
    /// before, closes after the last echo, and reports the echoes or the failure.
    struct Client {
        messages: Vec<Message>,
        echoes: Vec<Message>,
        outcome: Channel<Result<Vec<Message>, String>>,
    }

    impl Handler for Client {
        fn open(&mut self, _: &mut Context, _: ConnId, sender: &mut Sender) {
            sender.send(&self.messages[0]).unwrap();
        }

        fn event(
            &mut self,
            context: &mut Context,
            id: ConnId,
            event: Event<'_>,
            sender: &mut Sender,
        ) {
            if let Event::Text(_) | Event::Binary(_) = event {
                self.echoes.push(Message::from(event));
                match self.messages.get(self.echoes.len()) {
                    Some(next) => sender.send(next).unwrap(),
                    None => context.close(id, CloseCode::NORMAL, "done"),
                }
            }
        }

        fn close(&mut self, context: &mut Context, _: ConnId, error: Option<&Error>) {
            let outcome = match error {
                None => Ok(std::mem::take(&mut self.echoes)),
                Some(error) => Err(error.to_string()),
            };
            let _ = self.outcome.send(outcome);
            context.shutdown();
        }

        fn connect_failed(&mut self, context: &mut Context, _: ConnId, error: &Error) {
            let _ = self.outcome.send(Err(format!("{error:?}")));
            context.shutdown();
        }
    }

    fn mio_client(
        url: &str,
        options: ClientOptions,
        messages: Vec<Message>,
    ) -> Result<Vec<Message>, String> {
        let (outcome, result) = mpsc::channel();
        let url = url.to_owned();
        let thread = thread::spawn(move || {
            let client = Client {
                messages,
                echoes: Vec::new(),
                outcome,
            };
            let mut event_loop =
                EventLoop::new(client, big_config(), LoopConfig::default()).unwrap();
            event_loop.connect(&url, &options).unwrap();
            event_loop.run().unwrap();
        });
        let result = result.recv_timeout(PATIENCE).expect("the client loop hung");
        thread.join().unwrap();
        result
    }

    #[test]
    fn blocking_client_and_mio_server_echo_over_wss_with_a_16_mib_message_byte_exact() {
        let (acceptor, trust) = local_identity();
        let server = mio_echo_server(acceptor, big_config());
        let url = format!("wss://localhost:{}/", server.addr.port());
        let mut ws = connect_with(&url, &trusting(&trust), &big_config()).unwrap();
        assert_eq!(negotiated_alpn(&ws).as_deref(), Some(&b"http/1.1"[..]));
        let big = sixteen_mib();
        for _ in 0..2 {
            ws.send(Message::Binary(big.clone())).unwrap();
            assert_eq!(ws.read().unwrap(), Some(Message::Binary(big.clone())));
        }
        ws.send(Message::from("small")).unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::from("small")));
        ws.close(CloseCode::NORMAL, "").unwrap();
        assert_eq!(ws.read().unwrap(), None);
    }

    #[test]
    fn mio_client_and_mio_server_echo_over_wss() {
        let (acceptor, trust) = local_identity();
        let server = mio_echo_server(acceptor, big_config());
        let url = format!("wss://127.0.0.1:{}/", server.addr.port());
        let messages = vec![
            Message::from("one"),
            Message::Binary(sixteen_mib()),
            Message::from("three"),
        ];
        let echoes = mio_client(&url, trusting(&trust), messages.clone()).unwrap();
        assert_eq!(echoes, messages);
    }

    #[test]
    fn mio_client_and_blocking_server_echo_over_wss() {
        let (acceptor, trust) = local_identity();
        let (addr, server) = blocking_echo_server(acceptor, big_config(), 1);
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let messages = vec![Message::from("hello"), Message::Binary(vec![7; 100_000])];
        let echoes = mio_client(&url, trusting(&trust), messages.clone()).unwrap();
        assert_eq!(echoes, messages);
        assert_eq!(server.join().unwrap().pop().unwrap().unwrap(), 2);
    }

    #[test]
    fn mio_client_refuses_a_certificate_for_another_name_and_an_untrusted_one() {
        let (acceptor, trust) = identity(&["other.test"]);
        let server = mio_echo_server(acceptor, Config::default());
        let url = format!("wss://127.0.0.1:{}/", server.addr.port());
        let error = mio_client(&url, trusting(&trust), vec![Message::from("x")]).unwrap_err();
        assert!(
            error.contains("Tls(InvalidCertificate(NotValidForName"),
            "{error}"
        );
        let error = mio_client(&url, ClientOptions::new(), vec![Message::from("x")]).unwrap_err();
        assert!(
            error.contains("Tls(InvalidCertificate(UnknownIssuer))"),
            "{error}"
        );
        // The server's handler hears our client's alerts.
        let refused = server.refused.recv_timeout(PATIENCE).unwrap();
        assert!(refused.contains("BadCertificate"), "{refused}");
    }

    #[test]
    fn mio_server_drops_a_tls_peer_stalled_in_the_handshake_at_the_deadline() {
        let deadline = Duration::from_millis(400);
        let (acceptor, _) = local_identity();
        let config = Config::default().handshake_timeout(deadline);
        let server = mio_echo_server(acceptor, config);
        assert_dropped_at_deadline(server.addr, b"", deadline);
        assert_dropped_at_deadline(server.addr, PARTIAL_CLIENT_HELLO, deadline);
        let refused = server.refused.recv_timeout(PATIENCE).unwrap();
        assert!(refused.contains("handshake took too long"), "{refused}");
    }

    #[test]
    fn mio_server_answers_plain_http_on_its_tls_port_with_400_at_once() {
        let (acceptor, _) = local_identity();
        let config = Config::default().handshake_timeout(Duration::from_secs(60));
        let server = mio_echo_server(acceptor, config);
        assert_plain_http_answered_400(server.addr);
        let refused = server.refused.recv_timeout(PATIENCE).unwrap();
        assert!(refused.contains("this port speaks TLS"), "{refused}");
    }

    #[test]
    fn mio_server_serves_https_requests_on_the_same_port() {
        let (acceptor, trust) = local_identity();
        let server = mio_echo_server(acceptor, Config::default());
        let page = https_get(server.addr, &trust, "/index");
        assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
        assert!(page.ends_with("page at /index"), "{page}");
    }
}
