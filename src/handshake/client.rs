//! The client's side of the opening handshake, RFC 6455 §4.1.

use super::accept::{accept_key, generate_key};
use super::http::{is_header_safe, is_token, parse_head, Head, Headers};
use super::url::WsUrl;
use crate::config::Purpose;
use crate::error::Error;
use crate::Config;

/// What the client asks for beyond the required headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Subprotocols to offer, most preferred first (`Sec-WebSocket-Protocol`).
    pub protocols: Vec<String>,
    /// Extra header lines, e.g. `Origin` or `Authorization`.
    pub headers: Vec<(String, String)>,
}

/// A client handshake in progress: the request to send and what the response must match.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    request: Vec<u8>,
    expected_accept: String,
    protocols: Vec<String>,
}

/// The server's accepted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Always 101.
    pub status: u16,
    /// The subprotocol the server chose, one of those offered.
    pub protocol: Option<String>,
    /// All header lines.
    pub headers: Headers,
}

impl ClientHandshake {
    /// Builds the request for `url` with a fresh random key (RFC 6455 §4.1), from the generator that
    /// `config.rng_seed` controls.
    pub fn new(
        url: &WsUrl,
        options: &ClientOptions,
        config: &Config,
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
        for (name, value) in &options.headers {
            if !is_token(name) || !is_header_safe(value) {
                return Err(Error::Misuse("a header that cannot be sent"));
            }
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        Ok(ClientHandshake {
            request: request.into_bytes(),
            expected_accept: accept_key(key.as_bytes()),
            protocols: options.protocols.clone(),
        })
    }

    /// The request bytes to send.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Parses and checks the response head at the start of `buf` (RFC 6455 §4.1, the client's checks).
    /// `Ok(None)`: more bytes are needed. Otherwise the response and the length of its head; bytes after
    /// it are the first WebSocket frames and belong to the [`crate::Connection`].
    pub fn read_response(
        &self,
        buf: &[u8],
        config: &Config,
    ) -> Result<Option<(Response, usize)>, Error> {
        let head = parse_head(
            buf,
            config,
            |window, headers| {
                let mut response = httparse::Response::new(headers);
                let status = response.parse(window)?;
                Ok(match status {
                    httparse::Status::Partial => None,
                    httparse::Status::Complete(len) => Some({
                        let code = response.code.unwrap_or(0);
                        ((code, Headers::from_httparse(response.headers)), len)
                    }),
                })
            },
            || bad(None, "response head over the size or header-count limit"),
            |_| bad(None, "malformed HTTP response"),
        )?;
        let ((status, headers), len) = match head {
            Head::Complete(response, len) => (response, len),
            Head::Partial => return Ok(None),
        };
        if status != 101 {
            return Err(bad(Some(status), "the server did not switch protocols"));
        }
        let status = Some(status);
        if !headers.has_token("Upgrade", "websocket") {
            return Err(bad(status, "the Upgrade header must name websocket"));
        }
        if !headers.has_token("Connection", "upgrade") {
            return Err(bad(status, "the Connection header must contain upgrade"));
        }
        if headers.get("Sec-WebSocket-Accept").map(<[u8]>::trim_ascii)
            != Some(self.expected_accept.as_bytes())
        {
            return Err(bad(status, "Sec-WebSocket-Accept does not match the key"));
        }
        // §4.1 item 6: an extension we did not offer (we offer none) fails the connection.
        if headers.tokens("Sec-WebSocket-Extensions").next().is_some() {
            return Err(bad(
                status,
                "the server chose an extension that was not offered",
            ));
        }
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
        Ok(Some((
            Response {
                status: 101,
                protocol,
                headers,
            },
            len,
        )))
    }
}

fn bad(status: Option<u16>, reason: &'static str) -> Error {
    Error::BadResponse { status, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{read_request, Incoming};

    fn seeded() -> Config {
        Config::default().rng_seed(Some(7))
    }

    fn handshake(protocols: &[&str]) -> ClientHandshake {
        let url = WsUrl::parse("ws://localhost:9001/chat").unwrap();
        let options = ClientOptions {
            protocols: protocols.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        };
        ClientHandshake::new(&url, &options, &seeded()).unwrap()
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

    fn read_three_ways(client: &ClientHandshake, response: &str) -> Result<Response, Error> {
        let config = Config::default();
        let bytes = response.as_bytes();
        for end in 0..bytes.len() {
            assert!(
                client.read_response(&bytes[..end], &config)?.is_none(),
                "prefix of {end} complete"
            );
        }
        let (whole, used) = client.read_response(bytes, &config)?.expect("complete");
        assert_eq!(used, bytes.len());
        let mut trailing = bytes.to_vec();
        trailing.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        let (again, used) = client.read_response(&trailing, &config)?.expect("complete");
        assert_eq!((used, &again), (bytes.len(), &whole));
        Ok(whole)
    }

    #[test]
    fn request_has_the_required_headers_and_a_fresh_key() {
        let request = String::from_utf8(handshake(&["chat"]).request().to_vec()).unwrap();
        assert!(request.starts_with("GET /chat HTTP/1.1\r\nHost: localhost:9001\r\n"));
        assert!(request.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(request.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
        let url = WsUrl::parse("ws://x/").unwrap();
        let a = ClientHandshake::new(&url, &ClientOptions::default(), &Config::default()).unwrap();
        let b = ClientHandshake::new(&url, &ClientOptions::default(), &Config::default()).unwrap();
        assert_ne!(a.request(), b.request(), "each handshake has its own key");
    }

    #[test]
    fn accepts_our_servers_answer() {
        let client = handshake(&["chat", "superchat"]);
        let response =
            read_three_ways(&client, &server_answer(&client, Some("superchat"))).unwrap();
        assert_eq!(response.protocol.as_deref(), Some("superchat"));
    }

    #[test]
    fn refuses_a_wrong_accept_key() {
        let client = handshake(&[]);
        let answer =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                      Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(matches!(
            read_three_ways(&client, answer),
            Err(Error::BadResponse {
                status: Some(101),
                ..
            })
        ));
    }

    #[test]
    fn refuses_a_status_other_than_101() {
        let client = handshake(&[]);
        let answer = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            read_three_ways(&client, answer),
            Err(Error::BadResponse {
                status: Some(403),
                ..
            })
        ));
    }

    #[test]
    fn refuses_missing_upgrade_or_connection() {
        let client = handshake(&[]);
        let good = server_answer(&client, None);
        for broken in [
            good.replace("Upgrade: websocket\r\n", ""),
            good.replace("Connection: Upgrade", "Connection: close"),
        ] {
            assert!(
                matches!(
                    read_three_ways(&client, &broken),
                    Err(Error::BadResponse { .. })
                ),
                "{broken}"
            );
        }
    }

    #[test]
    fn refuses_a_subprotocol_not_offered() {
        let client = handshake(&["chat"]);
        let answer =
            server_answer(&client, Some("chat")).replace("Protocol: chat", "Protocol: mqtt");
        assert!(read_three_ways(&client, &answer).is_err());
        let none_offered = handshake(&[]);
        let answer = server_answer(&none_offered, None)
            .replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
        assert!(read_three_ways(&none_offered, &answer).is_err());
    }

    #[test]
    fn refuses_an_extension_not_offered() {
        let client = handshake(&[]);
        let answer = server_answer(&client, None).replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
        assert!(read_three_ways(&client, &answer).is_err());
    }

    #[test]
    fn refuses_header_injection() {
        let url = WsUrl::parse("ws://x/").unwrap();
        let options = ClientOptions {
            headers: vec![("Origin".into(), "a\r\nEvil: 1".into())],
            ..Default::default()
        };
        assert!(ClientHandshake::new(&url, &options, &Config::default()).is_err());
        let options = ClientOptions {
            protocols: vec!["a, b".into()],
            ..Default::default()
        };
        assert!(ClientHandshake::new(&url, &options, &Config::default()).is_err());
    }
}
