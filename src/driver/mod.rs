//! Drivers: they move bytes between a transport and a [`crate::Connection`] and hold no protocol rule.

pub mod blocking;
#[cfg(feature = "mio")]
pub mod mio;
mod step;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(any(feature = "mio", feature = "tokio"))]
mod topics;
