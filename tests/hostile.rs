//! Hostile input: each case ends with the right close code or HTTP status, never panics, and allocates
//! no more than the configured limits plus a small constant, measured by a counting allocator.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use wscore::driver::blocking::accept;
use wscore::handshake::read_request;
use wscore::{CloseCode, Config, Connection, Error, Event, Role, State};

mod common;
use common::{peak_heap, EchoServer};

const SMALL: usize = 64 << 10;
const KEY: [u8; 4] = [1, 2, 3, 4];

fn masked_header(first_byte: u8, len: u64) -> Vec<u8> {
    let mut out = vec![first_byte];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&KEY);
    out
}

fn masked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = masked_header(first_byte, payload.len() as u64);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

/// Drains events; returns how many there were and the error, if one ended them.
fn drain(conn: &mut Connection) -> (usize, Option<Error>) {
    let mut events = 0;
    loop {
        match conn.next_event() {
            Ok(Some(_)) => events += 1,
            Ok(None) => return (events, None),
            Err(e) => return (events, Some(e)),
        }
    }
}

/// The close code of the last close frame a server wrote.
fn last_close_code(conn: &Connection) -> Option<u16> {
    let mut client = Connection::new(Role::Client, &Config::default());
    client.receive(conn.pending_output());
    let mut code = None;
    while let Ok(Some((event, _))) = client.next_event() {
        if let Event::Close(frame) = event {
            code = frame.map(|f| f.code.as_u16());
        }
    }
    code
}

fn server() -> Connection {
    Connection::new(Role::Server, &Config::default())
}

/// Feeds `pieces` to a server and asserts it failed with 1009 (FrameTooLarge) holding little memory.
fn assert_frame_too_large(pieces: &[&[u8]]) {
    let ((error, conn), peak) = peak_heap(|| {
        let mut conn = server();
        for piece in pieces {
            conn.receive(piece);
        }
        (drain(&mut conn).1, conn)
    });
    assert!(matches!(error, Some(Error::FrameTooLarge { .. })));
    assert_eq!(last_close_code(&conn), Some(1009));
    assert!(peak < SMALL, "held {peak} bytes");
}

#[test]
fn a_frame_declaring_2_pow_63_minus_1_bytes_fails_with_1009_at_once() {
    assert_frame_too_large(&[&masked_header(0x82, (1 << 63) - 1)]);
}

#[test]
fn a_frame_just_over_the_limit_fails_with_1009_before_its_payload() {
    let over = Config::default().max_frame_size as u64 + 1;
    assert_frame_too_large(&[&masked_header(0x82, over), &[0; 1000]]);
}

#[test]
fn a_frame_at_the_limit_holds_no_more_than_the_frame() {
    let config = Config::default().max_frame_size(4 << 20);
    let ((events, error), peak) = peak_heap(|| {
        let mut conn = Connection::new(Role::Server, &config);
        conn.receive(&masked_header(0x82, config.max_frame_size as u64));
        let chunk = [0u8; 64 << 10];
        for _ in 0..config.max_frame_size / chunk.len() {
            let room = conn.read_buffer();
            let n = room.len().min(chunk.len());
            room[..n].copy_from_slice(&chunk[..n]);
            conn.commit(n);
            let (events, error) = drain(&mut conn);
            if events > 0 || error.is_some() {
                return (events, error);
            }
        }
        drain(&mut conn)
    });
    assert_eq!(
        (events, error.is_none()),
        (0, true),
        "the frame is not complete yet"
    );
    assert!(
        peak <= config.max_frame_size + SMALL,
        "held {peak} bytes for a {} byte frame",
        config.max_frame_size
    );
}

/// Feeds a message of `count` one-byte fragments in 64 KiB reads, building the stream as it goes.
fn one_byte_fragments(conn: &mut Connection, count: usize) -> (usize, Option<Error>) {
    let mut pending = Vec::with_capacity(70 << 10);
    let mut events = 0;
    for i in 0..count {
        let first = match i {
            0 => 0x02,
            _ if i == count - 1 => 0x80,
            _ => 0x00,
        };
        pending.extend_from_slice(&masked(first, &[i as u8]));
        if pending.len() >= 64 << 10 || i == count - 1 {
            conn.receive(&pending);
            pending.clear();
            let (n, error) = drain(conn);
            events += n;
            if error.is_some() {
                return (events, error);
            }
        }
    }
    (events, None)
}

#[test]
fn a_million_one_byte_fragments_make_one_message_in_bounded_memory() {
    let ((events, error), peak) = peak_heap(|| one_byte_fragments(&mut server(), 1_000_000));
    assert_eq!((events, error.is_none()), (1, true));
    // The message itself (1 MB, grown geometrically) plus the 64 KiB reads.
    assert!(peak < 3 << 20, "held {peak} bytes");
}

#[test]
fn fragments_past_the_message_limit_fail_with_1009() {
    let config = Config::default().max_message_size(100_000);
    let ((events, error), peak) =
        peak_heap(|| one_byte_fragments(&mut Connection::new(Role::Server, &config), 1_000_000));
    assert_eq!(events, 0);
    assert!(matches!(error, Some(Error::MessageTooLarge { .. })));
    // The message so far, the 64 KiB reads, and this test's own 70 KiB of scratch.
    assert!(
        peak < config.max_message_size + 3 * SMALL,
        "held {peak} bytes"
    );
}

#[test]
fn invalid_utf8_after_10_mib_of_valid_text_fails_at_once() {
    let valid = 10 << 20;
    let ((error, fed, conn), peak) = peak_heap(|| {
        let mut conn = server();
        let total = valid as u64 + 1 + 1_000_000;
        conn.receive(&masked_header(0x81, total));
        let chunk: Vec<u8> = (0..64 << 10).map(|i| b'a' ^ KEY[i % 4]).collect();
        let mut fed = 0;
        while fed < valid {
            conn.receive(&chunk);
            fed += chunk.len();
            if let (_, Some(error)) = drain(&mut conn) {
                return (Some(error), fed, conn);
            }
        }
        // The invalid byte: fed alone, at payload offset `valid` (a multiple of 4, so masked with KEY[0]).
        conn.receive(&[0xff ^ KEY[0]]);
        fed += 1;
        (drain(&mut conn).1, fed, conn)
    });
    assert!(matches!(error, Some(Error::InvalidUtf8)), "{error:?}");
    assert_eq!(
        fed,
        valid + 1,
        "failed exactly when the invalid byte arrived"
    );
    assert_eq!(last_close_code(&conn), Some(1007));
    assert!(
        peak <= Config::default().max_frame_size + SMALL,
        "held {peak} bytes"
    );
}

#[test]
fn a_ping_flood_from_a_peer_that_never_reads_stays_within_the_write_bound() {
    // Every ping is answered until the output reaches its bound; from then on RFC 6455 §5.5.3 lets us
    // answer only the most recent ping, so the newest pong replaces the one waiting at the end.
    let config = Config::default().max_write_buffer(1024);
    let ((conn, events), peak) = peak_heap(|| {
        let mut conn = Connection::new(Role::Server, &config);
        let mut events = 0;
        for i in 0..100_000u32 {
            conn.receive(&masked(0x89, &i.to_be_bytes()));
            events += drain(&mut conn).0;
        }
        (conn, events)
    });
    assert_eq!(events, 100_000, "every ping is still reported");
    let output = conn.pending_output();
    assert!(output.len() <= 1024 + 6, "{} bytes queued", output.len());
    assert_eq!(&output[..6], [0x8a, 0x04, 0, 0, 0, 0], "the pong to ping 0");
    assert_eq!(
        &output[output.len() - 6..],
        [0x8a, 0x04, 0x00, 0x01, 0x86, 0x9f],
        "the last pong answers ping 99999"
    );
    assert!(peak < SMALL, "held {peak} bytes");
}

#[test]
fn a_pong_already_followed_by_data_is_kept() {
    let mut conn = server();
    conn.receive(&masked(0x89, b"a"));
    drain(&mut conn);
    conn.sender().send_text("x").unwrap();
    conn.receive(&masked(0x89, b"b"));
    drain(&mut conn);
    assert_eq!(
        conn.pending_output(),
        [0x8a, 0x01, b'a', 0x81, 0x01, b'x', 0x8a, 0x01, b'b']
    );
}

#[test]
fn bad_close_frames_fail_with_the_right_codes() {
    for (payload, code) in [
        (vec![0x03], 1002),
        (vec![0x03, 0xed], 1002),       // 1005 may not be sent
        (vec![0x0b, 0xb8 - 1], 1002),   // 2999: reserved
        (vec![0x03, 0xe8, 0xc0], 1007), // 1000 with a reason that is not UTF-8
    ] {
        let ((error, conn), peak) = peak_heap(|| {
            let mut conn = server();
            conn.receive(&masked(0x88, &payload));
            (drain(&mut conn).1, conn)
        });
        assert_eq!(
            error.and_then(|e| e.close_code()).map(CloseCode::as_u16),
            Some(code),
            "{payload:?}"
        );
        assert_eq!(last_close_code(&conn), Some(code));
        assert!(peak < SMALL);
    }
}

#[test]
fn data_after_a_close_frame_is_ignored_and_not_reported() {
    let mut conn = server();
    let mut input = masked(0x88, &[0x03, 0xe8]);
    for _ in 0..1000 {
        input.extend(masked(0x82, &[0; 100]));
    }
    let (events, peak) = peak_heap(|| {
        conn.receive(&input);
        let (events, error) = drain(&mut conn);
        assert!(error.is_none());
        conn.receive(&input);
        events + drain(&mut conn).0
    });
    assert_eq!(events, 1, "only the close");
    assert_eq!(conn.state(), State::Closed);
    assert!(peak < 2 * input.len() + SMALL);
}

#[test]
fn a_handshake_with_10000_headers_is_refused_with_431() {
    let mut request = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..10_000 {
        request.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let (result, peak) = peak_heap(|| read_request(&request, &Config::default()).map(|_| ()));
    assert_eq!(result.unwrap_err().http_status(), Some(431));
    assert!(peak < SMALL, "held {peak} bytes");
}

#[test]
fn a_one_mib_header_line_is_refused_with_431_without_reading_it_all() {
    let (listener, client) = spawn_client(|mut stream| {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
            .unwrap();
        // The server stops reading at the limit; the rest of this write may fail, which is the point.
        let _ = stream.write_all(&vec![b'a'; 1 << 20]);
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    });
    let stream = listen_once(&listener);
    let (result, peak) = peak_heap(|| accept(stream, &Config::default()).map(|_| ()));
    assert_eq!(result.unwrap_err().http_status(), Some(431));
    assert!(peak < SMALL, "held {peak} bytes");
    assert!(client
        .join()
        .unwrap()
        .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

#[test]
fn a_trickled_handshake_is_ended_by_the_handshake_timeout_with_408() {
    let (listener, client) = spawn_client(|mut stream| {
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n".iter() {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    });
    let stream = listen_once(&listener);
    let config = Config::default().handshake_timeout(Duration::from_millis(200));
    let error = accept(stream, &config).map(|_| ()).unwrap_err();
    assert_eq!(error.http_status(), Some(408));
    assert!(client
        .join()
        .unwrap()
        .starts_with("HTTP/1.1 408 Request Timeout\r\n"));
}

#[test]
fn a_request_that_is_not_http_is_refused_with_400() {
    let (listener, client) = spawn_client(|mut stream| {
        stream
            .write_all(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 TLS hello, not HTTP\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    });
    let stream = listen_once(&listener);
    let error = accept(stream, &Config::default()).map(|_| ()).unwrap_err();
    assert_eq!(error.http_status(), Some(400));
    assert!(client
        .join()
        .unwrap()
        .starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

/// A listener on a free port, and a client thread that connects to it and runs `talk`.
fn spawn_client<T: Send + 'static>(
    talk: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (TcpListener, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || talk(TcpStream::connect(addr).unwrap()));
    (listener, client)
}

fn listen_once(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

#[test]
fn a_silent_peer_is_failed_with_1011_one_ping_timeout_after_the_keepalive_ping() {
    // A simulated clock: every instant is computed, nothing sleeps.
    let interval = Duration::from_secs(30);
    let timeout = Duration::from_secs(10);
    let close_timeout = Duration::from_secs(5);
    let config = Config::default()
        .ping_interval(Some(interval))
        .ping_timeout(timeout)
        .close_timeout(close_timeout);
    let mut conn = Connection::new(Role::Server, &config);
    let t0 = Instant::now();
    let just_before = Duration::from_nanos(1);
    conn.handle_timeout(t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + interval));
    conn.handle_timeout(t0 + interval - just_before);
    assert_eq!(conn.pending_output(), [], "not a moment early");

    conn.handle_timeout(t0 + interval);
    assert_eq!(conn.pending_output(), [0x89, 0x00], "an empty ping");
    conn.consume_output(2);
    assert_eq!(conn.poll_timeout(), Some(t0 + interval + timeout));
    conn.handle_timeout(t0 + interval + timeout - just_before);
    assert!(matches!(conn.next_event(), Ok(None)));
    assert_eq!(conn.state(), State::Open);

    conn.handle_timeout(t0 + interval + timeout);
    let mut close = vec![0x88, 19, 0x03, 0xf3];
    close.extend_from_slice(b"keepalive timeout");
    assert_eq!(conn.pending_output(), close, "close 1011, reason included");
    assert!(matches!(conn.next_event(), Err(Error::KeepaliveTimeout)));
    assert!(matches!(conn.next_event(), Ok(None)), "reported once");
    assert_eq!(conn.state(), State::Closed);
    // A pong that comes too late changes nothing.
    conn.receive(&masked(0x8a, b""));
    assert!(matches!(conn.next_event(), Ok(None)));
    conn.consume_output(close.len());
    assert!(conn.should_close_transport());
    // The peer then has the close timeout to end the transport.
    let failed = t0 + interval + timeout;
    assert_eq!(conn.poll_timeout(), Some(failed + close_timeout));
    assert!(!conn.is_drained());
    conn.handle_timeout(failed + close_timeout);
    assert!(conn.is_drained());
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn any_bytes_from_the_peer_before_the_ping_timeout_keep_the_connection_open() {
    let interval = Duration::from_secs(30);
    let timeout = Duration::from_secs(10);
    let config = Config::default()
        .ping_interval(Some(interval))
        .ping_timeout(timeout);
    let mut conn = Connection::new(Role::Server, &config);
    let t0 = Instant::now();
    conn.handle_timeout(t0);
    conn.handle_timeout(t0 + interval);
    conn.consume_output(2);
    // Half a frame, a second before the deadline: the peer is alive.
    let answered = t0 + interval + timeout - Duration::from_secs(1);
    conn.receive(&masked(0x82, &[0; 10])[..3]);
    conn.handle_timeout(answered);
    assert_eq!(conn.poll_timeout(), Some(answered + interval));
    conn.handle_timeout(t0 + interval + timeout);
    assert_eq!(conn.pending_output(), [], "no failure");
    assert_eq!(conn.state(), State::Open);
}

/// How many silent connections test the echo server; both ends live in processes of their own, and
/// `ulimit -n` here (20000) is far above it.
const SILENT: usize = 2000;
/// The cap given to the echo server (`--max-connections`).
const MAX_CONNECTIONS: usize = 1024;
/// The echo server's own threads, at most: the main one, the accepting or loop thread, and the one
/// waiting for SIGTERM.
const SERVER_THREADS: usize = 3;

#[test]
fn silent_connections_to_the_blocking_echo_server_are_answered_408_or_503_in_bounded_threads_and_memory(
) {
    silent_connections_to_the_echo_server("blocking");
}

#[cfg(feature = "mio")]
#[test]
fn silent_connections_to_the_event_loop_echo_server_are_answered_408_or_503_in_bounded_threads_and_memory(
) {
    silent_connections_to_the_echo_server("mio");
}

fn silent_connections_to_the_echo_server(driver: &str) {
    let deadline = Duration::from_millis(500);
    let cap = MAX_CONNECTIONS.to_string();
    let server = EchoServer::start(&[
        "--handshake-timeout-ms",
        "500",
        "--max-connections",
        &cap,
        "--driver",
        driver,
    ]);
    let (threads_at_start, rss_at_start) = server.threads_and_rss_kib();
    let (mut most_threads, mut most_rss) = (threads_at_start, rss_at_start);
    let start = Instant::now();
    let mut peers = Vec::with_capacity(SILENT);
    for i in 0..SILENT {
        // Connecting faster than the server accepts would overflow its accept queue: the dropped SYN
        // is retried only after a second. Keep the queue well under its 128.
        while i % 32 == 0 && server.accept_queue_len() > 64 {
            thread::yield_now();
        }
        let peer = TcpStream::connect(server.addr).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        peers.push((peer, Instant::now()));
        if i % 100 == 99 {
            let (threads, rss) = server.threads_and_rss_kib();
            most_threads = most_threads.max(threads);
            most_rss = most_rss.max(rss);
        }
    }
    let connected = start.elapsed();
    let (threads, rss) = server.threads_and_rss_kib();
    let (most_threads, most_rss) = (most_threads.max(threads), most_rss.max(rss));

    let (mut timed_out, mut refused) = (0, 0);
    for (mut peer, opened) in peers {
        let mut response = Vec::new();
        if let Err(e) = peer.read_to_end(&mut response) {
            panic!("a reset or a hang instead of an answer: {e}, after {response:?}");
        }
        if response.starts_with(b"HTTP/1.1 408 Request Timeout\r\n") {
            timed_out += 1;
            assert!(opened.elapsed() >= deadline, "408 before the deadline");
        } else if response.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n") {
            refused += 1;
        } else {
            panic!("unexpected answer {:?}", String::from_utf8_lossy(&response));
        }
    }
    let all_answered = start.elapsed();
    // Every handshake thread ends once its 408 is written; give the last ones a moment to exit.
    let mut threads_after = server.threads_and_rss_kib().0;
    let waiting = Instant::now();
    while threads_after > SERVER_THREADS && waiting.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(10));
        threads_after = server.threads_and_rss_kib().0;
    }
    eprintln!(
        "{SILENT} silent connections in {connected:?}: {timed_out} answered 408, {refused} 503, all by \
         {all_answered:?}; threads {threads_at_start} -> at most {most_threads} -> {threads_after}; \
         VmRSS {rss_at_start} KiB -> at most {most_rss} KiB"
    );
    assert_eq!(timed_out + refused, SILENT);
    // The first MAX_CONNECTIONS always get a thread; more do only if earlier ones ended meanwhile.
    assert!(timed_out >= MAX_CONNECTIONS, "{timed_out} answered 408");
    if connected < deadline {
        assert_eq!(refused, SILENT - MAX_CONNECTIONS);
    }
    assert!(
        all_answered <= connected + deadline + Duration::from_secs(2),
        "all answered and closed after {all_answered:?}"
    );
    // At most one thread per connection under the cap beside the server's own three at most: the
    // main thread, the accepting or loop thread, the one waiting for signals.
    assert!(
        most_threads <= MAX_CONNECTIONS + SERVER_THREADS,
        "{most_threads} threads"
    );
    // A thread's small stack (256 KiB reserved, a few pages touched) and its connection: measured at
    // about 30 KiB per thread (2.3 MiB -> 33 MiB with 1024 threads). 64 KiB per connection allows for
    // allocator arenas, yet not a 64 KiB buffer per handshake on top of what was measured.
    assert!(
        most_rss <= rss_at_start + (MAX_CONNECTIONS * 64),
        "VmRSS grew from {rss_at_start} KiB to {most_rss} KiB"
    );
    assert!(
        threads_after <= SERVER_THREADS,
        "{threads_after} threads after the deadline"
    );
}
