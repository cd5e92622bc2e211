//! loadgen: a WebSocket load generator on one mio loop, for `benches/echo.sh` and `benches/fanout.sh`.
//! Its client framing is its own (`frame.rs`), so it judges wscore without sharing wscore's code.
//!
//! Two workloads over the same connections (`client.rs`: at most `--max-pending` handshakes at once,
//! pings answered, the close handshake at the end, §7.1.2: it waits for the server to drop TCP):
//!
//! - echo (the default; `echo.rs`): `--connections` connections each keep `--in-flight` binary
//!   messages of `--size` bytes outstanding and check every echo byte-exact and in order; `--idle`
//!   holds them open instead, for a memory reading. Throughput is echoed messages per second;
//!   `mb_per_s` counts echoed payload bytes (one direction) in 10^6 bytes per second. Latency
//!   (`--latency`) is the time from queueing a message to parsing its echo, for echoes received within
//!   the measured window.
//! - fan-out (`--fanout`; `fanout.rs`): `--connections` subscribers on `--url` and one publisher on
//!   `--publish-url`, which stays `--in-flight` messages ahead of the slowest subscriber; every
//!   subscriber checks it gets every message once, in order, byte-exact. Deliveries per second, the
//!   server's CPU per delivery with `--server-pid`, publish-to-delivery latency with `--latency`.
//!
//! - soak (`loadgen soak ...`; `soak/`): connections held for minutes with mixed traffic and faults,
//!   every message counted, the server's memory and descriptors watched; see `soak/mod.rs`.
//!
//! The result is one JSON line on stdout. Any protocol error, mismatch, lost or extra message, or
//! failed close ends the run at once: the JSON line then carries `"errors":1` and the reason, and the
//! exit status is 1.

mod client;
mod deflate;
mod echo;
mod fanout;
mod frame;
mod handshake;
mod soak;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use client::Target;

const USAGE: &str = "usage: loadgen --url ws://HOST:PORT/PATH [--connections N] [--size BYTES] \
[--in-flight W] [--duration SECS] [--warmup SECS] [--latency] [--idle] [--hold SECS] \
[--max-pending N] [--timeout SECS]
       loadgen --fanout --url ws://HOST:PORT/PATH --publish-url ws://HOST:PORT/PATH [--connections N] \
[--size BYTES] [--in-flight W] [--duration SECS] [--warmup SECS] [--latency] [--text] [--deflate] \
[--server-pid PID] [--max-pending N] [--timeout SECS]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Echo,
    Idle,
    Fanout,
}

pub struct Options {
    mode: Mode,
    url: Target,
    /// `--fanout`: where the publisher connects.
    publish_url: Option<Target>,
    connections: usize,
    size: usize,
    in_flight: usize,
    duration: Duration,
    warmup: Duration,
    latency: bool,
    hold: Duration,
    max_pending: usize,
    /// Bound on each phase that waits for the server: connecting, draining, closing.
    timeout: Duration,
    /// `--fanout`: UTF-8 text messages instead of binary.
    text: bool,
    /// `--fanout`: offer permessage-deflate and require it.
    deflate: bool,
    /// `--fanout`: the server's process, whose CPU time is read at the ends of the measured window.
    server_pid: Option<u32>,
}

impl Options {
    fn idle(&self) -> bool {
        self.mode == Mode::Idle
    }
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("soak") {
        return soak::main(std::env::args().skip(2));
    }
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("loadgen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (report, outcome) = match options.mode {
        Mode::Echo | Mode::Idle => {
            let mut echo = echo::Echo::new(&options);
            let mut pool = match echo::pool(&options) {
                Ok(pool) => pool,
                Err(e) => return setup_failed(&e.to_string()),
            };
            let outcome = match options.mode {
                Mode::Idle => echo.idle(&mut pool),
                _ => echo.load(&mut pool),
            };
            (echo.report(pool.counts.pings, &outcome), outcome)
        }
        Mode::Fanout => {
            let (mut fanout, mut pool) = match fanout::Fanout::new(&options)
                .and_then(|f| Ok((f, fanout::pool(&options).map_err(|e| e.to_string())?)))
            {
                Ok(made) => made,
                Err(e) => return setup_failed(&e),
            };
            let outcome = fanout.run(&mut pool);
            (fanout.report(pool.counts.pings, &outcome), outcome)
        }
    };
    println!("{report}");
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn setup_failed(e: &str) -> ExitCode {
    eprintln!("loadgen: {e}");
    ExitCode::from(2)
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut url = None;
    let mut publish_url = None;
    let mut idle = false;
    let mut fanout = false;
    let mut options = Options {
        mode: Mode::Echo,
        url: Target::parse("ws://127.0.0.1:0/")?,
        publish_url: None,
        connections: 1,
        size: 32,
        in_flight: 1,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        latency: false,
        hold: Duration::from_secs(5),
        max_pending: 100,
        timeout: Duration::from_secs(30),
        text: false,
        deflate: false,
        server_pid: None,
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--url" => url = args.next(),
            "--connections" => options.connections = number(&flag, args.next())?,
            "--size" => options.size = number(&flag, args.next())?,
            "--in-flight" => options.in_flight = number(&flag, args.next())?,
            "--duration" => options.duration = seconds(&flag, args.next())?,
            "--warmup" => options.warmup = seconds(&flag, args.next())?,
            "--latency" => options.latency = true,
            "--idle" => idle = true,
            "--hold" => options.hold = seconds(&flag, args.next())?,
            "--max-pending" => options.max_pending = number(&flag, args.next())?,
            "--timeout" => options.timeout = seconds(&flag, args.next())?,
            "--fanout" => fanout = true,
            "--publish-url" => publish_url = args.next(),
            "--text" => options.text = true,
            "--deflate" => options.deflate = true,
            "--server-pid" => options.server_pid = Some(number(&flag, args.next())?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    options.url = Target::parse(&url.ok_or("--url is required")?)?;
    options.mode = match (idle, fanout) {
        (false, false) => Mode::Echo,
        (true, false) => Mode::Idle,
        (false, true) => Mode::Fanout,
        (true, true) => return Err("--idle and --fanout are two workloads: pick one".into()),
    };
    if fanout {
        let publish_url = publish_url.ok_or("--fanout needs --publish-url")?;
        options.publish_url = Some(Target::parse(&publish_url)?);
    } else if publish_url.is_some()
        || options.text
        || options.deflate
        || options.server_pid.is_some()
    {
        return Err("--publish-url, --text, --deflate and --server-pid go with --fanout".into());
    }
    if options.connections == 0 || options.in_flight == 0 || options.max_pending == 0 {
        return Err("--connections, --in-flight and --max-pending must be at least 1".into());
    }
    Ok(options)
}

/// A flag's value as a number, or why not (every workload's options).
pub fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("{flag}: not a number: {value}"))
}

/// A flag's value as seconds (fractions allowed).
pub fn seconds(flag: &str, value: Option<String>) -> Result<Duration, String> {
    let secs: f64 = number(flag, value)?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{flag}: bad duration {secs}"))
}

/// Appends the percentiles of publish-to-delivery or round-trip times (ns) to a JSON report, in µs.
pub fn write_latencies(out: &mut String, samples: &[u64]) {
    if samples.is_empty() {
        return;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    for (name, q) in [("p50_us", 0.50), ("p99_us", 0.99), ("p999_us", 0.999)] {
        let _ = write!(
            out,
            ",\"{name}\":{:.1}",
            percentile(&sorted, q) as f64 / 1e3
        );
    }
    let _ = write!(out, ",\"latency_samples\":{}", sorted.len());
}

/// Ends a JSON report: `"errors":0`, or 1 and the reason.
pub fn write_outcome(out: &mut String, outcome: &Result<(), String>) {
    match outcome {
        Ok(()) => out.push_str(",\"errors\":0}"),
        Err(e) => {
            let _ = write!(out, ",\"errors\":1,\"error\":\"{}\"}}", json_escape(e));
        }
    }
}

pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// xorshift64*: mask keys and the pattern need to be unpredictable to a server, not secure.
pub fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// `len` random bytes, the same in every run: the bodies of the messages sent.
pub fn random_pattern(len: usize) -> Vec<u8> {
    let mut rng = 0x9E37_79B9_7F4A_7C15;
    (0..len).map(|_| next(&mut rng) as u8).collect()
}

pub fn mask_key(rng: &mut u64) -> [u8; 4] {
    (next(rng) as u32).to_ne_bytes()
}

/// CPU time this thread has used, in ns (Linux's schedstat), to show when the load generator itself is
/// the bottleneck.
pub fn thread_cpu() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

pub fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmasks the payload of the one frame in `wire` (header of 2, 4 or 10 bytes plus the key).
    pub fn unmask(wire: &[u8]) -> Vec<u8> {
        let header_len = match wire[1] & 0x7F {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        let key = [
            wire[header_len],
            wire[header_len + 1],
            wire[header_len + 2],
            wire[header_len + 3],
        ];
        let mut payload = wire[header_len + 4..].to_vec();
        frame::apply_mask(&mut payload, key);
        payload
    }

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_options(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn echo_is_the_default_workload() {
        let options = parse(&["--url", "ws://127.0.0.1:9/", "--connections", "3"]).unwrap();
        assert_eq!((options.mode, options.connections), (Mode::Echo, 3));
        assert_eq!(
            parse(&["--url", "ws://127.0.0.1:9/", "--idle"])
                .unwrap()
                .mode,
            Mode::Idle
        );
    }

    #[test]
    fn fanout_takes_a_publisher_url_and_its_own_flags() {
        let options = parse(&[
            "--fanout",
            "--url",
            "ws://127.0.0.1:9/?room=a",
            "--publish-url",
            "ws://127.0.0.1:8/publish",
            "--text",
            "--deflate",
            "--server-pid",
            "42",
            "--latency",
        ])
        .unwrap();
        assert_eq!(options.mode, Mode::Fanout);
        assert_eq!(options.publish_url.unwrap().path, "/publish");
        assert_eq!(
            (options.text, options.deflate, options.server_pid),
            (true, true, Some(42))
        );
    }

    #[test]
    fn rejects_flags_of_the_other_workload() {
        let url = ["--url", "ws://127.0.0.1:9/"];
        assert!(
            parse(&[&url[..], &["--fanout"]].concat()).is_err(),
            "no publisher"
        );
        assert!(parse(&[&url[..], &["--text"]].concat()).is_err());
        assert!(parse(&[&url[..], &["--server-pid", "1"]].concat()).is_err());
        let both = [
            &url[..],
            &["--idle", "--fanout", "--publish-url", "ws://127.0.0.1:9/"],
        ]
        .concat();
        assert!(parse(&both).is_err());
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&sorted, 0.5), 500);
        assert_eq!(percentile(&sorted, 0.99), 990);
        assert_eq!(percentile(&sorted, 0.999), 999);
        assert_eq!(percentile(&[7], 0.99), 7);
    }
}
