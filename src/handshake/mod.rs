//! The opening handshake, RFC 6455 §4: an HTTP/1.1 upgrade, parsed incrementally with httparse.
//!
//! Both sides are sans-IO state machines with the same shape: `receive(bytes)` and `receive_eof()` feed
//! them, `poll()` says "need more" (`Ok(None)`) until the outcome is decided, `leftover()` hands on the
//! bytes read past the head, and `poll_timeout()` / `handle_timeout(now)` enforce
//! `Config::handshake_timeout` with time passed in, never read.
//!
//! - Server: [`ServerHandshake`] yields an [`Incoming`]: an [`Upgrade`], which the application answers
//!   with a [`Decision`] through [`Upgrade::respond`] (an [`AllowedOrigins`] list helps decide), or a
//!   plain HTTP [`Request`]. A refused request is an [`crate::Error`] whose `http_response()` is the
//!   answer. [`read_request`] is the pure function underneath, over one buffer. With the `http`
//!   feature, a request that hyper or axum already parsed goes through the same checks
//!   (`Incoming::from_http`) and is answered with an `http::Response` (`Upgrade::respond_http`).
//! - Client: [`ClientHandshake`] gives the request to send, then the server's 101 as a [`Response`], or
//!   its refusal as [`crate::Error::Refused`].
//!
//! | file          | concern                                                               |
//! |---------------|-----------------------------------------------------------------------|
//! | `request.rs`  | the request and its checks (§4.2.1)                                   |
//! | `target.rs`   | the request-target reduced to path and query (§3, RFC 7230 §5.3)      |
//! | `upgrade.rs`  | the 101 or the refusal (§4.2.2)                                       |
//! | `policy.rs`   | the application's decision                                            |
//! | `origin.rs`   | the Origin allow-list (§10.2)                                         |
//! | `server.rs`   | the server's state machine                                            |
//! | `client.rs`   | the request, the client's checks (§4.1) and its state machine         |
//! | `body.rs`     | the body of a refusal the client received (RFC 9112 §6.3)             |
//! | `url.rs`      | `ws://` and `wss://` URLs (§3)                                        |
//! | `head.rs`     | the buffer, deadline and outcome both state machines share            |
//! | `http.rs`     | headers, head parsing under the limits, the one response renderer     |
//! | `http_types.rs` | feature `http`: the request as hyper/axum parsed it, the answer as an `http::Response` |
//! | `accept.rs`   | `Sec-WebSocket-Accept` (§4.2.2 step 5.4)                              |
//! | `extensions.rs` | the extensions negotiated (§9), for the connection                  |

mod accept;
mod body;
mod client;
mod extensions;
mod head;
mod http;
#[cfg(feature = "http")]
mod http_types;
mod origin;
mod policy;
mod request;
mod server;
mod target;
mod upgrade;
mod url;

pub use accept::accept_key;
pub use client::{ClientHandshake, ClientOptions, Response};
pub use extensions::Extensions;
pub use http::{Headers, HttpResponse};
pub use origin::AllowedOrigins;
pub use policy::{Acceptance, Decision};
pub use request::{read_request, Incoming, Request};
pub use server::ServerHandshake;
pub use upgrade::Upgrade;
pub use url::WsUrl;
