//! loadgen: a WebSocket echo load generator on one mio loop, for `benches/echo.sh`.
//!
//! It opens `--connections` client connections (at most `--max-pending` handshakes at once, so a listen
//! backlog of 128 never overflows), keeps `--in-flight` binary messages of `--size` bytes outstanding on
//! each, and checks that every echo comes back byte-exact, in order, as one binary message. After a
//! warm-up it counts echoes for `--duration` seconds, then stops sending, waits for every outstanding
//! echo, checks that each connection got back as many messages as it sent, and closes every connection
//! with the close handshake (§7.1.2: it waits for the server to drop TCP).
//!
//! `--idle` instead opens the connections, does one echo on each, prints
//! `loadgen: N idle connections open` on stderr, holds them for `--hold` seconds (answering pings) so
//! that a script can read the server's memory, then closes them all.
//!
//! The result is one JSON line on stdout. Any protocol error, mismatch, lost or extra echo, or failed
//! close ends the run at once: the JSON line then carries `"errors":1` and the reason, and the exit
//! status is 1. Throughput is echoed messages per second; `mb_per_s` counts echoed payload bytes (one
//! direction) in 10^6 bytes per second. Latency (`--latency`) is the time from queueing a message to
//! parsing its echo, for echoes received within the measured window.

mod frame;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use frame::{FrameError, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};

/// The sample nonce of RFC 6455 §1.3 and its accept value. A server cannot tell a fixed nonce from a
/// random one, and a known pair lets us check `Sec-WebSocket-Accept` without carrying SHA-1.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// A 101 response longer than this is a broken server, not a slow one.
const MAX_RESPONSE: usize = 16 << 10;

const USAGE: &str = "usage: loadgen --url ws://HOST:PORT/PATH [--connections N] [--size BYTES] \
[--in-flight W] [--duration SECS] [--warmup SECS] [--latency] [--idle] [--hold SECS] \
[--max-pending N] [--timeout SECS]";

struct Options {
    addr: SocketAddr,
    host: String,
    path: String,
    connections: usize,
    size: usize,
    in_flight: usize,
    duration: Duration,
    warmup: Duration,
    latency: bool,
    idle: bool,
    hold: Duration,
    max_pending: usize,
    /// Bound on each phase that waits for the server: connecting, draining echoes, closing.
    timeout: Duration,
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("loadgen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut run = match Run::new(&options) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match options.idle {
        true => run.idle(),
        false => run.load(),
    };
    println!("{}", run.report(&outcome));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut url = None;
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        host: String::new(),
        path: String::new(),
        connections: 1,
        size: 32,
        in_flight: 1,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        latency: false,
        idle: false,
        hold: Duration::from_secs(5),
        max_pending: 100,
        timeout: Duration::from_secs(30),
    };
    fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
        let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
        value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))
    }
    fn seconds(flag: &str, value: Option<String>) -> Result<Duration, String> {
        let secs: f64 = number(flag, value)?;
        Duration::try_from_secs_f64(secs).map_err(|_| format!("{flag}: bad duration {secs}"))
    }
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--url" => url = args.next(),
            "--connections" => options.connections = number(&flag, args.next())?,
            "--size" => options.size = number(&flag, args.next())?,
            "--in-flight" => options.in_flight = number(&flag, args.next())?,
            "--duration" => options.duration = seconds(&flag, args.next())?,
            "--warmup" => options.warmup = seconds(&flag, args.next())?,
            "--latency" => options.latency = true,
            "--idle" => options.idle = true,
            "--hold" => options.hold = seconds(&flag, args.next())?,
            "--max-pending" => options.max_pending = number(&flag, args.next())?,
            "--timeout" => options.timeout = seconds(&flag, args.next())?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let rest = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    options.addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    options.host = authority.to_owned();
    options.path = path.to_owned();
    if options.connections == 0 || options.in_flight == 0 || options.max_pending == 0 {
        return Err("--connections, --in-flight and --max-pending must be at least 1".into());
    }
    Ok(options)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    /// Upgrade request queued; waiting for `101`.
    Handshake,
    Open,
    /// Our close frame is queued; waiting for the server's, then for it to drop TCP.
    Closing,
    Closed,
}

struct Conn {
    id: usize,
    stream: TcpStream,
    state: State,
    /// Received bytes live in `rbuf[rstart..rend]`; `rbuf.len()` is the capacity in use.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Bytes to send live in `wbuf[wpos..]`.
    wbuf: Vec<u8>,
    wpos: usize,
    /// False after a write hit `WouldBlock`, until mio reports the socket writable again.
    writable: bool,
    sent: u64,
    received: u64,
    /// When each outstanding message was queued (only with `--latency`).
    send_times: VecDeque<Instant>,
    /// Opcode and payload of a fragmented message being reassembled.
    fragments: Option<(u8, Vec<u8>)>,
    close_received: bool,
    rng: u64,
}

/// Counters over all connections.
#[derive(Default)]
struct Totals {
    received: u64,
    outstanding: u64,
    open: usize,
    pending: usize,
    closed: usize,
    pings: u64,
}

struct Run<'a> {
    options: &'a Options,
    poll: Poll,
    conns: Vec<Option<Conn>>,
    started: usize,
    totals: Totals,
    /// Whether open connections top up their messages in flight.
    sending: bool,
    /// Messages each connection sends at most (`--idle`: one).
    per_conn_limit: u64,
    /// Round-trip times in ns, kept while `recording` is true.
    recording: bool,
    rtts: Vec<u64>,
    /// Random bytes; message `seq` of connection `id` is a window into it, tagged with both.
    pattern: Vec<u8>,
    measured: Option<Measured>,
}

struct Measured {
    messages: u64,
    elapsed: Duration,
    cpu: Option<f64>,
}

impl<'a> Run<'a> {
    fn new(options: &'a Options) -> io::Result<Self> {
        let mut rng = 0x9E37_79B9_7F4A_7C15;
        let pattern = (0..options.size + 256)
            .map(|_| next(&mut rng) as u8)
            .collect();
        Ok(Run {
            options,
            poll: Poll::new()?,
            conns: (0..options.connections).map(|_| None).collect(),
            started: 0,
            totals: Totals::default(),
            sending: true,
            per_conn_limit: u64::MAX,
            recording: false,
            rtts: Vec::new(),
            pattern,
            measured: None,
        })
    }

    fn load(&mut self) -> Result<(), String> {
        let o = self.options;
        self.pump("connecting", o.timeout, |r| r.totals.open == o.connections)?;
        let warm = Instant::now() + o.warmup;
        self.pump("warm-up", o.warmup + o.timeout, |_| Instant::now() >= warm)?;

        let before = self.totals.received;
        let cpu_before = thread_cpu();
        let start = Instant::now();
        self.recording = o.latency;
        let end = start + o.duration;
        self.pump("measuring", o.duration + o.timeout, |_| {
            Instant::now() >= end
        })?;
        self.recording = false;
        let elapsed = start.elapsed();
        let cpu = match (cpu_before, thread_cpu()) {
            (Some(a), Some(b)) => Some((b - a) as f64 / elapsed.as_nanos() as f64),
            _ => None,
        };
        self.measured = Some(Measured {
            messages: self.totals.received - before,
            elapsed,
            cpu,
        });

        self.sending = false;
        self.pump("draining echoes", o.timeout, |r| r.totals.outstanding == 0)?;
        self.check_counts()?;
        self.close_all()
    }

    fn idle(&mut self) -> Result<(), String> {
        let o = self.options;
        self.per_conn_limit = 1;
        let n = o.connections as u64;
        let start = Instant::now();
        self.pump("connecting", o.timeout, |r| {
            r.totals.open == o.connections && r.totals.received == n
        })?;
        self.check_counts()?;
        eprintln!(
            "loadgen: {} idle connections open after {:.1} s; holding {:.1} s",
            o.connections,
            start.elapsed().as_secs_f64(),
            o.hold.as_secs_f64()
        );
        let end = Instant::now() + o.hold;
        self.pump("holding", o.hold + o.timeout, |_| Instant::now() >= end)?;
        self.close_all()
    }

    fn check_counts(&self) -> Result<(), String> {
        for conn in self.conns.iter().flatten() {
            if conn.sent != conn.received {
                return Err(format!(
                    "connection {}: sent {} messages, {} echoed",
                    conn.id, conn.sent, conn.received
                ));
            }
        }
        Ok(())
    }

    fn close_all(&mut self) -> Result<(), String> {
        for slot in &mut self.conns {
            let conn = slot.as_mut().ok_or("a connection was never opened")?;
            // §7.4.1: 1000, normal closure.
            let key = mask_key(&mut conn.rng);
            frame::encode_masked(&mut conn.wbuf, OP_CLOSE, &1000u16.to_be_bytes(), key);
            conn.state = State::Closing;
            if conn.writable {
                flush(conn)?;
            }
        }
        let n = self.options.connections;
        self.pump("closing", self.options.timeout, |r| r.totals.closed == n)
    }

    /// Runs the loop until `done` or until `limit` has passed; starting connections as slots free up.
    fn pump(
        &mut self,
        phase: &str,
        limit: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut events = Events::with_capacity(1024);
        loop {
            self.start_connections()?;
            if done(self) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "{phase}: timed out after {:.1} s ({} open, {} pending, {} closed, {} echoes outstanding)",
                    limit.as_secs_f64(),
                    self.totals.open,
                    self.totals.pending,
                    self.totals.closed,
                    self.totals.outstanding
                ));
            }
            // Wake at least every 10 ms: phases end on the clock, not only on events.
            let wait = (deadline - now).min(Duration::from_millis(10));
            self.poll
                .poll(&mut events, Some(wait))
                .map_err(|e| format!("poll: {e}"))?;
            for event in events.iter() {
                let id = event.token().0;
                self.service(id, event.is_readable(), event.is_read_closed())
                    .map_err(|e| format!("connection {id}: {e}"))?;
                if event.is_writable() || event.is_write_closed() {
                    self.service_write(id)
                        .map_err(|e| format!("connection {id}: {e}"))?;
                }
            }
        }
    }

    fn start_connections(&mut self) -> Result<(), String> {
        while self.started < self.options.connections
            && self.totals.pending < self.options.max_pending
        {
            let id = self.started;
            let mut stream = TcpStream::connect(self.options.addr)
                .map_err(|e| format!("connection {id}: connect: {e}"))?;
            self.poll
                .registry()
                .register(
                    &mut stream,
                    Token(id),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("connection {id}: register: {e}"))?;
            let capacity = (self.options.size + 14)
                .saturating_mul(self.options.in_flight)
                .clamp(4 << 10, 1 << 20);
            self.conns[id] = Some(Conn {
                id,
                stream,
                state: State::Connecting,
                rbuf: vec![0; capacity],
                rstart: 0,
                rend: 0,
                wbuf: Vec::new(),
                wpos: 0,
                writable: false,
                sent: 0,
                received: 0,
                send_times: VecDeque::new(),
                fragments: None,
                close_received: false,
                rng: 0x2545_F491_4F6C_DD1D ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            });
            self.started += 1;
            self.totals.pending += 1;
        }
        Ok(())
    }

    fn service_write(&mut self, id: usize) -> Result<(), String> {
        let Some(conn) = self.conns.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        if conn.state == State::Connecting {
            return self.service(id, false, false);
        }
        conn.writable = true;
        flush(conn)
    }

    /// Reads everything the socket has, handles it, tops up the messages in flight and writes.
    fn service(&mut self, id: usize, readable: bool, read_closed: bool) -> Result<(), String> {
        let Some(mut conn) = self.conns.get_mut(id).and_then(Option::take) else {
            return Ok(());
        };
        let result = self.service_conn(&mut conn, readable || read_closed, read_closed);
        let closed = conn.state == State::Closed;
        if closed {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        } else {
            self.conns[id] = Some(conn);
        }
        result
    }

    fn service_conn(
        &mut self,
        conn: &mut Conn,
        readable: bool,
        read_closed: bool,
    ) -> Result<(), String> {
        if conn.state == State::Connecting {
            // mio's connect protocol: an event, then `take_error`, then `peer_addr` says whether the
            // connection is established (NotConnected: not yet, wait for the next event).
            if let Some(e) = conn.stream.take_error().map_err(|e| e.to_string())? {
                return Err(format!("connect: {e}"));
            }
            match conn.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(format!("connect: {e}")),
            }
            conn.stream
                .set_nodelay(true)
                .map_err(|e| format!("set_nodelay: {e}"))?;
            conn.state = State::Handshake;
            conn.writable = true;
            write!(
                conn.wbuf,
                "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n",
                self.options.path, self.options.host
            )
            .map_err(|e| e.to_string())?;
            flush(conn)?;
        }
        if readable {
            self.read_all(conn, read_closed)?;
        }
        if conn.state == State::Open && self.sending {
            self.top_up(conn);
        }
        if conn.writable {
            flush(conn)?;
        }
        Ok(())
    }

    /// Reads and handles what the socket holds; `read_closed` (the peer's FIN was in the event) means
    /// reading on to EOF.
    fn read_all(&mut self, conn: &mut Conn, read_closed: bool) -> Result<(), String> {
        loop {
            if conn.rend == conn.rbuf.len() {
                // Move the unparsed tail to the front, and grow only for a frame longer than the buffer.
                conn.rbuf.copy_within(conn.rstart..conn.rend, 0);
                conn.rend -= conn.rstart;
                conn.rstart = 0;
                if conn.rend == conn.rbuf.len() {
                    let len = conn.rbuf.len() * 2;
                    conn.rbuf.resize(len, 0);
                }
            }
            match conn.stream.read(&mut conn.rbuf[conn.rend..]) {
                Ok(0) => return self.on_eof(conn),
                Ok(n) => {
                    let short = conn.rend + n < conn.rbuf.len() && !read_closed;
                    conn.rend += n;
                    self.handle_input(conn)?;
                    // A short read emptied the socket: bytes or a FIN that arrive later raise a new
                    // edge (epoll re-arms an edge-triggered entry on every arrival once it has been
                    // reported), so the read that would only say WouldBlock is saved: with 1,000
                    // connections, a third of the load generator's system calls. A FIN that came
                    // before the event is in the event (`read_closed`): then we read on to EOF.
                    if short {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read ({:?}): {e}", conn.state)),
            }
        }
    }

    fn on_eof(&mut self, conn: &mut Conn) -> Result<(), String> {
        if conn.state == State::Closing && conn.close_received {
            if conn.rstart != conn.rend {
                return Err("bytes after the close frame".into());
            }
            conn.state = State::Closed;
            self.totals.closed += 1;
            self.totals.open -= 1;
            return Ok(());
        }
        Err(format!(
            "the server closed TCP in state {:?} (close frame received: {})",
            conn.state, conn.close_received
        ))
    }

    fn handle_input(&mut self, conn: &mut Conn) -> Result<(), String> {
        if conn.state == State::Handshake {
            let data = &conn.rbuf[conn.rstart..conn.rend];
            let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                if data.len() > MAX_RESPONSE {
                    return Err("no end to the handshake response".into());
                }
                return Ok(());
            };
            check_response(&data[..end + 4])?;
            conn.rstart += end + 4;
            conn.state = State::Open;
            self.totals.pending -= 1;
            self.totals.open += 1;
        }
        loop {
            let data = &conn.rbuf[conn.rstart..conn.rend];
            let header = match frame::parse_header(data) {
                Ok(Some(header)) => header,
                Ok(None) => return Ok(()),
                Err(e) => return Err(protocol_error(e)),
            };
            // An echo is never longer than what we sent; a longer frame would only grow our buffer.
            let limit = self.options.size.max(125) as u64;
            if header.payload_len > limit {
                return Err(format!(
                    "a frame of {} bytes, longer than any message sent",
                    header.payload_len
                ));
            }
            let total = header.header_len + header.payload_len as usize;
            if data.len() < total {
                return Ok(());
            }
            let payload = conn.rstart + header.header_len..conn.rstart + total;
            conn.rstart += total;
            if conn.rstart == conn.rend {
                conn.rstart = 0;
                conn.rend = 0;
            }
            if conn.close_received {
                return Err("a frame after the close frame".into());
            }
            match header.opcode {
                // §5.5.1: nothing follows our close frame, not even a pong.
                OP_PING if conn.state == State::Closing => {}
                OP_PING => {
                    self.totals.pings += 1;
                    let key = mask_key(&mut conn.rng);
                    let pong = conn.rbuf[payload].to_vec();
                    frame::encode_masked(&mut conn.wbuf, OP_PONG, &pong, key);
                }
                OP_PONG => {}
                OP_CLOSE => {
                    if conn.state != State::Closing {
                        return Err(format!(
                            "the server sent a close frame: {}",
                            describe_close(&conn.rbuf[payload])
                        ));
                    }
                    let body = &conn.rbuf[payload];
                    if body.len() >= 2 && body[..2] != 1000u16.to_be_bytes() {
                        return Err(format!("closed with {}", describe_close(body)));
                    }
                    conn.close_received = true;
                }
                OP_TEXT | OP_BINARY if conn.fragments.is_some() => {
                    return Err("a new message inside a fragmented one (§5.4)".into());
                }
                OP_TEXT | OP_BINARY if !header.fin => {
                    conn.fragments = Some((header.opcode, conn.rbuf[payload].to_vec()));
                }
                OP_TEXT | OP_BINARY => {
                    // Split borrow: the payload stays in `rbuf` while the counters change.
                    let Conn {
                        rbuf,
                        send_times,
                        received,
                        sent,
                        id,
                        ..
                    } = conn;
                    self.on_message(
                        *id,
                        header.opcode,
                        &rbuf[payload],
                        sent,
                        received,
                        send_times,
                    )?;
                }
                OP_CONTINUATION => {
                    let Some((opcode, mut message)) = conn.fragments.take() else {
                        return Err("a continuation frame with no message to continue".into());
                    };
                    message.extend_from_slice(&conn.rbuf[payload]);
                    if message.len() > self.options.size {
                        return Err("a fragmented message longer than any sent".into());
                    }
                    if header.fin {
                        let Conn {
                            send_times,
                            received,
                            sent,
                            id,
                            ..
                        } = conn;
                        self.on_message(*id, opcode, &message, sent, received, send_times)?;
                    } else {
                        conn.fragments = Some((opcode, message));
                    }
                }
                other => unreachable!("parse_header let opcode {other:#x} through"),
            }
        }
    }

    /// Checks one echoed message against the one we sent with the same sequence number.
    fn on_message(
        &mut self,
        id: usize,
        opcode: u8,
        payload: &[u8],
        sent: &u64,
        received: &mut u64,
        send_times: &mut VecDeque<Instant>,
    ) -> Result<(), String> {
        if opcode != OP_BINARY {
            return Err(format!(
                "echo {received} came back with opcode {opcode:#x}, not binary"
            ));
        }
        if *received >= *sent {
            return Err(format!(
                "an extra message: {} echoes for {sent} sent",
                *received + 1
            ));
        }
        if let Err(at) = check_message(&self.pattern, self.options.size, id, *received, payload) {
            return Err(format!(
                "echo {received} differs from the message sent: {} bytes for {}, first difference at byte {at}",
                payload.len(),
                self.options.size
            ));
        }
        if let Some(at) = send_times.pop_front() {
            if self.recording {
                self.rtts.push(at.elapsed().as_nanos() as u64);
            }
        }
        *received += 1;
        self.totals.received += 1;
        self.totals.outstanding -= 1;
        Ok(())
    }

    fn top_up(&mut self, conn: &mut Conn) {
        let want = self.options.in_flight as u64;
        while conn.sent - conn.received < want && conn.sent < self.per_conn_limit {
            let key = mask_key(&mut conn.rng);
            encode_message(
                &self.pattern,
                self.options.size,
                conn.id,
                conn.sent,
                key,
                &mut conn.wbuf,
            );
            if self.options.latency {
                conn.send_times.push_back(Instant::now());
            }
            conn.sent += 1;
            self.totals.outstanding += 1;
        }
    }

    fn report(&self, outcome: &Result<(), String>) -> String {
        let o = self.options;
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"mode\":\"{}\",\"connections\":{},\"size\":{},\"in_flight\":{}",
            if o.idle { "idle" } else { "load" },
            o.connections,
            o.size,
            o.in_flight
        );
        if let Some(m) = &self.measured {
            let secs = m.elapsed.as_secs_f64();
            let rate = m.messages as f64 / secs;
            let _ = write!(
                out,
                ",\"duration_s\":{secs:.3},\"messages\":{},\"msgs_per_s\":{rate:.1},\"mb_per_s\":{:.3}",
                m.messages,
                rate * o.size as f64 / 1e6
            );
            if let Some(cpu) = m.cpu {
                let _ = write!(out, ",\"loadgen_cpu\":{cpu:.3}");
            }
        }
        if o.latency && !self.rtts.is_empty() {
            let mut rtts = self.rtts.clone();
            rtts.sort_unstable();
            for (name, q) in [("p50_us", 0.50), ("p99_us", 0.99), ("p999_us", 0.999)] {
                let _ = write!(out, ",\"{name}\":{:.1}", percentile(&rtts, q) as f64 / 1e3);
            }
            let _ = write!(out, ",\"latency_samples\":{}", rtts.len());
        }
        let _ = write!(out, ",\"pings\":{}", self.totals.pings);
        match outcome {
            Ok(()) => out.push_str(",\"errors\":0}"),
            Err(e) => {
                let _ = write!(out, ",\"errors\":1,\"error\":\"{}\"}}", json_escape(e));
            }
        }
        out
    }
}

/// Writes as much of the output as the socket takes.
fn flush(conn: &mut Conn) -> Result<(), String> {
    while conn.wpos < conn.wbuf.len() {
        match conn.stream.write(&conn.wbuf[conn.wpos..]) {
            Ok(0) => return Err("write returned 0".into()),
            Ok(n) => conn.wpos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.writable = false;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write ({:?}): {e}", conn.state)),
        }
    }
    if conn.wpos == conn.wbuf.len() {
        conn.wbuf.clear();
        conn.wpos = 0;
    } else if conn.wpos > conn.wbuf.len() / 2 {
        conn.wbuf.drain(..conn.wpos);
        conn.wpos = 0;
    }
    Ok(())
}

/// Checks a complete `101` response: status, `Upgrade`, `Connection` and `Sec-WebSocket-Accept`.
fn check_response(head: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(head).map_err(|_| "a handshake response that is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("handshake refused: {status:?}"));
    }
    let (mut upgrade, mut connection, mut accept) = (false, false, false);
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("a header line without a colon: {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection = value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            if value != ACCEPT {
                return Err(format!("wrong Sec-WebSocket-Accept: {value}"));
            }
            accept = true;
        }
    }
    match (upgrade, connection, accept) {
        (true, true, true) => Ok(()),
        _ => Err(format!(
            "incomplete 101: upgrade {upgrade}, connection {connection}, accept {accept}"
        )),
    }
}

fn protocol_error(e: FrameError) -> String {
    format!("protocol error: {e}")
}

fn describe_close(body: &[u8]) -> String {
    match body {
        [] => "no status".to_owned(),
        [hi, lo, reason @ ..] => format!(
            "code {} {:?}",
            u16::from_be_bytes([*hi, *lo]),
            String::from_utf8_lossy(reason)
        ),
        _ => "a one-byte close body".to_owned(),
    }
}

/// Message `seq` of connection `id` is a window of the random pattern that moves with `seq`, its first
/// eight bytes replaced by the connection and sequence number, so that a reordered, repeated or
/// misdelivered echo differs from the one expected. Returns the window's offset and the tag.
fn message_parts(id: usize, seq: u64) -> (usize, [u8; 8]) {
    let offset = (seq % 256) as usize;
    let tag = ((id as u64) << 40 | (seq & ((1 << 40) - 1))).to_le_bytes();
    (offset, tag)
}

/// Appends message `seq` of connection `id` as a masked binary frame, built straight from the pattern.
fn encode_message(
    pattern: &[u8],
    size: usize,
    id: usize,
    seq: u64,
    key: [u8; 4],
    out: &mut Vec<u8>,
) {
    let (offset, tag) = message_parts(id, seq);
    frame::encode_masked(out, OP_BINARY, &pattern[offset..offset + size], key);
    let n = size.min(8);
    let body = out.len() - size;
    for (i, byte) in tag[..n].iter().enumerate() {
        out[body + i] = byte ^ key[i % 4];
    }
}

/// Compares an echo with message `seq` of connection `id` without building it: `Err` holds the first
/// byte that differs.
fn check_message(
    pattern: &[u8],
    size: usize,
    id: usize,
    seq: u64,
    payload: &[u8],
) -> Result<(), usize> {
    let (offset, tag) = message_parts(id, seq);
    let n = size.min(8);
    let expected_rest = &pattern[offset + n..offset + size];
    if payload.len() == size && payload[..n] == tag[..n] && payload[n..] == *expected_rest {
        return Ok(());
    }
    let expected = tag[..n].iter().chain(expected_rest);
    let at = payload.iter().zip(expected).position(|(a, b)| a != b);
    Err(at.unwrap_or(payload.len().min(size)))
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// xorshift64*: mask keys and the pattern need to be unpredictable to a server, not secure.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn mask_key(rng: &mut u64) -> [u8; 4] {
    (next(rng) as u32).to_ne_bytes()
}

/// CPU time this thread has used, in ns (Linux's schedstat), to show when the load generator itself is
/// the bottleneck.
fn thread_cpu() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    #[test]
    fn accepts_a_complete_101() {
        assert_eq!(check_response(GOOD.as_bytes()), Ok(()));
        let lower = GOOD.replace("Upgrade: websocket", "upgrade: WebSocket");
        assert_eq!(check_response(lower.as_bytes()), Ok(()));
    }

    #[test]
    fn rejects_a_refusal_or_a_wrong_accept() {
        assert!(check_response(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_err());
        let wrong = GOOD.replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAA");
        assert!(check_response(wrong.as_bytes()).is_err());
        let missing = GOOD.replace("Connection: Upgrade\r\n", "");
        assert!(check_response(missing.as_bytes()).is_err());
    }

    /// Unmasks the payload of the one frame in `wire` (header of 2, 4 or 10 bytes plus the key).
    fn unmask(wire: &[u8]) -> Vec<u8> {
        let header_len = match wire[1] & 0x7F {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        let key = [
            wire[header_len],
            wire[header_len + 1],
            wire[header_len + 2],
            wire[header_len + 3],
        ];
        let mut payload = wire[header_len + 4..].to_vec();
        frame::apply_mask(&mut payload, key);
        payload
    }

    #[test]
    fn an_encoded_message_checks_as_its_own_echo() {
        let pattern: Vec<u8> = (0..1000 + 256).map(|i| (i * 13 + i / 7) as u8).collect();
        for size in [0, 1, 3, 8, 9, 125, 126, 1000] {
            for (id, seq) in [(0, 0), (3, 1), (999, 255), (7, 256), (1, 1 << 41)] {
                let mut wire = Vec::new();
                encode_message(&pattern, size, id, seq, [9, 8, 7, 6], &mut wire);
                let payload = unmask(&wire);
                assert_eq!(payload.len(), size);
                assert_eq!(
                    check_message(&pattern, size, id, seq, &payload),
                    Ok(()),
                    "{size} {id} {seq}"
                );
            }
        }
    }

    #[test]
    fn an_echo_of_another_message_fails_the_check() {
        let pattern: Vec<u8> = (0..64 + 256).map(|i| (i * 13 + i / 7) as u8).collect();
        let mut wire = Vec::new();
        encode_message(&pattern, 64, 2, 10, [1, 2, 3, 4], &mut wire);
        let payload = unmask(&wire);
        assert_eq!(
            check_message(&pattern, 64, 2, 11, &payload),
            Err(0),
            "the next message"
        );
        assert_eq!(
            check_message(&pattern, 64, 2, 10 + 256, &payload),
            Err(1),
            "same window"
        );
        assert_eq!(
            check_message(&pattern, 64, 3, 10, &payload),
            Err(5),
            "another connection"
        );
        let mut flipped = payload.clone();
        flipped[40] ^= 1;
        assert_eq!(check_message(&pattern, 64, 2, 10, &flipped), Err(40));
        assert_eq!(
            check_message(&pattern, 64, 2, 10, &payload[..63]),
            Err(63),
            "truncated"
        );
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&sorted, 0.5), 500);
        assert_eq!(percentile(&sorted, 0.99), 990);
        assert_eq!(percentile(&sorted, 0.999), 999);
        assert_eq!(percentile(&[7], 0.99), 7);
    }
}
