//! WebSocket URIs, RFC 6455 §3: `ws://` and `wss://`, a host, a port, and a resource name (path and
//! query) ready to be sent as a request-target.

use super::http::is_header_safe;
use crate::error::Error;

/// A parsed `ws://` or `wss://` URL (RFC 6455 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`: the transport must be TLS, opened before the handshake is sent (RFC 6455 §4.1); the
    /// drivers' `connect` does it with the `tls` feature.
    pub secure: bool,
    /// The host, without brackets for IPv6.
    pub host: String,
    /// The port: by default 80 for `ws://` and 443 for `wss://` (RFC 6455 §3).
    pub port: u16,
    /// The resource name: path and query, at least `/`, with characters outside ASCII percent-encoded.
    pub resource: String,
}

impl WsUrl {
    /// Parses `ws://host[:port][/path][?query]` or the same with `wss://`. A fragment is not allowed
    /// (RFC 6455 §3). Characters outside ASCII in the path and query are percent-encoded as UTF-8 (RFC
    /// 3986 §2.1, as browsers do); `%XX` already there is kept as it is. A host outside ASCII must be
    /// given in its ASCII (punycode) form.
    ///
    /// ```
    /// let url = wscore::handshake::WsUrl::parse("ws://[::1]:9001/chat?x=1").unwrap();
    /// assert_eq!((url.host.as_str(), url.port, url.resource.as_str()), ("::1", 9001, "/chat?x=1"));
    /// let url = wscore::handshake::WsUrl::parse("wss://example.com/café?q=%C3%A9").unwrap();
    /// assert_eq!(url.resource, "/caf%C3%A9?q=%C3%A9");
    /// ```
    pub fn parse(url: &str) -> Result<WsUrl, Error> {
        let (secure, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "ws://") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "wss://") {
            (true, rest)
        } else {
            return Err(Error::InvalidUrl("the scheme must be ws:// or wss://"));
        };
        if rest.contains('#') {
            return Err(Error::InvalidUrl("a WebSocket URL has no fragment"));
        }
        if !is_header_safe(rest) || rest.chars().any(char::is_whitespace) {
            return Err(Error::InvalidUrl("whitespace or control characters"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(split);
        let resource = match resource {
            "" => "/".to_owned(),
            r if r.starts_with('?') => format!("/{}", percent_encode_non_ascii(r)),
            r => percent_encode_non_ascii(r),
        };
        if authority.contains('@') {
            return Err(Error::InvalidUrl("user information is not supported"));
        }
        if !authority.is_ascii() {
            return Err(Error::InvalidUrl(
                "a host outside ASCII must be given in its punycode form",
            ));
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            Some(port) => port
                .parse()
                .map_err(|_| Error::InvalidUrl("invalid port"))?,
            None if secure => 443,
            None => 80,
        };
        if host.is_empty() {
            return Err(Error::InvalidUrl("missing host"));
        }
        Ok(WsUrl {
            secure,
            host: host.to_owned(),
            port,
            resource,
        })
    }

    /// The `Host` header's value: the port only if it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.secure { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A request-target is ASCII (RFC 7230 §3.1.1): other characters go as `%XX` of their UTF-8 bytes.
fn percent_encode_non_ascii(resource: &str) -> String {
    let mut out = String::with_capacity(resource.len());
    for byte in resource.bytes() {
        if byte.is_ascii() {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), Error> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or(Error::InvalidUrl("unclosed IPv6 bracket"))?;
        match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(Error::InvalidUrl("junk after IPv6 address")),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => Ok((host, Some(port))),
            None => Ok((authority, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let url = WsUrl::parse("ws://example.com").unwrap();
        assert_eq!(
            url,
            WsUrl {
                secure: false,
                host: "example.com".into(),
                port: 80,
                resource: "/".into()
            }
        );
        let url = WsUrl::parse("WSS://example.com?x").unwrap();
        assert_eq!(
            (url.secure, url.port, url.resource.as_str()),
            (true, 443, "/?x")
        );
        // The default port is left out of Host; another one is kept (RFC 7230 §5.4).
        assert_eq!(url.host_header(), "example.com");
        let url = WsUrl::parse("wss://example.com:80/").unwrap();
        assert_eq!(
            (url.port, url.host_header().as_str()),
            (80, "example.com:80")
        );
        assert_eq!(
            WsUrl::parse("ws://example.com:443/").unwrap().host_header(),
            "example.com:443"
        );
        assert_eq!(
            WsUrl::parse("ws://h:8080/a").unwrap().host_header(),
            "h:8080"
        );
        assert_eq!(WsUrl::parse("ws://[::1]/").unwrap().host_header(), "[::1]");
    }

    #[test]
    fn percent_encodes_non_ascii_in_path_and_query_and_keeps_existing_escapes() {
        let url = WsUrl::parse("ws://x/δ/%2F?q=ü&r=%41").unwrap();
        assert_eq!(url.resource, "/%CE%B4/%2F?q=%C3%BC&r=%41");
        assert_eq!(WsUrl::parse("ws://x?é").unwrap().resource, "/?%C3%A9");
    }

    #[test]
    fn refuses_bad_urls() {
        for url in [
            "http://x/",
            "ws://",
            "ws://x:99999/",
            "ws://x/#frag",
            "ws://x/a b",
            "ws://x/a\u{a0}b",
            "ws://u@x/",
            "ws://[::1/",
            "ws://bücher.example/",
        ] {
            assert!(
                matches!(WsUrl::parse(url), Err(Error::InvalidUrl(_))),
                "{url}"
            );
        }
    }
}
