#![cfg(feature = "mio")]
//! Topics on the mio driver (issue 17): two event loops joined by one `Hub`, each on its own thread
//! and port, with blocking clients on both. A message published on either loop, or from another
//! thread, reaches every subscriber of both loops once and in order; a subscriber that does not read
//! is dropped from or closed by the stated policy while the others get everything.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wscore::driver::blocking::{self, WebSocket};
use wscore::driver::mio::{
    ConnId, Context, EventLoop, Handler, Hub, LoopConfig, PublishStats, SlowSubscriber,
};
use wscore::handshake::{ClientOptions, WsUrl};
use wscore::{CloseCode, Config, Event, Message, PreparedMessage, Sender};

use common::small_buffered_stream;

const ROOM: &str = "room";

/// Subscribes every connection to the room when it opens, and speaks a small protocol: `say:TEXT`
/// publishes TEXT to the room, `leave` unsubscribes (answered `left`), `echo:TEXT` answers TEXT to
/// the sender alone, `ready?` is answered `ready` (by then the subscription made at `open` is in
/// force).
struct Room;

impl Handler for Room {
    fn open(&mut self, context: &mut Context, id: ConnId, _: &mut Sender) {
        context.subscribe(id, ROOM);
    }

    fn event(&mut self, context: &mut Context, id: ConnId, event: Event<'_>, sender: &mut Sender) {
        let Event::Text(text) = event else {
            return;
        };
        if let Some(said) = text.strip_prefix("say:") {
            context.publish(ROOM, PreparedMessage::text(said));
        } else if text == "leave" {
            context.unsubscribe(id, ROOM);
            sender.send_text("left").unwrap();
        } else if let Some(echo) = text.strip_prefix("echo:") {
            sender.send_text(echo).unwrap();
        } else if text == "ready?" {
            sender.send_text("ready").unwrap();
        }
    }
}

/// A loop of the hub on its own thread and port; shut down through the hub.
struct Loop {
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

fn start(hub: &Hub, config: Config, slow: SlowSubscriber) -> Loop {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let loop_config = LoopConfig::default().hub(hub.clone()).slow_subscriber(slow);
    let (ready, started) = mpsc::channel();
    let thread = thread::spawn(move || {
        let mut event_loop = EventLoop::new(Room, config, loop_config).unwrap();
        event_loop.listen(listener).unwrap();
        ready.send(()).unwrap();
        event_loop.run().unwrap();
    });
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    Loop {
        addr,
        thread: Some(thread),
    }
}

/// Two loops in one hub, stopped (and joined) when dropped.
struct Server {
    hub: Hub,
    loops: Vec<Loop>,
}

impl Server {
    fn new(config: Config, slow: SlowSubscriber) -> Server {
        let hub = Hub::new();
        let loops = (0..2).map(|_| start(&hub, config.clone(), slow)).collect();
        assert_eq!(hub.loops(), 2);
        Server { hub, loops }
    }

    fn url(&self, which: usize) -> String {
        format!("ws://{}/", self.loops[which].addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.hub.shutdown();
        for mut running in self.loops.drain(..) {
            if let Some(thread) = running.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn client_config() -> Config {
    Config::default()
        .idle_timeout(Some(Duration::from_secs(10)))
        .close_timeout(Duration::from_secs(10))
}

/// A client of loop `which`, subscribed once this returns.
fn join(server: &Server, which: usize) -> WebSocket<blocking::MaybeTls> {
    let mut ws =
        blocking::connect_with(&server.url(which), &ClientOptions::new(), &client_config())
            .unwrap();
    ws.send(Message::from("ready?")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::from("ready")));
    ws
}

/// The next message that is not a keepalive's ping or pong (a slow run may outlast the interval).
fn next_data<S: blocking::Transport>(ws: &mut WebSocket<S>) -> Option<Message> {
    loop {
        match ws.read().unwrap() {
            Some(Message::Ping(_) | Message::Pong(_)) => {}
            other => return other,
        }
    }
}

fn text<S: blocking::Transport>(ws: &mut WebSocket<S>) -> String {
    match next_data(ws) {
        Some(Message::Text(text)) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn what_one_connection_publishes_reaches_every_subscriber_of_both_loops_once_in_order() {
    const PER_LOOP: usize = 4;
    const MESSAGES: usize = 25;
    let server = Server::new(Config::default(), SlowSubscriber::Drop);
    let clients: Vec<_> = (0..2 * PER_LOOP).map(|n| join(&server, n % 2)).collect();
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, mut ws)| {
            thread::spawn(move || {
                for i in 0..MESSAGES {
                    ws.send(Message::from(format!("say:{n}:{i}"))).unwrap();
                }
                // Every client's messages, each sender's in the order it sent them.
                let mut next: HashMap<usize, usize> = HashMap::new();
                for _ in 0..2 * PER_LOOP * MESSAGES {
                    let said = text(&mut ws);
                    let (from, i) = said.split_once(':').unwrap();
                    let (from, i): (usize, usize) = (from.parse().unwrap(), i.parse().unwrap());
                    let expected = next.entry(from).or_default();
                    assert_eq!(i, *expected, "from client {from}, out of order or twice");
                    *expected += 1;
                }
                assert!(next.values().all(|&count| count == MESSAGES));
                ws.send(Message::from("echo:end")).unwrap();
                assert_eq!(text(&mut ws), "end", "nothing more than expected arrived");
                ws.close(CloseCode::NORMAL, "").unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let delivered = (2 * PER_LOOP * MESSAGES * 2 * PER_LOOP) as u64;
    let stats = server.hub.stats();
    assert_eq!(
        (stats.delivered, stats.dropped, stats.closed),
        (delivered, 0, 0)
    );
}

#[test]
fn the_hub_publishes_from_another_thread_and_an_unsubscribed_connection_gets_nothing() {
    let server = Server::new(Config::default(), SlowSubscriber::Drop);
    let mut stays = [join(&server, 0), join(&server, 1)];
    let mut leaves = join(&server, 1);
    assert_eq!(server.hub.publish(ROOM, &PreparedMessage::text("one")), 2);
    for ws in stays.iter_mut().chain([&mut leaves]) {
        assert_eq!(text(ws), "one");
    }
    leaves.send(Message::from("leave")).unwrap();
    assert_eq!(text(&mut leaves), "left");
    server.hub.publish(ROOM, &PreparedMessage::binary(b"two"));
    for ws in &mut stays {
        assert_eq!(next_data(ws), Some(Message::Binary(b"two".to_vec())));
    }
    // Had "two" reached it, it would come before the echo.
    leaves.send(Message::from("echo:after")).unwrap();
    assert_eq!(text(&mut leaves), "after");
    // A topic nobody subscribes to costs nothing and reaches nobody.
    server
        .hub
        .publish("empty", &PreparedMessage::text("nobody"));
    assert_eq!(server.hub.stats().delivered, 3 + 2);
}

/// A subscriber on a socket with small kernel buffers that reads nothing until told to.
fn stalled_subscriber(server: &Server) -> WebSocket<TcpStream> {
    let stream = small_buffered_stream(server.loops[0].addr, 16 << 10);
    let mut ws = blocking::client(
        stream,
        &WsUrl::parse(&server.url(0)).unwrap(),
        &ClientOptions::new(),
        &client_config(),
    )
    .unwrap();
    ws.send(Message::from("ready?")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::from("ready")));
    ws
}

/// Publishes `count` numbered 16 KiB messages while a reader on the other loop takes every one. The
/// publisher keeps at most two messages ahead of the reader: the reader is a subscriber like any
/// other, and one that fell 64 KiB behind would be slow by the policy too.
fn publish_past_a_stalled_subscriber(server: &Server, count: usize) {
    let mut reader = join(server, 1);
    let (read, reads) = mpsc::channel();
    let reading = thread::spawn(move || {
        for i in 0..count {
            let Some(Message::Binary(data)) = next_data(&mut reader) else {
                panic!("expected message {i}");
            };
            assert_eq!(
                &data[..8],
                (i as u64).to_be_bytes(),
                "every message, in order"
            );
            read.send(i).unwrap();
        }
        reader
    });
    for i in 0..count {
        if i >= 2 {
            assert_eq!(reads.recv_timeout(Duration::from_secs(10)), Ok(i - 2));
        }
        let mut data = vec![0x5a; 16 << 10];
        data[..8].copy_from_slice(&(i as u64).to_be_bytes());
        server.hub.publish(ROOM, &PreparedMessage::binary(&data));
    }
    let mut reader = reading.join().unwrap();
    reader.close(CloseCode::NORMAL, "").unwrap();
}

/// The hub's stats once `settled` holds for them (each loop counts its own deliveries as it handles a
/// publish, so the stalled subscriber's loop may still be at the last ones), or as they are after 10 s.
fn settled_stats(hub: &Hub, settled: impl Fn(&PublishStats) -> bool) -> PublishStats {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = hub.stats();
        if settled(&stats) || std::time::Instant::now() >= deadline {
            return stats;
        }
        thread::yield_now();
    }
}

#[test]
fn a_subscriber_that_never_reads_misses_messages_and_the_others_get_them_all() {
    let config = Config::default().max_write_buffer(64 << 10);
    let server = Server::new(config, SlowSubscriber::Drop);
    let mut stalled = stalled_subscriber(&server);
    const COUNT: usize = 1000;
    publish_past_a_stalled_subscriber(&server, COUNT);
    let stats = settled_stats(&server.hub, |s| s.delivered + s.dropped >= 2 * COUNT as u64);
    assert_eq!(stats.delivered + stats.dropped, 2 * COUNT as u64);
    // 16 MB published; what the stalled one was given is what the kernel's buffers took (a few MB on
    // loopback, as the server's send buffer grows) and 64 KiB of output: the rest it missed.
    assert!(stats.dropped > COUNT as u64 / 2, "{stats:?}");
    // It reads what was queued for it, in order with gaps, then is served again.
    let mut last = None;
    for _ in 0..stats.delivered - COUNT as u64 {
        let Some(Message::Binary(data)) = next_data(&mut stalled) else {
            panic!("expected a published message");
        };
        let i = u64::from_be_bytes(data[..8].try_into().unwrap());
        assert!(last.is_none_or(|last| i > last), "in order");
        last = Some(i);
    }
    server
        .hub
        .publish(ROOM, &PreparedMessage::text("caught up"));
    assert_eq!(text(&mut stalled), "caught up");
}

#[test]
fn a_subscriber_that_never_reads_is_closed_with_1013_by_that_policy() {
    let config = Config::default().max_write_buffer(64 << 10);
    let server = Server::new(config, SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER));
    let mut stalled = stalled_subscriber(&server);
    const COUNT: usize = 400;
    publish_past_a_stalled_subscriber(&server, COUNT);
    let stats = settled_stats(&server.hub, |s| s.closed >= 1);
    assert_eq!((stats.closed, stats.dropped), (1, 0), "{stats:?}");
    // It reads what was queued before the close, then the close.
    let close = loop {
        match next_data(&mut stalled) {
            Some(Message::Binary(_)) => {}
            other => break other,
        }
    };
    assert_eq!(
        close,
        Some(Message::Close(Some((
            CloseCode::TRY_AGAIN_LATER,
            "too slow to keep up".to_owned()
        ))))
    );
    assert_eq!(stalled.read().unwrap(), None);
}
