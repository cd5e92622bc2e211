//! An allow-list of origins, against cross-site WebSocket hijacking: a browser sends cookies with a
//! WebSocket request from any page, and only the `Origin` header says which site's page opened it
//! (RFC 6455 §10.2, RFC 6454).

use super::http::HttpResponse;
use super::request::Request;
use crate::error::Error;

/// The origins whose pages may open a WebSocket; [`AllowedOrigins::check`] answers the others with 403.
///
/// Origins are compared as RFC 6454 §6.2 serializes them: scheme and host case-insensitively, the port
/// exactly (a scheme's default port, 80 for `http` and 443 for `https`, written or not, is the same).
///
/// - A **missing** `Origin` is allowed by default: browsers always send one with a WebSocket request
///   (RFC 6455 §4.1 item 8), so a request without one did not come from a page and cannot carry a
///   hijacked browser session; non-browser clients usually send none. [`AllowedOrigins::require_origin`]
///   refuses it too.
/// - **`Origin: null`** (sandboxed frames, `file:` pages, some redirects) is refused unless `"null"` is in
///   the list: many unrelated pages share that origin.
/// - A request with more than one `Origin` header is refused.
///
/// ```
/// use wscore::handshake::{read_request, AllowedOrigins, Decision, Incoming};
/// let origins = AllowedOrigins::new(["https://example.com", "http://localhost:8080"])?;
///
/// let head = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///     Origin: https://evil.example\r\n\r\n";
/// let Some((Incoming::Upgrade(upgrade), _)) = read_request(head, &Default::default())? else {
///     panic!("not an upgrade")
/// };
/// let decision = match origins.check(upgrade.request()) {
///     Ok(()) => Decision::accept(),
///     Err(forbidden) => Decision::Refuse(forbidden),
/// };
/// assert!(upgrade.respond(&decision)?.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
/// # Ok::<(), wscore::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<Origin>,
    require_origin: bool,
}

/// A serialized origin: `null`, or scheme, host and port with the default port made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

impl AllowedOrigins {
    /// The list, each entry `scheme://host[:port]` (no path) or `null`. An entry that is not one is
    /// [`Error::Misuse`].
    pub fn new<'a>(origins: impl IntoIterator<Item = &'a str>) -> Result<AllowedOrigins, Error> {
        let origins = origins
            .into_iter()
            .map(|origin| {
                parse(origin).ok_or(Error::Misuse(
                    "an allowed origin must be scheme://host[:port] or null",
                ))
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowedOrigins {
            origins,
            require_origin: false,
        })
    }

    /// Whether a request without `Origin` is refused (default: allowed, see above).
    #[must_use]
    pub fn require_origin(mut self, require: bool) -> AllowedOrigins {
        self.require_origin = require;
        self
    }

    /// `Ok` if the request's origin is allowed; otherwise the 403 to answer, with a short plain-text
    /// body.
    pub fn check(&self, request: &Request) -> Result<(), HttpResponse> {
        let mut sent = request.headers.all("Origin");
        let allowed = match (sent.next(), sent.next()) {
            (None, _) => !self.require_origin,
            (Some(origin), None) => std::str::from_utf8(origin)
                .ok()
                .and_then(|origin| parse(origin.trim()))
                .is_some_and(|origin| self.origins.contains(&origin)),
            (Some(_), Some(_)) => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(HttpResponse::new(403)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body("origin not allowed"))
        }
    }
}

fn parse(origin: &str) -> Option<Origin> {
    if origin.eq_ignore_ascii_case("null") {
        return Some(Origin::Null);
    }
    let (scheme, authority) = origin.split_once("://")?;
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !valid_scheme || authority.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside its brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port.parse::<u16>().ok()?)),
        _ => (authority, None),
    };
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    Some(Origin::Tuple {
        port: port.or(default_port),
        scheme,
        host: host.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::http::Headers;

    fn request(origins: &[&str]) -> Request {
        let mut headers = Headers::default();
        for origin in origins {
            headers.push("Origin", origin);
        }
        Request {
            method: "GET".into(),
            path: "/".into(),
            query: None,
            headers,
        }
    }

    fn allowed(list: &AllowedOrigins, origins: &[&str]) -> bool {
        list.check(&request(origins)).is_ok()
    }

    #[test]
    fn compares_scheme_and_host_case_insensitively_and_the_port_exactly() {
        let list = AllowedOrigins::new(["https://Example.com", "http://localhost:8080"]).unwrap();
        assert!(allowed(&list, &["https://example.com"]));
        assert!(allowed(&list, &["HTTPS://EXAMPLE.COM"]));
        assert!(
            allowed(&list, &["https://example.com:443"]),
            "the default port"
        );
        assert!(allowed(&list, &["http://localhost:8080"]));
        assert!(!allowed(&list, &["http://example.com"]), "another scheme");
        assert!(
            !allowed(&list, &["https://example.com:8443"]),
            "another port"
        );
        assert!(!allowed(&list, &["http://localhost"]), "another port");
        assert!(!allowed(&list, &["https://example.com.evil.test"]));
        assert!(!allowed(&list, &["https://evil.test/https://example.com"]));
    }

    #[test]
    fn refuses_with_403_and_a_plain_text_body() {
        let list = AllowedOrigins::new(["https://example.com"]).unwrap();
        let response = list.check(&request(&["https://evil.test"])).unwrap_err();
        assert_eq!(response.status, 403);
        assert_eq!(response.body, b"origin not allowed");
        assert_eq!(
            response.headers.get_str("Content-Type"),
            Some("text/plain; charset=utf-8")
        );
    }

    #[test]
    fn allows_a_missing_origin_unless_required() {
        let list = AllowedOrigins::new(["https://example.com"]).unwrap();
        assert!(allowed(&list, &[]));
        assert!(!allowed(&list.require_origin(true), &[]));
    }

    #[test]
    fn refuses_the_null_origin_unless_listed() {
        let list = AllowedOrigins::new(["https://example.com"]).unwrap();
        assert!(!allowed(&list, &["null"]));
        let with_null = AllowedOrigins::new(["https://example.com", "null"]).unwrap();
        assert!(allowed(&with_null, &["null"]));
    }

    #[test]
    fn refuses_two_origin_headers() {
        let list = AllowedOrigins::new(["https://example.com"]).unwrap();
        assert!(!allowed(
            &list,
            &["https://example.com", "https://example.com"]
        ));
    }

    #[test]
    fn compares_ipv6_origins() {
        let list = AllowedOrigins::new(["http://[::1]:8080"]).unwrap();
        assert!(allowed(&list, &["http://[::1]:8080"]));
        assert!(!allowed(&list, &["http://[::1]"]));
    }

    #[test]
    fn refuses_an_entry_that_is_not_an_origin() {
        for entry in [
            "example.com",
            "https://example.com/",
            "https://",
            "https://x:99999",
            "*",
        ] {
            assert!(
                matches!(AllowedOrigins::new([entry]), Err(Error::Misuse(_))),
                "{entry}"
            );
        }
    }
}
