//! One soak connection: the opening handshake, well-behaved traffic checked message by message, and,
//! on a faulty slot, the one misbehaviour of its life and the check of how the server answered it.
//! The connection only records what it saw into [`Tally`]; the run (`mod.rs`) decides what happens
//! next.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use crate::deflate::{Deflater, Inflater};
use crate::frame::{self, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};
use crate::handshake;
use crate::next;

use super::fault::Fault;
use super::payload::{self, Spec};
use super::stream::Stream;
use super::Tally;

/// What a connection queues ahead of the socket before it waits.
const MAX_QUEUED: usize = 256 << 10;
/// What one connection reads per turn of the loop: a connection resuming after a pause has megabytes
/// of echoes to check, and the others' latencies would otherwise include that.
const READ_BUDGET: usize = 256 << 10;
/// How long a resumed connection may go without a byte while echoes are still due.
const RESUME_STALL: Duration = Duration::from_secs(10);
/// Pings in a flood.
const FLOOD: u32 = 1000;

/// The server's timers, as configured for the run: they say when a fault must have been answered.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub handshake: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub close: Duration,
    /// Slack for a loaded machine.
    pub grace: Duration,
}

/// What every connection of the run shares.
pub struct Shared<'a> {
    pub host: &'a str,
    pub path: &'a str,
    pub deflate: bool,
    pub max_size: usize,
    /// What a pausing or stopping connection keeps outstanding (`--burst`): by default more than the
    /// server's 4 MiB output limit, so the server has to hold back.
    pub burst: usize,
    /// Mean pause between a well-behaved connection's echo and its next message.
    pub think: Duration,
    pub timers: Timers,
    /// False once the run drains: no new message from a well-behaved connection.
    pub sending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    /// Request sent (or trickling, for slowloris); waiting for the response.
    Handshake,
    Open,
    /// Our close is sent; waiting for the server's, then for it to end TCP.
    Closing,
    /// The fault is done; waiting for the server's end (a close frame, EOF, a reset).
    Ending,
    /// Nothing more to do: the run drops it.
    Done,
}

/// How a connection ended, for the run's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The close handshake we started completed.
    Clean,
    /// The fault ran and the server answered it as it must.
    FaultAnswered,
    /// Anything else; the reason is already in the tally.
    Failed,
}

/// Where a fault is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Behaving, until `fault_at`.
    Waiting,
    /// Sending a burst without reading (pause and stop).
    Bursting,
    /// Reading again after a pause; done when every echo is in.
    Resumed,
    /// Waiting for the flood's last pong and the echo after it.
    Flooded,
    /// Waiting for the server's answer (echo, close code, end).
    Answering,
    Finished,
}

/// An echo we wait for.
struct Outstanding {
    spec: Spec,
    sent_at: Instant,
}

pub struct Conn {
    pub slot: usize,
    pub life: u32,
    pub stream: Stream,
    pub phase: Phase,
    pub fault: Option<Fault>,
    stage: Stage,
    fault_at: Option<Instant>,
    fault_started: Option<Instant>,
    /// When the fault must have been answered.
    deadline: Option<Instant>,
    /// When a paused connection reads again.
    resume_at: Option<Instant>,
    /// Slowloris: the next byte of the request, and when.
    trickle: Option<(Vec<u8>, usize, Instant)>,
    /// The well-behaved connection's next message.
    next_send: Option<Instant>,
    pub reading: bool,
    /// It stopped at its read budget with more in the socket.
    pub more_to_read: bool,
    pub writable: bool,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    fragments: Option<(u8, bool, Vec<u8>)>,
    inflater: Option<Inflater>,
    deflater: Option<Deflater>,
    outstanding: VecDeque<Outstanding>,
    outstanding_bytes: usize,
    seq: u64,
    /// Flood: pongs seen, the last one's number.
    last_pong: Option<u32>,
    close_code: Option<u16>,
    /// The HTTP status of a refused handshake (slowloris expects 408).
    refused: Option<u16>,
    rng: u64,
    scratch: Vec<u8>,
    pub opened_at: Option<Instant>,
    /// The earliest a stalled connection may be ended: the server's ping interval.
    keepalive_floor: Duration,
}

impl Conn {
    pub fn new(slot: usize, life: u32, stream: Stream, fault: Option<Fault>) -> Conn {
        Conn {
            slot,
            life,
            stream,
            phase: Phase::Connecting,
            fault,
            stage: Stage::Waiting,
            fault_at: None,
            fault_started: None,
            deadline: None,
            resume_at: None,
            trickle: None,
            next_send: None,
            reading: true,
            more_to_read: false,
            writable: false,
            rbuf: vec![0; 4 << 10],
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
            wpos: 0,
            fragments: None,
            inflater: None,
            deflater: None,
            outstanding: VecDeque::new(),
            outstanding_bytes: 0,
            seq: 0,
            last_pong: None,
            close_code: None,
            refused: None,
            rng: 0x2545_F491_4F6C_DD1D
                ^ ((slot as u64) << 20 | life as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            scratch: Vec::new(),
            opened_at: None,
            keepalive_floor: Duration::ZERO,
        }
    }

    /// The earliest moment this connection has something to do on its own.
    pub fn wake(&self) -> Option<Instant> {
        [
            self.next_send,
            self.fault_at.filter(|_| self.stage == Stage::Waiting),
            self.resume_at,
            self.deadline,
            self.trickle.as_ref().map(|t| t.2),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Where it is, for a report of what a phase still waits for.
    pub fn describe(&self) -> String {
        format!(
            "slot {} life {}: {:?}, {:?}, fault {:?}, {} echoes outstanding",
            self.slot,
            self.life,
            self.phase,
            self.stage,
            self.fault.map(Fault::name),
            self.outstanding.len()
        )
    }

    /// Whether this connection still sends or waits for well-behaved traffic (the drain waits for it).
    pub fn busy(&self) -> bool {
        !self.outstanding.is_empty() && self.phase == Phase::Open && self.stage == Stage::Waiting
    }

    pub fn is_fault_running(&self) -> bool {
        self.fault.is_some() && !matches!(self.stage, Stage::Waiting | Stage::Finished)
    }

    /// The socket is connected: the upgrade request goes out (all at once, or trickled).
    pub fn connected(&mut self, shared: &Shared, now: Instant) -> io::Result<()> {
        self.phase = Phase::Handshake;
        self.writable = true;
        let mut request = Vec::new();
        handshake::request(&mut request, shared.host, shared.path, shared.deflate);
        if self.fault == Some(Fault::Slowloris) {
            self.stage = Stage::Answering;
            self.deadline = Some(now + shared.timers.handshake + shared.timers.grace);
            self.trickle = Some((request, 0, now));
            return Ok(());
        }
        self.wbuf.extend_from_slice(&request);
        self.flush()
    }

    /// Called when the socket has bytes (or an end); reads while `reading`.
    pub fn readable(&mut self, shared: &Shared, tally: &mut Tally, now: Instant) -> Option<End> {
        self.more_to_read = false;
        if !self.reading {
            return None;
        }
        let mut taken = 0;
        loop {
            if taken >= READ_BUDGET {
                // The others' turn; the run calls again (edge-triggered: no new event would come).
                self.more_to_read = true;
                self.after_input(shared, now);
                return None;
            }
            if self.rend == self.rbuf.len() {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
                if self.rend == self.rbuf.len() {
                    let len = self.rbuf.len() * 2;
                    self.rbuf.resize(len, 0);
                }
            }
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Some(self.on_end(tally, "EOF", now)),
                Ok(n) => {
                    self.rend += n;
                    taken += n;
                    // Reading a paused connection's backlog takes as long as the machine is busy:
                    // what must not happen is a stall, so each read moves the deadline.
                    if self.stage == Stage::Resumed {
                        self.deadline = Some(now + RESUME_STALL + shared.timers.grace);
                    }
                    if let Err(e) = self.handle_input(shared, tally, now) {
                        return Some(self.fail(tally, e));
                    }
                    if !self.reading {
                        return None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Some(self.on_end(tally, "connection reset", now))
                }
                Err(e) => return Some(self.fail(tally, format!("read: {e}"))),
            }
        }
        // A buffer grown for a large message goes back to its small size once empty.
        if self.rstart == self.rend && self.rbuf.len() > 64 << 10 {
            self.rbuf = vec![0; 4 << 10];
            self.rstart = 0;
            self.rend = 0;
        }
        self.after_input(shared, now);
        None
    }

    /// The socket reports the server's FIN or reset. A connection that stopped reading learns of its
    /// end this way (and only it: the others read on to the end).
    pub fn peer_ended(&mut self, tally: &mut Tally, now: Instant) -> Option<End> {
        match (self.fault, self.stage, self.reading) {
            (Some(Fault::StopReading), Stage::Bursting, false) => {
                Some(self.on_end(tally, "the server's FIN or reset", now))
            }
            _ => None,
        }
    }

    /// The socket may take bytes again: a burst goes on.
    pub fn writable(&mut self, shared: &Shared, now: Instant) -> io::Result<()> {
        self.writable = true;
        self.flush()?;
        if self.stage == Stage::Bursting {
            self.burst(shared, now);
        }
        Ok(())
    }

    /// Timers: the next message, the fault, the resume, the probe, the deadline.
    pub fn tick(&mut self, shared: &Shared, tally: &mut Tally, now: Instant) -> Option<End> {
        if let Some((request, sent, at)) = &mut self.trickle {
            if now >= *at && *sent < request.len() {
                self.wbuf.push(request[*sent]);
                *sent += 1;
                *at = now + Duration::from_millis(500);
            }
        }
        if self.deadline.is_some_and(|d| now >= d) {
            let fault = self.fault.map_or("", Fault::name);
            let what = match self.fault {
                Some(Fault::StopReading) => {
                    "the server kept a connection that stopped reading".to_owned()
                }
                _ => format!(
                    "no answer in time (stage {:?}, phase {:?})",
                    self.stage, self.phase
                ),
            };
            return Some(self.fail(tally, format!("{fault}: {what}")));
        }
        if self.stage == Stage::Waiting && self.fault_at.is_some_and(|at| now >= at) {
            if let Some(end) = self.start_fault(shared, tally, now) {
                return Some(end);
            }
        }
        if self.resume_at.is_some_and(|at| now >= at) {
            self.resume_at = None;
            self.reading = true;
            self.stage = Stage::Resumed;
            self.deadline = Some(now + RESUME_STALL + shared.timers.grace);
            if let Some(end) = self.readable(shared, tally, now) {
                return Some(end);
            }
        }
        if self.stage == Stage::Bursting {
            self.burst(shared, now);
        }
        self.after_input(shared, now);
        if let Err(e) = self.flush() {
            return Some(self.write_failed(tally, e, now));
        }
        None
    }

    /// A write that failed: a reset or a broken pipe is the server's end of the connection (which a
    /// stalled connection expects), anything else a failure.
    pub fn write_failed(&mut self, tally: &mut Tally, e: io::Error, now: Instant) -> End {
        match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                self.on_end(tally, &format!("{e} on write"), now)
            }
            _ => self.fail(tally, format!("write: {e}")),
        }
    }

    /// Schedules this life's fault (a faulty slot, once the run has begun).
    pub fn schedule_fault(&mut self, at: Instant) {
        if self.fault.is_some() && self.stage == Stage::Waiting && self.fault_at.is_none() {
            self.fault_at = Some(at);
        }
    }

    /// Starts our close handshake (the end of the run, or of a faulty life whose fault is answered).
    pub fn close(&mut self, shared: &Shared, now: Instant) {
        if self.phase != Phase::Open {
            return;
        }
        self.next_send = None;
        // §7.4.1: 1000, normal closure.
        let key = self.mask_key();
        frame::encode_masked(&mut self.wbuf, OP_CLOSE, &1000u16.to_be_bytes(), key);
        self.phase = Phase::Closing;
        self.deadline = Some(now + shared.timers.close + shared.timers.grace);
        let _ = self.flush();
    }

    fn start_fault(&mut self, shared: &Shared, tally: &mut Tally, now: Instant) -> Option<End> {
        let fault = self.fault?;
        if self.phase != Phase::Open {
            return None;
        }
        tally.fault_started(fault);
        self.fault_at = None;
        self.fault_started = Some(now);
        self.next_send = None;
        let t = shared.timers;
        match fault {
            Fault::Reset => {
                // A 64 KiB frame's header and 1 KiB of it, then RST.
                let key = self.mask_key();
                let mut frame = Vec::new();
                frame::encode_masked(&mut frame, OP_BINARY, &vec![7u8; 64 << 10], key);
                self.wbuf
                    .extend_from_slice(&frame[..frame.len() - (63 << 10)]);
                let _ = self.flush();
                let _ =
                    socket2::SockRef::from(&*self.stream.tcp()).set_linger(Some(Duration::ZERO));
                self.outstanding.clear();
                self.stage = Stage::Finished;
                self.phase = Phase::Done;
                tally.fault_answered(fault);
                return Some(End::FaultAnswered);
            }
            Fault::HalfClose => {
                self.send_message(shared, now);
                self.stage = Stage::Answering;
                self.phase = Phase::Ending;
                self.deadline = Some(now + t.close + t.grace);
                if let Err(e) = self.flush().and_then(|()| self.stream.shutdown_write()) {
                    return Some(self.write_failed(tally, e, now));
                }
            }
            Fault::PauseReading => {
                self.reading = false;
                self.stage = Stage::Bursting;
                // Well inside the keepalive, which would otherwise (rightly) end it: the server
                // counts from its last read, which may come soon after the burst began, and reads
                // again only once we have drained some of its output, which takes a busy machine
                // seconds. So 15-30 % of ping interval + timeout, at most 8 s.
                let keepalive = (t.ping_interval + t.ping_timeout).as_secs_f64();
                let share = 0.15 + (next(&mut self.rng) % 1000) as f64 / 1000.0 * 0.15;
                let pause = (keepalive * share).min(8.0);
                self.resume_at = Some(now + Duration::from_secs_f64(pause));
                self.deadline =
                    Some(now + Duration::from_secs_f64(pause) + Duration::from_secs(30) + t.grace);
                self.burst(shared, now);
            }
            Fault::StopReading => {
                self.keepalive_floor = t.ping_interval;
                self.reading = false;
                self.stage = Stage::Bursting;
                // The server ends it (its FIN or reset, which the socket reports without our
                // reading: reading would revive it) a keepalive and a close timeout after the last
                // byte it read. When that was depends on how fast a busy server works through the
                // burst, so the bound is generous: twice the timers and a minute.
                let timers = t.ping_interval + t.ping_timeout + t.close;
                self.deadline = Some(now + timers * 2 + Duration::from_secs(60) + t.grace);
                self.burst(shared, now);
            }
            Fault::Slowloris => unreachable!("a slowloris life starts as one"),
            Fault::PingFlood => {
                for n in 0..FLOOD {
                    let key = self.mask_key();
                    let mut body = [0u8; 12];
                    body[..4].copy_from_slice(&n.to_be_bytes());
                    body[4..].copy_from_slice(b"flooding");
                    frame::encode_masked(&mut self.wbuf, OP_PING, &body, key);
                }
                self.send_message(shared, now);
                self.stage = Stage::Flooded;
                self.deadline = Some(now + Duration::from_secs(20) + t.grace);
            }
            Fault::Invalid(invalid) => {
                self.send_message(shared, now);
                let key = self.mask_key();
                invalid.encode(&mut self.wbuf, key);
                self.stage = Stage::Answering;
                self.deadline = Some(now + t.close + t.grace);
            }
        }
        if let Err(e) = self.flush() {
            return Some(self.write_failed(tally, e, now));
        }
        None
    }

    /// A pausing or stopping connection sends without reading, up to `Shared::burst` outstanding.
    fn burst(&mut self, shared: &Shared, now: Instant) {
        while self.outstanding_bytes < shared.burst && self.wbuf.len() - self.wpos < MAX_QUEUED {
            self.send_message(shared, now);
            let _ = self.flush();
        }
    }

    /// After input (and timers): a well-behaved connection sends its next message once its echo is in
    /// and its think time is over; a fault checks whether it is done.
    fn after_input(&mut self, shared: &Shared, now: Instant) {
        if self.phase != Phase::Open {
            return;
        }
        if !shared.sending {
            self.next_send = None;
        }
        match self.stage {
            Stage::Waiting if shared.sending && self.outstanding.is_empty() => match self.next_send
            {
                None => {
                    let mean = shared.think.as_secs_f64();
                    let wait = (next(&mut self.rng) % 2000) as f64 / 1000.0 * mean;
                    self.next_send = Some(now + Duration::from_secs_f64(wait));
                }
                Some(at) if now >= at => {
                    self.next_send = None;
                    self.send_message(shared, now);
                }
                Some(_) => {}
            },
            Stage::Resumed if self.outstanding.is_empty() => {
                self.stage = Stage::Finished;
                self.deadline = None;
                self.fault_done();
            }
            _ => {}
        }
    }

    /// The fault is answered: the life closes normally, and the run counts it when TCP ends.
    fn fault_done(&mut self) {
        self.stage = Stage::Finished;
    }

    /// Whether the fault of a life that stays open is answered (the run then closes it).
    pub fn fault_finished(&self) -> bool {
        self.fault.is_some() && self.stage == Stage::Finished && self.phase == Phase::Open
    }

    /// Queues one message of a random size: text or binary, maybe compressed, maybe fragmented with a
    /// ping between the fragments.
    fn send_message(&mut self, shared: &Shared, now: Instant) {
        let len = payload::pick_len(&mut self.rng, shared.max_size);
        let text = next(&mut self.rng) % 2 == 0;
        let spec = Spec {
            slot: self.slot as u32,
            life: self.life,
            seq: self.seq,
            len,
            text,
        };
        self.seq += 1;
        let mut body = std::mem::take(&mut self.scratch);
        payload::fill(&mut body, spec);
        let compress = len >= 64 && next(&mut self.rng) % 2 == 0;
        let (compressed, wire) = match (&mut self.deflater, compress) {
            (Some(deflater), true) => {
                let mut out = Vec::with_capacity(len / 2 + 64);
                deflater.compress(&body, &mut out);
                (true, out)
            }
            _ => (false, body),
        };
        let opcode = if text { OP_TEXT } else { OP_BINARY };
        let rsv1 = if compressed { 0x40 } else { 0 };
        let pieces = match wire.len() >= 2 && next(&mut self.rng) % 5 == 0 {
            true => 2 + (next(&mut self.rng) % 3) as usize,
            false => 1,
        };
        let step = wire.len().div_ceil(pieces).max(1);
        let mut chunks: Vec<&[u8]> = wire.chunks(step).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.iter().enumerate() {
            let fin = if i == last { 0x80 } else { 0 };
            let first = match i {
                0 => fin | rsv1 | opcode,
                _ => fin | OP_CONTINUATION,
            };
            let key = self.mask_key();
            frame::encode_masked_with(&mut self.wbuf, first, chunk, key);
            // §5.4: control frames may come between the fragments of a message.
            if i != last && next(&mut self.rng) % 2 == 0 {
                let key = self.mask_key();
                frame::encode_masked(&mut self.wbuf, OP_PING, b"between fragments", key);
            }
        }
        self.scratch = if compressed { body_back(wire) } else { wire };
        self.outstanding_bytes += len;
        self.outstanding
            .push_back(Outstanding { spec, sent_at: now });
    }

    fn handle_input(
        &mut self,
        shared: &Shared,
        tally: &mut Tally,
        now: Instant,
    ) -> Result<(), String> {
        if self.phase == Phase::Handshake {
            let data = &self.rbuf[self.rstart..self.rend];
            let Some(end) = handshake::response_end(data)? else {
                return Ok(());
            };
            let head = &data[..end];
            if self.fault == Some(Fault::Slowloris) || !head.starts_with(b"HTTP/1.1 101") {
                let status = std::str::from_utf8(head.get(9..12).unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                self.refused = Some(status);
                self.rstart += end;
                self.trickle = None;
                if self.fault != Some(Fault::Slowloris) {
                    return Err(format!("handshake refused with {status}"));
                }
                self.phase = Phase::Ending;
                return Ok(());
            }
            let accepted = handshake::check_response(head, shared.deflate)?;
            if shared.deflate && accepted.is_none() {
                return Err("the server declined permessage-deflate".into());
            }
            // Our compressor's window is 32 KiB: it compresses only if the server left it at 15 bits.
            if let Some(a) = accepted {
                if a.client_max_window_bits.unwrap_or(15) == 15 {
                    self.deflater = Some(Deflater::new(a));
                }
            }
            self.inflater = accepted.map(Inflater::new);
            self.rstart += end;
            self.phase = Phase::Open;
            self.opened_at = Some(now);
            tally.opened += 1;
        }
        if self.phase == Phase::Ending && self.refused.is_some() {
            if self.rstart != self.rend {
                return Err("bytes after a refusal".into());
            }
            return Ok(());
        }
        let limit = shared.max_size + 1024;
        loop {
            let data = &self.rbuf[self.rstart..self.rend];
            let header = match frame::parse_header(data, self.inflater.is_some()) {
                Ok(Some(header)) => header,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("protocol error: {e}")),
            };
            if header.payload_len > (limit + limit / 64) as u64 {
                return Err(format!(
                    "a frame of {} bytes, longer than any sent",
                    header.payload_len
                ));
            }
            let total = header.header_len + header.payload_len as usize;
            if data.len() < total {
                return Ok(());
            }
            let payload = self.rstart + header.header_len..self.rstart + total;
            self.rstart += total;
            if self.close_code.is_some() {
                return Err("a frame after the close frame".into());
            }
            match header.opcode {
                OP_PING if self.phase == Phase::Open => {
                    let key = self.mask_key();
                    let body = self.rbuf[payload].to_vec();
                    frame::encode_masked(&mut self.wbuf, frame::OP_PONG, &body, key);
                }
                OP_PING => {}
                OP_PONG => self.pong(flood_pong(&self.rbuf[payload]))?,
                OP_CLOSE => self.close_frame(payload)?,
                OP_TEXT | OP_BINARY if self.fragments.is_some() => {
                    return Err("a new message inside a fragmented one (§5.4)".into());
                }
                OP_TEXT | OP_BINARY if !header.fin => {
                    self.fragments = Some((
                        header.opcode,
                        header.compressed,
                        self.rbuf[payload].to_vec(),
                    ));
                }
                OP_TEXT | OP_BINARY => {
                    let message = self.rbuf[payload].to_vec();
                    self.message(
                        header.opcode,
                        header.compressed,
                        &message,
                        limit,
                        tally,
                        now,
                    )?;
                }
                OP_CONTINUATION => {
                    let Some((opcode, compressed, mut message)) = self.fragments.take() else {
                        return Err("a continuation frame with no message to continue".into());
                    };
                    message.extend_from_slice(&self.rbuf[payload]);
                    if message.len() > limit {
                        return Err("a fragmented message longer than any sent".into());
                    }
                    match header.fin {
                        true => self.message(opcode, compressed, &message, limit, tally, now)?,
                        false => self.fragments = Some((opcode, compressed, message)),
                    }
                }
                other => return Err(format!("opcode {other:#x}")),
            }
            if self.phase == Phase::Done {
                return Ok(());
            }
        }
    }

    /// A whole echo: inflated, then held to the message it should be.
    fn message(
        &mut self,
        opcode: u8,
        compressed: bool,
        payload: &[u8],
        limit: usize,
        tally: &mut Tally,
        now: Instant,
    ) -> Result<(), String> {
        let inflated;
        let payload = match (compressed, &mut self.inflater) {
            (false, _) => payload,
            (true, Some(inflater)) => {
                inflated = inflater.inflate(payload, limit)?.to_vec();
                &inflated[..]
            }
            (true, None) => return Err("RSV1 without permessage-deflate".into()),
        };
        let Some(front) = self.outstanding.front() else {
            tally.problem(format!(
                "slot {}: an echo nobody sent ({} bytes)",
                self.slot,
                payload.len()
            ));
            tally.duplicated += 1;
            return Ok(());
        };
        let mut expected = std::mem::take(&mut self.scratch);
        payload::fill(&mut expected, front.spec);
        let kind_ok = (opcode == OP_TEXT) == front.spec.text;
        if kind_ok && expected == payload {
            let done = self.outstanding.pop_front().expect("front exists");
            self.outstanding_bytes -= done.spec.len;
            tally.checked(
                now - done.sent_at,
                self.fault.is_some() && self.stage != Stage::Waiting,
            );
        } else {
            let front_seq = front.spec.seq;
            match payload::read_header(payload) {
                Some((seq, _))
                    if seq > front_seq && self.outstanding.iter().any(|o| o.spec.seq == seq) =>
                {
                    // The ones before it never came.
                    while self.outstanding.front().is_some_and(|o| o.spec.seq < seq) {
                        let lost = self.outstanding.pop_front().expect("front exists");
                        self.outstanding_bytes -= lost.spec.len;
                        tally.lost += 1;
                    }
                    tally.problem(format!(
                        "slot {} life {}: lost up to seq {seq}",
                        self.slot, self.life
                    ));
                    self.scratch = expected;
                    return self.message(opcode, false, payload, limit, tally, now);
                }
                Some((seq, _)) if seq < front_seq => {
                    tally.duplicated += 1;
                    tally.problem(format!(
                        "slot {} life {}: seq {seq} again",
                        self.slot, self.life
                    ));
                }
                _ => {
                    let bad = self.outstanding.pop_front().expect("front exists");
                    self.outstanding_bytes -= bad.spec.len;
                    tally.corrupted += 1;
                    tally.problem(format!(
                        "slot {} life {}: seq {} ({} bytes, text {}) came back as {} bytes, opcode {opcode}",
                        self.slot, self.life, bad.spec.seq, bad.spec.len, bad.spec.text, payload.len()
                    ));
                }
            }
        }
        self.scratch = expected;
        if self.stage == Stage::Flooded {
            self.check_flood_done();
        }
        Ok(())
    }

    /// A pong; `flood` is the number of the flood ping it answers, if it answers one.
    fn pong(&mut self, flood: Option<u32>) -> Result<(), String> {
        let (Some(n), Some(Fault::PingFlood)) = (flood, self.fault) else {
            return Ok(());
        };
        // §5.5.3: pongs answer pings in order; some may be skipped, none repeated.
        if self.last_pong.is_some_and(|last| n <= last) || n >= FLOOD {
            return Err(format!("ping_flood: pong {n} after {:?}", self.last_pong));
        }
        self.last_pong = Some(n);
        self.check_flood_done();
        Ok(())
    }

    fn check_flood_done(&mut self) {
        if self.stage == Stage::Flooded
            && self.last_pong == Some(FLOOD - 1)
            && self.outstanding.is_empty()
        {
            self.deadline = None;
            self.fault_done();
        }
    }

    fn close_frame(&mut self, payload: std::ops::Range<usize>) -> Result<(), String> {
        let body = &self.rbuf[payload];
        let code = match body {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => 1005,
        };
        self.close_code = Some(code);
        match (self.phase, self.fault, self.stage) {
            (Phase::Closing, _, _) if code == 1000 => Ok(()),
            (Phase::Closing, _, _) => Err(format!("our 1000 was answered with {code}")),
            (_, Some(Fault::Invalid(invalid)), Stage::Answering) => {
                if code != invalid.code() {
                    return Err(format!(
                        "{}: closed with {code}, not {}",
                        Fault::Invalid(invalid).name(),
                        invalid.code()
                    ));
                }
                if !self.outstanding.is_empty() {
                    return Err(format!(
                        "{}: the close came before the echo of the message sent first",
                        Fault::Invalid(invalid).name()
                    ));
                }
                // §5.5.1: answer the close; the server then ends TCP (§7.1.1).
                let key = self.mask_key();
                frame::encode_masked(&mut self.wbuf, OP_CLOSE, &code.to_be_bytes(), key);
                self.phase = Phase::Ending;
                Ok(())
            }
            (_, Some(Fault::HalfClose), _) => Ok(()),
            _ => Err(format!(
                "the server closed with {code} {:?} (stage {:?})",
                String::from_utf8_lossy(body.get(2..).unwrap_or_default()),
                self.stage
            )),
        }
    }

    /// The server ended the stream (EOF or reset).
    fn on_end(&mut self, tally: &mut Tally, how: &str, now: Instant) -> End {
        let fault = self.fault.map(Fault::name).unwrap_or("");
        let verdict = match (self.phase, self.fault, self.stage) {
            // A pause or a flood answered, then closed normally.
            (Phase::Closing, Some(_), Stage::Finished) if self.close_code == Some(1000) => {
                Ok(End::FaultAnswered)
            }
            (Phase::Closing, _, _) if self.close_code == Some(1000) => Ok(End::Clean),
            (Phase::Closing, _, _) => Err(format!("{how} before the server answered our close")),
            (_, Some(Fault::Slowloris), _) => match self.refused {
                Some(408) => Ok(End::FaultAnswered),
                Some(other) => Err(format!("slowloris: refused with {other}, not 408")),
                None => Err(format!("slowloris: {how} without a 408")),
            },
            // §7.1.5: a FIN without a close frame ends the WebSocket abnormally; the server must end
            // TCP in time. Replies to what came before the FIN are counted, not required (the core
            // refuses sends once the peer's stream ended).
            (_, Some(Fault::HalfClose), Stage::Answering) => {
                tally.half_close_unanswered += self.outstanding.len() as u64;
                Ok(End::FaultAnswered)
            }
            (_, Some(Fault::Invalid(_)), _) if self.phase == Phase::Ending => {
                Ok(End::FaultAnswered)
            }
            // Ended while we still pushed the burst: only the keepalive may end it, so not before
            // its ping interval.
            (_, Some(Fault::StopReading), Stage::Bursting) => {
                let after = self.fault_started.map_or(Duration::ZERO, |at| now - at);
                match after >= self.keepalive_floor {
                    true => Ok(End::FaultAnswered),
                    false => Err(format!(
                        "stop_reading: {how} after {after:?}, before the keepalive could end it"
                    )),
                }
            }
            _ => Err(format!(
                "{how} in phase {:?}, stage {:?} {fault}, close {:?}, {} echoes outstanding",
                self.phase,
                self.stage,
                self.close_code,
                self.outstanding.len()
            )),
        };
        self.phase = Phase::Done;
        match verdict {
            Ok(End::FaultAnswered) => {
                tally.fault_answered(self.fault.expect("a fault"));
                End::FaultAnswered
            }
            Ok(end) => end,
            Err(e) => self.fail(tally, e),
        }
    }

    pub fn fail(&mut self, tally: &mut Tally, reason: String) -> End {
        self.phase = Phase::Done;
        match self.fault.filter(|_| self.stage != Stage::Waiting) {
            Some(fault) => tally.fault_failed(
                fault,
                format!("slot {} life {}: {reason}", self.slot, self.life),
            ),
            None => {
                tally.unexpected += 1;
                tally.problem(format!(
                    "slot {} life {} (well-behaved): {reason}",
                    self.slot, self.life
                ));
            }
        }
        End::Failed
    }

    fn mask_key(&mut self) -> [u8; 4] {
        crate::mask_key(&mut self.rng)
    }

    /// Writes what the socket takes.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.writable {
            return Ok(());
        }
        self.stream.flush()?;
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
            if self.wbuf.capacity() > 1 << 20 {
                self.wbuf = Vec::new();
            }
        } else if self.wpos > self.wbuf.len() / 2 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        Ok(())
    }
}

/// The number a flood ping carries (4 bytes, then `flooding`), if `body` is one's.
fn flood_pong(body: &[u8]) -> Option<u32> {
    match body {
        [a, b, c, d, rest @ ..] if rest == b"flooding" => {
            Some(u32::from_be_bytes([*a, *b, *c, *d]))
        }
        _ => None,
    }
}

/// The compressed buffer becomes the next scratch buffer (its capacity is what matters).
fn body_back(mut wire: Vec<u8>) -> Vec<u8> {
    wire.clear();
    wire
}
