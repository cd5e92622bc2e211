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

/// A complete HTTP/1.1 response with a plain-text or HTML body, for refusals and for applications that
/// answer a non-upgrade request themselves.
///
/// ```
/// let page = wscore::handshake::http_response(200, "OK", &[("Content-Type", "text/html")], b"<p>hi</p>");
/// assert!(page.starts_with(b"HTTP/1.1 200 OK\r\n"));
/// ```
pub fn http_response(status: u16, reason: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out
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
