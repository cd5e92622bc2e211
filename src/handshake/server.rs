//! The server's side of the opening handshake, RFC 6455 §4.2.

use super::accept::{accept_key, is_valid_key};
use super::http::{is_header_safe, parse_head, Head, Headers};
use crate::error::Error;
use crate::Config;

/// A parsed HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target: path and query, e.g. `/chat?room=1`.
    pub path: String,
    /// The header lines.
    pub headers: Headers,
}

/// What a complete request turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A valid WebSocket upgrade, to accept with [`Upgrade::accept`].
    Upgrade(Upgrade),
    /// An ordinary HTTP request (no `Upgrade` or `Sec-WebSocket-Key` header), for the application to
    /// answer, for example with a page ([`super::HttpResponse`]).
    Http(Request),
}

/// A checked upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    request: Request,
    key: String,
}

impl Upgrade {
    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The subprotocols the client offered, in its order of preference (RFC 6455 §4.1 item 10).
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.request.headers.tokens("Sec-WebSocket-Protocol")
    }

    /// The 101 response accepting the upgrade, with the subprotocol the application chose from those
    /// offered, or none (RFC 6455 §4.2.2 step 5). Choosing one the client did not offer is an error.
    pub fn accept(&self, protocol: Option<&str>) -> Result<Vec<u8>, Error> {
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n",
            accept_key(self.key.as_bytes())
        );
        if let Some(protocol) = protocol {
            if !self.protocols().any(|offered| offered == protocol) || !is_header_safe(protocol) {
                return Err(Error::Misuse("a subprotocol the client did not offer"));
            }
            response.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
        }
        // No Sec-WebSocket-Extensions: no extension is negotiated, so the client must use none.
        response.push_str("\r\n");
        Ok(response.into_bytes())
    }
}

/// Parses the request head at the start of `buf`. `Ok(None)`: more bytes are needed. Otherwise the
/// request and the length of its head: bytes after it are the start of the WebSocket stream and belong to
/// the [`crate::Connection`].
///
/// A refused request is an [`Error::BadRequest`] whose [`Error::http_response`] is the answer to send:
/// 400 for a malformed or invalid upgrade, 426 with `Sec-WebSocket-Version: 13` for another version, 431
/// for a head over the size or header-count limit.
///
/// ```
/// use wscore::handshake::{read_request, Incoming};
/// let request = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let Some((Incoming::Upgrade(upgrade), used)) = read_request(request, &Default::default()).unwrap() else {
///     panic!("not an upgrade")
/// };
/// assert_eq!(used, request.len());
/// let response = upgrade.accept(None).unwrap();
/// assert!(String::from_utf8(response).unwrap().contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
/// ```
pub fn read_request(buf: &[u8], config: &Config) -> Result<Option<(Incoming, usize)>, Error> {
    let head = parse_head(
        buf,
        config,
        |window, headers| {
            let mut request = httparse::Request::new(headers);
            let status = request.parse(window)?;
            Ok(match status {
                httparse::Status::Partial => None,
                httparse::Status::Complete(len) => Some({
                    let parsed = Request {
                        method: request.method.unwrap_or_default().to_owned(),
                        path: request.path.unwrap_or_default().to_owned(),
                        headers: Headers::from_httparse(request.headers),
                    };
                    ((parsed, request.version.unwrap_or(0)), len)
                }),
            })
        },
        || bad(431, "Request Header Fields Too Large"),
        |_| bad(400, "malformed HTTP request"),
    )?;
    let ((request, version), len) = match head {
        Head::Complete(request, len) => (request, len),
        Head::Partial => return Ok(None),
    };
    let headers = &request.headers;
    // Not an upgrade attempt at all: the application serves it.
    if !headers.has_token("Upgrade", "websocket") && headers.get("Sec-WebSocket-Key").is_none() {
        return Ok(Some((Incoming::Http(request), len)));
    }
    // RFC 6455 §4.2.1: the checks on the client's handshake, in the order of that section.
    if request.method != "GET" {
        return Err(bad(400, "the upgrade method must be GET"));
    }
    if version != 1 {
        return Err(bad(400, "the upgrade must be HTTP/1.1"));
    }
    if headers.get("Host").is_none() {
        return Err(bad(400, "missing Host header"));
    }
    if !headers.has_token("Upgrade", "websocket") {
        return Err(bad(400, "the Upgrade header must name websocket"));
    }
    if !headers.has_token("Connection", "upgrade") {
        return Err(bad(400, "the Connection header must contain upgrade"));
    }
    // §4.2.2 item 4 and §4.4: an unsupported version is answered with 426 and the versions we speak.
    if headers.get("Sec-WebSocket-Version").map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err(bad(
            426,
            "unsupported WebSocket version; this server speaks 13",
        ));
    }
    let key = match headers.get_str("Sec-WebSocket-Key").map(str::trim) {
        Some(key) if is_valid_key(key.as_bytes()) => key.to_owned(),
        _ => return Err(bad(400, "Sec-WebSocket-Key must be base64 of 16 bytes")),
    };
    Ok(Some((Incoming::Upgrade(Upgrade { request, key }), len)))
}

fn bad(status: u16, reason: &'static str) -> Error {
    Error::BadRequest { status, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    /// Reads a request whole, one byte at a time (every prefix needs more), and with trailing bytes
    /// (which must not be consumed).
    fn read_three_ways(request: &str) -> Result<Incoming, Error> {
        let config = Config::default();
        let bytes = request.as_bytes();
        for end in 0..bytes.len() {
            if read_request(&bytes[..end], &config)?.is_some() {
                panic!("a prefix of {end} bytes parsed as a complete request");
            }
        }
        let (whole, used) = read_request(bytes, &config)?.expect("complete");
        assert_eq!(used, bytes.len());
        let mut trailing = bytes.to_vec();
        trailing.extend_from_slice(&[0x81, 0x85, 1, 2, 3, 4]);
        let (again, used) = read_request(&trailing, &config)?.expect("complete");
        assert_eq!(
            (used, &again),
            (bytes.len(), &whole),
            "trailing frame bytes are left for the connection"
        );
        Ok(whole)
    }

    fn status_of(request: &str) -> u16 {
        read_three_ways(request).unwrap_err().http_status().unwrap()
    }

    fn with(header: &str, value: Option<&str>) -> String {
        let mut out = String::new();
        for line in RFC_REQUEST.split_inclusive("\r\n") {
            if line
                .to_ascii_lowercase()
                .starts_with(&format!("{}:", header.to_ascii_lowercase()))
            {
                if let Some(value) = value {
                    out.push_str(&format!("{header}: {value}\r\n"));
                }
            } else {
                out.push_str(line);
            }
        }
        out
    }

    #[test]
    fn accepts_the_rfc_request_with_the_rfc_accept_key() {
        let Incoming::Upgrade(upgrade) = read_three_ways(RFC_REQUEST).unwrap() else {
            panic!()
        };
        assert_eq!(upgrade.request().path, "/chat");
        assert_eq!(
            upgrade.protocols().collect::<Vec<_>>(),
            ["chat", "superchat"]
        );
        let response = String::from_utf8(upgrade.accept(Some("chat")).unwrap()).unwrap();
        assert_eq!(
            response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        );
    }

    #[test]
    fn refuses_a_subprotocol_the_client_did_not_offer() {
        let Incoming::Upgrade(upgrade) = read_three_ways(RFC_REQUEST).unwrap() else {
            panic!()
        };
        assert!(matches!(
            upgrade.accept(Some("mqtt")),
            Err(Error::Misuse(_))
        ));
        assert!(upgrade.accept(None).is_ok());
    }

    #[test]
    fn hands_a_plain_get_to_the_application() {
        let Incoming::Http(request) = read_three_ways("GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/")
        );
    }

    #[test]
    fn upgrade_and_connection_tokens_are_case_insensitive_lists() {
        let request = with("Upgrade", Some("WebSocket"))
            .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
        assert!(matches!(
            read_three_ways(&request),
            Ok(Incoming::Upgrade(_))
        ));
    }

    #[test]
    fn refuses_a_post_with_400() {
        assert_eq!(status_of(&RFC_REQUEST.replacen("GET", "POST", 1)), 400);
    }

    #[test]
    fn refuses_http_1_0_with_400() {
        assert_eq!(
            status_of(&RFC_REQUEST.replacen("HTTP/1.1", "HTTP/1.0", 1)),
            400
        );
    }

    #[test]
    fn refuses_a_missing_host_with_400() {
        assert_eq!(status_of(&with("Host", None)), 400);
    }

    #[test]
    fn refuses_a_missing_connection_upgrade_with_400() {
        assert_eq!(status_of(&with("Connection", Some("keep-alive"))), 400);
    }

    #[test]
    fn refuses_another_upgrade_with_a_key_with_400() {
        assert_eq!(status_of(&with("Upgrade", Some("h2c"))), 400);
    }

    #[test]
    fn refuses_a_bad_key_with_400() {
        assert_eq!(status_of(&with("Sec-WebSocket-Key", Some("c2hvcnQ="))), 400);
        assert_eq!(status_of(&with("Sec-WebSocket-Key", None)), 400);
    }

    #[test]
    fn refuses_another_version_with_426_naming_13() {
        let error = read_three_ways(&with("Sec-WebSocket-Version", Some("8"))).unwrap_err();
        assert_eq!(error.http_status(), Some(426));
        let response = String::from_utf8(error.http_response().unwrap().to_bytes()).unwrap();
        assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert_eq!(status_of(&with("Sec-WebSocket-Version", None)), 426);
    }

    #[test]
    fn refuses_an_oversized_head_with_431() {
        let huge = with("Origin", Some(&"x".repeat(10_000)));
        let error = read_request(huge.as_bytes(), &Config::default()).unwrap_err();
        assert_eq!(error.http_status(), Some(431));
    }

    #[test]
    fn refuses_too_many_headers_with_431() {
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        let request = RFC_REQUEST.replacen("\r\n", &format!("\r\n{many}"), 1);
        let error = read_request(request.as_bytes(), &Config::default()).unwrap_err();
        assert_eq!(error.http_status(), Some(431));
    }

    #[test]
    fn refuses_what_is_not_http_with_400() {
        let error = read_request(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            &Config::default(),
        )
        .unwrap_err();
        assert_eq!(error.http_status(), Some(400));
        let response = error.http_response().unwrap().to_bytes();
        assert!(response.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    }
}
