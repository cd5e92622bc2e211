//! A small `wscat`: sends each line of stdin as a text message and prints what comes back; at the end of
//! stdin it closes the connection, still printing replies until the close handshake ends.
//!
//! `cargo run --release --example client -- ws://127.0.0.1:9001`

use std::io::{BufRead, ErrorKind};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use wscore::driver::blocking::{connect_with, Message};
use wscore::handshake::ClientOptions;
use wscore::{CloseCode, Config, Error};

fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    if let Err(e) = run(&url) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(url: &str) -> Result<(), Error> {
    let (mut ws, _) = connect_with(url, &ClientOptions::default(), &Config::default())?;
    eprintln!("connected to {url}; type lines to send, end with Ctrl-D");
    // stdin is read on its own thread; the socket is polled between lines with a short read timeout.
    let (lines_tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut closing = false;
    loop {
        match lines.try_recv() {
            Ok(line) => ws.send_text(&line)?,
            Err(mpsc::TryRecvError::Empty) => {}
            // End of input: start the close handshake, and keep printing what arrives until it ends.
            Err(mpsc::TryRecvError::Disconnected) if !closing => {
                closing = true;
                ws.get_mut()
                    .set_read_timeout(Some(Duration::from_secs(5)))?;
                ws.sender().close(CloseCode::NORMAL, "bye")?;
                ws.flush()?;
            }
            Err(mpsc::TryRecvError::Disconnected) => {}
        }
        match ws.read() {
            Ok(Some(Message::Text(text))) => println!("< {text}"),
            Ok(Some(Message::Binary(data))) => println!("< ({} bytes of binary)", data.len()),
            Ok(Some(Message::Close(frame))) if !closing => {
                println!("closed by the server: {frame:?}")
            }
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(Error::Io(e))
                if !closing && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
}
