//! Echo server on fastwebsockets 0.10: hyper 1 answers the upgrade (fastwebsockets' `upgrade` helper),
//! then every text and binary message goes back as it came. Auto-pong and auto-close are on, so pings
//! are answered and a close is echoed by the library. `--addr HOST:PORT`.

use fastwebsockets::upgrade::{upgrade, UpgradeFut};
use fastwebsockets::{FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = peers::addr_from_args("fastwebsockets-echo");
    peers::run_multi_thread(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let http = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(on_request))
                    .with_upgrades();
                if let Err(e) = http.await {
                    eprintln!("http: {e}");
                }
            });
        }
    })
}

async fn on_request(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, websocket) = upgrade(&mut request)?;
    // `unconstrained`, as fastwebsockets' own echo example runs it: tokio's cooperative budget would
    // otherwise yield between frames that are already buffered.
    tokio::spawn(tokio::task::unconstrained(async move {
        if let Err(e) = echo(websocket).await {
            eprintln!("websocket: {e}");
        }
    }));
    Ok(response)
}

async fn echo(websocket: UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = websocket.await?;
    ws.set_max_message_size(peers::MAX_MESSAGE);
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    // Reassembles fragmented messages (and checks text is UTF-8), as an echo of messages must.
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}
