//! Arbitrary bytes as an upgrade request: either a 101 whose accept key matches the request's key, or a
//! refusal whose response is a 4xx, never both; the head's length is exact, so bytes after it survive.
#![no_main]
use wscore::handshake::{accept_key, read_request, Incoming};
use wscore::Config;

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

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    match read_request(data, &config) {
        Ok(None) => assert!(data.len() < config.max_handshake_size),
        Ok(Some((incoming, used))) => {
            assert!(used <= data.len() && used <= config.max_handshake_size);
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
                    if let Ok(response) = upgrade.accept(Some(offered)) {
                        assert_eq!(status_of(&response), 101);
                    }
                }
            }
        }
        Err(error) => {
            let status = error.http_status().expect("a refused request has a status");
            assert!((400..500).contains(&status));
            assert_eq!(status_of(&error.http_response().expect("a response")), status);
        }
    }
});
