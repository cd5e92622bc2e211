#![cfg(feature = "mio")]
//! The chat example's rooms across processes through a real Redis (issue 17): three chat processes
//! joined by one `redis-server`, which this test starts on a free port and stops. Needs
//! `redis-server` on the PATH, so it is ignored by a plain `cargo test`; `bash tests/redis/run.sh`
//! installs Debian's package and runs it (CI does).
//!
//! Every phase connects new clients to one room, spread over the processes, and has each send a few
//! numbered messages: every client must receive every message of the phase exactly once, each
//! sender's in order. Between phases one process is killed, then Redis is stopped (local rooms go
//! on) and started again (delivery across processes resumes, no chat process restarted).

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use wscore::driver::blocking::{self, MaybeTls, WebSocket};
use wscore::handshake::ClientOptions;
use wscore::{CloseCode, Config, Message};

use common::EchoServer;

const PATIENCE: Duration = Duration::from_secs(30);

/// A `redis-server` of the test's own, without persistence, stopped when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server is not installed: run `bash tests/redis/run.sh`, which installs it",
            );
        let redis = Redis { child, port };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type Client = WebSocket<MaybeTls>;

fn join(chat: SocketAddr, room: &str) -> Client {
    let config = Config::default()
        .idle_timeout(Some(PATIENCE))
        .close_timeout(Duration::from_secs(10));
    blocking::connect_with(
        &format!("ws://{chat}/?room={room}"),
        &ClientOptions::new(),
        &config,
    )
    .unwrap()
}

/// The next text message that starts with `prefix`, skipping the room's other traffic (joins,
/// leaves, the time).
fn next_with(client: &mut Client, prefix: &str) -> String {
    loop {
        match client.read().unwrap() {
            Some(Message::Text(text)) if text.starts_with(prefix) => return text,
            Some(_) => {}
            None => panic!("closed while waiting for {prefix:?}"),
        }
    }
}

/// New clients on `chats` (round robin), `count` in all, each sending `each` numbered messages to the
/// room; every client must get all of them once, each sender's in order.
fn exchange(phase: &str, chats: &[SocketAddr], count: usize, each: usize) {
    let room = format!("phase-{phase}");
    let clients: Vec<Client> = (0..count)
        .map(|n| join(chats[n % chats.len()], &room))
        .collect();
    let prefix = format!("{phase}:");
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, mut client)| {
            let prefix = prefix.clone();
            thread::spawn(move || {
                for i in 0..each {
                    client
                        .send(Message::from(format!("{prefix}{n}:{i}")))
                        .unwrap();
                }
                let mut next: HashMap<usize, usize> = HashMap::new();
                for _ in 0..count * each {
                    let text = next_with(&mut client, &prefix);
                    let mut fields = text[prefix.len()..].split(':');
                    let from: usize = fields.next().unwrap().parse().unwrap();
                    let i: usize = fields.next().unwrap().parse().unwrap();
                    let expected = next.entry(from).or_default();
                    assert_eq!(
                        i, *expected,
                        "client {n}: from {from}, out of order or twice"
                    );
                    *expected += 1;
                }
                assert_eq!(next.len(), count, "client {n} heard from every sender");
                client.close(CloseCode::NORMAL, "").unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// Waits until a message said on `from` reaches a client on `to`: both processes' links to Redis are
/// up (probes are said again every 200 ms, since a process reconnects with a backoff of up to 5 s).
fn wait_linked(from: SocketAddr, to: SocketAddr) {
    let mut speaker = join(from, "probe");
    let mut listener = join(to, "probe");
    let heard = thread::spawn(move || {
        next_with(&mut listener, "probe:");
        listener.close(CloseCode::NORMAL, "").unwrap();
    });
    let deadline = Instant::now() + PATIENCE;
    for attempt in 0.. {
        if heard.is_finished() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{from} never reached {to} through Redis"
        );
        speaker
            .send(Message::from(format!("probe:{attempt}")))
            .unwrap();
        thread::sleep(Duration::from_millis(200));
    }
    heard.join().unwrap();
    speaker.close(CloseCode::NORMAL, "").unwrap();
}

#[test]
#[ignore = "needs redis-server: bash tests/redis/run.sh"]
fn rooms_span_three_processes_through_redis_and_survive_a_lost_process_and_a_redis_restart() {
    let redis = Redis::start(free_port());
    let url = redis.url();
    let flags = ["--redis", url.as_str(), "--loops", "2"];
    let mut chats: Vec<EchoServer> = (0..3)
        .map(|_| EchoServer::start_example("chat", &flags))
        .collect();
    let addrs = |chats: &[EchoServer]| chats.iter().map(|c| c.addr).collect::<Vec<_>>();
    for pair in addrs(&chats).windows(2) {
        wait_linked(pair[0], pair[1]);
    }

    // 300 clients over three processes, 4 messages each: 360,000 deliveries.
    exchange("all", &addrs(&chats), 300, 4);

    // One process killed: the other two go on.
    drop(chats.pop());
    exchange("two", &addrs(&chats), 100, 4);

    // Redis gone: each process still serves its own users.
    let port = redis.stop();
    let local = chats[0].addr;
    exchange("local", &[local], 20, 4);

    // Redis back on the same port: the chats reconnect by themselves.
    let _redis = Redis::start(port);
    let both = addrs(&chats);
    wait_linked(both[0], both[1]);
    wait_linked(both[1], both[0]);
    exchange("again", &both, 100, 4);
}
