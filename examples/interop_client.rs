//! Our client against another implementation's echo server (`tests/interop/ws_echo_server.mjs`, Node's
//! `ws`): text, binary up to 16 MiB, fragmented messages both ways, pings both ways, many messages in
//! order, and close codes and reasons from either end. Every event is checked against the next one
//! expected, exactly; the first mismatch fails its scenario, and any failure exits 1.
//!
//! `cargo run --release --features mio --example interop_client -- ws://127.0.0.1:PORT [--driver mio|blocking]`
//!
//! The scenarios are data (what to send, then what must arrive), run by both drivers: the blocking one
//! sends and reads in turn, the event loop's handler moves to the next step when the last expected
//! event of one has arrived. The server's side of each scenario is chosen by the path (see the
//! server's header comment). A whole run is bounded by a watchdog (`--timeout-s`, 60 s).
//!
//! `wss://` URLs need the `tls` feature; the server's certificate is checked against Mozilla's roots,
//! or with `--ca PEM` against the certificates in that file only (tests/interop/run.sh passes the
//! self-signed certificate it made for the Node server).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wscore::driver::blocking::connect_with;
use wscore::handshake::ClientOptions;
use wscore::{CloseCode, Config, Error, Message, MessageKind, Sender};

/// Something the client does.
enum Action {
    Send(Message),
    /// One fragment: its kind, payload and whether it ends the message (`Sender::send_fragment`).
    Fragment(MessageKind, Vec<u8>, bool),
}

/// What to send, then every event that must arrive, in order, before the next step.
struct Step {
    send: Vec<Action>,
    expect: Vec<Message>,
}

/// One connection: a path on the server and steps that end with the close handshake.
struct Scenario {
    name: &'static str,
    path: &'static str,
    steps: Vec<Step>,
}

fn step(send: Vec<Action>, expect: Vec<Message>) -> Step {
    Step { send, expect }
}

fn send(message: Message) -> Action {
    Action::Send(message)
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some((CloseCode::new(code), reason.to_owned())))
}

/// `n` bytes with no period at a power of two, so a shifted or dropped chunk shows as a difference.
fn pattern(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// An echo of each message, then our close answered with the same code and reason.
fn echoes(messages: Vec<Message>) -> Vec<Step> {
    let mut steps: Vec<Step> = messages
        .into_iter()
        .map(|m| step(vec![send(m.clone())], vec![m]))
        .collect();
    steps.push(step(
        vec![send(close(1000, "done"))],
        vec![close(1000, "done")],
    ));
    steps
}

fn scenarios() -> Vec<Scenario> {
    let e_acute = "é".as_bytes(); // two bytes: a fragment boundary can split it
    let large = pattern(200 << 10, 7);
    let in_order: Vec<Message> = (0..100)
        .map(|i| Message::Text(format!("message {i}")))
        .collect();
    vec![
        Scenario {
            name: "text (ASCII, non-ASCII, empty)",
            path: "/",
            steps: echoes(vec![
                Message::from("hello"),
                Message::from("héllo wörld ✓ 🎉"),
                Message::from(""),
            ]),
        },
        Scenario {
            name: "binary of 0 B to 1 MiB (every length encoding)",
            path: "/",
            steps: echoes(
                [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]
                    .into_iter()
                    .map(|n| Message::Binary(pattern(n, n as u32 + 1)))
                    .collect(),
            ),
        },
        Scenario {
            name: "binary of 16 MiB",
            path: "/",
            steps: echoes(vec![Message::Binary(pattern(16 << 20, 16))]),
        },
        Scenario {
            name: "fragmented text splitting a character, a ping between fragments",
            path: "/",
            steps: vec![
                step(
                    vec![
                        Action::Fragment(MessageKind::Text, [b"h", &e_acute[..1]].concat(), false),
                        Action::Fragment(MessageKind::Text, [&e_acute[1..], b"l"].concat(), false),
                        send(Message::Ping(b"between".to_vec())),
                        Action::Fragment(MessageKind::Text, Vec::new(), false),
                        Action::Fragment(MessageKind::Text, b"lo".to_vec(), true),
                    ],
                    // The pong overtakes the message, which the server echoes once it is whole.
                    vec![Message::Pong(b"between".to_vec()), Message::from("héllo")],
                ),
                step(
                    vec![
                        Action::Fragment(MessageKind::Binary, large[..1000].to_vec(), false),
                        Action::Fragment(MessageKind::Binary, large[1000..70_000].to_vec(), false),
                        Action::Fragment(MessageKind::Binary, large[70_000..].to_vec(), true),
                    ],
                    vec![Message::Binary(large.clone())],
                ),
                step(vec![send(close(1000, "done"))], vec![close(1000, "done")]),
            ],
        },
        Scenario {
            name: "ping answered with its payload (empty, text, 125 bytes)",
            path: "/",
            steps: [Vec::new(), b"ping payload".to_vec(), pattern(125, 3)]
                .into_iter()
                .map(|p| step(vec![send(Message::Ping(p.clone()))], vec![Message::Pong(p)]))
                .chain([step(
                    vec![send(close(1000, "done"))],
                    vec![close(1000, "done")],
                )])
                .collect(),
        },
        Scenario {
            name: "100 messages echoed in order",
            path: "/",
            steps: vec![
                step(in_order.iter().cloned().map(send).collect(), in_order),
                step(vec![send(close(1000, ""))], vec![close(1000, "")]),
            ],
        },
        Scenario {
            name: "close 4001 with a reason, echoed by the server",
            path: "/",
            steps: vec![step(
                vec![send(close(4001, "custom reason ✓"))],
                vec![close(4001, "custom reason ✓")],
            )],
        },
        Scenario {
            name: "the server closes first with 4002 and a reason",
            path: "/close?code=4002&reason=server%20says%20bye",
            steps: vec![step(vec![], vec![close(4002, "server says bye")])],
        },
        Scenario {
            name: "the server's ping answered by our core",
            path: "/ping?payload=are-you-there",
            steps: vec![
                step(
                    vec![],
                    vec![
                        Message::Ping(b"are-you-there".to_vec()),
                        Message::from("pong:are-you-there"),
                    ],
                ),
                step(vec![send(close(1000, "done"))], vec![close(1000, "done")]),
            ],
        },
        Scenario {
            name: "the server's fragmented text and binary reassembled",
            path: "/fragments",
            steps: vec![
                step(
                    vec![],
                    vec![
                        Message::from("fragmented"),
                        Message::Binary((0..=255).collect()),
                    ],
                ),
                step(vec![send(close(1000, "done"))], vec![close(1000, "done")]),
            ],
        },
    ]
}

fn apply(sender: &mut Sender, action: &Action) -> Result<(), Error> {
    match action {
        Action::Send(message) => sender.send(message),
        Action::Fragment(kind, payload, fin) => sender.send_fragment(*kind, payload, *fin),
    }
}

/// A message in a line: short ones whole, long ones by their size and first bytes.
fn describe(message: &Message) -> String {
    let bytes = |kind: &str, data: &[u8]| {
        let mut text = format!("{kind}({} bytes", data.len());
        if !data.is_empty() {
            let head: Vec<String> = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
            let _ = write!(
                text,
                ": {}{}",
                head.join(" "),
                if data.len() > 8 { " …" } else { "" }
            );
        }
        text + ")"
    };
    match message {
        Message::Text(text) if text.len() <= 60 => format!("Text({text:?})"),
        Message::Text(text) => {
            let head: String = text.chars().take(40).collect();
            format!("Text({} bytes: {head:?}…)", text.len())
        }
        Message::Binary(data) => bytes("Binary", data),
        Message::Ping(data) => bytes("Ping", data),
        Message::Pong(data) => bytes("Pong", data),
        Message::Close(frame) => format!("Close({frame:?})"),
    }
}

/// Whether `got` is what was expected; if not, says how it differs.
fn check(expected: &Message, got: &Message) -> Result<(), String> {
    if expected == got {
        return Ok(());
    }
    let mut why = format!("expected {}, got {}", describe(expected), describe(got));
    if let (Message::Binary(e), Message::Binary(g)) = (expected, got) {
        if let Some(at) = e.iter().zip(g).position(|(a, b)| a != b) {
            let _ = write!(why, "; first difference at byte {at}");
        }
    }
    Err(why)
}

/// Where a scenario stands; both drivers move it forward with the events they receive.
struct Progress<'a> {
    scenario: &'a Scenario,
    step: usize,
    expected: usize,
}

impl<'a> Progress<'a> {
    fn new(scenario: &'a Scenario) -> Progress<'a> {
        Progress {
            scenario,
            step: 0,
            expected: 0,
        }
    }

    /// The actions of the current step, if one is left.
    fn actions(&self) -> &'a [Action] {
        self.scenario
            .steps
            .get(self.step)
            .map_or(&[], |s| s.send.as_slice())
    }

    /// Checks a received message against the next one expected. `Ok(true)`: that ended a step, so the
    /// next step's actions are due.
    fn receive(&mut self, got: &Message) -> Result<bool, String> {
        let Some(step) = self.scenario.steps.get(self.step) else {
            return Err(format!("{} after the last expected event", describe(got)));
        };
        let expected = &step.expect[self.expected];
        check(expected, got)
            .map_err(|why| format!("step {} event {}: {why}", self.step + 1, self.expected + 1))?;
        self.expected += 1;
        if self.expected < step.expect.len() {
            return Ok(false);
        }
        self.step += 1;
        self.expected = 0;
        Ok(true)
    }

    /// What the scenario waits for now.
    fn waiting(&self) -> String {
        match self.scenario.steps.get(self.step) {
            None => "the end of the connection".to_owned(),
            Some(step) => format!(
                "step {} event {}: {}",
                self.step + 1,
                self.expected + 1,
                describe(&step.expect[self.expected])
            ),
        }
    }

    /// Whether every expected event arrived; if not, what was awaited.
    fn finished(&self) -> Result<(), String> {
        match self.scenario.steps.get(self.step) {
            None => Ok(()),
            Some(_) => Err(format!(
                "the connection ended while waiting for {}",
                self.waiting()
            )),
        }
    }
}

/// Prints each scenario's result as it ends, and tells the watchdog what a hung run waits for.
struct Report {
    driver: &'static str,
    passed: usize,
    failed: usize,
    /// The scenario under way and what it waits for, shared with the watchdog thread.
    now: Arc<Mutex<String>>,
}

impl Report {
    fn waiting(&self, progress: &Progress) {
        let now = format!(
            "{}: waiting for {}",
            progress.scenario.name,
            progress.waiting()
        );
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    fn record(&mut self, scenario: &Scenario, result: Result<(), String>, took: Duration) {
        let (driver, ms) = (self.driver, took.as_millis());
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("ok   interop_client {driver}: {} ({ms} ms)", scenario.name);
            }
            Err(why) => {
                self.failed += 1;
                println!("FAIL interop_client {driver}: {}: {why}", scenario.name);
            }
        }
    }
}

fn url(base: &str, scenario: &Scenario) -> String {
    format!("{}{}", base.trim_end_matches('/'), scenario.path)
}

/// The scenarios on the blocking driver, one connection each: a step's actions written at once, then
/// its events read.
fn run_blocking(
    base: &str,
    scenarios: &[Scenario],
    options: &ClientOptions,
    config: &Config,
    report: &mut Report,
) {
    for scenario in scenarios {
        let started = Instant::now();
        let result = run_one_blocking(base, scenario, options, config, report);
        report.record(scenario, result, started.elapsed());
    }
}

fn run_one_blocking(
    base: &str,
    scenario: &Scenario,
    options: &ClientOptions,
    config: &Config,
    report: &Report,
) -> Result<(), String> {
    let mut progress = Progress::new(scenario);
    report.waiting(&progress);
    let mut ws =
        connect_with(&url(base, scenario), options, config).map_err(|e| format!("connect: {e}"))?;
    let mut step_starts = true;
    loop {
        if step_starts {
            for action in progress.actions() {
                apply(ws.sender(), action).map_err(|e| format!("send: {e}"))?;
                ws.flush().map_err(|e| format!("write: {e}"))?;
            }
        }
        let Some(got) = ws.read().map_err(|e| format!("read: {e}"))? else {
            // The close handshake is over and the server ended the stream.
            return progress.finished();
        };
        step_starts = progress.receive(&got)?;
        report.waiting(&progress);
    }
}

/// Default options, or options that trust only the certificates in `ca` (a PEM file).
fn client_options(ca: Option<&str>) -> Result<ClientOptions, Error> {
    match ca {
        Some(ca) => ClientOptions::new().trust_pem_file(ca),
        None => Ok(ClientOptions::new()),
    }
}

fn main() {
    let mut base = None;
    let mut mio = false;
    let mut ca = None;
    let mut timeout = Duration::from_secs(60);
    let usage = || -> ! {
        eprintln!(
            "usage: interop_client ws://HOST:PORT|wss://HOST:PORT [--driver mio|blocking] \
             [--ca PEM] [--timeout-s S]"
        );
        std::process::exit(2);
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--driver" => match args.next().as_deref() {
                Some("mio") => mio = true,
                Some("blocking") => mio = false,
                _ => usage(),
            },
            "--ca" => match args.next() {
                Some(path) => ca = Some(path),
                None => usage(),
            },
            "--timeout-s" => match args.next().and_then(|s| s.parse().ok()) {
                Some(s) => timeout = Duration::from_secs(s),
                None => usage(),
            },
            url if base.is_none() && !url.starts_with("--") => base = Some(url.to_owned()),
            _ => usage(),
        }
    }
    let Some(base) = base else { usage() };
    let options = client_options(ca.as_deref()).unwrap_or_else(|e| {
        eprintln!("--ca: {e}");
        std::process::exit(2);
    });
    let driver = if mio { "mio" } else { "blocking" };
    let mut report = Report {
        driver,
        passed: 0,
        failed: 0,
        now: Arc::default(),
    };
    // A hung connection must fail the run, naming what it waited for, not stall CI.
    let now = Arc::clone(&report.now);
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        let now = now.lock().unwrap_or_else(PoisonError::into_inner);
        println!("FAIL interop_client {driver}: not finished after {timeout:?}: {now}");
        std::process::exit(1);
    });
    // Room for the 16 MiB messages and their echoes.
    let config = Config::default()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20);
    // permessage-deflate when built with the feature, as browsers offer it.
    #[cfg(feature = "deflate")]
    let config = config.deflate(wscore::deflate::Deflate::default());
    let scenarios = scenarios();
    if mio {
        on_event_loop::run(&base, &scenarios, options, config, &mut report);
    } else {
        run_blocking(&base, &scenarios, &options, &config, &mut report);
    }
    let Report { passed, failed, .. } = report;
    println!("{passed} passed, {failed} failed (interop_client {driver} -> {base})");
    if failed > 0 || passed != scenarios.len() {
        std::process::exit(1);
    }
}

#[cfg(not(feature = "mio"))]
mod on_event_loop {
    use wscore::handshake::ClientOptions;

    pub(super) fn run(
        _: &str,
        _: &[super::Scenario],
        _: ClientOptions,
        _: wscore::Config,
        _: &mut super::Report,
    ) {
        eprintln!("--driver mio needs the mio feature: cargo run --features mio ...");
        std::process::exit(2);
    }
}

/// The scenarios on an event loop, one connection after another, each opened from the last one's
/// `close`; the handler sends a step's actions when the previous step's last event arrives.
#[cfg(feature = "mio")]
mod on_event_loop {
    use std::time::Instant;

    use wscore::driver::mio::{ConnId, Context, EventLoop, Handler, LoopConfig};
    use wscore::handshake::ClientOptions;
    use wscore::{CloseCode, Config, Error, Event, Message, Sender};

    use super::{apply, url, Progress, Report, Scenario};

    struct Runner<'a> {
        base: String,
        /// For every connection: under `wss://`, the roots that `--ca` chose.
        options: ClientOptions,
        scenarios: &'a [Scenario],
        /// The scenario under way: its index and progress.
        current: usize,
        progress: Progress<'a>,
        failure: Option<String>,
        started: Instant,
        report: &'a mut Report,
    }

    impl<'a> Runner<'a> {
        fn send_step(&mut self, sender: &mut Sender) {
            for action in self.progress.actions() {
                if let Err(e) = apply(sender, action) {
                    self.fail(format!("send: {e}"), sender);
                    return;
                }
            }
        }

        /// The first mismatch ends the scenario: its connection is closed and later events ignored.
        fn fail(&mut self, why: String, sender: &mut Sender) {
            self.failure.get_or_insert(why);
            let _ = sender.close(CloseCode::new(4000), "interop client: failed");
        }

        /// Records the scenario's result and opens the next one, or stops the loop after the last.
        fn finish(&mut self, context: &mut Context, result: Result<(), String>) {
            let result = match self.failure.take() {
                Some(failure) => Err(failure),
                None => result.and_then(|()| self.progress.finished()),
            };
            let scenario = &self.scenarios[self.current];
            self.report.record(scenario, result, self.started.elapsed());
            self.current += 1;
            match self.scenarios.get(self.current) {
                Some(next) => {
                    self.progress = Progress::new(next);
                    self.report.waiting(&self.progress);
                    self.started = Instant::now();
                    context.connect(&url(&self.base, next), &self.options);
                }
                None => context.shutdown(),
            }
        }
    }

    impl Handler for Runner<'_> {
        fn open(&mut self, _: &mut Context, _: ConnId, sender: &mut Sender) {
            self.send_step(sender);
        }

        fn event(&mut self, _: &mut Context, _: ConnId, event: Event<'_>, sender: &mut Sender) {
            if self.failure.is_some() {
                return;
            }
            match self.progress.receive(&Message::from(event)) {
                Ok(true) => self.send_step(sender),
                Ok(false) => {}
                Err(why) => self.fail(why, sender),
            }
            self.report.waiting(&self.progress);
        }

        fn close(&mut self, context: &mut Context, _: ConnId, error: Option<&Error>) {
            let result = error.map_or(Ok(()), |e| Err(format!("the connection ended with: {e}")));
            self.finish(context, result);
        }

        fn connect_failed(&mut self, context: &mut Context, _: ConnId, error: &Error) {
            self.finish(context, Err(format!("connect: {error}")));
        }
    }

    pub(super) fn run(
        base: &str,
        scenarios: &[Scenario],
        options: ClientOptions,
        config: Config,
        report: &mut Report,
    ) {
        let base = base.trim_end_matches('/').to_owned();
        let first = url(&base, &scenarios[0]);
        let progress = Progress::new(&scenarios[0]);
        report.waiting(&progress);
        let runner = Runner {
            base,
            options: options.clone(),
            scenarios,
            current: 0,
            progress,
            failure: None,
            started: Instant::now(),
            report,
        };
        let ran =
            EventLoop::new(runner, config, LoopConfig::default()).and_then(|mut event_loop| {
                event_loop
                    .connect(&first, &options)
                    .map_err(std::io::Error::other)?;
                event_loop.run()
            });
        if let Err(e) = ran {
            println!("FAIL interop_client mio: the event loop failed: {e}");
            std::process::exit(1);
        }
    }
}
