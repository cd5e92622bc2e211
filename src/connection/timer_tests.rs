//! The connection's timers and output bound, driven by a simulated clock: `Instant`s computed from a
//! start, never a sleep.

use std::time::{Duration, Instant};

use super::tests::{close_payload, frames_in, masked, KEY};
use super::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A server whose clock started at the returned instant, with its output drained.
fn started(config: &Config) -> (Connection, Instant) {
    let mut conn = Connection::new(Role::Server, config);
    let t0 = Instant::now();
    conn.handle_timeout(t0);
    (conn, t0)
}

fn take_output(conn: &mut Connection) -> Vec<(u8, Vec<u8>)> {
    let out = conn.pending_output().to_vec();
    conn.consume_output(out.len());
    frames_in(&out)
}

#[test]
fn keepalive_pings_a_silent_peer_then_fails_with_1011() {
    let (mut conn, t0) = started(&Config::default());
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(20)));
    conn.handle_timeout(t0 + secs(19));
    assert!(
        conn.pending_output().is_empty(),
        "no ping before the interval"
    );
    conn.handle_timeout(t0 + secs(20));
    assert_eq!(take_output(&mut conn), [(0x89, vec![])]);
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(40)));
    conn.handle_timeout(t0 + secs(40));
    assert!(matches!(conn.next_event(), Err(Error::KeepaliveTimeout)));
    assert!(
        matches!(conn.next_event(), Ok(None)),
        "the error is reported once"
    );
    assert_eq!(
        take_output(&mut conn),
        [(0x88, close_payload(1011, "keepalive timeout"))]
    );
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.should_close_transport(), "a failure closes at once");
}

#[test]
fn any_bytes_from_the_peer_keep_the_connection_alive() {
    let (mut conn, t0) = started(&Config::default());
    conn.handle_timeout(t0 + secs(20));
    take_output(&mut conn);
    // Part of a large frame, not a pong: still a sign of life.
    conn.receive(&masked(0x82, &[0; 10], KEY)[..8]);
    conn.handle_timeout(t0 + secs(30));
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(50)));
    conn.handle_timeout(t0 + secs(45));
    assert!(conn.pending_output().is_empty());
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn traffic_postpones_the_keepalive_ping() {
    let (mut conn, t0) = started(&Config::default());
    for i in 1..10 {
        conn.receive(&masked(0x81, b"hi", KEY));
        while conn.next_event().unwrap().is_some() {}
        conn.handle_timeout(t0 + secs(15 * i));
    }
    assert!(conn.pending_output().is_empty(), "never idle long enough");
}

#[test]
fn keepalive_can_be_turned_off() {
    let (mut conn, t0) = started(&Config::default().ping_interval(None));
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(t0 + secs(3600));
    assert!(conn.pending_output().is_empty());
}

#[test]
fn idle_timeout_closes_with_1001_when_no_message_moves() {
    let config = Config::default()
        .idle_timeout(Some(secs(60)))
        .ping_interval(None);
    let (mut conn, t0) = started(&config);
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(60)));
    conn.sender().send_text("out").unwrap();
    take_output(&mut conn);
    conn.handle_timeout(t0 + secs(30));
    conn.handle_timeout(t0 + secs(89));
    assert!(
        conn.pending_output().is_empty(),
        "a sent message counts as activity"
    );
    conn.handle_timeout(t0 + secs(90));
    assert_eq!(
        take_output(&mut conn),
        [(0x88, close_payload(1001, "idle timeout"))]
    );
    assert_eq!(conn.state(), State::Closing);
}

#[test]
fn pings_do_not_count_as_activity_for_the_idle_timeout() {
    let config = Config::default().idle_timeout(Some(secs(60)));
    let (mut conn, t0) = started(&config);
    for i in 1..=6 {
        conn.receive(&masked(0x89, b"", KEY));
        while conn.next_event().unwrap().is_some() {}
        conn.handle_timeout(t0 + secs(10 * i));
    }
    let frames = take_output(&mut conn);
    assert_eq!(
        frames.last(),
        Some(&(0x88, close_payload(1001, "idle timeout")))
    );
}

#[test]
fn an_unanswered_close_ends_at_the_close_timeout() {
    let (mut conn, t0) = started(&Config::default());
    conn.sender().close(CloseCode::NORMAL, "bye").unwrap();
    take_output(&mut conn);
    // The close was queued between clock readings: the next reading is needed at once to stamp it.
    assert_eq!(conn.poll_timeout(), Some(t0));
    conn.handle_timeout(t0 + secs(1));
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(11)));
    assert!(
        !conn.should_close_transport(),
        "the server waits for the reply"
    );
    conn.handle_timeout(t0 + secs(11));
    assert!(matches!(conn.next_event(), Err(Error::CloseTimeout)));
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.should_close_transport() && conn.is_drained());
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn an_answered_close_is_clean_and_waits_only_for_the_transport() {
    let mut client = Connection::new(Role::Client, &Config::default());
    let t0 = Instant::now();
    client.handle_timeout(t0);
    client.sender().close(CloseCode::NORMAL, "").unwrap();
    take_output(&mut client);
    client.handle_timeout(t0);
    client.receive(&[0x88, 0x02, 0x03, 0xe8]);
    assert!(matches!(
        client.next_event(),
        Ok(Some((Event::Close(_), _)))
    ));
    assert!(
        !client.should_close_transport(),
        "the client waits for the server's FIN"
    );
    // The server never ends TCP: the client gives up at the close timeout, without an error.
    client.handle_timeout(t0 + secs(10));
    assert!(client.should_close_transport() && client.is_drained());
    assert!(matches!(client.next_event(), Ok(None)));
}

#[test]
fn the_transport_ending_drains_the_connection() {
    let (mut conn, _) = started(&Config::default());
    conn.receive(&masked(0x88, &close_payload(1000, ""), KEY));
    assert!(matches!(conn.next_event(), Ok(Some((Event::Close(_), _)))));
    assert!(!conn.is_drained(), "the server waits for the client's FIN");
    conn.receive_eof().unwrap();
    assert!(conn.is_drained());
}

#[test]
fn a_failed_connection_is_bounded_by_the_close_timeout_too() {
    let (mut conn, t0) = started(&Config::default());
    conn.receive(&[0x81, 0x00]); // unmasked from a client: 1002
    assert!(conn.next_event().is_err());
    conn.handle_timeout(t0 + secs(1));
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(11)));
    conn.handle_timeout(t0 + secs(11));
    assert!(conn.is_drained());
    assert!(
        matches!(conn.next_event(), Ok(None)),
        "the failure was reported already"
    );
}

#[test]
fn a_close_queued_behind_unread_output_is_ended_by_the_keepalive_then_the_close_timeout() {
    // The close timer runs once our close frame is out; until then the keepalive bounds a peer that
    // reads nothing.
    let (mut conn, t0) = started(&Config::default());
    conn.sender().send_binary(&[0; 1000]).unwrap();
    conn.sender().close(CloseCode::NORMAL, "").unwrap();
    conn.handle_timeout(t0 + secs(10));
    assert!(
        !conn.should_close_transport(),
        "not yet: the close is not out"
    );
    conn.handle_timeout(t0 + secs(20));
    conn.handle_timeout(t0 + secs(40));
    assert!(matches!(conn.next_event(), Err(Error::KeepaliveTimeout)));
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(50)));
    conn.handle_timeout(t0 + secs(50));
    assert!(!conn.pending_output().is_empty());
    assert!(conn.should_close_transport() && conn.is_drained());
}

#[test]
fn the_close_timer_starts_when_the_close_frame_is_written_not_queued() {
    let (mut conn, t0) = started(&Config::default());
    conn.sender().send_binary(&[0; 1000]).unwrap();
    conn.sender().close(CloseCode::NORMAL, "").unwrap();
    conn.handle_timeout(t0 + secs(1));
    // The peer reads the message slowly; the close frame goes out at 15 s.
    conn.consume_output(500);
    conn.handle_timeout(t0 + secs(8));
    let rest = conn.pending_output().len();
    conn.consume_output(rest - 1);
    conn.handle_timeout(t0 + secs(14));
    conn.consume_output(1);
    conn.handle_timeout(t0 + secs(15));
    assert_eq!(conn.poll_timeout(), Some(t0 + secs(25)));
    conn.handle_timeout(t0 + secs(24));
    assert!(!conn.is_drained());
    conn.handle_timeout(t0 + secs(25));
    assert!(matches!(conn.next_event(), Err(Error::CloseTimeout)));
}

#[test]
fn nothing_is_queued_once_the_transport_ended() {
    let (mut conn, _) = started(&Config::default());
    assert!(matches!(conn.receive_eof(), Err(Error::AbnormalClosure)));
    assert!(matches!(
        conn.sender().send_text("lost"),
        Err(Error::Closed)
    ));
    conn.sender().close(CloseCode::NORMAL, "").unwrap();
    assert!(conn.pending_output().is_empty());
}

#[test]
fn a_message_is_refused_before_queueing_while_the_output_is_at_its_bound() {
    let mut conn = Connection::new(Role::Server, &Config::default().max_write_buffer(100));
    let sender = conn.sender();
    sender.send_binary(&[1; 60]).unwrap();
    assert!(!sender.is_full(), "62 bytes, below the bound");
    sender.send_binary(&[1; 60]).unwrap();
    assert!(
        sender.is_full(),
        "124 bytes: the bound plus one message at most"
    );
    let before = sender.pending_output().to_vec();
    for attempt in [
        sender.send_binary(&[2; 1]),
        sender.send_text("x"),
        sender.send_ping(&[3; 1]),
        sender.send_pong(&[3; 1]),
        sender.send_fragment(MessageKind::Binary, &[4; 1], true),
    ] {
        assert!(matches!(
            attempt,
            Err(Error::WriteBufferFull {
                buffered: 124,
                max: 100
            })
        ));
    }
    assert_eq!(sender.pending_output(), &before[..], "nothing was queued");
    // Written down to below the bound: taken again.
    sender.consume_output(30);
    assert!(!sender.is_full());
    sender.send_binary(&[2; 60]).unwrap();
}

#[test]
fn one_message_larger_than_the_bound_goes_when_the_queue_is_below_it() {
    let mut conn = Connection::new(Role::Server, &Config::default().max_write_buffer(100));
    conn.sender().send_binary(&[0; 50]).unwrap();
    conn.sender().send_binary(&[0; 1000]).unwrap();
    assert!(matches!(
        conn.sender().send_binary(&[0; 1]),
        Err(Error::WriteBufferFull { .. })
    ));
}

#[test]
fn pongs_and_close_frames_are_never_refused_for_room() {
    let mut conn = Connection::new(Role::Server, &Config::default().max_write_buffer(100));
    conn.sender().send_binary(&[0; 98]).unwrap();
    conn.receive(&masked(0x89, b"ping", KEY));
    conn.receive(&masked(0x88, &close_payload(1000, ""), KEY));
    while let Ok(Some(_)) = conn.next_event() {}
    let frames = take_output(&mut conn);
    assert_eq!(
        frames[1..],
        [(0x8a, b"ping".to_vec()), (0x88, close_payload(1000, ""))]
    );
}

#[test]
fn answering_the_peers_close_with_close_is_not_an_error() {
    let (mut conn, _) = started(&Config::default());
    conn.receive(&masked(0x88, &close_payload(1001, "away"), KEY));
    let Some((Event::Close(Some(frame)), sender)) = conn.next_event().unwrap() else {
        panic!("expected the close")
    };
    assert_eq!(frame.code, CloseCode::GOING_AWAY);
    sender.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        take_output(&mut conn),
        [(0x88, close_payload(1001, ""))],
        "only the automatic echo"
    );
}

#[test]
fn a_server_has_no_mask_generator_and_a_seeded_client_masks_unlike_its_nonce() {
    let server = Connection::new(Role::Server, &Config::default());
    assert!(server.sender.masks.is_none());
    // Two clients from one seeded config: different masks.
    let config = Config::default().rng_seed(Some(5));
    let mut a = Connection::new(Role::Client, &config);
    let mut b = Connection::new(Role::Client, &config);
    a.sender().send_text("x").unwrap();
    b.sender().send_text("x").unwrap();
    assert_ne!(a.pending_output()[2..6], b.pending_output()[2..6]);
}

#[test]
fn a_timer_that_fails_the_connection_between_poll_event_and_next_event_drops_the_event() {
    // Regression: a split driver's writer thread may run the timers while the reader holds a found
    // event; the event's bytes are discarded with the input, so it must not be handed out.
    let (mut conn, t0) = started(&Config::default());
    conn.handle_timeout(t0 + secs(20));
    conn.receive(&masked(0x81, b"late", KEY));
    assert!(conn.poll_event().unwrap());
    // The bytes arrived, but the timers have not seen them yet: the keepalive fails.
    conn.received_bytes = false;
    conn.handle_timeout(t0 + secs(40));
    assert!(matches!(conn.next_event(), Err(Error::KeepaliveTimeout)));
    assert!(matches!(conn.next_event(), Ok(None)));
}

#[test]
fn messages_received_whole_before_the_transport_ended_are_still_handed_out() {
    let (mut conn, _) = started(&Config::default());
    let mut input = masked(0x81, b"first", KEY);
    input.extend(masked(0x82, b"second", KEY));
    input.extend(&masked(0x81, b"cut short", KEY)[..6]);
    conn.receive(&input);
    assert!(matches!(conn.receive_eof(), Err(Error::AbnormalClosure)));
    assert_eq!(conn.state(), State::Closed);
    assert!(matches!(
        conn.next_event(),
        Ok(Some((Event::Text("first"), _)))
    ));
    assert!(matches!(
        conn.next_event(),
        Ok(Some((Event::Binary(b"second"), _)))
    ));
    assert!(
        matches!(conn.next_event(), Ok(None)),
        "the cut frame is not"
    );
    assert!(conn.is_drained());
}

#[test]
fn a_peer_reading_output_that_backed_up_is_alive_while_our_ping_waits_behind_it() {
    let (mut conn, t0) = started(&Config::default());
    conn.sender().send_binary(&[0; 100_000]).unwrap();
    conn.handle_timeout(t0 + secs(20));
    assert!(
        conn.poll_timeout() == Some(t0 + secs(40)),
        "the ping is queued"
    );
    // The transport takes the queue a part at a time: the peer is reading it.
    conn.consume_output(30_000);
    conn.handle_timeout(t0 + secs(30));
    conn.consume_output(30_000);
    conn.handle_timeout(t0 + secs(45));
    assert_eq!(conn.state(), State::Open, "not failed at the ping timeout");
    assert!(matches!(conn.next_event(), Ok(None)));
}

#[test]
fn output_written_whole_at_once_is_no_sign_of_life() {
    // A vanished peer's kernel still takes small writes: they must not keep the connection open.
    let (mut conn, t0) = started(&Config::default());
    for i in 1..=4 {
        conn.sender().send_text("tick").unwrap();
        let n = conn.pending_output().len();
        conn.consume_output(n);
        conn.handle_timeout(t0 + secs(10 * i));
    }
    assert!(matches!(conn.next_event(), Err(Error::KeepaliveTimeout)));
}
