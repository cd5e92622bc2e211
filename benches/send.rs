//! Client-side send of one binary message, in memory: frame encoding plus masking. wscore queues the
//! frame (`send_binary`) and the driver takes all of it (`consume_output`); tungstenite `send`s into a
//! writer that discards; `memcpy` copies the payload into a reused buffer.
//!
//! tungstenite takes an owned `Bytes`: the benchmark hands it a clone of a prepared one (a reference
//! count, no copy), its cheapest case. wscore takes `&[u8]`.

use std::hint::black_box;
use std::io::{self, Read, Write};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tungstenite::{Bytes, Message};
use wscore::{Config, Connection, Role};

const SIZES: [(&str, usize); 4] = [
    ("16B", 16),
    ("1KiB", 1 << 10),
    ("64KiB", 64 << 10),
    ("1MiB", 1 << 20),
];

/// A transport that swallows every write, so only the library's own work is measured.
struct Discard;

impl Read for Discard {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        black_box(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn wscore_send(conn: &mut Connection, payload: &[u8]) {
    conn.sender().send_binary(payload).unwrap();
    let out = conn.pending_output();
    black_box(out);
    let n = out.len();
    conn.consume_output(n);
}

fn send(c: &mut Criterion) {
    let mut group = c.benchmark_group("send");
    for (label, size) in SIZES {
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));

        let config = Config::default().rng_seed(Some(0x5eed));
        let mut conn = Connection::new(Role::Client, &config);
        group.bench_with_input(BenchmarkId::new("wscore", label), &payload, |b, payload| {
            b.iter(|| wscore_send(&mut conn, black_box(payload)))
        });

        let bytes = Bytes::from(payload.clone());
        let mut ws = tungstenite::WebSocket::from_raw_socket(
            Discard,
            tungstenite::protocol::Role::Client,
            None,
        );
        group.bench_with_input(
            BenchmarkId::new("tungstenite", label),
            &bytes,
            |b, bytes| b.iter(|| ws.send(Message::Binary(black_box(bytes).clone())).unwrap()),
        );

        let mut sink = vec![0u8; size];
        group.bench_with_input(BenchmarkId::new("memcpy", label), &payload, |b, payload| {
            b.iter(|| {
                sink.copy_from_slice(black_box(payload));
                black_box(&mut sink);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, send);
criterion_main!(benches);
