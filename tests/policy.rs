//! The handshake policy over real sockets: what the server decides, and what the client sees of a refusal.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};

use wscore::driver::blocking::{accept_with, connect_with, Accepted};
use wscore::handshake::{Acceptance, AllowedOrigins, ClientOptions, Decision, HttpResponse};
use wscore::{CloseCode, Config, Error, Message};

/// A listener running `serve` on its first connection; returns the address.
fn serve_one<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || serve(listener.accept().unwrap().0));
    (addr, handle)
}

fn options(headers: &[(&str, &str)], protocols: &[&str]) -> ClientOptions {
    let options = headers
        .iter()
        .fold(ClientOptions::new(), |options, (name, value)| {
            options.header(name, value)
        });
    protocols
        .iter()
        .fold(options, |options, protocol| options.protocol(protocol))
}

fn refusal(error: Error) -> HttpResponse {
    match error {
        Error::Refused(response) => *response,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_policy_refusal_reaches_the_client_with_its_status_headers_and_body() {
    let (addr, server) = serve_one(|stream| {
        let decided = accept_with(stream, &Config::default(), |upgrade| {
            assert_eq!(upgrade.request().path, "/admin");
            Decision::Refuse(
                HttpResponse::new(403)
                    .header("X-Reason", "not-an-admin")
                    .body("admins only"),
            )
        });
        refusal(decided.map(|_| ()).unwrap_err()).status
    });
    let error = connect_with(
        &format!("ws://{addr}/admin"),
        &ClientOptions::default(),
        &Config::default(),
    )
    .map(|_| ())
    .unwrap_err();
    let response = refusal(error);
    assert_eq!(response.status, 403);
    assert_eq!(response.headers.get_str("X-Reason"), Some("not-an-admin"));
    assert_eq!(response.body, b"admins only");
    assert_eq!(
        server.join().unwrap(),
        403,
        "the server reports what it sent"
    );
}

#[test]
fn the_client_reads_a_401_challenge_with_its_headers_and_body() {
    let (addr, server) = serve_one(|mut stream| {
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).unwrap();
        stream
            .write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"chat\"\r\n\
                  Content-Length: 12\r\n\r\nlog in first",
            )
            .unwrap();
    });
    let error = connect_with(
        &format!("ws://{addr}/"),
        &ClientOptions::default(),
        &Config::default(),
    )
    .map(|_| ())
    .unwrap_err();
    let response = refusal(error);
    assert_eq!(response.status, 401);
    assert_eq!(
        response.headers.get_str("WWW-Authenticate"),
        Some("Bearer realm=\"chat\"")
    );
    assert_eq!(response.body, b"log in first");
    server.join().unwrap();
}

#[test]
fn the_client_reads_a_redirects_location_without_a_length_until_the_stream_ends() {
    let (addr, server) = serve_one(|mut stream| {
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\n\r\nmoved")
            .unwrap();
    });
    let response = refusal(
        connect_with(
            &format!("ws://{addr}/"),
            &ClientOptions::default(),
            &Config::default(),
        )
        .map(|_| ())
        .unwrap_err(),
    );
    assert_eq!(
        (response.status, response.headers.get_str("Location")),
        (302, Some("ws://elsewhere/"))
    );
    assert_eq!(response.body, b"moved");
    server.join().unwrap();
}

#[test]
fn an_origin_outside_the_allow_list_is_refused_with_403_and_a_listed_one_accepted() {
    let origins = AllowedOrigins::new(["https://chat.example"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            let accepted = accept_with(stream, &Config::default(), |upgrade| {
                match origins.check(upgrade.request()) {
                    Err(forbidden) => Decision::Refuse(forbidden),
                    Ok(()) => Decision::accept(),
                }
            });
            outcomes.push(match accepted {
                Ok(Accepted::WebSocket(mut ws)) => {
                    while ws.read().unwrap().is_some() {}
                    200
                }
                Ok(Accepted::Http { .. }) => 0,
                Err(error) => refusal(error).status,
            });
        }
        outcomes
    });
    let url = format!("ws://{addr}/");
    let evil = options(&[("Origin", "https://evil.example")], &[]);
    let error = connect_with(&url, &evil, &Config::default())
        .map(|_| ())
        .unwrap_err();
    assert_eq!(refusal(error).status, 403);
    let good = options(&[("Origin", "https://chat.example")], &[]);
    let mut ws = connect_with(&url, &good, &Config::default()).unwrap();
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.join().unwrap(), [403, 200]);
}

#[test]
fn the_accepted_socket_keeps_the_request_and_the_client_sees_the_extra_headers() {
    let (addr, server) = serve_one(|stream| {
        let accepted = accept_with(stream, &Config::default(), |_| {
            Decision::Accept(
                Acceptance::new()
                    .protocol("chat.v2")
                    .header("Set-Cookie", "session=abc; HttpOnly"),
            )
        });
        let Ok(Accepted::WebSocket(mut ws)) = accepted else {
            panic!("not accepted")
        };
        let request = ws.request().unwrap().clone();
        let seen = (
            request.path.clone(),
            request.query.clone(),
            request.headers.get_str("X-Client").map(str::to_owned),
            ws.protocol().map(str::to_owned),
        );
        while let Some(message) = ws.read().unwrap() {
            if let Message::Text(_) = message {
                ws.send(message).unwrap();
            }
        }
        seen
    });
    let mut ws = connect_with(
        &format!("ws://{addr}/rooms/7?user=ann"),
        &options(&[("X-Client", "tests")], &["chat.v1", "chat.v2"]),
        &Config::default(),
    )
    .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v2"));
    assert_eq!(
        ws.response().unwrap().headers.get_str("Set-Cookie"),
        Some("session=abc; HttpOnly")
    );
    ws.send(Message::from("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::from("hi")));
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        server.join().unwrap(),
        (
            "/rooms/7".to_owned(),
            Some("user=ann".to_owned()),
            Some("tests".to_owned()),
            Some("chat.v2".to_owned())
        )
    );
}

#[test]
fn a_plain_request_keeps_the_bytes_read_past_its_head() {
    let (addr, server) = serve_one(|stream| {
        match accept_with(stream, &Config::default(), |_| Decision::accept()).unwrap() {
            Accepted::Http {
                request,
                mut stream,
                mut leftover,
            } => {
                let length: usize = request
                    .headers
                    .get_str("Content-Length")
                    .unwrap()
                    .parse()
                    .unwrap();
                while leftover.len() < length {
                    let mut more = [0u8; 64];
                    let n = stream.read(&mut more).unwrap();
                    leftover.extend_from_slice(&more[..n]);
                }
                stream
                    .write_all(&HttpResponse::new(204).to_bytes())
                    .unwrap();
                (request.method, leftover)
            }
            Accepted::WebSocket(_) => panic!("not an upgrade"),
        }
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nname=wscore")
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 204 "));
    let (method, body) = server.join().unwrap();
    assert_eq!((method.as_str(), &body[..]), ("POST", &b"name=wscore"[..]));
}
