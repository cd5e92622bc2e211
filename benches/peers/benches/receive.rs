//! Server-side receive of client-masked binary messages, in memory, through the path each library takes
//! from a socket: wscore (both drivers' paths), tungstenite 0.30, fastwebsockets 0.10 and
//! tokio-websockets 0.13, beside two floors, "copy + unmask" and a plain copy. Then the echo path: a
//! message received, answered from the event that borrows it, the output drained. `bash benches/receive.sh`
//! runs it and prints the tables (`benches/README.md` has the latest).
//!
//! # Why here
//!
//! fastwebsockets and tokio-websockets need tokio, which should not become a dev-dependency of wscore
//! (every `cargo test` of the library would build it). This crate already holds the other libraries,
//! in a workspace and lock file of its own, for the echo servers; a bench beside them compares the same
//! versions the echo bench runs (one lock file) and builds tokio once for both. The dependencies it adds
//! are dev-dependencies, so `cargo build --bins` of the echo servers does not see them. Its release
//! profile (`codegen-units = 1`, which the bench profile inherits) applies to every library alike.
//!
//! # The input and how it arrives
//!
//! Per iteration: N masked binary frames of one size (16 B ×4096, 1 KiB ×256, 64 KiB ×16, 1 MiB ×2, as
//! the root crate's `benches/receive.rs`), built once by a wscore client. Each library reads them from
//! a [`Wire`]: an in-memory socket over those bytes that hands out at most [`READ_CHUNK`] (64 KiB) per
//! `read` into the buffer the library offers, as a socket would, and is rewound at the start of each
//! iteration. So every library pays the copy out of "the kernel" into a buffer of its own. Every library
//! delivers whole messages to the application; the frames are unfragmented.
//!
//! - `wscore_read_buffer`: the blocking driver's path: `read` into `Connection::read_buffer()`, then
//!   `commit(n)`, and every event drained; the payload is unmasked in place.
//! - `wscore_mio`: the mio driver's path, `Connection::receive_with(scratch, read)`: the connection
//!   picks where each read lands (a 64 KiB scratch buffer copied in with `receive` while its own buffer
//!   is small, in place once traffic has grown it), and every event drained.
//! - `tungstenite`: `WebSocket::read` over `std::io::Read`, one owned message each.
//! - `fastwebsockets`: `FragmentCollector::read_frame` over `AsyncRead`: the collector that reassembles
//!   fragmented messages, as an application receiving messages uses (our echo peer too); on these
//!   unfragmented frames it hands back each frame as the `WebSocket` read it.
//! - `tokio_websockets`: `WebSocketStream` (`ServerBuilder::serve`, no handshake) as a `Stream` of
//!   messages.
//!
//! The async libraries run on one current-thread tokio runtime made once; each iteration is one
//! `block_on` reading its N messages. Every library's connection object is made once and reused across
//! iterations (its buffers warm, the steady state): none of the four needs a new one, since the stream
//! holds only whole messages and each iteration ends where the next begins.
//!
//! - `copy_unmask`: the floor for a reader that must copy out of the kernel: each chunk read into one
//!   reused 64 KiB buffer and its payload bytes unmasked there with `wscore::mask::apply_mask` (frame
//!   boundaries found once, before measuring). No parsing, no events.
//! - `memcpy`: the same reads into the same buffer, nothing else.
//!
//! # Echo
//!
//! 16 B and 1 KiB only: each message received, answered with `sender.send_binary(data)` from the
//! borrowed event, and the output drained (`pending_output` + `consume_output`, into nothing) after each
//! read's events, as the mio driver does (`wscore_mio`'s path); tungstenite `read`s each message and
//! `write`s it back (its out-buffer goes to a discarding writer when full, and at one `flush` per
//! iteration: its cheapest shape).

use std::cell::Cell;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fastwebsockets::{FragmentCollector, OpCode};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::Runtime;
use wscore::{Config, Connection, Event, Role};

#[path = "../../common/mod.rs"]
mod common;
use common::{client_stream, payload};

/// The most bytes one read from the [`Wire`] delivers.
const READ_CHUNK: usize = 64 << 10;

/// Message sizes, with how many messages make up one iteration's stream.
const CASES: [(&str, usize, usize); 4] = [
    ("16B", 16, 4096),
    ("1KiB", 1 << 10, 256),
    ("64KiB", 64 << 10, 16),
    ("1MiB", 1 << 20, 2),
];

/// The sizes of the echo bench: where per-message costs dominate.
const ECHO_CASES: [(&str, usize, usize); 2] = [("16B", 16, 4096), ("1KiB", 1 << 10, 256)];

/// The prebuilt bytes and how far the reader has got; shared between a [`Wire`] (owned by a library's
/// connection object, which may not give it back) and the bench, which rewinds it.
struct Feed {
    bytes: Box<[u8]>,
    pos: Cell<usize>,
}

impl Feed {
    fn new(bytes: Vec<u8>) -> Rc<Feed> {
        Rc::new(Feed {
            bytes: bytes.into_boxed_slice(),
            pos: Cell::new(0),
        })
    }

    fn rewind(&self) {
        self.pos.set(0);
    }

    fn is_empty(&self) -> bool {
        self.pos.get() == self.bytes.len()
    }

    /// The next at most `room` (and at most [`READ_CHUNK`]) bytes, taken; `None` at the end of the input.
    fn take(&self, room: usize) -> Option<&[u8]> {
        let pos = self.pos.get();
        let rest = &self.bytes[pos..];
        if rest.is_empty() {
            return None;
        }
        let n = room.min(READ_CHUNK).min(rest.len());
        self.pos.set(pos + n);
        Some(&rest[..n])
    }

    /// Copies the next at most [`READ_CHUNK`] bytes into `buf`, as a socket read would; `None` at the
    /// end of the input.
    fn read(&self, buf: &mut [u8]) -> Option<usize> {
        let bytes = self.take(buf.len())?;
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(bytes.len())
    }
}

/// An in-memory socket over a [`Feed`]: reads hand out at most [`READ_CHUNK`] bytes, writes are
/// discarded (after `black_box`, so they are not optimised away).
struct Wire(Rc<Feed>);

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        black_box(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Each iteration reads exactly the messages in the input; a library that asked for more would
        // wait forever on a socket, so here it is a bug in the bench, said loudly.
        let bytes = self
            .0
            .take(buf.remaining())
            .expect("read past the end of the input");
        // Into the unfilled room as it is, as a socket read does: `initialize_unfilled` would zero
        // the whole room first, which for a library reserving a 1 MiB frame is 1 MiB per read.
        buf.put_slice(bytes);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        black_box(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Where a bench hands each binary message: `black_box` while measuring, a comparison with the payload
/// sent before (so each library is seen to unmask and reassemble right).
trait Deliver: FnMut(&[u8]) {}
impl<F: FnMut(&[u8])> Deliver for F {}

fn measure(payload: &[u8]) {
    black_box(payload);
}

/// Hands every event out, counting binary messages.
fn drain_events(conn: &mut Connection, deliver: &mut impl Deliver) -> usize {
    let mut messages = 0;
    while let Some((event, _sender)) = conn.next_event().unwrap() {
        if let Event::Binary(payload) = event {
            deliver(payload);
            messages += 1;
        }
    }
    messages
}

/// The blocking driver's path: read straight into the connection's buffer.
fn wscore_read_buffer(conn: &mut Connection, feed: &Feed, mut deliver: impl Deliver) -> usize {
    feed.rewind();
    let mut messages = 0;
    while !feed.is_empty() {
        let n = feed.read(conn.read_buffer()).unwrap();
        conn.commit(n);
        messages += drain_events(conn, &mut deliver);
    }
    messages
}

/// The mio driver's path: `receive_with` reads into the connection's buffer or into scratch.
fn wscore_mio(
    conn: &mut Connection,
    feed: &Feed,
    scratch: &mut [u8],
    mut deliver: impl Deliver,
) -> usize {
    feed.rewind();
    let mut messages = 0;
    while !feed.is_empty() {
        conn.receive_with(scratch, |buf| Ok::<_, ()>(feed.read(buf).unwrap_or(0)))
            .unwrap();
        messages += drain_events(conn, &mut deliver);
    }
    messages
}

fn tungstenite_receive(
    ws: &mut tungstenite::WebSocket<Wire>,
    feed: &Feed,
    count: usize,
    mut deliver: impl Deliver,
) -> usize {
    feed.rewind();
    let mut messages = 0;
    for _ in 0..count {
        if let tungstenite::Message::Binary(payload) = ws.read().unwrap() {
            deliver(&payload);
            messages += 1;
        }
    }
    messages
}

fn fastwebsockets_receive(
    rt: &Runtime,
    ws: &mut FragmentCollector<Wire>,
    feed: &Feed,
    count: usize,
    mut deliver: impl Deliver,
) -> usize {
    feed.rewind();
    rt.block_on(async {
        let mut messages = 0;
        for _ in 0..count {
            let frame = ws.read_frame().await.unwrap();
            if frame.opcode == OpCode::Binary {
                deliver(&frame.payload);
                messages += 1;
            }
        }
        messages
    })
}

fn tokio_websockets_receive(
    rt: &Runtime,
    ws: &mut tokio_websockets::WebSocketStream<Wire>,
    feed: &Feed,
    count: usize,
    mut deliver: impl Deliver,
) -> usize {
    feed.rewind();
    rt.block_on(async {
        let mut messages = 0;
        for _ in 0..count {
            let message = ws.next().await.unwrap().unwrap();
            if message.is_binary() {
                deliver(message.as_payload());
                messages += 1;
            }
        }
        messages
    })
}

/// A payload's bytes within one 64 KiB read: `range` of the read buffer, unmasked with `key` from
/// payload position `offset`.
struct Segment {
    range: std::ops::Range<usize>,
    key: [u8; 4],
    offset: usize,
}

/// For each [`READ_CHUNK`]-sized read of `stream`, the payload bytes in it: found once, so that the
/// baseline does only the copy and the unmask. The frames are the ones [`client_stream`] built
/// (final, masked, no extension), so the header is the length form and the key.
fn unmask_plan(stream: &[u8]) -> Vec<Vec<Segment>> {
    let mut plan: Vec<Vec<Segment>> = (0..stream.len().div_ceil(READ_CHUNK))
        .map(|_| Vec::new())
        .collect();
    let mut pos = 0;
    while pos < stream.len() {
        let (len, len_bytes) = match stream[pos + 1] & 0x7f {
            126 => (
                u16::from_be_bytes([stream[pos + 2], stream[pos + 3]]) as usize,
                2,
            ),
            127 => (
                u64::from_be_bytes(stream[pos + 2..pos + 10].try_into().unwrap()) as usize,
                8,
            ),
            short => (short as usize, 0),
        };
        let key_at = pos + 2 + len_bytes;
        let key: [u8; 4] = stream[key_at..key_at + 4].try_into().unwrap();
        let (start, end) = (key_at + 4, key_at + 4 + len);
        let mut at = start;
        while at < end {
            let chunk = at / READ_CHUNK;
            let stop = end.min((chunk + 1) * READ_CHUNK);
            plan[chunk].push(Segment {
                range: at - chunk * READ_CHUNK..stop - chunk * READ_CHUNK,
                key,
                offset: at - start,
            });
            at = stop;
        }
        pos = end;
    }
    plan
}

/// Runs the baseline once, checking that each segment unmasks to its part of `payload`.
fn check_plan(feed: &Feed, scratch: &mut [u8], plan: &[Vec<Segment>], payload: &[u8]) {
    feed.rewind();
    for segments in plan {
        feed.read(scratch).unwrap();
        for segment in segments {
            let bytes = &mut scratch[segment.range.clone()];
            wscore::mask::apply_mask(bytes, segment.key, segment.offset);
            assert_eq!(bytes, &payload[segment.offset..][..bytes.len()]);
        }
    }
    assert!(feed.is_empty());
}

fn copy_unmask(feed: &Feed, scratch: &mut [u8], plan: &[Vec<Segment>]) {
    feed.rewind();
    for segments in plan {
        feed.read(scratch).unwrap();
        for segment in segments {
            wscore::mask::apply_mask(
                &mut scratch[segment.range.clone()],
                segment.key,
                segment.offset,
            );
        }
        black_box(&mut *scratch);
    }
}

fn memcpy(feed: &Feed, scratch: &mut [u8]) {
    feed.rewind();
    while let Some(n) = feed.read(scratch) {
        black_box(&mut scratch[..n]);
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn receive(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("receive");
    for (label, size, count) in CASES {
        let input = client_stream(size, count);
        let plan = unmask_plan(&input);
        let feed = Feed::new(input);
        let mut scratch = vec![0u8; READ_CHUNK];
        // Before measuring, each library's messages are checked against what was sent.
        let expected = payload(size);
        let check = |message: &[u8]| assert_eq!(message, &expected[..]);
        group.throughput(Throughput::Bytes((size * count) as u64));
        // Large cases take about a millisecond per iteration: fewer samples keep short runs short.
        group.sample_size(if size >= 64 << 10 { 30 } else { 100 });

        let mut conn = Connection::new(Role::Server, &Config::default());
        assert_eq!(wscore_read_buffer(&mut conn, &feed, check), count);
        group.bench_function(BenchmarkId::new("wscore_read_buffer", label), |b| {
            b.iter(|| wscore_read_buffer(&mut conn, &feed, measure))
        });

        let mut conn = Connection::new(Role::Server, &Config::default());
        assert_eq!(wscore_mio(&mut conn, &feed, &mut scratch, check), count);
        group.bench_function(BenchmarkId::new("wscore_mio", label), |b| {
            b.iter(|| wscore_mio(&mut conn, &feed, &mut scratch, measure))
        });

        let mut ws = tungstenite::WebSocket::from_raw_socket(
            Wire(feed.clone()),
            tungstenite::protocol::Role::Server,
            None,
        );
        assert_eq!(tungstenite_receive(&mut ws, &feed, count, check), count);
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| tungstenite_receive(&mut ws, &feed, count, measure))
        });

        let mut ws = FragmentCollector::new(fastwebsockets::WebSocket::after_handshake(
            Wire(feed.clone()),
            fastwebsockets::Role::Server,
        ));
        assert_eq!(
            fastwebsockets_receive(&rt, &mut ws, &feed, count, check),
            count
        );
        group.bench_function(BenchmarkId::new("fastwebsockets", label), |b| {
            b.iter(|| fastwebsockets_receive(&rt, &mut ws, &feed, count, measure))
        });

        let mut ws = tokio_websockets::ServerBuilder::new().serve(Wire(feed.clone()));
        assert_eq!(
            tokio_websockets_receive(&rt, &mut ws, &feed, count, check),
            count
        );
        group.bench_function(BenchmarkId::new("tokio_websockets", label), |b| {
            b.iter(|| tokio_websockets_receive(&rt, &mut ws, &feed, count, measure))
        });

        check_plan(&feed, &mut scratch, &plan, &expected);
        group.bench_function(BenchmarkId::new("copy_unmask", label), |b| {
            b.iter(|| copy_unmask(&feed, &mut scratch, &plan))
        });

        group.bench_function(BenchmarkId::new("memcpy", label), |b| {
            b.iter(|| memcpy(&feed, &mut scratch))
        });
    }
    group.finish();
}

/// The mio driver's echo: each read's messages answered from the borrowed events, then its output
/// drained; returns the number of messages answered.
fn wscore_echo(conn: &mut Connection, feed: &Feed, scratch: &mut [u8]) -> usize {
    feed.rewind();
    let mut messages = 0;
    while !feed.is_empty() {
        conn.receive_with(scratch, |buf| Ok::<_, ()>(feed.read(buf).unwrap_or(0)))
            .unwrap();
        while let Some((event, sender)) = conn.next_event().unwrap() {
            if let Event::Binary(payload) = event {
                sender.send_binary(payload).unwrap();
                messages += 1;
            }
        }
        let out = conn.pending_output();
        black_box(out);
        let n = out.len();
        conn.consume_output(n);
    }
    messages
}

fn tungstenite_echo(ws: &mut tungstenite::WebSocket<Wire>, feed: &Feed, count: usize) -> usize {
    feed.rewind();
    let mut messages = 0;
    for _ in 0..count {
        let message = ws.read().unwrap();
        if message.is_binary() {
            ws.write(message).unwrap();
            messages += 1;
        }
    }
    ws.flush().unwrap();
    messages
}

fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo");
    for (label, size, count) in ECHO_CASES {
        let feed = Feed::new(client_stream(size, count));
        let mut scratch = vec![0u8; READ_CHUNK];
        group.throughput(Throughput::Bytes((size * count) as u64));

        let mut conn = Connection::new(Role::Server, &Config::default());
        assert_eq!(wscore_echo(&mut conn, &feed, &mut scratch), count);
        group.bench_function(BenchmarkId::new("wscore_mio", label), |b| {
            b.iter(|| wscore_echo(&mut conn, &feed, &mut scratch))
        });

        let mut ws = tungstenite::WebSocket::from_raw_socket(
            Wire(feed.clone()),
            tungstenite::protocol::Role::Server,
            None,
        );
        assert_eq!(tungstenite_echo(&mut ws, &feed, count), count);
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| tungstenite_echo(&mut ws, &feed, count))
        });
    }
    group.finish();
}

criterion_group!(benches, receive, echo);
criterion_main!(benches);
