//! The steps the whole socket and its split halves share: decide what to do next, read once, write what
//! is queued, each waiting no longer than the connection's next deadline. Every decision is the
//! connection's; these only move bytes and tell it the time.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use super::Transport;
use crate::driver::step;
use crate::{Connection, Error};

/// What a reader does next.
pub(crate) enum Next {
    /// An event is ready in the connection.
    Event,
    /// The connection is drained: the stream can be dropped.
    Done,
    /// Read, waiting at most until this deadline.
    Read(Option<Instant>),
}

/// Once the output is written: an event, the end, or a read. Shuts our side of the stream down when the
/// connection says so, and keeps reading after it until the peer ends the stream or the close timeout
/// passes, so unread bytes never turn the close into a reset.
pub(crate) fn next_step<S: Transport>(
    connection: &mut Connection,
    writer: &mut S,
    shut_down: &mut bool,
) -> Result<Next, Error> {
    if connection.poll_event()? {
        return Ok(Next::Event);
    }
    if connection.should_close_transport() && !*shut_down {
        *shut_down = true;
        // The peer may have gone already; the read that follows finds out.
        let _ = writer.shutdown_write();
    }
    if connection.is_drained() {
        return Ok(Next::Done);
    }
    Ok(Next::Read(connection.poll_timeout()))
}

/// Hands what a read returned to the connection at the system clock's time (see [`step::after_read`]).
pub(crate) fn after_read(
    connection: &mut Connection,
    result: io::Result<usize>,
    deliver: impl FnOnce(&mut Connection, usize),
) -> Result<(), Error> {
    step::after_read(connection, result, Instant::now(), deliver)
}

/// Writes everything queued, waiting no longer than the connection's deadlines. A write that runs out
/// of time lets the timers run (a keepalive failure, then the close timeout, end a peer that never
/// reads); once the connection is drained, what could not be written is abandoned with its error.
pub(crate) fn write_queued<S: Transport>(
    connection: &mut Connection,
    stream: &mut S,
    timeouts: &mut Timeouts,
) -> Result<(), Error> {
    if connection.pending_output().is_empty() {
        return Ok(());
    }
    while !connection.pending_output().is_empty() {
        if connection.is_drained() {
            return Err(drained_error(connection));
        }
        timeouts.write(stream, due_timers(connection))?;
        match stream.write(connection.pending_output()) {
            Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero).into()),
            Ok(n) => connection.consume_output(n),
            Err(e) if is_timeout(&e) => connection.handle_timeout(Instant::now()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    flush(stream, timeouts, || {
        if connection.is_drained() {
            Err(drained_error(connection))
        } else {
            Ok(due_timers(connection))
        }
    })
}

/// Flushes the stream (a TLS stream writes its buffered records here, and may time out as a write
/// does); `timers` runs the timers that are due and gives the next deadline, or the error that ends
/// the wait.
pub(crate) fn flush<S: Transport>(
    stream: &mut S,
    timeouts: &mut Timeouts,
    mut timers: impl FnMut() -> Result<Option<Instant>, Error>,
) -> Result<(), Error> {
    loop {
        timeouts.write(stream, timers()?)?;
        match stream.flush() {
            Ok(()) => return Ok(()),
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Tells the connection the time before a write and returns the next deadline. That runs the timers
/// that are due (a write that keeps making progress never times out, yet a deadline may pass during
/// it), and stamps the messages queued since the last read: an echo queued after the read that told
/// the time would otherwise count only from the next wake, and the idle close would come after up to
/// twice `idle_timeout`. One clock read per write system call.
pub(crate) fn due_timers(connection: &mut Connection) -> Option<Instant> {
    connection.handle_timeout(Instant::now());
    connection.poll_timeout()
}

pub(crate) use step::{drained_error, is_timeout};

/// The timeouts last set on a stream. Setting one is a system call, so it is made only when the next
/// deadline needs a shorter wait than the one set, or a much longer one (waking early costs one loop).
#[derive(Debug, Default)]
pub(crate) struct Timeouts {
    read: Option<Option<Duration>>,
    write: Option<Option<Duration>>,
}

impl Timeouts {
    pub(crate) fn read<S: Transport>(
        &mut self,
        stream: &mut S,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        update(&mut self.read, deadline, |wait| {
            stream.set_read_timeout(wait)
        })
    }

    pub(crate) fn write<S: Transport>(
        &mut self,
        stream: &mut S,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        update(&mut self.write, deadline, |wait| {
            stream.set_write_timeout(wait)
        })
    }
}

/// Sets a timeout through `apply` if the one last set (`set`) does not suit `deadline`.
fn update(
    set: &mut Option<Option<Duration>>,
    deadline: Option<Instant>,
    apply: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    let wait = wait_until(deadline);
    if needs_update(*set, wait) {
        apply(wait)?;
        *set = Some(wait);
    }
    Ok(())
}

/// The wait until a deadline; at least a millisecond, since a zero timeout means "none" to the OS.
fn wait_until(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|deadline| {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    })
}

fn needs_update(set: Option<Option<Duration>>, wanted: Option<Duration>) -> bool {
    match (set, wanted) {
        (Some(Some(set)), Some(wanted)) => wanted < set || wanted > set * 2,
        (Some(set), wanted) => set != wanted,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_set_again_only_when_it_would_wake_late_or_far_too_early() {
        let s = Duration::from_secs;
        assert!(needs_update(None, None));
        assert!(!needs_update(Some(None), None));
        assert!(needs_update(Some(None), Some(s(5))));
        assert!(needs_update(Some(Some(s(5))), None));
        assert!(
            needs_update(Some(Some(s(5))), Some(s(4))),
            "would wake late"
        );
        assert!(
            !needs_update(Some(Some(s(5))), Some(s(9))),
            "wakes early once"
        );
        assert!(needs_update(Some(Some(s(5))), Some(s(11))));
    }
}
