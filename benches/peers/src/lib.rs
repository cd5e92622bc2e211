//! What the peer echo servers share: their one flag and a single-threaded runtime, so that each runs
//! on one core like wscore's event loop.

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

/// Runs `server` on a current-thread tokio runtime: one thread, like the loop it is compared with.
pub fn run_current_thread<F: Future<Output = std::io::Result<()>>>(
    server: F,
) -> std::io::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?
        .block_on(server)
}

/// Limits for both peers: 64 MiB messages (their defaults, set here so a change of default cannot make
/// the 64 KiB workload fail) and 16 MiB frames.
pub const MAX_MESSAGE: usize = 64 << 20;
pub const MAX_FRAME: usize = 16 << 20;
