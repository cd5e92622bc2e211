//! Graceful shutdown for the examples: a thread waits for SIGTERM or SIGINT (Ctrl-C) and then asks the
//! server to stop (it closes its connections with 1001 and returns from its run once they are done).

/// Calls `shutdown` on the first SIGTERM or SIGINT; a second one ends the process at once.
pub fn on_shutdown_signal(shutdown: impl FnOnce() + Send + 'static) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("cannot wait for signals ({e}): SIGTERM will end the process abruptly");
            return;
        }
    };
    std::thread::spawn(move || {
        let mut signals = signals.forever();
        if let Some(signal) = signals.next() {
            eprintln!("signal {signal}: shutting down (closing every connection with 1001)");
            shutdown();
        }
        if signals.next().is_some() {
            std::process::exit(130);
        }
    });
}
