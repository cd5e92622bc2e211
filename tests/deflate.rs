//! permessage-deflate's memory: a compression bomb fails at the limit without taking the memory,
//! steady compressed traffic allocates nothing per message, and an idle connection gives its zlib
//! state back.
#![cfg(feature = "deflate")]

mod common;
use common::{allocations, live_heap, peak_heap};
use wscore::deflate::{Deflate, DeflateParams};
use wscore::handshake::Extensions;
use wscore::{Config, Connection, Event, Role};

fn extensions(params: DeflateParams) -> Extensions {
    let mut extensions = Extensions::default();
    extensions.deflate = Some(params);
    extensions
}

fn params(no_context_takeover: bool, window_bits: u8) -> DeflateParams {
    let mut params = DeflateParams::default();
    params.server_no_context_takeover = no_context_takeover;
    params.client_no_context_takeover = no_context_takeover;
    params.server_max_window_bits = window_bits;
    params.client_max_window_bits = window_bits;
    params
}

/// The payload of a server's single unmasked frame.
fn payload_of(frame: &[u8]) -> &[u8] {
    let header = match frame[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    &frame[header..]
}

/// A client frame (masked with the all-zero key, which leaves the payload as it is) with RSV1.
fn compressed_client_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0xc2, 0xff];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn a_frame_that_would_inflate_to_a_gibibyte_fails_with_1009_within_the_limit() {
    // One MiB of zeros compressed on its own is about a kilobyte; 1024 of them, each with its flush
    // tail back in place, make one valid deflate stream of a GiB in about a MiB.
    let maker_params = params(true, 15);
    let config = Config::default().deflate(Deflate::default().threshold(0));
    let mut maker = Connection::with_extensions(Role::Server, &config, &extensions(maker_params));
    maker.sender().send_binary(&vec![0; 1 << 20]).unwrap();
    let chunk = payload_of(maker.pending_output()).to_vec();
    assert!(chunk.len() < 2048, "{}", chunk.len());
    let mut bomb = Vec::new();
    for _ in 0..1024 {
        bomb.extend_from_slice(&chunk);
        bomb.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    }
    let frame = compressed_client_frame(&bomb[..bomb.len() - 4]);

    let limit = 16 << 20;
    let config = Config::default().max_message_size(limit);
    let mut server =
        Connection::with_extensions(Role::Server, &config, &extensions(params(false, 15)));
    let (error, peak) = peak_heap(|| {
        server.receive(&frame);
        match server.next_event() {
            Err(error) => error,
            Ok(_) => panic!("the bomb was accepted"),
        }
    });
    assert_eq!(error.close_code().map(|c| c.as_u16()), Some(1009));
    // The input frame, the message up to the limit, zlib's state: nothing near a GiB.
    assert!(
        peak < frame.len() + limit + (1 << 20),
        "peak heap {peak} bytes for a {}-byte frame",
        frame.len()
    );
    // The close frame went out.
    assert_eq!(&server.pending_output()[..2], &[0x88, 0x13]);
}

/// Feeds a client's compressed messages to a server in 4 KiB reads and echoes each, as a driver does.
fn echo_all(server: &mut Connection, stream: &[u8]) -> usize {
    let mut echoed = 0;
    for piece in stream.chunks(4096) {
        server.receive(piece);
        while let Some((event, sender)) = server.next_event().unwrap() {
            if let Event::Text(text) = event {
                sender.send_text(text).unwrap();
                echoed += 1;
            }
        }
        let n = server.pending_output().len();
        server.consume_output(n);
    }
    echoed
}

fn chat_stream(params: DeflateParams, count: usize) -> Vec<u8> {
    let config = Config::default().rng_seed(Some(5));
    let mut client = Connection::with_extensions(Role::Client, &config, &extensions(params));
    for n in 0..count {
        let message = format!(
            r#"{{"type":"chat","seq":{n},"room":"lobby","user":"ada","text":"hello, everyone, how are you?"}}"#
        );
        // Over the default threshold, so compressed.
        assert!(message.len() > 64);
        client.sender().send_text(&message).unwrap();
    }
    client.pending_output().to_vec()
}

#[test]
fn steady_compressed_echo_allocates_nothing_per_message() {
    for no_context_takeover in [false, true] {
        let params = params(no_context_takeover, 15);
        let stream = chat_stream(params, 2000);
        let mut server =
            Connection::with_extensions(Role::Server, &Config::default(), &extensions(params));
        assert_eq!(echo_all(&mut server, &stream), 2000);
        if no_context_takeover {
            // Each message stands alone, so the same stream can be fed again.
            let (echoed, allocs) = allocations(|| echo_all(&mut server, &stream));
            assert_eq!(echoed, 2000);
            assert_eq!(allocs, 0, "{allocs} allocations for 2000 compressed echoes");
        }
    }
}

#[test]
fn memory_per_connection_busy_and_idle() {
    // Measured with the counting allocator (the README's figures), and checked against heap_size().
    for (label, params) in [
        ("context takeover, 15-bit windows", params(false, 15)),
        ("no context takeover, 15-bit windows", params(true, 15)),
        ("no context takeover, 10-bit windows", params(true, 10)),
    ] {
        let stream = chat_stream(params, 10);
        let before = live_heap();
        let mut server =
            Connection::with_extensions(Role::Server, &Config::default(), &extensions(params));
        echo_all(&mut server, &stream);
        let busy = live_heap() - before;
        let busy_reported = server.heap_size();
        server.shrink_to_idle();
        let idle = live_heap() - before;
        eprintln!(
            "{label}: {busy} bytes busy (heap_size {busy_reported}), {idle} idle (heap_size {})",
            server.heap_size()
        );
        // heap_size() counts the buffers and zlib's state; the connection's own struct is on top.
        assert!(
            (busy_reported as isize - busy).abs() < busy / 20 + 2048,
            "{label}"
        );
        if params.client_no_context_takeover {
            assert!(idle < 2048, "{label}: {idle} bytes idle");
        } else {
            // The peer may refer back to earlier messages: the inflate window stays.
            assert!(
                idle > 32 << 10 && idle < 64 << 10,
                "{label}: {idle} bytes idle"
            );
        }
        // It still works after giving its state back.
        assert_eq!(echo_all(&mut server, &chat_stream(params, 3)[..]), 3);
    }
}

/// Our client and server over a socket: the handshake negotiates the extension and messages of every
/// size cross compressed, in both drivers' shape (blocking server here; the Autobahn runs cover the
/// event loop).
#[test]
fn over_a_socket_the_handshake_negotiates_and_messages_echo() {
    use wscore::driver::blocking::{accept, connect, Accepted};
    use wscore::{CloseCode, Message};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let Accepted::WebSocket(mut ws) = accept(stream, &Config::default()).unwrap() else {
            panic!("not an upgrade");
        };
        while let Some(message) = ws.read().unwrap() {
            if let Message::Text(_) | Message::Binary(_) = message {
                ws.send(message).unwrap();
            }
        }
    });
    let mut ws = connect(&url).unwrap();
    let response = ws.response().unwrap();
    let header = response
        .headers
        .get_str("Sec-WebSocket-Extensions")
        .unwrap();
    assert_eq!(header, "permessage-deflate; client_no_context_takeover");
    let params = response.extensions.deflate.unwrap();
    assert!(params.client_no_context_takeover && !params.server_no_context_takeover);
    for size in [0, 10, 100, 10_000, 1 << 20] {
        let text: String = (0..size).map(|i| ((i % 26) as u8 + b'a') as char).collect();
        ws.send(Message::Text(text.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::Text(text)));
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    while ws.read().unwrap().is_some() {}
    server.join().unwrap();
}
