//! Every timer over real loopback sockets: the opening handshake's deadline (408), keepalive (a ping,
//! then 1011), the idle close (1001), the close timeout, a peer that never reads, and a failure the peer
//! reads as a close code rather than a reset.
//!
//! Timers are tens to hundreds of milliseconds. A test that waits for a deadline measures from a moment
//! before the timer can have started, and asserts the outcome came in `[deadline, deadline + MARGIN]`:
//! never early, and late only by scheduling.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use std::sync::{Arc, Barrier};

use wscore::driver::blocking::{accept, connect_with, Accepted, Transport, TryClone, WebSocket};
use wscore::handshake::ClientOptions;
use wscore::{CloseCode, Config, Connection, Error, Message, Role};

mod common;
use common::{
    close_frame, masked_close, masked_frame, peak_heap, read_101, read_frame, read_until_eof,
    send_upgrade,
};

/// How late an outcome may come: scheduling on a loaded two-core machine, never the timer itself.
const MARGIN: Duration = Duration::from_secs(2);

const PING: [u8; 2] = [0x89, 0x00];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Asserts that `what` happened at `deadline` after the start: not before, and at most `MARGIN` after.
fn assert_at(elapsed: Duration, deadline: Duration, what: &str) {
    assert!(
        elapsed >= deadline && elapsed <= deadline + MARGIN,
        "{what} after {elapsed:?}; expected in [{deadline:?}, {:?}]",
        deadline + MARGIN
    );
}

fn listen() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Accepts one connection and upgrades it.
fn accept_ws(listener: &TcpListener, config: &Config) -> WebSocket<TcpStream> {
    let (stream, _) = listener.accept().unwrap();
    match accept(stream, config).unwrap() {
        Accepted::WebSocket(ws) => ws,
        Accepted::Http { request, .. } => panic!("not an upgrade: {request:?}"),
    }
}

/// A peer connects and sends `sent` (nothing, or part of a request); returns what the server answered
/// before ending the stream, how long after the connection that took, and the server's error.
fn answer_to_an_incomplete_handshake(sent: &[u8], timeout: Duration) -> (Vec<u8>, Duration, Error) {
    let listener = listen();
    let start = Instant::now();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    peer.write_all(sent).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let config = Config::default().handshake_timeout(timeout);
    let server = thread::spawn(move || accept(stream, &config).map(|_| ()).unwrap_err());
    let response = read_until_eof(&mut peer);
    let elapsed = start.elapsed();
    (response, elapsed, server.join().unwrap())
}

#[test]
fn a_connection_that_sends_nothing_is_answered_408_at_the_handshake_deadline() {
    let (response, elapsed, error) = answer_to_an_incomplete_handshake(b"", ms(300));
    assert!(response.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
    assert_eq!(
        response,
        Error::HandshakeTimeout.http_response().unwrap().to_bytes(),
        "the whole response, then the end of the stream"
    );
    assert_at(elapsed, ms(300), "408");
    assert!(matches!(error, Error::HandshakeTimeout), "{error:?}");
}

#[test]
fn a_half_sent_request_line_is_answered_408_at_the_handshake_deadline() {
    let (response, elapsed, error) = answer_to_an_incomplete_handshake(b"GET / HT", ms(300));
    assert_eq!(
        response,
        Error::HandshakeTimeout.http_response().unwrap().to_bytes()
    );
    assert!(response.starts_with(b"HTTP/1.1 408 "));
    assert_at(elapsed, ms(300), "408");
    assert!(matches!(error, Error::HandshakeTimeout), "{error:?}");
}

#[test]
fn a_client_whose_server_never_answers_fails_with_handshake_timeout_at_the_deadline() {
    // The kernel completes the TCP handshake into the backlog; nobody answers the upgrade.
    let listener = listen();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let config = Config::default().handshake_timeout(ms(300));
    let start = Instant::now();
    let result = connect_with(&url, &ClientOptions::default(), &config);
    let elapsed = start.elapsed();
    assert!(matches!(result, Err(Error::HandshakeTimeout)), "{result:?}");
    assert_at(elapsed, ms(300), "HandshakeTimeout");
    // The request went out whole, and the client dropped the stream when it gave up.
    let (mut stream, _) = listener.accept().unwrap();
    let mut request = String::new();
    stream.read_to_string(&mut request).unwrap();
    assert!(request.starts_with("GET / HTTP/1.1\r\n"), "{request}");
    assert!(request.ends_with("\r\n\r\n"), "{request}");
}

#[test]
fn a_peer_that_never_answers_pings_gets_a_ping_then_close_1011() {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let config = Config::default()
        .ping_interval(Some(ms(100)))
        .ping_timeout(ms(150))
        .close_timeout(ms(1000));
    let start = Instant::now();
    let peer = thread::spawn(move || {
        let mut peer = send_upgrade(addr);
        read_101(&mut peer);
        let ping = read_frame(&mut peer);
        let ping_at = start.elapsed();
        let close = read_frame(&mut peer);
        let close_at = start.elapsed();
        // The server shut its side down after the close frame and waits for ours.
        let rest = read_until_eof(&mut peer);
        (ping, ping_at, close, close_at, rest)
    });
    let mut ws = accept_ws(&listener, &config);
    let error = ws.read_event().map(|_| ()).unwrap_err();
    let failed_at = start.elapsed();
    let (ping, ping_at, close, close_at, rest) = peer.join().unwrap();

    assert_eq!(ping, PING);
    assert_at(ping_at, ms(100), "the keepalive ping");
    assert_eq!(close, close_frame(1011, "keepalive timeout"));
    assert_at(close_at, ms(100 + 150), "close 1011");
    assert_eq!(rest, b"", "nothing after the close frame");
    assert!(matches!(error, Error::KeepaliveTimeout), "{error:?}");
    assert_eq!(error.close_code(), Some(CloseCode::INTERNAL_ERROR));
    assert_at(failed_at, ms(100 + 150), "KeepaliveTimeout");
    assert!(
        ws.read_event().unwrap().is_none(),
        "then the connection is over"
    );
}

#[test]
fn a_peer_that_answers_every_ping_stays_connected_past_several_intervals() {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let config = Config::default()
        .ping_interval(Some(ms(100)))
        .ping_timeout(ms(100));
    let start = Instant::now();
    let peer = thread::spawn(move || {
        let mut peer = send_upgrade(addr);
        read_101(&mut peer);
        for _ in 0..5 {
            assert_eq!(read_frame(&mut peer), PING);
            peer.write_all(&masked_frame(0x8a, b"")).unwrap();
        }
        // Five intervals: far past one interval plus the ping timeout.
        let open_for = start.elapsed();
        peer.write_all(&masked_close(1000)).unwrap();
        let echo = read_frame(&mut peer);
        (open_for, echo, read_until_eof(&mut peer))
    });
    let mut ws = accept_ws(&listener, &config);
    let mut seen = Vec::new();
    while let Some(message) = ws.read().unwrap() {
        seen.push(message);
    }
    let (open_for, echo, rest) = peer.join().unwrap();
    assert!(open_for >= ms(500), "{open_for:?}");
    assert_eq!(echo, close_frame(1000, ""));
    assert_eq!(rest, b"");
    let mut expected = vec![Message::Pong(vec![]); 5];
    expected.push(Message::Close(Some((CloseCode::NORMAL, String::new()))));
    assert_eq!(seen, expected);
}

#[test]
fn an_idle_connection_is_closed_with_1001_even_while_pings_are_answered() {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let config = Config::default()
        .idle_timeout(Some(ms(250)))
        .ping_interval(Some(ms(100)))
        .ping_timeout(ms(100));
    let start = Instant::now();
    let peer = thread::spawn(move || {
        let mut peer = send_upgrade(addr);
        read_101(&mut peer);
        let mut pings = 0;
        let close = loop {
            let frame = read_frame(&mut peer);
            if frame != PING {
                break frame;
            }
            pings += 1;
            peer.write_all(&masked_frame(0x8a, b"")).unwrap();
        };
        let close_at = start.elapsed();
        peer.write_all(&masked_close(1001)).unwrap();
        (pings, close, close_at, read_until_eof(&mut peer))
    });
    let mut ws = accept_ws(&listener, &config);
    let mut seen = Vec::new();
    while let Some(message) = ws.read().unwrap() {
        seen.push(message);
    }
    let (pings, close, close_at, rest) = peer.join().unwrap();
    assert!(pings >= 1, "keepalive ran meanwhile");
    assert_eq!(close, close_frame(1001, "idle timeout"));
    assert_at(close_at, ms(250), "close 1001");
    assert_eq!(rest, b"");
    assert_eq!(
        seen.last(),
        Some(&Message::Close(Some((
            CloseCode::GOING_AWAY,
            String::new()
        )))),
        "the peer's answer completes the close"
    );
    assert!(seen[..seen.len() - 1]
        .iter()
        .all(|m| *m == Message::Pong(vec![])));
}

#[test]
fn the_idle_timeout_counts_from_the_servers_own_last_message_not_from_its_next_wake() {
    // Regression, found by the interop run (tests/interop: an echo server with --idle-timeout-ms 300
    // closed an idle `ws` client after 620 ms on the blocking driver, 300 ms on the event loop): the
    // echo was queued after the read had told the connection the time, so it was stamped only when
    // the read timed out at the old deadline, and the idle close came after twice the timeout.
    let idle = ms(1500);
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let config = Config::default().idle_timeout(Some(idle));
    let peer = thread::spawn(move || {
        let mut peer = send_upgrade(addr);
        read_101(&mut peer);
        let sent = Instant::now();
        peer.write_all(&masked_frame(0x81, b"last words")).unwrap();
        let echo = read_frame(&mut peer);
        let close = read_frame(&mut peer);
        let close_at = sent.elapsed();
        peer.write_all(&masked_close(1001)).unwrap();
        (echo, close, close_at, read_until_eof(&mut peer))
    });
    let mut ws = accept_ws(&listener, &config);
    while let Some((event, sender)) = ws.read_event().unwrap() {
        if let wscore::Event::Text(text) = event {
            sender.send_text(text).unwrap();
        }
    }
    let (echo, close, close_at, rest) = peer.join().unwrap();
    assert_eq!(echo, [&[0x81, 10][..], b"last words"].concat());
    assert_eq!(close, close_frame(1001, "idle timeout"));
    // The margin must stay under one more timeout: twice the timeout is the bug.
    assert!(
        close_at >= idle && close_at < idle + ms(1000),
        "close 1001 after {close_at:?}; expected in [{idle:?}, {:?})",
        idle + ms(1000)
    );
    assert_eq!(rest, b"");
}

#[test]
fn a_close_the_peer_never_answers_ends_with_close_timeout_and_drops_the_stream() {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let config = Config::default().close_timeout(ms(200));
    let start = Instant::now();
    let peer = thread::spawn(move || {
        let mut peer = send_upgrade(addr);
        read_101(&mut peer);
        let close = read_frame(&mut peer);
        let rest = read_until_eof(&mut peer);
        (close, rest, start.elapsed())
    });
    let mut ws = accept_ws(&listener, &config);
    let closing = Instant::now();
    let result = ws.close(CloseCode::NORMAL, "bye");
    let elapsed = closing.elapsed();
    drop(ws);
    let (close, rest, eof_at) = peer.join().unwrap();
    assert!(matches!(result, Err(Error::CloseTimeout)), "{result:?}");
    assert_at(elapsed, ms(200), "CloseTimeout");
    assert_eq!(close, close_frame(1000, "bye"));
    assert_eq!(rest, b"", "nothing after the close frame, then the end");
    assert_at(eof_at, ms(200), "the end of the stream");
}

/// A server config whose timers end a peer that never reads within 100 + 100 + 200 ms.
fn never_reading_config() -> Config {
    Config::default()
        .max_write_buffer(256 << 10)
        .ping_interval(Some(ms(100)))
        .ping_timeout(ms(100))
        .close_timeout(ms(200))
}

#[test]
fn a_peer_that_stops_reading_bounds_the_queue_and_the_timers_end_the_stuck_write() {
    let listener = listen();
    let config = never_reading_config();
    let bound = config.max_write_buffer;
    let start = Instant::now();
    // The peer sends its request and reads the 101, then never reads again.
    let mut peer = send_upgrade(listener.local_addr().unwrap());
    let mut ws = accept_ws(&listener, &config);
    read_101(&mut peer);

    let message = vec![0x5a; 64 << 10];
    let ((flushed, most, queued, refused), peak) = peak_heap(|| {
        let (mut most, mut queued, mut refused) = (0, 0, 0);
        let flushed = loop {
            match ws.sender().send_binary(&message) {
                Ok(()) => queued += 1,
                Err(Error::WriteBufferFull { buffered, max }) => {
                    refused += 1;
                    assert_eq!((buffered, max), (ws.sender().buffered_amount(), bound));
                    // Blocks until the socket takes the queue, or the timers give up on the peer.
                    if let Err(error) = ws.flush() {
                        break Err(error);
                    }
                }
                // The connection failed, but the socket took the rest of the queue before the close
                // timeout; the reason comes from the next read.
                Err(Error::Closed) => break Ok(()),
                Err(other) => panic!("{other:?}"),
            }
            most = most.max(ws.sender().buffered_amount());
        };
        (flushed, most, queued, refused)
    });
    let reason = match flushed {
        Err(error) => error,
        Ok(()) => ws.read_event().map(|_| ()).unwrap_err(),
    };
    let elapsed = start.elapsed();
    eprintln!(
        "{queued} messages queued ({} MiB taken by the sockets), {refused} refused, peak heap {peak} B",
        (queued * message.len()) >> 20
    );
    // The keepalive ping went unanswered (the peer reads nothing, so it sends nothing); the close frame
    // with 1011 sat behind the unread queue until the close timeout dropped the transport.
    assert!(matches!(reason, Error::KeepaliveTimeout), "{reason:?}");
    assert_at(elapsed, ms(100 + 100 + 200), "the stuck write's end");
    // The bound plus one message: a message is taken while the queue is below the bound.
    let frame = message.len() + 10;
    assert!(most <= bound + frame, "{most} bytes queued, bound {bound}");
    assert!(
        refused > 0,
        "the bound refused messages before the timers ran"
    );
    // The queue, the message, and the connection's own buffers; nothing grew with what was sent.
    assert!(peak < bound + 2 * message.len() + (64 << 10), "{peak}");
    assert!(matches!(
        ws.sender().send_binary(&message),
        Err(Error::Closed)
    ));
    assert!(ws.connection().is_drained());
}

#[test]
fn writers_on_six_threads_to_a_peer_that_stops_reading_are_refused_at_the_bound() {
    let config = never_reading_config();
    let bound = config.max_write_buffer;
    let start = Instant::now();
    // A stream that takes nothing, so whether the bound is reached does not depend on how much the
    // kernel's buffers happen to take.
    let ws = WebSocket::from_parts(
        Stuck::default(),
        Connection::new(Role::Server, &config),
        &[],
    );
    let (_reader, writer) = ws.split().unwrap();

    // Six messages of 64 KiB are more than the bound: while one writer is stuck, others are refused.
    let sending: Vec<_> = (0..6)
        .map(|_| {
            let writer = writer.clone();
            thread::spawn(move || {
                let message = Message::Binary(vec![0x5a; 64 << 10]);
                let (mut most, mut refused) = (0, 0);
                let error = loop {
                    match writer.send(message.clone()) {
                        Ok(()) => {}
                        // Not queued: retry once another writer has made room.
                        Err(Error::WriteBufferFull { .. }) => {
                            refused += 1;
                            thread::sleep(ms(1));
                        }
                        Err(error) => break error,
                    }
                    most = most.max(writer.buffered_amount());
                };
                (error, most, refused)
            })
        })
        .collect();
    let results: Vec<_> = sending.into_iter().map(|t| t.join().unwrap()).collect();
    // The keepalive fails the connection at 200 ms; the writers learn it when the stuck write ends: at
    // the close timeout, or earlier if the socket happens to take the rest of the queue.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= ms(100 + 100) && elapsed <= ms(100 + 100 + 200) + MARGIN,
        "the writers' errors after {elapsed:?}"
    );
    for (_, most, _) in &results {
        // The bound plus one message, plus the keepalive ping and the close frame, which are never
        // refused.
        assert!(
            *most <= bound + (64 << 10) + 10 + 64,
            "{most} bytes queued, bound {bound}"
        );
    }
    assert!(
        results.iter().any(|(_, _, refused)| *refused > 0),
        "writers were refused while another was stuck"
    );
    let errors: Vec<_> = results.iter().map(|(error, ..)| error).collect();
    assert!(
        errors
            .iter()
            .all(|e| matches!(e, Error::KeepaliveTimeout | Error::Closed)),
        "{errors:?}"
    );
}

/// A stream whose peer never reads and never sends: every read and write waits out its timeout and
/// takes nothing, as a socket with full buffers would, but without the kernel sometimes making room.
#[derive(Debug, Default)]
struct Stuck {
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl Stuck {
    fn wait(timeout: Option<Duration>) -> std::io::Error {
        thread::sleep(timeout.unwrap_or(Duration::from_secs(10)));
        std::io::ErrorKind::WouldBlock.into()
    }
}

impl Read for Stuck {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(Stuck::wait(self.read_timeout))
    }
}

impl Write for Stuck {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(Stuck::wait(self.write_timeout))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Transport for Stuck {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.read_timeout = timeout;
        Ok(())
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.write_timeout = timeout;
        Ok(())
    }
    fn shutdown_write(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TryClone for Stuck {
    fn try_clone(&self) -> std::io::Result<Stuck> {
        Ok(Stuck::default())
    }
}

#[test]
fn the_error_that_ended_a_stuck_write_reaches_a_writer_or_the_reader() {
    let config = never_reading_config().close_timeout(ms(50));
    let ws = WebSocket::from_parts(
        Stuck::default(),
        Connection::new(Role::Server, &config),
        &[],
    );
    let (mut reader, writer) = ws.split().unwrap();
    // One writer is stuck writing its message until the timers end the connection (ping at 100 ms,
    // failure at 200 ms, the close timeout at 250 ms); the other has queued its message and waits for
    // the first. Both sends return `Ok`: their messages were queued. Once both are back, each sends
    // again and gets the deferred error or `Closed`.
    let both_back = Arc::new(Barrier::new(2));
    let sending: Vec<_> = (0..2)
        .map(|_| {
            let (writer, both_back) = (writer.clone(), Arc::clone(&both_back));
            thread::spawn(move || {
                let message = Message::Binary(vec![0x5a; 64 << 10]);
                let first = writer.send(message.clone());
                both_back.wait();
                (first, writer.send(message))
            })
        })
        .collect();
    let results: Vec<_> = sending.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        results.iter().all(|(first, _)| first.is_ok()),
        "{results:?}"
    );
    let errors: Vec<_> = results.into_iter().map(|(_, second)| second).collect();
    let read = reader.read();
    assert!(
        errors.iter().any(|e| matches!(e, Err(Error::KeepaliveTimeout)))
            || matches!(read, Err(Error::KeepaliveTimeout)),
        "why the connection ended must reach a writer or the reader: writers {errors:?}, reader {read:?}"
    );
}

#[test]
fn a_protocol_error_reaches_the_peer_as_1002_even_with_unread_bytes_behind_it() {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let config = Config::default().close_timeout(ms(5000));
    let peer = thread::spawn(move || {
        let mut peer = send_upgrade(addr);
        // An unmasked frame from a client (RFC 6455 §5.1: fail with 1002), then 256 KiB the server will
        // not have read when it fails.
        let mut bytes = vec![0x82, 0x03, 1, 2, 3];
        bytes.extend(vec![0x5a; 256 << 10]);
        peer.write_all(&bytes).unwrap();
        read_101(&mut peer);
        let close = read_frame(&mut peer);
        let rest = read_until_eof(&mut peer);
        // Our side ends too; the server, reading until then, returns.
        let shut = Instant::now();
        peer.shutdown(Shutdown::Write).unwrap();
        (close, rest, shut)
    });
    let mut ws = accept_ws(&listener, &config);
    let error = ws.read_event().map(|_| ()).unwrap_err();
    let returned = Instant::now();
    let (close, rest, shut) = peer.join().unwrap();
    assert_eq!(close, close_frame(1002, "unmasked frame from a client"));
    assert_eq!(rest, b"", "the end of the stream, not a reset");
    assert_eq!(error.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    assert!(matches!(error, Error::Protocol(_)), "{error:?}");
    assert!(
        returned.saturating_duration_since(shut) < MARGIN,
        "the server returned once the peer ended the stream, not at the close timeout"
    );
}

#[test]
fn a_slow_reader_that_keeps_reading_and_sending_is_not_failed_by_keepalive_during_a_long_write() {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let config = Config::default()
        .ping_interval(Some(ms(100)))
        .ping_timeout(ms(100))
        .close_timeout(ms(500));
    // 32 MiB: more than the loopback socket buffers take at once, so the write lasts as long as the
    // peer takes to read it.
    let size = 32 << 20;
    let frame_len = size + 10;
    let peer = thread::spawn(move || {
        let mut peer = send_upgrade(addr);
        read_101(&mut peer);
        // Reads the message 256 KiB every 5 ms (about 50 MB/s, well under a second in all) and shows it
        // is alive with a pong after each read.
        let mut chunk = vec![0u8; 256 << 10];
        let mut got = 0;
        while got < frame_len {
            let want = chunk.len().min(frame_len - got);
            peer.read_exact(&mut chunk[..want]).unwrap();
            got += want;
            peer.write_all(&masked_frame(0x8a, b"")).unwrap();
            thread::sleep(ms(5));
        }
        peer.write_all(&masked_close(1000)).unwrap();
        // What follows the message: the echo of our close, or whatever the server sent instead.
        let mut after = vec![read_frame(&mut peer)];
        while after.last().unwrap()[0] != 0x88 {
            after.push(read_frame(&mut peer));
        }
        after
    });
    let mut ws = accept_ws(&listener, &config);
    let sent = ws.send(Message::Binary(vec![0x5a; size]));
    let mut ending = Vec::new();
    let result = loop {
        match ws.read() {
            Ok(Some(message)) => ending.push(message),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    let after = peer.join().unwrap();
    assert!(sent.is_ok(), "{sent:?}");
    // A keepalive ping may go out before the first write returns with proof of progress; it is a
    // legitimate frame. What must not come is a failure.
    let (pings, rest): (Vec<_>, Vec<_>) = after.into_iter().partition(|f| f == &[0x89, 0x00]);
    assert!(
        pings.len() <= 1,
        "at most the one ping sent before progress was seen"
    );
    assert_eq!(
        rest,
        [close_frame(1000, "")],
        "the message, then the echo of the peer's close"
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        ending.last(),
        Some(&Message::Close(Some((CloseCode::NORMAL, String::new()))))
    );
}

#[test]
fn a_close_from_another_thread_ends_a_reader_blocked_on_a_silent_peer_with_no_timer_running() {
    // Regression: the reader's read was blocked without a timeout (keepalive off), and a close queued
    // by a writer cannot wake it; its wait is now bounded by the close timeout.
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let config = Config::default().ping_interval(None).close_timeout(ms(200));
    let peer = thread::spawn(move || {
        let mut peer = send_upgrade(addr);
        read_101(&mut peer);
        // Reads our close, never answers, and holds the stream open until we drop ours.
        let close = read_frame(&mut peer);
        (close, read_until_eof(&mut peer))
    });
    let (mut reader, writer) = accept_ws(&listener, &config).split().unwrap();
    let reading = thread::spawn(move || {
        let result = reader.read();
        (result, Instant::now())
    });
    thread::sleep(ms(50)); // let the reader block first
    let closed = Instant::now();
    writer.close(CloseCode::GOING_AWAY, "bye").unwrap();
    let (result, returned) = reading.join().unwrap();
    assert!(matches!(result, Err(Error::CloseTimeout)), "{result:?}");
    // At most one close timeout to wake, one more to expire.
    let elapsed = returned - closed;
    assert!(
        elapsed >= ms(200) && elapsed <= ms(400) + MARGIN,
        "{elapsed:?}"
    );
    drop(writer);
    let (close, rest) = peer.join().unwrap();
    assert_eq!(close, close_frame(1001, "bye"));
    assert_eq!(rest, b"");
}

#[test]
fn timeouts_too_large_for_instant_mean_never_and_do_not_panic() {
    let listener = listen();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let never = Config::default()
        .handshake_timeout(Duration::MAX)
        .ping_interval(Some(Duration::MAX))
        .ping_timeout(Duration::MAX)
        .idle_timeout(Some(Duration::MAX))
        .close_timeout(Duration::MAX);
    let server_config = never.clone();
    let server = thread::spawn(move || {
        let mut ws = accept_ws(&listener, &server_config);
        while let Some(message) = ws.read().unwrap() {
            if let Message::Text(_) = message {
                ws.send(message).unwrap();
            }
        }
    });
    let mut ws = connect_with(&url, &ClientOptions::default(), &never).unwrap();
    ws.send(Message::from("still here")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::from("still here")));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}
