//! Arbitrary bytes as an upgrade request: either a 101 whose accept key matches the request's key, or a
//! refusal whose response is a 4xx, never both; the head's length is exact, so bytes after it survive.
//! The sans-IO `ServerHandshake`, fed the same bytes in two chunks, decides the same as `read_request`.
#![no_main]
use std::time::Instant;

use wscore::handshake::{accept_key, read_request, Acceptance, Decision, Incoming, ServerHandshake};
use wscore::{Config, Error};

fn status_of(response: &[u8]) -> u16 {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(response) {
        Ok(httparse::Status::Complete(len)) => {
            assert!(len <= response.len());
            parsed.code.expect("a status")
        }
        other => panic!("our response does not parse: {other:?}"),
    }
}

/// What the state machine decides over `data` split at `split`, with the end of the stream after it if
/// it still needs more; and the bytes it left over.
fn machine(data: &[u8], split: usize, config: &Config) -> (Result<Incoming, Error>, Vec<u8>) {
    let mut handshake = ServerHandshake::new(config, Instant::now());
    handshake.receive(&data[..split]);
    handshake.receive(&data[split..]);
    let outcome = match handshake.poll() {
        Ok(Some(incoming)) => Ok(incoming),
        Ok(None) => {
            handshake.receive_eof();
            handshake.poll().map(|incoming| incoming.expect("decided at the end of the stream"))
        }
        Err(error) => Err(error),
    };
    (outcome, handshake.leftover().to_vec())
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let split = data.first().map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let (decided, leftover) = machine(data, split, &config);
    match read_request(data, &config) {
        Ok(None) => {
            assert!(data.len() < config.max_handshake_size);
            // The stream ended inside the head.
            assert_eq!(decided.expect_err("an incomplete head").http_status(), Some(400));
        }
        Ok(Some((incoming, used))) => {
            assert!(used <= data.len() && used <= config.max_handshake_size);
            assert_eq!(decided.expect("the machine agrees"), incoming);
            assert_eq!(leftover, &data[used..], "every byte past the head is left over");
            // The head is exactly data[..used]: alone it parses the same, and more bytes change nothing.
            let alone = read_request(&data[..used], &config).expect("the head alone").expect("complete");
            assert_eq!(alone, (incoming.clone(), used));
            let mut more = data[..used].to_vec();
            more.extend_from_slice(b"\x81\x85trailing");
            assert_eq!(read_request(&more, &config).expect("with more").expect("complete"), (incoming.clone(), used));
            if let Incoming::Upgrade(upgrade) = incoming {
                let key = upgrade.request().headers.get_str("Sec-WebSocket-Key").expect("a key").trim();
                let response = upgrade.accept(None).expect("accepting without a subprotocol");
                assert_eq!(status_of(&response), 101);
                let expected = format!("\r\nSec-WebSocket-Accept: {}\r\n", accept_key(key.as_bytes()));
                assert!(String::from_utf8(response).unwrap().contains(&expected));
                for offered in upgrade.protocols() {
                    if let Ok(response) = upgrade.respond(&Acceptance::new().protocol(offered).into()) {
                        assert_eq!(status_of(&response), 101);
                    }
                }
                let refusal = upgrade.respond(&Decision::refuse(403)).expect("a refusal");
                assert_eq!(status_of(&refusal), 403);
            }
        }
        Err(error) => {
            let status = error.http_status().expect("a refused request has a status");
            assert!((400..500).contains(&status));
            assert_eq!(status_of(&error.http_response().expect("a response").to_bytes()), status);
            assert_eq!(decided.expect_err("the machine refuses too").http_status(), Some(status));
            assert!(leftover.is_empty(), "nothing is handed on after a refusal");
        }
    }
});
