//! The connection's rules, each checked on exact bytes and close codes, fed whole and one byte at a time.

use super::*;
use crate::frame::FrameHeader;
use crate::mask::apply_mask;

/// What an event was, owned, so runs can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Error(Option<u16>),
}

fn seen(event: Event<'_>) -> Seen {
    match event {
        Event::Text(t) => Seen::Text(t.to_owned()),
        Event::Binary(b) => Seen::Binary(b.to_vec()),
        Event::Ping(p) => Seen::Ping(p.to_vec()),
        Event::Pong(p) => Seen::Pong(p.to_vec()),
        Event::Close(c) => Seen::Close(c.map(|c| (c.code.as_u16(), c.reason.to_owned()))),
    }
}

fn config() -> Config {
    Config::default().rng_seed(Some(1))
}

/// Drains every event (and at most one error) the connection has ready.
fn drain(conn: &mut Connection, into: &mut Vec<Seen>) {
    loop {
        match conn.next_event() {
            Ok(Some((event, _))) => into.push(seen(event)),
            Ok(None) => return,
            Err(e) => {
                into.push(Seen::Error(e.close_code().map(CloseCode::as_u16)));
                return;
            }
        }
    }
}

/// Feeds `input` to a fresh connection in `role` whole and one byte at a time (through both ways in:
/// `receive` and `read_buffer`/`commit`); both must give the same events and output. Returns them.
fn run(role: Role, cfg: &Config, input: &[u8]) -> (Vec<Seen>, Vec<u8>) {
    let mut whole = Connection::new(
        role,
        &Config {
            streams: Default::default(),
            ..cfg.clone()
        },
    );
    let mut events = Vec::new();
    whole.receive(input);
    drain(&mut whole, &mut events);
    let output = whole.pending_output().to_vec();

    // The same seed from the start, so a client masks both runs alike.
    let fresh = Config {
        streams: Default::default(),
        ..cfg.clone()
    };
    let mut trickled = Connection::new(role, &fresh);
    let mut trickled_events = Vec::new();
    for (i, byte) in input.iter().enumerate() {
        if i % 2 == 0 {
            trickled.receive(std::slice::from_ref(byte));
        } else {
            let room = trickled.read_buffer();
            if let Some(first) = room.first_mut() {
                *first = *byte;
                trickled.commit(1);
            }
        }
        drain(&mut trickled, &mut trickled_events);
    }
    assert_eq!(trickled_events, events, "byte-at-a-time events differ");
    assert_eq!(
        trickled.pending_output(),
        &output[..],
        "byte-at-a-time output differs"
    );
    (events, output)
}

/// A frame as a client sends it: masked with `key`.
pub(super) fn masked(first_byte: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = header_bytes(first_byte, payload.len(), Some(key));
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

/// A frame as a server sends it: unmasked.
fn unmasked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header_bytes(first_byte, payload.len(), None);
    out.extend_from_slice(payload);
    out
}

fn header_bytes(first_byte: u8, len: usize, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first_byte];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask.unwrap_or_default()[..if mask.is_some() { 4 } else { 0 }]);
    out
}

pub(super) const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Splits output into (first byte, unmasked payload) pairs.
pub(super) fn frames_in(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (header, len) = FrameHeader::parse(bytes)
            .unwrap()
            .expect("output holds whole frames");
        let end = len + header.payload_len as usize;
        let mut payload = bytes[len..end].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        frames.push((bytes[0], payload));
        bytes = &bytes[end..];
    }
    frames
}

pub(super) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Asserts a server failed with `code`: the error event, then exactly one close frame with that code.
fn assert_server_fails(input: &[u8], code: u16) {
    let (events, output) = run(Role::Server, &config(), input);
    assert_eq!(
        events.last(),
        Some(&Seen::Error(Some(code))),
        "events: {events:?}"
    );
    let frames = frames_in(&output);
    let (first, payload) = frames.last().expect("a close frame");
    assert_eq!(*first, 0x88);
    assert_eq!(payload[..2], code.to_be_bytes());
}

#[test]
fn server_receives_the_rfc_masked_hello() {
    // RFC 6455 §5.7.
    let input = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (events, output) = run(Role::Server, &config(), &input);
    assert_eq!(events, [Seen::Text("Hello".into())]);
    assert!(output.is_empty());
}

#[test]
fn client_receives_the_rfc_unmasked_hello() {
    let (events, _) = run(
        Role::Client,
        &config(),
        &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
    );
    assert_eq!(events, [Seen::Text("Hello".into())]);
}

#[test]
fn receives_each_length_form() {
    for len in [0, 125, 126, 65535, 65536, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut server = Connection::new(Role::Server, &config());
        server.receive(&masked(0x82, &payload, KEY));
        let mut events = Vec::new();
        drain(&mut server, &mut events);
        assert_eq!(events, [Seen::Binary(payload)], "length {len}");
    }
}

#[test]
fn rejects_unmasked_client_frame_with_1002() {
    assert_server_fails(&unmasked(0x81, b"hi"), 1002);
}

#[test]
fn rejects_masked_server_frame_with_1002() {
    let (events, output) = run(Role::Client, &config(), &masked(0x81, b"hi", KEY));
    assert_eq!(events, [Seen::Error(Some(1002))]);
    let frames = frames_in(&output);
    assert_eq!(frames[0].0, 0x88);
    assert_eq!(frames[0].1[..2], [0x03, 0xea]);
    assert_eq!(output[1] & 0x80, 0x80, "the client's close is masked");
}

#[test]
fn rejects_rsv_bits_without_extension_with_1002() {
    for first in [0xc1, 0xa1, 0x91] {
        assert_server_fails(&masked(first, b"hi", KEY), 1002);
    }
}

#[test]
fn rejects_reserved_opcodes_with_1002() {
    for opcode in [3u8, 7, 0xb, 0xf] {
        assert_server_fails(&masked(0x80 | opcode, b"", KEY), 1002);
    }
}

#[test]
fn rejects_fragmented_and_oversized_control_frames_with_1002() {
    assert_server_fails(&masked(0x09, b"", KEY), 1002);
    assert_server_fails(&masked(0x89, &[0; 126], KEY), 1002);
}

#[test]
fn rejects_64_bit_length_with_top_bit_with_1002() {
    let mut input = vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
    input.extend_from_slice(&KEY);
    assert_server_fails(&input, 1002);
}

#[test]
fn reassembles_fragments_with_interleaved_control_frames() {
    // RFC 6455 §5.4: control frames may come between fragments.
    let mut input = masked(0x01, b"Hel", KEY);
    input.extend(masked(0x89, b"ping", KEY));
    input.extend(masked(0x00, b"l", KEY));
    input.extend(masked(0x8a, b"pong", KEY));
    input.extend(masked(0x80, b"o", KEY));
    let (events, output) = run(Role::Server, &config(), &input);
    assert_eq!(
        events,
        [
            Seen::Ping(b"ping".to_vec()),
            Seen::Pong(b"pong".to_vec()),
            Seen::Text("Hello".into())
        ]
    );
    assert_eq!(
        output,
        [0x8a, 0x04, b'p', b'i', b'n', b'g'],
        "the ping is answered with its payload"
    );
}

#[test]
fn reassembles_binary_fragments_and_empty_fragments() {
    let mut input = masked(0x02, b"", KEY);
    input.extend(masked(0x00, &[1, 2], KEY));
    input.extend(masked(0x00, b"", KEY));
    input.extend(masked(0x80, &[3], KEY));
    input.extend(masked(0x81, b"", KEY));
    let (events, _) = run(Role::Server, &config(), &input);
    assert_eq!(
        events,
        [Seen::Binary(vec![1, 2, 3]), Seen::Text(String::new())]
    );
}

#[test]
fn rejects_continuation_without_a_message_with_1002() {
    assert_server_fails(&masked(0x80, b"x", KEY), 1002);
}

#[test]
fn rejects_a_new_message_inside_a_fragmented_one_with_1002() {
    let mut input = masked(0x01, b"a", KEY);
    input.extend(masked(0x81, b"b", KEY));
    assert_server_fails(&input, 1002);
}

#[test]
fn rejects_invalid_utf8_with_1007() {
    assert_server_fails(&masked(0x81, &[b'a', 0xff], KEY), 1007);
}

#[test]
fn accepts_a_character_split_across_fragments() {
    let euro = "€".as_bytes();
    let mut input = masked(0x01, &euro[..1], KEY);
    input.extend(masked(0x00, &euro[1..2], KEY));
    input.extend(masked(0x80, &euro[2..], KEY));
    let (events, _) = run(Role::Server, &config(), &input);
    assert_eq!(events, [Seen::Text("€".into())]);
}

#[test]
fn rejects_a_character_left_incomplete_at_the_end_of_a_message_with_1007() {
    let euro = "€".as_bytes();
    let mut input = masked(0x01, &euro[..1], KEY);
    input.extend(masked(0x80, &euro[1..2], KEY));
    assert_server_fails(&input, 1007);
    assert_server_fails(&masked(0x81, &euro[..2], KEY), 1007);
}

#[test]
fn fails_fast_on_invalid_utf8_before_the_frame_is_complete() {
    // Autobahn 6.4.3: the invalid byte arrives while most of the frame is still on its way.
    let mut payload = b"valid text ".to_vec();
    payload.push(0xf5);
    payload.extend(vec![b'x'; 1000]);
    let frame = masked(0x81, &payload, KEY);
    let mut server = Connection::new(Role::Server, &config());
    server.receive(&frame[..frame.len() - 900]);
    let error = server.next_event().unwrap_err();
    assert_eq!(error.close_code(), Some(CloseCode::INVALID_PAYLOAD));
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn rejects_an_oversized_frame_with_1009_before_its_payload_arrives() {
    let cfg = config().max_frame_size(1000);
    let mut server = Connection::new(Role::Server, &cfg);
    server.receive(&header_bytes(0x82, 1001, Some(KEY)));
    let error = server.next_event().unwrap_err();
    assert!(matches!(
        error,
        Error::FrameTooLarge {
            len: 1001,
            max: 1000
        }
    ));
    assert_eq!(frames_in(server.pending_output())[0].1[..2], [0x03, 0xf1]);
}

#[test]
fn rejects_an_oversized_fragmented_message_with_1009() {
    let cfg = config().max_message_size(10);
    let mut input = masked(0x02, &[0; 6], KEY);
    input.extend(masked(0x80, &[0; 5], KEY));
    let (events, _) = run(Role::Server, &cfg, &input);
    assert_eq!(events, [Seen::Error(Some(1009))]);
    let exact = [masked(0x02, &[0; 6], KEY), masked(0x80, &[0; 4], KEY)].concat();
    assert_eq!(
        run(Role::Server, &cfg, &exact).0,
        [Seen::Binary(vec![0; 10])]
    );
}

#[test]
fn answers_a_ping_with_a_pong_of_the_same_payload() {
    let (events, output) = run(Role::Server, &config(), &masked(0x89, b"hi", KEY));
    assert_eq!(events, [Seen::Ping(b"hi".to_vec())]);
    assert_eq!(output, [0x8a, 0x02, b'h', b'i']);
}

#[test]
fn an_unsolicited_pong_is_reported_and_not_answered() {
    let (events, output) = run(Role::Server, &config(), &masked(0x8a, b"x", KEY));
    assert_eq!(events, [Seen::Pong(b"x".to_vec())]);
    assert!(output.is_empty());
}

#[test]
fn echoes_the_close_code_and_closes_first_as_server() {
    let (events, output) = run(
        Role::Server,
        &config(),
        &masked(0x88, &close_payload(1000, "bye"), KEY),
    );
    assert_eq!(events, [Seen::Close(Some((1000, "bye".into())))]);
    assert_eq!(output, [0x88, 0x02, 0x03, 0xe8]);
    let mut server = Connection::new(Role::Server, &config());
    server.receive(&masked(0x88, &close_payload(1001, ""), KEY));
    assert!(server.next_event().unwrap().is_some());
    assert_eq!(server.state(), State::Closed);
    assert!(
        !server.should_close_transport(),
        "the reply is not written yet"
    );
    let n = server.pending_output().len();
    server.consume_output(n);
    assert!(server.should_close_transport());
}

#[test]
fn client_waits_for_the_server_to_close_the_transport() {
    let mut client = Connection::new(Role::Client, &config());
    client.receive(&unmasked(0x88, &close_payload(1000, "")));
    assert!(client.next_event().unwrap().is_some());
    let n = client.pending_output().len();
    client.consume_output(n);
    assert_eq!(client.state(), State::Closed);
    assert!(!client.should_close_transport());
    assert!(client.receive_eof().is_ok());
    assert!(client.should_close_transport());
}

#[test]
fn answers_an_empty_close_with_an_empty_close() {
    let (events, output) = run(Role::Server, &config(), &masked(0x88, b"", KEY));
    assert_eq!(events, [Seen::Close(None)]);
    assert_eq!(output, [0x88, 0x00]);
}

#[test]
fn rejects_bad_close_payloads() {
    assert_server_fails(&masked(0x88, &[0x03], KEY), 1002);
    assert_server_fails(&masked(0x88, &close_payload(1005, ""), KEY), 1002);
    assert_server_fails(&masked(0x88, &close_payload(999, ""), KEY), 1002);
    let mut bad_reason = close_payload(1000, "");
    bad_reason.push(0xff);
    assert_server_fails(&masked(0x88, &bad_reason, KEY), 1007);
}

#[test]
fn ignores_data_after_a_close_frame() {
    let mut input = masked(0x88, &close_payload(1000, ""), KEY);
    input.extend(masked(0x81, b"late", KEY));
    input.extend(masked(0x89, b"late", KEY));
    let (events, output) = run(Role::Server, &config(), &input);
    assert_eq!(events, [Seen::Close(Some((1000, String::new())))]);
    assert_eq!(frames_in(&output).len(), 1, "only the close reply, no pong");
}

#[test]
fn sends_nothing_after_its_close() {
    let mut server = Connection::new(Role::Server, &config());
    server
        .sender()
        .close(CloseCode::GOING_AWAY, "restart")
        .unwrap();
    assert_eq!(server.state(), State::Closing);
    assert!(matches!(server.sender().send_text("x"), Err(Error::Closed)));
    // Closing again is allowed and queues nothing.
    let queued = server.pending_output().len();
    server.sender().close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.pending_output().len(), queued);
    // Messages may still arrive until the peer's close, whose reply is not sent again.
    let mut input = masked(0x82, b"in flight", KEY);
    input.extend(masked(0x89, b"p", KEY));
    input.extend(masked(0x88, &close_payload(1001, ""), KEY));
    server.receive(&input);
    let mut events = Vec::new();
    drain(&mut server, &mut events);
    assert_eq!(
        events,
        [
            Seen::Binary(b"in flight".to_vec()),
            Seen::Ping(b"p".to_vec()),
            Seen::Close(Some((1001, String::new())))
        ]
    );
    let frames = frames_in(server.pending_output());
    assert_eq!(frames, [(0x88, close_payload(1001, "restart"))]);
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn after_failing_nothing_more_is_read_or_sent() {
    let mut server = Connection::new(Role::Server, &config());
    server.receive(&unmasked(0x81, b"x"));
    assert!(server.next_event().is_err());
    server.receive(&masked(0x89, b"p", KEY));
    assert!(server.next_event().unwrap().is_none());
    assert!(matches!(
        server.sender().send_binary(b"x"),
        Err(Error::Closed)
    ));
    assert_eq!(frames_in(server.pending_output()).len(), 1);
    assert!(
        server.heap_size() <= 4096,
        "the failed connection still holds {} bytes",
        server.heap_size()
    );
}

#[test]
fn eof_before_the_close_handshake_is_abnormal() {
    let mut server = Connection::new(Role::Server, &config());
    assert!(matches!(server.receive_eof(), Err(Error::AbnormalClosure)));
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn client_masks_every_frame_with_a_fresh_key() {
    let mut client = Connection::new(Role::Client, &config());
    client.sender().send_text("same").unwrap();
    client.sender().send_text("same").unwrap();
    let out = client.pending_output().to_vec();
    assert_eq!(out.len(), 2 * (2 + 4 + 4));
    let (first, second) = out.split_at(10);
    assert_eq!((first[0], first[1]), (0x81, 0x84));
    assert_ne!(first[2..6], second[2..6], "each frame has its own key");
    assert_eq!(
        frames_in(&out),
        [(0x81, b"same".to_vec()), (0x81, b"same".to_vec())]
    );
}

#[test]
fn server_frames_are_unmasked_and_minimal() {
    let mut server = Connection::new(Role::Server, &config());
    server.sender().send_binary(&[7; 126]).unwrap();
    assert_eq!(server.pending_output()[..4], [0x82, 126, 0, 126]);
}

#[test]
fn refuses_oversized_control_payloads_and_unsendable_codes() {
    let mut conn = Connection::new(Role::Server, &config());
    assert!(matches!(
        conn.sender().send_ping(&[0; 126]),
        Err(Error::Misuse(_))
    ));
    assert!(conn.sender().send_ping(&[0; 125]).is_ok());
    assert!(matches!(
        conn.sender().close(CloseCode::NO_STATUS, ""),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        conn.sender().close(CloseCode::NORMAL, &"x".repeat(124)),
        Err(Error::Misuse(_))
    ));
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn streams_a_message_in_fragments_with_control_frames_between() {
    let mut client = Connection::new(Role::Client, &config());
    let sender = client.sender();
    let euro = "€".as_bytes();
    sender
        .send_fragment(MessageKind::Text, &euro[..1], false)
        .unwrap();
    assert!(matches!(
        sender.send_fragment(MessageKind::Binary, b"x", true),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        sender.send_text("interrupting"),
        Err(Error::Misuse(_))
    ));
    sender.send_ping(b"between").unwrap();
    sender
        .send_fragment(MessageKind::Text, &euro[1..], true)
        .unwrap();
    let out = client.pending_output().to_vec();
    let firsts: Vec<u8> = frames_in(&out).iter().map(|f| f.0).collect();
    assert_eq!(firsts, [0x01, 0x89, 0x80]);
    let (events, _) = run(Role::Server, &config(), &out);
    assert_eq!(
        events,
        [Seen::Ping(b"between".to_vec()), Seen::Text("€".into())]
    );
}

#[test]
fn refuses_text_fragments_that_are_not_utf8() {
    let mut client = Connection::new(Role::Client, &config());
    let sender = client.sender();
    assert!(sender
        .send_fragment(MessageKind::Text, &[0xe2, 0x82], false)
        .is_ok());
    assert!(matches!(
        sender.send_fragment(MessageKind::Text, &[], true),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        sender.send_fragment(MessageKind::Text, &[0xff], true),
        Err(Error::Misuse(_))
    ));
}

#[test]
fn echoes_while_the_event_borrows_the_input() {
    let mut server = Connection::new(Role::Server, &config());
    server.receive(&masked(0x82, b"echo me", KEY));
    while let Some((event, sender)) = server.next_event().unwrap() {
        if let Event::Binary(data) = event {
            sender.send_binary(data).unwrap();
        }
    }
    assert_eq!(server.pending_output(), unmasked(0x82, b"echo me"));
}

#[test]
fn buffers_shrink_once_small_traffic_follows_a_large_message() {
    let mut server = Connection::new(Role::Server, &config());
    let big = vec![1u8; 1 << 20];
    let echo = |server: &mut Connection, input: &[u8]| {
        server.receive(input);
        while let Some((event, sender)) = server.next_event().unwrap() {
            if let Event::Binary(data) = event {
                sender.send_binary(data).unwrap();
            }
        }
        let n = server.pending_output().len();
        server.consume_output(n);
        assert!(server.next_event().unwrap().is_none());
    };
    let mut input = masked(0x02, &big, KEY);
    input.extend(masked(0x80, &big, KEY));
    echo(&mut server, &input);
    // Kept while more such messages may follow; given back after a few rounds of small traffic.
    assert!(server.heap_size() >= 1 << 20);
    let small = [masked(0x02, b"sm", KEY), masked(0x80, b"all", KEY)].concat();
    echo(&mut server, &small);
    assert!(server.heap_size() >= 1 << 20, "one short round keeps them");
    for _ in 0..3 {
        echo(&mut server, &small);
    }
    assert!(
        server.heap_size() <= 64 << 10,
        "connection holds {} bytes",
        server.heap_size()
    );
}

#[test]
fn a_trickled_large_claim_allocates_only_what_arrived() {
    let mut server = Connection::new(Role::Server, &config());
    server.receive(&header_bytes(0x82, 16 << 20, Some(KEY)));
    assert!(server.next_event().unwrap().is_none());
    server.receive(&[0; 1000]);
    assert!(server.next_event().unwrap().is_none());
    assert!(
        server.heap_size() < 64 << 10,
        "holds {} bytes",
        server.heap_size()
    );
}

#[test]
fn a_tracer_sees_every_frame_both_ways_in_order_with_unmasked_payloads() {
    use crate::frame::OpCode;
    use crate::trace::{Direction, Tracer};
    use std::sync::{Arc, Mutex};

    type Row = (Role, Direction, OpCode, bool, bool, Vec<u8>);
    let rows: Arc<Mutex<Vec<Row>>> = Arc::default();
    let tracer = {
        let rows = Arc::clone(&rows);
        Tracer::new(move |f| {
            rows.lock().unwrap().push((
                f.role,
                f.direction,
                f.opcode,
                f.fin,
                f.masked,
                f.payload.to_vec(),
            ))
        })
    };
    let traced = config().trace(tracer);
    let mut client = Connection::new(Role::Client, &traced);
    let mut server = Connection::new(Role::Server, &traced);
    client
        .sender()
        .send_fragment(MessageKind::Text, b"hel", false)
        .unwrap();
    client.sender().send_ping(b"p").unwrap();
    client
        .sender()
        .send_fragment(MessageKind::Text, b"lo", true)
        .unwrap();
    client.sender().close(CloseCode::NORMAL, "bye").unwrap();
    server.receive(client.pending_output());
    let mut seen = Vec::new();
    drain(&mut server, &mut seen);
    assert_eq!(
        seen,
        [
            Seen::Ping(b"p".to_vec()),
            Seen::Text("hello".into()),
            Seen::Close(Some((1000, "bye".into())))
        ]
    );

    use Direction::{Received as In, Sent as Out};
    use Role::{Client as C, Server as S};
    let rows = rows.lock().unwrap();
    let expected: Vec<Row> = vec![
        (C, Out, OpCode::Text, false, true, b"hel".to_vec()),
        (C, Out, OpCode::Ping, true, true, b"p".to_vec()),
        (C, Out, OpCode::Continuation, true, true, b"lo".to_vec()),
        (C, Out, OpCode::Close, true, true, b"\x03\xe8bye".to_vec()),
        (S, In, OpCode::Text, false, true, b"hel".to_vec()),
        (S, In, OpCode::Ping, true, true, b"p".to_vec()),
        (S, Out, OpCode::Pong, true, false, b"p".to_vec()),
        (S, In, OpCode::Continuation, true, true, b"lo".to_vec()),
        (S, In, OpCode::Close, true, true, b"\x03\xe8bye".to_vec()),
        (S, Out, OpCode::Close, true, false, b"\x03\xe8".to_vec()),
    ];
    assert_eq!(*rows, expected);
}
