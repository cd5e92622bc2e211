//! A chat room on the event loop: a page whose script (the seed article's `onopen`/`onmessage`) joins
//! the room; every message anyone sends is broadcast to everyone connected, and a ticker on another
//! thread pushes the time every second through the loop's `Handle`: the server speaking first, which
//! plain HTTP cannot do.
//!
//! `cargo run --release --features mio --example chat -- --addr 127.0.0.1:9002`, then open
//! http://127.0.0.1:9002/ in two browser windows. With `--tls-cert PEM --tls-key PEM` (features
//! `mio,tls`) the room is served over `https://` and `wss://` on the same port.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wscore::driver::mio::{ConnId, Context, EventLoop, Handler, LoopConfig};
use wscore::handshake::{HttpResponse, Request};
use wscore::{Config, Error, Event, Message, Sender};

const PAGE: &str = include_str!("chat_page.html");

/// The room: who is in it. Broadcasts go through the loop, which skips connections that are full.
#[derive(Default)]
struct Room {
    members: HashSet<ConnId>,
}

impl Handler for Room {
    fn http(&mut self, request: &Request, _: &[u8]) -> HttpResponse {
        if request.method == "GET" && request.path == "/" {
            HttpResponse::new(200)
                .header("Content-Type", "text/html; charset=utf-8")
                .body(PAGE)
        } else {
            HttpResponse::new(404).body("not found\n")
        }
    }

    fn open(&mut self, context: &mut Context, id: ConnId, _: &mut Sender) {
        self.members.insert(id);
        context.broadcast(Message::from(format!(
            "someone joined ({} here)",
            self.members.len()
        )));
    }

    fn event(&mut self, context: &mut Context, _: ConnId, event: Event<'_>, _: &mut Sender) {
        if let Event::Text(text) = event {
            context.broadcast(Message::from(text));
        }
    }

    fn handshake_failed(&mut self, error: &Error) {
        // e.g. plain HTTP on the TLS port: "this port speaks TLS", answered 400.
        eprintln!("{error}");
    }

    fn close(&mut self, context: &mut Context, id: ConnId, _: Option<&Error>) {
        self.members.remove(&id);
        context.broadcast(Message::from(format!(
            "someone left ({} here)",
            self.members.len()
        )));
    }
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9002".to_owned();
    let mut config = Config::default();
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--trace" {
            config = config.trace(wscore::trace::Tracer::stderr());
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            ("--tls-cert", Some(value)) => cert = Some(value),
            ("--tls-key", Some(value)) => key = Some(value),
            _ => {
                eprintln!(
                    "usage: chat [--addr HOST:PORT] [--tls-cert PEM --tls-key PEM] [--trace]"
                );
                std::process::exit(2);
            }
        }
    }
    // permessage-deflate when built with the feature, as browsers offer it.
    #[cfg(feature = "deflate")]
    let config = config.deflate(wscore::deflate::Deflate::default());
    let mut event_loop = EventLoop::new(Room::default(), config, LoopConfig::default())?;
    let listener = std::net::TcpListener::bind(&addr)?;
    let secure = match (cert, key) {
        (None, None) => {
            event_loop.listen(listener)?;
            false
        }
        (Some(cert), Some(key)) => {
            listen_tls(&mut event_loop, listener, &cert, &key)?;
            true
        }
        _ => {
            eprintln!("--tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    let bound = event_loop.local_addr().expect("listening");
    let (ws, http) = if secure {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("chat on {ws}://{bound}/ — open {http}://{bound}/ in two browser windows");
    let handle = event_loop.handle();
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
        if handle.broadcast(Message::from(tick)).is_err() {
            break;
        }
    });
    event_loop.run()
}

#[cfg(feature = "tls")]
fn listen_tls(
    event_loop: &mut EventLoop<Room>,
    listener: std::net::TcpListener,
    cert: &str,
    key: &str,
) -> std::io::Result<()> {
    match wscore::driver::tls::TlsAcceptor::from_pem_files(cert, key) {
        Ok(acceptor) => event_loop.listen_tls(listener, acceptor),
        Err(e) => {
            eprintln!("TLS: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(not(feature = "tls"))]
fn listen_tls(
    _: &mut EventLoop<Room>,
    _: std::net::TcpListener,
    _: &str,
    _: &str,
) -> std::io::Result<()> {
    eprintln!("--tls-cert needs the tls feature: cargo run --features mio,tls ...");
    std::process::exit(2);
}
