//! Echo server on tokio-websockets 0.13, in the shape of the library's own echo server example:
//! `ServerBuilder::accept` does the HTTP upgrade handshake on the TCP stream, then every text and binary
//! message read from the `Stream` is sent back with `SinkExt::send` (one flush per message, as the
//! example does). The library answers pings and the close handshake itself. `--addr HOST:PORT`.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_websockets::{Config, Error, Limits, ServerBuilder};

fn main() -> std::io::Result<()> {
    let addr = peers::addr_from_args("tokio-websockets-echo");
    peers::run_multi_thread(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    // `unconstrained`, as the library's example runs each connection: tokio's
                    // cooperative budget would otherwise yield between messages already buffered.
                    tokio::spawn(tokio::task::unconstrained(async move {
                        if let Err(e) = echo(stream).await {
                            eprintln!("websocket: {e}");
                        }
                    }));
                }
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    })
}

async fn echo(stream: TcpStream) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    let (_request, mut ws) = ServerBuilder::new()
        // tokio-websockets has one receive limit, checked on each frame and on the reassembled message
        // alike, so incoming frames may be up to MAX_MESSAGE here; MAX_FRAME bounds the frames it
        // sends (a longer message is split), its default being 4 MiB.
        .limits(Limits::default().max_payload_len(Some(peers::MAX_MESSAGE)))
        .config(Config::default().frame_size(peers::MAX_FRAME))
        .accept(stream)
        .await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
