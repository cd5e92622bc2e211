//! What the server's and the client's sans-IO handshakes share: the bytes received so far, the deadline,
//! the end of the stream, and the outcome waiting for `poll`.
//!
//! | phase     | `receive`                       | `poll`                | `poll_timeout` |
//! |-----------|---------------------------------|-----------------------|----------------|
//! | `Reading` | appends, runs the step          | `Ok(None)`            | the deadline   |
//! | `Ready`   | appends (bytes past the head)   | the outcome, once     | `None`         |
//! | `Taken`   | appends (bytes past the head)   | `Err(Misuse)`         | `None`         |
//! | `Failed`  | ignored (principle 5)           | `Err(Misuse)`         | `None`         |
//!
//! The step (the side's parser) runs on the whole buffer after each receive and at the end of the stream;
//! it answers "need more", a value with the length it used, or an error. Because the step refuses a
//! buffer past `max_handshake_size` (431 or `BadResponse`), the buffer never holds more than that limit
//! plus one received chunk while the head is incomplete.

use std::time::Instant;

use crate::error::Error;

/// One parse attempt: `Ok(None)` for "need more", or the value and how many bytes it used.
pub(crate) type Step<T> = Result<Option<(T, usize)>, Error>;

/// Where the step is called from: the bytes received so far, where the fresh ones start, and whether the
/// stream has ended (then "need more" is the step's own error to give).
pub(crate) struct Input<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) fresh: usize,
    pub(crate) eof: bool,
}

#[derive(Debug)]
enum Phase<T> {
    Reading,
    Ready(Result<T, Error>),
    Taken,
    Failed,
}

/// The buffer, deadline and outcome of one handshake side.
#[derive(Debug)]
pub(crate) struct HeadReader<T> {
    buf: Vec<u8>,
    /// Bytes of `buf` the step used; the rest is handed on by `leftover`.
    used: usize,
    /// `max_handshake_size`: the buffer's capacity does not grow past it (plus one chunk) while reading.
    limit: usize,
    /// `None`: the timeout is too large for `Instant`, so it never comes.
    deadline: Option<Instant>,
    timed_out: bool,
    phase: Phase<T>,
}

impl<T> HeadReader<T> {
    pub(crate) fn new(deadline: Option<Instant>, limit: usize) -> HeadReader<T> {
        HeadReader {
            buf: Vec::new(),
            used: 0,
            limit,
            deadline,
            timed_out: false,
            phase: Phase::Reading,
        }
    }

    /// Appends received bytes and, while the head is incomplete, runs `step` over the whole buffer.
    pub(crate) fn receive(&mut self, bytes: &[u8], step: impl FnOnce(Input<'_>) -> Step<T>) {
        match self.phase {
            Phase::Reading => {
                let fresh = self.buf.len();
                self.reserve_within_limit(bytes.len());
                self.buf.extend_from_slice(bytes);
                self.run(fresh, false, step);
            }
            // Bytes after a complete head belong to whoever reads `leftover`.
            Phase::Ready(Ok(_)) | Phase::Taken => self.buf.extend_from_slice(bytes),
            // A refused handshake ignores later input: its answer is already decided.
            Phase::Ready(Err(_)) | Phase::Failed => {}
        }
    }

    /// Grows like a `Vec` (doubling) but never past the limit or what this chunk needs, whichever is
    /// larger: a `Vec` left to itself could hold twice the limit.
    fn reserve_within_limit(&mut self, more: usize) {
        let needed = self.buf.len() + more;
        if needed > self.buf.capacity() {
            let grown = (self.buf.capacity() * 2).min(self.limit).max(needed);
            self.buf.reserve_exact(grown - self.buf.len());
        }
    }

    /// The stream ended: the step gets a last look with `eof` set.
    pub(crate) fn receive_eof(&mut self, step: impl FnOnce(Input<'_>) -> Step<T>) {
        if let Phase::Reading = self.phase {
            self.run(self.buf.len(), true, step);
        }
    }

    fn run(&mut self, fresh: usize, eof: bool, step: impl FnOnce(Input<'_>) -> Step<T>) {
        let input = Input {
            buf: &self.buf,
            fresh,
            eof,
        };
        match step(input) {
            Ok(None) => {}
            Ok(Some((value, used))) => {
                self.used = used;
                self.phase = Phase::Ready(Ok(value));
            }
            Err(error) => self.fail(error),
        }
    }

    fn fail(&mut self, error: Error) {
        self.buf = Vec::new();
        self.used = 0;
        self.phase = Phase::Ready(Err(error));
    }

    /// The outcome, once: `Ok(None)` while reading.
    pub(crate) fn poll(&mut self) -> Result<Option<T>, Error> {
        match std::mem::replace(&mut self.phase, Phase::Taken) {
            Phase::Reading => {
                self.phase = Phase::Reading;
                Ok(None)
            }
            Phase::Ready(Ok(value)) => Ok(Some(value)),
            Phase::Ready(Err(error)) => {
                self.phase = Phase::Failed;
                Err(error)
            }
            Phase::Taken => Err(Error::Misuse("poll after the handshake ended")),
            Phase::Failed => {
                self.phase = Phase::Failed;
                Err(Error::Misuse("poll after the handshake ended"))
            }
        }
    }

    /// The bytes received past what the step used (none before it completed, none after a failure).
    pub(crate) fn leftover(&self) -> &[u8] {
        match self.phase {
            Phase::Ready(Ok(_)) | Phase::Taken => &self.buf[self.used..],
            _ => &[],
        }
    }

    /// The deadline, while the outcome is not decided.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Reading => self.deadline,
            _ => None,
        }
    }

    /// Past the deadline with the outcome undecided, the handshake fails with
    /// [`Error::HandshakeTimeout`]; that error is returned here (now and on later calls) and by `poll`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if let Phase::Reading = self.phase {
            if self.deadline.is_some_and(|deadline| now >= deadline) {
                self.timed_out = true;
                self.fail(Error::HandshakeTimeout);
            }
        }
        if self.timed_out {
            Err(Error::HandshakeTimeout)
        } else {
            Ok(())
        }
    }

    /// Bytes held, for the memory bound's tests.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.buf.capacity()
    }
}
