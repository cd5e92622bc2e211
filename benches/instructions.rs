//! Instructions per received message, for callgrind (`benches/instructions.sh`): counts do not depend
//! on the machine's load, which the timing benches do.
//!
//! `instructions SIZE COUNT [read|copy]` builds COUNT masked binary messages of SIZE bytes, as a client
//! sends them, and receives them on a server the way `benches/receive.rs` does: `read` through
//! `read_buffer` + `commit` (the drivers' path), `copy` through `receive`, in reads of at most 64 KiB,
//! draining every event. Only `receive_*` is counted (`--toggle-collect`), and the script takes the
//! difference of two counts, so setup and the first allocations drop out. Run by `cargo bench` with
//! no such arguments, it receives a few messages and exits.

use std::hint::black_box;

use wscore::{Config, Connection, Event, Role};

mod common;
use common::client_stream;

/// The most bytes one simulated socket read delivers, as in `benches/receive.rs`.
const READ_CHUNK: usize = 64 << 10;

/// The drivers' way in: the "socket" copies into `read_buffer()` outside the count (callgrind counts
/// each byte of a `rep movsb` copy as an instruction, so the copy's share would change with the read
/// size), then `receive_read` commits and drains, counted.
fn run_read(conn: &mut Connection, input: &[u8]) -> usize {
    let mut rest = input;
    let mut messages = 0;
    while !rest.is_empty() {
        let room = conn.read_buffer();
        let n = room.len().min(READ_CHUNK).min(rest.len());
        room[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        messages += receive_read(conn, n);
    }
    messages
}

#[inline(never)]
fn receive_read(conn: &mut Connection, n: usize) -> usize {
    conn.commit(n);
    let mut messages = 0;
    while let Some((event, _)) = conn.next_event().unwrap() {
        if let Event::Binary(payload) = event {
            black_box(payload);
            messages += 1;
        }
    }
    messages
}

#[inline(never)]
fn receive_copy(conn: &mut Connection, input: &[u8]) -> usize {
    let mut messages = 0;
    for piece in input.chunks(READ_CHUNK) {
        conn.receive(piece);
        while let Some((event, _)) = conn.next_event().unwrap() {
            if let Event::Binary(payload) = event {
                black_box(payload);
                messages += 1;
            }
        }
    }
    messages
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (size, count) = (number(0, 16), number(1, 100));
    let copy = args.get(2).is_some_and(|a| a == "copy");
    let stream = client_stream(size, count);
    let mut server = Connection::new(Role::Server, &Config::default());
    let received = if copy {
        receive_copy(&mut server, &stream)
    } else {
        run_read(&mut server, &stream)
    };
    assert_eq!(received, count);
}
