//! The poll steps the whole stream and its split halves share: write what is queued, hand out the next
//! event, read once, and run the timers with one `Sleep` armed at the connection's next deadline. Every
//! decision is the connection's; these move bytes and tell it tokio's time (so a test can pause it).
//!
//! All the state lives in [`Io`], never in a future: a poll that returns `Pending` has taken nothing
//! out of the connection, which is what makes reading cancel-safe.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::driver::step;
use crate::{CloseCode, Connection, Error, Message, State};

/// How long a connection with nothing to read keeps its buffers (as on the event loop): giving them
/// back at every pending read would allocate once per message for a peer that sends one and waits.
const RELEASE_BUFFERS_AFTER: Duration = Duration::from_secs(1);

/// A read goes straight into the connection's buffer once its traffic has grown it; a quiet
/// connection's read lands here first (one per thread), so it holds no more than it has received.
const SCRATCH: usize = 64 << 10;

thread_local! {
    static SCRATCH_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Tokio's clock as the core's `Instant`: paused and advanced by `tokio::time::pause` in tests.
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// A connection and its stream, with what the driver must remember between polls.
#[derive(Debug)]
pub(crate) struct Io<S> {
    pub(crate) stream: S,
    pub(crate) connection: Connection,
    /// Made at the first wait, inside the runtime; reset to each new deadline.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: Option<std::time::Instant>,
    needs_flush: bool,
    shut_down: bool,
    /// The error that failed the connection: returned once the close frame carrying its code is
    /// written and the stream drained, so the peer reads the code rather than a reset.
    lingering: Option<Error>,
    /// An I/O error met while writing output that had been queued, for the next call.
    pub(crate) deferred: Option<Error>,
    /// Since when the stream has had nothing to read.
    quiet_since: Option<std::time::Instant>,
}

/// Why a read through `receive_with` did not read.
enum NotRead {
    Pending,
    Failed(io::Error),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    /// The connection's timers start now.
    pub(crate) fn new(stream: S, mut connection: Connection, leftover: &[u8]) -> Io<S> {
        connection.receive(leftover);
        connection.handle_timeout(now());
        Io {
            stream,
            connection,
            sleep: None,
            armed: None,
            needs_flush: false,
            shut_down: false,
            lingering: None,
            deferred: None,
            quiet_since: None,
        }
    }

    /// Drives the connection until an event is ready to take with `next_event` (`true`) or the
    /// connection is over and the stream can be dropped (`false`). A failure comes back after the close
    /// frame with its code was written and the stream drained (bounded by `Config::close_timeout`).
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        loop {
            match ready!(self.step(cx)) {
                Ok(Some(ready)) => return Poll::Ready(Ok(ready)),
                Ok(None) => {}
                Err(error) => {
                    let linger = self.lingering.is_none()
                        && self.connection.state() == State::Closed
                        && !self.connection.is_drained();
                    if !linger {
                        return Poll::Ready(Err(self.lingering.take().unwrap_or(error)));
                    }
                    self.lingering = Some(error);
                }
            }
        }
    }

    /// The next message, copied out of the connection (the `Stream` of both the whole stream and
    /// its reading half).
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        Poll::Ready(match ready!(self.poll_event(cx)) {
            Ok(true) => self
                .connection
                .next_event()
                .map(|event| event.map(|(event, _)| Message::from(event)))
                .transpose(),
            Ok(false) => None,
            Err(error) => Some(Err(error)),
        })
    }

    /// One turn: `Some(_)` is an answer for `poll_event`, `None` means "go round again".
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<bool>, Error>> {
        // Backpressure: while the output is full, nothing is read and no event handed out (the answer
        // to it could not be queued); the timers still run, so a peer that never reads is bounded.
        if self.connection.is_full() && self.poll_write(cx)?.is_pending() {
            return self.poll_timer(cx).map(|()| Ok(None));
        }
        if self.connection.poll_event()? {
            return Poll::Ready(Ok(Some(true)));
        }
        if self.connection.should_close_transport() && !self.shut_down {
            // The peer may have gone already; the read that follows finds out.
            let _ = ready!(Pin::new(&mut self.stream).poll_shutdown(cx));
            self.shut_down = true;
        }
        if self.connection.is_drained() {
            return Poll::Ready(match self.lingering.take() {
                Some(error) => Err(error),
                None => Ok(Some(false)),
            });
        }
        // Every answer queued since the last read goes out in one write, before reading more.
        if self.poll_write(cx)?.is_pending() && self.connection.is_full() {
            return self.poll_timer(cx).map(|()| Ok(None));
        }
        if let Poll::Ready(read) = self.poll_read(cx) {
            self.quiet_since = None;
            step::after_read(&mut self.connection, read, now(), |_, _| {})?;
            return Poll::Ready(Ok(None));
        }
        self.release_when_quiet();
        self.poll_timer(cx).map(|()| Ok(None))
    }

    /// Nothing to read: a connection quiet for `RELEASE_BUFFERS_AFTER` gives its buffers back, so an
    /// idle one costs its state and its socket only (`poll_timer` wakes for it).
    fn release_when_quiet(&mut self) {
        if self.connection.heap_size() == 0 {
            self.quiet_since = None;
            return;
        }
        let now = now();
        let since = *self.quiet_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= RELEASE_BUFFERS_AFTER {
            self.connection.shrink_to_idle();
            self.quiet_since = None;
        }
    }

    /// Reads once, in place or through the thread's scratch buffer (`Connection::receive_with`
    /// decides), and has the connection take in what arrived.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Io {
            stream, connection, ..
        } = self;
        let read = SCRATCH_BUFFER.with_borrow_mut(|scratch| {
            if scratch.len() < SCRATCH {
                scratch.resize(SCRATCH, 0);
            }
            connection.receive_with(scratch, |room| {
                let mut buf = ReadBuf::new(room);
                match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => Ok(buf.filled().len()),
                    Poll::Ready(Err(e)) => Err(NotRead::Failed(e)),
                    Poll::Pending => Err(NotRead::Pending),
                }
            })
        });
        match read {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(NotRead::Failed(e)) => Poll::Ready(Err(e)),
            Err(NotRead::Pending) => Poll::Pending,
        }
    }

    /// Writes what is queued until all of it is written and flushed, or the stream is not ready.
    /// Once the connection is drained, what could not be written is abandoned with its error.
    pub(crate) fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while !self.connection.pending_output().is_empty() {
            if self.connection.is_drained() {
                return Poll::Ready(Err(step::drained_error(&mut self.connection)));
            }
            let output = self.connection.pending_output();
            match ready!(Pin::new(&mut self.stream).poll_write(cx, output)) {
                Ok(0) => return Poll::Ready(Err(io::Error::from(ErrorKind::WriteZero).into())),
                Ok(n) => {
                    self.connection.consume_output(n);
                    self.needs_flush = true;
                    // Traffic the other way: a subscriber that only receives is not idle.
                    self.quiet_since = None;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        if self.needs_flush {
            ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
            self.needs_flush = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Tells the connection the time, then waits for its next deadline. The sleep is armed anew only
    /// when the deadline comes sooner than the one armed, or that one passed: a deadline that moved
    /// later (each read moves the keepalive's) costs one early wake, not a timer reset per read.
    /// `Ready`: a deadline passed, the caller goes round again.
    pub(crate) fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = now();
        let due = self.connection.poll_timeout().is_some_and(|due| due <= now);
        self.connection.handle_timeout(now);
        if due {
            // A timer fired: what it did (a ping, a close, the end) is for the caller's next turn.
            return Poll::Ready(());
        }
        let release = self
            .quiet_since
            .and_then(|quiet| quiet.checked_add(RELEASE_BUFFERS_AFTER));
        let deadline = match (self.connection.poll_timeout(), release) {
            (Some(a), Some(b)) => a.min(b),
            (Some(deadline), None) | (None, Some(deadline)) => deadline,
            (None, None) => return Poll::Pending,
        };
        let rearm = self
            .armed
            .is_none_or(|armed| deadline < armed || armed <= now);
        let wake_at = tokio::time::Instant::from_std(deadline);
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if rearm {
                    sleep.as_mut().reset(wake_at);
                }
                sleep
            }
            None => self
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(wake_at))),
        };
        if rearm {
            self.armed = Some(deadline);
        }
        sleep.as_mut().poll(cx)
    }

    /// Ready to queue a message: the output is below `Config::max_write_buffer`. While it is full this
    /// writes, and runs the timers so that a peer that never reads ends the wait (keepalive, then the
    /// close timeout).
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(error) = self.deferred.take() {
            return Poll::Ready(Err(error));
        }
        while self.connection.is_full() {
            if self.poll_write(cx)?.is_pending() {
                ready!(self.poll_timer(cx));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Queues a message (after [`Io::poll_ready`]).
    pub(crate) fn start_send(&mut self, message: &Message) -> Result<(), Error> {
        self.connection.sender().send(message)
    }

    /// Writes everything queued, running the timers while the peer does not read.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if let Poll::Ready(written) = self.poll_write(cx) {
                return Poll::Ready(written);
            }
            ready!(self.poll_timer(cx));
        }
    }

    /// Starts the close handshake with 1000 unless it was started, and writes it out; the peer's
    /// answer is read by whoever reads.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.connection.state() == State::Open {
            self.connection.sender().close(CloseCode::NORMAL, "")?;
        }
        self.poll_flush(cx)
    }

    /// A message queued and then not written: the error is kept for the next call, as the blocking
    /// driver does, since the message itself was accepted.
    pub(crate) fn defer(&mut self, error: Error) {
        self.deferred.get_or_insert(error);
    }

    /// Whether the connection now needs the time sooner than the armed sleep: after a writer started
    /// the close handshake, the reader must wake to run the close timer.
    pub(crate) fn deadline_moved_earlier(&self) -> bool {
        match (self.connection.poll_timeout(), self.armed) {
            (Some(deadline), Some(armed)) => deadline < armed,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}
