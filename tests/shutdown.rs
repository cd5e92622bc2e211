//! Graceful shutdown of `echo_server` (issue 18) on each driver: SIGTERM with 100 connections in the
//! middle of their traffic. Every client gets a 1001 close, every message it had sent before the signal
//! was echoed, and the process exits 0 well within the close timeout.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use wscore::driver::blocking;
use wscore::handshake::ClientOptions;
use wscore::{CloseCode, Config, Message};

use common::EchoServer;

#[test]
fn sigterm_on_the_blocking_driver_closes_every_connection_with_1001_after_its_echoes_then_exits_0()
{
    sigterm_with_a_hundred_connections_mid_stream("blocking");
}

#[cfg(feature = "mio")]
#[test]
fn sigterm_on_the_mio_driver_closes_every_connection_with_1001_after_its_echoes_then_exits_0() {
    sigterm_with_a_hundred_connections_mid_stream("mio");
}

#[cfg(feature = "tokio")]
#[test]
fn sigterm_on_the_tokio_driver_closes_every_connection_with_1001_after_its_echoes_then_exits_0() {
    sigterm_with_a_hundred_connections_mid_stream("tokio");
}

fn sigterm_with_a_hundred_connections_mid_stream(driver: &str) {
    const CLIENTS: usize = 100;
    let mut server = EchoServer::start(&["--driver", driver, "--threads", "2"]);
    let url = format!("ws://{}/", server.addr);
    // Each client's count of messages written to its socket, read by the test before the signal.
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..CLIENTS).map(|_| AtomicU64::new(0)).collect());
    // Each client says when it has had 10 echoes, and goes on; a client that fails before drops its
    // sender, so the wait below ends instead of hanging.
    let (warmed_up, warm) = mpsc::channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (url, sent, warmed_up) = (url.clone(), Arc::clone(&sent), warmed_up.clone());
            thread::spawn(move || -> (u64, Option<Message>) {
                let config = Config::default().close_timeout(Duration::from_secs(10));
                let mut ws = blocking::connect_with(&url, &ClientOptions::new(), &config).unwrap();
                let mut echoed = 0u64;
                // Lockstep: message i, then its echo, until the server's close comes instead.
                loop {
                    let message = Message::from(format!("{n}:{echoed}"));
                    if ws.send(message.clone()).is_err() {
                        return (echoed, None);
                    }
                    sent[n].fetch_add(1, Ordering::SeqCst);
                    // The blocking driver's shutdown pings first (answered by the client's core).
                    let reply = loop {
                        match ws.read().unwrap() {
                            Some(Message::Ping(_)) => continue,
                            reply => break reply,
                        }
                    };
                    match reply {
                        Some(reply) if reply == message => echoed += 1,
                        other => {
                            // The close (answered by the core), then the end of the connection.
                            while ws.read().unwrap().is_some() {}
                            return (echoed, other);
                        }
                    }
                    if echoed == 10 {
                        let _ = warmed_up.send(());
                    }
                }
            })
        })
        .collect();
    drop(warmed_up);
    for _ in 0..CLIENTS {
        warm.recv_timeout(Duration::from_secs(30))
            .expect("a client failed before it was mid-stream");
    }
    let sent_before: Vec<u64> = sent.iter().map(|s| s.load(Ordering::SeqCst)).collect();
    let signalled = Instant::now();
    server.terminate();
    for (n, client) in clients.into_iter().enumerate() {
        let (echoed, last) = client.join().unwrap();
        assert!(
            echoed >= sent_before[n],
            "client {n}: {} sent before the signal, {echoed} echoed",
            sent_before[n]
        );
        assert_eq!(
            last,
            Some(Message::Close(Some((
                CloseCode::GOING_AWAY,
                "server shutting down".to_owned()
            )))),
            "client {n}"
        );
    }
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server did not exit within its close timeout (10 s)");
    assert!(status.success(), "{status}");
    eprintln!(
        "{driver}: 100 connections closed and the server gone in {:?}",
        signalled.elapsed()
    );
}

#[test]
fn sigterm_on_the_blocking_driver_echoes_every_message_written_before_it() {
    sigterm_after_each_connection_wrote_a_burst("blocking");
}

#[cfg(feature = "mio")]
#[test]
fn sigterm_on_the_mio_driver_echoes_every_message_written_before_it() {
    sigterm_after_each_connection_wrote_a_burst("mio");
}

/// This failed now and then (3 runs in 8 once) while the tokio example closed at once on the signal:
/// bytes already in the socket were not "ready" until tokio's reactor had seen them, so a client got
/// the 1001 with none of its 400 echoes. The example now goes away through the core
/// (`WebSocketStream::go_away`): the close waits for the pong of a ping sent after the burst.
#[cfg(feature = "tokio")]
#[test]
fn sigterm_on_the_tokio_driver_echoes_every_message_written_before_it() {
    sigterm_after_each_connection_wrote_a_burst("tokio");
}

/// The exact form of "what a connection already sent is echoed": each client writes a burst without
/// reading, and the signal comes once every burst is written (the server may still be working through
/// them; how far it got is up to the scheduler, so the unit tests beside `Shutdown` hold the race
/// still). Every message of every burst must come back, in order, before the 1001.
fn sigterm_after_each_connection_wrote_a_burst(driver: &str) {
    const CLIENTS: usize = 50;
    const BURST: usize = 400;
    let mut server = EchoServer::start(&["--driver", driver, "--threads", "2"]);
    let url = format!("ws://{}/", server.addr);
    let (written, all_written) = mpsc::channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (url, written) = (url.clone(), written.clone());
            thread::spawn(move || -> (usize, Option<Message>) {
                let config = Config::default().close_timeout(Duration::from_secs(10));
                let mut ws = blocking::connect_with(&url, &ClientOptions::new(), &config).unwrap();
                for i in 0..BURST {
                    ws.send(Message::from(format!("{n}:{i}"))).unwrap();
                }
                let _ = written.send(());
                let mut echoed = 0;
                loop {
                    match ws.read().unwrap() {
                        Some(Message::Ping(_)) => {}
                        Some(reply) if reply == Message::from(format!("{n}:{echoed}")) => {
                            echoed += 1
                        }
                        other => {
                            while ws.read().unwrap().is_some() {}
                            return (echoed, other);
                        }
                    }
                }
            })
        })
        .collect();
    drop(written);
    for _ in 0..CLIENTS {
        all_written
            .recv_timeout(Duration::from_secs(30))
            .expect("a client failed before its burst was written");
    }
    server.terminate();
    for (n, client) in clients.into_iter().enumerate() {
        let (echoed, last) = client.join().unwrap();
        assert_eq!(echoed, BURST, "client {n}: echoes of its burst");
        assert_eq!(
            last,
            Some(Message::Close(Some((
                CloseCode::GOING_AWAY,
                "server shutting down".to_owned()
            )))),
            "client {n}"
        );
    }
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server did not exit within its close timeout (10 s)");
    assert!(status.success(), "{status}");
}
