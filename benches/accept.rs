//! Two ways for `N` event loops to share a port, under a storm of short connections: `SO_REUSEPORT`
//! (each loop accepts on its own listener; the kernel spreads connections by a hash of the address
//! pair) against one acceptor thread handing every stream to the loops in turn through
//! `Handle::adopt`.
//!
//! Each connection: TCP connect, the opening handshake, one 32 B echo, the close handshake. Reported
//! per mode (median of the rounds, modes alternating so that drift in the machine hits both): the
//! connection rate, the servers' CPU time per connection (every loop thread and the acceptor, read
//! from `/proc/thread-self/schedstat` when each thread ends, so the client threads' CPU is left out),
//! and how evenly the loops shared the connections.
//!
//! `cargo bench --features mio --bench accept` (`-- CONNECTIONS ROUNDS` to change 2000 and 3).

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use wscore::driver::blocking;
use wscore::driver::mio::{
    reuse_port_listeners, serve, ConnId, Context, EventLoop, Handler, LoopConfig,
};
use wscore::{Config, Event, Message, Sender};

const LOOPS: usize = 2;
const CLIENT_THREADS: usize = 4;

/// What the servers' threads add up as they end.
#[derive(Default)]
struct Tally {
    cpu_ns: AtomicU64,
    per_loop: [AtomicUsize; LOOPS],
    next_loop: AtomicUsize,
}

/// CPU time this thread has run, in nanoseconds (Linux).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Echoes; counts its loop's connections; adds its thread's CPU time when the loop ends.
struct Echo {
    tally: Arc<Tally>,
    index: usize,
}

impl Handler for Echo {
    fn open(&mut self, _: &mut Context, _: ConnId, _: &mut Sender) {
        self.tally.per_loop[self.index].fetch_add(1, Ordering::Relaxed);
    }

    fn event(&mut self, context: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
        let _ = match event {
            Event::Text("shutdown") => {
                context.shutdown();
                Ok(())
            }
            Event::Text(text) => sender.send_text(text),
            Event::Binary(data) => sender.send_binary(data),
            _ => Ok(()),
        };
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        // The loop (and its handler) is dropped on the loop's own thread.
        self.tally
            .cpu_ns
            .fetch_add(thread_cpu_ns(), Ordering::Relaxed);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    ReusePort,
    Acceptor,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::ReusePort => "SO_REUSEPORT",
            Mode::Acceptor => "one acceptor + adopt",
        }
    }
}

struct Round {
    per_second: f64,
    cpu_us_per_connection: f64,
    busiest_share: f64,
}

fn round(mode: Mode, connections: usize) -> Round {
    let tally = Arc::new(Tally::default());
    let (addr, servers, stop): (SocketAddr, thread::JoinHandle<()>, Box<dyn FnOnce()>) = match mode
    {
        Mode::ReusePort => {
            let listeners = reuse_port_listeners("127.0.0.1:0".parse().unwrap(), LOOPS).unwrap();
            let addr = listeners[0].local_addr().unwrap();
            let make = {
                let tally = Arc::clone(&tally);
                move || Echo {
                    index: tally.next_loop.fetch_add(1, Ordering::Relaxed),
                    tally: Arc::clone(&tally),
                }
            };
            // `serve` keeps its loops' handles to itself: each loop is stopped by a client's message.
            let servers = thread::spawn(move || {
                serve(listeners, Config::default(), LoopConfig::default(), make).unwrap();
            });
            let url = format!("ws://{addr}/");
            let stop = Box::new(move || stop_every_loop(&url));
            (addr, servers, stop)
        }
        Mode::Acceptor => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut loops = Vec::new();
            let mut handles = Vec::new();
            for index in 0..LOOPS {
                let mut event_loop = EventLoop::new(
                    Echo {
                        tally: Arc::clone(&tally),
                        index,
                    },
                    Config::default(),
                    LoopConfig::default(),
                )
                .unwrap();
                handles.push(event_loop.handle());
                loops.push(thread::spawn(move || event_loop.run().unwrap()));
            }
            let acceptor = {
                let (handles, tally) = (handles.clone(), Arc::clone(&tally));
                thread::spawn(move || {
                    for (n, stream) in listener.incoming().enumerate() {
                        let Ok(stream) = stream else { continue };
                        if handles[n % LOOPS].adopt(stream).is_err() {
                            break;
                        }
                    }
                    tally.cpu_ns.fetch_add(thread_cpu_ns(), Ordering::Relaxed);
                })
            };
            let servers = thread::spawn(move || {
                for event_loop in loops {
                    event_loop.join().unwrap();
                }
                acceptor.join().unwrap();
            });
            let stop = Box::new(move || {
                for handle in &handles {
                    handle.shutdown().unwrap();
                }
                // The acceptor is blocked in accept: one more connection wakes it to find the loops gone.
                let _ = std::net::TcpStream::connect(addr);
            });
            (addr, servers, stop)
        }
    };

    let url = format!("ws://{addr}/");
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENT_THREADS)
        .map(|_| {
            let url = url.clone();
            thread::spawn(move || {
                let message = Message::Text("x".repeat(32));
                for _ in 0..connections / CLIENT_THREADS {
                    let mut ws = blocking::connect(&url).unwrap();
                    ws.send(message.clone()).unwrap();
                    assert_eq!(ws.read().unwrap(), Some(message.clone()));
                    ws.close(wscore::CloseCode::NORMAL, "").unwrap();
                    while let Ok(Some(_)) = ws.read() {}
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let elapsed = started.elapsed();
    let served: Vec<usize> = tally
        .per_loop
        .iter()
        .map(|n| n.load(Ordering::Relaxed))
        .collect();
    stop();
    servers.join().unwrap();
    let total = connections / CLIENT_THREADS * CLIENT_THREADS;
    Round {
        per_second: total as f64 / elapsed.as_secs_f64(),
        cpu_us_per_connection: tally.cpu_ns.load(Ordering::Relaxed) as f64 / 1e3 / total as f64,
        busiest_share: *served.iter().max().unwrap() as f64 / served.iter().sum::<usize>() as f64,
    }
}

/// `serve`'s loops stop on a client's "shutdown"; the kernel steers new connections to the loops
/// still listening, so asking until nobody answers reaches them all.
fn stop_every_loop(url: &str) {
    while let Ok(mut ws) = blocking::connect(url) {
        let _ = ws.send(Message::from("shutdown"));
        while let Ok(Some(_)) = ws.read() {}
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse::<usize>().expect("CONNECTIONS ROUNDS"));
    let connections = args.next().unwrap_or(2000);
    let rounds = args.next().unwrap_or(3);
    let modes = [Mode::ReusePort, Mode::Acceptor];
    let mut results: Vec<Vec<Round>> = vec![Vec::new(), Vec::new()];
    for r in 0..rounds {
        for (i, &mode) in modes.iter().enumerate() {
            let result = round(mode, connections);
            eprintln!(
                "round {r} {:<22} {:>8.0} conn/s {:>7.1} µs CPU/conn  busiest loop {:.0}%",
                mode.name(),
                result.per_second,
                result.cpu_us_per_connection,
                result.busiest_share * 100.0
            );
            results[i].push(result);
        }
    }
    println!("| {LOOPS} loops, {connections} connections × {rounds} rounds | connections/s | server CPU µs per connection | busiest loop's share |");
    println!("|---|---|---|---|");
    for (i, mode) in modes.iter().enumerate() {
        let rounds = &results[i];
        println!(
            "| {} | {:.0} | {:.1} | {:.0} % |",
            mode.name(),
            median(rounds.iter().map(|r| r.per_second).collect()),
            median(rounds.iter().map(|r| r.cpu_us_per_connection).collect()),
            median(rounds.iter().map(|r| r.busiest_share * 100.0).collect()),
        );
    }
}
