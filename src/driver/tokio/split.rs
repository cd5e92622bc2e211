//! Full duplex: a [`ReadHalf`] in one task and [`WriteHalf`]s in others, over one stream.
//!
//! Both halves share the connection and the stream under one lock, held only inside a poll (never
//! across an `.await`), so the reader's automatic pongs and close replies join the one output queue
//! in order with the application's frames. The stream and the timer keep one waker each per
//! direction, yet either half may write (the reader writes pongs) and either may wait on the timer:
//! so every poll under the lock passes the stream one waker that wakes every task waiting on the
//! connection, and each task re-checks what it waits for. A writer that queues a close, or otherwise
//! brings the connection's next deadline forward, wakes the reader, which runs the timers.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::{AsyncRead, AsyncWrite};

use super::hub::{self, Delivery, Member};
use super::io::{now, Io};
use crate::driver::topics::SlowSubscriber;
use crate::{CloseCode, Error, Message, PreparedMessage, Sender};

/// The receiving half of a split [`WebSocketStream`](super::WebSocketStream). It runs the
/// connection's timers, so keep it polled.
#[derive(Debug)]
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
}

/// The sending half of a split [`WebSocketStream`](super::WebSocketStream). Clone it to send from
/// several tasks; [`WriteHalf::close`] starts the close handshake and wakes the reader, which returns
/// the peer's close, then `None`.
#[derive(Debug)]
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for WriteHalf<S> {
    fn clone(&self) -> WriteHalf<S> {
        WriteHalf {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug)]
struct Shared<S> {
    io: Mutex<Io<S>>,
    waiting: Arc<Waiting>,
    /// Wakes everyone in `waiting`: the waker every poll under the lock gives the stream and timer.
    everyone: Waker,
    /// The hubs whose topics the connection joined; it leaves them when both halves are gone.
    hubs: Mutex<Vec<Weak<hub::Inner>>>,
}

impl<S> Drop for Shared<S> {
    fn drop(&mut self) {
        let key = (self as *const Shared<S>).cast::<()>() as usize;
        let hubs = std::mem::take(self.hubs.get_mut().unwrap_or_else(PoisonError::into_inner));
        for hub in hubs.iter().filter_map(Weak::upgrade) {
            hub.leave(key);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Member for Shared<S> {
    fn deliver(&self, message: &PreparedMessage, policy: SlowSubscriber) -> Delivery {
        let delivery = {
            let mut io = lock(&self.io);
            let sender = io.connection.sender();
            match sender.send_prepared(message) {
                Ok(()) => Delivery::Delivered,
                Err(Error::WriteBufferFull { .. }) => match policy {
                    SlowSubscriber::Drop => Delivery::Dropped,
                    SlowSubscriber::Close(code) => {
                        let _ = sender.close(code, "too slow to keep up");
                        Delivery::Closed
                    }
                },
                // A fragmented message is being streamed to it (§5.4): it misses this one.
                Err(Error::Misuse(_)) => return Delivery::Dropped,
                Err(_) => return Delivery::Closing,
            }
        };
        // The reader writes what waits before it reads again; a task parked in a writer's send (the
        // reader's own, between two reads) flushes too, so everyone waiting is woken.
        self.everyone.wake_by_ref();
        delivery
    }

    fn joined(&self, hub: Weak<hub::Inner>) {
        lock(&self.hubs).push(hub);
    }
}

/// The tasks waiting on the connection.
#[derive(Debug, Default)]
struct Waiting {
    tasks: Mutex<Tasks>,
}

#[derive(Debug, Default)]
struct Tasks {
    reader: Option<Waker>,
    writers: Vec<Waker>,
}

impl Wake for Waiting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Tasks { reader, writers } = std::mem::take(&mut *lock(&self.tasks));
        reader.into_iter().chain(writers).for_each(Waker::wake);
    }
}

impl Waiting {
    fn reader(&self, waker: &Waker) {
        let mut tasks = lock(&self.tasks);
        if !tasks.reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            tasks.reader = Some(waker.clone());
        }
    }

    fn writer(&self, waker: &Waker) {
        let mut tasks = lock(&self.tasks);
        if !tasks.writers.iter().any(|w| w.will_wake(waker)) {
            tasks.writers.push(waker.clone());
        }
    }

    fn wake_reader(&self) {
        let reader = lock(&self.tasks).reader.take();
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// A lock that outlives a panic elsewhere: the connection's state stays consistent between polls.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn split<S>(io: Io<S>) -> (ReadHalf<S>, WriteHalf<S>) {
    let waiting = Arc::new(Waiting::default());
    let shared = Arc::new(Shared {
        io: Mutex::new(io),
        everyone: Waker::from(Arc::clone(&waiting)),
        waiting,
        hubs: Mutex::default(),
    });
    let reader = ReadHalf {
        shared: Arc::clone(&shared),
    };
    (reader, WriteHalf { shared })
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// Reads the next message. `Ok(None)`: the connection is over. Errors are as for
    /// [`WebSocketStream::read_event`](super::WebSocketStream::read_event). Cancel-safe.
    pub async fn read(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.poll_read(cx)).await.transpose()
    }

    /// A writer for this connection, e.g. to close it from another task.
    pub fn writer(&self) -> WriteHalf<S> {
        WriteHalf {
            shared: Arc::clone(&self.shared),
        }
    }

    fn poll_read(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        self.shared.waiting.reader(cx.waker());
        let mut everyone = Context::from_waker(&self.shared.everyone);
        lock(&self.shared.io).poll_message(&mut everyone)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for ReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_read(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Queues a message, waiting while the output is full, and writes it, waiting while another task
    /// writes. Errors are as for [`WebSocketStream::send`](super::WebSocketStream::send): a message
    /// that was queued is never reported as an error; an I/O error met while writing it comes back
    /// from this connection's next send. Cancel-safe per message.
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.with_io(cx, |io, cx| io.poll_ready(cx))).await?;
        self.with_sender(|sender| sender.send(&message)).await
    }

    /// Queues frames through the [`Sender`] (borrowed text, fragments, pings), then writes them.
    ///
    /// ```no_run
    /// # async fn run(writer: wscore::driver::tokio::WriteHalf<tokio::net::TcpStream>) -> Result<(), wscore::Error> {
    /// use wscore::MessageKind;
    /// writer
    ///     .with_sender(|sender| {
    ///         sender.send_fragment(MessageKind::Text, b"hello, ", false)?;
    ///         sender.send_fragment(MessageKind::Text, b"world", true)
    ///     })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn with_sender<T>(
        &self,
        queue: impl FnOnce(&mut Sender) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let queued = {
            let mut io = lock(&self.shared.io);
            if let Some(error) = io.deferred.take() {
                return Err(error);
            }
            let queued = queue(io.connection.sender())?;
            if io.deadline_moved_earlier() {
                self.shared.waiting.wake_reader();
            }
            queued
        };
        if let Err(error) = poll_fn(|cx| self.with_io(cx, |io, cx| io.poll_flush(cx))).await {
            lock(&self.shared.io).defer(error);
        }
        Ok(queued)
    }

    /// Starts the close handshake from any task and writes the close frame; the [`ReadHalf`] returns
    /// the peer's answer, then `None`. Closing again does nothing.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.with_sender(|sender| sender.close(code, reason))
            .await?;
        // The close timer starts once the frame is written: the reader must wake to run it.
        lock(&self.shared.io).connection.handle_timeout(now());
        self.shared.waiting.wake_reader();
        Ok(())
    }

    /// Writes everything queued.
    pub async fn flush(&self) -> Result<(), Error> {
        if let Some(error) = lock(&self.shared.io).deferred.take() {
            return Err(error);
        }
        poll_fn(|cx| self.with_io(cx, |io, cx| io.poll_flush(cx))).await
    }

    /// Bytes queued and not yet written.
    pub fn buffered_amount(&self) -> usize {
        lock(&self.shared.io).connection.sender().buffered_amount()
    }

    /// The connection as a hub's member.
    pub(super) fn member(&self) -> Arc<dyn Member>
    where
        S: Send + 'static,
    {
        Arc::clone(&self.shared) as Arc<dyn Member>
    }

    /// Runs one poll step under the lock, with the waker that wakes every waiting task.
    fn with_io<T>(
        &self,
        cx: &mut Context<'_>,
        step: impl FnOnce(&mut Io<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.shared.waiting.writer(cx.waker());
        let mut everyone = Context::from_waker(&self.shared.everyone);
        let mut io = lock(&self.shared.io);
        let polled = step(&mut io, &mut everyone);
        if io.deadline_moved_earlier() {
            self.shared.waiting.wake_reader();
        }
        polled
    }
}

/// As on [`WebSocketStream`](super::WebSocketStream): `poll_flush` returns its errors at once.
impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.with_io(cx, |io, cx| io.poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let mut io = lock(&self.shared.io);
        io.start_send(&message)?;
        if io.deadline_moved_earlier() {
            self.shared.waiting.wake_reader();
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.with_io(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let polled = self.with_io(cx, |io, cx| io.poll_close(cx));
        self.shared.waiting.wake_reader();
        polled
    }
}
