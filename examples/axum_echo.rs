//! The echo server as an axum app: axum serves the page at `/`, and the handler at `/ws` answers the
//! WebSocket upgrade itself with wscore's core (the `http` feature), then runs the echo over hyper's
//! upgraded connection on the tokio driver. How an existing axum or hyper service adopts wscore.
//!
//! `cargo run --features tokio,http --example axum_echo -- --addr 127.0.0.1:9001`, then open
//! http://127.0.0.1:9001/ (`--addr 127.0.0.1:0` lets the system pick a free port; the first line printed
//! names the address). With the `deflate` feature it negotiates permessage-deflate.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{Html, Response};
use axum::routing::{any, get};
use axum::Router;
use hyper_util::rt::TokioIo;
use wscore::driver::tokio::WebSocketStream;
use wscore::handshake::{Decision, HttpResponse, Incoming};
use wscore::{Config, Error, Event};

const PAGE: &str = include_str!("echo_page.html");

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (addr, config) = parse_options(std::env::args().skip(1));
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        // `any`, not `get`: the core refuses a non-GET upgrade with its own 400 (RFC 6455 §4.1 item 2).
        .route("/ws", any(upgrade))
        .with_state(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    println!("echo server on ws://{addr}/ws — open http://{addr}/ in a browser");
    axum::serve(listener, app).await
}

/// The handler at `/ws`: the core checks the request axum parsed and writes the 101; once hyper has sent
/// it, the connection is ours.
async fn upgrade(State(config): State<Arc<Config>>, mut request: Request) -> Response {
    let upgrade = match Incoming::from_http(&request, &config) {
        Ok(Incoming::Upgrade(upgrade)) => upgrade,
        // A plain GET of the WebSocket URL: 426 names the protocol to upgrade to (RFC 9110 §15.5.22).
        Ok(Incoming::Http(_)) => {
            let answer = HttpResponse::new(426)
                .header("Upgrade", "websocket")
                .header("Sec-WebSocket-Version", "13")
                .body("this is the WebSocket echo; the page is at /\n");
            return answer.to_http().map(Body::from);
        }
        // 400, 426 naming version 13, or 431, as the core answers on any driver.
        Err(error) => {
            eprintln!("refused: {error}");
            let answer = error
                .http_response()
                .unwrap_or_else(|| HttpResponse::new(500));
            return answer.to_http().map(Body::from);
        }
    };
    let response = match upgrade.respond_http(&Decision::accept()) {
        Ok(response) => response,
        Err(error) => {
            eprintln!("cannot answer the upgrade: {error}");
            return HttpResponse::new(500).to_http().map(Body::from);
        }
    };
    // Taken now: hyper hands the connection over only after this handler's 101 has been written.
    let upgraded = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let io = match upgraded.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(error) => return eprintln!("upgrade failed: {error}"),
        };
        // Bytes hyper read past the request stay inside `Upgraded`, so there is no leftover to pass.
        let mut ws = WebSocketStream::from_upgrade(io, &upgrade, None, &config);
        if let Err(error) = echo(&mut ws).await {
            eprintln!("{}: {error}", upgrade.request().path);
        }
    });
    response.map(Body::from)
}

/// Echoes every text and binary message; the event borrows the connection's buffer and the sender beside
/// it answers without a copy. Pings and the close are answered by the core.
async fn echo(ws: &mut WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>) -> Result<(), Error> {
    while let Some((event, sender)) = ws.read_event().await? {
        match event {
            Event::Text(text) => sender.send_text(text)?,
            Event::Binary(data) => sender.send_binary(data)?,
            Event::Ping(_) | Event::Pong(_) | Event::Close(_) => {}
        }
    }
    Ok(())
}

fn parse_options(mut args: impl Iterator<Item = String>) -> (String, Config) {
    let mut addr = "127.0.0.1:9001".to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: axum_echo [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let config = Config::default();
    // permessage-deflate when built with the feature, as browsers offer it.
    #[cfg(feature = "deflate")]
    let config = config.deflate(wscore::deflate::Deflate::default());
    (addr, config)
}
