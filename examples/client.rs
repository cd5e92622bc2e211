//! A small `wscat`: sends each line of stdin as a text message and prints what comes back; at the end of
//! stdin it closes the connection, still printing replies until the close handshake ends. It exits when
//! the connection is over, whoever ended it and whether or not stdin is still open (as a terminal leaves
//! it): status 0 after a clean close, 1 after an error or a reset, with the reason on stderr.
//!
//! `cargo run --release --example client -- ws://127.0.0.1:9001` (add `--trace` to see every frame on
//! stderr)
//!
//! `wss://` URLs need the `tls` feature; the server's certificate is checked against Mozilla's roots,
//! or with `--ca PEM` against the certificates in that file only (a private CA, or a self-signed
//! server: `cargo run --features tls --example client -- wss://localhost:9001 --ca cert.pem`).
//!
//! The socket is split: this thread reads stdin and sends, another prints what arrives and ends the
//! process when the connection ends (a thread blocked reading stdin cannot be woken otherwise).

use std::io::{BufRead, Write};
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
    let printer = thread::spawn(move || {
        let status = match print_until_closed(&mut reader) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
        let _ = std::io::stdout().flush();
        std::process::exit(status);
    });
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        if let Err(e) = writer.send(Message::Text(line)) {
            eprintln!("not sent: {e}");
            break;
        }
    }
    // End of input: start the close handshake; the printer shows the answer and ends the process.
    writer.close(CloseCode::NORMAL, "bye")?;
    let _ = printer.join();
    Ok(())
}

/// Prints every message until the connection is over: `Ok` after a clean close.
fn print_until_closed<S: wscore::driver::blocking::Transport>(
    reader: &mut wscore::driver::blocking::Reader<S>,
) -> Result<(), Error> {
    while let Some(message) = reader.read()? {
        match message {
            Message::Text(text) => println!("< {text}"),
            Message::Binary(data) => println!("< ({} bytes of binary)", data.len()),
            Message::Close(frame) => println!("closed: {frame:?}"),
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    Ok(())
}
