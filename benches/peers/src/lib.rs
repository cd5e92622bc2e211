//! What the peer echo servers share: their one flag, their limits, and the runtime they run on.

use std::future::Future;

/// Reads `--addr HOST:PORT` (127.0.0.1:9001 by default); any other argument prints the usage and exits.
pub fn addr_from_args(name: &str) -> String {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:9001".to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: {name} [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr
}

/// Runs `server` on a multi-thread tokio runtime, the one `#[tokio::main]` builds and the one wscore's
/// tokio driver is compared on. The worker count is tokio's default, `available_parallelism()`, which
/// on Linux follows the process's CPU affinity: under benches/echo.sh's `taskset -c SERVER_CORE` that is
/// one worker per pinned core (one, by default), so every server still gets the same core budget. As
/// with `#[tokio::main]`, `server` itself (the accept loop) runs on this thread in `block_on` and the
/// connections' tasks on the workers.
pub fn run_multi_thread<F: Future<Output = std::io::Result<()>>>(server: F) -> std::io::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(server)
}

/// Limits for every peer: 64 MiB messages (their defaults, set here so a change of default cannot make
/// the 64 KiB workload fail) and 16 MiB frames.
pub const MAX_MESSAGE: usize = 64 << 20;
pub const MAX_FRAME: usize = 16 << 20;
