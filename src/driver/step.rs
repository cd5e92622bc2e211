//! The steps every driver takes with the core between two I/O calls, whatever its I/O: what a read
//! returned, handed to the connection; the error a drained connection ended with; and one shape for the
//! two sans-IO handshakes, so one loop per driver runs either. The time is the caller's (`now`): the
//! blocking driver reads the system clock, the tokio driver tokio's (which a test can pause).

use std::io::{self, ErrorKind};
use std::time::Instant;

use crate::handshake::{
    ClientHandshake, Decision, Incoming, Request, Response, ServerHandshake, Upgrade,
};
use crate::{Config, Connection, Error, Role};

/// Hands what a read returned to the connection (`deliver` records `n` bytes), then tells it the time:
/// that stamps the traffic and fires the timers that are due, such as the one a timed-out read waited
/// for.
pub(crate) fn after_read(
    connection: &mut Connection,
    result: io::Result<usize>,
    now: Instant,
    deliver: impl FnOnce(&mut Connection, usize),
) -> Result<(), Error> {
    let outcome = match result {
        Ok(0) => connection.receive_eof(),
        Ok(n) => {
            deliver(connection, n);
            Ok(())
        }
        Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => Ok(()),
        // A peer that closes right after the close handshake may reset rather than end the stream; the
        // connection decides whether that was clean.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) =>
        {
            connection.receive_eof().map_err(|_| e.into())
        }
        Err(e) => Err(e.into()),
    };
    connection.handle_timeout(now);
    outcome
}

/// The error that ended a drained connection, if it has not been reported yet.
pub(crate) fn drained_error(connection: &mut Connection) -> Error {
    match connection.poll_event() {
        Err(error) => error,
        Ok(_) => Error::Closed,
    }
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The shape both sans-IO handshakes share, so one loop drives either.
pub(crate) trait Handshake {
    type Outcome;
    fn receive(&mut self, bytes: &[u8]);
    fn receive_eof(&mut self);
    fn poll(&mut self) -> Result<Option<Self::Outcome>, Error>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error>;
}

macro_rules! handshake {
    ($type:ty, $outcome:ty) => {
        impl Handshake for $type {
            type Outcome = $outcome;
            fn receive(&mut self, bytes: &[u8]) {
                <$type>::receive(self, bytes)
            }
            fn receive_eof(&mut self) {
                <$type>::receive_eof(self)
            }
            fn poll(&mut self) -> Result<Option<$outcome>, Error> {
                <$type>::poll(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$type>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
                <$type>::handle_timeout(self, now)
            }
        }
    };
}

handshake!(ServerHandshake, Incoming);
handshake!(ClientHandshake, Response);

/// Hands one read's result (into `chunk`) to a handshake; a timeout or an interruption hands nothing,
/// and the caller checks the deadline and reads again.
pub(crate) fn handshake_read<H: Handshake>(
    handshake: &mut H,
    result: io::Result<usize>,
    chunk: &[u8],
) -> Result<(), Error> {
    match result {
        Ok(0) => handshake.receive_eof(),
        Ok(n) => handshake.receive(&chunk[..n]),
        Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// What a server does once the request head is read (or its reading failed), whatever its I/O.
pub(crate) enum Answer {
    /// A plain HTTP request, for the application.
    Http(Request),
    /// Write this response, shut down, and return the error: a bad request (400, 408, 426, 431) or the
    /// policy's refusal.
    Refuse(Vec<u8>, Error),
    /// Write the 101, then run the connection.
    Open(Box<Opened>),
}

/// An accepted upgrade: the 101 to write and the connection it opens.
pub(crate) struct Opened {
    pub(crate) response: Vec<u8>,
    pub(crate) connection: Connection,
    pub(crate) request: Request,
    pub(crate) protocol: Option<String>,
}

/// Decides what the server answers: the policy sees an upgrade; a request that failed its checks gets
/// its HTTP refusal; an I/O error gets nothing, since nobody may be there to read it.
pub(crate) fn answer(
    read: Result<Incoming, Error>,
    config: &Config,
    policy: impl FnOnce(&Upgrade) -> Decision,
) -> Result<Answer, Error> {
    let upgrade = match read {
        Ok(Incoming::Http(request)) => return Ok(Answer::Http(request)),
        Ok(Incoming::Upgrade(upgrade)) => upgrade,
        Err(error) => {
            return match error.http_response() {
                Some(response) => Ok(Answer::Refuse(response.to_bytes(), error)),
                None => Err(error),
            }
        }
    };
    let decision = policy(&upgrade);
    let response = upgrade.respond(&decision)?;
    match decision {
        Decision::Refuse(refusal) => {
            Ok(Answer::Refuse(response, Error::Refused(Box::new(refusal))))
        }
        Decision::Accept(acceptance) => Ok(Answer::Open(Box::new(Opened {
            response,
            connection: Connection::with_extensions(Role::Server, config, upgrade.extensions()),
            request: upgrade.request().clone(),
            protocol: acceptance.protocol,
        }))),
    }
}
