//! The HTTP/1.1 pieces both handshakes share: parsing a head with httparse under the size limits, header
//! lookups with comma-separated token lists, and writing a response.

use crate::error::Error;
use crate::Config;

/// Header lines of a request or response, names as sent, values as bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, Vec<u8>)>);

impl Headers {
    pub(crate) fn from_httparse(headers: &[httparse::Header<'_>]) -> Headers {
        Headers(
            headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
        )
    }

    /// The first value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of a header as text, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of a header, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The elements of a comma-separated list header, over all its lines, trimmed, empty ones skipped
    /// (RFC 7230 §7). Values that are not UTF-8 are skipped.
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.all(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Whether a list header contains a token, compared case-insensitively.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: &str) {
        self.push_bytes(name, value.as_bytes());
    }

    /// Appends a header line whose value need not be UTF-8.
    pub(crate) fn push_bytes(&mut self, name: &str, value: &[u8]) {
        self.0.push((name.to_owned(), value.to_vec()));
    }

    /// All header lines.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }
}

/// How a head's parse came out: complete with its length, or more bytes needed.
pub(crate) enum Head<T> {
    Complete(T, usize),
    Partial,
}

/// Runs an httparse parse (`Ok(None)` for partial) with the configured header count, and applies the size limit: a head that is
/// still incomplete past `max_handshake_size`, or complete but longer, is refused with `too_large`.
pub(crate) fn parse_head<T>(
    buf: &[u8],
    config: &Config,
    parse: impl for<'b> FnOnce(
        &'b [u8],
        &mut [httparse::Header<'b>],
    ) -> Result<Option<(T, usize)>, httparse::Error>,
    too_large: fn() -> Error,
    malformed: fn(httparse::Error) -> Error,
) -> Result<Head<T>, Error> {
    let window = &buf[..buf.len().min(config.max_handshake_size)];
    let mut headers = vec![httparse::EMPTY_HEADER; config.max_headers];
    match parse(window, &mut headers) {
        Ok(Some((value, len))) => Ok(Head::Complete(value, len)),
        Ok(None) if buf.len() >= config.max_handshake_size => Err(too_large()),
        Ok(None) => Ok(Head::Partial),
        Err(httparse::Error::TooManyHeaders) => Err(too_large()),
        Err(e) => Err(malformed(e)),
    }
}

/// Whether a value can go into a header line without breaking the head.
pub(crate) fn is_header_safe(value: &str) -> bool {
    !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// Whether a value is an HTTP token (RFC 7230 §3.2.6), as subprotocol names must be (RFC 6455 §4.1).
pub(crate) fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a header is one the handshake writes itself (`Upgrade`, `Connection`, `Sec-WebSocket-*`) or
/// one that would give the head a body (`Content-Length`, `Transfer-Encoding`): an application's extra
/// header of that name would contradict the handshake, and the peer would have to guess which counts.
pub(crate) fn is_handshake_header(name: &str) -> bool {
    [
        "Upgrade",
        "Connection",
        "Content-Length",
        "Transfer-Encoding",
    ]
    .iter()
    .any(|reserved| name.eq_ignore_ascii_case(reserved))
        || name
            .get(..14)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("Sec-WebSocket-"))
}

/// An HTTP/1.1 response: one a server sends instead of switching protocols (a refusal, or a page for a
/// plain request), or the one a client received instead of a 101 ([`Error::Refused`]). This is the one
/// place HTTP responses are rendered.
///
/// ```
/// use wscore::handshake::HttpResponse;
/// let page = HttpResponse::new(200).header("Content-Type", "text/html").body("<p>hi</p>");
/// let bytes = page.to_bytes();
/// assert!(bytes.starts_with(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\n"));
/// assert!(bytes.ends_with(b"\r\n\r\n<p>hi</p>"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The reason phrase, e.g. `Forbidden`.
    pub reason: String,
    /// The header lines, without `Content-Length` and `Connection`, which [`HttpResponse::to_bytes`]
    /// adds.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status`, its usual reason phrase, no headers and an empty body.
    pub fn new(status: u16) -> HttpResponse {
        HttpResponse {
            status,
            reason: reason_phrase(status).to_owned(),
            headers: Headers::default(),
            body: Vec::new(),
        }
    }

    /// Adds a header line. Names that are not HTTP tokens and values with line breaks are dropped when
    /// the response is rendered, so an application cannot split the response by mistake.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push(name, value);
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> HttpResponse {
        self.body = body.into();
        self
    }

    /// The response on the wire, with `Content-Length` and `Connection: close` (a refused or plain
    /// request ends the connection).
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = if is_header_safe(&self.reason) {
            self.reason.as_str()
        } else {
            ""
        };
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", self.status).into_bytes();
        for (name, value) in self.sendable_headers() {
            write_header(&mut out, name, value);
        }
        write_header(
            &mut out,
            "Content-Length",
            self.body.len().to_string().as_bytes(),
        );
        write_header(&mut out, "Connection", b"close");
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// The header lines that are sent: not the framing ones the renderer writes itself
    /// (`Content-Length`, `Connection`), nor any that would break the head.
    pub(crate) fn sendable_headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().filter(|(name, value)| {
            let framing = name.eq_ignore_ascii_case("Content-Length")
                || name.eq_ignore_ascii_case("Connection");
            is_token(name) && is_header_value_safe(value) && !framing
        })
    }
}

pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn is_header_value_safe(value: &[u8]) -> bool {
    !value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

/// The usual reason phrase of a status (RFC 9110 §15).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        Headers(
            lines
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn tokens_span_lines_and_commas() {
        let h = headers(&[
            ("Connection", "keep-alive, Upgrade"),
            ("connection", " x ,, y"),
        ]);
        assert_eq!(
            h.tokens("CONNECTION").collect::<Vec<_>>(),
            ["keep-alive", "Upgrade", "x", "y"]
        );
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("connection", "upgrad"));
    }

    #[test]
    fn tokens_follow_rfc_7230() {
        assert!(is_token("chat.v2"));
        assert!(!is_token("a b"));
        assert!(!is_token("a,b"));
        assert!(!is_token(""));
    }
}
