//! The client's opening handshake (RFC 6455 §4.1): the upgrade request, and the check of the server's
//! `101`, with permessage-deflate (RFC 7692) when offered.

use crate::deflate;

/// The sample nonce of RFC 6455 §1.3 and its accept value. A server cannot tell a fixed nonce from a
/// random one, and a known pair lets us check `Sec-WebSocket-Accept` without carrying SHA-1.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// A 101 response longer than this is a broken server, not a slow one.
const MAX_RESPONSE: usize = 16 << 10;

/// Appends the upgrade request for `path` on `host`, offering permessage-deflate if `deflate`.
pub fn request(out: &mut Vec<u8>, host: &str, path: &str, deflate: bool) {
    out.extend_from_slice(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        )
        .as_bytes(),
    );
    if deflate {
        out.extend_from_slice(
            format!("Sec-WebSocket-Extensions: {}\r\n", deflate::OFFER).as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
}

/// The length of the response head at the start of `data`, blank line included, once it is all there.
pub fn response_end(data: &[u8]) -> Result<Option<usize>, String> {
    match data.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => Ok(Some(end + 4)),
        None if data.len() > MAX_RESPONSE => Err("no end to the handshake response".into()),
        None => Ok(None),
    }
}

/// Checks a complete `101` response: status, `Upgrade`, `Connection`, `Sec-WebSocket-Accept`, and the
/// extension if one was offered (§4.1: a server must not answer with one that was not). Returns the
/// permessage-deflate the server accepted, if any.
pub fn check_response(
    head: &[u8],
    deflate_offered: bool,
) -> Result<Option<deflate::Accepted>, String> {
    let text = std::str::from_utf8(head).map_err(|_| "a handshake response that is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("handshake refused: {status:?}"));
    }
    let (mut upgrade, mut connection, mut accept) = (false, false, false);
    let mut extension = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("a header line without a colon: {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection = value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            if value != ACCEPT {
                return Err(format!("wrong Sec-WebSocket-Accept: {value}"));
            }
            accept = true;
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            if !deflate_offered || extension.is_some() {
                return Err(format!("an extension that was not offered: {value:?}"));
            }
            extension = Some(deflate::check_response(value)?);
        }
    }
    match (upgrade, connection, accept) {
        (true, true, true) => Ok(extension),
        _ => Err(format!(
            "incomplete 101: upgrade {upgrade}, connection {connection}, accept {accept}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    #[test]
    fn accepts_a_complete_101() {
        assert_eq!(check_response(GOOD.as_bytes(), false), Ok(None));
        let lower = GOOD.replace("Upgrade: websocket", "upgrade: WebSocket");
        assert_eq!(check_response(lower.as_bytes(), false), Ok(None));
    }

    #[test]
    fn rejects_a_refusal_or_a_wrong_accept() {
        assert!(check_response(b"HTTP/1.1 400 Bad Request\r\n\r\n", false).is_err());
        let wrong = GOOD.replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAA");
        assert!(check_response(wrong.as_bytes(), false).is_err());
        let missing = GOOD.replace("Connection: Upgrade\r\n", "");
        assert!(check_response(missing.as_bytes(), false).is_err());
    }

    #[test]
    fn finds_the_end_of_the_head_and_gives_up_on_an_endless_one() {
        assert_eq!(response_end(GOOD.as_bytes()), Ok(Some(GOOD.len())));
        assert_eq!(response_end(&GOOD.as_bytes()[..GOOD.len() - 1]), Ok(None));
        assert!(response_end(&vec![b'a'; MAX_RESPONSE + 1]).is_err());
    }

    #[test]
    fn asks_for_deflate_only_when_told() {
        let mut plain = Vec::new();
        request(&mut plain, "h:1", "/?room=a", false);
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.starts_with("GET /?room=a HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(plain.ends_with("Sec-WebSocket-Version: 13\r\n\r\n"));
        let mut offer = Vec::new();
        request(&mut offer, "h:1", "/", true);
        let offer = String::from_utf8(offer).unwrap();
        assert!(offer.ends_with(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        ));
    }

    #[test]
    fn takes_permessage_deflate_only_when_offered() {
        let with = GOOD.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n",
        );
        assert_eq!(
            check_response(with.as_bytes(), true),
            Ok(Some(deflate::Accepted {
                server_no_context_takeover: true,
                ..deflate::Accepted::default()
            }))
        );
        assert!(check_response(with.as_bytes(), false).is_err());
        assert_eq!(check_response(GOOD.as_bytes(), true), Ok(None), "declined");
    }
}
