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

/// Tracing costs no allocation either: the traced frame borrows the connection's buffers.
#[test]
fn a_traced_connection_allocates_nothing_per_frame() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let frames = Arc::new(AtomicUsize::new(0));
    let tracer = {
        let frames = Arc::clone(&frames);
        wscore::trace::Tracer::new(move |frame| {
            frames.fetch_add(frame.payload.len().min(1), Ordering::Relaxed);
        })
    };
    let stream = client_stream(1024, 2_000);
    let mut server = Connection::new(Role::Server, &Config::default().trace(tracer));
    assert_eq!(echo_all(&mut server, &stream), 2_000);
    let (messages, allocs) = allocations(|| echo_all(&mut server, &stream));
    assert_eq!(messages, 2_000);
    assert_eq!(allocs, 0, "{allocs} allocations for 2000 traced echoes");
    // Every frame was seen, both ways, both rounds.
    assert_eq!(frames.load(Ordering::Relaxed), 8_000);
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

/// The event loop's steady echo: after a warm-up, a thousand round trips allocate nothing on the loop's
/// thread (the client runs on another, which the per-thread counter does not see). An idle connection
/// gives its buffers back between messages, so the warm-up is sized to what one round trip needs.
#[cfg(feature = "mio")]
#[test]
fn the_event_loop_echoes_without_allocating_per_message() {
    use std::sync::mpsc;
    use std::time::Duration;
    use wscore::driver::blocking::connect;
    use wscore::driver::mio::{ConnId, Context, EventLoop, Handler, LoopConfig};
    use wscore::{CloseCode, Message, Sender};

    struct Echo;
    impl Handler for Echo {
        fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
            if let Event::Binary(data) = event {
                let _ = sender.send_binary(data);
            }
        }
    }

    // Keepalive off: a ping in the middle would be traffic of its own.
    let config = Config::default().ping_interval(None);
    let mut event_loop = EventLoop::new(Echo, config, LoopConfig::default()).unwrap();
    event_loop
        .listen(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .unwrap();
    let url = format!("ws://{}/", event_loop.local_addr().unwrap());
    let (phase_tx, phase) = mpsc::channel();
    let client = std::thread::spawn(move || {
        let mut ws = connect(&url).unwrap();
        let message = Message::Binary(vec![0x5a; 1024]);
        for round in 0..1100 {
            if round == 100 {
                phase_tx.send(()).unwrap();
            }
            ws.send(message.clone()).unwrap();
            assert_eq!(ws.read().unwrap().as_ref(), Some(&message));
        }
        ws.close(CloseCode::NORMAL, "").unwrap();
    });
    let step = Some(Duration::from_millis(5));
    while phase.try_recv().is_err() {
        event_loop.turn(step).unwrap();
    }
    let ((), allocated) = allocations(|| {
        while !client.is_finished() {
            event_loop.turn(step).unwrap();
        }
    });
    client.join().unwrap();
    // The close at the end allocates a little (the close frame's buffers, the handler's bookkeeping);
    // a thousand messages must not.
    assert!(
        allocated < 50,
        "{allocated} allocations for 1000 round trips"
    );
}
