//! The echo workload (`benches/echo.sh`): each connection keeps `--in-flight` binary messages of
//! `--size` bytes outstanding and checks that every echo comes back byte-exact, in order, as one binary
//! message. After a warm-up it counts echoes for `--duration` seconds, then stops sending, waits for
//! every outstanding echo, checks that each connection got back as many messages as it sent, and
//! closes every connection.
//!
//! `--idle` instead does one echo on each connection, prints `loadgen: N idle connections open` on
//! stderr, and holds them for `--hold` seconds (answering pings) so that a script can read the
//! server's memory, then closes them all.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Instant;

use crate::client::{Message, Outbox, Pool, Settings, Window, Workload};
use crate::frame::{self, OP_BINARY};
use crate::Options;

/// One connection's side of the echo.
#[derive(Default)]
struct Exchange {
    sent: u64,
    received: u64,
    /// When each outstanding message was queued (only with `--latency`).
    send_times: VecDeque<Instant>,
}

pub struct Echo<'a> {
    options: &'a Options,
    conns: Vec<Exchange>,
    received: u64,
    outstanding: u64,
    /// Whether open connections top up their messages in flight.
    sending: bool,
    /// Messages each connection sends at most (`--idle`: one).
    per_conn_limit: u64,
    /// Round-trip times in ns, kept while `recording` is true.
    recording: bool,
    rtts: Vec<u64>,
    /// Echoes received when the measured window opened.
    window_start: u64,
    /// Random bytes; message `seq` of connection `id` is a window into it, tagged with both.
    pattern: Vec<u8>,
    measured: Option<Measured>,
}

struct Measured {
    messages: u64,
    window: Window,
}

/// The connections of an echo run: all to `--url`.
pub fn pool(options: &Options) -> std::io::Result<Pool> {
    let size = options.size;
    Pool::new(
        vec![(options.url.clone(), options.connections)],
        Settings {
            max_pending: options.max_pending,
            // An echo is never longer than what we sent (control frames aside).
            max_frame: size.max(125),
            max_message: size,
            read_capacity: (size + 14)
                .saturating_mul(options.in_flight)
                .clamp(4 << 10, 1 << 20),
            deflate: false,
        },
    )
}

impl<'a> Echo<'a> {
    pub fn new(options: &'a Options) -> Echo<'a> {
        Echo {
            options,
            conns: (0..options.connections)
                .map(|_| Exchange::default())
                .collect(),
            received: 0,
            outstanding: 0,
            sending: true,
            per_conn_limit: u64::MAX,
            recording: false,
            rtts: Vec::new(),
            window_start: 0,
            pattern: crate::random_pattern(options.size + 256),
            measured: None,
        }
    }

    pub fn load(&mut self, pool: &mut Pool) -> Result<(), String> {
        let o = self.options;
        pool.pump(self, "connecting", o.timeout, |p, _| {
            p.counts.open == o.connections
        })?;
        let window = pool.measure(self, o.warmup, o.duration, o.timeout)?;
        self.measured = Some(Measured {
            messages: self.received - self.window_start,
            window,
        });

        self.sending = false;
        pool.pump(self, "draining echoes", o.timeout, |_, echo| {
            echo.outstanding == 0
        })?;
        self.check_counts()?;
        pool.close_all(self, o.timeout)
    }

    pub fn idle(&mut self, pool: &mut Pool) -> Result<(), String> {
        let o = self.options;
        self.per_conn_limit = 1;
        let n = o.connections as u64;
        let start = Instant::now();
        pool.pump(self, "connecting", o.timeout, |p, echo| {
            p.counts.open == o.connections && echo.received == n
        })?;
        self.check_counts()?;
        eprintln!(
            "loadgen: {} idle connections open after {:.1} s; holding {:.1} s",
            o.connections,
            start.elapsed().as_secs_f64(),
            o.hold.as_secs_f64()
        );
        let end = Instant::now() + o.hold;
        pool.pump(self, "holding", o.hold + o.timeout, |_, _| {
            Instant::now() >= end
        })?;
        pool.close_all(self, o.timeout)
    }

    fn check_counts(&self) -> Result<(), String> {
        for (id, conn) in self.conns.iter().enumerate() {
            if conn.sent != conn.received {
                return Err(format!(
                    "connection {id}: sent {} messages, {} echoed",
                    conn.sent, conn.received
                ));
            }
        }
        Ok(())
    }

    pub fn report(&self, pings: u64, outcome: &Result<(), String>) -> String {
        let o = self.options;
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"mode\":\"{}\",\"connections\":{},\"size\":{},\"in_flight\":{}",
            if o.idle() { "idle" } else { "load" },
            o.connections,
            o.size,
            o.in_flight
        );
        if let Some(m) = &self.measured {
            let secs = m.window.elapsed.as_secs_f64();
            let rate = m.messages as f64 / secs;
            let _ = write!(
                out,
                ",\"duration_s\":{secs:.3},\"messages\":{},\"msgs_per_s\":{rate:.1},\"mb_per_s\":{:.3}",
                m.messages,
                rate * o.size as f64 / 1e6
            );
            if let Some(cpu) = m.window.loadgen_cpu {
                let _ = write!(out, ",\"loadgen_cpu\":{cpu:.3}");
            }
        }
        if o.latency {
            crate::write_latencies(&mut out, &self.rtts);
        }
        let _ = write!(out, ",\"pings\":{pings}");
        crate::write_outcome(&mut out, outcome);
        out
    }
}

impl Workload for Echo<'_> {
    /// Checks one echoed message against the one we sent with the same sequence number.
    fn message(&mut self, id: usize, message: Message<'_>) -> Result<(), String> {
        let conn = &mut self.conns[id];
        let received = conn.received;
        if message.opcode != OP_BINARY {
            return Err(format!(
                "echo {received} came back with opcode {:#x}, not binary",
                message.opcode
            ));
        }
        if received >= conn.sent {
            return Err(format!(
                "an extra message: {} echoes for {} sent",
                received + 1,
                conn.sent
            ));
        }
        let size = self.options.size;
        if let Err(at) = check_message(&self.pattern, size, id, received, message.payload) {
            return Err(format!(
                "echo {received} differs from the message sent: {} bytes for {size}, first difference at byte {at}",
                message.payload.len(),
            ));
        }
        if let Some(at) = conn.send_times.pop_front() {
            if self.recording {
                self.rtts.push(at.elapsed().as_nanos() as u64);
            }
        }
        conn.received += 1;
        self.received += 1;
        self.outstanding -= 1;
        Ok(())
    }

    fn top_up(&mut self, id: usize, out: &mut Outbox<'_>) {
        if !self.sending {
            return;
        }
        let want = self.options.in_flight as u64;
        let conn = &mut self.conns[id];
        while conn.sent - conn.received < want && conn.sent < self.per_conn_limit {
            let key = out.mask_key();
            encode_message(
                &self.pattern,
                self.options.size,
                id,
                conn.sent,
                key,
                out.wbuf,
            );
            if self.options.latency {
                conn.send_times.push_back(Instant::now());
            }
            conn.sent += 1;
            self.outstanding += 1;
        }
    }

    fn progress(&self) -> String {
        format!("{} echoes outstanding", self.outstanding)
    }

    fn measuring(&mut self, open: bool) {
        self.recording = open && self.options.latency;
        if open {
            self.window_start = self.received;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::unmask;

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
}
