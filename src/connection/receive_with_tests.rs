//! `Connection::receive_with`: where a read lands (the caller's scratch buffer while the connection's
//! own is small, in place once traffic has grown it) never changes what is received.

use proptest::prelude::*;

use super::tests::masked;
use super::*;

/// Reads `stream` through `receive_with` in reads of at most the sizes in `reads` (cycled), collecting
/// every binary message; also returns how many reads landed in `scratch`.
fn receive_all(conn: &mut Connection, mut stream: &[u8], reads: &[usize]) -> (Vec<Vec<u8>>, usize) {
    let mut scratch = vec![0u8; 64 << 10];
    let scratch_range = scratch.as_ptr_range();
    let mut messages = Vec::new();
    let mut into_scratch = 0;
    for &most in reads.iter().cycle() {
        if stream.is_empty() {
            break;
        }
        let n = conn
            .receive_with(&mut scratch, |buf| {
                if scratch_range.contains(&buf.as_ptr()) {
                    into_scratch += 1;
                }
                let n = most.min(buf.len()).min(stream.len());
                buf[..n].copy_from_slice(&stream[..n]);
                Ok::<_, ()>(n)
            })
            .unwrap();
        stream = &stream[n..];
        while let Some((event, _)) = conn.next_event().unwrap() {
            match event {
                Event::Binary(data) => messages.push(data.to_vec()),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    (messages, into_scratch)
}

#[test]
fn a_connection_with_little_traffic_reads_into_scratch_and_keeps_a_small_buffer() {
    let mut server = Connection::new(Role::Server, &Config::default());
    let stream: Vec<u8> = (0..10u8)
        .flat_map(|i| masked(0x82, &[i; 16], [1, 2, 3, i]))
        .collect();
    let (messages, into_scratch) = receive_all(&mut server, &stream, &[22]);
    assert_eq!(messages.len(), 10);
    assert_eq!(into_scratch, 10, "every small read went through scratch");
    assert!(
        server.heap_size() < 256,
        "holds {} bytes for 22-byte frames",
        server.heap_size()
    );
}

#[test]
fn a_connection_that_carried_bulk_traffic_reads_in_place() {
    let mut server = Connection::new(Role::Server, &Config::default());
    let stream: Vec<u8> = (0..4u8)
        .flat_map(|i| masked(0x82, &vec![i; 20_000], [9, 8, 7, i]))
        .collect();
    let (messages, into_scratch) = receive_all(&mut server, &stream, &[64 << 10]);
    assert_eq!(
        messages,
        (0..4u8).map(|i| vec![i; 20_000]).collect::<Vec<_>>()
    );
    assert_eq!(
        into_scratch, 1,
        "only the first read, while the buffer was cold"
    );
}

proptest! {
    /// Any read sizes, through scratch or in place or both in turn, give the messages that were sent.
    #[test]
    fn any_read_sizes_give_the_messages_sent(
        payloads in proptest::collection::vec(
            (any::<u8>(), prop_oneof![0usize..200, 3000usize..9000]), 1..12),
        reads in proptest::collection::vec(1usize..20_000, 1..6),
        key in any::<[u8; 4]>(),
    ) {
        let sent: Vec<Vec<u8>> = payloads.iter().map(|&(byte, len)| vec![byte; len]).collect();
        let stream: Vec<u8> = sent.iter().flat_map(|p| masked(0x82, p, key)).collect();
        let mut server = Connection::new(Role::Server, &Config::default());
        let (messages, _) = receive_all(&mut server, &stream, &reads);
        prop_assert_eq!(messages, sent);
    }
}
