//! The handshake over the `http` crate's types (feature `http`), for servers whose HTTP layer already
//! parsed the request: hyper, axum, and what is built on them. In: [`Incoming::from_http`] runs the very
//! checks [`super::read_request`] runs on bytes (one [`ParsedHead::check`]), so the same request gives the
//! same [`Upgrade`] or the same refusal. Out: [`Upgrade::respond_http`] and [`HttpResponse::to_http`]
//! give the 101 or the refusal as an `http::Response`, for the handler to return; the HTTP server writes
//! it, then hands over the connection (`hyper::upgrade::on`).
//!
//! What differs from bytes, because the HTTP server owns the wire: header names come lowercased (the
//! `http` crate keeps them so), the response's reason phrase is the status's usual one, and framing
//! (`Content-Length`, `Connection: close` after a refusal) is the server's to write.

use http::header::{HeaderName, HeaderValue};

use super::http::{Headers, HttpResponse};
use super::policy::Decision;
use super::request::{bad, Incoming, ParsedHead, Version};
use super::upgrade::{checked_refusal, Upgrade};
use crate::error::Error;
use crate::Config;

impl Incoming {
    /// What a request an HTTP server parsed is: an [`Upgrade`] that passed every check of RFC 6455
    /// §4.2.1, or a plain request ([`Incoming::Http`]) for the application. The checks, their order and
    /// the refusals are [`super::read_request`]'s: an [`Error::BadRequest`] whose
    /// [`Error::http_response`] is the answer (400; 426 naming version 13; 431 for a head that would be
    /// over `Config::max_handshake_size` as HTTP/1.1 or has more than `Config::max_headers` lines), to
    /// return with [`HttpResponse::to_http`]. The body is not looked at: an upgrade declaring one is
    /// refused from its headers.
    ///
    /// ```
    /// use wscore::handshake::Incoming;
    /// let request = http::Request::get("/chat?room=1")
    ///     .header("Host", "example.com")
    ///     .header("Upgrade", "websocket")
    ///     .header("Connection", "Upgrade")
    ///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("Sec-WebSocket-Version", "13")
    ///     .body(())
    ///     .unwrap();
    /// let Incoming::Upgrade(upgrade) = Incoming::from_http(&request, &Default::default())? else {
    ///     panic!("an upgrade")
    /// };
    /// assert_eq!(upgrade.request().query.as_deref(), Some("room=1"));
    ///
    /// let page = http::Request::get("/").header("Host", "example.com").body(()).unwrap();
    /// assert!(matches!(Incoming::from_http(&page, &Default::default())?, Incoming::Http(_)));
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn from_http<B>(request: &http::Request<B>, config: &Config) -> Result<Incoming, Error> {
        from_head(
            request.method(),
            request.uri(),
            request.version(),
            request.headers(),
            config,
        )
    }

    /// [`Incoming::from_http`] for a request taken apart (`http::Request::into_parts`), as middleware
    /// and extractors often hold it.
    ///
    /// ```
    /// use wscore::handshake::Incoming;
    /// let (parts, _body) = http::Request::get("/chat")
    ///     .header("Host", "example.com")
    ///     .header("Upgrade", "websocket")
    ///     .header("Connection", "Upgrade")
    ///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("Sec-WebSocket-Version", "8")
    ///     .body(())
    ///     .unwrap()
    ///     .into_parts();
    /// let error = Incoming::from_http_parts(&parts, &Default::default()).unwrap_err();
    /// assert_eq!(error.http_status(), Some(426));
    /// ```
    pub fn from_http_parts(
        parts: &http::request::Parts,
        config: &Config,
    ) -> Result<Incoming, Error> {
        from_head(
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
            config,
        )
    }
}

fn from_head(
    method: &http::Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &http::HeaderMap,
    config: &Config,
) -> Result<Incoming, Error> {
    // The request-target as it was on the wire: a path and query, or an absolute URL, which the shared
    // check reduces as it does for bytes (RFC 7230 §5.3).
    let target = uri.to_string();
    // The bytes path refuses with 431 before any other check (RFC 6585 §5); so does this one, with the
    // length the head has as HTTP/1.1 (`METHOD target HTTP/1.1`, `name: value` lines, a blank line).
    let head_len = method.as_str().len()
        + target.len()
        + " HTTP/1.1\r\n".len()
        + 1
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
            .sum::<usize>()
        + "\r\n".len();
    if head_len > config.max_handshake_size || headers.len() > config.max_headers {
        return Err(bad(431, "Request Header Fields Too Large"));
    }
    let mut lines = Headers::default();
    for (name, value) in headers {
        lines.push_bytes(name.as_str(), value.as_bytes());
    }
    let head = ParsedHead {
        method: method.as_str().to_owned(),
        target: &target,
        version: match version {
            http::Version::HTTP_11 => Version::Http11,
            // HTTP/2 and 3 upgrade with an extended CONNECT (RFC 8441, RFC 9220), which wscore does not
            // speak: such a request is refused as any upgrade over another version than 1.1 is.
            _ => Version::Other,
        },
        headers: lines,
    };
    head.check(config)
}

impl Upgrade {
    /// The answer to the upgrade as `decision` says, as an `http::Response` for an HTTP server to send:
    /// the 101 with the same header lines as [`Upgrade::respond`] (`Upgrade`, `Connection`,
    /// `Sec-WebSocket-Accept`, the chosen `Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions`, then the
    /// [`super::Acceptance`]'s own) and an empty body, or the refusal as [`HttpResponse::to_http`] renders
    /// it.
    ///
    /// The body is a `Vec<u8>`, the refusal's own bytes moved without a copy: axum takes it with
    /// `response.map(axum::body::Body::from)`, hyper with `response.map(http_body_util::Full::from)`,
    /// and neither needs wscore to depend on their body types.
    ///
    /// [`Error::Misuse`] as from [`Upgrade::respond`], and for an extra header value the `http` crate
    /// does not take (a control character).
    ///
    /// ```
    /// use wscore::handshake::{Acceptance, Decision, Incoming};
    /// let request = http::Request::get("/chat")
    ///     .header("Host", "example.com")
    ///     .header("Upgrade", "websocket")
    ///     .header("Connection", "Upgrade")
    ///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("Sec-WebSocket-Protocol", "chat")
    ///     .header("Sec-WebSocket-Version", "13")
    ///     .body(())
    ///     .unwrap();
    /// let Incoming::Upgrade(upgrade) = Incoming::from_http(&request, &Default::default())? else {
    ///     panic!("an upgrade")
    /// };
    /// let response = upgrade.respond_http(&Acceptance::new().protocol("chat").into())?;
    /// assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    /// assert_eq!(response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
    ///
    /// let refusal = upgrade.respond_http(&Decision::refuse(403))?;
    /// assert_eq!(refusal.status(), http::StatusCode::FORBIDDEN);
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn respond_http(&self, decision: &Decision) -> Result<http::Response<Vec<u8>>, Error> {
        let acceptance = match decision {
            Decision::Accept(acceptance) => acceptance,
            Decision::Refuse(response) => return Ok(checked_refusal(response)?.to_http()),
        };
        let mut response = http::Response::new(Vec::new());
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        for (name, value) in self.switching_protocols_headers(acceptance)?.iter() {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) else {
                return Err(Error::Misuse("a header that cannot be sent"));
            };
            response.headers_mut().append(name, value);
        }
        Ok(response)
    }
}

impl HttpResponse {
    /// This response as an `http::Response`, for an HTTP server to send: the status, the header lines
    /// [`HttpResponse::to_bytes`] would write but for `Content-Length` and `Connection` (the server
    /// frames the body itself and decides whether the connection stays open), and the body. A status
    /// outside 100–999, which HTTP cannot carry, becomes 500, and a header line the `http` crate does
    /// not take is dropped, as `to_bytes` drops lines that would break the head.
    ///
    /// A handler returns a refused upgrade's answer with it:
    ///
    /// ```
    /// use wscore::handshake::{HttpResponse, Incoming};
    /// let request = http::Request::post("/chat")
    ///     .header("Host", "example.com")
    ///     .header("Upgrade", "websocket")
    ///     .body(())
    ///     .unwrap();
    /// let response = match Incoming::from_http(&request, &Default::default()) {
    ///     Err(error) => error.http_response().unwrap_or_else(|| HttpResponse::new(500)).to_http(),
    ///     Ok(_) => unreachable!("a POST is no upgrade"),
    /// };
    /// assert_eq!(response.status(), http::StatusCode::BAD_REQUEST);
    /// assert_eq!(response.body(), b"the upgrade method must be GET");
    /// ```
    pub fn to_http(&self) -> http::Response<Vec<u8>> {
        let mut response = http::Response::new(self.body.clone());
        *response.status_mut() = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.sendable_headers() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{read_request, Acceptance};

    const RFC_REQUEST: &str = "GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\n\
        Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Protocol: v3\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
        Sec-WebSocket-Version: 13\r\nCookie: id=7\r\n\r\n";

    fn config() -> Config {
        let config = Config::default();
        #[cfg(feature = "deflate")]
        let config = config.deflate(crate::deflate::Deflate::default());
        config
    }

    /// The request an HTTP server would hand over for these bytes: parsed here with httparse, as hyper
    /// parses it, into an `http::Request`.
    fn as_http(bytes: &str) -> http::Request<()> {
        let mut headers = [httparse::EMPTY_HEADER; 256];
        let mut parsed = httparse::Request::new(&mut headers);
        assert!(parsed.parse(bytes.as_bytes()).unwrap().is_complete());
        let mut request = http::Request::builder()
            .method(parsed.method.unwrap())
            .uri(parsed.path.unwrap())
            .version(match parsed.version.unwrap() {
                1 => http::Version::HTTP_11,
                _ => http::Version::HTTP_10,
            });
        for header in parsed.headers.iter() {
            request = request.header(header.name, header.value);
        }
        request.body(()).unwrap()
    }

    /// The request read both ways.
    fn both_ways(bytes: &str) -> (Result<Incoming, Error>, Result<Incoming, Error>) {
        let from_bytes =
            read_request(bytes.as_bytes(), &config()).map(|read| read.expect("complete").0);
        (from_bytes, Incoming::from_http(&as_http(bytes), &config()))
    }

    fn upgrades(bytes: &str) -> (Upgrade, Upgrade) {
        match both_ways(bytes) {
            (Ok(Incoming::Upgrade(a)), Ok(Incoming::Upgrade(b))) => (a, b),
            other => panic!("not an upgrade both ways: {other:?}"),
        }
    }

    /// Header lines with lowercased names: the `http` crate keeps names so.
    fn lowercased<'a>(lines: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<(String, Vec<u8>)> {
        lines
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_vec()))
            .collect()
    }

    /// A 101's header lines as bytes, parsed back.
    fn response_lines(bytes: &[u8]) -> (u16, Vec<(String, Vec<u8>)>) {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        assert!(response.parse(bytes).unwrap().is_complete());
        let lines = response.headers.iter().map(|h| (h.name, h.value));
        (response.code.unwrap(), lowercased(lines))
    }

    fn http_lines(response: &http::Response<Vec<u8>>) -> Vec<(String, Vec<u8>)> {
        let lines = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()));
        lowercased(lines)
    }

    #[test]
    fn an_upgrade_reads_the_same_from_bytes_and_from_http() {
        let (from_bytes, from_http) = upgrades(RFC_REQUEST);
        let (a, b) = (from_bytes.request(), from_http.request());
        assert_eq!(
            (&a.method, &a.path, &a.query),
            (&b.method, &b.path, &b.query)
        );
        assert_eq!(
            (b.path.as_str(), b.query.as_deref()),
            ("/chat", Some("room=1"))
        );
        assert_eq!(lowercased(a.headers.iter()), lowercased(b.headers.iter()));
        assert_eq!((a.origin(), a.host()), (b.origin(), b.host()));
        assert_eq!(
            from_http.protocols().collect::<Vec<_>>(),
            ["chat", "superchat", "v3"]
        );
        assert_eq!(
            from_bytes.protocols().collect::<Vec<_>>(),
            from_http.protocols().collect::<Vec<_>>()
        );
        assert_eq!(from_bytes.extensions(), from_http.extensions());
        #[cfg(feature = "deflate")]
        assert!(from_http.extensions().deflate.is_some());
    }

    #[test]
    fn an_absolute_form_target_reduces_the_same_both_ways() {
        let request = RFC_REQUEST.replacen("/chat?room=1", "http://server.example.com/chat?a=b", 1);
        let (from_bytes, from_http) = upgrades(&request);
        assert_eq!(from_http.request().path, "/chat");
        assert_eq!(from_http.request().query.as_deref(), Some("a=b"));
        assert_eq!(from_bytes.request().path, from_http.request().path);
        assert_eq!(from_bytes.request().query, from_http.request().query);
    }

    #[test]
    fn the_101_carries_the_same_lines_both_ways() {
        let (from_bytes, from_http) = upgrades(RFC_REQUEST);
        let decision = Acceptance::new()
            .protocol("superchat")
            .header("Set-Cookie", "a=1")
            .header("Set-Cookie", "b=2")
            .header("X-Server", "wscore")
            .into();
        let (status, bytes_lines) = response_lines(&from_bytes.respond(&decision).unwrap());
        let response = from_http.respond_http(&decision).unwrap();
        assert_eq!(status, 101);
        assert_eq!(response.status().as_u16(), 101);
        assert_eq!(http_lines(&response), bytes_lines);
        assert!(response.body().is_empty());
        let headers = response.headers();
        assert_eq!(headers["upgrade"], "websocket");
        assert_eq!(headers["connection"], "Upgrade");
        assert_eq!(
            headers["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(headers["sec-websocket-protocol"], "superchat");
        assert_eq!(
            headers.contains_key("sec-websocket-extensions"),
            cfg!(feature = "deflate")
        );
    }

    #[test]
    fn a_plain_request_is_for_the_application_both_ways() {
        let page = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n";
        match both_ways(page) {
            (Ok(Incoming::Http(a)), Ok(Incoming::Http(b))) => {
                assert_eq!(
                    (&a.method, &a.path, &a.query),
                    (&b.method, &b.path, &b.query)
                );
                assert_eq!(lowercased(a.headers.iter()), lowercased(b.headers.iter()));
            }
            other => panic!("not plain both ways: {other:?}"),
        }
    }

    /// The RFC request with `header` replaced by `value`, or removed.
    fn with(header: &str, value: Option<&str>) -> String {
        let prefix = format!("{}:", header.to_ascii_lowercase());
        let mut out = String::new();
        for line in RFC_REQUEST.split_inclusive("\r\n") {
            if !line.to_ascii_lowercase().starts_with(&prefix) {
                out.push_str(line);
            } else if let Some(value) = value {
                out.push_str(&format!("{header}: {value}\r\n"));
            }
        }
        out
    }

    /// The RFC request with one more header line.
    fn adding(line: &str) -> String {
        RFC_REQUEST.replacen("\r\n", &format!("\r\n{line}\r\n"), 1)
    }

    /// Refused both ways, with the same error and so the same answer; the status.
    fn refusal(bytes: &str) -> u16 {
        let (from_bytes, from_http) = both_ways(bytes);
        let (a, b) = (from_bytes.unwrap_err(), from_http.unwrap_err());
        assert_eq!(a.to_string(), b.to_string(), "{bytes:?}");
        assert_eq!(a.http_response(), b.http_response());
        b.http_status().unwrap()
    }

    #[test]
    fn every_refusal_has_the_same_status_both_ways() {
        let cases = [
            (RFC_REQUEST.replacen("GET", "POST", 1), 400),
            (RFC_REQUEST.replacen("HTTP/1.1", "HTTP/1.0", 1), 400),
            (with("Host", None), 400),
            (with("Host", Some("")), 400),
            (adding("Host: other.example.com"), 400),
            (adding("Content-Length: 5"), 400),
            (adding("Transfer-Encoding: chunked"), 400),
            (with("Connection", Some("keep-alive")), 400),
            (with("Upgrade", Some("h2c")), 400),
            (with("Sec-WebSocket-Key", None), 400),
            (with("Sec-WebSocket-Key", Some("c2hvcnQ=")), 400),
            (adding("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), 400),
            (with("Sec-WebSocket-Version", None), 400),
            (adding("Sec-WebSocket-Version: 13"), 400),
            (with("Sec-WebSocket-Version", Some("8")), 426),
            (RFC_REQUEST.replacen("/chat?room=1", "*", 1), 400),
            (
                RFC_REQUEST.replacen("/chat?room=1", "example.com:80", 1),
                400,
            ),
            (with("Origin", Some(&"x".repeat(10_000))), 431),
        ];
        for (request, status) in cases {
            assert_eq!(refusal(&request), status, "{request:?}");
        }
    }

    #[test]
    fn another_version_is_answered_426_naming_13() {
        let error = Incoming::from_http(
            &as_http(&with("Sec-WebSocket-Version", Some("8"))),
            &config(),
        )
        .unwrap_err();
        let response = error.http_response().unwrap().to_http();
        assert_eq!(response.status(), http::StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        assert_eq!(
            response.body(),
            b"unsupported WebSocket version; this server speaks 13"
        );
    }

    #[test]
    fn the_size_limits_fall_where_they_do_for_bytes() {
        // A head of exactly max_handshake_size bytes passes both ways; one byte more is 431 both ways.
        let padding = 8192 - RFC_REQUEST.len() - "X-Pad: \r\n".len();
        let at_limit = adding(&format!("X-Pad: {}", "p".repeat(padding)));
        assert_eq!(at_limit.len(), Config::default().max_handshake_size);
        upgrades(&at_limit);
        assert_eq!(
            refusal(&adding(&format!("X-Pad: {}", "p".repeat(padding + 1)))),
            431
        );
        // max_headers lines pass; one more is 431.
        let lines = RFC_REQUEST.matches("\r\n").count() - 2;
        let extra = |n: usize| {
            (0..n)
                .map(|i| format!("X-{i}: y"))
                .collect::<Vec<_>>()
                .join("\r\n")
        };
        upgrades(&adding(&extra(64 - lines)));
        assert_eq!(refusal(&adding(&extra(65 - lines))), 431);
    }

    #[test]
    fn an_upgrade_over_http_2_is_refused_with_400() {
        let mut request = as_http(RFC_REQUEST);
        *request.version_mut() = http::Version::HTTP_2;
        let error = Incoming::from_http(&request, &config()).unwrap_err();
        assert_eq!(error.http_status(), Some(400));
    }

    #[test]
    fn parts_read_as_the_request_does() {
        let (parts, ()) = as_http(RFC_REQUEST).into_parts();
        let from_parts = Incoming::from_http_parts(&parts, &config()).unwrap();
        let (_, from_http) = upgrades(RFC_REQUEST);
        assert_eq!(from_parts, Incoming::Upgrade(from_http));
    }

    #[test]
    fn a_refusal_the_application_chose_keeps_its_status_headers_and_body() {
        let (_, upgrade) = upgrades(RFC_REQUEST);
        let refusal = HttpResponse::new(401)
            .header("WWW-Authenticate", "Bearer")
            .header("Content-Length", "99")
            .header("Connection", "keep-alive")
            .header("Bad Name", "x")
            .body("who are you?");
        let response = upgrade.respond_http(&refusal.into()).unwrap();
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(
            http_lines(&response),
            [("www-authenticate".to_owned(), b"Bearer".to_vec())],
            "framing is the server's, and a line that cannot be sent is dropped"
        );
        assert_eq!(response.body(), b"who are you?");
    }

    #[test]
    fn refuses_to_answer_what_respond_refuses_too() {
        let (from_bytes, from_http) = upgrades(RFC_REQUEST);
        for decision in [
            Decision::refuse(200),
            Decision::refuse(101),
            Acceptance::new().protocol("mqtt").into(),
            Acceptance::new().header("Sec-WebSocket-Accept", "x").into(),
            Acceptance::new().header("X-A", "1\r\nEvil: 1").into(),
        ] {
            assert!(matches!(
                from_bytes.respond(&decision),
                Err(Error::Misuse(_))
            ));
            assert!(
                matches!(from_http.respond_http(&decision), Err(Error::Misuse(_))),
                "{decision:?}"
            );
        }
        // The http crate takes no control character in a value, which the bytes path would send.
        let control = Acceptance::new().header("X-A", "a\x01b").into();
        assert!(matches!(
            from_http.respond_http(&control),
            Err(Error::Misuse(_))
        ));
    }

    #[test]
    fn a_status_http_cannot_carry_becomes_500() {
        for status in [0, 99, 1000, u16::MAX] {
            let response = HttpResponse::new(status).to_http();
            assert_eq!(response.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        }
        assert_eq!(HttpResponse::new(418).to_http().status().as_u16(), 418);
    }
}
