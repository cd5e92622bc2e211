//! The connections of one run, on one mio loop: connecting (at most `max_pending` handshakes at once,
//! so a listen backlog of 128 never overflows), the opening handshake, frames in (pings answered,
//! fragments reassembled, permessage-deflate inflated), frames out, and the close handshake. What a
//! run sends and what it expects back belong to its [`Workload`]; this file knows no workload.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::deflate::Inflater;
use crate::frame::{
    self, FrameError, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
};
use crate::handshake;

/// Where connections go: a `ws://HOST:PORT/PATH?QUERY` URL, resolved once.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or("only ws:// URLs are supported")?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        // IPv4 first: `localhost` (the TLS lanes' certificate name) may resolve to ::1 first, and
        // the servers under test listen on 127.0.0.1.
        let addrs: Vec<SocketAddr> = authority
            .to_socket_addrs()
            .map_err(|e| format!("{authority}: {e}"))?
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| format!("{authority}: no address"))?;
        Ok(Target {
            addr,
            host: authority.to_owned(),
            path,
        })
    }
}

/// What every connection of a run shares.
pub struct Settings {
    pub max_pending: usize,
    /// The longest frame payload a server may send: a longer one could only grow our buffers.
    pub max_frame: usize,
    /// The longest message, reassembled or inflated.
    pub max_message: usize,
    /// Initial read buffer per connection.
    pub read_capacity: usize,
    /// Offer permessage-deflate, and fail a connection whose server declines it.
    pub deflate: bool,
}

/// What a run does with its connections: the pool calls it for every data message and whenever a
/// connection may send.
pub trait Workload {
    /// A complete data message of connection `id`: reassembled, and inflated if it came compressed.
    fn message(&mut self, id: usize, message: Message<'_>) -> Result<(), String>;

    /// Connection `id` is open and may queue frames.
    fn top_up(&mut self, id: usize, out: &mut Outbox<'_>);

    /// A connection to top up after every batch of events although it had none of its own (the
    /// fan-out publisher, whose window the subscribers' deliveries move).
    fn idle_sender(&self) -> Option<usize> {
        None
    }

    /// Said after the connection counts when a phase times out.
    fn progress(&self) -> String;

    /// The measured window opens (`true`) or closes (`false`): the moment to read counters.
    fn measuring(&mut self, open: bool);

    /// Whether the warm-up may end (once its time is up): a workload can hold it until every
    /// connection has done what it does once only.
    fn warmed_up(&self) -> bool {
        true
    }
}

/// A measured window: how long it lasted, and how busy the load generator was in it (1.0: the client
/// may be the limit).
pub struct Window {
    pub elapsed: Duration,
    pub loadgen_cpu: Option<f64>,
}

/// A data message as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub opcode: u8,
    /// It came with RSV1 (permessage-deflate); `payload` is what it inflated to.
    pub compressed: bool,
    pub payload: &'a [u8],
}

/// Where a workload queues frames: the connection's output and its mask generator.
pub struct Outbox<'a> {
    pub wbuf: &'a mut Vec<u8>,
    rng: &'a mut u64,
}

impl<'a> Outbox<'a> {
    pub fn new(wbuf: &'a mut Vec<u8>, rng: &'a mut u64) -> Outbox<'a> {
        Outbox { wbuf, rng }
    }

    /// §5.3: a fresh key for each frame.
    pub fn mask_key(&mut self) -> [u8; 4] {
        crate::mask_key(self.rng)
    }
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
    /// Opcode, compression and payload of a fragmented message being reassembled.
    fragments: Option<(u8, bool, Vec<u8>)>,
    /// permessage-deflate, once negotiated.
    inflater: Option<Inflater>,
    close_received: bool,
    rng: u64,
}

/// Connection counts.
#[derive(Default)]
pub struct Counts {
    pub open: usize,
    pub pending: usize,
    pub closed: usize,
    pub pings: u64,
}

pub struct Pool {
    poll: Poll,
    settings: Settings,
    /// Connections in the order they are opened: `count` to each target in turn.
    plan: Vec<(Target, usize)>,
    total: usize,
    conns: Vec<Option<Conn>>,
    started: usize,
    pub counts: Counts,
}

impl Pool {
    pub fn new(plan: Vec<(Target, usize)>, settings: Settings) -> io::Result<Pool> {
        let total = plan.iter().map(|(_, count)| count).sum();
        Ok(Pool {
            poll: Poll::new()?,
            settings,
            plan,
            total,
            conns: (0..total).map(|_| None).collect(),
            started: 0,
            counts: Counts::default(),
        })
    }

    /// How many connections the run opens.
    pub fn total(&self) -> usize {
        self.total
    }

    fn target(&self, id: usize) -> &Target {
        let mut first = 0;
        for (target, count) in &self.plan {
            if id < first + count {
                return target;
            }
            first += count;
        }
        unreachable!("connection {id} beyond the plan")
    }

    /// Closes every connection with the close handshake (§7.1.2: the server drops TCP first), failing
    /// on anything else the server does.
    pub fn close_all<W: Workload>(
        &mut self,
        workload: &mut W,
        timeout: Duration,
    ) -> Result<(), String> {
        for slot in &mut self.conns {
            let conn = slot.as_mut().ok_or("a connection was never opened")?;
            // §7.4.1: 1000, normal closure.
            let key = crate::mask_key(&mut conn.rng);
            frame::encode_masked(&mut conn.wbuf, OP_CLOSE, &1000u16.to_be_bytes(), key);
            conn.state = State::Closing;
            if conn.writable {
                flush(conn)?;
            }
        }
        let n = self.total;
        self.pump(workload, "closing", timeout, |pool, _| {
            pool.counts.closed == n
        })
    }

    /// Warms up for `warmup` (and until the workload is warm), then runs the measured window for
    /// `duration`, telling the workload when it opens and closes.
    pub fn measure<W: Workload>(
        &mut self,
        workload: &mut W,
        warmup: Duration,
        duration: Duration,
        timeout: Duration,
    ) -> Result<Window, String> {
        let warm = Instant::now() + warmup;
        self.pump(workload, "warm-up", warmup + timeout, |_, w| {
            Instant::now() >= warm && w.warmed_up()
        })?;
        workload.measuring(true);
        let cpu_before = crate::thread_cpu();
        let start = Instant::now();
        let end = start + duration;
        self.pump(workload, "measuring", duration + timeout, |_, _| {
            Instant::now() >= end
        })?;
        let elapsed = start.elapsed();
        let loadgen_cpu = match (cpu_before, crate::thread_cpu()) {
            (Some(a), Some(b)) => Some((b - a) as f64 / elapsed.as_nanos() as f64),
            _ => None,
        };
        workload.measuring(false);
        Ok(Window {
            elapsed,
            loadgen_cpu,
        })
    }

    /// Runs the loop until `done` or until `limit` has passed; starting connections as slots free up.
    pub fn pump<W: Workload>(
        &mut self,
        workload: &mut W,
        phase: &str,
        limit: Duration,
        done: impl Fn(&Self, &W) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut events = Events::with_capacity(1024);
        loop {
            self.start_connections()?;
            if let Some(id) = workload.idle_sender() {
                self.refill(id, workload)
                    .map_err(|e| format!("connection {id}: {e}"))?;
            }
            if done(self, workload) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "{phase}: timed out after {:.1} s ({} open, {} pending, {} closed, {})",
                    limit.as_secs_f64(),
                    self.counts.open,
                    self.counts.pending,
                    self.counts.closed,
                    workload.progress()
                ));
            }
            // Wake at least every 10 ms: phases end on the clock, not only on events.
            let wait = (deadline - now).min(Duration::from_millis(10));
            self.poll
                .poll(&mut events, Some(wait))
                .map_err(|e| format!("poll: {e}"))?;
            for event in events.iter() {
                let id = event.token().0;
                self.service(id, workload, event.is_readable(), event.is_read_closed())
                    .map_err(|e| format!("connection {id}: {e}"))?;
                if event.is_writable() || event.is_write_closed() {
                    self.service_write(id, workload)
                        .map_err(|e| format!("connection {id}: {e}"))?;
                }
            }
        }
    }

    fn start_connections(&mut self) -> Result<(), String> {
        while self.started < self.total && self.counts.pending < self.settings.max_pending {
            let id = self.started;
            let mut stream = TcpStream::connect(self.target(id).addr)
                .map_err(|e| format!("connection {id}: connect: {e}"))?;
            self.poll
                .registry()
                .register(
                    &mut stream,
                    Token(id),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("connection {id}: register: {e}"))?;
            self.conns[id] = Some(Conn {
                id,
                stream,
                state: State::Connecting,
                rbuf: vec![0; self.settings.read_capacity],
                rstart: 0,
                rend: 0,
                wbuf: Vec::new(),
                wpos: 0,
                writable: false,
                fragments: None,
                inflater: None,
                close_received: false,
                rng: 0x2545_F491_4F6C_DD1D ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            });
            self.started += 1;
            self.counts.pending += 1;
        }
        Ok(())
    }

    /// Lets an open connection queue what it may, and writes it.
    fn refill<W: Workload>(&mut self, id: usize, workload: &mut W) -> Result<(), String> {
        let Some(conn) = self.conns.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        if conn.state == State::Open {
            top_up(conn, workload);
            if conn.writable {
                flush(conn)?;
            }
        }
        Ok(())
    }

    fn service_write<W: Workload>(&mut self, id: usize, workload: &mut W) -> Result<(), String> {
        let Some(conn) = self.conns.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        if conn.state == State::Connecting {
            return self.service(id, workload, false, false);
        }
        conn.writable = true;
        flush(conn)
    }

    /// Reads everything the socket has, handles it, lets the workload top up and writes.
    fn service<W: Workload>(
        &mut self,
        id: usize,
        workload: &mut W,
        readable: bool,
        read_closed: bool,
    ) -> Result<(), String> {
        let Some(mut conn) = self.conns.get_mut(id).and_then(Option::take) else {
            return Ok(());
        };
        let result = self.service_conn(&mut conn, workload, readable || read_closed, read_closed);
        let closed = conn.state == State::Closed;
        if closed {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        } else {
            self.conns[id] = Some(conn);
        }
        result
    }

    fn service_conn<W: Workload>(
        &mut self,
        conn: &mut Conn,
        workload: &mut W,
        readable: bool,
        read_closed: bool,
    ) -> Result<(), String> {
        if conn.state == State::Connecting {
            if !connected(&conn.stream)? {
                return Ok(());
            }
            conn.state = State::Handshake;
            conn.writable = true;
            let target = self.target(conn.id);
            handshake::request(
                &mut conn.wbuf,
                &target.host,
                &target.path,
                self.settings.deflate,
            );
            flush(conn)?;
        }
        if readable {
            self.read_all(conn, workload, read_closed)?;
        }
        if conn.state == State::Open {
            top_up(conn, workload);
        }
        if conn.writable {
            flush(conn)?;
        }
        Ok(())
    }

    /// Reads and handles what the socket holds; `read_closed` (the peer's FIN was in the event) means
    /// reading on to EOF.
    fn read_all<W: Workload>(
        &mut self,
        conn: &mut Conn,
        workload: &mut W,
        read_closed: bool,
    ) -> Result<(), String> {
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
                    self.handle_input(conn, workload)?;
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
            self.counts.closed += 1;
            self.counts.open -= 1;
            return Ok(());
        }
        Err(format!(
            "the server closed TCP in state {:?} (close frame received: {})",
            conn.state, conn.close_received
        ))
    }

    fn handle_input<W: Workload>(
        &mut self,
        conn: &mut Conn,
        workload: &mut W,
    ) -> Result<(), String> {
        if conn.state == State::Handshake {
            let data = &conn.rbuf[conn.rstart..conn.rend];
            let Some(end) = handshake::response_end(data)? else {
                return Ok(());
            };
            let accepted = handshake::check_response(&data[..end], self.settings.deflate)?;
            if self.settings.deflate && accepted.is_none() {
                return Err("the server declined permessage-deflate".into());
            }
            conn.inflater = accepted.map(Inflater::new);
            conn.rstart += end;
            conn.state = State::Open;
            self.counts.pending -= 1;
            self.counts.open += 1;
        }
        let limit = self.settings.max_message;
        loop {
            let data = &conn.rbuf[conn.rstart..conn.rend];
            let header = match frame::parse_header(data, conn.inflater.is_some()) {
                Ok(Some(header)) => header,
                Ok(None) => return Ok(()),
                Err(e) => return Err(protocol_error(e)),
            };
            if header.payload_len > self.settings.max_frame as u64 {
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
                    self.counts.pings += 1;
                    let key = crate::mask_key(&mut conn.rng);
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
                    conn.fragments = Some((
                        header.opcode,
                        header.compressed,
                        conn.rbuf[payload].to_vec(),
                    ));
                }
                OP_TEXT | OP_BINARY => {
                    let Conn {
                        id, rbuf, inflater, ..
                    } = conn;
                    let message = &rbuf[payload];
                    let (opcode, compressed) = (header.opcode, header.compressed);
                    deliver(workload, *id, opcode, compressed, message, inflater, limit)?;
                }
                OP_CONTINUATION => {
                    let Some((opcode, compressed, mut message)) = conn.fragments.take() else {
                        return Err("a continuation frame with no message to continue".into());
                    };
                    message.extend_from_slice(&conn.rbuf[payload]);
                    if message.len() > limit {
                        return Err("a fragmented message longer than any sent".into());
                    }
                    if header.fin {
                        let inflater = &mut conn.inflater;
                        deliver(
                            workload, conn.id, opcode, compressed, &message, inflater, limit,
                        )?;
                    } else {
                        conn.fragments = Some((opcode, compressed, message));
                    }
                }
                other => unreachable!("parse_header let opcode {other:#x} through"),
            }
        }
    }
}

/// mio's connect protocol: an event, then `take_error`, then `peer_addr` says whether the connection
/// is established (NotConnected: not yet, wait for the next event). Once it is, `TCP_NODELAY` is set.
pub fn connected(stream: &TcpStream) -> Result<bool, String> {
    if let Some(e) = stream.take_error().map_err(|e| e.to_string())? {
        return Err(format!("connect: {e}"));
    }
    match stream.peer_addr() {
        Ok(_) => {
            stream
                .set_nodelay(true)
                .map_err(|e| format!("set_nodelay: {e}"))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(format!("connect: {e}")),
    }
}

/// Hands a whole message to the workload: inflated first if it came compressed (RFC 7692 §7.2.2),
/// else as received.
fn deliver<W: Workload>(
    workload: &mut W,
    id: usize,
    opcode: u8,
    compressed: bool,
    payload: &[u8],
    inflater: &mut Option<Inflater>,
    limit: usize,
) -> Result<(), String> {
    let payload = match (compressed, inflater) {
        (false, _) => payload,
        (true, Some(inflater)) => inflater.inflate(payload, limit)?,
        (true, None) => unreachable!("parse_header lets RSV1 through only with deflate"),
    };
    workload.message(
        id,
        Message {
            opcode,
            compressed,
            payload,
        },
    )
}

fn top_up<W: Workload>(conn: &mut Conn, workload: &mut W) {
    workload.top_up(conn.id, &mut Outbox::new(&mut conn.wbuf, &mut conn.rng));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_keeps_path_and_query() {
        let target = Target::parse("ws://127.0.0.1:9/publish").unwrap();
        assert_eq!(
            (target.host.as_str(), target.path.as_str()),
            ("127.0.0.1:9", "/publish")
        );
        let target = Target::parse("ws://127.0.0.1:9?room=a").unwrap();
        assert_eq!(target.path, "/?room=a");
        assert_eq!(Target::parse("ws://127.0.0.1:9").unwrap().path, "/");
        assert!(Target::parse("http://127.0.0.1:9/").is_err());
    }
}
