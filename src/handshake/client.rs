//! The client's side of the opening handshake, RFC 6455 §4.1, as a sans-IO state machine: the request to
//! send, then bytes in and the server's 101 (or its refusal) out, with a deadline.

use std::time::Instant;

use super::accept::{accept_key, generate_key};
use super::body::{framing, read_body};
use super::head::{HeadReader, Input, Step};
use super::http::{
    is_handshake_header, is_header_safe, is_token, parse_head, Head, Headers, HttpResponse,
};
use super::url::WsUrl;
use crate::config::Purpose;
use crate::error::Error;
use crate::Config;

/// What the client asks for beyond the required headers. New options may come in any release, so it is
/// built from [`ClientOptions::new`] and its setters:
///
/// ```
/// use wscore::handshake::ClientOptions;
/// let options = ClientOptions::new()
///     .protocol("chat.v2")
///     .protocol("chat.v1")
///     .header("Authorization", "Bearer abc");
/// assert_eq!(options.protocols, ["chat.v2", "chat.v1"]);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Subprotocols to offer, most preferred first (`Sec-WebSocket-Protocol`).
    pub protocols: Vec<String>,
    /// Extra header lines, e.g. `Origin` or `Authorization`. Those the handshake writes itself (`Host`,
    /// `Upgrade`, `Connection`, `Sec-WebSocket-*`) and body framing (`Content-Length`,
    /// `Transfer-Encoding`) are refused with [`Error::Misuse`].
    pub headers: Vec<(String, String)>,
    /// The TLS configuration of a `wss://` connection (feature `tls`); `None`: certificates checked
    /// against Mozilla's roots ([`default_client_config`](crate::driver::tls::default_client_config)).
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// Options are equal when they offer the same and, with TLS, share one configuration (a
/// `rustls::ClientConfig` has no equality of its own).
impl PartialEq for ClientOptions {
    fn eq(&self, other: &ClientOptions) -> bool {
        #[cfg(feature = "tls")]
        let same_tls = match (&self.tls, &other.tls) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        #[cfg(not(feature = "tls"))]
        let same_tls = true;
        self.protocols == other.protocols && self.headers == other.headers && same_tls
    }
}

impl Eq for ClientOptions {}

impl ClientOptions {
    /// No subprotocol and no extra header.
    pub fn new() -> ClientOptions {
        ClientOptions::default()
    }

    /// Offers one more subprotocol, after those already offered.
    #[must_use]
    pub fn protocol(mut self, protocol: &str) -> ClientOptions {
        self.protocols.push(protocol.to_owned());
        self
    }

    /// Adds a header line, e.g. `Origin` or `Authorization`.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> ClientOptions {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Uses this TLS configuration for `wss://` (feature `tls`): other roots (a private CA, the
    /// platform's store), a client certificate, other protocol versions. Set its `alpn_protocols` to
    /// `[b"http/1.1"]` as [`client_config`](crate::driver::tls::client_config) does.
    ///
    /// ```
    /// use wscore::driver::tls::client_config;
    /// use wscore::handshake::ClientOptions;
    ///
    /// let roots = rustls::RootCertStore::empty(); // add the CA that signed the server's certificate
    /// let options = ClientOptions::new().tls_config(client_config(roots));
    /// assert!(options.tls.is_some());
    /// ```
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> ClientOptions {
        self.tls = Some(config);
        self
    }

    /// Trusts only the certificates in a PEM file for `wss://`: a private CA's, or a self-signed
    /// server's ([`load_roots`](crate::driver::tls::load_roots) into
    /// [`client_config`](crate::driver::tls::client_config)). Without the `tls` feature this is
    /// [`Error::Misuse`], so a program can take a `--ca` option in every build and say why it cannot
    /// use it.
    ///
    /// ```no_run
    /// use wscore::handshake::ClientOptions;
    ///
    /// let options = ClientOptions::new().trust_pem_file("ca.pem")?;
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn trust_pem_file(self, path: impl AsRef<std::path::Path>) -> Result<ClientOptions, Error> {
        #[cfg(feature = "tls")]
        {
            use crate::driver::tls::{client_config, load_roots};
            Ok(self.tls_config(client_config(load_roots(path)?)))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = path;
            Err(Error::Misuse(
                "trusting a certificate file needs wscore's `tls` feature",
            ))
        }
    }
}

/// The server's accepted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// Always 101.
    pub status: u16,
    /// The subprotocol the server chose, one of those offered.
    pub protocol: Option<String>,
    /// All header lines.
    pub headers: Headers,
    /// The extensions the server accepted, for [`crate::Connection::with_extensions`].
    pub extensions: super::Extensions,
}

/// A client handshake: the request to send ([`ClientHandshake::request`]), then the same shape as
/// [`super::ServerHandshake`]: [`ClientHandshake::receive`] what the transport reads,
/// [`ClientHandshake::poll`] for the outcome, [`ClientHandshake::poll_timeout`] and
/// [`ClientHandshake::handle_timeout`] for the deadline.
///
/// A server that answers with another status than 101 gives [`Error::Refused`] with its status, headers
/// and body, so a 401's `WWW-Authenticate` or a redirect's `Location` can be read. The body is read to its
/// end as its framing says (`Content-Length`; chunked transfer coding, decoded, trailers not read; without
/// either, until [`ClientHandshake::receive_eof`]); head and body together are held up to
/// `max_handshake_size` bytes as received, and the body is cut there.
///
/// ```
/// use std::time::Instant;
/// use wscore::handshake::{ClientHandshake, ClientOptions, WsUrl};
/// use wscore::{Config, Error};
///
/// let url = WsUrl::parse("ws://example.com/chat")?;
/// let mut handshake = ClientHandshake::new(&url, &ClientOptions::default(), &Config::default(), Instant::now())?;
/// assert!(handshake.request().starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
///
/// handshake.receive(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"chat\"\r\n\
///     Content-Length: 12\r\n\r\nwho are you?");
/// let Err(Error::Refused(response)) = handshake.poll() else { panic!("a refusal") };
/// assert_eq!(response.status, 401);
/// assert_eq!(response.headers.get_str("WWW-Authenticate"), Some("Basic realm=\"chat\""));
/// assert_eq!(response.body, b"who are you?");
/// # Ok::<(), wscore::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientHandshake {
    request: Vec<u8>,
    expected: Expected,
    reader: HeadReader<Response>,
}

/// What the response must match, and the limits to read it under.
#[derive(Debug)]
struct Expected {
    accept: String,
    protocols: Vec<String>,
    config: Config,
}

impl ClientHandshake {
    /// Builds the request for `url` with a fresh random key (RFC 6455 §4.1) from the generator that
    /// `config.rng_seed` controls; the handshake, started at `now`, must be complete by `now +
    /// config.handshake_timeout`.
    pub fn new(
        url: &WsUrl,
        options: &ClientOptions,
        config: &Config,
        now: Instant,
    ) -> Result<ClientHandshake, Error> {
        let key = generate_key(&mut config.rng(Purpose::HandshakeKey)?);
        let mut request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
            url.resource,
            url.host_header()
        );
        if !options.protocols.is_empty() {
            if !options.protocols.iter().all(|p| is_token(p)) {
                return Err(Error::Misuse(
                    "a subprotocol name that is not an HTTP token",
                ));
            }
            request.push_str(&format!(
                "Sec-WebSocket-Protocol: {}\r\n",
                options.protocols.join(", ")
            ));
        }
        if let Some(offer) = super::extensions::offer(config) {
            request.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
        }
        for (name, value) in &options.headers {
            if !is_token(name) || !is_header_safe(value) {
                return Err(Error::Misuse("a header that cannot be sent"));
            }
            // A second Host or Sec-WebSocket-Key would make the server refuse (or guess).
            if name.eq_ignore_ascii_case("Host") || is_handshake_header(name) {
                return Err(Error::Misuse(
                    "a header the handshake writes itself (Host, Upgrade, Connection, Sec-WebSocket-*, ...)",
                ));
            }
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        Ok(ClientHandshake {
            request: request.into_bytes(),
            expected: Expected {
                accept: accept_key(key.as_bytes()),
                protocols: options.protocols.clone(),
                config: config.clone(),
            },
            reader: HeadReader::new(
                now.checked_add(config.handshake_timeout),
                config.max_handshake_size,
            ),
        })
    }

    /// The request bytes to send.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Bytes read from the transport. While the response is incomplete, at most `max_handshake_size`
    /// plus this chunk are held. Bytes after an accepting head are kept for
    /// [`ClientHandshake::leftover`].
    pub fn receive(&mut self, bytes: &[u8]) {
        let expected = &self.expected;
        self.reader.receive(bytes, |input| expected.step(input));
    }

    /// The transport ended: a response whose body lasts until the close is complete; before a complete
    /// head, the handshake fails with [`Error::BadResponse`].
    pub fn receive_eof(&mut self) {
        let expected = &self.expected;
        self.reader.receive_eof(|input| expected.step(input));
    }

    /// `Ok(None)`: more bytes are needed. `Ok(Some(_))`: the server switched protocols (once); the bytes
    /// after its head are [`ClientHandshake::leftover`]. `Err`: [`Error::Refused`] for another status,
    /// [`Error::BadResponse`] for a 101 that does not complete the handshake (RFC 6455 §4.1), or
    /// [`Error::HandshakeTimeout`]; once, later calls are [`Error::Misuse`].
    pub fn poll(&mut self) -> Result<Option<Response>, Error> {
        self.reader.poll()
    }

    /// The bytes received past the 101's head: the first WebSocket frames, for the
    /// [`crate::Connection`]. Empty before the response is complete.
    pub fn leftover(&self) -> &[u8] {
        self.reader.leftover()
    }

    /// When [`ClientHandshake::handle_timeout`] must be called next: the deadline, while the response
    /// is incomplete.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reader.poll_timeout()
    }

    /// The time is `now`: at or past the deadline with the response incomplete (its body included), the
    /// handshake fails with [`Error::HandshakeTimeout`], returned here and by [`ClientHandshake::poll`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.reader.handle_timeout(now)
    }
}

/// The parts of a response head the checks need.
struct Head101 {
    version: u8,
    status: u16,
    reason: String,
    headers: Headers,
}

impl Expected {
    fn step(&self, input: Input<'_>) -> Step<Response> {
        let config = &self.config;
        let head = parse_head(
            input.buf,
            config,
            |window, headers| {
                let mut response = httparse::Response::new(headers);
                let status = response.parse(window)?;
                Ok(match status {
                    httparse::Status::Partial => None,
                    httparse::Status::Complete(len) => Some((
                        Head101 {
                            version: response.version.unwrap_or(0),
                            status: response.code.unwrap_or(0),
                            reason: response.reason.unwrap_or_default().to_owned(),
                            headers: Headers::from_httparse(response.headers),
                        },
                        len,
                    )),
                })
            },
            || bad(None, "response head over the size or header-count limit"),
            |_| bad(None, "malformed HTTP response"),
        )?;
        let (head, len) = match head {
            Head::Complete(head, len) => (head, len),
            Head::Partial if input.eof => {
                return Err(bad(None, "the stream ended inside the response head"))
            }
            Head::Partial => return Ok(None),
        };
        if head.status != 101 {
            let cap = config.max_handshake_size.saturating_sub(len);
            return refused(head, &input.buf[len..], cap, input.eof);
        }
        Ok(Some((self.check(head)?, len)))
    }

    /// RFC 6455 §4.1, the client's checks on a 101.
    fn check(&self, head: Head101) -> Result<Response, Error> {
        let Head101 {
            version, headers, ..
        } = head;
        let status = Some(101);
        // A 101 only means something in HTTP/1.1 (RFC 9110 §15.2.2, RFC 6455 §4.1 "HTTP/1.1 101").
        if version != 1 {
            return Err(bad(status, "the 101 must be an HTTP/1.1 response"));
        }
        if !headers.has_token("Upgrade", "websocket") {
            return Err(bad(status, "the Upgrade header must name websocket"));
        }
        if !headers.has_token("Connection", "upgrade") {
            return Err(bad(status, "the Connection header must contain upgrade"));
        }
        if headers.get("Sec-WebSocket-Accept").map(<[u8]>::trim_ascii)
            != Some(self.accept.as_bytes())
        {
            return Err(bad(status, "Sec-WebSocket-Accept does not match the key"));
        }
        // §4.1 item 6: an extension we did not offer, or not as offered, fails the connection.
        let extensions =
            super::extensions::accepted(&headers, &self.config).map_err(|r| bad(status, r))?;
        // §4.1 item 6 (subprotocol): at most one, and only one we offered.
        let protocol = {
            let mut chosen = headers.tokens("Sec-WebSocket-Protocol");
            match (chosen.next(), chosen.next()) {
                (None, _) => None,
                (Some(p), None) if self.protocols.iter().any(|offered| offered == p) => {
                    Some(p.to_owned())
                }
                _ => {
                    return Err(bad(
                        status,
                        "the server chose a subprotocol that was not offered",
                    ))
                }
            }
        };
        Ok(Response {
            status: 101,
            protocol,
            headers,
            extensions,
        })
    }
}

/// A refusal, once its body is complete (or cut at `cap`).
fn refused(head: Head101, raw_body: &[u8], cap: usize, eof: bool) -> Step<Response> {
    let Some(body) = read_body(framing(head.status, &head.headers), raw_body, cap, eof) else {
        return Ok(None);
    };
    let mut response = HttpResponse::new(head.status).body(body);
    response.reason = head.reason;
    response.headers = head.headers;
    Err(Error::Refused(Box::new(response)))
}

fn bad(status: Option<u16>, reason: &'static str) -> Error {
    Error::BadResponse { status, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{read_request, Incoming};
    use std::time::Duration;

    const FRAME: &[u8] = &[0x81, 0x02, b'h', b'i'];

    #[test]
    fn trusting_a_missing_certificate_file_is_an_error_that_names_why() {
        let error = ClientOptions::new()
            .trust_pem_file("/nonexistent/ca.pem")
            .unwrap_err();
        #[cfg(feature = "tls")]
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
        #[cfg(not(feature = "tls"))]
        assert!(
            matches!(error, Error::Misuse(why) if why.contains("`tls` feature")),
            "{error}"
        );
    }

    fn seeded() -> Config {
        Config::default().rng_seed(Some(7))
    }

    fn handshake(protocols: &[&str]) -> ClientHandshake {
        let url = WsUrl::parse("ws://localhost:9001/chat").unwrap();
        let options = ClientOptions {
            protocols: protocols.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        };
        ClientHandshake::new(&url, &options, &seeded(), Instant::now()).unwrap()
    }

    fn with_headers(headers: &[(&str, &str)]) -> Result<ClientHandshake, Error> {
        let url = WsUrl::parse("ws://x/").unwrap();
        let options = ClientOptions {
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        ClientHandshake::new(&url, &options, &Config::default(), Instant::now())
    }

    /// The response our own server would give to this handshake's request.
    fn server_answer(client: &ClientHandshake, protocol: Option<&str>) -> String {
        let Some((Incoming::Upgrade(upgrade), _)) =
            read_request(client.request(), &Config::default()).unwrap()
        else {
            panic!("our request is not a valid upgrade")
        };
        String::from_utf8(upgrade.accept(protocol).unwrap()).unwrap()
    }

    /// One run of a fresh copy of `client` (same key) over `chunks`, with the end of the stream after
    /// them if `eof`.
    fn run(protocols: &[&str], chunks: &[&[u8]], eof: bool) -> (Result<Response, Error>, Vec<u8>) {
        let mut client = handshake(protocols);
        let mut outcome = None;
        for chunk in chunks {
            client.receive(chunk);
            if outcome.is_none() {
                outcome = client.poll().transpose();
            }
        }
        if eof {
            client.receive_eof();
        }
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => client.poll().transpose().expect("an outcome"),
        };
        (outcome, client.leftover().to_vec())
    }

    /// Reads `response` whole, one byte at a time, and followed by a frame (which must be left over
    /// after a 101); all three must agree. `eof`: the stream ends after the response.
    fn read_three_ways(protocols: &[&str], response: &[u8], eof: bool) -> Result<Response, String> {
        let show = |(outcome, leftover): (Result<Response, Error>, Vec<u8>)| {
            (outcome.map_err(|e| format!("{e:?}")), leftover)
        };
        let whole = show(run(protocols, &[response], eof));
        let bytes: Vec<&[u8]> = response.chunks(1).collect();
        assert_eq!(show(run(protocols, &bytes, eof)), whole, "byte at a time");
        let (trailing, leftover) = show(run(protocols, &[response, FRAME], eof));
        assert_eq!(trailing, whole.0, "with a frame after it");
        if trailing.is_ok() {
            assert_eq!(leftover, [&whole.1[..], FRAME].concat());
        }
        whole.0
    }

    fn refusal(response: &str, eof: bool) -> HttpResponse {
        match run(&[], &[response.as_bytes()], eof).0 {
            Err(Error::Refused(response)) => *response,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_has_the_required_headers_and_a_fresh_key() {
        let request = String::from_utf8(handshake(&["chat"]).request().to_vec()).unwrap();
        assert!(request.starts_with("GET /chat HTTP/1.1\r\nHost: localhost:9001\r\n"));
        assert!(request.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(request.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
        let a = with_headers(&[]).unwrap();
        let b = with_headers(&[]).unwrap();
        assert_ne!(a.request(), b.request(), "each handshake has its own key");
    }

    #[test]
    fn accepts_our_servers_answer() {
        let answer = server_answer(&handshake(&["chat", "superchat"]), Some("superchat"));
        let response = read_three_ways(&["chat", "superchat"], answer.as_bytes(), false).unwrap();
        assert_eq!(response.protocol.as_deref(), Some("superchat"));
    }

    #[test]
    fn refuses_a_wrong_accept_key() {
        let answer =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let error = read_three_ways(&[], answer, false).unwrap_err();
        assert!(
            error.contains("BadResponse") && error.contains("101"),
            "{error}"
        );
    }

    #[test]
    fn refuses_a_101_that_is_not_http_1_1() {
        let answer = server_answer(&handshake(&[]), None).replacen("HTTP/1.1", "HTTP/1.0", 1);
        let error = read_three_ways(&[], answer.as_bytes(), false).unwrap_err();
        assert!(error.contains("HTTP/1.1"), "{error}");
    }

    #[test]
    fn refuses_missing_upgrade_or_connection() {
        let good = server_answer(&handshake(&[]), None);
        for broken in [
            good.replace("Upgrade: websocket\r\n", ""),
            good.replace("Connection: Upgrade", "Connection: close"),
        ] {
            let error = read_three_ways(&[], broken.as_bytes(), false).unwrap_err();
            assert!(error.contains("BadResponse"), "{broken}: {error}");
        }
    }

    #[test]
    fn refuses_a_subprotocol_not_offered() {
        let answer = server_answer(&handshake(&["chat"]), Some("chat"))
            .replace("Protocol: chat", "Protocol: mqtt");
        assert!(read_three_ways(&["chat"], answer.as_bytes(), false).is_err());
        let answer = server_answer(&handshake(&[]), None)
            .replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
        assert!(read_three_ways(&[], answer.as_bytes(), false).is_err());
    }

    #[test]
    fn refuses_an_extension_not_offered() {
        let answer = server_answer(&handshake(&[]), None).replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
        assert!(read_three_ways(&[], answer.as_bytes(), false).is_err());
    }

    #[test]
    fn a_refusal_carries_status_headers_and_body() {
        let answer =
            "HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\nContent-Length: 5\r\n\r\nmoved";
        let error = read_three_ways(&[], answer.as_bytes(), false).unwrap_err();
        assert!(error.contains("Refused"), "{error}");
        let response = refusal(answer, false);
        assert_eq!((response.status, response.reason.as_str()), (302, "Found"));
        assert_eq!(
            response.headers.get_str("Location"),
            Some("ws://elsewhere/")
        );
        assert_eq!(response.body, b"moved");
    }

    #[test]
    fn a_refusal_waits_for_its_content_length() {
        let mut client = handshake(&[]);
        client.receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nno");
        assert!(client.poll().unwrap().is_none());
        client.receive(b"pe");
        assert!(matches!(client.poll(), Err(Error::Refused(r)) if r.body == b"nope"));
    }

    #[test]
    fn a_refusal_without_a_length_lasts_until_the_close() {
        let answer = "HTTP/1.1 503 Service Unavailable\r\n\r\ntry later";
        let mut client = handshake(&[]);
        client.receive(answer.as_bytes());
        assert!(client.poll().unwrap().is_none());
        assert_eq!(refusal(answer, true).body, b"try later");
    }

    #[test]
    fn a_chunked_refusal_is_decoded() {
        let answer =
            "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nwho\r\n0\r\n\r\n";
        let response = refusal(answer, false);
        assert_eq!(response.body, b"who");
        assert_eq!(
            response.headers.get_str("Transfer-Encoding"),
            Some("chunked")
        );
    }

    #[test]
    fn a_refusals_body_is_cut_at_the_handshake_limit() {
        let config = seeded().max_handshake_size(256);
        let url = WsUrl::parse("ws://x/").unwrap();
        let mut client =
            ClientHandshake::new(&url, &ClientOptions::default(), &config, Instant::now()).unwrap();
        let head = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100000\r\n\r\n";
        client.receive(head);
        for _ in 0..100 {
            client.receive(&[b'x'; 1000]);
            assert!(client.reader.held() <= 256 + 1000);
        }
        let Err(Error::Refused(response)) = client.poll() else {
            panic!()
        };
        assert_eq!(response.body.len(), 256 - head.len());
    }

    #[test]
    fn refuses_a_stream_that_ends_inside_the_head() {
        let mut client = handshake(&[]);
        client.receive(b"HTTP/1.1 101 Switching");
        client.receive_eof();
        assert!(matches!(
            client.poll(),
            Err(Error::BadResponse { status: None, .. })
        ));
    }

    #[test]
    fn times_out_a_silent_server() {
        let start = Instant::now();
        let url = WsUrl::parse("ws://x/").unwrap();
        let config = seeded().handshake_timeout(Duration::from_secs(2));
        let mut client =
            ClientHandshake::new(&url, &ClientOptions::default(), &config, start).unwrap();
        let deadline = start + Duration::from_secs(2);
        assert_eq!(client.poll_timeout(), Some(deadline));
        assert!(client
            .handle_timeout(start + Duration::from_secs(1))
            .is_ok());
        assert!(matches!(
            client.handle_timeout(deadline),
            Err(Error::HandshakeTimeout)
        ));
        assert!(matches!(client.poll(), Err(Error::HandshakeTimeout)));
        assert_eq!(client.poll_timeout(), None);
    }

    #[test]
    fn refuses_header_injection() {
        assert!(matches!(
            with_headers(&[("Origin", "a\r\nEvil: 1")]),
            Err(Error::Misuse(_))
        ));
        assert!(matches!(
            with_headers(&[("Bad Name", "1")]),
            Err(Error::Misuse(_))
        ));
        let url = WsUrl::parse("ws://x/").unwrap();
        let options = ClientOptions {
            protocols: vec!["a, b".into()],
            ..Default::default()
        };
        assert!(ClientHandshake::new(&url, &options, &Config::default(), Instant::now()).is_err());
    }

    #[test]
    fn refuses_extra_headers_the_handshake_writes_itself() {
        for name in [
            "Host",
            "upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "sec-websocket-version",
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Extensions",
            "Content-Length",
        ] {
            assert!(
                matches!(with_headers(&[(name, "x")]), Err(Error::Misuse(_))),
                "{name}"
            );
        }
        assert!(with_headers(&[
            ("Origin", "https://example.com"),
            ("Authorization", "Bearer t")
        ])
        .is_ok());
    }
}
