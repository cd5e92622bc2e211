//! Our blocking server and client talking over real loopback sockets.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wscore::driver::blocking::{accept, accept_with, client, connect, connect_with, Accepted};
use wscore::handshake::{Acceptance, ClientOptions, Decision, HttpResponse, WsUrl};
use wscore::{CloseCode, Config, Error, Event, Message, MessageKind};

fn big_config() -> Config {
    Config::default()
        .max_frame_size(32 << 20)
        .max_message_size(32 << 20)
}

/// Starts a server that accepts one connection and runs `serve` on it; returns its URL.
fn serve_one<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        serve(stream)
    });
    (url, handle)
}

/// An echo server for one connection, returning what it saw.
fn echo_one() -> (String, JoinHandle<Vec<Message>>) {
    serve_one(|stream| {
        let Accepted::WebSocket(mut ws) = accept(stream, &big_config()).unwrap() else {
            panic!("not an upgrade")
        };
        let mut seen = Vec::new();
        while let Some((event, sender)) = ws.read_event().unwrap() {
            match event {
                Event::Text(text) => sender.send_text(text).unwrap(),
                Event::Binary(data) => sender.send_binary(data).unwrap(),
                _ => {}
            }
            seen.push(Message::from(event));
        }
        seen
    })
}

/// A raw TCP client that sends an upgrade request for `version`, followed by `then`, in one write.
fn raw_upgrade(url: &str, version: u8, then: &[u8]) -> TcpStream {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut bytes = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(then);
    stream.write_all(&bytes).unwrap();
    stream
}

#[test]
fn echoes_text_binary_and_a_16_mib_message_then_closes() {
    let (url, server) = echo_one();
    let mut ws = connect_with(&url, &ClientOptions::default(), &big_config()).unwrap();
    ws.send(Message::from("héllo")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("héllo".into())));
    ws.send(Message::Binary(vec![0, 1, 2])).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(vec![0, 1, 2])));
    let big: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(Message::Binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(big)));
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(ws.read().unwrap(), None);
    let seen = server.join().unwrap();
    assert_eq!(
        seen.last(),
        Some(&Message::Close(Some((CloseCode::NORMAL, "done".into()))))
    );
    assert_eq!(seen.len(), 4);
}

#[test]
fn reassembles_a_fragmented_message_with_a_ping_between() {
    let (url, server) = echo_one();
    let mut ws = connect(&url).unwrap();
    let sender = ws.sender();
    sender
        .send_fragment(MessageKind::Text, "frag".as_bytes(), false)
        .unwrap();
    sender.send_ping(b"between").unwrap();
    sender
        .send_fragment(MessageKind::Text, "mented".as_bytes(), true)
        .unwrap();
    ws.flush().unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Pong(b"between".to_vec())));
    assert_eq!(ws.read().unwrap(), Some(Message::Text("fragmented".into())));
    ws.close(CloseCode::NORMAL, "").unwrap();
    let seen = server.join().unwrap();
    assert_eq!(seen[0], Message::Ping(b"between".to_vec()));
    assert_eq!(seen[1], Message::Text("fragmented".into()));
}

#[test]
fn server_initiated_close_completes_on_both_sides() {
    let (url, server) = serve_one(|stream| {
        let Accepted::WebSocket(mut ws) = accept(stream, &Config::default()).unwrap() else {
            panic!()
        };
        ws.send(Message::from("bye soon")).unwrap();
        ws.close(CloseCode::GOING_AWAY, "shutdown").unwrap();
        ws.connection().state()
    });
    let mut ws = connect(&url).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("bye soon".into())));
    assert_eq!(
        ws.read().unwrap(),
        Some(Message::Close(Some((
            CloseCode::GOING_AWAY,
            "shutdown".into()
        ))))
    );
    assert_eq!(
        ws.read().unwrap(),
        None,
        "the server closed TCP after the handshake"
    );
    assert_eq!(server.join().unwrap(), wscore::State::Closed);
}

#[test]
fn a_plain_get_reaches_the_application() {
    let (url, server) = serve_one(|stream| match accept(stream, &Config::default()).unwrap() {
        Accepted::Http {
            request,
            mut stream,
            ..
        } => {
            stream
                .write_all(
                    &HttpResponse::new(200)
                        .header("Content-Type", "text/plain")
                        .body("page")
                        .to_bytes(),
                )
                .unwrap();
            (request.path, request.query)
        }
        Accepted::WebSocket(_) => panic!("not an upgrade"),
    });
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /index?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(response.ends_with("\r\n\r\npage"));
    assert_eq!(
        server.join().unwrap(),
        ("/index".to_owned(), Some("x=1".to_owned()))
    );
}

#[test]
fn a_wrong_version_is_answered_with_426() {
    let (url, server) = serve_one(|stream| {
        accept(stream, &Config::default())
            .map(|_| ())
            .unwrap_err()
            .http_status()
    });
    let mut stream = raw_upgrade(&url, 8, b"");
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{response}"
    );
    assert!(response.contains("Sec-WebSocket-Version: 13\r\n"));
    assert_eq!(server.join().unwrap(), Some(426));
}

#[test]
fn frames_sent_with_the_request_are_not_lost() {
    let (url, server) = echo_one();
    // A masked "Hi" text frame and a close, in the same write as the request.
    let frames = [0x81, 0x82, 0, 0, 0, 0, b'H', b'i', 0x88, 0x80, 0, 0, 0, 0];
    let mut stream = raw_upgrade(&url, 13, &frames);
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(
        response.ends_with(&[0x81, 0x02, b'H', b'i', 0x88, 0x00]),
        "{response:?}"
    );
    // The server shut its side down first and waits for ours (RFC 6455 §7.1.1).
    drop(stream);
    assert_eq!(server.join().unwrap()[0], Message::Text("Hi".into()));
}

#[test]
fn negotiates_a_subprotocol_over_a_caller_opened_stream() {
    let (url, server) = serve_one(|stream| {
        let accepted = accept_with(stream, &Config::default(), |upgrade| {
            match upgrade.protocols().find(|p| *p == "chat.v2") {
                Some(chosen) => Decision::Accept(Acceptance::new().protocol(chosen)),
                None => Decision::accept(),
            }
        });
        let Accepted::WebSocket(mut ws) = accepted.unwrap() else {
            panic!()
        };
        while ws.read().unwrap().is_some() {}
    });
    let url = WsUrl::parse(&url).unwrap();
    let stream = TcpStream::connect((url.host.as_str(), url.port)).unwrap();
    let options = ClientOptions::new().protocol("chat.v1").protocol("chat.v2");
    let mut ws = client(stream, &url, &options, &Config::default()).unwrap();
    assert_eq!(ws.response().unwrap().protocol.as_deref(), Some("chat.v2"));
    assert_eq!(ws.protocol(), Some("chat.v2"));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn a_protocol_error_sends_the_close_code_and_ends_the_connection() {
    let (url, server) = serve_one(|stream| {
        let Accepted::WebSocket(mut ws) = accept(stream, &Config::default()).unwrap() else {
            panic!()
        };
        let error = ws.read().unwrap_err();
        (error.close_code(), ws.read().unwrap())
    });
    // An unmasked frame from a client: RFC 6455 §5.1 says fail with 1002.
    let mut stream = raw_upgrade(&url, 13, &[0x81, 0x01, b'x']);
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a 101 response")
        + 4;
    let close = &response[head_end..];
    assert_eq!(close[0], 0x88, "a close frame follows the 101");
    assert_eq!(
        close.len(),
        2 + usize::from(close[1]),
        "and nothing after it"
    );
    assert_eq!(close[2..4], [0x03, 0xea]);
    drop(stream);
    assert_eq!(
        server.join().unwrap(),
        (Some(CloseCode::PROTOCOL_ERROR), None)
    );
}

#[test]
fn connect_reports_a_bad_accept_key() {
    let (url, server) = serve_one(|mut stream| {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).unwrap();
        stream
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            )
            .unwrap();
    });
    assert!(matches!(
        connect(&url),
        Err(Error::BadResponse {
            status: Some(101),
            ..
        })
    ));
    server.join().unwrap();
}

#[test]
fn a_split_client_sends_and_reads_10000_messages_at_once_with_server_pings_between() {
    const COUNT: usize = 10_000;
    const PING_EVERY: usize = 100;
    // The server echoes every text and pings after every hundredth, its payload the ping's number;
    // it returns the numbers of the pongs it received.
    let (url, server) = serve_one(|stream| {
        let Accepted::WebSocket(mut ws) = accept(stream, &Config::default()).unwrap() else {
            panic!("not an upgrade")
        };
        let (mut texts, mut pongs) = (0, Vec::new());
        while let Some((event, sender)) = ws.read_event().unwrap() {
            match event {
                Event::Text(text) => {
                    sender.send_text(text).unwrap();
                    texts += 1;
                    if texts % PING_EVERY == 0 {
                        let number = (texts / PING_EVERY) as u32;
                        sender.send_ping(&number.to_be_bytes()).unwrap();
                    }
                }
                Event::Pong(payload) => pongs.push(u32::from_be_bytes(payload.try_into().unwrap())),
                _ => {}
            }
        }
        pongs
    });
    let (mut reader, writer) = connect(&url).unwrap().split().unwrap();
    let closer = writer.clone();
    let sending = thread::spawn(move || {
        for i in 0..COUNT {
            writer.send(Message::Text(i.to_string())).unwrap();
        }
    });
    let mut expected = Vec::new();
    for i in 0..COUNT {
        expected.push(Message::Text(i.to_string()));
        if (i + 1) % PING_EVERY == 0 {
            let number = ((i + 1) / PING_EVERY) as u32;
            expected.push(Message::Ping(number.to_be_bytes().to_vec()));
        }
    }
    let mut received = Vec::new();
    while received.len() < expected.len() {
        received.push(
            reader
                .read()
                .unwrap()
                .expect("the connection is still open"),
        );
    }
    sending.join().unwrap();
    // Every echo in order, each ping right after the hundredth message it follows.
    assert!(received == expected, "the echoes and pings differ in order");
    // The pong to the last ping is queued before this close, so it reaches the server first.
    closer.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(
        reader.read().unwrap(),
        Some(Message::Close(Some((CloseCode::NORMAL, String::new()))))
    );
    assert_eq!(reader.read().unwrap(), None);
    let pongs = server.join().unwrap();
    // RFC 6455 §5.5.3 allows answering only the latest of pings that queue up; they arrive in order,
    // and the last ping is answered.
    assert!(pongs.windows(2).all(|w| w[0] < w[1]), "{pongs:?}");
    assert_eq!(
        pongs.last(),
        Some(&((COUNT / PING_EVERY) as u32)),
        "{pongs:?}"
    );
}

#[test]
fn closing_from_another_thread_wakes_a_reader_blocked_on_a_silent_connection() {
    let (url, server) = echo_one();
    // Long timers: only the close handshake can end the reader's wait this soon.
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(30)))
        .close_timeout(Duration::from_secs(30));
    let ws = connect_with(&url, &ClientOptions::default(), &config).unwrap();
    let (mut reader, writer) = ws.split().unwrap();
    let reading = thread::spawn(move || {
        let first = reader.read().unwrap();
        let second = reader.read().unwrap();
        (first, second, Instant::now())
    });
    // Not waiting for an outcome: giving the reader time to block in its read, the case under test.
    thread::sleep(Duration::from_millis(100));
    let closed = Instant::now();
    writer.close(CloseCode::GOING_AWAY, "bye").unwrap();
    let (first, second, ended) = reading.join().unwrap();
    assert_eq!(
        first,
        Some(Message::Close(Some((CloseCode::GOING_AWAY, String::new())))),
        "the server's echo of our close"
    );
    assert_eq!(second, None);
    assert!(
        ended.duration_since(closed) < Duration::from_secs(2),
        "{:?}",
        ended.duration_since(closed)
    );
    assert_eq!(
        server.join().unwrap(),
        [Message::Close(Some((CloseCode::GOING_AWAY, "bye".into())))]
    );
}

#[test]
fn send_reports_an_io_error_for_a_queued_message_on_the_next_call_and_never_for_one_it_refused() {
    // The server reads the upgrade, lets a message arrive without reading it, and drops the stream:
    // unread bytes turn the close into a reset.
    let (arrived_tx, arrived_rx) = std::sync::mpsc::channel::<()>();
    let (reset_tx, reset_rx) = std::sync::mpsc::channel::<()>();
    let (url, server) = serve_one(move |stream| {
        let Accepted::WebSocket(ws) = accept(stream, &Config::default()).unwrap() else {
            panic!("not an upgrade")
        };
        arrived_rx.recv().unwrap();
        let mut byte = [0u8];
        // Blocks until the client's message is in the receive queue, and leaves it there.
        assert_eq!(ws.get_ref().peek(&mut byte).unwrap(), 1);
        drop(ws);
        reset_tx.send(()).unwrap();
    });
    let mut ws = connect(&url).unwrap();
    ws.send(Message::from("never read")).unwrap();
    arrived_tx.send(()).unwrap();
    reset_rx.recv().unwrap();
    server.join().unwrap();

    let frame_len = 2 + 4 + 5; // header, mask key, "queue"
                               // Queued, and its write met the reset: `Ok`, and the message stays queued.
    let queued = ws.send(Message::from("queue"));
    assert!(queued.is_ok(), "{queued:?}");
    assert_eq!(ws.connection().pending_output().len(), frame_len);
    // The next call reports the error and queues nothing.
    match ws.send(Message::from("refused")) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        other => panic!("expected the reset, got {other:?}"),
    }
    assert_eq!(ws.connection().pending_output().len(), frame_len);
}

#[test]
fn a_split_client_streams_large_messages_to_an_echo_while_reading_the_echoes() {
    // Regression: the reader, winning the stream's lock, used to write a writer's whole message and
    // block there while the echo server was itself blocked writing to us: neither side read. Keepalive
    // is off, so a deadlock would hang rather than end in 1011; the channel's timeout catches it.
    let config = big_config().ping_interval(None);
    let server_config = config.clone();
    let (url, server) = serve_one(move |stream| {
        let Accepted::WebSocket(mut ws) = accept(stream, &server_config).unwrap() else {
            panic!("not an upgrade")
        };
        while let Some((event, sender)) = ws.read_event().unwrap() {
            if let Event::Binary(data) = event {
                sender.send_binary(data).unwrap();
            }
        }
    });
    let ws = connect_with(&url, &ClientOptions::default(), &config).unwrap();
    let (mut reader, writer) = ws.split().unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let count = 40;
    thread::spawn(move || {
        let sending = thread::spawn(move || {
            for i in 0..count {
                writer
                    .send(Message::Binary(vec![i as u8; 1 << 20]))
                    .unwrap();
            }
            writer
        });
        for i in 0..count {
            match reader.read().unwrap() {
                Some(Message::Binary(data)) => {
                    assert!(data.len() == 1 << 20 && data.iter().all(|&b| b == i as u8))
                }
                other => panic!("{other:?}"),
            }
        }
        let writer = sending.join().unwrap();
        writer.close(CloseCode::NORMAL, "").unwrap();
        while reader.read().unwrap().is_some() {}
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("both directions finished");
    server.join().unwrap();
}
