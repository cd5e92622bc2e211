//! The server's side of the opening handshake as a sans-IO state machine, RFC 6455 §4.2: bytes in, the
//! request out, a deadline the driver sleeps until. Time is passed in, never read.

use std::time::Instant;

use super::head::{HeadReader, Input, Step};
use super::request::{read_request, Incoming};
use crate::error::Error;
use crate::Config;

/// Reads one request with a deadline. The driver feeds it what it reads ([`ServerHandshake::receive`],
/// [`ServerHandshake::receive_eof`]), sleeps at most until [`ServerHandshake::poll_timeout`] and then
/// calls [`ServerHandshake::handle_timeout`], and asks [`ServerHandshake::poll`] for the outcome.
///
/// A refusal is an error whose [`Error::http_response`] is the answer to write before closing: 400,
/// 426 or 431 for the request, 408 for [`Error::HandshakeTimeout`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use wscore::handshake::{Decision, Incoming, ServerHandshake};
/// use wscore::Config;
///
/// let start = Instant::now();
/// let mut handshake = ServerHandshake::new(&Config::default(), start);
/// handshake.receive(b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n");
/// assert!(handshake.poll()?.is_none(), "the head is not complete yet");
/// assert_eq!(handshake.poll_timeout(), Some(start + Duration::from_secs(10)));
/// handshake.receive(b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n\x81\x80");
/// let Some(Incoming::Upgrade(upgrade)) = handshake.poll()? else { panic!("an upgrade") };
/// let response = upgrade.respond(&Decision::accept())?;
/// assert!(response.starts_with(b"HTTP/1.1 101 "));
/// assert_eq!(handshake.leftover(), b"\x81\x80", "the first frame's bytes, for the Connection");
///
/// // A peer that says nothing is answered with 408 at the deadline.
/// let mut silent = ServerHandshake::new(&Config::default(), start);
/// let error = silent.handle_timeout(start + Duration::from_secs(10)).unwrap_err();
/// assert!(error.http_response().unwrap().to_bytes().starts_with(b"HTTP/1.1 408 "));
/// # Ok::<(), wscore::Error>(())
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    config: Config,
    reader: HeadReader<Incoming>,
}

impl ServerHandshake {
    /// A handshake on a transport accepted at `now`: it must be complete by `now +
    /// config.handshake_timeout`.
    pub fn new(config: &Config, now: Instant) -> ServerHandshake {
        ServerHandshake {
            config: config.clone(),
            reader: HeadReader::new(
                now.checked_add(config.handshake_timeout),
                config.max_handshake_size,
            ),
        }
    }

    /// Bytes read from the transport. While the head is incomplete, at most `max_handshake_size` plus
    /// this chunk are held; past the limit the request is refused with 431. Bytes received after the head
    /// are kept for [`ServerHandshake::leftover`]; after a refusal they are ignored.
    pub fn receive(&mut self, bytes: &[u8]) {
        let config = &self.config;
        self.reader.receive(bytes, |input| step(input, config));
    }

    /// The transport ended. Before a complete head, the handshake fails with a 400
    /// ([`Error::BadRequest`]); the answer may no longer reach the peer, but the error says what happened.
    pub fn receive_eof(&mut self) {
        let config = &self.config;
        self.reader.receive_eof(|input| step(input, config));
    }

    /// `Ok(None)`: more bytes are needed. `Ok(Some(_))`: the request, once; its head's bytes are consumed
    /// and the rest is [`ServerHandshake::leftover`]. `Err`: the refusal to answer (once; later calls are
    /// [`Error::Misuse`], as are calls after the request was handed out).
    pub fn poll(&mut self) -> Result<Option<Incoming>, Error> {
        self.reader.poll()
    }

    /// The bytes received past the request's head: the first WebSocket frames of an upgrade (give them to
    /// the [`crate::Connection`]), or the body or next request of a plain HTTP request. Empty before the
    /// request is complete.
    pub fn leftover(&self) -> &[u8] {
        self.reader.leftover()
    }

    /// When [`ServerHandshake::handle_timeout`] must be called next: the deadline, while the request is
    /// incomplete.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reader.poll_timeout()
    }

    /// The time is `now`: at or past the deadline with the request incomplete, the handshake fails with
    /// [`Error::HandshakeTimeout`] (its [`Error::http_response`] is the 408 to answer), returned here and
    /// by [`ServerHandshake::poll`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.reader.handle_timeout(now)
    }
}

fn step(input: Input<'_>, config: &Config) -> Step<Incoming> {
    // A head ends with an empty line, so it can only have become complete (or newly malformed past its
    // first line) if a line ended in the fresh bytes: a peer trickling a byte at a time does not make us
    // parse the whole buffer each time. The first bytes are parsed at once, so that what is not HTTP at
    // all (a TLS hello on a plain port) is refused without waiting.
    let worth_parsing = input.eof
        || input.fresh == 0
        || input.buf[input.fresh..].contains(&b'\n')
        || input.buf.len() >= config.max_handshake_size;
    if !worth_parsing {
        return Ok(None);
    }
    match read_request(input.buf, config)? {
        Some(parsed) => Ok(Some(parsed)),
        None if input.eof => Err(Error::BadRequest {
            status: 400,
            reason: "the stream ended inside the request head",
        }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::HttpResponse;
    use std::time::Duration;

    const REQUEST: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    const FRAME: &[u8] = &[0x81, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9];

    /// Feeds `input` whole, one byte at a time (polling after each: nothing before the head ends), and
    /// with trailing bytes; all three must agree, and the trailing bytes must be the leftover.
    fn read_three_ways(input: &[u8]) -> Result<(Incoming, Vec<u8>), Error> {
        let now = Instant::now();
        let config = Config::default();
        let mut whole = ServerHandshake::new(&config, now);
        whole.receive(input);
        let result = whole.poll()?.expect("complete");
        let leftover = whole.leftover().to_vec();

        let mut bytewise = ServerHandshake::new(&config, now);
        let mut bytewise_result = None;
        for (i, byte) in input.iter().enumerate() {
            bytewise.receive(std::slice::from_ref(byte));
            if bytewise_result.is_none() {
                bytewise_result = bytewise.poll()?;
                if bytewise_result.is_none() {
                    assert!(
                        bytewise.leftover().is_empty(),
                        "no leftover before the head ends ({i})"
                    );
                }
            }
        }
        assert_eq!(bytewise_result.as_ref(), Some(&result));
        assert_eq!(bytewise.leftover(), leftover);

        let mut trailing = ServerHandshake::new(&config, now);
        trailing.receive(&[input, FRAME].concat());
        assert_eq!(trailing.poll()?.as_ref(), Some(&result));
        assert_eq!(trailing.leftover(), [&leftover[..], FRAME].concat());
        Ok((result, leftover))
    }

    #[test]
    fn hands_out_an_upgrade_once_its_head_is_complete() {
        let (incoming, leftover) = read_three_ways(REQUEST).unwrap();
        let Incoming::Upgrade(upgrade) = incoming else {
            panic!("{incoming:?}")
        };
        assert_eq!(upgrade.request().query.as_deref(), Some("room=1"));
        assert!(leftover.is_empty());
    }

    #[test]
    fn keeps_the_first_frames_after_the_head() {
        let (_, leftover) = read_three_ways(&[REQUEST, FRAME].concat()).unwrap();
        assert_eq!(leftover, FRAME);
    }

    #[test]
    fn keeps_a_plain_requests_body_and_the_next_request() {
        let input =
            b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na=1GET / HTTP/1.1\r\n";
        let (incoming, leftover) = read_three_ways(input).unwrap();
        assert!(matches!(incoming, Incoming::Http(ref request) if request.method == "POST"));
        assert_eq!(leftover, b"a=1GET / HTTP/1.1\r\n");
    }

    #[test]
    fn refuses_a_bad_request_with_its_status_once() {
        let mut handshake = ServerHandshake::new(&Config::default(), Instant::now());
        handshake.receive(b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n");
        let error = handshake.poll().unwrap_err();
        assert_eq!(error.http_status(), Some(400));
        assert!(matches!(handshake.poll(), Err(Error::Misuse(_))));
        handshake.receive(REQUEST);
        assert!(
            handshake.leftover().is_empty(),
            "input after a refusal is ignored"
        );
    }

    #[test]
    fn refuses_what_is_not_http_from_its_first_bytes() {
        let mut handshake = ServerHandshake::new(&Config::default(), Instant::now());
        handshake.receive(b"\x16\x03\x01\x02\x00");
        assert_eq!(handshake.poll().unwrap_err().http_status(), Some(400));
    }

    #[test]
    fn times_out_a_silent_peer_with_408_at_the_deadline() {
        let start = Instant::now();
        let config = Config::default().handshake_timeout(Duration::from_secs(5));
        let mut handshake = ServerHandshake::new(&config, start);
        let deadline = start + Duration::from_secs(5);
        assert_eq!(handshake.poll_timeout(), Some(deadline));
        assert!(handshake
            .handle_timeout(deadline - Duration::from_millis(1))
            .is_ok());
        handshake.receive(b"GET / HTTP/1.1\r\n");
        assert!(matches!(
            handshake.handle_timeout(deadline),
            Err(Error::HandshakeTimeout)
        ));
        let error = handshake.poll().unwrap_err();
        assert_eq!(
            error.http_response().unwrap().to_bytes(),
            HttpResponse::new(408)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body("the handshake took too long")
                .to_bytes()
        );
        assert_eq!(handshake.poll_timeout(), None);
    }

    #[test]
    fn a_complete_request_has_no_deadline() {
        let start = Instant::now();
        let mut handshake = ServerHandshake::new(&Config::default(), start);
        handshake.receive(REQUEST);
        assert_eq!(handshake.poll_timeout(), None);
        assert!(handshake
            .handle_timeout(start + Duration::from_secs(3600))
            .is_ok());
        assert!(handshake.poll().unwrap().is_some());
    }

    #[test]
    fn refuses_a_stream_that_ends_inside_the_head_with_400() {
        let mut handshake = ServerHandshake::new(&Config::default(), Instant::now());
        handshake.receive(&REQUEST[..20]);
        handshake.receive_eof();
        assert!(matches!(
            handshake.poll(),
            Err(Error::BadRequest { status: 400, reason }) if reason.contains("ended")
        ));
    }

    #[test]
    fn holds_at_most_the_limit_and_one_chunk() {
        let config = Config::default().max_handshake_size(1024);
        let mut handshake = ServerHandshake::new(&config, Instant::now());
        handshake.receive(b"GET / HTTP/1.1\r\nX-Big: ");
        let chunk = [b'a'; 300];
        for _ in 0..100 {
            handshake.receive(&chunk);
            assert!(handshake.reader.held() <= 1024 + chunk.len());
        }
        assert_eq!(handshake.poll().unwrap_err().http_status(), Some(431));
        assert_eq!(handshake.reader.held(), 0);
    }
}
