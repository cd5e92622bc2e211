//! Limits and settings, with defaults safe for a server on the open internet.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

/// Limits and settings of a connection and its handshake.
///
/// ```
/// let config = wscore::Config { max_message_size: 1 << 20, ..Default::default() };
/// assert_eq!(config.max_frame_size, 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The largest frame payload accepted; a larger declared length fails with 1009 before any of it is
    /// buffered. Default 16 MiB.
    pub max_frame_size: usize,
    /// The largest message accepted, all fragments together; exceeding it fails with 1009. Default 64 MiB.
    pub max_message_size: usize,
    /// The largest handshake request or response head, in bytes; larger is 431 (server) or an error
    /// (client). Default 8 KiB.
    pub max_handshake_size: usize,
    /// The most header lines in a handshake; more is 431. Default 64.
    pub max_headers: usize,
    /// How long a driver lets the opening handshake take in all, so a peer trickling one byte at a time
    /// cannot hold a connection open (a server answers 408). The core has no clock; drivers enforce this.
    /// Default 10 s.
    pub handshake_timeout: Duration,
    /// Seeds the generator of masking keys and handshake keys, for reproducible tests. `None` (the
    /// default) seeds from the operating system, as RFC 6455 §10.3 requires in production.
    pub rng_seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_handshake_size: 8 << 10,
            max_headers: 64,
            handshake_timeout: Duration::from_secs(10),
            rng_seed: None,
        }
    }
}

impl Config {
    /// The generator for masks and keys: seeded if `rng_seed` is set, else from the OS.
    pub(crate) fn rng(&self) -> StdRng {
        match self.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        }
    }
}
