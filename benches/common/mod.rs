//! The received-message stream the receive benches share (`benches/receive.rs`, `benches/instructions.rs`
//! and `benches/peers/benches/receive.rs`, which includes this file by path), so that every bench and
//! every library is measured on the same bytes.

use wscore::{Config, Connection, Role};

/// The payload of every message of `size` bytes.
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}

/// `count` binary messages of `size` bytes, framed and masked as a client sends them.
pub fn client_stream(size: usize, count: usize) -> Vec<u8> {
    let config = Config::default().rng_seed(Some(0x5eed));
    let mut client = Connection::new(Role::Client, &config);
    let payload = payload(size);
    let mut stream = Vec::new();
    for _ in 0..count {
        client.sender().send_binary(&payload).unwrap();
        stream.extend_from_slice(client.pending_output());
        let n = client.pending_output().len();
        client.consume_output(n);
    }
    stream
}
