//! The tokio driver end to end: over TCP and TLS on loopback, split halves in two tasks, cancel safety
//! as a property, every timer under tokio's paused clock (no test sleeps), and a peer that never reads.
#![cfg(feature = "tokio")]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::TcpListener;
use wscore::driver::tokio::{accept, connect, connect_with, Accepted, WebSocketStream};
use wscore::handshake::ClientOptions;
use wscore::{CloseCode, Config, Connection, Error, Event, Message, Role, State};

/// A server on loopback that echoes text and binary with the borrowed-event API; returns its URL.
async fn echo_server(config: Config) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(echo(stream, config.clone()));
        }
    });
    format!("ws://{addr}/")
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S, config: Config) {
    let Ok(Accepted::WebSocket(mut ws)) = accept(stream, &config).await else {
        return;
    };
    while let Ok(Some((event, sender))) = ws.read_event().await {
        let _ = match event {
            Event::Text(text) => sender.send_text(text),
            Event::Binary(data) => sender.send_binary(data),
            _ => Ok(()),
        };
    }
}

#[tokio::test]
async fn echoes_text_and_binary_over_tcp_and_closes_cleanly() {
    let url = echo_server(Config::default()).await;
    let mut ws = connect(&url).await.unwrap();
    ws.send(Message::from("hello")).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Some(Message::from("hello")));
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    ws.send(Message::Binary(big.clone())).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Some(Message::Binary(big)));
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(ws.connection().state(), State::Closed);
    assert!(ws.connection().is_drained());
}

#[tokio::test]
async fn stream_and_sink_combine_with_the_futures_traits() {
    let url = echo_server(Config::default()).await;
    let mut ws = connect(&url).await.unwrap();
    for i in 0..100 {
        ws.feed(Message::from(format!("message {i}")))
            .await
            .unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..100 {
        let message = ws.next().await.unwrap().unwrap();
        assert_eq!(message, Message::from(format!("message {i}")));
    }
    SinkExt::close(&mut ws).await.unwrap();
    // The server's answer to our close, then the end.
    assert!(matches!(
        ws.next().await,
        Some(Ok(Message::Close(Some((CloseCode::NORMAL, _)))))
    ));
    assert!(ws.next().await.is_none());
}

#[tokio::test]
async fn echoes_over_tls_and_refuses_an_untrusted_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let acceptor = wscore::driver::tls::TlsAcceptor::from_pem(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(acceptor.config().clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    echo(tls, Config::default()).await;
                }
            });
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let options = ClientOptions::new().tls_config(wscore::driver::tls::client_config(roots));
    let url = format!("wss://localhost:{port}/");
    let mut ws = connect_with(&url, &options, &Config::default())
        .await
        .unwrap();
    ws.send(Message::from("over tls")).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Some(Message::from("over tls")));
    ws.close(CloseCode::NORMAL, "").await.unwrap();

    // Mozilla's roots do not include a self-signed certificate: rustls' reason comes back.
    match connect(&url).await {
        Err(Error::Tls(rustls::Error::InvalidCertificate(_))) => {}
        other => panic!("expected an invalid certificate, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_carry_ten_thousand_messages_each_way() {
    const N: usize = 10_000;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The server sends N numbered messages of its own while it counts the client's N.
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let Accepted::WebSocket(ws) = accept(stream, &Config::default()).await.unwrap() else {
            panic!("not an upgrade");
        };
        let (mut reader, writer) = ws.split();
        let sending = tokio::spawn(async move {
            for i in 0..N {
                writer.send(Message::from(format!("s{i}"))).await.unwrap();
            }
        });
        let mut received = 0;
        while let Some(message) = reader.read().await.unwrap() {
            if let Message::Text(text) = message {
                assert_eq!(text, format!("c{received}"));
                received += 1;
            }
        }
        sending.await.unwrap();
        received
    });
    let (mut reader, writer) = connect(&format!("ws://{addr}/")).await.unwrap().split();
    let closer = writer.clone();
    let sending = tokio::spawn(async move {
        for i in 0..N {
            writer.send(Message::from(format!("c{i}"))).await.unwrap();
        }
    });
    let mut received = 0;
    while received < N {
        match reader.read().await.unwrap() {
            Some(Message::Text(text)) => {
                assert_eq!(text, format!("s{received}"));
                received += 1;
            }
            Some(_) => {}
            None => panic!("closed after {received} messages"),
        }
    }
    sending.await.unwrap();
    // Closing from the writer wakes the reader, which sees the answer and the end.
    closer.close(CloseCode::NORMAL, "done").await.unwrap();
    let mut answer = None;
    while let Some(message) = reader.read().await.unwrap() {
        answer = Some(message);
    }
    assert!(matches!(
        answer,
        Some(Message::Close(Some((CloseCode::NORMAL, _))))
    ));
    assert_eq!(server.await.unwrap(), N);
}

/// A connected pair over an in-memory pipe of `capacity` bytes each way, no handshake.
fn pair(
    capacity: usize,
    server: Config,
    client: Config,
) -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
    let (a, b) = tokio::io::duplex(capacity);
    let server = WebSocketStream::from_parts(a, Connection::new(Role::Server, &server), &[]);
    let client = WebSocketStream::from_parts(b, Connection::new(Role::Client, &client), &[]);
    (server, client)
}

/// A server connection over a pipe whose other end is raw bytes, for peers that misbehave.
fn raw_peer(capacity: usize, config: Config) -> (WebSocketStream<DuplexStream>, DuplexStream) {
    let (a, b) = tokio::io::duplex(capacity);
    (
        WebSocketStream::from_parts(a, Connection::new(Role::Server, &config), &[]),
        b,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// `read()` dropped by a `select!` at random points, in the middle of frames too (the pipe carries
    /// a few bytes at a time), loses nothing: every message arrives once, in order, byte-exact.
    #[test]
    fn read_is_cancel_safe(
        sizes in prop::collection::vec(0usize..3000, 1..40),
        pipe in 7usize..200,
        cancel_every in 1u32..5,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        runtime.block_on(async move {
            let (mut server, mut client) = pair(pipe, Config::default(), Config::default());
            let expected: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
                .collect();
            let sent = expected.clone();
            let writer = tokio::spawn(async move {
                for payload in sent {
                    client.send(Message::Binary(payload)).await.unwrap();
                }
                client
            });
            let mut received = Vec::new();
            let mut polls = 0u32;
            while received.len() < expected.len() {
                polls += 1;
                tokio::select! {
                    message = server.read() => match message.unwrap() {
                        Some(Message::Binary(data)) => received.push(data),
                        other => panic!("unexpected {other:?}"),
                    },
                    // Cancels the read after it was polled, as often as the case says.
                    () = async { for _ in 0..=(polls % cancel_every) { tokio::task::yield_now().await } } => {}
                }
            }
            assert_eq!(received, expected);
            drop(writer.await.unwrap());
        });
    }
}

#[tokio::test(start_paused = true)]
async fn keepalive_pings_a_silent_peer_then_fails_with_1011() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(5)))
        .ping_timeout(Duration::from_secs(3))
        .close_timeout(Duration::from_secs(2));
    let (mut server, mut peer) = raw_peer(4096, config);
    let started = tokio::time::Instant::now();
    let reading = tokio::spawn(async move { server.read().await });
    let mut ping = [0u8; 2];
    peer.read_exact(&mut ping).await.unwrap();
    assert_eq!(ping, [0x89, 0x00]);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let mut head = [0u8; 4];
    peer.read_exact(&mut head).await.unwrap();
    assert_eq!(
        [head[0], head[2], head[3]],
        [0x88, 0x03, 0xf3],
        "close 1011"
    );
    let mut reason = vec![0u8; usize::from(head[1]) - 2];
    peer.read_exact(&mut reason).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(8));
    // The peer never ends the stream: the close timeout ends the wait, and the error comes back.
    let result = reading.await.unwrap();
    assert!(matches!(result, Err(Error::KeepaliveTimeout)), "{result:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_with_1001_and_an_answer_ends_it() {
    let config = Config::default()
        .ping_interval(None)
        .idle_timeout(Some(Duration::from_secs(30)));
    let (mut server, mut client) = pair(4096, config, Config::default().ping_interval(None));
    let started = tokio::time::Instant::now();
    let serving = tokio::spawn(async move {
        while let Some(message) = server.read().await.unwrap() {
            if let Message::Text(_) | Message::Binary(_) = message {
                server.send(message).await.unwrap();
            }
        }
    });
    client.send(Message::from("one")).await.unwrap();
    assert_eq!(client.read().await.unwrap(), Some(Message::from("one")));
    let close = client.read().await.unwrap();
    assert_eq!(
        close,
        Some(Message::Close(Some((
            CloseCode::GOING_AWAY,
            "idle timeout".to_owned()
        ))))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(client.read().await.unwrap(), None);
    serving.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_close_ends_at_the_close_timeout() {
    let config = Config::default()
        .ping_interval(None)
        .close_timeout(Duration::from_secs(4));
    let (mut server, _peer) = raw_peer(4096, config);
    let started = tokio::time::Instant::now();
    let result = server.close(CloseCode::NORMAL, "").await;
    assert!(matches!(result, Err(Error::CloseTimeout)), "{result:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_gets_408_at_the_handshake_deadline() {
    let (server_end, mut peer) = tokio::io::duplex(4096);
    let config = Config::default().handshake_timeout(Duration::from_secs(7));
    let started = tokio::time::Instant::now();
    let accepting = tokio::spawn(async move { accept(server_end, &config).await.map(|_| ()) });
    peer.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    peer.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(matches!(
        accepting.await.unwrap(),
        Err(Error::HandshakeTimeout)
    ));
    // The deadline, then the refusal's short drain of what the peer had sent.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(7) && elapsed < Duration::from_millis(7100),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_makes_the_writer_wait_with_bounded_memory() {
    let limit = 256 << 10;
    let config = Config::default()
        .max_write_buffer(limit)
        .ping_interval(Some(Duration::from_secs(10)))
        .ping_timeout(Duration::from_secs(10))
        .close_timeout(Duration::from_secs(5));
    let (server, _peer) = raw_peer(64 << 10, config);
    let (mut reader, writer) = server.split();
    let reading = tokio::spawn(async move { reader.read().await });
    let started = tokio::time::Instant::now();
    let chunk = vec![7u8; 16 << 10];
    let mut sent = 0usize;
    let failure = loop {
        match writer.send(Message::Binary(chunk.clone())).await {
            Ok(()) => sent += 1,
            Err(error) => break error,
        }
        assert!(writer.buffered_amount() <= limit + chunk.len() + 16);
    };
    // What was queued stayed bounded; the keepalive, then the close timeout, ended the wait.
    assert!(
        sent * chunk.len() < limit + (64 << 10) + 2 * chunk.len(),
        "sent {sent}"
    );
    assert!(
        matches!(failure, Error::KeepaliveTimeout | Error::Closed),
        "{failure:?}"
    );
    assert!(
        started.elapsed() <= Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    assert!(reading.await.unwrap().is_err());
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn permessage_deflate_is_negotiated_and_round_trips() {
    let config = Config::default().deflate(wscore::deflate::Deflate::default().threshold(0));
    let url = echo_server(config.clone()).await;
    let mut ws = connect_with(&url, &ClientOptions::new(), &config)
        .await
        .unwrap();
    assert!(ws.response().unwrap().extensions.deflate.is_some());
    let text = "compressible ".repeat(10_000);
    ws.send(Message::from(text.as_str())).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Some(Message::from(text.as_str())));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}
