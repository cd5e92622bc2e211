//! permessage-deflate on a connection (RFC 7692): messages both ways in each role, the RSV1 rules, the
//! limits on inflated bytes, and invalid data.

use super::tests::masked;
use super::*;
use crate::deflate::{Deflate, DeflateParams};
use crate::handshake::Extensions;

fn negotiated(params: DeflateParams) -> Extensions {
    Extensions {
        deflate: Some(params),
    }
}

fn pair(params: DeflateParams, settings: Deflate) -> (Connection, Connection) {
    let config = Config::default().rng_seed(Some(9)).deflate(settings);
    let extensions = negotiated(params);
    (
        Connection::with_extensions(Role::Client, &config, &extensions),
        Connection::with_extensions(Role::Server, &config, &extensions),
    )
}

/// Moves `from`'s output into `to` (in pieces of `chunk` bytes) and collects `to`'s events.
fn deliver(from: &mut Connection, to: &mut Connection, chunk: usize) -> Vec<Result<Vec<u8>, u16>> {
    let bytes = from.pending_output().to_vec();
    from.consume_output(bytes.len());
    let mut seen = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        to.receive(piece);
        loop {
            match to.next_event() {
                Ok(Some((Event::Text(t), _))) => seen.push(Ok(t.as_bytes().to_vec())),
                Ok(Some((Event::Binary(b), _))) => seen.push(Ok(b.to_vec())),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    seen.push(Err(e.close_code().map_or(0, CloseCode::as_u16)));
                    return seen;
                }
            }
        }
    }
    seen
}

/// The first byte of each frame in `bytes` (unmasked server output or masked client output).
fn first_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut firsts = Vec::new();
    let mut rest = bytes;
    while let Ok(Some((header, len))) = crate::frame::FrameHeader::parse(rest) {
        firsts.push(rest[0]);
        rest = &rest[len + header.payload_len as usize..];
    }
    firsts
}

#[test]
fn messages_round_trip_both_ways_compressed_with_rsv1_on_the_first_frame() {
    for params in [
        DeflateParams::default(),
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 9,
            client_max_window_bits: 10,
        },
    ] {
        let (mut client, mut server) = pair(params, Deflate::default());
        let text = "{\"type\":\"chat\",\"text\":\"hello, hello, hello, hello\"}".repeat(20);
        for _ in 0..3 {
            client.sender().send_text(&text).unwrap();
            let wire = client.pending_output().to_vec();
            assert_eq!(first_bytes(&wire), [0xc1], "FIN + RSV1 + text");
            assert!(wire.len() < text.len() / 4);
            assert_eq!(
                deliver(&mut client, &mut server, 7),
                [Ok(text.as_bytes().to_vec())]
            );

            server.sender().send_binary(text.as_bytes()).unwrap();
            assert_eq!(first_bytes(server.pending_output()), [0xc2]);
            assert_eq!(
                deliver(&mut server, &mut client, 1000),
                [Ok(text.as_bytes().to_vec())]
            );
        }
    }
}

#[test]
fn small_and_incompressible_messages_go_uncompressed() {
    let (mut client, mut server) = pair(DeflateParams::default(), Deflate::default().threshold(16));
    client.sender().send_text("short").unwrap();
    assert_eq!(first_bytes(client.pending_output()), [0x81]);
    assert_eq!(
        deliver(&mut client, &mut server, 100),
        [Ok(b"short".to_vec())]
    );

    // Random bytes do not shrink: sent as they are, and what follows still inflates.
    let mut x = 1u32;
    let noise: Vec<u8> = (0..4000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    let text = "abcabcabcabc".repeat(100);
    client.sender().send_binary(&noise).unwrap();
    client.sender().send_text(&text).unwrap();
    assert_eq!(first_bytes(client.pending_output()), [0x82, 0xc1]);
    assert_eq!(
        deliver(&mut client, &mut server, 333),
        [Ok(noise), Ok(text.into_bytes())]
    );
}

#[test]
fn a_fragmented_message_is_compressed_as_a_whole_with_rsv1_only_on_its_first_frame() {
    let (mut client, mut server) = pair(DeflateParams::default(), Deflate::default());
    let parts = ["Grüße, ", "Grüße, ", "Grüße!"];
    // A character split across fragments, and a ping between them.
    let joined = parts.concat();
    let bytes = joined.as_bytes();
    client
        .sender()
        .send_fragment(MessageKind::Text, &bytes[..2], false)
        .unwrap();
    client.sender().send_ping(b"between").unwrap();
    client
        .sender()
        .send_fragment(MessageKind::Text, &bytes[2..12], false)
        .unwrap();
    client
        .sender()
        .send_fragment(MessageKind::Text, &bytes[12..], true)
        .unwrap();
    assert_eq!(
        first_bytes(client.pending_output()),
        [0x41, 0x89, 0x00, 0x80]
    );
    assert_eq!(deliver(&mut client, &mut server, 5), [Ok(bytes.to_vec())]);
    // The next message still inflates with the same context.
    client.sender().send_text(&joined.repeat(10)).unwrap();
    assert_eq!(
        deliver(&mut client, &mut server, 5),
        [Ok(joined.repeat(10).into_bytes())]
    );
}

#[test]
fn an_empty_compressed_message_and_a_window_of_8_bits() {
    let (mut client, mut server) = pair(DeflateParams::default(), Deflate::default().threshold(0));
    client.sender().send_binary(b"").unwrap();
    // Empty: compressing cannot make it smaller, so it goes as it is.
    assert_eq!(deliver(&mut client, &mut server, 1), [Ok(vec![])]);
    // RFC 7692 §7.2.3.6: an empty compressed message is the single byte 0x00.
    server.receive(&masked(0xc1, &[0x00], [1, 2, 3, 4]));
    assert!(matches!(
        server.next_event().unwrap(),
        Some((Event::Text(""), _))
    ));

    // Our window limited to 8 bits: zlib cannot, so messages go uncompressed, and still arrive.
    let params = DeflateParams {
        client_max_window_bits: 8,
        ..DeflateParams::default()
    };
    let (mut client, mut server) = pair(params, Deflate::default());
    let text = "eight bits ".repeat(50);
    client.sender().send_text(&text).unwrap();
    assert_eq!(first_bytes(client.pending_output()), [0x81]);
    assert_eq!(
        deliver(&mut client, &mut server, 64),
        [Ok(text.into_bytes())]
    );
}

fn server() -> Connection {
    pair(DeflateParams::default(), Deflate::default()).1
}

fn fails_with(mut server: Connection, input: &[u8]) -> u16 {
    server.receive(input);
    loop {
        match server.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no error"),
            Err(e) => return e.close_code().map_or(0, CloseCode::as_u16),
        }
    }
}

#[test]
fn rsv1_where_it_does_not_belong_fails_with_1002() {
    let key = [9, 8, 7, 6];
    // RSV1 on a continuation.
    let mut input = masked(0x41, &[0xf2, 0x48], key);
    input.extend(masked(0xc0, &[0xcd], key));
    assert_eq!(fails_with(server(), &input), 1002);
    // RSV1 on a control frame.
    assert_eq!(fails_with(server(), &masked(0xc9, b"", key)), 1002);
    // RSV2 and RSV3 stay reserved.
    assert_eq!(fails_with(server(), &masked(0xa1, b"x", key)), 1002);
    assert_eq!(fails_with(server(), &masked(0x91, b"x", key)), 1002);
    // RSV1 without the extension negotiated.
    let plain = Connection::new(Role::Server, &Config::default());
    assert_eq!(fails_with(plain, &masked(0xc1, &[0x00], key)), 1002);
}

#[test]
fn invalid_compressed_data_fails_with_1007_and_the_close_frame_is_queued() {
    let mut server = server();
    server.receive(&masked(0xc2, &[0xff, 0xff, 0xff, 0x00], [1, 1, 1, 1]));
    let error = server.next_event().unwrap_err();
    assert_eq!(error.close_code(), Some(CloseCode::INVALID_PAYLOAD));
    assert_eq!(&server.pending_output()[..4], &[0x88, 0x19, 0x03, 0xef]);
}

#[test]
fn compressed_text_that_is_not_utf8_fails_with_1007() {
    let mut client = pair(DeflateParams::default(), Deflate::default().threshold(0)).0;
    // Binary bytes that are not UTF-8, sent compressed, then relabelled as text.
    client.sender().send_binary(&[0xff; 100]).unwrap();
    let mut wire = client.pending_output().to_vec();
    assert_eq!(wire[0], 0xc2);
    wire[0] = 0xc1;
    assert_eq!(fails_with(server(), &wire), 1007);
}

#[test]
fn the_message_limit_applies_to_inflated_bytes() {
    let settings = Deflate::default();
    let config = Config::default()
        .rng_seed(Some(3))
        .deflate(settings)
        .max_message_size(100_000);
    let extensions = negotiated(DeflateParams::default());
    let mut client = Connection::with_extensions(Role::Client, &config, &extensions);
    // 1 MiB of zeros is about a kilobyte compressed: far under the frame limit.
    client.sender().send_binary(&vec![0; 1 << 20]).unwrap();
    let wire = client.pending_output().to_vec();
    assert!(wire.len() < 4096);
    let server = Connection::with_extensions(Role::Server, &config, &extensions);
    assert_eq!(fails_with(server, &wire), 1009);
}
