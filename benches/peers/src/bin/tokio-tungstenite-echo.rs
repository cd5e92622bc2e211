//! Echo server on tokio-tungstenite 0.30: the library's own echo shape (read half forwarded into the
//! write half, text and binary only), which feeds every message already read before one flush. The
//! library answers pings and the close handshake itself. `--addr HOST:PORT`.

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn main() -> std::io::Result<()> {
    let addr = peers::addr_from_args("tokio-tungstenite-echo");
    peers::run_multi_thread(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(async move {
                        if let Err(e) = echo(stream).await {
                            eprintln!("websocket: {e}");
                        }
                    });
                }
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    })
}

async fn echo(stream: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(peers::MAX_MESSAGE))
        .max_frame_size(Some(peers::MAX_FRAME));
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let (write, read) = ws.split();
    read.try_filter(|message| future::ready(message.is_text() || message.is_binary()))
        .forward(write)
        .await
}
