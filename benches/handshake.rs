//! The server's opening handshake (RFC 6455 §4.2): parsing a browser's upgrade request with
//! `read_request` and building the 101 response with `accept(None)` (SHA-1 and base64 of the key); and
//! the whole of it as a driver runs it: `ServerHandshake` fed the request, polled, and answered with
//! `respond`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Instant;

use wscore::handshake::{read_request, Decision, Incoming, ServerHandshake, Upgrade};
use wscore::Config;

/// An upgrade request as a desktop Chrome sends it.
const CHROME_REQUEST: &[u8] = b"GET /chat?room=lobby HTTP/1.1\r\n\
Host: example.com:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: https://example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
Cookie: session=3f2a9c1e7b5d4a60; theme=dark\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

fn parse(config: &Config) -> Upgrade {
    match read_request(black_box(CHROME_REQUEST), config) {
        Ok(Some((Incoming::Upgrade(upgrade), _))) => upgrade,
        other => panic!("not an upgrade: {other:?}"),
    }
}

fn handshake(c: &mut Criterion) {
    let config = Config::default();
    let upgrade = parse(&config);
    let response = upgrade.accept(None).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 101 "));

    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Elements(1));
    group.bench_function("read_request", |b| b.iter(|| parse(&config)));
    group.bench_function("accept", |b| {
        b.iter(|| black_box(&upgrade).accept(None).unwrap())
    });
    group.bench_function("read_request+accept", |b| {
        b.iter(|| parse(&config).accept(None).unwrap())
    });
    let now = Instant::now();
    let accept = Decision::accept();
    group.bench_function("server_handshake+respond", |b| {
        b.iter(|| {
            let mut handshake = ServerHandshake::new(&config, now);
            handshake.receive(black_box(CHROME_REQUEST));
            match handshake.poll() {
                Ok(Some(Incoming::Upgrade(upgrade))) => upgrade.respond(&accept).unwrap(),
                other => panic!("not an upgrade: {other:?}"),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
