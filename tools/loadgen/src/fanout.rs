//! The fan-out workload (`--fanout`, for `benches/fanout.sh`): `--connections` subscribers that only
//! read, on `--url`, and one publisher on `--publish-url`, the last connection to open. Once every
//! connection is open the publisher sends numbered messages of `--size` bytes, at most `--in-flight`
//! ahead of the slowest subscriber (message k goes out once every subscriber has message k − W), so a
//! server that keeps up never needs to drop one. Every subscriber checks that it gets every message
//! once, in order, byte-exact; a message without our marker is someone else's (the chat's "someone
//! joined", its clock) and is skipped. The publisher reads and skips what it is sent (the chat relays
//! to the sender too).
//!
//! The warm-up lasts `--warmup` seconds and at least until every subscriber has `--in-flight` messages,
//! so that what a server does once per connection stays out of the measurement. Then it counts
//! deliveries for `--duration` seconds; with `--server-pid` it reads the server's CPU time at the
//! window's two ends, so the CPU per delivery covers the same deliveries. With `--latency`, each
//! delivery's time from the publisher queueing the message to a subscriber parsing it (one process,
//! one clock). Then it stops publishing, waits until every subscriber has every message,
//! and closes every connection with the close handshake.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::client::{Message, Outbox, Pool, Settings, Window, Workload};
use crate::frame::{self, OP_BINARY, OP_TEXT};
use crate::Options;

/// Every message we publish starts with it, then its sequence number in 16 hex digits and a space.
const MARKER: &[u8] = b"fanout ";
const HEADER_LEN: usize = MARKER.len() + 16 + 1;

/// What the publisher sends: message `seq` is its header, then a window of the pattern that moves with
/// `seq`, so that a message delivered in another's place differs from the one expected.
pub struct Payloads {
    opcode: u8,
    size: usize,
    pattern: Vec<u8>,
}

impl Payloads {
    /// Text (compressible words, valid UTF-8 however cut) or binary (random bytes) of `size` bytes.
    pub fn new(text: bool, size: usize) -> Result<Payloads, String> {
        if size < HEADER_LEN {
            return Err(format!(
                "--size must be at least {HEADER_LEN} with --fanout (the marker and sequence number)"
            ));
        }
        let len = size - HEADER_LEN + 256;
        let (opcode, pattern) = match text {
            true => (OP_TEXT, words(len)),
            false => (OP_BINARY, crate::random_pattern(len)),
        };
        Ok(Payloads {
            opcode,
            size,
            pattern,
        })
    }

    fn body(&self, seq: u64) -> &[u8] {
        let offset = (seq % 256) as usize;
        &self.pattern[offset..offset + self.size - HEADER_LEN]
    }

    /// Writes message `seq` into `out` (cleared first).
    pub fn write(&self, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&header(seq));
        out.extend_from_slice(self.body(seq));
    }

    /// The sequence number of one of our messages; `None` for anything else.
    pub fn sequence(payload: &[u8]) -> Option<u64> {
        let digits = payload.strip_prefix(MARKER)?.get(..17)?;
        if digits[16] != b' ' || !digits[..16].iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u64::from_str_radix(std::str::from_utf8(&digits[..16]).ok()?, 16).ok()
    }

    /// Compares a delivery with message `seq`: `Err` holds the first byte that differs.
    pub fn check(&self, seq: u64, payload: &[u8]) -> Result<(), usize> {
        let header = header(seq);
        let body = self.body(seq);
        if payload.len() == self.size
            && payload[..HEADER_LEN] == header
            && payload[HEADER_LEN..] == *body
        {
            return Ok(());
        }
        let at = payload
            .iter()
            .zip(header.iter().chain(body))
            .position(|(a, b)| a != b);
        Err(at.unwrap_or(payload.len().min(self.size)))
    }
}

/// `fanout `, `seq` in 16 lowercase hex digits, a space: built on the stack, as it is checked for
/// every delivery.
fn header(seq: u64) -> [u8; HEADER_LEN] {
    let mut header = [b' '; HEADER_LEN];
    header[..MARKER.len()].copy_from_slice(MARKER);
    for (i, digit) in header[MARKER.len()..HEADER_LEN - 1].iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(seq >> (60 - 4 * i) & 0xF) as usize];
    }
    header
}

/// ASCII words, as a feed of prices or chat lines would be: text that compresses about threefold, not
/// the hundredfold of one repeated byte.
fn words(len: usize) -> Vec<u8> {
    const WORDS: [&str; 32] = [
        "price", "bid", "ask", "last", "volume", "open", "close", "high", "low", "EURUSD",
        "GBPUSD", "USDJPY", "update", "trade", "order", "filled", "cancel", "market", "limit",
        "book", "level", "the", "and", "of", "to", "1.0842", "1.0843", "157.21", "250000",
        "12:00:01", "true", "false",
    ];
    let mut rng = 0x1234_5678_9ABC_DEF1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(WORDS[(crate::next(&mut rng) % 32) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(len);
    out
}

/// A published message not yet received by every subscriber.
struct InFlight {
    queued: Instant,
    delivered: usize,
}

/// The counters at one end of the measured window.
#[derive(Clone, Copy)]
struct Edge {
    published: u64,
    deliveries: u64,
    /// The server's CPU time, with `--server-pid`: read at the same moment as the counters, so the CPU
    /// per delivery covers the same deliveries.
    server_cpu: Option<Duration>,
}

struct Measured {
    published: u64,
    deliveries: u64,
    window: Window,
    server_cpu: Option<Duration>,
}

pub struct Fanout<'a> {
    options: &'a Options,
    /// Subscribers are connections `0..subscribers`; the publisher is connection `subscribers`.
    subscribers: usize,
    payloads: Payloads,
    /// The next sequence number each subscriber expects.
    expected: Vec<u64>,
    /// Messages the publisher queued; sequence numbers start at 0.
    published: u64,
    /// Messages every subscriber has; `window` holds the ones published after them.
    acked: u64,
    window: VecDeque<InFlight>,
    sending: bool,
    deliveries: u64,
    compressed: u64,
    ignored: u64,
    /// Publish-to-delivery times in ns, kept while `recording` is true.
    recording: bool,
    latencies: Vec<u64>,
    window_opened: Option<Edge>,
    window_closed: Option<Edge>,
    measured: Option<Measured>,
    scratch: Vec<u8>,
}

/// The connections of a fan-out run: the subscribers, then the publisher.
pub fn pool(options: &Options) -> std::io::Result<Pool> {
    let publisher = options
        .publish_url
        .clone()
        .expect("parse_options requires --publish-url with --fanout");
    // Room for deflate's overhead on incompressible bytes and for other senders' short messages.
    let longest = options.size + 1024;
    Pool::new(
        vec![(options.url.clone(), options.connections), (publisher, 1)],
        Settings {
            max_pending: options.max_pending,
            max_frame: longest,
            max_message: longest,
            read_capacity: (options.size + 14)
                .saturating_mul(options.in_flight)
                .clamp(4 << 10, 1 << 20),
            deflate: options.deflate,
        },
    )
}

impl<'a> Fanout<'a> {
    pub fn new(options: &'a Options) -> Result<Fanout<'a>, String> {
        Ok(Fanout {
            options,
            subscribers: options.connections,
            payloads: Payloads::new(options.text, options.size)?,
            expected: vec![0; options.connections],
            published: 0,
            acked: 0,
            window: VecDeque::new(),
            sending: false,
            deliveries: 0,
            compressed: 0,
            ignored: 0,
            recording: false,
            latencies: Vec::new(),
            window_opened: None,
            window_closed: None,
            measured: None,
            scratch: Vec::new(),
        })
    }

    pub fn run(&mut self, pool: &mut Pool) -> Result<(), String> {
        let o = self.options;
        let total = pool.total();
        let start = Instant::now();
        pool.pump(self, "connecting", o.timeout, |p, _| p.counts.open == total)?;
        eprintln!(
            "loadgen: {} subscribers and the publisher open after {:.1} s",
            self.subscribers,
            start.elapsed().as_secs_f64()
        );
        self.sending = true;
        let window = pool.measure(self, o.warmup, o.duration, o.timeout)?;
        let (Some(from), Some(to)) = (self.window_opened, self.window_closed) else {
            unreachable!("Pool::measure opens and closes the window");
        };
        let server_cpu = from.server_cpu.zip(to.server_cpu);
        if o.server_pid.is_some() && server_cpu.is_none() {
            eprintln!("loadgen: could not read /proc/PID/stat of --server-pid");
        }
        self.measured = Some(Measured {
            published: to.published - from.published,
            deliveries: to.deliveries - from.deliveries,
            window,
            server_cpu: server_cpu.map(|(before, after)| after.saturating_sub(before)),
        });

        self.sending = false;
        pool.pump(self, "draining", o.timeout, |_, fanout| {
            fanout.acked == fanout.published
        })?;
        if let Some((id, &got)) = self
            .expected
            .iter()
            .enumerate()
            .find(|(_, &got)| got != self.published)
        {
            return Err(format!(
                "subscriber {id}: {got} messages of {} published",
                self.published
            ));
        }
        pool.close_all(self, o.timeout)
    }

    pub fn report(&self, pings: u64, outcome: &Result<(), String>) -> String {
        let o = self.options;
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"mode\":\"fanout\",\"subscribers\":{},\"size\":{},\"in_flight\":{},\"payload\":\"{}\",\"deflate\":{}",
            self.subscribers,
            o.size,
            o.in_flight,
            if o.text { "text" } else { "binary" },
            o.deflate
        );
        if let Some(m) = &self.measured {
            let secs = m.window.elapsed.as_secs_f64();
            let _ = write!(
                out,
                ",\"duration_s\":{secs:.3},\"published\":{},\"deliveries\":{},\"deliveries_per_s\":{:.1}",
                m.published,
                m.deliveries,
                m.deliveries as f64 / secs
            );
            if let Some(cpu) = m.window.loadgen_cpu {
                let _ = write!(out, ",\"loadgen_cpu\":{cpu:.3}");
            }
            if let Some(cpu) = m.server_cpu {
                let cpu = cpu.as_secs_f64();
                let _ = write!(out, ",\"server_cpu_s\":{cpu:.3}");
                if m.deliveries > 0 && cpu > 0.0 {
                    let _ = write!(
                        out,
                        ",\"server_cpu_us_per_delivery\":{:.4},\"deliveries_per_server_cpu_s\":{:.1}",
                        cpu * 1e6 / m.deliveries as f64,
                        m.deliveries as f64 / cpu
                    );
                }
            }
        }
        if o.latency {
            crate::write_latencies(&mut out, &self.latencies);
        }
        let _ = write!(
            out,
            ",\"published_total\":{},\"deliveries_total\":{},\"compressed\":{},\"ignored\":{},\"pings\":{pings}",
            self.published, self.deliveries, self.compressed, self.ignored
        );
        crate::write_outcome(&mut out, outcome);
        out
    }

    /// Checks one delivery to subscriber `id` and moves the window.
    fn deliver(&mut self, id: usize, message: Message<'_>) -> Result<(), String> {
        let Some(seq) = Payloads::sequence(message.payload) else {
            self.ignored += 1;
            return Ok(());
        };
        let expected = self.expected[id];
        if seq != expected {
            return Err(match seq < expected {
                true => format!(
                    "subscriber {id}: message {seq} again, or out of order, after {}",
                    expected - 1
                ),
                false => format!(
                    "subscriber {id}: message {seq} while {expected} was due ({} lost)",
                    seq - expected
                ),
            });
        }
        if seq >= self.published {
            return Err(format!("subscriber {id}: message {seq}, never published"));
        }
        if message.opcode != self.payloads.opcode {
            return Err(format!(
                "subscriber {id}: message {seq} with opcode {:#x}, published as {:#x}",
                message.opcode, self.payloads.opcode
            ));
        }
        if let Err(at) = self.payloads.check(seq, message.payload) {
            return Err(format!(
                "subscriber {id}: message {seq} differs from the one published: {} bytes for {}, first difference at byte {at}",
                message.payload.len(),
                self.payloads.size
            ));
        }
        self.expected[id] += 1;
        self.deliveries += 1;
        self.compressed += u64::from(message.compressed);
        // Every subscriber's next message is at or after `acked`: the window holds it.
        let slot = &mut self.window[(seq - self.acked) as usize];
        slot.delivered += 1;
        if self.recording {
            self.latencies.push(slot.queued.elapsed().as_nanos() as u64);
        }
        while self
            .window
            .front()
            .is_some_and(|m| m.delivered == self.subscribers)
        {
            self.window.pop_front();
            self.acked += 1;
        }
        Ok(())
    }
}

impl Workload for Fanout<'_> {
    fn message(&mut self, id: usize, message: Message<'_>) -> Result<(), String> {
        match id == self.subscribers {
            // The publisher's own messages, relayed back by a chat: not a delivery.
            true => Ok(()),
            false => self.deliver(id, message),
        }
    }

    fn top_up(&mut self, id: usize, out: &mut Outbox<'_>) {
        if id != self.subscribers || !self.sending {
            return;
        }
        while self.published - self.acked < self.options.in_flight as u64 {
            self.payloads.write(self.published, &mut self.scratch);
            let key = out.mask_key();
            frame::encode_masked(out.wbuf, self.payloads.opcode, &self.scratch, key);
            self.window.push_back(InFlight {
                queued: Instant::now(),
                delivered: 0,
            });
            self.published += 1;
        }
    }

    fn idle_sender(&self) -> Option<usize> {
        Some(self.subscribers)
    }

    fn progress(&self) -> String {
        format!(
            "{} published, {} delivered to every subscriber",
            self.published, self.acked
        )
    }

    /// Every subscriber has had a window's worth of messages: what a server does at a connection's first
    /// message (allocating a compressor, 256 KiB or more with zlib, for each of 10,000 connections) is
    /// not counted as the cost of a delivery.
    fn warmed_up(&self) -> bool {
        self.acked >= self.options.in_flight as u64
    }

    fn measuring(&mut self, open: bool) {
        let edge = Some(Edge {
            published: self.published,
            deliveries: self.deliveries,
            server_cpu: self.options.server_pid.and_then(process_cpu),
        });
        self.recording = open && self.options.latency;
        match open {
            true => self.window_opened = edge,
            false => self.window_closed = edge,
        }
    }
}

/// CPU time (user + system, every thread) the process has used, from `/proc/PID/stat`.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat)
}

/// utime and stime are fields 14 and 15 of `/proc/PID/stat` (proc(5)), counted after the command
/// name, which is in parentheses and may itself hold spaces and parentheses. They are in USER_HZ
/// ticks, which the kernel fixes at 100 a second for user space on every architecture this runs on.
fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    const USER_HZ: u64 = 100;
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    // After the name: state (field 3) ... utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::unmask;

    #[test]
    fn a_published_message_checks_as_its_own_delivery() {
        for text in [true, false] {
            for size in [HEADER_LEN, 32, 1024] {
                let payloads = Payloads::new(text, size).unwrap();
                let mut message = Vec::new();
                for seq in [0, 1, 255, 256, u64::MAX] {
                    payloads.write(seq, &mut message);
                    assert_eq!(message.len(), size);
                    assert_eq!(Payloads::sequence(&message), Some(seq));
                    assert_eq!(payloads.check(seq, &message), Ok(()), "{text} {size} {seq}");
                    if text {
                        assert!(std::str::from_utf8(&message).is_ok());
                    }
                }
            }
        }
    }

    #[test]
    fn another_message_or_a_damaged_one_fails_the_check() {
        let payloads = Payloads::new(false, 64).unwrap();
        let mut message = Vec::new();
        payloads.write(10, &mut message);
        assert_eq!(
            payloads.check(11, &message),
            Err(22),
            "the next sequence number"
        );
        assert_eq!(
            payloads.check(10 + 256, &message),
            Err(20),
            "same body, another number"
        );
        let mut flipped = message.clone();
        flipped[40] ^= 1;
        assert_eq!(payloads.check(10, &flipped), Err(40));
        assert_eq!(payloads.check(10, &message[..63]), Err(63), "truncated");
    }

    #[test]
    fn only_our_marker_carries_a_sequence_number() {
        assert_eq!(
            Payloads::sequence(b"fanout 00000000000000ff body"),
            Some(255)
        );
        for other in [
            &b"someone joined"[..],
            b"server time: 12:00:01 UTC",
            b"fanout 00000000000000ff",
            b"fanout 00000000000000fg body",
            b"fanout 00000000000000ff-body",
            b"fanout ",
        ] {
            assert_eq!(
                Payloads::sequence(other),
                None,
                "{:?}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn text_payloads_compress() {
        use miniz_oxide::deflate::compress_to_vec;
        let payloads = Payloads::new(true, 1024).unwrap();
        let mut message = Vec::new();
        payloads.write(3, &mut message);
        let compressed = compress_to_vec(&message, 6).len();
        assert!(compressed < message.len() / 2, "{compressed} bytes");
    }

    fn options(connections: usize, in_flight: usize) -> Options {
        let args = [
            "--fanout",
            "--url",
            "ws://127.0.0.1:9/",
            "--publish-url",
            "ws://127.0.0.1:9/publish",
            "--connections",
            &connections.to_string(),
            "--in-flight",
            &in_flight.to_string(),
        ];
        crate::parse_options(args.iter().map(|s| s.to_string())).unwrap()
    }

    /// Publishes through `top_up` and returns the payloads it queued.
    fn publish(fanout: &mut Fanout<'_>) -> Vec<Vec<u8>> {
        let (mut wbuf, mut rng) = (Vec::new(), 1);
        let before = fanout.published;
        fanout.top_up(fanout.subscribers, &mut Outbox::new(&mut wbuf, &mut rng));
        let mut messages = Vec::new();
        let mut rest = &wbuf[..];
        while !rest.is_empty() {
            let len = 2 + 4 + (rest[1] & 0x7F) as usize;
            messages.push(unmask(&rest[..len]));
            rest = &rest[len..];
        }
        assert_eq!(messages.len() as u64, fanout.published - before);
        messages
    }

    fn binary(payload: &[u8]) -> Message<'_> {
        Message {
            opcode: OP_BINARY,
            compressed: false,
            payload,
        }
    }

    #[test]
    fn the_publisher_stays_in_flight_messages_ahead_of_the_slowest_subscriber() {
        let options = options(2, 3);
        let mut fanout = Fanout::new(&options).unwrap();
        assert!(publish(&mut fanout).is_empty(), "not before the run starts");
        fanout.sending = true;
        let sent = publish(&mut fanout);
        assert_eq!(sent.len(), 3);
        assert!(publish(&mut fanout).is_empty());
        // Subscriber 0 takes all three; subscriber 1 only the first: one more may go.
        for message in &sent {
            fanout.message(0, binary(message)).unwrap();
        }
        fanout.message(1, binary(&sent[0])).unwrap();
        let more = publish(&mut fanout);
        assert_eq!(more.len(), 1);
        assert_eq!(Payloads::sequence(&more[0]), Some(3));
        assert_eq!((fanout.acked, fanout.deliveries), (1, 4));
    }

    #[test]
    fn a_lost_repeated_or_foreign_delivery_is_caught() {
        let options = options(1, 4);
        let mut fanout = Fanout::new(&options).unwrap();
        fanout.sending = true;
        let sent = publish(&mut fanout);
        fanout.message(0, binary(b"someone joined")).unwrap();
        assert_eq!(fanout.ignored, 1);
        fanout.message(0, binary(&sent[0])).unwrap();
        let repeated = fanout.message(0, binary(&sent[0])).unwrap_err();
        assert!(repeated.contains("again"), "{repeated}");
        let lost = fanout.message(0, binary(&sent[2])).unwrap_err();
        assert!(lost.contains("1 lost"), "{lost}");
        let text = Message {
            opcode: OP_TEXT,
            ..binary(&sent[1])
        };
        assert!(fanout.message(0, text).unwrap_err().contains("opcode"));
        // The publisher's own copy is not a delivery.
        fanout.message(1, binary(&sent[1])).unwrap();
        assert_eq!(fanout.deliveries, 1);
    }

    #[test]
    fn reads_cpu_time_after_a_command_name_with_spaces() {
        let stat =
            "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_millis(3250)));
        assert_eq!(parse_stat_cpu("4242 (x) S 1"), None);
    }
}
