//! Full duplex: a [`Reader`] on one thread and [`Writer`]s on others, over two handles to one stream.
//!
//! Both share the [`Connection`] under a lock held only for the protocol work, never across a blocking
//! read or write, so the reader's automatic pongs and close replies join the one output queue in order
//! with the application's frames. Writing takes a second lock, on the stream. A writer waits for it and
//! for the peer (so `send` blocks while the peer is slow, which is the backpressure); the reader never
//! waits on either: it skips writing while a writer holds the stream, writes only what the socket takes
//! at once, and leaves the rest to the writers (or to its next turn, soon) and goes back to reading. If
//! the reader waited, two peers blocked writing to each other would deadlock, each with a full receive
//! buffer nobody reads.
//!
//! The reader's wait is bounded by `Config::close_timeout` even when no timer runs, so that a close
//! started by a writer (which cannot wake a read already blocked) is seen in time.

use std::io::{self, ErrorKind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use super::io::{self as step, Next, Timeouts};
use super::shutdown::{Member, Membership};
use super::{Transport, TryClone, WebSocket};
use crate::{CloseCode, Connection, Error, Message, Sender, State};

/// The most output copied out of the connection for one write; the connection's lock is not held while
/// it is written.
const WRITE_CHUNK: usize = 64 << 10;

/// How much a reader reads at once; it copies into the connection, unmasking on the way.
const READ_CHUNK: usize = 16 << 10;

/// How long the reader lets a write take before it leaves the rest to the writers.
const READER_WRITE_PATIENCE: Duration = Duration::from_millis(1);

/// How soon the reader tries again to write output it left behind.
const READER_WRITE_RETRY: Duration = Duration::from_millis(50);

/// Whether a write waits for the stream and the peer (a writer) or takes only a moment (the reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patience {
    Wait,
    Moment,
}

/// The receiving half of a split [`WebSocket`]: reads messages while [`Writer`]s send.
#[derive(Debug)]
pub struct Reader<S> {
    stream: S,
    shared: Arc<Shared<S>>,
    timeouts: Timeouts,
    buf: Vec<u8>,
}

/// The sending half of a split [`WebSocket`]. Clone it to send from several threads, or to close the
/// connection from another thread while the reader is blocked: the reader then returns the peer's close
/// and ends.
#[derive(Debug)]
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for Writer<S> {
    fn clone(&self) -> Writer<S> {
        Writer {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug)]
struct Shared<S> {
    protocol: Mutex<Protocol>,
    output: Mutex<Output<S>>,
    /// The [`Shutdown`](super::Shutdown) the connection joined, left when it ends.
    membership: Mutex<Option<Membership>>,
}

#[derive(Debug)]
struct Protocol {
    connection: Connection,
    shut_down: bool,
    /// An I/O error met while writing queued messages, reported by a writer's next call.
    deferred: Option<Error>,
}

#[derive(Debug)]
struct Output<S> {
    stream: S,
    timeouts: Timeouts,
    chunk: Vec<u8>,
}

pub(super) fn split<S: Transport + TryClone>(
    ws: WebSocket<S>,
) -> Result<(Reader<S>, Writer<S>), Error> {
    let reader_stream = ws.stream.try_clone()?;
    let shared = Arc::new(Shared {
        protocol: Mutex::new(Protocol {
            connection: ws.connection,
            shut_down: ws.shut_down,
            deferred: ws.deferred,
        }),
        output: Mutex::new(Output {
            stream: ws.stream,
            timeouts: ws.timeouts,
            chunk: Vec::new(),
        }),
        membership: Mutex::new(None),
    });
    let reader = Reader {
        stream: reader_stream,
        shared: Arc::clone(&shared),
        timeouts: Timeouts::default(),
        buf: vec![0; READ_CHUNK],
    };
    Ok((reader, Writer { shared }))
}

/// A lock that outlives a panic elsewhere: the connection's state stays consistent between calls.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Transport> Reader<S> {
    /// Reads the next message. `Ok(None)`: the connection is over. Errors are as for
    /// [`WebSocket::read_event`].
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        let read = self.read_next();
        if !matches!(read, Ok(Some(_))) {
            self.shared.leave();
        }
        read
    }

    fn read_next(&mut self) -> Result<Option<Message>, Error> {
        loop {
            match self.next_step() {
                Ok(Next::Event) => {
                    let event = lock(&self.shared.protocol)
                        .connection
                        .next_event()
                        .map(|event| event.map(|(event, _)| Message::from(event)));
                    // A writer's timer may have failed the connection since the event was found.
                    return event.map_err(|error| self.linger_then(error));
                }
                Ok(Next::Done) => return Ok(None),
                Ok(Next::Read(deadline)) => {
                    if let Err(error) = self.read_once(deadline) {
                        return Err(self.linger_then(error));
                    }
                }
                Err(error) => return Err(self.linger_then(error)),
            }
        }
    }

    /// A writer for this connection, e.g. to close it from another thread.
    pub fn writer(&self) -> Writer<S> {
        Writer {
            shared: Arc::clone(&self.shared),
        }
    }

    fn next_step(&mut self) -> Result<Next, Error> {
        // A second round only if the first one's parse queued output without an event (a going-away's
        // close): it goes out before the wait, which may be long. The second parse finds nothing new.
        let mut parse_queued = false;
        loop {
            self.shared.write_queued(Patience::Moment)?;
            let mut protocol = lock(&self.shared.protocol);
            let queued = protocol.connection.pending_output().len();
            let Protocol {
                connection,
                shut_down,
                ..
            } = &mut *protocol;
            // Both handles reach the same socket, so the reader's may shut its write side down; the
            // connection says so only once all output is written.
            let next = step::next_step(connection, &mut self.stream, shut_down)?;
            let Next::Read(deadline) = next else {
                return Ok(next);
            };
            if connection.pending_output().len() > queued && !parse_queued {
                parse_queued = true;
                continue;
            }
            let wait = if connection.pending_output().is_empty() {
                connection.close_timeout()
            } else {
                READER_WRITE_RETRY
            };
            let wake = Instant::now().checked_add(wait);
            return Ok(Next::Read(match (deadline, wake) {
                (Some(deadline), Some(wake)) => Some(deadline.min(wake)),
                (deadline, wake) => deadline.or(wake),
            }));
        }
    }

    fn read_once(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        let read = self
            .timeouts
            .read(&mut self.stream, deadline)
            .and_then(|()| self.stream.read(&mut self.buf));
        let mut protocol = lock(&self.shared.protocol);
        let buf = &self.buf;
        step::after_read(&mut protocol.connection, read, |connection, n| {
            connection.receive(&buf[..n])
        })
    }

    /// As [`WebSocket`] does: after a failure, the close frame is written and the stream drained first.
    fn linger_then(&mut self, error: Error) -> Error {
        if lock(&self.shared.protocol).connection.state() == State::Closed {
            while let Ok(Next::Read(deadline)) = self.next_step() {
                if self.read_once(deadline).is_err() {
                    break;
                }
            }
        }
        error
    }
}

impl<S: Transport> Writer<S> {
    /// Queues a message and writes it, waiting while another thread writes. Errors are as for
    /// [`WebSocket::send`]: a message that was queued is never reported as an error; an I/O error met
    /// while writing it comes back from this writer's next call.
    pub fn send(&self, message: Message) -> Result<(), Error> {
        self.with_sender(|sender| sender.send(&message))
    }

    /// Queues frames through the [`Sender`] (borrowed text, fragments, pings), then writes them.
    ///
    /// ```no_run
    /// # let (_, writer) = wscore::driver::blocking::connect("ws://127.0.0.1:9001/")?.split()?;
    /// use wscore::MessageKind;
    /// writer.with_sender(|sender| {
    ///     sender.send_fragment(MessageKind::Text, b"hello, ", false)?;
    ///     sender.send_fragment(MessageKind::Text, b"world", true)
    /// })?;
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn with_sender<T>(
        &self,
        queue: impl FnOnce(&mut Sender) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.queue_then_write(|connection| queue(connection.sender()))
    }

    /// Closes gracefully with 1001 from any thread ([`Connection::go_away`]): a ping now, and the close
    /// once its pong shows that the [`Reader`] has handed out everything the peer sent before, so the
    /// answers to those messages go out ahead of the close (RFC 6455 §5.5.1 forbids any after it). The
    /// reader then returns the peer's close, then `None`. Bounded by `Config::close_timeout` for the
    /// pong and again for the peer's close. [`Shutdown::trigger`](super::Shutdown::trigger) does this
    /// for every connection of a server.
    ///
    /// ```no_run
    /// use wscore::driver::blocking::connect;
    /// use wscore::Message;
    ///
    /// let (mut reader, writer) = connect("ws://127.0.0.1:9001/")?.split()?;
    /// let closer = writer.clone();
    /// std::thread::spawn(move || closer.go_away());
    /// while let Some(message) = reader.read()? {
    ///     if let Message::Text(_) = message {
    ///         let _ = writer.send(message); // `Error::Closed` once the close went first
    ///     }
    /// }
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn go_away(&self) -> Result<(), Error> {
        self.queue_then_write(|connection| {
            connection.go_away(Instant::now());
            Ok(())
        })
    }

    /// Queues under the protocol's lock, then writes; see [`Writer::send`] for the errors.
    fn queue_then_write<T>(
        &self,
        queue: impl FnOnce(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let queued = {
            let mut protocol = lock(&self.shared.protocol);
            if let Some(error) = protocol.deferred.take() {
                return Err(error);
            }
            queue(&mut protocol.connection)?
        };
        if let Err(error) = self.shared.write_queued(Patience::Wait) {
            // The first error says why the connection ended; a later `Closed` says only that it did.
            lock(&self.shared.protocol).deferred.get_or_insert(error);
        }
        Ok(queued)
    }

    /// Starts the close handshake from any thread; the [`Reader`] returns the peer's answer, then
    /// `None`. Closing again does nothing.
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.with_sender(|sender| sender.close(code, reason))?;
        // Start the close timer now rather than at the reader's next wake.
        lock(&self.shared.protocol)
            .connection
            .handle_timeout(Instant::now());
        Ok(())
    }

    /// Writes everything queued.
    pub fn flush(&self) -> Result<(), Error> {
        if let Some(error) = lock(&self.shared.protocol).deferred.take() {
            return Err(error);
        }
        self.shared.write_queued(Patience::Wait)
    }

    /// Bytes queued and not yet written.
    pub fn buffered_amount(&self) -> usize {
        lock(&self.shared.protocol)
            .connection
            .sender()
            .buffered_amount()
    }

    /// The connection, for a [`Shutdown`](super::Shutdown) to reach.
    pub(super) fn member(&self) -> Arc<dyn Member>
    where
        S: Send + 'static,
    {
        Arc::clone(&self.shared) as Arc<dyn Member>
    }

    /// Records the shutdown the connection joined; returns the one it was in, for the caller to drop
    /// with no lock held.
    pub(super) fn set_membership(&self, membership: Option<Membership>) -> Option<Membership> {
        std::mem::replace(&mut *lock(&self.shared.membership), membership)
    }
}

impl<S: Transport + Send> Member for Shared<S> {
    fn go_away(&self) {
        lock(&self.protocol).connection.go_away(Instant::now());
        // The reader and the writers write the rest, and report any error.
        let _ = self.write_queued(Patience::Moment);
    }
}

impl<S> Shared<S> {
    /// Leaves the connection's shutdown, if it joined one: the reader returned the end or an error,
    /// so the connection is over (writer clones kept elsewhere do not hold the shutdown up).
    fn leave(&self) {
        let membership = lock(&self.membership).take();
        drop(membership);
    }
}

impl<S: Transport> Shared<S> {
    /// Writes what is queued; see the module docs for the two patiences.
    fn write_queued(&self, patience: Patience) -> Result<(), Error> {
        loop {
            let mut output = match patience {
                Patience::Wait => lock(&self.output),
                Patience::Moment => match self.output.try_lock() {
                    Ok(output) => output,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => return Ok(()),
                },
            };
            let all_written = output.write_all_from(&self.protocol, patience)?;
            drop(output);
            // Output that a reader queued and left to us after we found the queue empty.
            if !all_written || lock(&self.protocol).connection.pending_output().is_empty() {
                return Ok(());
            }
        }
    }
}

impl<S: Transport> Output<S> {
    /// Writes the connection's output a chunk at a time, holding its lock only to copy the chunk out
    /// and, once written, to drop it from the queue. Returns whether everything was written: the reader
    /// gives up after a moment, and once the connection is drained its output is abandoned (the reader
    /// then reports why; a writer gets [`Error::Closed`]).
    fn write_all_from(
        &mut self,
        protocol: &Mutex<Protocol>,
        patience: Patience,
    ) -> Result<bool, Error> {
        if lock(protocol).connection.pending_output().is_empty() {
            return Ok(true);
        }
        loop {
            let deadline = {
                let mut protocol = lock(protocol);
                let connection = &mut protocol.connection;
                if connection.pending_output().is_empty() {
                    break;
                }
                if connection.is_drained() {
                    return match patience {
                        Patience::Wait => Err(Error::Closed),
                        Patience::Moment => Ok(false),
                    };
                }
                let pending = connection.pending_output();
                let n = pending.len().min(WRITE_CHUNK);
                self.chunk.clear();
                self.chunk.extend_from_slice(&pending[..n]);
                // The copied bytes stay queued until written; nothing may replace them meanwhile.
                connection.pin_output(n);
                limit(patience, step::due_timers(connection))
            };
            self.timeouts.write(&mut self.stream, deadline)?;
            match self.stream.write(&self.chunk) {
                Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero).into()),
                Ok(n) => lock(protocol).connection.consume_output(n),
                Err(e) if step::is_timeout(&e) && patience == Patience::Moment => return Ok(false),
                Err(e) if step::is_timeout(&e) => {
                    lock(protocol).connection.handle_timeout(Instant::now())
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let Output {
            stream, timeouts, ..
        } = self;
        if patience == Patience::Moment {
            // The reader tries once, and leaves a slow flush to the writers as it leaves slow writes.
            timeouts.write(stream, limit(patience, None))?;
            return match stream.flush() {
                Ok(()) => Ok(true),
                Err(e) if step::is_timeout(&e) || e.kind() == ErrorKind::Interrupted => Ok(false),
                Err(e) => Err(e.into()),
            };
        }
        step::flush(stream, timeouts, || {
            let mut protocol = lock(protocol);
            let connection = &mut protocol.connection;
            if connection.is_drained() {
                return Err(Error::Closed);
            }
            Ok(step::due_timers(connection))
        })?;
        Ok(true)
    }
}

/// The deadline of a write: the reader waits a moment at most.
fn limit(patience: Patience, deadline: Option<Instant>) -> Option<Instant> {
    match (patience, Instant::now().checked_add(READER_WRITE_PATIENCE)) {
        (Patience::Moment, Some(moment)) => Some(deadline.map_or(moment, |d| d.min(moment))),
        _ => deadline,
    }
}
