//! The client side of the Autobahn TestSuite (`wstest -m fuzzingserver`): asks for the number of cases,
//! runs each one echoing every message, then asks the suite to write its reports.
//!
//! `cargo run --release --example autobahn_client -- ws://127.0.0.1:9002 [agent]`

use wscore::driver::blocking::connect_with;
use wscore::handshake::ClientOptions;
use wscore::{Config, Error, Event, Message};

fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9002".to_owned());
    let agent = args.next().unwrap_or_else(|| "wscore".to_owned());
    if let Err(e) = run(base.trim_end_matches('/'), &agent) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(base: &str, agent: &str) -> Result<(), Error> {
    let config = Config::default()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20);
    let count = case_count(base, &config)?;
    eprintln!("running {count} cases as {agent}");
    for case in 1..=count {
        if let Err(e) = echo_case(
            &format!("{base}/runCase?case={case}&agent={agent}"),
            &config,
        ) {
            // Failing the connection is the expected outcome of many cases; the report judges it.
            eprintln!("case {case}: {e}");
        }
    }
    let mut ws = connect_with(
        &format!("{base}/updateReports?agent={agent}"),
        &ClientOptions::default(),
        &config,
    )?;
    while ws.read()?.is_some() {}
    Ok(())
}

fn case_count(base: &str, config: &Config) -> Result<u32, Error> {
    let mut ws = connect_with(
        &format!("{base}/getCaseCount"),
        &ClientOptions::default(),
        config,
    )?;
    let mut count = None;
    while let Some(message) = ws.read()? {
        if let Message::Text(text) = message {
            count = text.trim().parse().ok();
        }
    }
    count.ok_or_else(|| std::io::Error::other("the suite did not send a case count").into())
}

fn echo_case(url: &str, config: &Config) -> Result<(), Error> {
    let mut ws = connect_with(url, &ClientOptions::default(), config)?;
    while let Some((event, sender)) = ws.read_event()? {
        match event {
            Event::Text(text) => sender.send_text(text)?,
            Event::Binary(data) => sender.send_binary(data)?,
            _ => {}
        }
    }
    Ok(())
}
