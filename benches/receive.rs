//! Server-side receive of client-masked binary messages, in memory: wscore beside tungstenite beside a
//! plain `memcpy` of the same bytes.
//!
//! The input (N masked frames of one size) is built once. Each iteration feeds the whole stream again
//! into one reused connection, as socket reads of at most [`READ_CHUNK`] bytes would, and drains every
//! message. The stream is only complete messages, so each iteration starts from the same steady state.
//!
//! `wscore` reads into the connection's own buffer (`read_buffer` + `commit`, as a socket driver does)
//! and unmasks in place; `wscore_copy` hands the bytes to `receive`, which unmasks while copying (as a
//! TLS layer that decrypts into its own buffer would).
//!
//! Two groups measure the same code: `receive_bytes` reports payload bytes per second, `receive_msgs`
//! messages per second. `cargo bench --bench receive -- receive_bytes` runs only the first.

use std::hint::black_box;
use std::io::{self, Read, Write};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wscore::{Config, Connection, Event, Role};

mod common;
use common::client_stream;

/// The most bytes one simulated socket read delivers.
const READ_CHUNK: usize = 64 << 10;

/// Message sizes, with how many messages make up one iteration's stream.
const CASES: [(&str, usize, usize); 4] = [
    ("16B", 16, 4096),
    ("1KiB", 1 << 10, 256),
    ("64KiB", 64 << 10, 16),
    ("1MiB", 1 << 20, 2),
];

/// Feeds `input` to the connection in socket-sized reads and drains every event; returns the number of
/// binary messages seen.
fn wscore_receive(conn: &mut Connection, input: &[u8]) -> usize {
    let mut rest = input;
    let mut messages = 0;
    while !rest.is_empty() {
        let room = conn.read_buffer();
        let n = room.len().min(READ_CHUNK).min(rest.len());
        room[..n].copy_from_slice(&rest[..n]);
        conn.commit(n);
        rest = &rest[n..];
        while let Some((event, _sender)) = conn.next_event().unwrap() {
            if let Event::Binary(payload) = event {
                black_box(payload);
                messages += 1;
            }
        }
    }
    messages
}

/// The other way in: the input copied in with `receive`, which unmasks while it copies, in the same
/// socket-sized pieces.
fn wscore_receive_copy(conn: &mut Connection, input: &[u8]) -> usize {
    let mut messages = 0;
    for piece in input.chunks(READ_CHUNK) {
        conn.receive(piece);
        while let Some((event, _sender)) = conn.next_event().unwrap() {
            if let Event::Binary(payload) = event {
                black_box(payload);
                messages += 1;
            }
        }
    }
    messages
}

/// An in-memory transport for tungstenite: reads hand out the input in chunks of at most
/// [`READ_CHUNK`] bytes, writes are discarded.
struct MemoryStream {
    input: Vec<u8>,
    pos: usize,
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(READ_CHUNK).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Tungstenite = tungstenite::WebSocket<MemoryStream>;

fn tungstenite_server(input: &[u8]) -> Tungstenite {
    let stream = MemoryStream {
        input: input.to_vec(),
        pos: 0,
    };
    tungstenite::WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Server, None)
}

/// Reads `count` messages, the whole stream, then rewinds it for the next iteration.
fn tungstenite_receive(ws: &mut Tungstenite, count: usize) -> usize {
    let mut messages = 0;
    for _ in 0..count {
        if let tungstenite::Message::Binary(payload) = ws.read().unwrap() {
            black_box(&payload);
            messages += 1;
        }
    }
    ws.get_mut().pos = 0;
    messages
}

fn bench_group(c: &mut Criterion, name: &str, elements: bool) {
    let mut group = c.benchmark_group(name);
    for (label, size, count) in CASES {
        let input = client_stream(size, count);
        group.throughput(if elements {
            Throughput::Elements(count as u64)
        } else {
            Throughput::Bytes((size * count) as u64)
        });
        // Large cases take about a millisecond per iteration: fewer samples keep short runs short.
        group.sample_size(if size >= 64 << 10 { 30 } else { 100 });

        let mut conn = Connection::new(Role::Server, &Config::default());
        assert_eq!(wscore_receive(&mut conn, &input), count, "wscore {label}");
        group.bench_with_input(BenchmarkId::new("wscore", label), &input, |b, input| {
            b.iter(|| wscore_receive(&mut conn, input))
        });

        let mut conn = Connection::new(Role::Server, &Config::default());
        assert_eq!(
            wscore_receive_copy(&mut conn, &input),
            count,
            "wscore_copy {label}"
        );
        group.bench_with_input(
            BenchmarkId::new("wscore_copy", label),
            &input,
            |b, input| b.iter(|| wscore_receive_copy(&mut conn, input)),
        );

        let mut ws = tungstenite_server(&input);
        assert_eq!(
            tungstenite_receive(&mut ws, count),
            count,
            "tungstenite {label}"
        );
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| tungstenite_receive(&mut ws, count))
        });

        let mut sink = vec![0u8; input.len()];
        group.bench_with_input(BenchmarkId::new("memcpy", label), &input, |b, input| {
            b.iter(|| {
                sink.copy_from_slice(black_box(input));
                black_box(&mut sink);
            })
        });
    }
    group.finish();
}

fn receive(c: &mut Criterion) {
    bench_group(c, "receive_bytes", false);
    bench_group(c, "receive_msgs", true);
}

criterion_group!(benches, receive);
criterion_main!(benches);
