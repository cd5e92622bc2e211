//! Going away without losing what is in flight: [`Connection::go_away`], a close with 1001 (RFC 6455
//! §7.4.1: "an endpoint is 'going away', such as a server going down") that first lets the application
//! answer every message the peer sent before it learned of the close.
//!
//! Closing at once cannot do that. Once our close frame is sent nothing but control frames may follow
//! it (§5.5.1), yet the peer may have written messages that are still on their way, or still in our
//! receive buffer: they arrive after the close and cannot be answered. So `go_away` starts with a ping
//! instead, and closes when its pong comes back. The peer answers a ping as soon as it reads it
//! (§5.5.2), and its frames arrive in the order it wrote them, so every message it wrote before it read
//! our ping arrives before the pong: by the time the pong is parsed, those messages have been handed out
//! and answered. A control frame may come between the fragments of a message (§5.4): then the close
//! waits for that message's last fragment, and for its answer.
//!
//! | step | entered when | then |
//! |---|---|---|
//! | `Pinged` | `go_away` queued the ping | events flow and may be answered as usual |
//! | `Answered` | its pong arrived in the middle of a fragmented message | the close waits for the message's end |
//! | (closing) | the pong arrived, the message around it was answered, or `close_timeout` passed without a pong | the close handshake (§7.1.2–§7.1.4) |
//!
//! The wait for the pong is bounded by `Config::close_timeout`, as the wait for the peer's close is: a
//! peer that never answers pings gets the 1001 all the same, one close timeout later.

use std::time::Instant;

use super::{Connection, State};
use crate::receive::Ready;
use crate::{CloseCode, Role};

/// The payload of the ping that [`Connection::go_away`] waits for. A pong answering it carries the same
/// bytes (RFC 6455 §5.5.3), which tells it from keepalive pongs and from the application's own.
pub(super) const PING: &[u8] = b"going away";

/// Where a graceful going-away stands, until its close is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GoingAway {
    /// The ping is queued or on its way; no pong yet.
    Pinged,
    /// The pong came in the middle of a fragmented message: the close waits for its end.
    Answered,
}

impl Connection {
    /// Closes with 1001 ("going away", RFC 6455 §7.4.1) without losing what is in flight: queues a ping,
    /// and once its pong arrives (after everything the peer sent before it read the ping), queues the
    /// close frame. Until then events keep coming and may be answered as usual; if no pong arrives
    /// within `Config::close_timeout`, the close is queued without it. The close handshake then runs
    /// as for [`Sender::close`](crate::Sender::close). The reason says who goes: `server shutting down`
    /// from a server, `going away` from a client. Does nothing once a close frame was sent or received,
    /// or on a second call. This is how a server shuts down gracefully (the blocking driver's
    /// `Shutdown` calls it for every connection).
    ///
    /// `now` starts the wait for the pong; [`Connection::poll_timeout`] includes its end.
    ///
    /// ```
    /// use std::time::Instant;
    /// use wscore::{CloseCode, Config, Connection, Event, Role, State};
    ///
    /// fn wire(from: &mut Connection, to: &mut Connection) {
    ///     to.receive(from.pending_output());
    ///     let n = from.pending_output().len();
    ///     from.consume_output(n);
    /// }
    /// let mut server = Connection::new(Role::Server, &Config::default());
    /// let mut client = Connection::new(Role::Client, &Config::default());
    ///
    /// client.sender().send_text("in flight").unwrap(); // written before the client sees the ping
    /// server.go_away(Instant::now());
    /// assert_eq!(server.state(), State::Open); // a ping so far, no close
    /// wire(&mut server, &mut client);
    /// assert!(matches!(client.next_event(), Ok(Some((Event::Ping(b"going away"), _)))));
    /// wire(&mut client, &mut server); // the text, then the pong
    ///
    /// // The message in flight is handed out, and can still be answered.
    /// let (event, sender) = server.next_event().unwrap().unwrap();
    /// assert_eq!(event, Event::Text("in flight"));
    /// sender.send_text("answered").unwrap();
    /// // The pong comes next: now the close is queued, after the answer.
    /// assert!(matches!(server.next_event(), Ok(Some((Event::Pong(b"going away"), _)))));
    /// assert_eq!(server.state(), State::Closing);
    ///
    /// wire(&mut server, &mut client);
    /// assert!(matches!(client.next_event(), Ok(Some((Event::Text("answered"), _)))));
    /// let Ok(Some((Event::Close(Some(close)), _))) = client.next_event() else { panic!() };
    /// assert_eq!((close.code, close.reason), (CloseCode::GOING_AWAY, "server shutting down"));
    /// ```
    pub fn go_away(&mut self, now: Instant) {
        if self.going_away.is_some() || self.state() != State::Open {
            return;
        }
        self.going_away = Some(GoingAway::Pinged);
        self.sender.send_own_ping(PING);
        self.timers.start_go_away(now);
    }

    /// Before each parse while going away: the application asks for the next event, so it has answered
    /// the last one; if that was the message the pong came in the middle of, the close goes now, ahead
    /// of anything parsed after it.
    #[cold]
    pub(super) fn going_away_before(&mut self) {
        if self.going_away == Some(GoingAway::Answered) && !self.receiver.in_message() {
            self.close_going_away();
        }
    }

    /// After each parse while going away: the pong of our ping queues the close at once, or, in the
    /// middle of a fragmented message, once that message is answered (see `going_away_before`).
    #[cold]
    pub(super) fn going_away_after(&mut self, ready: &Option<Ready>) {
        let Some(Ready::Pong(range)) = ready else {
            return;
        };
        if self.receiver.unread().get(range.clone()) == Some(PING) {
            self.going_away = Some(GoingAway::Answered);
            self.going_away_before();
        }
    }

    /// Queues the 1001 close of a going-away (a no-op if a close frame is queued already).
    pub(super) fn close_going_away(&mut self) {
        self.going_away = None;
        self.timers.stop_go_away();
        let reason = match self.role() {
            Role::Server => "server shutting down",
            Role::Client => "going away",
        };
        let _ = self.sender.close(CloseCode::GOING_AWAY, reason);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::tests::{close_payload, frames_in, masked, KEY};
    use super::*;
    use crate::{Config, Error, Event};

    fn started_server() -> (Connection, Instant) {
        let mut server = Connection::new(Role::Server, &Config::default());
        let t0 = Instant::now();
        server.handle_timeout(t0);
        (server, t0)
    }

    fn take_output(conn: &mut Connection) -> Vec<(u8, Vec<u8>)> {
        let out = conn.pending_output().to_vec();
        conn.consume_output(out.len());
        frames_in(&out)
    }

    fn pong(payload: &[u8]) -> Vec<u8> {
        masked(0x8a, payload, KEY)
    }

    /// Feeds `input` whole, one byte at a time, and with a trailing partial frame, answering every text
    /// with `re: TEXT`; returns the frames written in each run, which must agree.
    fn answer_all(input: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let runs: Vec<Vec<(u8, Vec<u8>)>> = [1, input.len().max(1), 0]
            .into_iter()
            .map(|chunks| {
                let (mut server, t0) = started_server();
                server.go_away(t0);
                let mut out = take_output(&mut server);
                let trailing = masked(0x81, b"after", KEY);
                let fed: Vec<u8> = match chunks {
                    0 => [input, &trailing[..3]].concat(),
                    _ => input.to_vec(),
                };
                let step = fed.len().div_ceil(chunks.max(1)).max(1);
                for piece in fed.chunks(step) {
                    server.receive(piece);
                    while let Some((event, sender)) = server.next_event().unwrap() {
                        if let Event::Text(text) = event {
                            let _ = sender.send_text(&format!("re: {text}"));
                        }
                    }
                    out.extend(take_output(&mut server));
                }
                out
            })
            .collect();
        assert_eq!(runs[0], runs[1], "byte at a time");
        assert_eq!(runs[0], runs[2], "with trailing bytes");
        runs[0].clone()
    }

    #[test]
    fn go_away_pings_first_and_closes_with_1001_when_the_pong_returns() {
        let input = [masked(0x81, b"a", KEY), pong(PING)].concat();
        assert_eq!(
            answer_all(&input),
            [
                (0x89, PING.to_vec()),
                (0x81, b"re: a".to_vec()),
                (0x88, close_payload(1001, "server shutting down")),
            ]
        );
    }

    #[test]
    fn messages_the_peer_sent_before_the_pong_are_answered_ahead_of_the_close() {
        let input = [
            masked(0x81, b"a", KEY),
            masked(0x81, b"b", KEY),
            pong(PING),
            masked(0x81, b"late", KEY),
        ]
        .concat();
        assert_eq!(
            answer_all(&input),
            [
                (0x89, PING.to_vec()),
                (0x81, b"re: a".to_vec()),
                (0x81, b"re: b".to_vec()),
                // Sent after the peer read the ping: handed out, but nothing more may follow the close
                // (RFC 6455 §5.5.1).
                (0x88, close_payload(1001, "server shutting down")),
            ]
        );
    }

    #[test]
    fn a_pong_between_fragments_lets_the_fragmented_message_finish_and_be_answered_first() {
        let input = [
            masked(0x01, b"hel", KEY),
            pong(PING),
            masked(0x80, b"lo", KEY),
            masked(0x81, b"late", KEY),
        ]
        .concat();
        assert_eq!(
            answer_all(&input),
            [
                (0x89, PING.to_vec()),
                (0x81, b"re: hello".to_vec()),
                (0x88, close_payload(1001, "server shutting down")),
            ]
        );
    }

    #[test]
    fn other_pongs_do_not_end_the_wait() {
        let input = [pong(b""), pong(b"going"), masked(0x81, b"a", KEY)].concat();
        assert_eq!(
            answer_all(&input),
            [(0x89, PING.to_vec()), (0x81, b"re: a".to_vec())]
        );
    }

    #[test]
    fn without_a_pong_the_close_goes_after_the_close_timeout() {
        let (mut server, t0) = started_server();
        server.go_away(t0);
        assert_eq!(server.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        server.handle_timeout(t0 + Duration::from_secs(9));
        assert_eq!(take_output(&mut server), [(0x89, PING.to_vec())]);
        server.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(
            take_output(&mut server),
            [(0x88, close_payload(1001, "server shutting down"))]
        );
        assert_eq!(server.state(), State::Closing);
    }

    #[test]
    fn a_client_goes_away_with_its_own_reason_and_a_masked_ping() {
        let config = Config::default().rng_seed(Some(7));
        let mut client = Connection::new(Role::Client, &config);
        client.go_away(Instant::now());
        let out = client.pending_output().to_vec();
        assert_eq!(out[0], 0x89);
        assert_eq!(out[1], 0x80 | PING.len() as u8, "masked");
        client.consume_output(out.len());
        client.receive(&[[0x8a, PING.len() as u8].as_slice(), PING].concat());
        assert!(matches!(
            client.next_event(),
            Ok(Some((Event::Pong(PING), _)))
        ));
        assert_eq!(
            take_output(&mut client),
            [(0x88, close_payload(1001, "going away"))]
        );
    }

    #[test]
    fn go_away_does_nothing_after_a_close_or_a_second_time() {
        let (mut server, t0) = started_server();
        server.go_away(t0);
        server.go_away(t0);
        assert_eq!(
            take_output(&mut server),
            [(0x89, PING.to_vec())],
            "one ping"
        );

        let (mut closing, t0) = started_server();
        closing.sender().close(CloseCode::NORMAL, "").unwrap();
        take_output(&mut closing);
        closing.go_away(t0);
        assert!(closing.pending_output().is_empty());

        let (mut closed, t0) = started_server();
        closed.receive(&masked(0x88, &close_payload(1000, ""), KEY));
        assert!(matches!(
            closed.next_event(),
            Ok(Some((Event::Close(_), _)))
        ));
        take_output(&mut closed);
        closed.go_away(t0);
        assert!(closed.pending_output().is_empty());
    }

    #[test]
    fn the_ping_is_queued_even_when_the_output_is_full() {
        let config = Config::default().max_write_buffer(16);
        let mut server = Connection::new(Role::Server, &config);
        server.sender().send_binary(&[0; 32]).unwrap();
        assert!(matches!(
            server.sender().send_ping(b""),
            Err(Error::WriteBufferFull { .. })
        ));
        server.go_away(Instant::now());
        let frames = take_output(&mut server);
        assert_eq!(frames.last(), Some(&(0x89, PING.to_vec())));
    }

    #[test]
    fn a_peer_error_while_waiting_fails_with_its_own_code_not_1001() {
        let (mut server, t0) = started_server();
        server.go_away(t0);
        take_output(&mut server);
        server.receive(&[0x81, 0x01, b'x']); // unmasked: 1002
        assert!(server.next_event().is_err());
        assert_eq!(take_output(&mut server)[0].1[..2], 1002u16.to_be_bytes());
        server.handle_timeout(t0 + Duration::from_secs(10));
        assert!(server.pending_output().is_empty(), "no second close");
    }
}
