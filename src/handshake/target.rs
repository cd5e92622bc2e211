//! The request-target, RFC 7230 §5.3, reduced to the resource name of RFC 6455 §3 and §4.2.1 (path and
//! query): origin-form is taken as sent, absolute-form loses its scheme and authority, and the
//! asterisk-form and authority-form, which name no resource, are refused with 400.
//!
//! The path is not percent-decoded and keeps its dot segments: an application compares it as sent.

use crate::error::Error;

/// The path (at least `/`) and the query (after `?`, possibly empty) of a request-target.
pub(crate) fn split_target(target: &str) -> Result<(String, Option<String>), Error> {
    // RFC 7230 §5.3.4: `*` is for OPTIONS on the whole server; no resource to upgrade or serve.
    if target == "*" {
        return Err(bad("the asterisk-form names no resource"));
    }
    let resource = if target.starts_with('/') {
        target
    } else if let Some(rest) = strip_scheme(target) {
        // RFC 7230 §5.3.2: a server must accept the absolute-form; the resource is what follows the
        // authority (RFC 6455 §3: the resource name is the path and query).
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if end == 0 {
            return Err(bad("an absolute-form target needs an authority"));
        }
        &rest[end..]
    } else {
        // RFC 7230 §5.3.3: `host:port` is the authority-form, for CONNECT only.
        return Err(bad("the request target must be a path or an absolute URL"));
    };
    // RFC 7230 §5.3 has no fragment in a request-target, nor RFC 6455 §3 in a WebSocket URI.
    if resource.contains('#') {
        return Err(bad("a request target has no fragment"));
    }
    let (path, query) = match resource.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (resource, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok((path.to_owned(), query))
}

/// The rest after `scheme://`, for the schemes a WebSocket server or its HTTP side serves.
fn strip_scheme(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    ["http", "https", "ws", "wss"]
        .iter()
        .any(|known| scheme.eq_ignore_ascii_case(known))
        .then_some(rest)
}

fn bad(reason: &'static str) -> Error {
    Error::BadRequest {
        status: 400,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(target: &str) -> (String, Option<String>) {
        split_target(target).unwrap()
    }

    #[test]
    fn origin_form_splits_path_and_query() {
        assert_eq!(split("/chat"), ("/chat".into(), None));
        assert_eq!(
            split("/chat?room=1"),
            ("/chat".into(), Some("room=1".into()))
        );
        assert_eq!(split("/?"), ("/".into(), Some(String::new())));
        assert_eq!(split("/a/../b%20c"), ("/a/../b%20c".into(), None));
    }

    #[test]
    fn absolute_form_is_reduced_to_its_path_and_query() {
        assert_eq!(
            split("http://example.com/chat?x=1"),
            ("/chat".into(), Some("x=1".into()))
        );
        assert_eq!(split("WS://example.com:80"), ("/".into(), None));
        assert_eq!(split("wss://example.com?x"), ("/".into(), Some("x".into())));
    }

    #[test]
    fn refuses_asterisk_and_authority_form_with_400() {
        for target in [
            "*",
            "example.com:443",
            "http:///path",
            "ftp://example.com/",
            "/a#b",
        ] {
            let error = split_target(target).unwrap_err();
            assert_eq!(error.http_status(), Some(400), "{target}");
        }
    }
}
