//! A trace of every frame in both directions, as a browser's WebSocket panel shows them: opcode, FIN
//! and RSV bits, masking, length, a preview of the payload, close code and reason.
//!
//! Tracing is opt-in: install a [`Tracer`] with [`Config::trace`](crate::Config::trace) and every
//! connection made from that config calls it once per frame, received frames as soon as they are
//! whole and checked enough to be framed, sent frames when they are queued. Without one, the cost is a
//! branch per frame; with one, the core allocates nothing for it (the frame borrows the connection's
//! buffers).
//!
//! The core reads no clock, so a frame carries no time; a tracer that prints stamps its own, as
//! [`Tracer::stderr`] does:
//!
//! ```text
//! 02:32:46.737  #1   ↓  Text      FIN  000  masked          5 B  "hello"
//! 02:32:46.737  #1   ↑  Text      FIN  000                  5 B  "hello"
//! 02:32:46.741  #1   ↓  Binary    FIN  000  masked    1048576 B  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f …
//! 02:32:47.037  #1   ↓  Close     FIN  000  masked          5 B  1000 "bye"
//! 02:32:47.037  #1   ↑  Close     FIN  000                  2 B  1000
//! ```
//!
//! Columns: time, connection (numbered by the process), `↓` received or `↑` sent, opcode, FIN (`···`
//! for a frame that more of its message follows), the RSV bits, masking, payload length, and a preview:
//! text quoted (cut at 60 characters), binary as hex (16 bytes), a close frame's code and reason.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::frame::{FrameHeader, OpCode};
use crate::Role;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the peer.
    Received,
    /// To the peer (queued for the transport).
    Sent,
}

/// One frame, as the tracer sees it.
///
/// ```
/// use wscore::trace::{Direction, TracedFrame};
/// use wscore::frame::OpCode;
/// let frame = TracedFrame::new(Direction::Received, OpCode::Close, b"\x03\xe8bye");
/// assert_eq!(frame.close(), Some((1000, "bye")));
/// assert!(frame.to_string().contains("Close"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TracedFrame<'a> {
    /// Numbers the connections traced by this process, from 1, in the order they were made.
    pub connection: u64,
    /// Our side of the connection.
    pub role: Role,
    /// Which way the frame went.
    pub direction: Direction,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// The FIN bit: the last frame of its message.
    pub fin: bool,
    /// The three RSV bits, RSV1 highest.
    pub rsv: u8,
    /// Whether the frame was masked on the wire (every client frame is, RFC 6455 §5.3).
    pub masked: bool,
    /// The whole payload, unmasked.
    pub payload: &'a [u8],
}

impl<'a> TracedFrame<'a> {
    /// A final, unmasked frame with no RSV bits, of connection 0: for tests of a tracer.
    pub fn new(direction: Direction, opcode: OpCode, payload: &'a [u8]) -> TracedFrame<'a> {
        TracedFrame {
            connection: 0,
            role: Role::Server,
            direction,
            opcode,
            fin: true,
            rsv: 0,
            masked: false,
            payload,
        }
    }

    /// A close frame's code and reason (the reason lossy if it is not UTF-8), if it has a code.
    pub fn close(&self) -> Option<(u16, &'a str)> {
        if self.opcode != OpCode::Close || self.payload.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        Some((code, valid_prefix(&self.payload[2..])))
    }
}

/// How much of a payload a line shows.
const PREVIEW_CHARS: usize = 60;
const PREVIEW_BYTES: usize = 16;

impl fmt::Display for TracedFrame<'_> {
    /// One line, in aligned columns: connection, direction, opcode, FIN, RSV, masking, length, preview.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = match self.direction {
            Direction::Received => '↓',
            Direction::Sent => '↑',
        };
        write!(
            f,
            "#{:<3} {arrow}  {:<8}  {}  {:03b}  {:<6}  {:>9} B",
            self.connection,
            opcode_name(self.opcode),
            if self.fin { "FIN" } else { "···" },
            self.rsv,
            if self.masked { "masked" } else { "" },
            self.payload.len(),
        )?;
        if self.payload.is_empty() {
            return Ok(());
        }
        f.write_str("  ")?;
        match self.opcode {
            OpCode::Close => match self.close() {
                Some((code, "")) => write!(f, "{code}"),
                Some((code, reason)) => write!(f, "{code} {:?}", Preview(reason)),
                None => write_hex(f, self.payload),
            },
            // Text, and the continuation of text, as text; a fragment may end inside a character.
            OpCode::Text | OpCode::Continuation
                if std::str::from_utf8(self.payload).is_ok()
                    || std::str::from_utf8(self.payload)
                        .is_err_and(|e| e.error_len().is_none() && e.valid_up_to() > 0) =>
            {
                write!(f, "\"{}\"", Preview(valid_prefix(self.payload)))
            }
            _ => write_hex(f, self.payload),
        }
    }
}

fn opcode_name(opcode: OpCode) -> &'static str {
    match opcode {
        OpCode::Continuation => "Continue",
        OpCode::Text => "Text",
        OpCode::Binary => "Binary",
        OpCode::Close => "Close",
        OpCode::Ping => "Ping",
        OpCode::Pong => "Pong",
    }
}

/// The longest valid UTF-8 prefix, or the whole thing lossily when it is invalid in the middle.
fn valid_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// Text cut to [`PREVIEW_CHARS`], control characters escaped.
struct Preview<'a>(&'a str);

impl fmt::Display for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, c) in self.0.chars().enumerate() {
            if n == PREVIEW_CHARS {
                return f.write_str("…");
            }
            match c {
                '"' => f.write_str("\\\"")?,
                c if c.is_control() => write!(f, "{}", c.escape_debug())?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for (n, byte) in bytes.iter().take(PREVIEW_BYTES).enumerate() {
        if n > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{byte:02x}")?;
    }
    if bytes.len() > PREVIEW_BYTES {
        f.write_str(" …")?;
    }
    Ok(())
}

/// What a connection calls for each frame; cheap to clone (one `Arc`), shared by every connection of
/// a [`Config`](crate::Config).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use wscore::trace::{Direction, Tracer};
/// use wscore::{Config, Connection, Role};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let tracer = {
///     let seen = Arc::clone(&seen);
///     Tracer::new(move |frame| seen.lock().unwrap().push((frame.direction, frame.payload.len())))
/// };
/// let mut server = Connection::new(Role::Server, &Config::default().trace(tracer));
/// server.sender().send_text("hello").unwrap();
/// assert_eq!(*seen.lock().unwrap(), [(Direction::Sent, 5)]);
/// ```
#[derive(Clone)]
pub struct Tracer(Arc<dyn Fn(&TracedFrame<'_>) + Send + Sync>);

impl Tracer {
    /// Calls `f` for each frame.
    pub fn new(f: impl Fn(&TracedFrame<'_>) + Send + Sync + 'static) -> Tracer {
        Tracer(Arc::new(f))
    }

    /// Prints one line per frame to stderr, stamped with the time of day (UTC, to the millisecond).
    ///
    /// ```
    /// let config = wscore::Config::default().trace(wscore::trace::Tracer::stderr());
    /// # let _ = config;
    /// ```
    pub fn stderr() -> Tracer {
        Tracer::new(|frame| eprintln!("{}  {frame}", TimeOfDay::now()))
    }

    /// Sends one record per frame to the [`log`](https://docs.rs/log) crate, at `trace` level with
    /// target `wscore::frame` (feature `log`). `tracing` subscribers receive them too, through
    /// `tracing-log`.
    ///
    /// ```
    /// let config = wscore::Config::default().trace(wscore::trace::Tracer::log());
    /// # let _ = config;
    /// ```
    #[cfg(feature = "log")]
    pub fn log() -> Tracer {
        Tracer::new(|frame| log::trace!(target: "wscore::frame", "{frame}"))
    }

    /// Whether two tracers are the same one.
    pub(crate) fn same(&self, other: &Tracer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tracer")
    }
}

/// The time of day in UTC, `HH:MM:SS.mmm`, from the system clock.
struct TimeOfDay(std::time::Duration);

impl TimeOfDay {
    fn now() -> TimeOfDay {
        TimeOfDay(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs() % 86_400;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:03}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            self.0.subsec_millis()
        )
    }
}

/// A connection's end of a tracer: the tracer with the connection's number and role, shared by its
/// sending and receiving halves.
#[derive(Debug)]
pub(crate) struct Tap {
    tracer: Tracer,
    connection: u64,
    role: Role,
}

/// Numbers traced connections; only connections with a tracer take a number.
static TRACED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

impl Tap {
    pub(crate) fn new(tracer: &Tracer, role: Role) -> Arc<Tap> {
        Arc::new(Tap {
            tracer: tracer.clone(),
            connection: TRACED_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1,
            role,
        })
    }

    /// Reports a frame; `payload` is unmasked.
    pub(crate) fn frame(&self, direction: Direction, header: &FrameHeader, payload: &[u8]) {
        (self.tracer.0)(&TracedFrame {
            connection: self.connection,
            role: self.role,
            direction,
            opcode: header.opcode,
            fin: header.fin,
            rsv: header.rsv,
            masked: header.mask.is_some(),
            payload,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(direction: Direction, opcode: OpCode, fin: bool, payload: &[u8]) -> String {
        let mut frame = TracedFrame::new(direction, opcode, payload);
        frame.connection = 7;
        frame.fin = fin;
        frame.masked = direction == Direction::Received;
        frame.to_string()
    }

    #[test]
    fn text_shows_as_quoted_text_and_binary_as_hex() {
        assert_eq!(
            line(Direction::Received, OpCode::Text, true, b"hello"),
            "#7   ↓  Text      FIN  000  masked          5 B  \"hello\""
        );
        assert_eq!(
            line(Direction::Sent, OpCode::Binary, true, &[0, 1, 0xfe]),
            "#7   ↑  Binary    FIN  000                  3 B  00 01 fe"
        );
    }

    #[test]
    fn long_payloads_are_cut_and_marked() {
        let text = "x".repeat(100);
        let shown = line(Direction::Sent, OpCode::Text, false, text.as_bytes());
        assert!(shown.contains("···"), "{shown}");
        assert!(
            shown.ends_with(&format!("\"{}…\"", "x".repeat(60))),
            "{shown}"
        );
        let shown = line(Direction::Sent, OpCode::Binary, true, &[0xab; 40]);
        assert!(shown.ends_with("ab ab …"), "{shown}");
    }

    #[test]
    fn a_fragment_ending_inside_a_character_still_shows_as_text() {
        let shown = line(
            Direction::Received,
            OpCode::Text,
            false,
            "né".as_bytes()[..2].as_ref(),
        );
        assert!(shown.ends_with("\"n\""), "{shown}");
    }

    #[test]
    fn close_frames_show_code_and_reason_and_control_characters_are_escaped() {
        assert!(line(Direction::Sent, OpCode::Close, true, b"\x03\xe8").ends_with("2 B  1000"));
        assert!(
            line(Direction::Sent, OpCode::Close, true, b"\x0f\xa1a\"b\n")
                .ends_with("4001 \"a\\\"b\\n\"")
        );
        assert!(line(Direction::Sent, OpCode::Ping, true, b"").ends_with("0 B"));
    }

    #[test]
    fn time_of_day_is_hours_minutes_seconds_millis() {
        let t = TimeOfDay(std::time::Duration::from_millis(86_400_000 * 3 + 3_723_045));
        assert_eq!(t.to_string(), "01:02:03.045");
    }
}
