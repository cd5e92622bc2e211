//! The server's answer to a checked upgrade request, RFC 6455 §4.2.2: the 101 that accepts it, or the
//! refusal the application chose.

use super::accept::accept_key;
use super::http::{
    is_handshake_header, is_header_safe, is_token, write_header, Headers, HttpResponse,
};
use super::policy::{Acceptance, Decision};
use super::request::Request;
use super::Extensions;
use crate::error::Error;
use crate::Config;

/// A checked upgrade request, to answer with [`Upgrade::respond`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    request: Request,
    key: String,
    extensions: Extensions,
    /// The `Sec-WebSocket-Extensions` value accepting [`Upgrade::extensions`].
    extensions_header: Option<String>,
}

impl Upgrade {
    pub(super) fn new(request: Request, key: String, config: &Config) -> Upgrade {
        let (extensions, extensions_header) = super::extensions::accept(&request.headers, config);
        Upgrade {
            request,
            key,
            extensions,
            extensions_header,
        }
    }

    /// The extensions accepting this upgrade puts in force (from the client's offers and
    /// `Config::deflate`), for [`crate::Connection::with_extensions`].
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The subprotocols the client offered, in its order of preference (RFC 6455 §4.1 item 10).
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.request.headers.tokens("Sec-WebSocket-Protocol")
    }

    /// The bytes answering the request as `decision` says: a 101 with `Sec-WebSocket-Accept`, the chosen
    /// subprotocol and the extra headers, or the refusal rendered by [`super::HttpResponse::to_bytes`].
    ///
    /// [`Error::Misuse`] (and nothing to send) for a subprotocol the client did not offer, an extra header
    /// that is not a token, has a line break in its value, or would repeat one the handshake writes, and
    /// for a refusal whose status is not 3xx, 4xx or 5xx.
    ///
    /// ```
    /// use wscore::handshake::{read_request, Acceptance, Decision, Incoming};
    /// let request = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    ///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///     Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// let Some((Incoming::Upgrade(upgrade), _)) = read_request(request, &Default::default())? else {
    ///     panic!("not an upgrade")
    /// };
    /// let accept = Decision::Accept(Acceptance::new().protocol("chat").header("Set-Cookie", "id=1"));
    /// let response = String::from_utf8(upgrade.respond(&accept)?).unwrap();
    /// assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    /// assert!(response.contains("\r\nSec-WebSocket-Protocol: chat\r\nSet-Cookie: id=1\r\n\r\n"));
    ///
    /// let refusal = upgrade.respond(&Decision::refuse(403))?;
    /// assert!(refusal.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    ///
    /// let unoffered = Decision::Accept(Acceptance::new().protocol("mqtt"));
    /// assert!(matches!(upgrade.respond(&unoffered), Err(wscore::Error::Misuse(_))));
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn respond(&self, decision: &Decision) -> Result<Vec<u8>, Error> {
        match decision {
            Decision::Accept(acceptance) => self.switching_protocols(acceptance),
            Decision::Refuse(response) => Ok(checked_refusal(response)?.to_bytes()),
        }
    }

    /// The 101 accepting the upgrade with the subprotocol the application chose from those offered, or
    /// none (RFC 6455 §4.2.2 step 5): [`Upgrade::respond`] with [`Decision::Accept`].
    pub fn accept(&self, protocol: Option<&str>) -> Result<Vec<u8>, Error> {
        let mut acceptance = Acceptance::new();
        acceptance.protocol = protocol.map(str::to_owned);
        self.respond(&Decision::Accept(acceptance))
    }

    fn switching_protocols(&self, acceptance: &Acceptance) -> Result<Vec<u8>, Error> {
        let mut out = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
        for (name, value) in self.switching_protocols_headers(acceptance)?.iter() {
            write_header(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        Ok(out)
    }

    /// The header lines of the 101 accepting the upgrade as `acceptance` says, in order (RFC 6455 §4.2.2
    /// item 5), once it is checked: rendered as bytes here, and as an `http::Response` by
    /// `Upgrade::respond_http` (feature `http`), so both answers carry the same lines.
    pub(super) fn switching_protocols_headers(
        &self,
        acceptance: &Acceptance,
    ) -> Result<Headers, Error> {
        if let Some(protocol) = &acceptance.protocol {
            // §4.2.2 item 5.4: the selected value must be one the client offered.
            if !is_token(protocol) || !self.protocols().any(|offered| offered == protocol) {
                return Err(Error::Misuse("a subprotocol the client did not offer"));
            }
        }
        check_extra_headers(&acceptance.headers)?;
        let mut headers = Headers::default();
        headers.push("Upgrade", "websocket");
        headers.push("Connection", "Upgrade");
        headers.push("Sec-WebSocket-Accept", &accept_key(self.key.as_bytes()));
        if let Some(protocol) = &acceptance.protocol {
            headers.push("Sec-WebSocket-Protocol", protocol);
        }
        if let Some(extensions) = &self.extensions_header {
            headers.push("Sec-WebSocket-Extensions", extensions);
        }
        for (name, value) in acceptance.headers.iter() {
            headers.push_bytes(name, value);
        }
        Ok(headers)
    }
}

/// A refusal answers with an error or a redirect, never another success: RFC 6455 §4.2.2 asks for "an
/// appropriate HTTP error code", and §4.1 lets "the server ... redirect the client using a 3xx status
/// code".
pub(super) fn checked_refusal(response: &HttpResponse) -> Result<&HttpResponse, Error> {
    match response.status {
        300..=599 => Ok(response),
        _ => Err(Error::Misuse("a refusal needs a 3xx, 4xx or 5xx status")),
    }
}

/// Extra headers must not split the head nor contradict what the handshake writes: a second `Upgrade`
/// or `Sec-WebSocket-Accept` would leave the client to guess, and a 101 has no body to frame.
fn check_extra_headers(headers: &Headers) -> Result<(), Error> {
    for (name, value) in headers.iter() {
        let safe = std::str::from_utf8(value).is_ok_and(is_header_safe);
        if !is_token(name) || !safe {
            return Err(Error::Misuse("a header that cannot be sent"));
        }
        if is_handshake_header(name) {
            return Err(Error::Misuse(
                "a header the handshake writes itself (Upgrade, Connection, Sec-WebSocket-*, ...)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{read_request, HttpResponse, Incoming};
    use crate::Config;

    const REQUEST: &[u8] =
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn upgrade() -> Upgrade {
        match read_request(REQUEST, &Config::default()).unwrap() {
            Some((Incoming::Upgrade(upgrade), _)) => upgrade,
            other => panic!("{other:?}"),
        }
    }

    fn respond(decision: Decision) -> Result<String, Error> {
        upgrade()
            .respond(&decision)
            .map(|bytes| String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn accepts_with_the_rfc_accept_key_and_the_chosen_subprotocol() {
        assert_eq!(
            String::from_utf8(upgrade().accept(Some("chat")).unwrap()).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        );
    }

    #[test]
    fn accepts_with_extra_headers_after_the_handshakes_own() {
        let decision = Acceptance::new()
            .header("Set-Cookie", "id=1")
            .header("X-Server", "wscore")
            .into();
        assert!(respond(decision).unwrap().ends_with(
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSet-Cookie: id=1\r\n\
             X-Server: wscore\r\n\r\n"
        ));
    }

    #[test]
    fn refuses_a_subprotocol_the_client_did_not_offer() {
        assert!(matches!(
            upgrade().accept(Some("mqtt")),
            Err(Error::Misuse(_))
        ));
        assert!(matches!(
            upgrade().accept(Some("chat, superchat")),
            Err(Error::Misuse(_))
        ));
        assert!(upgrade().accept(None).is_ok());
    }

    #[test]
    fn refuses_extra_headers_the_handshake_writes_itself() {
        for name in [
            "Upgrade",
            "connection",
            "Sec-WebSocket-Accept",
            "sec-websocket-protocol",
            "Sec-WebSocket-Extensions",
            "Content-Length",
            "Transfer-Encoding",
        ] {
            let decision = Acceptance::new().header(name, "x").into();
            assert!(matches!(respond(decision), Err(Error::Misuse(_))), "{name}");
        }
    }

    #[test]
    fn refuses_extra_headers_that_would_split_the_head() {
        for (name, value) in [
            ("X-A", "1\r\nEvil: 1"),
            ("X-A", "1\n"),
            ("X A", "1"),
            ("", "1"),
        ] {
            let decision = Acceptance::new().header(name, value).into();
            assert!(
                matches!(respond(decision), Err(Error::Misuse(_))),
                "{name:?}"
            );
        }
    }

    #[test]
    fn renders_a_refusal_as_the_application_built_it() {
        let refusal = HttpResponse::new(401)
            .header("WWW-Authenticate", "Bearer")
            .body("who are you?");
        assert_eq!(
            respond(refusal.clone().into()).unwrap().into_bytes(),
            refusal.to_bytes()
        );
    }

    #[test]
    fn refuses_a_refusal_without_an_error_or_redirect_status() {
        for status in [101, 200, 204, 600] {
            assert!(
                matches!(respond(Decision::refuse(status)), Err(Error::Misuse(_))),
                "{status}"
            );
        }
        assert!(respond(Decision::refuse(302)).is_ok());
    }
}
