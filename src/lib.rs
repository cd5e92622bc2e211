//! # wscore
//!
//! A WebSocket ([RFC 6455](https://www.rfc-editor.org/rfc/rfc6455)) protocol core with no I/O of its own:
//! bytes in, events out, bytes to send. It parses the HTTP upgrade, masks and unmasks frames, reassembles
//! fragmented messages, validates UTF-8 as it arrives, answers pings and runs the close handshake, and
//! enforces every limit in [`Config`]. Drivers in [`driver`] move the bytes over sockets.
//!
//! - [`handshake`]: the opening handshake for both roles.
//! - [`Connection`]: the state machine after it, with its timers; [`Event`]s borrow its buffer,
//!   [`Message`]s are owned, and [`Sender`] is the one way to send.
//! - [`driver::blocking`]: a server and a client over any `Read + Write` stream.
//! - [`trace`]: every frame in both directions, for debugging, when [`Config::trace`] is set.
//! - `driver::mio` (feature `mio`): an event loop for many connections per thread.
//! - `driver::tokio` (feature `tokio`): `Stream`/`Sink` over any `AsyncRead + AsyncWrite`, for tokio
//!   services (with `http`, upgrades that hyper or axum answered).
//! - `driver::tls` (feature `tls`): `wss://` and `https://` for both drivers, with rustls.
//!
//! A server answering one upgrade over a blocking stream:
//!
//! ```no_run
//! use wscore::driver::blocking::{accept, Accepted};
//! use wscore::Message;
//! let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
//! let (stream, _) = listener.accept()?;
//! if let Accepted::WebSocket(mut ws) = accept(stream, &wscore::Config::default())? {
//!     while let Some(message) = ws.read()? {
//!         if let Message::Text(_) | Message::Binary(_) = message {
//!             ws.send(message)?;
//!         }
//!     }
//! }
//! # Ok::<(), wscore::Error>(())
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod buffer;
pub mod close;
mod config;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod driver;
mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
mod message;
mod prepared;
mod receive;
mod send;
pub mod trace;
mod unmask;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, Event, Role, State};
pub use error::Error;
pub use message::Message;
pub use prepared::PreparedMessage;
pub use send::{MessageKind, Sender};

/// The README's examples, compiled and run as doctests so they stay true (with the `mio`, `tls`,
/// `tokio` and `http` features, which some of them use; the README's test command enables every
/// feature).
#[cfg(all(
    doctest,
    feature = "mio",
    feature = "tls",
    feature = "tokio",
    feature = "http"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
