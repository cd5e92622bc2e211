//! Arbitrary bytes as the server's answer to our client handshake. The first byte picks a shape: raw
//! bytes, or our own server's valid answer with the bytes after it, or with them as an extra header; and
//! where the input is split in two chunks. The outcome is a checked 101, a refusal with a bounded body,
//! or a bad response; never a 101 for our own valid answer refused.
#![no_main]
use std::time::Instant;

use wscore::handshake::{read_request, ClientHandshake, ClientOptions, Incoming, WsUrl};
use wscore::{Config, Error};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let config = Config::default().rng_seed(Some(7));
    let url = WsUrl::parse("ws://example.com/chat").unwrap();
    let options = ClientOptions::new().protocol("chat").protocol("superchat");
    let mut client = ClientHandshake::new(&url, &options, &config, Instant::now()).unwrap();
    let Ok(Some((Incoming::Upgrade(upgrade), _))) = read_request(client.request(), &config) else {
        panic!("our own request must be a valid upgrade")
    };
    let valid = upgrade.accept(if mode & 2 == 0 { None } else { Some("superchat") }).unwrap();
    let input = match mode % 3 {
        0 => rest.to_vec(),
        1 => [&valid[..], rest].concat(),
        _ => {
            let head = &valid[..valid.len() - 2];
            [head, rest, b"\r\n\r\n"].concat()
        }
    };
    let split = usize::from(mode >> 2) % (input.len() + 1);
    client.receive(&input[..split]);
    client.receive(&input[split..]);
    let outcome = match client.poll() {
        Ok(None) => {
            assert!(input.len() < config.max_handshake_size);
            client.receive_eof();
            client.poll().map(|response| response.expect("decided at the end of the stream"))
        }
        other => other.map(|response| response.expect("decided")),
    };
    match outcome {
        Ok(response) => {
            assert_eq!(response.status, 101);
            if let Some(protocol) = &response.protocol {
                assert!(options.protocols.contains(protocol), "a subprotocol we did not offer");
            }
            if mode % 3 == 1 {
                assert_eq!(client.leftover(), rest, "the bytes after the head are left for the connection");
            }
        }
        Err(Error::BadResponse { .. }) => assert!(mode % 3 != 1, "our own server's answer was refused"),
        Err(Error::Refused(response)) => {
            assert!(mode % 3 != 1, "our own server's answer was refused");
            assert_ne!(response.status, 101);
            assert!(response.body.len() <= config.max_handshake_size, "the body is bounded");
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});
