//! The client's request as the server reads it, RFC 6455 §4.2.1: parsed with httparse, its target
//! reduced to path and query, and checked in the order of that section.

use super::accept::is_valid_key;
use super::http::{parse_head, Head, Headers};
use super::target::split_target;
use super::upgrade::Upgrade;
use crate::error::Error;
use crate::Config;

/// A parsed HTTP request head.
///
/// ```
/// use wscore::handshake::{read_request, Incoming};
/// let head = b"GET http://example.com/chat?room=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
/// let Some((Incoming::Http(request), _)) = read_request(head, &Default::default()).unwrap() else {
///     panic!("a plain request")
/// };
/// assert_eq!((request.path.as_str(), request.query.as_deref()), ("/chat", Some("room=1")));
/// assert_eq!(request.host(), Some("example.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path, at least `/`: from an origin-form target as sent, from an absolute-form one what follows
    /// the authority (RFC 6455 §4.2.1, the /resource name/). Not percent-decoded; dot segments kept.
    pub path: String,
    /// The query, after `?` (possibly empty); `None` without a `?`.
    pub query: Option<String>,
    /// The header lines.
    pub headers: Headers,
}

impl Request {
    /// The `Origin` header (RFC 6454), which browsers send with every WebSocket request; see
    /// [`super::AllowedOrigins`].
    pub fn origin(&self) -> Option<&str> {
        self.headers.get_str("Origin").map(str::trim)
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&str> {
        self.headers.get_str("Host").map(str::trim)
    }
}

/// What a complete request turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A valid WebSocket upgrade, to answer with [`Upgrade::respond`] (or [`Upgrade::accept`]).
    Upgrade(Upgrade),
    /// An ordinary HTTP request (no `Upgrade: websocket` nor `Sec-WebSocket-Key` header), for the
    /// application to answer, for example with a page ([`super::HttpResponse`]). Its body, if any, is in
    /// the bytes after the head.
    Http(Request),
}

/// Parses the request head at the start of `buf`. `Ok(None)`: more bytes are needed. Otherwise the
/// request and the length of its head: bytes after it are the start of the WebSocket stream (or a plain
/// request's body) and belong to the [`crate::Connection`] (or the application).
/// [`super::ServerHandshake`] runs this over the bytes it is given, with a deadline.
///
/// A refused request is an [`Error::BadRequest`] whose [`Error::http_response`] is the answer to send:
/// 400 for a malformed or invalid request, 426 with `Sec-WebSocket-Version: 13` for another version, 431
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
                httparse::Status::Complete(len) => Some((
                    (
                        request.method.unwrap_or_default().to_owned(),
                        request.path.unwrap_or_default().to_owned(),
                        request.version.unwrap_or(0),
                        Headers::from_httparse(request.headers),
                    ),
                    len,
                )),
            })
        },
        || bad(431, "Request Header Fields Too Large"),
        |_| bad(400, "malformed HTTP request"),
    )?;
    let ((method, target, version, headers), len) = match head {
        Head::Complete(parsed, len) => (parsed, len),
        Head::Partial => return Ok(None),
    };
    let version = match version {
        1 => Version::Http11,
        _ => Version::Other,
    };
    let head = ParsedHead {
        method,
        target: &target,
        version,
        headers,
    };
    Ok(Some((head.check(config)?, len)))
}

/// The HTTP version of a request, as far as the handshake cares: an upgrade needs HTTP/1.1 (RFC 6455
/// §4.1 item 1), and only HTTP/1.1 requires `Host` (RFC 7230 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    Http11,
    /// HTTP/1.0 (or 0.9, 2, 3 from an `http::Request`).
    Other,
}

/// A request head however it arrived: parsed here from bytes ([`read_request`]) or by an HTTP server
/// (`Incoming::from_http`, feature `http`). Both ways run the same checks, in [`ParsedHead::check`].
pub(super) struct ParsedHead<'a> {
    pub(super) method: String,
    /// The request-target as sent (origin-form, absolute-form, ...).
    pub(super) target: &'a str,
    pub(super) version: Version,
    pub(super) headers: Headers,
}

impl ParsedHead<'_> {
    /// What the request is: an upgrade that passed every check of RFC 6455 §4.2.1, a plain request for
    /// the application, or the refusal to answer.
    pub(super) fn check(self, config: &Config) -> Result<Incoming, Error> {
        let (path, query) = split_target(self.target)?;
        let request = Request {
            method: self.method,
            path,
            query,
            headers: self.headers,
        };
        check_host(&request.headers, self.version)?;
        // Not an upgrade attempt at all: the application serves it.
        if !request.headers.has_token("Upgrade", "websocket")
            && request.headers.get("Sec-WebSocket-Key").is_none()
        {
            return Ok(Incoming::Http(request));
        }
        let key = check_upgrade(&request, self.version)?;
        Ok(Incoming::Upgrade(Upgrade::new(request, key, config)))
    }
}

/// RFC 7230 §5.4: an HTTP/1.1 request without `Host`, or any request with more than one, is answered
/// with 400. (An empty one is allowed here, for targets without an authority; an upgrade needs a host.)
fn check_host(headers: &Headers, version: Version) -> Result<(), Error> {
    match headers.all("Host").count() {
        0 if version == Version::Http11 => Err(bad(400, "missing Host header")),
        0 | 1 => Ok(()),
        _ => Err(bad(400, "more than one Host header")),
    }
}

/// RFC 6455 §4.2.1: the checks on the client's handshake, in the order of that section. The key, if the
/// upgrade may go ahead.
fn check_upgrade(request: &Request, version: Version) -> Result<String, Error> {
    let headers = &request.headers;
    if request.method != "GET" {
        return Err(bad(400, "the upgrade method must be GET"));
    }
    if version != Version::Http11 {
        return Err(bad(400, "the upgrade must be HTTP/1.1"));
    }
    // §4.2.1 item 2: a Host naming the server; check_host already refused a missing or repeated one.
    if !matches!(request.host(), Some(host) if !host.is_empty()) {
        return Err(bad(400, "an empty Host header"));
    }
    // The handshake is a GET without a body (§4.1 item 1): a body would be read as WebSocket frames.
    if headers.get("Transfer-Encoding").is_some()
        || headers
            .all("Content-Length")
            .any(|length| length.trim_ascii() != b"0")
    {
        return Err(bad(400, "the upgrade request must not have a body"));
    }
    if !headers.has_token("Upgrade", "websocket") {
        return Err(bad(400, "the Upgrade header must name websocket"));
    }
    if !headers.has_token("Connection", "upgrade") {
        return Err(bad(400, "the Connection header must contain upgrade"));
    }
    // §11.3.1 and §11.3.5: Sec-WebSocket-Key and Sec-WebSocket-Version MUST NOT appear more than once.
    if headers.all("Sec-WebSocket-Key").count() > 1 {
        return Err(bad(400, "more than one Sec-WebSocket-Key header"));
    }
    let key = match headers.get_str("Sec-WebSocket-Key").map(str::trim) {
        Some(key) if is_valid_key(key.as_bytes()) => key.to_owned(),
        _ => return Err(bad(400, "Sec-WebSocket-Key must be base64 of 16 bytes")),
    };
    match headers.all("Sec-WebSocket-Version").count() {
        0 => return Err(bad(400, "missing Sec-WebSocket-Version header")),
        1 => {}
        _ => return Err(bad(400, "more than one Sec-WebSocket-Version header")),
    }
    // §4.2.2 item 4 and §4.4: an unsupported version is answered with 426 and the versions we speak.
    if headers.get("Sec-WebSocket-Version").map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err(bad(
            426,
            "unsupported WebSocket version; this server speaks 13",
        ));
    }
    Ok(key)
}

pub(super) fn bad(status: u16, reason: &'static str) -> Error {
    Error::BadRequest { status, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

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

    /// The RFC request with `header` replaced by `value`, or removed.
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

    /// The RFC request with one more header line.
    fn adding(line: &str) -> String {
        RFC_REQUEST.replacen("\r\n", &format!("\r\n{line}\r\n"), 1)
    }

    fn upgrade(request: &str) -> Upgrade {
        match read_three_ways(request).unwrap() {
            Incoming::Upgrade(upgrade) => upgrade,
            other => panic!("not an upgrade: {other:?}"),
        }
    }

    #[test]
    fn accepts_the_rfc_request() {
        let upgrade = upgrade(RFC_REQUEST);
        let request = upgrade.request();
        assert_eq!(
            (request.path.as_str(), request.query.as_deref()),
            ("/chat", None)
        );
        assert_eq!(request.origin(), Some("http://example.com"));
        assert_eq!(request.host(), Some("server.example.com"));
        assert_eq!(
            upgrade.protocols().collect::<Vec<_>>(),
            ["chat", "superchat"]
        );
    }

    #[test]
    fn reduces_an_absolute_form_target_to_path_and_query() {
        let upgrade =
            upgrade(&RFC_REQUEST.replacen("/chat", "ws://server.example.com/chat?a=b", 1));
        let request = upgrade.request();
        assert_eq!(
            (request.path.as_str(), request.query.as_deref()),
            ("/chat", Some("a=b"))
        );
    }

    #[test]
    fn refuses_asterisk_and_authority_form_targets_with_400() {
        assert_eq!(status_of(&RFC_REQUEST.replacen("/chat", "*", 1)), 400);
        assert_eq!(
            status_of(&RFC_REQUEST.replacen("/chat", "example.com:80", 1)),
            400
        );
        assert_eq!(status_of("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    }

    #[test]
    fn hands_a_plain_get_to_the_application_with_its_query() {
        let Incoming::Http(request) =
            read_three_ways("GET /index?x=1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (
                request.method.as_str(),
                request.path.as_str(),
                request.query.as_deref()
            ),
            ("GET", "/index", Some("x=1"))
        );
    }

    #[test]
    fn refuses_a_plain_http_1_1_request_without_host_or_with_two_with_400() {
        assert_eq!(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(
            status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400
        );
        assert!(matches!(
            read_three_ways("GET / HTTP/1.0\r\n\r\n"),
            Ok(Incoming::Http(_))
        ));
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
    fn refuses_a_missing_empty_or_repeated_host_with_400() {
        assert_eq!(status_of(&with("Host", None)), 400);
        assert_eq!(status_of(&with("Host", Some(""))), 400);
        assert_eq!(status_of(&adding("Host: other.example.com")), 400);
    }

    #[test]
    fn refuses_an_upgrade_with_a_body_with_400() {
        assert_eq!(status_of(&adding("Content-Length: 5")), 400);
        assert_eq!(status_of(&adding("Transfer-Encoding: chunked")), 400);
        assert!(matches!(
            read_three_ways(&adding("Content-Length: 0")),
            Ok(Incoming::Upgrade(_))
        ));
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
    fn refuses_a_repeated_key_with_400() {
        // RFC 6455 §11.3.1: even the same key twice.
        assert_eq!(
            status_of(&adding("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")),
            400
        );
    }

    #[test]
    fn refuses_a_repeated_version_with_400() {
        // RFC 6455 §11.3.5: even 13 twice.
        assert_eq!(status_of(&adding("Sec-WebSocket-Version: 13")), 400);
    }

    #[test]
    fn refuses_a_missing_version_with_400() {
        assert_eq!(status_of(&with("Sec-WebSocket-Version", None)), 400);
    }

    #[test]
    fn refuses_another_version_with_426_naming_13() {
        let error = read_three_ways(&with("Sec-WebSocket-Version", Some("8"))).unwrap_err();
        assert_eq!(error.http_status(), Some(426));
        let response = String::from_utf8(error.http_response().unwrap().to_bytes()).unwrap();
        assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
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
