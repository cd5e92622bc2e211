//! A prepared message sends what each connection would have sent on its own, and its peer reads it
//! whatever came before (RFC 7692 context takeover included).

use proptest::prelude::*;

use super::*;
use crate::handshake::Extensions;
use crate::{CloseCode, Config, Connection, Error, Event, Role};

fn server(config: &Config, extensions: &Extensions) -> Connection {
    Connection::with_extensions(Role::Server, config, extensions)
}

/// Sends `message` alone the ordinary way on a fresh connection: what the prepared one must match.
fn sent_alone(config: &Config, extensions: &Extensions, kind: MessageKind, data: &[u8]) -> Vec<u8> {
    let mut connection = server(config, extensions);
    match kind {
        MessageKind::Text => connection
            .sender()
            .send_text(std::str::from_utf8(data).unwrap()),
        MessageKind::Binary => connection.sender().send_binary(data),
    }
    .unwrap();
    connection.pending_output().to_vec()
}

fn prepared(kind: MessageKind, data: &[u8]) -> PreparedMessage {
    match kind {
        MessageKind::Text => PreparedMessage::text(std::str::from_utf8(data).unwrap()),
        MessageKind::Binary => PreparedMessage::binary(data),
    }
}

/// Text that compresses (repeated words) or data that does not (counter bytes), short or long.
fn payload() -> impl Strategy<Value = (MessageKind, Vec<u8>)> {
    prop_oneof![
        ("[a-z ]{1,12}", 0usize..400)
            .prop_map(|(word, times)| (MessageKind::Text, word.repeat(times).into_bytes())),
        prop::collection::vec(any::<u8>(), 0..3000).prop_map(|data| (MessageKind::Binary, data)),
    ]
}

#[test]
fn every_recipient_gets_the_same_frame_as_the_message_sent_alone() {
    let config = Config::default();
    let extensions = Extensions::default();
    let message = PreparedMessage::text("hello");
    for _ in 0..3 {
        let mut connection = server(&config, &extensions);
        connection.sender().send_prepared(&message).unwrap();
        assert_eq!(connection.pending_output(), b"\x81\x05hello");
    }
    assert_eq!(message.payload(), b"hello");
    assert_eq!(message.kind(), MessageKind::Text);
}

#[test]
fn the_frame_header_takes_each_length_form() {
    for (len, header) in [
        (125, vec![0x82, 125]),
        (126, vec![0x82, 126, 0, 126]),
        (65_536, vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let message = PreparedMessage::binary(&vec![7; len]);
        assert_eq!(&message.frame()[..header.len()], header);
        assert_eq!(message.frame().len(), header.len() + len);
    }
}

#[test]
fn a_client_masks_a_prepared_message_with_a_key_of_its_own() {
    let config = Config::default().rng_seed(Some(3));
    let message = PreparedMessage::text("hi");
    let mut client = Connection::new(Role::Client, &config);
    client.sender().send_prepared(&message).unwrap();
    let wire = client.pending_output().to_vec();
    assert_eq!(&wire[..2], [0x81, 0x82], "masked text of 2 bytes");
    let mut server = Connection::new(Role::Server, &config);
    server.receive(&wire);
    assert!(matches!(
        server.next_event(),
        Ok(Some((Event::Text("hi"), _)))
    ));
}

#[test]
fn a_prepared_message_is_refused_as_an_ordinary_one_would_be() {
    let message = PreparedMessage::binary(&[0; 600]);
    let mut full = Connection::new(Role::Server, &Config::default().max_write_buffer(1000));
    full.sender().send_prepared(&message).unwrap();
    full.sender().send_prepared(&message).unwrap();
    assert!(matches!(
        full.sender().send_prepared(&message),
        Err(Error::WriteBufferFull {
            buffered: 1208,
            max: 1000
        })
    ));
    assert_eq!(full.sender().buffered_amount(), 1208);

    let mut closed = Connection::new(Role::Server, &Config::default());
    closed.sender().close(CloseCode::NORMAL, "").unwrap();
    assert!(matches!(
        closed.sender().send_prepared(&message),
        Err(Error::Closed)
    ));

    let mut fragmenting = Connection::new(Role::Server, &Config::default());
    fragmenting
        .sender()
        .send_fragment(MessageKind::Binary, b"part", false)
        .unwrap();
    assert!(matches!(
        fragmenting.sender().send_prepared(&message),
        Err(Error::Misuse(_))
    ));
}

proptest! {
    #[test]
    fn without_deflate_the_bytes_equal_the_message_sent_alone((kind, data) in payload()) {
        let config = Config::default();
        let extensions = Extensions::default();
        let message = prepared(kind, &data);
        let mut connection = server(&config, &extensions);
        connection.sender().send_prepared(&message).unwrap();
        prop_assert_eq!(connection.pending_output(), &sent_alone(&config, &extensions, kind, &data)[..]);
    }
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use crate::deflate::{Deflate, DeflateParams};

    fn negotiated(server_max_window_bits: u8, server_no_context_takeover: bool) -> Extensions {
        Extensions {
            deflate: Some(DeflateParams {
                server_no_context_takeover,
                client_no_context_takeover: true,
                server_max_window_bits,
                client_max_window_bits: 15,
            }),
        }
    }

    /// Moves a server's output into a client and returns the data messages it reads.
    fn read_all(server: &mut Connection, client: &mut Connection) -> Vec<Vec<u8>> {
        let wire = server.pending_output().to_vec();
        server.consume_output(wire.len());
        client.receive(&wire);
        let mut seen = Vec::new();
        loop {
            match client.next_event() {
                Ok(Some((Event::Text(text), _))) => seen.push(text.as_bytes().to_vec()),
                Ok(Some((Event::Binary(data), _))) => seen.push(data.to_vec()),
                Ok(Some(_)) => {}
                Ok(None) => return seen,
                Err(error) => panic!("the client failed: {error}"),
            }
        }
    }

    #[test]
    fn a_message_is_compressed_once_per_window_and_level() {
        let message = PreparedMessage::text(&"compress me ".repeat(50));
        let a = message.compressed(15, 6).unwrap();
        let b = message.compressed(10, 6).unwrap();
        assert!(Arc::ptr_eq(&a, &message.compressed(15, 6).unwrap()));
        assert!(Arc::ptr_eq(&b, &message.compressed(10, 6).unwrap()));
        assert_eq!(a[0], 0xc1, "FIN + RSV1 + text");
        assert!(a.len() < message.frame().len() / 4);
    }

    #[test]
    fn incompressible_or_short_messages_go_as_they_are() {
        let config = Config::default().deflate(Deflate::default().threshold(64));
        let extensions = negotiated(15, false);
        for data in [b"short".to_vec(), (0..=255u8).collect()] {
            let message = PreparedMessage::binary(&data);
            let mut connection = server(&config, &extensions);
            connection.sender().send_prepared(&message).unwrap();
            assert_eq!(connection.pending_output(), message.frame());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// For every window the peer may ask for (8 bits: zlib cannot keep to it, so nothing is
        /// compressed), with or without context takeover, at any level: a fresh connection sends the prepared message's bytes exactly as it would have sent the
        /// message itself.
        #[test]
        fn each_parameter_set_sends_the_bytes_the_message_alone_would_have(
            (kind, data) in payload(),
            window_bits in 8u8..=15,
            no_context_takeover in any::<bool>(),
            level in 0u8..=9,
        ) {
            let config = Config::default().deflate(Deflate::default().level(level));
            let extensions = negotiated(window_bits, no_context_takeover);
            let message = prepared(kind, &data);
            let mut connection = server(&config, &extensions);
            connection.sender().send_prepared(&message).unwrap();
            prop_assert_eq!(
                connection.pending_output(),
                &sent_alone(&config, &extensions, kind, &data)[..]
            );
        }

        /// A connection that keeps its compression context mixes its own messages with prepared ones
        /// shared by several connections: its peer reads every one, byte-exact, in order.
        #[test]
        fn prepared_and_own_messages_interleave_on_a_connection_with_context(
            plan in prop::collection::vec((any::<bool>(), payload()), 1..12),
            window_bits in 9u8..=15,
        ) {
            let config = Config::default().rng_seed(Some(1)).deflate(Deflate::default());
            let extensions = negotiated(window_bits, false);
            let mut pairs: Vec<(Connection, Connection)> = (0..3)
                .map(|_| (
                    server(&config, &extensions),
                    Connection::with_extensions(Role::Client, &config, &negotiated(window_bits, false)),
                ))
                .collect();
            for (i, (shared, (kind, data))) in plan.iter().enumerate() {
                let message = prepared(*kind, data);
                for (n, (server, client)) in pairs.iter_mut().enumerate() {
                    // Each connection also sends messages of its own between the shared ones.
                    if !shared || (i + n) % 2 == 0 {
                        server.sender().send_binary(data).unwrap();
                        prop_assert_eq!(read_all(server, client), vec![data.clone()]);
                    }
                    server.sender().send_prepared(&message).unwrap();
                    prop_assert_eq!(read_all(server, client), vec![data.clone()]);
                }
            }
        }
    }
}
