//! The client side of the Autobahn TestSuite (`wstest -m fuzzingserver`): asks for the number of cases,
//! runs each one echoing every message, then asks the suite to write its reports.
//!
//! `cargo run --release --features mio --example autobahn_client -- ws://127.0.0.1:9002 [agent] [--driver mio|blocking|tokio] [--ca PEM]`
//!
//! A `wss://` URL (feature `tls`) runs the suite over TLS; `--ca PEM` trusts the certificates in that
//! file (the suite's self-signed one) instead of Mozilla's roots.
//!
//! With `--driver mio` (needs the `mio` feature) the cases run one after another on an event loop, each
//! case's connection opened from the previous one's `close`; with `--driver blocking` (the default) on
//! the blocking driver; with `--driver tokio` (the `tokio` feature) one after another on a tokio runtime.

use wscore::driver::blocking::connect_with;
use wscore::handshake::ClientOptions;
use wscore::{Config, Error, Event, Message};

fn main() {
    let mut positional = Vec::new();
    let mut driver = String::from("blocking");
    let mut trace = false;
    let mut ca = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--driver" => driver = args.next().unwrap_or_default(),
            "--trace" => trace = true,
            "--ca" => ca = args.next(),
            _ => positional.push(arg),
        }
    }
    let options = match client_options(ca.as_deref()) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("--ca: {e}");
            std::process::exit(2);
        }
    };
    let mut positional = positional.into_iter();
    let base = positional
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9002".to_owned());
    let agent = positional.next().unwrap_or_else(|| "wscore".to_owned());
    let base = base.trim_end_matches('/');
    // Autobahn's 9.x cases send 16 MiB messages; allow well beyond that.
    let config = Config::default()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20)
        .trace(trace.then(wscore::trace::Tracer::stderr));
    // permessage-deflate when built with the feature, as browsers offer it.
    #[cfg(feature = "deflate")]
    let config = config.deflate(wscore::deflate::Deflate::default());
    let result = match driver.as_str() {
        "mio" => on_event_loop::run(base, &agent, config, options),
        "tokio" => on_tokio::run(base, &agent, &config, &options),
        _ => run(base, &agent, &config, &options),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Default options, or options that trust the certificates in `ca` (a PEM file).
fn client_options(ca: Option<&str>) -> Result<ClientOptions, Error> {
    match ca {
        Some(ca) => ClientOptions::new().trust_pem_file(ca),
        None => Ok(ClientOptions::new()),
    }
}

fn run(base: &str, agent: &str, config: &Config, options: &ClientOptions) -> Result<(), Error> {
    let count = case_count(base, config, options)?;
    eprintln!("running {count} cases as {agent}");
    for case in 1..=count {
        if let Err(e) = echo_case(&case_url(base, agent, case), config, options) {
            // Failing the connection is the expected outcome of many cases; the report judges it.
            eprintln!("case {case}: {e}");
        }
    }
    let mut ws = connect_with(&reports_url(base, agent), options, config)?;
    while ws.read()?.is_some() {}
    Ok(())
}

fn case_url(base: &str, agent: &str, case: u32) -> String {
    format!("{base}/runCase?case={case}&agent={agent}")
}

fn reports_url(base: &str, agent: &str) -> String {
    format!("{base}/updateReports?agent={agent}")
}

fn case_count(base: &str, config: &Config, options: &ClientOptions) -> Result<u32, Error> {
    let mut ws = connect_with(&format!("{base}/getCaseCount"), options, config)?;
    let mut count = None;
    while let Some(message) = ws.read()? {
        if let Message::Text(text) = message {
            count = text.trim().parse().ok();
        }
    }
    count.ok_or_else(|| std::io::Error::other("the suite did not send a case count").into())
}

fn echo_case(url: &str, config: &Config, options: &ClientOptions) -> Result<(), Error> {
    let mut ws = connect_with(url, options, config)?;
    while let Some((event, sender)) = ws.read_event()? {
        match event {
            Event::Text(text) => sender.send_text(text)?,
            Event::Binary(data) => sender.send_binary(data)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(not(feature = "mio"))]
mod on_event_loop {
    pub(super) fn run(
        _: &str,
        _: &str,
        _: wscore::Config,
        _: wscore::handshake::ClientOptions,
    ) -> Result<(), wscore::Error> {
        Err(wscore::Error::Misuse(
            "--driver mio needs the mio feature: cargo run --features mio ...",
        ))
    }
}

/// The suite on an event loop: one connection at a time, each started when the last one ends.
#[cfg(feature = "mio")]
mod on_event_loop {
    use wscore::driver::mio::{ConnId, Context, EventLoop, Handler, LoopConfig};
    use wscore::handshake::ClientOptions;
    use wscore::{Config, Error, Event, Sender};

    use super::{case_url, reports_url};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Stage {
        Counting,
        Case(u32),
        Reports,
    }

    struct Suite {
        options: ClientOptions,
        base: String,
        agent: String,
        stage: Stage,
        count: Option<u32>,
        failure: Option<String>,
    }

    impl Suite {
        /// Opens the connection after the one that just ended.
        fn next(&mut self, context: &mut Context) {
            self.stage = match (self.stage, self.count) {
                (Stage::Counting, Some(count)) if count > 0 => Stage::Case(1),
                (Stage::Counting, _) => {
                    self.failure = Some("the suite did not send a case count".into());
                    return context.shutdown();
                }
                (Stage::Case(case), Some(count)) if case < count => Stage::Case(case + 1),
                (Stage::Case(_), _) => Stage::Reports,
                (Stage::Reports, _) => return context.shutdown(),
            };
            let url = match self.stage {
                Stage::Case(case) => case_url(&self.base, &self.agent, case),
                _ => reports_url(&self.base, &self.agent),
            };
            context.connect(&url, &self.options);
        }
    }

    impl Handler for Suite {
        fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
            match (self.stage, event) {
                (Stage::Counting, Event::Text(text)) => self.count = text.trim().parse().ok(),
                (Stage::Case(_), Event::Text(text)) => {
                    let _ = sender.send_text(text);
                }
                (Stage::Case(_), Event::Binary(data)) => {
                    let _ = sender.send_binary(data);
                }
                _ => {}
            }
        }

        fn close(&mut self, context: &mut Context, _: ConnId, error: Option<&Error>) {
            if let (Stage::Case(case), Some(error)) = (self.stage, error) {
                // Failing the connection is the expected outcome of many cases.
                eprintln!("case {case}: {error}");
            }
            self.next(context);
        }

        fn connect_failed(&mut self, context: &mut Context, _: ConnId, error: &Error) {
            eprintln!("{:?}: could not connect: {error}", self.stage);
            if self.stage == Stage::Counting {
                self.failure = Some(format!("could not reach the suite: {error}"));
                return context.shutdown();
            }
            self.next(context);
        }
    }

    pub(super) fn run(
        base: &str,
        agent: &str,
        config: Config,
        options: ClientOptions,
    ) -> Result<(), Error> {
        let suite = Suite {
            options: options.clone(),
            base: base.to_owned(),
            agent: agent.to_owned(),
            stage: Stage::Counting,
            count: None,
            failure: None,
        };
        let mut event_loop = EventLoop::new(suite, config, LoopConfig::default())?;
        event_loop.connect(&format!("{base}/getCaseCount"), &options)?;
        event_loop.run()?;
        let suite = event_loop.handler();
        if let Some(failure) = &suite.failure {
            return Err(std::io::Error::other(failure.clone()).into());
        }
        eprintln!(
            "ran {} cases as {agent} on the event loop",
            suite.count.unwrap_or(0)
        );
        Ok(())
    }
}

#[cfg(not(feature = "tokio"))]
mod on_tokio {
    pub(super) fn run(
        _: &str,
        _: &str,
        _: &wscore::Config,
        _: &wscore::handshake::ClientOptions,
    ) -> Result<(), wscore::Error> {
        Err(wscore::Error::Misuse(
            "--driver tokio needs the tokio feature: cargo run --features tokio ...",
        ))
    }
}

/// The suite on the tokio driver, one case after another.
#[cfg(feature = "tokio")]
mod on_tokio {
    use wscore::driver::tokio::connect_with;
    use wscore::handshake::ClientOptions;
    use wscore::{Config, Error, Event, Message};

    use super::{case_url, reports_url};

    pub(super) fn run(
        base: &str,
        agent: &str,
        config: &Config,
        options: &ClientOptions,
    ) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut ws = connect_with(&format!("{base}/getCaseCount"), options, config).await?;
            let mut count = None;
            while let Some(message) = ws.read().await? {
                if let Message::Text(text) = message {
                    count = text.trim().parse::<u32>().ok();
                }
            }
            let count = count
                .ok_or_else(|| std::io::Error::other("the suite did not send a case count"))?;
            eprintln!("running {count} cases as {agent} on tokio");
            for case in 1..=count {
                if let Err(e) = echo_case(&case_url(base, agent, case), config, options).await {
                    // Failing the connection is the expected outcome of many cases.
                    eprintln!("case {case}: {e}");
                }
            }
            let mut ws = connect_with(&reports_url(base, agent), options, config).await?;
            while ws.read().await?.is_some() {}
            Ok(())
        })
    }

    async fn echo_case(url: &str, config: &Config, options: &ClientOptions) -> Result<(), Error> {
        let mut ws = connect_with(url, options, config).await?;
        while let Some((event, sender)) = ws.read_event().await? {
            match event {
                Event::Text(text) => sender.send_text(text)?,
                Event::Binary(data) => sender.send_binary(data)?,
                _ => {}
            }
        }
        Ok(())
    }
}
