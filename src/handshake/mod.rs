//! The opening handshake, RFC 6455 §4: an HTTP/1.1 upgrade, parsed incrementally with httparse.
//!
//! Both sides are functions over byte buffers: they say "need more" (`Ok(None)`) until a head is
//! complete, then how many bytes it took, so the bytes after it reach the [`crate::Connection`].

mod accept;
mod client;
mod http;
mod server;
mod url;

pub use accept::accept_key;
pub use client::{ClientHandshake, ClientOptions, Response};
pub use http::{Headers, HttpResponse};
pub use server::{read_request, Incoming, Request, Upgrade};
pub use url::WsUrl;
