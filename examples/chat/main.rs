//! Chat rooms on the event loop, one loop per core: a page whose script (the seed article's
//! `onopen`/`onmessage`) joins a room (`/?room=NAME`, default `lobby`); every message anyone sends
//! is published to the room's topic, encoded once for all its members, and a ticker on another
//! thread pushes the time every second through the hub: the server speaking first, which plain HTTP
//! cannot do.
//!
//! `cargo run --release --features mio --example chat -- --addr 127.0.0.1:9002`, then open
//! http://127.0.0.1:9002/ in two browser windows. With `--tls-cert PEM --tls-key PEM` (features
//! `mio,tls`) the rooms are served over `https://` and `wss://` on the same port.
//!
//! With `--redis redis://HOST:PORT`, rooms span processes and machines: start two chats on two
//! ports with the same Redis, open one page on each, and they chat in one room (see
//! `redis_bridge.rs` for what Redis pub/sub guarantees and what it does not).

mod redis_bridge;
#[path = "../common/signals.rs"]
mod signals;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis_bridge::{topic, Bridge, Handed};
use wscore::driver::mio::{reuse_port_listeners, ConnId, Context, Handler, Hub, LoopConfig};
use wscore::handshake::{Decision, HttpResponse, Request, Upgrade};
use wscore::{Config, Error, Event, PreparedMessage, Sender};

const PAGE: &str = include_str!("page.html");

/// Every connection subscribes to it: the ticker's topic.
const TICKS: &str = "ticks";

/// One loop's side of the rooms: which room each of its connections is in. Members of a room are
/// the hub's subscribers of its topic, on every loop (and with Redis, every process).
struct Rooms {
    /// The room the upgrade being answered asked for, until its `open`, which follows at once.
    joining: Option<String>,
    members: HashMap<ConnId, String>,
    redis: Option<Bridge>,
}

impl Rooms {
    /// Says `text` in `room`: through Redis, to every process, or on this process's loops alone.
    fn say(&self, context: &mut Context, room: &str, text: &str) {
        let handed = match &self.redis {
            Some(bridge) => bridge.publish(room, text),
            None => Handed::Down,
        };
        if handed == Handed::Down {
            context.publish(&topic(room), PreparedMessage::text(text));
        }
    }
}

/// The room a request names with `?room=NAME`: letters, digits, `-` and `_`, at most 32; else the lobby.
fn room_of(request: &Request) -> String {
    request
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("room="))
        .filter(|room| {
            (1..=32).contains(&room.len())
                && room
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or("lobby")
        .to_owned()
}

impl Handler for Rooms {
    fn http(&mut self, request: &Request, _: &[u8]) -> HttpResponse {
        if request.method == "GET" && request.path == "/" {
            HttpResponse::new(200)
                .header("Content-Type", "text/html; charset=utf-8")
                .body(PAGE)
        } else {
            HttpResponse::new(404).body("not found\n")
        }
    }

    fn upgrade(&mut self, upgrade: &Upgrade) -> Decision {
        self.joining = Some(room_of(upgrade.request()));
        Decision::accept()
    }

    fn open(&mut self, context: &mut Context, id: ConnId, _: &mut Sender) {
        let room = self.joining.take().unwrap_or_else(|| "lobby".to_owned());
        context.subscribe(id, &topic(&room));
        context.subscribe(id, TICKS);
        self.say(context, &room, "someone joined");
        self.members.insert(id, room);
    }

    fn event(&mut self, context: &mut Context, id: ConnId, event: Event<'_>, _: &mut Sender) {
        if let (Event::Text(text), Some(room)) = (event, self.members.get(&id)) {
            self.say(context, room, text);
        }
    }

    fn handshake_failed(&mut self, error: &Error) {
        // e.g. plain HTTP on the TLS port: "this port speaks TLS", answered 400.
        eprintln!("{error}");
    }

    fn close(&mut self, context: &mut Context, id: ConnId, _: Option<&Error>) {
        if let Some(room) = self.members.remove(&id) {
            self.say(context, &room, "someone left");
        }
    }
}

struct Args {
    addr: String,
    config: Config,
    cert: Option<String>,
    key: Option<String>,
    redis: Option<String>,
    loops: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: chat [--addr HOST:PORT] [--loops N] [--redis redis://HOST:PORT] \
         [--tls-cert PEM --tls-key PEM] [--trace]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut parsed = Args {
        addr: "127.0.0.1:9002".to_owned(),
        config: Config::default(),
        cert: None,
        key: None,
        redis: None,
        loops: std::thread::available_parallelism().map_or(1, usize::from),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--trace" {
            parsed.config = parsed.config.trace(wscore::trace::Tracer::stderr());
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => parsed.addr = value,
            ("--tls-cert", Some(value)) => parsed.cert = Some(value),
            ("--tls-key", Some(value)) => parsed.key = Some(value),
            ("--redis", Some(value)) => parsed.redis = Some(value),
            ("--loops", Some(value)) => match value.parse() {
                Ok(loops) if loops > 0 => parsed.loops = loops,
                _ => usage(),
            },
            _ => usage(),
        }
    }
    parsed
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    // permessage-deflate when built with the feature, as browsers offer it.
    #[cfg(feature = "deflate")]
    let config = args.config.deflate(wscore::deflate::Deflate::default());
    #[cfg(not(feature = "deflate"))]
    let config = args.config;
    let listeners =
        reuse_port_listeners(args.addr.parse().unwrap_or_else(|_| usage()), args.loops)?;
    let bound = listeners[0].local_addr()?;
    let acceptor = match (&args.cert, &args.key) {
        (None, None) => None,
        (Some(cert), Some(key)) => tls_acceptor(cert, key),
        _ => {
            eprintln!("--tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    let (ws, http) = if acceptor.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("chat on {ws}://{bound}/ — open {http}://{bound}/ in two browser windows");
    let hub = Hub::new();
    let redis = args.redis.as_deref().map(|url| {
        Bridge::start(url, hub.clone()).unwrap_or_else(|e| {
            eprintln!("--redis {url}: {e}");
            std::process::exit(2);
        })
    });
    let ticker = hub.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let tick = format!(
            "server time: {:02}:{:02}:{:02} UTC",
            seconds / 3600 % 24,
            seconds / 60 % 60,
            seconds % 60
        );
        ticker.publish(TICKS, &PreparedMessage::text(&tick));
    });
    // SIGTERM or Ctrl-C: every member is closed with 1001, then `serve` returns and the process exits.
    let stopper = hub.clone();
    signals::on_shutdown_signal(move || stopper.shutdown());
    let loop_config = LoopConfig::default().hub(hub);
    let make = || Rooms {
        joining: None,
        members: HashMap::new(),
        redis: redis.clone(),
    };
    serve(listeners, acceptor, config, loop_config, make)
}

#[cfg(feature = "tls")]
type Acceptor = wscore::driver::tls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

#[cfg(feature = "tls")]
fn tls_acceptor(cert: &str, key: &str) -> Option<Acceptor> {
    match Acceptor::from_pem_files(cert, key) {
        Ok(acceptor) => Some(acceptor),
        Err(e) => {
            eprintln!("TLS: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(not(feature = "tls"))]
fn tls_acceptor(_: &str, _: &str) -> Option<Acceptor> {
    eprintln!("--tls-cert needs the tls feature: cargo run --features mio,tls ...");
    std::process::exit(2);
}

fn serve(
    listeners: Vec<std::net::TcpListener>,
    acceptor: Option<Acceptor>,
    config: Config,
    loop_config: LoopConfig,
    make: impl Fn() -> Rooms + Send + Sync,
) -> std::io::Result<()> {
    match acceptor {
        None => wscore::driver::mio::serve(listeners, config, loop_config, make),
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            wscore::driver::mio::serve_tls(listeners, acceptor, config, loop_config, make)
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
    }
}
