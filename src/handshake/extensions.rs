//! What the opening handshake agreed on beyond the subprotocol: the extensions in force on the
//! connection (RFC 6455 §9), and the glue between the handshake and each extension's negotiation.

use super::http::Headers;
use crate::Config;

/// The extensions a handshake negotiated, for [`Connection::with_extensions`](crate::Connection::with_extensions).
/// Without the `deflate` feature there are none to negotiate and this is empty.
///
/// ```
/// let none = wscore::handshake::Extensions::default();
/// let connection = wscore::Connection::with_extensions(wscore::Role::Server, &Default::default(), &none);
/// # let _ = connection;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extensions {
    /// permessage-deflate (RFC 7692), when negotiated.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateParams>,
}

/// Server: the extensions to accept among a request's offers, and the value of the
/// `Sec-WebSocket-Extensions` header that says so in the 101 (RFC 6455 §9.1).
pub(super) fn accept(headers: &Headers, config: &Config) -> (Extensions, Option<String>) {
    #[cfg(feature = "deflate")]
    if let Some(settings) = &config.deflate {
        let offers = headers.all("Sec-WebSocket-Extensions");
        if let Some((params, header)) = crate::deflate::accept_offer(offers, settings) {
            let extensions = Extensions {
                deflate: Some(params),
            };
            return (extensions, Some(header));
        }
    }
    let _ = (headers, config);
    (Extensions::default(), None)
}

/// Client: the `Sec-WebSocket-Extensions` value offering what `config` asks for, if anything.
pub(super) fn offer(config: &Config) -> Option<String> {
    #[cfg(feature = "deflate")]
    if let Some(settings) = &config.deflate {
        return crate::deflate::offer_header(settings);
    }
    let _ = config;
    None
}

/// Client: the extensions the server's 101 accepted, which must be among those offered (RFC 6455 §4.1
/// item 6; RFC 7692 §7 for permessage-deflate's parameters).
pub(super) fn accepted(headers: &Headers, config: &Config) -> Result<Extensions, &'static str> {
    #[cfg(feature = "deflate")]
    if let Some(settings) = config.deflate.as_ref().filter(|s| !s.offers.is_empty()) {
        let deflate =
            crate::deflate::accept_response(headers.all("Sec-WebSocket-Extensions"), settings)?;
        return Ok(Extensions { deflate });
    }
    let _ = config;
    match headers.tokens("Sec-WebSocket-Extensions").next() {
        Some(_) => Err("the server chose an extension that was not offered"),
        None => Ok(Extensions::default()),
    }
}
