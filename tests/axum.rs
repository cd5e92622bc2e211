//! The `axum_echo` example, run as a child process: axum serves the page, the core answers the upgrade
//! axum parsed (feature `http`), and the tokio driver echoes over hyper's upgraded connection. Our
//! blocking client talks to it over loopback.
#![cfg(all(feature = "tokio", feature = "http"))]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::EchoServer;
use wscore::driver::blocking::connect;
use wscore::{CloseCode, Message};

/// The example on a free port, killed when dropped.
fn start() -> EchoServer {
    EchoServer::start_example("axum_echo", &[])
}

/// One HTTP/1.1 exchange: the response's status, lowercased header lines and body (by its
/// `Content-Length`), without waiting for the server to end the connection.
fn exchange(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let mut lines = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut lines);
        if let httparse::Status::Complete(head) = response.parse(&received).unwrap() {
            let headers: Vec<(String, String)> = response
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).into_owned();
                    (h.name.to_ascii_lowercase(), value)
                })
                .collect();
            let length = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .map_or(0, |(_, value)| value.parse().unwrap());
            if received.len() >= head + length {
                let body = received[head..head + length].to_vec();
                return (response.code.unwrap(), headers, body);
            }
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "the server ended the connection mid-response: {received:?}"
        );
        received.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

const UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn serves_the_page_at_the_root() {
    let server = start();
    let (status, headers, body) =
        exchange(server.addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").is_some_and(|t| t.starts_with("text/html")));
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("<title>wscore echo</title>"), "{page}");
    assert!(
        page.contains("location.host + '/ws'"),
        "the page connects to /ws"
    );
}

#[test]
fn echoes_text_and_binary_byte_exact_then_closes_with_1000() {
    let server = start();
    let mut ws = connect(&format!("ws://{}/ws", server.addr)).unwrap();
    ws.send(Message::from("héllo ☃")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("héllo ☃".into())));
    let every_byte: Vec<u8> = (0..=255).collect();
    ws.send(Message::Binary(every_byte.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(every_byte)));
    // Larger than any one read or write on either side.
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(Message::Binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(big)));
    ws.send(Message::from("")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text(String::new())));

    ws.sender().close(CloseCode::NORMAL, "bye").unwrap();
    ws.flush().unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Some(Message::Close(Some((CloseCode::NORMAL, String::new())))),
        "the server answers the close with 1000"
    );
    assert_eq!(ws.read().unwrap(), None, "then ends the stream");
}

#[test]
fn the_101_is_the_cores() {
    let server = start();
    let (status, headers, _) = exchange(server.addr, UPGRADE);
    assert_eq!(status, 101);
    assert_eq!(header(&headers, "upgrade"), Some("websocket"));
    assert!(header(&headers, "connection").is_some_and(|c| c.eq_ignore_ascii_case("upgrade")));
    assert_eq!(
        header(&headers, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
}

#[test]
fn another_version_is_refused_with_426_naming_13() {
    let server = start();
    let request = UPGRADE.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    let (status, headers, body) = exchange(server.addr, &request);
    assert_eq!(status, 426);
    assert_eq!(header(&headers, "sec-websocket-version"), Some("13"));
    assert_eq!(
        body,
        b"unsupported WebSocket version; this server speaks 13"
    );
}

#[test]
fn a_bad_upgrade_is_refused_with_the_cores_400() {
    let server = start();
    for (request, reason) in [
        (
            UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            "Sec-WebSocket-Key must be base64 of 16 bytes",
        ),
        (
            UPGRADE.replacen("GET", "POST", 1),
            "the upgrade method must be GET",
        ),
    ] {
        let (status, _, body) = exchange(server.addr, &request);
        assert_eq!(
            (status, body.as_slice()),
            (400, reason.as_bytes()),
            "{request:?}"
        );
    }
}

#[test]
fn a_plain_get_of_the_websocket_url_is_answered_426() {
    let server = start();
    let (status, headers, _) = exchange(server.addr, "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, 426);
    assert_eq!(header(&headers, "upgrade"), Some("websocket"));
}

#[cfg(feature = "deflate")]
#[test]
fn negotiates_permessage_deflate_through_axum_and_echoes_compressed() {
    use wscore::deflate::Deflate;
    use wscore::driver::blocking::connect_with;
    use wscore::handshake::ClientOptions;

    let server = start();
    let config = wscore::Config::default().deflate(Deflate::default());
    let url = format!("ws://{}/ws", server.addr);
    let mut ws = connect_with(&url, &ClientOptions::default(), &config).unwrap();
    let response = ws.response().unwrap();
    assert!(
        response.extensions.deflate.is_some(),
        "the 101 accepted the offer"
    );
    // Large and repetitive, so the client sends it compressed (RSV1): had the server's connection not
    // been built with the extensions the upgrade agreed, that frame would fail it with 1002.
    let text = "compress me, ".repeat(1000);
    ws.send(Message::from(text.as_str())).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text(text)));
    ws.close(CloseCode::NORMAL, "").unwrap();
}
