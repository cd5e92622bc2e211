//! Steady traffic allocates nothing per message, and an idle connection gives its buffers back.

mod common;
use common::allocations;
use wscore::{Config, Connection, Event, Role};

/// `count` client-masked binary messages of `size` bytes, as a socket would deliver them.
fn client_stream(size: usize, count: usize) -> Vec<u8> {
    let mut client = Connection::new(Role::Client, &Config::default().rng_seed(Some(3)));
    let payload = vec![0x5a; size];
    for _ in 0..count {
        client.sender().send_binary(&payload).unwrap();
    }
    client.pending_output().to_vec()
}

/// Feeds the stream in 4 KiB reads, echoes every message, and writes the output away after each read,
/// as the blocking driver does.
fn echo_all(server: &mut Connection, stream: &[u8]) -> usize {
    let mut messages = 0;
    let mut rest = stream;
    while !rest.is_empty() {
        // A read fills what room the connection offers, up to 4 KiB.
        let room = server.read_buffer();
        let n = room.len().min(rest.len()).min(4096);
        room[..n].copy_from_slice(&rest[..n]);
        server.commit(n);
        rest = &rest[n..];
        while let Some((event, sender)) = server.next_event().unwrap() {
            if let Event::Binary(data) = event {
                sender.send_binary(data).unwrap();
                messages += 1;
            }
        }
        let written = server.pending_output().len();
        server.consume_output(written);
    }
    messages
}

#[test]
fn steady_traffic_allocates_nothing_per_message() {
    for (size, count) in [(16, 10_000), (1024, 2_000), (16 << 10, 100)] {
        let stream = client_stream(size, count);
        let mut server = Connection::new(Role::Server, &Config::default());
        // Warm up: buffers grow to what this traffic needs.
        assert_eq!(echo_all(&mut server, &stream), count);
        let (messages, allocs) = allocations(|| echo_all(&mut server, &stream));
        assert_eq!(messages, count);
        assert_eq!(
            allocs, 0,
            "{allocs} allocations for {count} messages of {size} bytes"
        );
    }
}

#[test]
fn steady_sending_allocates_nothing_per_message() {
    let mut client = Connection::new(Role::Client, &Config::default());
    let payload = vec![1u8; 1000];
    let send_some = |client: &mut Connection| {
        for _ in 0..1000 {
            client.sender().send_binary(&payload).unwrap();
            client.sender().send_ping(b"keepalive").unwrap();
            let n = client.pending_output().len();
            client.consume_output(n);
        }
    };
    send_some(&mut client);
    let ((), allocs) = allocations(|| send_some(&mut client));
    assert_eq!(allocs, 0);
}

#[test]
fn an_idle_connection_holds_under_1_kib_after_a_large_message() {
    let mut server = Connection::new(Role::Server, &Config::default());
    echo_all(&mut server, &client_stream(1 << 20, 2));
    assert!(server.next_event().unwrap().is_none());
    server.shrink_to_idle();
    assert!(
        server.heap_size() < 1024,
        "idle connection holds {} bytes",
        server.heap_size()
    );
    // And it still works afterwards.
    assert_eq!(echo_all(&mut server, &client_stream(16, 3)), 3);
}
