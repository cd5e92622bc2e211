//! The `client` example run as a new user runs it, with stdin left open as a terminal leaves it: it
//! must exit when the connection is over (issue 18), 0 after the server's clean close, non-zero with
//! the reason on stderr after a reset in the middle of a message.
#![cfg(feature = "mio")] // socket2, for the reset, comes with the mio feature

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use wscore::driver::blocking::{accept, Accepted};
use wscore::{CloseCode, Config, Message};

/// Runs the example built beside this test binary against `url`, stdin piped and never closed.
fn start_client(url: &str) -> (Child, std::process::ChildStdin) {
    // This binary is target/<profile>/deps/<name>; the examples are in target/<profile>/examples.
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/client");
    let mut child = Command::new(&binary)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (cargo test builds it): {e}",
                binary.display()
            )
        });
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// Waits for the process to exit, at most 10 s; returns its status, stdout and stderr.
fn wait_for_exit(mut child: Child) -> (ExitStatus, String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the client did not exit after the connection ended");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

/// A one-connection server: accepts the upgrade, then hands the socket to `then`.
fn serve_one(
    then: impl FnOnce(wscore::driver::blocking::WebSocket<TcpStream>) + Send + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        if let Ok(Accepted::WebSocket(ws)) = accept(stream, &Config::default()) {
            then(ws);
        }
    });
    url
}

#[test]
fn the_client_exits_0_when_the_server_closes_cleanly_though_stdin_stays_open() {
    let url = serve_one(|mut ws| {
        ws.send(Message::from("hello from the server")).unwrap();
        // Starts the close handshake and waits for the client's answer, then TCP ends.
        ws.close(CloseCode::GOING_AWAY, "server done").unwrap();
    });
    let (child, stdin) = start_client(&url);
    let (status, out, err) = wait_for_exit(child);
    drop(stdin);
    assert!(status.success(), "{status}; stderr: {err}");
    assert!(out.contains("< hello from the server"), "{out}");
    assert!(out.contains("closed:"), "{out}");
}

#[test]
fn the_client_exits_non_zero_with_the_reason_after_a_reset_mid_message() {
    let url = serve_one(|mut ws| {
        let stream = ws.get_mut();
        // The header of a 1,000-byte text frame and half its payload; then, a moment later, a reset.
        let mut frame = vec![0x81, 126, 0x03, 0xe8];
        frame.extend_from_slice(&[b'x'; 500]);
        stream.write_all(&frame).unwrap();
        stream.flush().unwrap();
        thread::sleep(Duration::from_millis(100));
        reset(stream);
    });
    let (child, stdin) = start_client(&url);
    let (status, _, err) = wait_for_exit(child);
    drop(stdin);
    assert_eq!(status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("error:"), "the reason on stderr: {err}");
}

/// Makes the socket's close a reset rather than a FIN (SO_LINGER with a zero timeout); it closes when
/// the server drops it.
fn reset(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}
