#![cfg(feature = "mio")]
//! The mio event-loop driver over real loopback sockets: each loop runs on a thread of its own and is
//! stopped with `Handle::shutdown`; its peers are the blocking client (a separately tested driver) or
//! raw TCP clients that check bytes exactly. Every wait is bounded, so a broken loop fails a test
//! instead of hanging it.

mod common;

use std::collections::HashSet;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use wscore::driver::blocking::{self, MaybeTls, Transport, WebSocket};
use wscore::driver::mio::{
    reuse_port_listeners, serve, ConnId, Context, EventLoop, Handle, Handler, LoopConfig,
};
use wscore::handshake::{ClientOptions, Decision, HttpResponse, Request, Upgrade, WsUrl};
use wscore::{CloseCode, Config, Error, Event, Message, Sender};

use common::{
    close_frame, masked_close, read_101, read_frame, read_until_eof, small_buffered_stream,
};

/// How long a test waits for anything (a record, a loop to stop) before failing instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

// ---- A loop on its own thread. ----

/// An event loop running on a background thread. Dropping it (also when a test fails) asks the loop
/// to shut down, so that its thread ends by itself.
struct Running {
    addr: Option<SocketAddr>,
    handle: Handle,
    done: Receiver<io::Result<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a loop on a new thread: the handler is made there (it need not be `Send`), `setup` runs
/// on the loop before `run` (to listen, to connect), and the address comes back through a channel.
fn start<H, M, S>(config: Config, make: M, setup: S) -> Running
where
    H: Handler + 'static,
    M: FnOnce() -> H + Send + 'static,
    S: FnOnce(&mut EventLoop<H>) + Send + 'static,
{
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let thread = thread::spawn(move || {
        let mut event_loop = EventLoop::new(make(), config, LoopConfig::default()).unwrap();
        setup(&mut event_loop);
        ready_tx
            .send((event_loop.local_addr(), event_loop.handle()))
            .unwrap();
        let _ = done_tx.send(event_loop.run());
    });
    let (addr, handle) = ready_rx
        .recv_timeout(PATIENCE)
        .expect("the loop did not start");
    Running {
        addr,
        handle,
        done,
        thread: Some(thread),
    }
}

/// A `setup` for [`start`]: serve this listener.
fn listening<H: Handler>(listener: TcpListener) -> impl FnOnce(&mut EventLoop<H>) + Send {
    move |event_loop| event_loop.listen(listener).unwrap()
}

/// A server loop on a fresh port.
fn start_server<H, M>(config: Config, make: M) -> Running
where
    H: Handler + 'static,
    M: FnOnce() -> H + Send + 'static,
{
    start(
        config,
        make,
        listening(TcpListener::bind("127.0.0.1:0").unwrap()),
    )
}

impl Running {
    fn addr(&self) -> SocketAddr {
        self.addr.expect("the loop does not listen")
    }

    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr())
    }

    /// Waits until `run` has returned (a panic in the loop's thread is raised here).
    fn wait_stopped(&mut self) {
        match self.done.recv_timeout(PATIENCE) {
            Ok(result) => result.expect("the loop failed"),
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(panic) = self.thread.take().expect("joined once").join() {
                    std::panic::resume_unwind(panic);
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("the loop did not stop within {PATIENCE:?}"),
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    /// Shuts the loop down and waits for `run` to return; how long that took.
    fn stop(mut self) -> Duration {
        let started = Instant::now();
        self.handle.shutdown().unwrap();
        self.wait_stopped();
        started.elapsed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.handle.shutdown();
    }
}

/// The next record, or a failure after [`PATIENCE`].
fn next<T>(records: &Receiver<T>) -> T {
    records
        .recv_timeout(PATIENCE)
        .expect("no record within the patience")
}

// ---- Handlers. ----

/// What a handler saw of a connection's life; errors by their `Debug`, which names the variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seen {
    Open(ConnId),
    Close(ConnId, Option<String>),
}

fn describe(error: Option<&Error>) -> Option<String> {
    error.map(|error| format!("{error:?}"))
}

/// Echoes text and binary messages; an echo refused would be the loop's fault (it hands out no event
/// while the output is full), so it panics, which ends the loop and fails the test.
fn echo(event: Event<'_>, sender: &mut Sender) {
    let sent = match event {
        Event::Text(text) => sender.send_text(text),
        Event::Binary(data) => sender.send_binary(data),
        Event::Ping(_) | Event::Pong(_) | Event::Close(_) => Ok(()),
    };
    if let Err(error) = sent {
        panic!("an echo was refused: {error}");
    }
}

/// An echo server that records every open and close.
struct Echo {
    log: mpsc::Sender<Seen>,
}

impl Handler for Echo {
    fn open(&mut self, _: &mut Context, id: ConnId, _: &mut Sender) {
        let _ = self.log.send(Seen::Open(id));
    }

    fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
        echo(event, sender);
    }

    fn close(&mut self, _: &mut Context, id: ConnId, error: Option<&Error>) {
        let _ = self.log.send(Seen::Close(id, describe(error)));
    }
}

fn echo_server(config: Config) -> (Running, Receiver<Seen>) {
    let (log, seen) = mpsc::channel();
    (start_server(config, move || Echo { log }), seen)
}

// ---- Clients. ----

/// The blocking client's settings: a server that stops answering ends its reads after the idle
/// timeout (then the close timeout), never a hang.
fn client_config() -> Config {
    Config::default()
        .idle_timeout(Some(Duration::from_secs(10)))
        .close_timeout(Duration::from_secs(2))
}

fn connect(url: &str) -> WebSocket<MaybeTls> {
    blocking::connect_with(url, &ClientOptions::new(), &client_config()).unwrap()
}

/// Queues a message and writes it out, without giving it away.
fn send<S: Transport>(ws: &mut WebSocket<S>, message: &Message) {
    ws.sender().send(message).unwrap();
    ws.flush().unwrap();
}

/// An upgrade request for `path`, as a browser would send it.
fn upgrade_request(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Opens a raw WebSocket client: a plain TCP stream that sent an upgrade for `path` and read the 101.
fn raw_client(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(&upgrade_request(path)).unwrap();
    read_101(&mut stream);
    stream
}

/// A masked binary frame with a 16-bit length (126..=65535 bytes), as a client sends it.
fn masked_binary(payload: &[u8]) -> Vec<u8> {
    const KEY: [u8; 4] = [0x5a, 0x13, 0xc4, 0x7e];
    let len = u16::try_from(payload.len()).unwrap();
    assert!(len >= 126);
    let mut frame = vec![0x82, 0x80 | 126];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&KEY);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    frame
}

/// Reads until the connection is over, returning the messages (a peer's close included).
fn read_to_end<S: Transport>(ws: &mut WebSocket<S>) -> Vec<Message> {
    let mut messages = Vec::new();
    while let Some(message) = ws.read().unwrap() {
        messages.push(message);
    }
    messages
}

/// A barrier that gives up after [`PATIENCE`] instead of waiting forever for a thread that failed.
struct Gate {
    arrived: Mutex<usize>,
    all: Condvar,
    size: usize,
}

impl Gate {
    fn new(size: usize) -> Gate {
        Gate {
            arrived: Mutex::new(0),
            all: Condvar::new(),
            size,
        }
    }

    fn arrive_and_wait(&self) {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        *arrived += 1;
        self.all.notify_all();
        let timed_out = self
            .all
            .wait_timeout_while(arrived, PATIENCE, |arrived| *arrived < self.size)
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .timed_out();
        assert!(!timed_out, "not every client arrived at the gate");
    }
}

// ---- 1. Many connections. ----

/// Text and binary messages of the sizes where the frame header changes form (125/126, 65535/65536),
/// multi-byte text, and an empty message.
fn varied_messages(thread: usize) -> Vec<Message> {
    let bytes = |len: usize, seed: usize| -> Vec<u8> {
        (0..len).map(|i| ((i * 31 + seed) % 251) as u8).collect()
    };
    vec![
        Message::Text(format!("hello from thread {thread}")),
        Message::Binary(Vec::new()),
        Message::Binary(bytes(125, thread)),
        Message::Text("é€😀".repeat(42)),
        Message::Binary(bytes(126, thread)),
        Message::Text("x".repeat(4000)),
        Message::Binary(bytes(65535, thread)),
        Message::Binary(bytes(65536, thread)),
    ]
}

#[test]
fn a_thousand_concurrent_connections_each_get_exact_echoes_and_close_cleanly() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 125;
    const CONNECTIONS: usize = THREADS * PER_THREAD;
    let (log, seen) = mpsc::channel();
    // Backlog 1,024: std's 128 would drop SYNs of 1,000 quick connects, each retried a second later.
    let listener = reuse_port_listeners("127.0.0.1:0".parse().unwrap(), 1)
        .unwrap()
        .remove(0);
    let server = start(Config::default(), move || Echo { log }, listening(listener));
    let gate = Arc::new(Gate::new(THREADS));
    let started = Instant::now();
    let clients: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (url, gate) = (server.url("/"), Arc::clone(&gate));
            thread::spawn(move || {
                // The close timeout is the library's 10 s, not the other tests' 2 s: on a loaded 2-core
                // machine a debug build's loop, busy unmasking the other threads' 64 KiB echoes, was seen
                // to answer a close 2 s late (the whole test still ends in about 10 s).
                let config = client_config().close_timeout(Config::default().close_timeout);
                let mut sockets: Vec<_> = (0..PER_THREAD)
                    .map(|_| blocking::connect_with(&url, &ClientOptions::new(), &config).unwrap())
                    .collect();
                // Every connection is open before any message moves: 1,000 at once on the loop.
                gate.arrive_and_wait();
                for message in varied_messages(thread) {
                    for ws in &mut sockets {
                        send(ws, &message);
                    }
                    for ws in &mut sockets {
                        assert_eq!(ws.read().unwrap().as_ref(), Some(&message));
                    }
                }
                for ws in &mut sockets {
                    ws.close(CloseCode::NORMAL, "done").unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let elapsed = started.elapsed();
    let (mut opened, mut closed) = (HashSet::new(), HashSet::new());
    for _ in 0..2 * CONNECTIONS {
        match next(&seen) {
            Seen::Open(id) => assert!(opened.insert(id), "{id:?} opened twice"),
            Seen::Close(id, None) => {
                assert!(opened.contains(&id), "{id:?} closed before it opened");
                assert!(closed.insert(id), "{id:?} closed twice");
            }
            Seen::Close(id, Some(error)) => panic!("{id:?} ended with {error}"),
        }
    }
    assert_eq!((opened.len(), closed.len()), (CONNECTIONS, CONNECTIONS));
    server.stop();
    eprintln!("1,000 connections x 8 messages echoed and closed in {elapsed:?}");
}

// ---- 2. A peer that never reads. ----

/// Counts of what the loop handed out for the flooding connection.
#[derive(Default)]
struct FloodStats {
    events: AtomicUsize,
    /// Events handed out while the output was at the high-water mark (must stay 0).
    events_while_full: AtomicUsize,
    refused: AtomicUsize,
    /// The most output queued right after an echo.
    max_buffered: AtomicUsize,
}

/// Echoes everything; watches the connection whose upgrade asked for `/flood`.
struct FloodWatch {
    path: String,
    flooder: Option<ConnId>,
    stats: Arc<FloodStats>,
    log: mpsc::Sender<Seen>,
}

impl Handler for FloodWatch {
    fn upgrade(&mut self, upgrade: &Upgrade) -> Decision {
        // `open` follows at once for the same connection.
        self.path = upgrade.request().path.clone();
        Decision::accept()
    }

    fn open(&mut self, _: &mut Context, id: ConnId, _: &mut Sender) {
        if self.path == "/flood" {
            self.flooder = Some(id);
        }
        let _ = self.log.send(Seen::Open(id));
    }

    fn event(&mut self, _: &mut Context, id: ConnId, event: Event<'_>, sender: &mut Sender) {
        if self.flooder != Some(id) {
            return echo(event, sender);
        }
        let stats = &self.stats;
        stats.events.fetch_add(1, Ordering::SeqCst);
        if sender.is_full() {
            stats.events_while_full.fetch_add(1, Ordering::SeqCst);
        }
        if let Event::Binary(data) = event {
            if sender.send_binary(data).is_err() {
                stats.refused.fetch_add(1, Ordering::SeqCst);
            }
        }
        stats
            .max_buffered
            .fetch_max(sender.buffered_amount(), Ordering::SeqCst);
    }

    fn close(&mut self, _: &mut Context, id: ConnId, error: Option<&Error>) {
        let _ = self.log.send(Seen::Close(id, describe(error)));
    }
}

#[test]
fn a_peer_that_never_reads_gets_bounded_output_while_another_keeps_echoing() {
    const MAX_WRITE_BUFFER: usize = 64 << 10;
    const PAYLOAD: usize = 16 << 10;
    let stats = Arc::new(FloodStats::default());
    let (log, seen) = mpsc::channel();
    let watch = FloodWatch {
        path: String::new(),
        flooder: None,
        stats: Arc::clone(&stats),
        log,
    };
    let config = Config::default().max_write_buffer(MAX_WRITE_BUFFER);
    let server = start_server(config, move || watch);

    let mut flooder = small_buffered_stream(server.addr(), 16 << 10);
    flooder.write_all(&upgrade_request("/flood")).unwrap();
    read_101(&mut flooder);
    let Seen::Open(flooder_id) = next(&seen) else {
        panic!("expected the flooder's open")
    };
    // Writes the same 16 KiB message over and over, never reading, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let mut writer = flooder.try_clone().unwrap();
        writer
            .set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::clone(&stop);
        let frame = masked_binary(&vec![0xab; PAYLOAD]);
        thread::spawn(move || {
            let (mut written, mut at) = (0usize, 0);
            while !stop.load(Ordering::SeqCst) {
                match writer.write(&frame[at..]) {
                    Ok(n) => {
                        written += n;
                        at = (at + n) % frame.len();
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => panic!("the flood failed: {e}"),
                }
            }
            written
        })
    };

    // The loop fills the output, stops reading the flooder and stops handing out its events: the
    // count settles (the socket buffers are full both ways).
    let deadline = Instant::now() + PATIENCE;
    let mut settled = stats.events.load(Ordering::SeqCst);
    loop {
        thread::sleep(Duration::from_millis(500));
        let now = stats.events.load(Ordering::SeqCst);
        if now == settled && now > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the flooder's events never stopped"
        );
        settled = now;
    }

    // Meanwhile another connection on the same loop is served promptly.
    let mut ws = connect(&server.url("/"));
    assert!(matches!(next(&seen), Seen::Open(_)));
    let started = Instant::now();
    for i in 0..100 {
        let message = Message::Text(format!("round trip {i}"));
        send(&mut ws, &message);
        assert_eq!(ws.read().unwrap(), Some(message));
    }
    let round_trips = started.elapsed();
    assert!(
        round_trips < Duration::from_secs(3),
        "100 round trips took {round_trips:?}"
    );
    assert_eq!(
        stats.events.load(Ordering::SeqCst),
        settled,
        "the flooder's events were handed out while its output was full"
    );

    stop.store(true, Ordering::SeqCst);
    let written = flood.join().unwrap();
    assert_eq!(stats.events_while_full.load(Ordering::SeqCst), 0);
    assert_eq!(stats.refused.load(Ordering::SeqCst), 0);
    // A server's frame of 16 KiB has a 4-byte header; the client's adds a 4-byte mask.
    let echo_len = PAYLOAD + 4;
    let max_buffered = stats.max_buffered.load(Ordering::SeqCst);
    assert!(
        max_buffered <= MAX_WRITE_BUFFER + echo_len,
        "{max_buffered} bytes queued for a peer that does not read"
    );
    assert!(
        settled * (echo_len + 4) < written,
        "the server read all {written} bytes the flooder wrote"
    );

    // The flooder goes away with unread data (a reset): the loop lets go of it.
    let dropped = Instant::now();
    drop(flooder);
    let Seen::Close(id, error) = next(&seen) else {
        panic!("expected the flooder's close")
    };
    assert_eq!(id, flooder_id);
    assert!(error.is_some(), "a reset is not a clean close");
    let released = dropped.elapsed();

    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert!(matches!(next(&seen), Seen::Close(_, None)));
    server.stop();
    eprintln!(
        "flooder: {written} bytes written, {settled} messages read before the loop stopped \
         reading, at most {max_buffered} bytes queued; 100 round trips beside it in \
         {round_trips:?}; released {released:?} after the reset ({error:?})"
    );
}

// ---- 3. HTTP answers before any WebSocket. ----

/// Answers `GET /` with a page and refuses upgrades to `/private` with a 403 and a body.
struct Pages {
    log: mpsc::Sender<Seen>,
}

fn page() -> HttpResponse {
    HttpResponse::new(200)
        .header("Content-Type", "text/plain")
        .body("hello over plain HTTP\n")
}

fn forbidden() -> HttpResponse {
    HttpResponse::new(403)
        .header("Content-Type", "text/plain")
        .body("no entry\n")
}

impl Handler for Pages {
    fn http(&mut self, request: &Request, _: &[u8]) -> HttpResponse {
        match request.path.as_str() {
            "/" => page(),
            _ => HttpResponse::new(404),
        }
    }

    fn upgrade(&mut self, upgrade: &Upgrade) -> Decision {
        match upgrade.request().path.as_str() {
            "/private" => Decision::Refuse(forbidden()),
            _ => Decision::accept(),
        }
    }

    fn open(&mut self, _: &mut Context, id: ConnId, _: &mut Sender) {
        let _ = self.log.send(Seen::Open(id));
    }

    fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
        echo(event, sender);
    }
}

fn pages(config: Config) -> (Running, Receiver<Seen>) {
    let (log, seen) = mpsc::channel();
    (start_server(config, move || Pages { log }), seen)
}

fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    read_until_eof(stream)
}

#[test]
fn a_silent_connection_is_answered_408_at_the_handshake_deadline() {
    let deadline = Duration::from_millis(500);
    let (server, seen) = pages(Config::default().handshake_timeout(deadline));
    let started = Instant::now();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let answer = read_all(&mut stream);
    let elapsed = started.elapsed();
    drop(stream);
    let expected = Error::HandshakeTimeout.http_response().unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&answer),
        String::from_utf8_lossy(&expected)
    );
    assert!(answer.starts_with(b"HTTP/1.1 408 "));
    assert!(
        elapsed >= deadline && elapsed <= deadline + Duration::from_secs(2),
        "answered after {elapsed:?}"
    );
    server.stop();
    assert!(seen.try_recv().is_err(), "nothing opened");
    eprintln!("408 after {elapsed:?} (deadline {deadline:?})");
}

#[test]
fn a_plain_get_is_answered_with_the_handlers_http_response() {
    let (server, seen) = pages(Config::default());
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        String::from_utf8(read_all(&mut stream)).unwrap(),
        String::from_utf8(page().to_bytes()).unwrap()
    );
    drop(stream);
    server.stop();
    assert!(seen.try_recv().is_err(), "nothing opened");
}

#[test]
fn an_upgrade_the_handler_refuses_is_answered_with_its_response() {
    let (server, seen) = pages(Config::default());
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.write_all(&upgrade_request("/private")).unwrap();
    let answer = read_all(&mut stream);
    assert_eq!(
        String::from_utf8(answer).unwrap(),
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\
         Connection: close\r\n\r\nno entry\n"
    );
    // The same server accepts another path.
    let mut accepted = raw_client(server.addr(), "/public");
    assert!(matches!(next(&seen), Seen::Open(_)));
    accepted.write_all(&masked_close(1000)).unwrap();
    assert_eq!(read_frame(&mut accepted), close_frame(1000, ""));
    assert_eq!(read_until_eof(&mut accepted), b"");
    drop((stream, accepted));
    server.stop();
}

// ---- 4. Keepalive. ----

#[test]
fn a_peer_that_never_answers_pings_is_pinged_then_failed_with_1011() {
    let interval = Duration::from_millis(300);
    let config = Config::default()
        .ping_interval(Some(interval))
        .ping_timeout(interval);
    let (server, seen) = echo_server(config);
    let started = Instant::now();
    let mut stream = raw_client(server.addr(), "/");
    let Seen::Open(id) = next(&seen) else {
        panic!("expected an open")
    };
    assert_eq!(read_frame(&mut stream), [0x89, 0x00]);
    let pinged = started.elapsed();
    assert_eq!(
        read_frame(&mut stream),
        close_frame(1011, "keepalive timeout")
    );
    let failed = started.elapsed();
    assert!(pinged >= interval, "pinged after {pinged:?}");
    assert!(
        failed >= 2 * interval && failed <= 2 * interval + Duration::from_secs(2),
        "failed after {failed:?}"
    );
    // Completing the close handshake late does not turn the failure into a clean close.
    stream.write_all(&masked_close(1011)).unwrap();
    assert_eq!(read_until_eof(&mut stream), b"");
    // The server ended its side; ending ours completes the closing of TCP (RFC 6455 §7.1.1).
    drop(stream);
    assert_eq!(
        next(&seen),
        Seen::Close(id, Some("KeepaliveTimeout".to_owned()))
    );
    server.stop();
    eprintln!("ping after {pinged:?}, close 1011 after {failed:?}");
}

// ---- 5. Graceful shutdown. ----

#[test]
fn shutdown_answers_what_a_connection_sent_before_it_then_closes_with_1001() {
    // One thread turns the loop by hand, so that the shutdown is seen before the messages' readiness:
    // the messages were already in the socket, and their echoes must go out ahead of the close.
    let (log, seen) = mpsc::channel();
    let mut event_loop =
        EventLoop::new(Echo { log }, Config::default(), LoopConfig::default()).unwrap();
    event_loop
        .listen(TcpListener::bind("127.0.0.1:0").unwrap())
        .unwrap();
    let mut stream = TcpStream::connect(event_loop.local_addr().unwrap()).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(&upgrade_request("/")).unwrap();
    while seen.try_recv().is_err() {
        event_loop.turn(Some(Duration::from_millis(10))).unwrap();
    }
    read_101(&mut stream);
    event_loop.handle().shutdown().unwrap();
    let messages: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
    for message in &messages {
        stream
            .write_all(&common::masked_frame(0x81, message.as_bytes()))
            .unwrap();
    }
    let client = thread::spawn(move || {
        let echoes: Vec<Vec<u8>> = (0..50).map(|_| read_frame(&mut stream)).collect();
        let close = read_frame(&mut stream);
        stream.write_all(&masked_close(1001)).unwrap();
        (echoes, close)
    });
    event_loop.run().unwrap();
    let (echoes, close) = client.join().unwrap();
    for (echo, message) in echoes.iter().zip(&messages) {
        assert_eq!(&echo[2..], message.as_bytes());
    }
    assert_eq!(close, close_frame(1001, "server shutting down"));
}

#[test]
fn shutdown_closes_every_connection_with_1001_then_run_returns_and_accepts_no_more() {
    let close_timeout = Duration::from_secs(1);
    let (mut server, seen) = echo_server(Config::default().close_timeout(close_timeout));
    let addr = server.addr();
    // Accepted first (the accept queue is FIFO), so the loop holds it when the shutdown comes.
    let mut handshaking = TcpStream::connect(addr).unwrap();
    handshaking.set_read_timeout(Some(PATIENCE)).unwrap();
    let answering: Vec<_> = (0..3).map(|_| raw_client(addr, "/")).collect();
    let mut silent = raw_client(addr, "/");
    let mut ids = Vec::new();
    for _ in 0..4 {
        let Seen::Open(id) = next(&seen) else {
            panic!("expected an open")
        };
        ids.push(id);
    }

    let started = Instant::now();
    server.handle.shutdown().unwrap();
    let going_away = close_frame(1001, "server shutting down");
    // A connection still in its opening handshake is dropped without an answer.
    assert_eq!(read_until_eof(&mut handshaking), b"");
    for mut stream in answering {
        assert_eq!(read_frame(&mut stream), going_away);
        stream.write_all(&masked_close(1001)).unwrap();
        assert_eq!(read_until_eof(&mut stream), b"");
    }
    // The last one never answers: the loop waits for it no longer than the close timeout.
    assert_eq!(read_frame(&mut silent), going_away);
    assert_eq!(read_until_eof(&mut silent), b"");
    server.wait_stopped();
    let stopped = started.elapsed();
    assert!(
        stopped >= close_timeout && stopped <= close_timeout + Duration::from_secs(2),
        "run returned after {stopped:?}"
    );
    let refused = TcpStream::connect(addr).map(|_| ()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    let mut ends: Vec<_> = (0..4).map(|_| next(&seen)).collect();
    ends.sort_by_key(|seen| matches!(seen, Seen::Close(_, Some(_))));
    let silent_id = ids.pop().unwrap();
    let mut expected: Vec<_> = ids.iter().map(|&id| Seen::Close(id, None)).collect();
    expected.push(Seen::Close(silent_id, Some("CloseTimeout".to_owned())));
    for end in &expected {
        assert!(ends.contains(end), "{end:?} missing from {ends:?}");
    }
    eprintln!("shutdown with one silent peer: run returned after {stopped:?}");
}

// ---- 6. The handle, from other threads. ----

#[test]
fn a_handle_broadcasts_sends_and_closes_from_another_thread() {
    let (server, seen) = echo_server(Config::default());
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        // The handler hears `open` before the 101 is written, so ids come in the clients' order.
        clients.push(connect(&server.url("/")));
        let Seen::Open(id) = next(&seen) else {
            panic!("expected an open")
        };
        ids.push(id);
    }

    let ticks: Vec<_> = (0..10)
        .map(|n| Message::from(format!("tick {n}")))
        .collect();
    let ticker = {
        let (handle, ticks) = (server.handle.clone(), ticks.clone());
        thread::spawn(move || {
            for tick in ticks {
                handle.broadcast(tick).unwrap();
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    for ws in &mut clients {
        let received: Vec<_> = (0..ticks.len()).map(|_| ws.read().unwrap()).collect();
        assert_eq!(
            received,
            ticks.iter().cloned().map(Some).collect::<Vec<_>>()
        );
    }
    ticker.join().unwrap();

    // Commands run in order: the send reaches only the second client, before the broadcast.
    let only = Message::from("only for the second");
    let after = Message::from("after");
    server.handle.send(ids[1], only.clone()).unwrap();
    server.handle.broadcast(after.clone()).unwrap();
    assert_eq!(clients[0].read().unwrap(), Some(after.clone()));
    assert_eq!(clients[1].read().unwrap(), Some(only));
    assert_eq!(clients[1].read().unwrap(), Some(after.clone()));
    assert_eq!(clients[2].read().unwrap(), Some(after));

    server
        .handle
        .close(ids[2], CloseCode::new(4000), "bye")
        .unwrap();
    assert_eq!(
        read_to_end(&mut clients[2]),
        [Message::Close(Some((
            CloseCode::new(4000),
            "bye".to_owned()
        )))]
    );
    assert_eq!(next(&seen), Seen::Close(ids[2], None));

    // The closed connection's id is stale: it reaches nobody, not even a connection that took its
    // slot.
    let mut fresh = connect(&server.url("/"));
    let Seen::Open(fresh_id) = next(&seen) else {
        panic!("expected an open")
    };
    assert_ne!(fresh_id, ids[2]);
    server.handle.send(ids[2], Message::from("stale")).unwrap();
    server
        .handle
        .send(fresh_id, Message::from("fresh"))
        .unwrap();
    assert_eq!(fresh.read().unwrap(), Some(Message::from("fresh")));
    fresh.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(next(&seen), Seen::Close(fresh_id, None));

    for ws in &mut clients[..2] {
        ws.close(CloseCode::NORMAL, "done").unwrap();
    }
    let ends: HashSet<_> = (0..2).map(|_| next(&seen)).collect();
    assert_eq!(
        ends,
        HashSet::from([Seen::Close(ids[0], None), Seen::Close(ids[1], None)])
    );
    server.stop();
}

// ---- 7. Several loops on one port. ----

/// Echoes, records the threads that served, and shuts its loop down when told to by a client.
struct Recorder {
    threads: Arc<Mutex<HashSet<ThreadId>>>,
}

impl Handler for Recorder {
    fn open(&mut self, _: &mut Context, _: ConnId, _: &mut Sender) {
        self.threads.lock().unwrap().insert(thread::current().id());
    }

    fn event(&mut self, context: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
        match event {
            Event::Text("shutdown") => context.shutdown(),
            event => echo(event, sender),
        }
    }
}

#[test]
fn two_loops_on_one_reuse_port_address_each_echo() {
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let listeners = reuse_port_listeners("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let url = format!("ws://{}/", listeners[0].local_addr().unwrap());
    let (done_tx, done) = mpsc::channel();
    let make = {
        let threads = Arc::clone(&threads);
        move || Recorder {
            threads: Arc::clone(&threads),
        }
    };
    let serving = thread::spawn(move || {
        let _ = done_tx.send(serve(
            listeners,
            Config::default(),
            LoopConfig::default(),
            make,
        ));
    });

    let clients: Vec<_> = (0..5)
        .map(|thread| {
            let url = url.clone();
            thread::spawn(move || {
                for n in 0..10 {
                    let mut ws = connect(&url);
                    let text = Message::Text(format!("client {thread}/{n}"));
                    let binary = Message::Binary(vec![thread as u8; 300 + n]);
                    for message in [&text, &binary] {
                        send(&mut ws, message);
                        assert_eq!(ws.read().unwrap().as_ref(), Some(message));
                    }
                    ws.close(CloseCode::NORMAL, "done").unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let served = threads.lock().unwrap().clone();
    assert!(!served.is_empty());
    assert!(!served.contains(&thread::current().id()));

    // Each loop stops when one of its clients asks; the kernel sends new connections to the loops
    // still listening, so asking until `serve` returns stops them all.
    let deadline = Instant::now() + PATIENCE;
    let result = loop {
        match done.recv_timeout(Duration::from_millis(100)) {
            Ok(result) => break result,
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
            Err(RecvTimeoutError::Timeout) => {}
        }
        assert!(Instant::now() < deadline, "serve did not return");
        if let Ok(mut ws) = blocking::connect_with(&url, &ClientOptions::new(), &client_config()) {
            send(&mut ws, &Message::from("shutdown"));
            while let Ok(Some(_)) = ws.read() {}
        }
    };
    result.unwrap();
    serving.join().unwrap();
    eprintln!("50 connections served by {} loop(s)", served.len());
}

#[test]
fn streams_accepted_on_another_thread_are_adopted_by_two_loops_round_robin() {
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let make = {
        let threads = Arc::clone(&threads);
        move || Recorder {
            threads: Arc::clone(&threads),
        }
    };
    let loops = [
        start(Config::default(), make.clone(), |_| {}),
        start(Config::default(), make, |_| {}),
    ];
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handles: Vec<Handle> = loops.iter().map(|l| l.handle.clone()).collect();
    const CONNECTIONS: usize = 20;
    let acceptor = thread::spawn(move || {
        for (n, stream) in listener.incoming().take(CONNECTIONS).enumerate() {
            handles[n % 2].adopt(stream.unwrap()).unwrap();
        }
    });
    for n in 0..CONNECTIONS {
        let mut ws = connect(&url);
        let message = Message::Binary(vec![n as u8; 100 + n]);
        send(&mut ws, &message);
        assert_eq!(ws.read().unwrap(), Some(message));
        ws.close(CloseCode::NORMAL, "done").unwrap();
        assert_eq!(read_to_end(&mut ws), vec![]);
    }
    acceptor.join().unwrap();
    // Round robin: both loops served.
    assert_eq!(threads.lock().unwrap().len(), 2);

    // A loop that is shutting down answers an adopted stream 503 rather than serving it.
    let [first, _second] = loops;
    first.handle.shutdown().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = first.handle.clone();
    let client = thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(&upgrade_request("/")).unwrap();
        // The 503 is written without reading the request, so a reset may follow it.
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    });
    let (stream, _) = listener.accept().unwrap();
    // The loop has stopped (no connections) or is stopping: either the handle fails, or the stream
    // is answered 503.
    if let Err(e) = handle.adopt(stream) {
        assert_eq!(e.kind(), ErrorKind::NotConnected);
    }
    let answer = String::from_utf8_lossy(&client.join().unwrap()).into_owned();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
}

// ---- 8. Clients on the loop. ----

/// What a client loop's handler saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Called {
    Open(ConnId),
    Echo(ConnId, String),
    Close(ConnId, Option<String>),
    RefusedWith(ConnId, u16),
    Failed(ConnId, ErrorKind),
    FailedOtherwise(ConnId, String),
}

/// Sends a greeting on `open`, closes once it is echoed.
struct Caller {
    log: mpsc::Sender<Called>,
}

impl Handler for Caller {
    fn open(&mut self, _: &mut Context, id: ConnId, sender: &mut Sender) {
        let _ = self.log.send(Called::Open(id));
        sender.send_text("hello from a loop").unwrap();
    }

    fn event(&mut self, _: &mut Context, id: ConnId, event: Event<'_>, sender: &mut Sender) {
        if let Event::Text(text) = event {
            let _ = self.log.send(Called::Echo(id, text.to_owned()));
            sender.close(CloseCode::NORMAL, "done").unwrap();
        }
    }

    fn close(&mut self, _: &mut Context, id: ConnId, error: Option<&Error>) {
        let _ = self.log.send(Called::Close(id, describe(error)));
    }

    fn connect_failed(&mut self, _: &mut Context, id: ConnId, error: &Error) {
        let called = match error {
            Error::Refused(response) => Called::RefusedWith(id, response.status),
            Error::Io(e) => Called::Failed(id, e.kind()),
            other => Called::FailedOtherwise(id, format!("{other:?}")),
        };
        let _ = self.log.send(called);
    }
}

/// Echoes, and answers upgrades to `/auth` with a 401 challenge.
struct Gatekeeper;

impl Handler for Gatekeeper {
    fn upgrade(&mut self, upgrade: &Upgrade) -> Decision {
        match upgrade.request().path.as_str() {
            "/auth" => Decision::Refuse(
                HttpResponse::new(401)
                    .header("WWW-Authenticate", "Bearer")
                    .body("who are you?\n"),
            ),
            _ => Decision::accept(),
        }
    }

    fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
        echo(event, sender);
    }
}

#[test]
fn a_loop_connects_as_a_client_and_reports_refused_connections() {
    let server = start_server(Config::default(), || Gatekeeper);
    let dead_port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // Completes TCP connects (the kernel's backlog) and never answers.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let urls = [
        server.url("/echo"),
        server.url("/auth"),
        format!("ws://127.0.0.1:{dead_port}/"),
        format!("ws://{}/", mute.local_addr().unwrap()),
    ];
    let (log, called) = mpsc::channel();
    let (ids_tx, ids) = mpsc::channel();
    let handshake_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let client = start(
        Config::default().handshake_timeout(handshake_timeout),
        move || Caller { log },
        move |event_loop: &mut EventLoop<Caller>| {
            let connected: Vec<_> = urls
                .iter()
                .map(|url| {
                    event_loop
                        .connect(url, &ClientOptions::new())
                        .map_err(|e| format!("{e:?}"))
                })
                .collect();
            ids_tx.send(connected).unwrap();
        },
    );
    let connected = next(&ids);
    let [echo_id, auth_id, dead_id, mute_id] = [0, 1, 2, 3].map(|i| {
        connected[i]
            .clone()
            .unwrap_or_else(|e| panic!("connect {i} failed at once: {e}"))
    });

    let mut record: Vec<_> = (0..6).map(|_| next(&called)).collect();
    let elapsed = started.elapsed();
    let expected = [
        Called::Open(echo_id),
        Called::Echo(echo_id, "hello from a loop".to_owned()),
        Called::Close(echo_id, None),
    ];
    let echo_story: Vec<_> = record
        .iter()
        .filter(|c| expected.contains(c))
        .cloned()
        .collect();
    assert_eq!(echo_story, expected, "in {record:?}");
    record.retain(|c| !expected.contains(c));
    record.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        record,
        [
            Called::Failed(dead_id, ErrorKind::ConnectionRefused),
            Called::FailedOtherwise(mute_id, "HandshakeTimeout".to_owned()),
            Called::RefusedWith(auth_id, 401),
        ]
    );
    assert!(
        elapsed >= handshake_timeout && elapsed <= handshake_timeout + Duration::from_secs(2),
        "the silent server's connection failed after {elapsed:?}"
    );
    client.stop();
    server.stop();
    drop(mute);
}

// ---- 9. Backpressure that lifts. ----

#[derive(Default)]
struct ProducerStats {
    sent_messages: AtomicUsize,
    sent_bytes: AtomicUsize,
    refused: AtomicUsize,
    writable_calls: AtomicUsize,
}

/// Sends `count` numbered binary messages to each connection as fast as the output takes them,
/// resuming on `writable`; counts only the messages the sender took.
struct Producer {
    count: usize,
    size: usize,
    next: usize,
    stats: Arc<ProducerStats>,
    log: mpsc::Sender<Seen>,
}

/// Message `seq`: its number, then bytes that depend on it.
fn numbered(seq: usize, size: usize) -> Vec<u8> {
    let mut payload = (seq as u64).to_be_bytes().to_vec();
    payload.extend((8..size).map(|i| (seq + i) as u8));
    payload
}

impl Producer {
    fn produce(&mut self, sender: &mut Sender) {
        while self.next < self.count {
            match sender.send_binary(&numbered(self.next, self.size)) {
                Ok(()) => {
                    self.next += 1;
                    self.stats.sent_messages.fetch_add(1, Ordering::SeqCst);
                    self.stats.sent_bytes.fetch_add(self.size, Ordering::SeqCst);
                }
                // Not queued: sent again once `writable` says there is room.
                Err(Error::WriteBufferFull { .. }) => {
                    self.stats.refused.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Err(error) => panic!("send failed: {error}"),
            }
        }
    }
}

impl Handler for Producer {
    fn open(&mut self, _: &mut Context, id: ConnId, sender: &mut Sender) {
        let _ = self.log.send(Seen::Open(id));
        self.produce(sender);
    }

    fn event(&mut self, _: &mut Context, _: ConnId, _: Event<'_>, _: &mut Sender) {}

    fn writable(&mut self, _: &mut Context, _: ConnId, sender: &mut Sender) {
        self.stats.writable_calls.fetch_add(1, Ordering::SeqCst);
        self.produce(sender);
    }

    fn close(&mut self, _: &mut Context, id: ConnId, error: Option<&Error>) {
        let _ = self.log.send(Seen::Close(id, describe(error)));
    }
}

#[test]
fn a_reader_that_pauses_gets_every_message_sent_and_writable_resumes_the_sender() {
    // 8 MiB: more than the kernel's buffers hold (4 MiB at most for the server's sends here).
    const COUNT: usize = 1024;
    const SIZE: usize = 8 << 10;
    let stats = Arc::new(ProducerStats::default());
    let (log, seen) = mpsc::channel();
    let producer = Producer {
        count: COUNT,
        size: SIZE,
        next: 0,
        stats: Arc::clone(&stats),
        log,
    };
    let config = Config::default().max_write_buffer(64 << 10);
    let server = start_server(config, move || producer);

    let stream = small_buffered_stream(server.addr(), 32 << 10);
    let url = WsUrl::parse(&server.url("/")).unwrap();
    let mut ws = blocking::client(stream, &url, &ClientOptions::new(), &client_config()).unwrap();
    let Seen::Open(id) = next(&seen) else {
        panic!("expected an open")
    };
    // Not reading for a while: the socket buffers fill, then the output, and the producer waits
    // (nothing more is sent and no `writable` comes while the client does not read).
    thread::sleep(Duration::from_millis(300));
    let sent_while_paused = stats.sent_messages.load(Ordering::SeqCst);
    let writable_while_paused = stats.writable_calls.load(Ordering::SeqCst);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        stats.sent_messages.load(Ordering::SeqCst),
        sent_while_paused,
        "the producer went on while the client did not read"
    );
    assert_eq!(
        stats.writable_calls.load(Ordering::SeqCst),
        writable_while_paused
    );
    assert!(
        sent_while_paused < COUNT,
        "all {COUNT} messages went out to a client that did not read"
    );

    let mut received_bytes = 0;
    for seq in 0..COUNT {
        let message = ws.read().unwrap();
        assert_eq!(
            message,
            Some(Message::Binary(numbered(seq, SIZE))),
            "#{seq}"
        );
        received_bytes += SIZE;
    }
    assert_eq!(stats.sent_messages.load(Ordering::SeqCst), COUNT);
    assert_eq!(stats.sent_bytes.load(Ordering::SeqCst), received_bytes);
    let writable_calls = stats.writable_calls.load(Ordering::SeqCst);
    assert!(
        writable_calls > writable_while_paused,
        "no writable once the client read again"
    );
    assert!(stats.refused.load(Ordering::SeqCst) > 0);
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(next(&seen), Seen::Close(id, None));
    server.stop();
    eprintln!(
        "{sent_while_paused} of {COUNT} messages of {SIZE} bytes sent while the client paused; \
         {writable_calls} writable calls ({writable_while_paused} during the pause), {} refusals",
        stats.refused.load(Ordering::SeqCst)
    );
}

#[test]
fn a_client_connection_still_connecting_at_shutdown_is_reported_failed() {
    // Completes the TCP connect and never answers the upgrade request.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", mute.local_addr().unwrap());
    let (log, called) = mpsc::channel();
    let (id_tx, id_rx) = mpsc::channel();
    let client = start(
        Config::default(),
        move || Caller { log },
        move |event_loop: &mut EventLoop<Caller>| {
            id_tx
                .send(event_loop.connect(&url, &ClientOptions::new()).unwrap())
                .unwrap();
        },
    );
    let id = next(&id_rx);
    // The connection is in its handshake (connecting, or waiting for the answer) when this comes.
    client.stop();
    // `EventLoop::connect` promises `open` or `connect_failed`: one of them must have come.
    let record: Vec<_> = called.try_iter().collect();
    let heard = record.iter().any(|called| match called {
        Called::Open(other) | Called::Failed(other, _) | Called::FailedOtherwise(other, _) => {
            *other == id
        }
        _ => false,
    });
    assert!(heard, "the handler never heard of {id:?}: {record:?}");
    drop(mute);
}

#[test]
fn a_handle_fails_once_its_loop_has_stopped() {
    let (server, _seen) = echo_server(Config::default());
    let handle = server.handle.clone();
    server.stop();
    // The module's own example ends its ticker thread on this error ("the loop is gone").
    assert!(handle.broadcast(Message::from("tick")).is_err());
    assert!(handle.shutdown().is_err());
}

#[test]
fn a_flooding_peer_that_starts_reading_again_gets_every_echo() {
    const PAYLOAD: usize = 16 << 10;
    const FRAMES: usize = 1024;
    let (server, seen) = echo_server(Config::default().max_write_buffer(64 << 10));
    let mut stream = small_buffered_stream(server.addr(), 16 << 10);
    stream.write_all(&upgrade_request("/")).unwrap();
    read_101(&mut stream);
    let Seen::Open(id) = next(&seen) else {
        panic!("expected an open")
    };
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let mut writer = stream.try_clone().unwrap();
        writer.set_write_timeout(Some(PATIENCE)).unwrap();
        let written = Arc::clone(&written);
        thread::spawn(move || {
            for seq in 0..FRAMES {
                writer
                    .write_all(&masked_binary(&numbered(seq, PAYLOAD)))
                    .unwrap();
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Not reading until the writer is stuck: the echoes fill every buffer and the loop stops reading.
    let deadline = Instant::now() + PATIENCE;
    let mut settled = written.load(Ordering::SeqCst);
    loop {
        thread::sleep(Duration::from_millis(300));
        let now = written.load(Ordering::SeqCst);
        if now == settled {
            break;
        }
        assert!(Instant::now() < deadline, "the writer never settled");
        settled = now;
    }
    assert!(
        settled < FRAMES,
        "the loop read {FRAMES} messages nobody read the echoes of"
    );

    // Reading again: the loop resumes reading and every message comes back, in order, exactly.
    for seq in 0..FRAMES {
        let mut expected = vec![0x82, 126];
        expected.extend_from_slice(&(PAYLOAD as u16).to_be_bytes());
        expected.extend_from_slice(&numbered(seq, PAYLOAD));
        assert!(read_frame(&mut stream) == expected, "echo #{seq} differs");
    }
    writer.join().unwrap();
    stream.write_all(&masked_close(1000)).unwrap();
    assert_eq!(read_frame(&mut stream), close_frame(1000, ""));
    assert_eq!(read_until_eof(&mut stream), b"");
    drop(stream);
    assert_eq!(next(&seen), Seen::Close(id, None));
    server.stop();
    eprintln!("the writer stalled after {settled} of {FRAMES} messages of {PAYLOAD} bytes");
}

/// Records the size of every binary message it echoes, with the connection it came on.
struct Counting {
    log: mpsc::Sender<(ConnId, usize)>,
}

impl Handler for Counting {
    fn event(&mut self, _: &mut Context, id: ConnId, event: Event<'_>, sender: &mut Sender) {
        if let Event::Binary(data) = event {
            let _ = self.log.send((id, data.len()));
            // Refused once the shutdown's close is queued, which the flood's messages outrun.
            let _ = sender.send_binary(data);
        }
    }
}

#[test]
fn a_peer_that_floods_the_loop_yields_to_the_others_at_its_read_budget() {
    // One connection writes as fast as it can and never reads; another sends one message. The loop is
    // turned by hand, so the flood's bytes handled between the quiet message's arrival and its echo
    // can be counted: a step reads at most its budget (256 KiB) before the loop turns to the others.
    // Without the budget, the flood was read until its output filled (4 MiB) while the other waited.
    const MESSAGE: usize = 8 << 10;
    let (log, seen) = mpsc::channel();
    // A short close timeout: at the end, the flood never answers the shutdown's close.
    let config = Config::default().close_timeout(Duration::from_millis(500));
    let mut event_loop = EventLoop::new(Counting { log }, config, LoopConfig::default()).unwrap();
    event_loop
        .listen(TcpListener::bind("127.0.0.1:0").unwrap())
        .unwrap();
    let addr = event_loop.local_addr().unwrap();
    let upgrade = |mut stream: TcpStream| {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(&upgrade_request("/")).unwrap();
        stream
    };
    let mut flood = upgrade(TcpStream::connect(addr).unwrap());
    let mut quiet = upgrade(TcpStream::connect(addr).unwrap());
    for _ in 0..20 {
        event_loop.turn(Some(Duration::from_millis(5))).unwrap();
    }
    read_101(&mut flood);
    read_101(&mut quiet);
    let writer = thread::spawn(move || {
        let frame = masked_binary(&[7; MESSAGE]);
        // Until the server drops the connection at the end of the test.
        while flood.write_all(&frame).is_ok() {}
    });
    // The flood is under way: the loop has handled some of it.
    let flood_id = loop {
        event_loop.turn(Some(Duration::from_millis(5))).unwrap();
        if let Ok((id, _)) = seen.try_recv() {
            break id;
        }
    };
    quiet.write_all(&masked_binary(&[1; 200])).unwrap();
    let mut flood_bytes = 0;
    'turns: for _ in 0..1000 {
        event_loop.turn(Some(Duration::from_millis(5))).unwrap();
        while let Ok((id, len)) = seen.try_recv() {
            if id != flood_id {
                assert_eq!(len, 200);
                break 'turns;
            }
            flood_bytes += len;
        }
    }
    assert!(
        flood_bytes < 1 << 20,
        "the flood had {flood_bytes} bytes handled while the other connection's message waited"
    );
    quiet.set_read_timeout(Some(PATIENCE)).unwrap();
    event_loop.handle().shutdown().unwrap();
    let closer = thread::spawn(move || read_frame(&mut quiet));
    let _ = event_loop.run();
    let _ = closer.join();
    writer.join().unwrap();
}
