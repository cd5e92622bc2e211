//! Publishing to many: one message from a publisher, delivered to every subscriber. Connections to
//! `/publish` are publishers; every other connection subscribes to one topic when it opens. Each text
//! or binary message a publisher sends reaches every subscriber, in one of two ways:
//!
//! - `--mode topic` (the default): [`Context::publish`] with a [`PreparedMessage`]. The frame is
//!   encoded once (and with permessage-deflate, compressed once per window and level in use) and copied
//!   into each subscriber's output; topics reach the subscribers of every loop of the server.
//! - `--mode per-connection`: the way it is written without topics. The handler keeps its subscribers'
//!   ids and hands each one its own [`Message`] with [`Context::send`], so every connection encodes,
//!   and with permessage-deflate compresses, its own copy. It reaches only the publisher's loop, so it
//!   runs with `--loops 1`.
//!
//! `benches/fanout.sh` measures the two against each other and against Node's `ws` (see
//! `benches/FANOUT.md`).
//!
//! A subscriber that cannot keep up is never waited for: once its output holds `--max-write-buffer`
//! bytes, a publish skips it and counts the miss in the hub's stats (`LoopConfig::slow_subscriber`
//! chooses closing it instead), and a `Context::send` skips it too. So the bound is what one slow
//! reader may cost in memory, and nothing it does slows the others.
//!
//! ```sh
//! cargo run --release --features mio --example broadcast -- --addr 127.0.0.1:9003
//! # subscribe: ws://127.0.0.1:9003/   publish: ws://127.0.0.1:9003/publish
//! ```
//!
//! Flags: `--addr HOST:PORT` (127.0.0.1:9003; port 0 picks a free one; the first line printed names the
//! address), `--mode topic|per-connection`, `--deflate` (permessage-deflate, feature `deflate`),
//! `--loops N` (event loops sharing the port, 1), `--max-connections N` (per loop, 10000),
//! `--max-write-buffer BYTES` (per connection, the library's 4 MiB).

use std::collections::HashSet;

use wscore::driver::mio::{reuse_port_listeners, serve, ConnId, Context, Handler, LoopConfig};
use wscore::handshake::{Decision, Upgrade};
use wscore::{Config, Event, Message, PreparedMessage, Sender};

/// The one topic every subscriber joins.
const FEED: &str = "feed";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Topic,
    PerConnection,
}

struct Broadcast {
    mode: Mode,
    /// Whether the upgrade being answered asked for `/publish`, until its `open`, which follows at once.
    publishing: bool,
    publishers: HashSet<ConnId>,
    /// `--mode per-connection` only: with topics, the hub keeps the subscribers.
    subscribers: HashSet<ConnId>,
}

impl Handler for Broadcast {
    fn upgrade(&mut self, upgrade: &Upgrade) -> Decision {
        self.publishing = upgrade.request().path == "/publish";
        Decision::accept()
    }

    fn open(&mut self, context: &mut Context, id: ConnId, _: &mut Sender) {
        if std::mem::take(&mut self.publishing) {
            self.publishers.insert(id);
            return;
        }
        match self.mode {
            Mode::Topic => context.subscribe(id, FEED),
            Mode::PerConnection => {
                self.subscribers.insert(id);
            }
        }
    }

    fn event(&mut self, context: &mut Context, id: ConnId, event: Event<'_>, _: &mut Sender) {
        // What subscribers send is not published.
        if !self.publishers.contains(&id) {
            return;
        }
        match (self.mode, event) {
            (Mode::Topic, Event::Text(text)) => context.publish(FEED, PreparedMessage::text(text)),
            (Mode::Topic, Event::Binary(data)) => {
                context.publish(FEED, PreparedMessage::binary(data));
            }
            (Mode::PerConnection, event @ (Event::Text(_) | Event::Binary(_))) => {
                let message = Message::from(event);
                for &subscriber in &self.subscribers {
                    context.send(subscriber, message.clone());
                }
            }
            _ => {}
        }
    }

    fn close(&mut self, _: &mut Context, id: ConnId, _: Option<&wscore::Error>) {
        // Topic subscriptions end with the connection; our own sets are ours to clean.
        self.publishers.remove(&id);
        self.subscribers.remove(&id);
    }
}

struct Args {
    addr: String,
    mode: Mode,
    deflate: bool,
    loops: usize,
    max_connections: Option<usize>,
    max_write_buffer: Option<usize>,
}

fn usage() -> ! {
    eprintln!(
        "usage: broadcast [--addr HOST:PORT] [--mode topic|per-connection] [--deflate] [--loops N] \
         [--max-connections N] [--max-write-buffer BYTES]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut parsed = Args {
        addr: "127.0.0.1:9003".to_owned(),
        mode: Mode::Topic,
        deflate: false,
        loops: 1,
        max_connections: None,
        max_write_buffer: None,
    };
    fn number(value: Option<String>) -> usize {
        match value.map(|v| v.parse()) {
            Some(Ok(n)) if n > 0 => n,
            _ => usage(),
        }
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => parsed.addr = args.next().unwrap_or_else(|| usage()),
            "--mode" => {
                parsed.mode = match args.next().as_deref() {
                    Some("topic") => Mode::Topic,
                    Some("per-connection") => Mode::PerConnection,
                    _ => usage(),
                }
            }
            "--deflate" => parsed.deflate = true,
            "--loops" => parsed.loops = number(args.next()),
            "--max-connections" => parsed.max_connections = Some(number(args.next())),
            "--max-write-buffer" => parsed.max_write_buffer = Some(number(args.next())),
            _ => usage(),
        }
    }
    if parsed.mode == Mode::PerConnection && parsed.loops > 1 {
        eprintln!("--mode per-connection reaches the publisher's loop only: use --loops 1");
        std::process::exit(2);
    }
    parsed
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    let mut config = Config::default();
    if let Some(bytes) = args.max_write_buffer {
        config = config.max_write_buffer(bytes);
    }
    if args.deflate {
        config = with_deflate(config);
    }
    let mut loop_config = LoopConfig::default();
    if let Some(max) = args.max_connections {
        loop_config = loop_config.max_connections(max);
    }
    let listeners =
        reuse_port_listeners(args.addr.parse().unwrap_or_else(|_| usage()), args.loops)?;
    let bound = listeners[0].local_addr()?;
    let mode = match args.mode {
        Mode::Topic => "topic",
        Mode::PerConnection => "per-connection",
    };
    println!(
        "broadcast on ws://{bound}/ — subscribe at ws://{bound}/, publish at ws://{bound}/publish \
         (mode {mode}{})",
        if args.deflate {
            ", permessage-deflate"
        } else {
            ""
        }
    );
    serve(listeners, config, loop_config, || Broadcast {
        mode: args.mode,
        publishing: false,
        publishers: HashSet::new(),
        subscribers: HashSet::new(),
    })
}

#[cfg(feature = "deflate")]
fn with_deflate(config: Config) -> Config {
    config.deflate(wscore::deflate::Deflate::default())
}

#[cfg(not(feature = "deflate"))]
fn with_deflate(_: Config) -> Config {
    eprintln!("--deflate needs the deflate feature: cargo run --features mio,deflate ...");
    std::process::exit(2);
}
