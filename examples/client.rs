//! A small `wscat`: sends each line of stdin as a text message and prints what comes back; at the end of
//! stdin it closes the connection, still printing replies until the close handshake ends.
//!
//! `cargo run --release --example client -- ws://127.0.0.1:9001` (add `--trace` to see every frame on
//! stderr)
//!
//! `wss://` URLs need the `tls` feature; the server's certificate is checked against Mozilla's roots,
//! or with `--ca PEM` against the certificates in that file only (a private CA, or a self-signed
//! server: `cargo run --features tls --example client -- wss://localhost:9001 --ca cert.pem`).
//!
//! The socket is split: this thread reads stdin and sends, another prints what arrives.

use std::io::BufRead;
use std::thread;

use wscore::driver::blocking::connect_with;
use wscore::handshake::ClientOptions;
use wscore::{CloseCode, Config, Error, Message};

fn main() {
    let mut config = Config::default();
    let mut url = "ws://127.0.0.1:9001".to_owned();
    let mut ca = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ca" => ca = args.next(),
            "--trace" => config = config.trace(wscore::trace::Tracer::stderr()),
            _ => url = arg,
        }
    }
    // permessage-deflate when built with the feature, as browsers offer it.
    #[cfg(feature = "deflate")]
    let config = config.deflate(wscore::deflate::Deflate::default());
    if let Err(e) = run(&url, ca.as_deref(), &config) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The options for a server whose certificate is signed by one in `ca` (a PEM file), if given.
fn options(ca: Option<&str>) -> Result<ClientOptions, Error> {
    match ca {
        Some(ca) => ClientOptions::new().trust_pem_file(ca),
        None => Ok(ClientOptions::new()),
    }
}

fn run(url: &str, ca: Option<&str>, config: &Config) -> Result<(), Error> {
    let ws = connect_with(url, &options(ca)?, config)?;
    eprintln!("connected to {url}; type lines to send, end with Ctrl-D");
    let (mut reader, writer) = ws.split()?;
    let printer = thread::spawn(move || -> Result<(), Error> {
        while let Some(message) = reader.read()? {
            match message {
                Message::Text(text) => println!("< {text}"),
                Message::Binary(data) => println!("< ({} bytes of binary)", data.len()),
                Message::Close(frame) => println!("closed: {frame:?}"),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
        Ok(())
    });
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        if let Err(e) = writer.send(Message::Text(line)) {
            eprintln!("not sent: {e}");
            break;
        }
    }
    // End of input: start the close handshake; the printer shows the answer and ends.
    writer.close(CloseCode::NORMAL, "bye")?;
    printer.join().expect("the printer thread panicked")
}
