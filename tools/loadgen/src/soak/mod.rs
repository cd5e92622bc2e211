//! `loadgen soak`: many connections held for a long time with mixed traffic and faults mixed in,
//! counting every message (issue 18; started by `tools/soak.sh`).
//!
//! Each of `--connections` slots holds a connection. A well-behaved one sends a message of a random
//! size (0 B to `--max-size`; text or binary; a fifth fragmented, half of those with a ping between
//! fragments; with `--deflate`, half compressed) after a random think time, and holds every echo to the
//! message it sent: byte-exact, once, in order. A `--fault-share` of the slots misbehave: once the run
//! proper starts, each of their connections runs one fault of [`fault::ALL`] in turn and checks the
//! server's answer (the right close code, status or end, in the time the server's timers allow), then
//! the slot reconnects for the next one.
//!
//! Phases: `baseline` (the idle server's memory and descriptors), `connect`, `warmup` (traffic, no
//! faults), `run` (`--duration`, faults, latency recorded), `drain` (no new messages; every echo and
//! fault finishes, then every connection closes with 1000), `after` (until the server's descriptors
//! and memory are back, or `--settle` passes). With `--server-pid` the server's RSS and descriptors
//! are sampled every second; `--samples FILE` writes them as JSON lines for `benches/soak_plot.py`.
//!
//! The report is one JSON line on stdout. The run fails (exit 1) on any lost, duplicated or corrupted
//! echo, any well-behaved connection the server ended, any fault not answered as it must be, or a
//! server whose descriptors or RSS (within `--rss-tolerance`) are not back to the baseline at the end.

mod conn;
mod fault;
mod monitor;
mod payload;
mod stream;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::client::Target;
use crate::{next, number, percentile, seconds};

use conn::{Conn, End, Phase, Shared, Timers};
use fault::Fault;
use monitor::{Reading, Sample, Samples};
use stream::Stream;

const USAGE: &str = "usage: loadgen soak --url ws[s]://HOST:PORT/PATH [--connections N] [--duration SECS] \
[--warmup SECS] [--rate MSGS_PER_SEC] [--fault-share F] [--max-size BYTES] [--burst BYTES] [--deflate] [--ca PEM] \
[--server-pid PID] [--samples FILE] [--label TEXT] [--handshake-timeout SECS] [--ping-interval SECS] \
[--ping-timeout SECS] [--close-timeout SECS] [--grace SECS] [--settle SECS] [--rss-tolerance F] [--max-pending N] [--prime SECS]";

pub struct Options {
    url: Target,
    tls: bool,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    /// Messages per second from all well-behaved connections together.
    rate: f64,
    fault_share: f64,
    max_size: usize,
    burst: usize,
    deflate: bool,
    ca: Option<String>,
    server_pid: Option<u32>,
    samples: Option<String>,
    label: String,
    timers: Timers,
    settle: Duration,
    rss_tolerance: f64,
    max_pending: usize,
    /// `--prime SECS`: a round of the same workload before the baseline is read.
    prime: Option<Duration>,
}

/// What the run counts.
#[derive(Default)]
pub struct Tally {
    pub opened: u64,
    pub checked: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    /// Well-behaved connections that ended other than by our close.
    pub unexpected: u64,
    pub clean_closes: u64,
    /// Echoes a half-closing connection did not get before the server ended it.
    pub half_close_unanswered: u64,
    problems: Vec<String>,
    problem_count: u64,
    faults: [FaultCount; fault::ALL.len()],
    recording: bool,
    /// Echo latencies in ns: this second's, and the whole run's.
    second: Vec<u64>,
    run: Vec<u64>,
}

#[derive(Default, Clone, Copy)]
struct FaultCount {
    started: u64,
    answered: u64,
    failed: u64,
}

impl Tally {
    pub fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < 20 {
            eprintln!("soak: {text}");
            self.problems.push(text);
        }
    }

    pub fn checked(&mut self, latency: Duration, in_fault: bool) {
        self.checked += 1;
        if self.recording && !in_fault {
            let ns = latency.as_nanos() as u64;
            self.second.push(ns);
            self.run.push(ns);
        }
    }

    pub fn fault_started(&mut self, fault: Fault) {
        self.faults[fault.index()].started += 1;
    }

    pub fn fault_answered(&mut self, fault: Fault) {
        self.faults[fault.index()].answered += 1;
    }

    pub fn fault_failed(&mut self, fault: Fault, reason: String) {
        self.faults[fault.index()].failed += 1;
        self.problem(format!("{}: {reason}", fault.name()));
    }

    fn faults_started(&self) -> u64 {
        self.faults.iter().map(|f| f.started).sum()
    }
}

struct Slot {
    faulty: bool,
    life: u32,
    conn: Option<Conn>,
    /// A faulty slot reconnects for its next fault at this moment.
    restart_at: Option<Instant>,
    /// The wake-up already in the timer heap, so each is pushed once.
    scheduled: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RunPhase {
    Baseline,
    Connect,
    Warmup,
    Run,
    Drain,
    Closing,
    After,
}

impl RunPhase {
    fn name(self) -> &'static str {
        match self {
            RunPhase::Baseline => "baseline",
            RunPhase::Connect => "connect",
            RunPhase::Warmup => "warmup",
            RunPhase::Run => "run",
            RunPhase::Drain | RunPhase::Closing => "drain",
            RunPhase::After => "after",
        }
    }
}

struct Soak {
    options: Options,
    tls: Option<Arc<rustls::ClientConfig>>,
    host: String,
    poll: Poll,
    slots: Vec<Slot>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Slots that stopped at their read budget: read again after the others.
    again: Vec<usize>,
    tally: Tally,
    phase: RunPhase,
    /// The priming round is running: its samples say "prime".
    priming: bool,
    /// The server before anything connected.
    cold: Reading,
    /// How busy the soak's own loop was in the measured run (1.0: it may be what limits latency).
    loadgen_cpu: Option<f64>,
    next_fault: usize,
    rng: u64,
    samples: Samples,
    baseline: Vec<Reading>,
    last: Reading,
    started: Instant,
}

pub fn main(args: impl Iterator<Item = String>) -> std::process::ExitCode {
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("loadgen soak: {e}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut soak = match Soak::new(options) {
        Ok(soak) => soak,
        Err(e) => {
            eprintln!("loadgen soak: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let outcome = soak.run();
    let (report, verdict) = soak.report(&outcome);
    println!("{report}");
    match verdict {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen soak: FAILED: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

impl Soak {
    fn new(options: Options) -> Result<Soak, String> {
        let tls = match (&options.ca, options.tls) {
            (Some(ca), true) => Some(stream::tls_config(ca)?),
            (None, true) => return Err("wss:// needs --ca PEM".into()),
            _ => None,
        };
        let host = options
            .url
            .host
            .rsplit_once(':')
            .map_or(options.url.host.clone(), |(h, _)| h.to_owned());
        let samples = Samples::create(options.samples.as_deref(), &options.label)
            .map_err(|e| format!("--samples: {e}"))?;
        let faulty = (options.connections as f64 * options.fault_share).round() as usize;
        // Faulty slots spread among the others.
        let stride = match faulty {
            0 => usize::MAX,
            n => (options.connections / n).max(1),
        };
        // The priming round opens a tenth more (good) connections than the run: the server's tables
        // and buffers then reach a high-water mark the run's reconnecting faulty slots cannot pass
        // (a connection table grows by doubling, and the run's peak is a few above its count).
        let primed = options.connections + options.prime.map_or(0, |_| options.connections / 10);
        let slots = (0..primed)
            .map(|i| Slot {
                faulty: i < options.connections && i % stride == stride - 1 && i / stride < faulty,
                life: 0,
                conn: None,
                restart_at: None,
                scheduled: None,
            })
            .collect();
        Ok(Soak {
            tls,
            host,
            poll: Poll::new().map_err(|e| e.to_string())?,
            slots,
            timers: BinaryHeap::new(),
            again: Vec::new(),
            tally: Tally::default(),
            phase: RunPhase::Baseline,
            priming: false,
            cold: Reading::default(),
            loadgen_cpu: None,
            next_fault: 0,
            rng: 0x5EED,
            samples,
            baseline: Vec::new(),
            last: Reading::default(),
            started: Instant::now(),
            options,
        })
    }

    fn run(&mut self) -> Result<(), String> {
        self.cold = monitor::read(self.options.server_pid);
        if let Some(prime) = self.options.prime {
            // The same workload once, faults and all, closed before the baseline is read: the
            // server's tables and its allocator's arenas reach the size this workload needs, so what
            // the measured round is held to is growth (a leak), not the allocator keeping freed pages.
            self.priming = true;
            self.round(prime, false)?;
            self.priming = false;
        }
        self.enter(RunPhase::Baseline);
        self.pump(Duration::from_secs(3), |_| false)?;
        self.round(self.options.duration, true)?;
        self.enter(RunPhase::After);
        // Until the server holds no more descriptors than at the start and its memory is back.
        let back = |s: &Soak| s.back_to_baseline().is_ok();
        let _ = self.pump(self.options.settle, |s| back(s));
        Ok(())
    }

    /// Connect, warm up, run with faults for `duration`, drain, close every connection.
    fn round(&mut self, duration: Duration, record: bool) -> Result<(), String> {
        let o = &self.options;
        let warmup = o.warmup;
        // The longest a fault may run: a stalled connection's bound (conn.rs).
        let drain_limit = (o.timers.ping_interval + o.timers.ping_timeout + o.timers.close) * 2
            + o.timers.grace * 2
            + Duration::from_secs(90);
        let close_limit = o.timers.close + o.timers.grace * 2;
        let connect_limit = Duration::from_secs(30 + o.connections as u64 / 100);
        let opened = self.tally.opened
            + match self.priming {
                true => self.slots.len(),
                false => self.options.connections,
            } as u64;
        self.enter(RunPhase::Connect);
        self.start_all();
        self.pump(connect_limit, |s| s.tally.opened >= opened)
            .map_err(|e| format!("connecting: {e}"))?;
        self.enter(RunPhase::Warmup);
        self.pump(warmup, |_| false)?;
        self.enter(RunPhase::Run);
        self.tally.recording = record;
        let now = Instant::now();
        for slot in 0..self.slots.len() {
            self.schedule_fault(slot, now);
        }
        let cpu = crate::thread_cpu();
        let start = Instant::now();
        self.pump(duration, |_| false)?;
        if let (Some(before), Some(after), true) = (cpu, crate::thread_cpu(), record) {
            self.loadgen_cpu = Some((after - before) as f64 / start.elapsed().as_nanos() as f64);
        }
        self.tally.recording = false;
        self.enter(RunPhase::Drain);
        let drained = self.pump(drain_limit, |s| {
            s.slots.iter().all(|slot| {
                slot.conn
                    .as_ref()
                    .map_or(true, |c| !c.busy() && !c.is_fault_running())
            })
        });
        if let Err(e) = drained {
            let waiting: Vec<String> = self
                .slots
                .iter()
                .filter_map(|s| s.conn.as_ref())
                .filter(|c| c.busy() || c.is_fault_running())
                .take(5)
                .map(Conn::describe)
                .collect();
            self.tally
                .problem(format!("drain: {e}; still running: {waiting:?}"));
        }
        self.enter(RunPhase::Closing);
        if let Err(e) = self.close_all(close_limit, "closing") {
            self.tally.problem(e);
        }
        Ok(())
    }

    /// Starts the run's connections, and while priming the extra ones too.
    fn start_all(&mut self) {
        let now = Instant::now();
        let count = match self.priming {
            true => self.slots.len(),
            false => self.options.connections,
        };
        for slot in &mut self.slots[..count] {
            slot.restart_at = Some(now);
        }
    }

    /// Closes every connection with 1000 and waits until the server has ended them all.
    fn close_all(&mut self, limit: Duration, phase: &str) -> Result<(), String> {
        let now = Instant::now();
        for slot in 0..self.slots.len() {
            self.slots[slot].restart_at = None;
            if let Some(mut conn) = self.slots[slot].conn.take() {
                conn.close(&shared(&self.options, self.phase), now);
                self.slots[slot].conn = Some(conn);
                self.reschedule(slot);
            }
        }
        let closed = self.pump(limit, |s| s.slots.iter().all(|slot| slot.conn.is_none()));
        if let Err(e) = closed {
            let left: Vec<&Conn> = self.slots.iter().filter_map(|s| s.conn.as_ref()).collect();
            self.tally.unexpected += left.len() as u64;
            let first: Vec<String> = left.iter().take(3).map(|c| c.describe()).collect();
            return Err(format!(
                "{phase}: {e}; {} connections never closed: {first:?}",
                left.len()
            ));
        }
        Ok(())
    }

    fn enter(&mut self, phase: RunPhase) {
        eprintln!(
            "soak: {:>6.1} s  {}{} ({} open, {} checked, {} faults)",
            self.started.elapsed().as_secs_f64(),
            if self.priming { "prime: " } else { "" },
            phase.name(),
            self.open_count(),
            self.tally.checked,
            self.tally.faults_started()
        );
        self.phase = phase;
    }

    fn open_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.conn.as_ref().is_some_and(|c| c.phase == Phase::Open))
            .count()
    }

    /// The loop: socket events, timers, reconnections, and a sample each second, until `done` or
    /// `limit` (the end of a timed phase, or an error for a phase that waits for a condition).
    fn pump(&mut self, limit: Duration, done: impl Fn(&Soak) -> bool) -> Result<(), String> {
        let start = Instant::now();
        let deadline = start + limit;
        let mut events = Events::with_capacity(1024);
        let mut next_sample = self.next_sample_at();
        loop {
            let now = Instant::now();
            if now >= next_sample {
                self.sample();
                next_sample = self.next_sample_at();
            }
            if done(self) {
                return Ok(());
            }
            if now >= deadline {
                return match self.phase {
                    RunPhase::Baseline | RunPhase::Warmup | RunPhase::Run | RunPhase::After => {
                        Ok(())
                    }
                    _ => Err(format!("timed out after {:.0} s", limit.as_secs_f64())),
                };
            }
            self.start_connections(now)?;
            let wake = self
                .timers
                .peek()
                .map_or(deadline, |Reverse((at, _))| *at)
                .min(deadline)
                .min(next_sample);
            let mut wait = wake
                .saturating_duration_since(now)
                .min(Duration::from_millis(50));
            if !self.again.is_empty() {
                wait = Duration::ZERO;
            }
            self.poll
                .poll(&mut events, Some(wait))
                .map_err(|e| format!("poll: {e}"))?;
            let now = Instant::now();
            for event in events.iter() {
                let slot = event.token().0;
                let ended = event.is_read_closed() || event.is_error();
                self.service(
                    slot,
                    now,
                    event.is_readable() || ended,
                    event.is_writable(),
                    ended,
                );
            }
            // The timers due now; one that a tick sets again for now waits for the next turn.
            let mut due = Vec::new();
            while let Some(Reverse((at, slot))) = self.timers.peek().copied() {
                if at > now {
                    break;
                }
                self.timers.pop();
                if self.slots[slot].scheduled == Some(at) {
                    self.slots[slot].scheduled = None;
                }
                due.push(slot);
            }
            for slot in due {
                self.tick(slot, now);
            }
            for slot in std::mem::take(&mut self.again) {
                self.service(slot, now, true, false, false);
            }
        }
    }

    fn next_sample_at(&self) -> Instant {
        let elapsed = self.started.elapsed().as_secs();
        self.started + Duration::from_secs(elapsed + 1)
    }

    fn sample(&mut self) {
        let reading = monitor::read(self.options.server_pid);
        if self.phase == RunPhase::Baseline {
            self.baseline.push(reading);
        }
        self.last = reading;
        let latency = match self.tally.second.is_empty() {
            true => None,
            false => {
                let sorted = &mut self.tally.second;
                sorted.sort_unstable();
                Some([0.5, 0.99, 0.999].map(|q| percentile(sorted, q) as f64 / 1e3))
            }
        };
        self.tally.second.clear();
        let sample = Sample {
            t: self.started.elapsed().as_secs_f64(),
            phase: if self.priming {
                "prime"
            } else {
                self.phase.name()
            },
            reading,
            open: self.open_count(),
            checked: self.tally.checked,
            faults: self.tally.faults_started(),
            latency,
        };
        if let Err(e) = self.samples.write(&sample) {
            eprintln!("soak: writing samples: {e}");
        }
    }

    /// The baseline: the median of the idle server's readings (as `benches/soak_plot.py` draws it).
    fn baseline(&self) -> Reading {
        let median = |mut v: Vec<u64>| {
            v.sort_unstable();
            v.get(v.len().saturating_sub(1) / 2).copied()
        };
        Reading {
            rss_kib: median(self.baseline.iter().filter_map(|r| r.rss_kib).collect()),
            fds: median(self.baseline.iter().filter_map(|r| r.fds).collect()),
        }
    }

    fn back_to_baseline(&self) -> Result<(), String> {
        let (base, now) = (self.baseline(), self.last);
        if let (Some(base), Some(now)) = (base.fds, now.fds) {
            if now > base {
                return Err(format!(
                    "the server holds {now} descriptors, {base} at the start"
                ));
            }
        }
        if let (Some(base), Some(now)) = (base.rss_kib, now.rss_kib) {
            let limit = base as f64 * (1.0 + self.options.rss_tolerance);
            if now as f64 > limit {
                return Err(format!(
                    "the server's RSS is {:.1} MiB, {:.1} MiB at the start (limit {:.1})",
                    now as f64 / 1024.0,
                    base as f64 / 1024.0,
                    limit / 1024.0
                ));
            }
        }
        Ok(())
    }

    /// Opens the connections whose time has come, at most `max_pending` handshakes at once.
    fn start_connections(&mut self, now: Instant) -> Result<(), String> {
        if self.phase >= RunPhase::Drain || self.phase == RunPhase::Baseline {
            return Ok(());
        }
        let mut pending = self.pending();
        for slot in 0..self.slots.len() {
            if pending >= self.options.max_pending {
                break;
            }
            if self.slots[slot].conn.is_some()
                || self.slots[slot].restart_at.map_or(true, |at| at > now)
            {
                continue;
            }
            self.slots[slot].restart_at = None;
            let fault = self.slots[slot].faulty.then(|| self.pick_fault());
            let life = self.slots[slot].life;
            self.slots[slot].life += 1;
            let mut tcp = TcpStream::connect(self.options.url.addr)
                .map_err(|e| format!("slot {slot}: connect: {e}"))?;
            self.poll
                .registry()
                .register(
                    &mut tcp,
                    Token(slot),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("slot {slot}: register: {e}"))?;
            let tls = self.tls.as_ref().map(|c| (c, self.host.as_str()));
            let stream = Stream::new(tcp, tls).map_err(|e| format!("slot {slot}: TLS: {e}"))?;
            if fault == Some(Fault::Slowloris) {
                self.tally.fault_started(Fault::Slowloris);
            } else {
                pending += 1;
            }
            self.slots[slot].conn = Some(Conn::new(slot, life, stream, fault));
        }
        Ok(())
    }

    fn pending(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|s| s.conn.as_ref())
            .filter(|c| {
                matches!(c.phase, Phase::Connecting | Phase::Handshake)
                    && c.fault != Some(Fault::Slowloris)
            })
            .count()
    }

    /// The next fault in turn; slowloris only once the run proper has begun (it never opens).
    fn pick_fault(&mut self) -> Fault {
        loop {
            let fault = fault::ALL[self.next_fault % fault::ALL.len()];
            self.next_fault += 1;
            if fault != Fault::Slowloris || self.phase == RunPhase::Run {
                return fault;
            }
        }
    }

    /// Schedules the fault of a faulty slot's open connection (during the run proper only), and the
    /// connection's next wake-up in any case.
    fn schedule_fault(&mut self, slot: usize, now: Instant) {
        let delay = 0.5 + (next(&mut self.rng) % 2500) as f64 / 1000.0;
        if let Some(conn) = &mut self.slots[slot].conn {
            if conn.phase == Phase::Open && self.phase == RunPhase::Run {
                conn.schedule_fault(now + Duration::from_secs_f64(delay));
            }
        }
        self.reschedule(slot);
    }

    fn service(&mut self, slot: usize, now: Instant, readable: bool, writable: bool, ended: bool) {
        let Some(mut conn) = self.slots[slot].conn.take() else {
            return;
        };
        let shared = shared(&self.options, self.phase);
        let mut end = None;
        if conn.phase == Phase::Connecting {
            match crate::client::connected(conn.stream.tcp()) {
                Ok(true) => {
                    if let Err(e) = conn.connected(&shared, now) {
                        end = Some(conn.fail(&mut self.tally, format!("handshake write: {e}")));
                    }
                }
                Ok(false) => {}
                Err(e) => end = Some(conn.fail(&mut self.tally, e)),
            }
        }
        if end.is_none() && conn.phase != Phase::Connecting {
            if ended {
                end = conn.peer_ended(&mut self.tally, now);
            }
            if end.is_none() && writable {
                if let Err(e) = conn.writable(&shared, now) {
                    end = Some(conn.write_failed(&mut self.tally, e, now));
                }
            }
            if end.is_none() && readable {
                end = conn.readable(&shared, &mut self.tally, now);
            }
            if end.is_none() {
                end = conn.tick(&shared, &mut self.tally, now);
            }
        }
        if end.is_none() && conn.more_to_read {
            self.again.push(slot);
        }
        self.settle(slot, conn, end, now);
    }

    fn tick(&mut self, slot: usize, now: Instant) {
        let Some(mut conn) = self.slots[slot].conn.take() else {
            return;
        };
        let shared = shared(&self.options, self.phase);
        let end = match conn.phase {
            Phase::Connecting => None,
            _ => conn.tick(&shared, &mut self.tally, now),
        };
        self.settle(slot, conn, end, now);
    }

    /// After a connection ran: keep it (scheduling its next wake-up and, once open, its fault), or
    /// drop it and plan the slot's next life.
    fn settle(&mut self, slot: usize, mut conn: Conn, end: Option<End>, now: Instant) {
        let finished = end.is_some() || conn.phase == Phase::Done;
        if !finished {
            if conn.fault_finished() {
                let shared = shared(&self.options, self.phase);
                conn.close(&shared, now);
            }
            let newly_open = conn.phase == Phase::Open && conn.fault.is_some();
            self.slots[slot].conn = Some(conn);
            match newly_open {
                // Idempotent: a fault is scheduled once per life.
                true => self.schedule_fault(slot, now),
                false => self.reschedule(slot),
            }
            return;
        }
        if end == Some(End::Clean) {
            self.tally.clean_closes += 1;
        }
        let _ = self.poll.registry().deregister(conn.stream.tcp());
        drop(conn);
        let s = &mut self.slots[slot];
        s.scheduled = None;
        let running = matches!(
            self.phase,
            RunPhase::Connect | RunPhase::Warmup | RunPhase::Run
        );
        if running && (s.faulty || end == Some(End::Failed)) {
            s.restart_at = Some(now + Duration::from_millis(200));
        }
    }

    fn reschedule(&mut self, slot: usize) {
        let Some(wake) = self.slots[slot].conn.as_ref().and_then(Conn::wake) else {
            return;
        };
        let s = &mut self.slots[slot];
        if s.scheduled.map_or(true, |at| wake < at) {
            s.scheduled = Some(wake);
            self.timers.push(Reverse((wake, slot)));
        }
    }

    fn report(&mut self, outcome: &Result<(), String>) -> (String, Result<(), String>) {
        let t = &self.tally;
        let base = self.baseline();
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"label\":\"{}\",\"connections\":{},\"faulty_slots\":{},\"duration_s\":{:.0},\"checked\":{},\
             \"lost\":{},\"duplicated\":{},\"corrupted\":{},\"unexpected_ends\":{},\"clean_closes\":{},\"half_close_unanswered\":{}",
            crate::json_escape(&self.options.label),
            self.options.connections,
            self.slots.iter().filter(|s| s.faulty).count(),
            self.options.duration.as_secs_f64(),
            t.checked,
            t.lost,
            t.duplicated,
            t.corrupted,
            t.unexpected,
            t.clean_closes,
            t.half_close_unanswered
        );
        out.push_str(",\"faults\":{");
        for (i, fault) in fault::ALL.iter().enumerate() {
            let c = t.faults[i];
            let _ = write!(
                out,
                "{}\"{}\":{{\"started\":{},\"answered\":{},\"failed\":{}}}",
                if i == 0 { "" } else { "," },
                fault.name(),
                c.started,
                c.answered,
                c.failed
            );
        }
        out.push('}');
        crate::write_latencies(&mut out, &t.run);
        let opt = |v: Option<u64>| v.map_or("null".to_owned(), |v| v.to_string());
        let _ = write!(
            out,
            ",\"rss_kib_cold\":{},\"rss_kib_baseline\":{},\"rss_kib_end\":{},\"fds_baseline\":{},\"fds_end\":{}",
            opt(self.cold.rss_kib),
            opt(base.rss_kib),
            opt(self.last.rss_kib),
            opt(base.fds),
            opt(self.last.fds)
        );
        if let Some(cpu) = self.loadgen_cpu {
            let _ = write!(out, ",\"loadgen_cpu\":{cpu:.2}");
        }
        let verdict = self.verdict(outcome);
        crate::write_outcome(&mut out, &verdict);
        (out, verdict)
    }

    fn verdict(&self, outcome: &Result<(), String>) -> Result<(), String> {
        outcome.clone()?;
        let t = &self.tally;
        if t.lost + t.duplicated + t.corrupted > 0 {
            return Err(format!(
                "{} lost, {} duplicated, {} corrupted echoes",
                t.lost, t.duplicated, t.corrupted
            ));
        }
        if t.unexpected > 0 {
            return Err(format!(
                "{} well-behaved connections ended badly",
                t.unexpected
            ));
        }
        let failed: u64 = t.faults.iter().map(|f| f.failed).sum();
        if failed > 0 {
            return Err(format!("{failed} faults were not answered as they must be"));
        }
        let unfinished: u64 = t
            .faults
            .iter()
            .map(|f| f.started - f.answered - f.failed)
            .sum();
        if unfinished > 0 {
            return Err(format!("{unfinished} faults never finished"));
        }
        if t.problem_count > 0 {
            return Err(format!(
                "{} problems, first: {}",
                t.problem_count, t.problems[0]
            ));
        }
        self.back_to_baseline()
    }
}

/// What the connections need to know of the run, borrowed apart from the tally they write to.
fn shared(o: &Options, phase: RunPhase) -> Shared<'_> {
    Shared {
        host: &o.url.host,
        path: &o.url.path,
        deflate: o.deflate,
        max_size: o.max_size,
        burst: o.burst,
        think: Duration::from_secs_f64(o.connections as f64 / o.rate.max(0.001)),
        timers: o.timers,
        sending: phase < RunPhase::Drain,
    }
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut url = None;
    let secs = Duration::from_secs;
    let mut o = Options {
        url: Target::parse("ws://127.0.0.1:0/")?,
        tls: false,
        connections: 1000,
        duration: secs(60),
        warmup: secs(5),
        rate: 0.0,
        fault_share: 0.05,
        max_size: 1 << 20,
        burst: 12 << 20,
        deflate: false,
        ca: None,
        server_pid: None,
        samples: None,
        label: String::new(),
        timers: Timers {
            handshake: secs(10),
            ping_interval: secs(20),
            ping_timeout: secs(20),
            close: secs(10),
            grace: secs(5),
        },
        settle: secs(30),
        rss_tolerance: 0.10,
        max_pending: 100,
        prime: None,
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--url" => url = args.next(),
            "--connections" => o.connections = number(&flag, args.next())?,
            "--duration" => o.duration = seconds(&flag, args.next())?,
            "--warmup" => o.warmup = seconds(&flag, args.next())?,
            "--rate" => o.rate = number(&flag, args.next())?,
            "--fault-share" => o.fault_share = number(&flag, args.next())?,
            "--max-size" => o.max_size = number(&flag, args.next())?,
            "--burst" => o.burst = number(&flag, args.next())?,
            "--deflate" => o.deflate = true,
            "--ca" => o.ca = args.next(),
            "--server-pid" => o.server_pid = Some(number(&flag, args.next())?),
            "--samples" => o.samples = args.next(),
            "--label" => o.label = args.next().unwrap_or_default(),
            "--handshake-timeout" => o.timers.handshake = seconds(&flag, args.next())?,
            "--ping-interval" => o.timers.ping_interval = seconds(&flag, args.next())?,
            "--ping-timeout" => o.timers.ping_timeout = seconds(&flag, args.next())?,
            "--close-timeout" => o.timers.close = seconds(&flag, args.next())?,
            "--grace" => o.timers.grace = seconds(&flag, args.next())?,
            "--settle" => o.settle = seconds(&flag, args.next())?,
            "--rss-tolerance" => o.rss_tolerance = number(&flag, args.next())?,
            "--max-pending" => o.max_pending = number(&flag, args.next())?,
            "--prime" => o.prime = Some(seconds(&flag, args.next())?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let (tls, plain) = match url.strip_prefix("wss://") {
        Some(rest) => (true, format!("ws://{rest}")),
        None => (false, url.clone()),
    };
    o.url = Target::parse(&plain)?;
    o.tls = tls;
    if o.connections == 0 || o.max_pending == 0 {
        return Err("--connections and --max-pending must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&o.fault_share) {
        return Err("--fault-share is a fraction, 0 to 1".into());
    }
    if o.rate <= 0.0 {
        // One message per connection every two seconds.
        o.rate = o.connections as f64 / 2.0;
    }
    if o.label.is_empty() {
        o.label = format!("{} connections on {url}", o.connections);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_wss_and_the_server_timers() {
        let args = [
            "--url",
            "wss://localhost:9/x",
            "--ca",
            "c.pem",
            "--ping-interval",
            "5",
            "--connections",
            "20",
        ];
        let o = parse_options(args.iter().map(|s| s.to_string())).unwrap();
        assert!(o.tls);
        assert_eq!(o.url.path, "/x");
        assert_eq!(o.timers.ping_interval, Duration::from_secs(5));
        assert_eq!(o.rate, 10.0);
        let bad = ["--url", "ws://127.0.0.1:9/", "--fault-share", "2"];
        assert!(parse_options(bad.iter().map(|s| s.to_string())).is_err());
    }
}
