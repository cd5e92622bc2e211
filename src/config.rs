//! Limits, timers and settings, with defaults safe for a server on the open internet.
//!
//! The table of every limit and timer is on [`Config`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::error::Error;
use crate::trace::Tracer;

/// Limits, timers and settings of a connection and its handshake.
///
/// | setting | default | what it bounds |
/// |---|---|---|
/// | `max_frame_size` | 16 MiB | one frame's payload; a larger declared length fails with 1009 before any of it is held |
/// | `max_message_size` | 16 MiB | one message, all fragments together (1009) |
/// | `max_write_buffer` | 4 MiB | output queued and not yet written; at or past it `send_*` refuses with [`Error::WriteBufferFull`](crate::Error::WriteBufferFull), and an event loop stops reading |
/// | `max_handshake_size` | 8 KiB | the request or response head (431) |
/// | `max_headers` | 64 | header lines in a head (431) |
/// | `handshake_timeout` | 10 s | the whole opening handshake, from the moment the transport is accepted (408) |
/// | `ping_interval` | 20 s | a keepalive ping after this long without a byte from the peer |
/// | `ping_timeout` | 20 s | then the peer has this long to answer, or the connection fails with 1011 |
/// | `idle_timeout` | off | no message either way for this long: close with 1001 |
/// | `close_timeout` | 10 s | after the close starts, the peer has this long to finish it before the transport is dropped |
///
/// Why 16 MiB messages: a declared length is never a reason to allocate, so a peer must really send the
/// bytes it makes us hold; 16 MiB carries the photos and files browser applications send in one message
/// (python-websockets stops at 1 MiB, which breaks them; Node's `ws` allows 100 MiB, and tungstenite
/// 64 MiB, which lets a few hundred peers exhaust a server).
///
/// The worst case of one connection under these defaults, reached only by a peer that sends the bytes:
///
/// | buffer | bound | default |
/// |---|---|---|
/// | input (the frame being received) | `max_frame_size` + 4 KiB | 16 MiB |
/// | reassembly of a fragmented message | `max_message_size` | 16 MiB |
/// | output | `max_write_buffer` + one message + a pong and a close | 4 MiB + the largest message sent |
/// | handshake head | `max_handshake_size` + one 4 KiB read | 12 KiB |
/// | total | | ≈ 36 MiB |
///
/// Between messages the buffers are kept up to 64 KiB, so steady traffic allocates nothing;
/// [`Connection::shrink_to_idle`](crate::Connection::shrink_to_idle) gives them back.
///
/// New settings may be added in any release, so it is built from [`Config::default`] and its setters:
///
/// ```
/// use std::time::Duration;
/// let config = wscore::Config::default()
///     .max_message_size(1 << 20)
///     .idle_timeout(Some(Duration::from_secs(300)));
/// assert_eq!(config.max_frame_size, 16 << 20);
/// assert_eq!(config.ping_interval, Some(Duration::from_secs(20)));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted; a larger declared length fails with 1009 before any of it is
    /// buffered. Default 16 MiB.
    pub max_frame_size: usize,
    /// The largest message accepted, all fragments together; exceeding it fails with 1009. Default 16 MiB.
    pub max_message_size: usize,
    /// The high-water mark of output queued and not yet written. While the queue holds this much or
    /// more, messages are refused with [`Error::WriteBufferFull`] before anything is queued, and an
    /// event-loop driver stops reading from the peer and handing out its events; below it any message is
    /// taken, so the queue stays within this bound plus one message. Automatic pongs and close frames
    /// are never refused. Default 4 MiB.
    pub max_write_buffer: usize,
    /// The largest handshake request or response head, in bytes; larger is 431 (server) or an error
    /// (client). Default 8 KiB.
    pub max_handshake_size: usize,
    /// The most header lines in a handshake; more is 431. Default 64.
    pub max_headers: usize,
    /// How long the opening handshake may take in all, counted from the moment the transport is accepted
    /// or connected: a peer that sends nothing, or trickles, is answered 408 (server) or fails (client)
    /// at the deadline. Default 10 s.
    pub handshake_timeout: Duration,
    /// After this long without receiving anything, a ping is sent (keepalive). `None` sends none.
    /// Default 20 s.
    pub ping_interval: Option<Duration>,
    /// How long after a keepalive ping the peer has to show it is alive (its pong, or any other bytes)
    /// before the connection fails with 1011 and [`Error::KeepaliveTimeout`]. Default 20 s.
    pub ping_timeout: Duration,
    /// After this long without a message in either direction (pings and pongs do not count), the
    /// connection is closed with 1001. `None` (the default) never closes an idle connection.
    pub idle_timeout: Option<Duration>,
    /// How long the peer has to complete the close handshake once it started (our close frame sent, or
    /// the connection failed), and to end the transport after it; then the transport is dropped and an
    /// unanswered close is reported as [`Error::CloseTimeout`]. Default 10 s.
    pub close_timeout: Duration,
    /// Seeds the generators of masking keys and handshake keys, for reproducible tests. `None` (the
    /// default) seeds from the operating system, as RFC 6455 §10.3 requires in production. Each
    /// connection made from a seeded config (and its clones) gets its own streams.
    pub rng_seed: Option<u64>,
    /// Called for every frame sent and received by each connection made from this config (see
    /// [`crate::trace`]). `None` (the default) traces nothing and costs a branch per frame.
    pub trace: Option<Tracer>,
    /// permessage-deflate (RFC 7692, feature `deflate`): what a client offers and what a server
    /// accepts, e.g. [`Deflate::default`](crate::deflate::Deflate). Default `None`: no compression
    /// is negotiated unless asked for, since a busy compressing connection holds ~460 KB of zlib state.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::Deflate>,
    /// How many random streams the seed has given, shared by clones so connections never repeat masks.
    pub(crate) streams: Arc<AtomicU64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            max_write_buffer: 4 << 20,
            max_handshake_size: 8 << 10,
            max_headers: 64,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            idle_timeout: None,
            close_timeout: Duration::from_secs(10),
            rng_seed: None,
            trace: None,
            #[cfg(feature = "deflate")]
            deflate: None,
            streams: Arc::default(),
        }
    }
}

/// Two configs are equal when their settings are, and their tracers the same one; the position in the
/// seeded streams is not a setting.
impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        let Config {
            max_frame_size,
            max_message_size,
            max_write_buffer,
            max_handshake_size,
            max_headers,
            handshake_timeout,
            ping_interval,
            ping_timeout,
            idle_timeout,
            close_timeout,
            rng_seed,
            trace,
            #[cfg(feature = "deflate")]
            deflate,
            streams: _,
        } = self;
        #[cfg(feature = "deflate")]
        if *deflate != other.deflate {
            return false;
        }
        let same_tracer = match (trace, &other.trace) {
            (Some(a), Some(b)) => a.same(b),
            (a, b) => a.is_none() && b.is_none(),
        };
        same_tracer
            && (
                *max_frame_size,
                *max_message_size,
                *max_write_buffer,
                *max_handshake_size,
                *max_headers,
                *handshake_timeout,
                *ping_interval,
                *ping_timeout,
                *idle_timeout,
                *close_timeout,
                *rng_seed,
            ) == (
                other.max_frame_size,
                other.max_message_size,
                other.max_write_buffer,
                other.max_handshake_size,
                other.max_headers,
                other.handshake_timeout,
                other.ping_interval,
                other.ping_timeout,
                other.idle_timeout,
                other.close_timeout,
                other.rng_seed,
            )
    }
}

impl Eq for Config {}

impl Config {
    /// Sets [`Config::trace`](#structfield.trace): a [`Tracer`], or `None` to trace nothing.
    ///
    /// ```
    /// let config = wscore::Config::default().trace(wscore::trace::Tracer::stderr());
    /// assert!(config.trace.is_some());
    /// assert!(config.trace(None).trace.is_none());
    /// ```
    #[must_use]
    pub fn trace(mut self, tracer: impl Into<Option<Tracer>>) -> Config {
        self.trace = tracer.into();
        self
    }

    /// Sets [`Config::deflate`](#structfield.deflate): the settings, or `None` for no compression.
    ///
    /// ```
    /// use wscore::deflate::Deflate;
    /// let config = wscore::Config::default().deflate(Deflate::default().level(1));
    /// assert_eq!(config.deflate.as_ref().map(|d| d.level), Some(1));
    /// assert!(config.deflate(None).deflate.is_none());
    /// ```
    #[cfg(feature = "deflate")]
    #[must_use]
    pub fn deflate(mut self, deflate: impl Into<Option<crate::deflate::Deflate>>) -> Config {
        self.deflate = deflate.into();
        self
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        impl Config {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Config {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`Config::max_frame_size`](#structfield.max_frame_size).
    max_frame_size: usize;
    /// Sets [`Config::max_message_size`](#structfield.max_message_size).
    max_message_size: usize;
    /// Sets [`Config::max_write_buffer`](#structfield.max_write_buffer).
    max_write_buffer: usize;
    /// Sets [`Config::max_handshake_size`](#structfield.max_handshake_size).
    max_handshake_size: usize;
    /// Sets [`Config::max_headers`](#structfield.max_headers).
    max_headers: usize;
    /// Sets [`Config::handshake_timeout`](#structfield.handshake_timeout).
    handshake_timeout: Duration;
    /// Sets [`Config::ping_interval`](#structfield.ping_interval); `None` turns keepalive off.
    ping_interval: Option<Duration>;
    /// Sets [`Config::ping_timeout`](#structfield.ping_timeout).
    ping_timeout: Duration;
    /// Sets [`Config::idle_timeout`](#structfield.idle_timeout).
    idle_timeout: Option<Duration>;
    /// Sets [`Config::close_timeout`](#structfield.close_timeout).
    close_timeout: Duration;
    /// Sets [`Config::rng_seed`](#structfield.rng_seed).
    rng_seed: Option<u64>;
}

/// What a random stream is for; mixed into the seed so that no two purposes share a stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    HandshakeKey = 1,
    Masks = 2,
}

impl Config {
    /// A fresh generator for one purpose of one connection: from the OS, or, with `rng_seed`, from the
    /// seed, the purpose and how many streams this config (and its clones) gave before, so that
    /// handshake nonces sent in clear never predict masking keys and no two connections share masks.
    pub(crate) fn rng(&self, purpose: Purpose) -> Result<StdRng, Error> {
        match self.rng_seed {
            Some(seed) => {
                let index = self.streams.fetch_add(1, Ordering::Relaxed);
                Ok(StdRng::seed_from_u64(mix(seed, index, purpose as u64)))
            }
            None => StdRng::try_from_os_rng().map_err(|e| Error::Random(std::io::Error::other(e))),
        }
    }
}

/// SplitMix64's finaliser over the three inputs: nearby seeds and indices give unrelated streams.
fn mix(seed: u64, index: u64, purpose: u64) -> u64 {
    let mut z = seed
        ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ purpose.wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn seeded_streams_differ_by_purpose_and_by_connection_and_repeat_across_runs() {
        let first_run: Vec<u32> = {
            let config = Config::default().rng_seed(Some(7));
            let clone = config.clone();
            vec![
                config.rng(Purpose::HandshakeKey).unwrap().next_u32(),
                config.rng(Purpose::Masks).unwrap().next_u32(),
                clone.rng(Purpose::Masks).unwrap().next_u32(),
            ]
        };
        assert_ne!(
            first_run[0], first_run[1],
            "nonce and masks are independent"
        );
        assert_ne!(first_run[1], first_run[2], "a clone continues the sequence");
        let config = Config::default().rng_seed(Some(7));
        let second_run = vec![
            config.rng(Purpose::HandshakeKey).unwrap().next_u32(),
            config.rng(Purpose::Masks).unwrap().next_u32(),
            config.rng(Purpose::Masks).unwrap().next_u32(),
        ];
        assert_eq!(first_run, second_run, "reproducible from the seed");
    }

    #[test]
    fn equality_ignores_the_stream_position() {
        let a = Config::default().rng_seed(Some(1));
        let b = a.clone();
        a.rng(Purpose::Masks).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, b.clone().max_headers(3));
    }
}
