//! permessage-deflate (RFC 7692) on a realistic corpus: what it saves on the wire and what it costs in
//! CPU, with and without compression, in memory. `benches/deflate.sh` runs it beside Node's `ws` on
//! the same bytes and prints the table in benches/README.md.
//!
//! The corpus ([`corpus`]): 1000 JSON chat messages of 100 B to 4 KiB, and a JSON document of about
//! 1 MiB sent as one message. It is written to `target/deflate-corpus/` (or `$DEFLATE_CORPUS_DIR`)
//! for the Node side, with our wire sizes in `wscore.json`.
//!
//! Each corpus is sent three ways: `off` (no extension negotiated), `takeover` (both sides keep their
//! context between messages, 15-bit windows: RFC 7692's default) and `no_takeover` (both reset it
//! after each message, as our server asks clients to by default: `Deflate::client_no_context_takeover`).
//! Compression uses the defaults otherwise (level 6, threshold 64 B, below every message here).
//!
//! | group                  | what one iteration does, with reused connections                          |
//! |------------------------|---------------------------------------------------------------------------|
//! | `deflate_c2s`          | a client compresses and masks each message, a server receives and inflates it, message by message |
//! | `deflate_server_recv`  | the server alone: the client's frames of the whole corpus received in 64 KiB pieces and inflated |
//! | `deflate_server_send`  | the server alone: each message compressed and framed, its output consumed |
//!
//! Throughput is payload bytes (the uncompressed text); the report divides by the message count for
//! messages per second and the time per message.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use wscore::deflate::{Deflate, DeflateParams};
use wscore::handshake::Extensions;
use wscore::{Config, Connection, Event, Role};

#[path = "deflate/corpus.rs"]
mod corpus;

const SEED: u64 = 0x7692;
const CHAT_MESSAGES: usize = 1000;
const DOCUMENT_SIZE: usize = 1 << 20;

/// The most bytes one simulated socket read delivers.
const READ_CHUNK: usize = 64 << 10;

#[derive(Clone, Copy)]
enum Mode {
    Off,
    Takeover,
    NoTakeover,
}

const MODES: [(&str, Mode); 3] = [
    ("off", Mode::Off),
    ("takeover", Mode::Takeover),
    ("no_takeover", Mode::NoTakeover),
];

impl Mode {
    fn extensions(self) -> Extensions {
        let mut extensions = Extensions::default();
        extensions.deflate = match self {
            Mode::Off => None,
            Mode::Takeover => Some(DeflateParams::default()),
            Mode::NoTakeover => {
                let mut params = DeflateParams::default();
                params.client_no_context_takeover = true;
                params.server_no_context_takeover = true;
                Some(params)
            }
        };
        extensions
    }

    fn connection(self, role: Role) -> Connection {
        let settings = match self {
            Mode::Off => None,
            _ => Some(Deflate::default()),
        };
        let config = Config::default().rng_seed(Some(SEED)).deflate(settings);
        Connection::with_extensions(role, &config, &self.extensions())
    }
}

/// Moves all of `from`'s output into `to` and drains `to`'s events; returns the text messages seen.
fn deliver(from: &mut Connection, to: &mut Connection) -> usize {
    let n = from.pending_output().len();
    to.receive(from.pending_output());
    from.consume_output(n);
    drain(to)
}

fn drain(conn: &mut Connection) -> usize {
    let mut messages = 0;
    while let Some((event, _sender)) = conn.next_event().unwrap() {
        if let Event::Text(text) = event {
            black_box(text);
            messages += 1;
        }
    }
    messages
}

/// Client to server, message by message, as over a socket that is always writable.
fn client_to_server(client: &mut Connection, server: &mut Connection, corpus: &[String]) -> usize {
    let mut messages = 0;
    for message in corpus {
        client.sender().send_text(message).unwrap();
        messages += deliver(client, server);
    }
    messages
}

/// The client's frames for the whole corpus, and the bytes of each message on the wire.
fn client_stream(mode: Mode, corpus: &[String]) -> (Vec<u8>, Vec<usize>) {
    let mut client = mode.connection(Role::Client);
    let mut stream = Vec::new();
    let mut sizes = Vec::new();
    for message in corpus {
        client.sender().send_text(message).unwrap();
        let n = client.pending_output().len();
        stream.extend_from_slice(client.pending_output());
        client.consume_output(n);
        sizes.push(n);
    }
    (stream, sizes)
}

fn server_receive(server: &mut Connection, stream: &[u8]) -> usize {
    let mut messages = 0;
    for piece in stream.chunks(READ_CHUNK) {
        server.receive(piece);
        messages += drain(server);
    }
    messages
}

/// Each message sent by the server and its output consumed; returns the bytes that went out.
fn server_send(server: &mut Connection, corpus: &[String]) -> usize {
    let mut wire = 0;
    for message in corpus {
        server.sender().send_text(message).unwrap();
        let n = server.pending_output().len();
        black_box(server.pending_output());
        server.consume_output(n);
        wire += n;
    }
    wire
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("DEFLATE_CORPUS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/deflate-corpus"),
        PathBuf::from,
    )
}

/// Wire sizes for each corpus and mode, both directions, printed and written to `wscore.json` for the
/// report. A client's frames carry a 4-byte mask key a server's do not.
fn wire_sizes(corpora: &[(&str, Vec<String>)]) -> String {
    let mut json = String::from("{");
    for (i, (name, corpus)) in corpora.iter().enumerate() {
        let payload: usize = corpus.iter().map(String::len).sum();
        json += &format!(
            "{}\"{name}\":{{\"messages\":{},\"payload\":{payload}",
            if i > 0 { "," } else { "" },
            corpus.len()
        );
        for (label, mode) in MODES {
            let (stream, _) = client_stream(mode, corpus);
            let client_wire = stream.len();
            let mut server = mode.connection(Role::Server);
            assert_eq!(server_receive(&mut server, &stream), corpus.len());
            let server_wire = server_send(&mut server, corpus);
            println!(
                "deflate ratio {name:>8} {label:<11}: client→server wire/payload {:.3} ({client_wire} B / {payload} B), server→client {:.3}",
                client_wire as f64 / payload as f64,
                server_wire as f64 / payload as f64,
            );
            json += &format!(
                ",\"{label}\":{{\"client_wire\":{client_wire},\"server_wire\":{server_wire}}}"
            );
        }
        json += "}";
    }
    json + "}"
}

fn deflate(c: &mut Criterion) {
    let corpora = [
        ("chat", corpus::chat(SEED, CHAT_MESSAGES)),
        ("document", vec![corpus::document(SEED + 1, DOCUMENT_SIZE)]),
    ];
    let dir = corpus_dir();
    corpus::write(&dir, &corpora[0].1, &corpora[1].1[0]).unwrap();
    std::fs::write(dir.join("wscore.json"), wire_sizes(&corpora)).unwrap();

    for group_name in ["deflate_c2s", "deflate_server_recv", "deflate_server_send"] {
        let mut group = c.benchmark_group(group_name);
        // An iteration compresses about a MiB: milliseconds, so few samples of one iteration each.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        for (name, corpus) in &corpora {
            let payload: usize = corpus.iter().map(String::len).sum();
            group.throughput(Throughput::Bytes(payload as u64));
            for (label, mode) in MODES {
                let id = BenchmarkId::new(label, name);
                match group_name {
                    "deflate_c2s" => {
                        let mut client = mode.connection(Role::Client);
                        let mut server = mode.connection(Role::Server);
                        assert_eq!(
                            client_to_server(&mut client, &mut server, corpus),
                            corpus.len()
                        );
                        group.bench_function(id, |b| {
                            b.iter(|| client_to_server(&mut client, &mut server, corpus))
                        });
                    }
                    "deflate_server_recv" => {
                        let (stream, _) = client_stream(mode, corpus);
                        let mut server = mode.connection(Role::Server);
                        // Replaying the stream is valid with context takeover too: its first message
                        // refers to nothing before it, and the rest to what this pass inflated.
                        for _ in 0..2 {
                            assert_eq!(server_receive(&mut server, &stream), corpus.len());
                        }
                        group.bench_function(id, |b| {
                            b.iter(|| server_receive(&mut server, &stream))
                        });
                    }
                    _ => {
                        let mut server = mode.connection(Role::Server);
                        group.bench_function(id, |b| b.iter(|| server_send(&mut server, corpus)));
                    }
                }
            }
        }
        group.finish();
    }
}

criterion_group!(benches, deflate);
criterion_main!(benches);
