//! Echoes every text and binary message; a plain `GET /` gets a page that talks to the echo from the
//! browser. One thread per connection.
//!
//! `cargo run --release --example echo_server -- --addr 127.0.0.1:9001`, then open http://127.0.0.1:9001/

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;

use wscore::driver::blocking::{accept, Accepted};
use wscore::handshake::HttpResponse;
use wscore::{Config, Error, Event};

const PAGE: &str = include_str!("echo_page.html");

fn main() -> std::io::Result<()> {
    let addr = parse_addr(std::env::args().skip(1));
    let listener = TcpListener::bind(&addr)?;
    println!("echo server on ws://{addr}/ — open http://{addr}/ in a browser");
    // Autobahn's 9.x cases send 16 MiB messages; allow well beyond that.
    let config = Config::default()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let config = config.clone();
        thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            if let Err(e) = serve(stream, &config) {
                eprintln!("{peer}: {e}");
            }
        });
    }
    Ok(())
}

fn parse_addr(mut args: impl Iterator<Item = String>) -> String {
    let mut addr = "127.0.0.1:9001".to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: echo_server [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr
}

fn serve(stream: TcpStream, config: &Config) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    match accept(stream, config)? {
        Accepted::Http {
            request,
            mut stream,
            ..
        } => {
            let response = if request.method == "GET"
                && (request.path == "/" || request.path.starts_with("/?"))
            {
                HttpResponse::new(200)
                    .header("Content-Type", "text/html; charset=utf-8")
                    .body(PAGE)
            } else {
                HttpResponse::new(404)
                    .header("Content-Type", "text/plain")
                    .body("not found\n")
            };
            stream.write_all(&response.to_bytes())?;
            Ok(())
        }
        Accepted::WebSocket(mut ws) => {
            // The event borrows the connection's buffer; the sender beside it echoes without a copy.
            while let Some((event, sender)) = ws.read_event()? {
                match event {
                    Event::Text(text) => sender.send_text(text)?,
                    Event::Binary(data) => sender.send_binary(data)?,
                    Event::Ping(_) | Event::Pong(_) | Event::Close(_) => {}
                }
            }
            Ok(())
        }
    }
}
