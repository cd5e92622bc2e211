//! A data message encoded once and sent to many connections: the fan-out of a chat room or a feed.
//!
//! A server's frames are not masked (RFC 6455 §5.1), so one frame's bytes serve every connection: the
//! header and payload are built once, and each connection's [`Sender::send_prepared`] copies them into
//! its output. With permessage-deflate the message is compressed once per window size and level in
//! use, the first time a connection with those parameters sends it.
//!
//! Why one compression can serve connections that keep their compression context: a sender may always
//! choose not to refer back to earlier messages (RFC 7692 §7.1.1.1 makes context takeover an allowance,
//! not a duty), and data that refers to nothing older inflates in any window the peer keeps. What the
//! peer's window then holds, the connection's own compressor has not seen, so it forgets its context
//! after a prepared message went out compressed: its next message of its own starts afresh, which costs
//! ratio on that one message, never correctness.
//!
//! [`Sender::send_prepared`]: crate::Sender::send_prepared

use std::fmt;
use std::sync::Arc;

use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::send::MessageKind;

/// A text or binary message encoded once, for sending to many connections with
/// [`Sender::send_prepared`](crate::Sender::send_prepared). Cloning it is cheap (a reference count),
/// and it can be shared between threads and event loops.
///
/// What each recipient costs:
///
/// | recipient | cost per connection |
/// |---|---|
/// | a server connection without permessage-deflate | one copy of the frame into its output |
/// | a server connection with permessage-deflate | the same copy: the message is compressed once per window size and level in use (the first recipient with them pays it), and the connection's compressor forgets its context, since the peer's window now holds data it did not see |
/// | a client connection | the message encoded as by `send_text`/`send_binary`: each client frame needs a mask of its own (RFC 6455 §5.3) |
///
/// ```
/// use wscore::{Config, Connection, PreparedMessage, Role};
/// let message = PreparedMessage::text("to everyone");
/// let mut room: Vec<Connection> =
///     (0..3).map(|_| Connection::new(Role::Server, &Config::default())).collect();
/// for connection in &mut room {
///     connection.sender().send_prepared(&message).unwrap();
/// }
/// // Every connection sends the same frame: FIN + text, 11 bytes.
/// assert!(room.iter().all(|c| c.pending_output() == message.frame()));
/// assert_eq!(&message.frame()[..2], [0x81, 11]);
/// ```
#[derive(Clone)]
pub struct PreparedMessage {
    inner: Arc<Inner>,
}

struct Inner {
    kind: MessageKind,
    /// The uncompressed frame: FIN, no RSV bit, no mask, then the payload.
    frame: Box<[u8]>,
    header_len: usize,
    #[cfg(feature = "deflate")]
    compressed: compressed::Cache,
}

impl PreparedMessage {
    /// A text message.
    pub fn text(text: &str) -> PreparedMessage {
        PreparedMessage::new(MessageKind::Text, text.as_bytes())
    }

    /// A binary message.
    pub fn binary(data: &[u8]) -> PreparedMessage {
        PreparedMessage::new(MessageKind::Binary, data)
    }

    fn new(kind: MessageKind, payload: &[u8]) -> PreparedMessage {
        let (frame, header_len) = encode(kind.opcode(), false, payload);
        PreparedMessage {
            inner: Arc::new(Inner {
                kind,
                frame,
                header_len,
                #[cfg(feature = "deflate")]
                compressed: compressed::Cache::default(),
            }),
        }
    }

    /// A text or binary [`Message`](crate::Message) prepared; `None` for a control message, which
    /// is sent to each connection on its own.
    ///
    /// ```
    /// use wscore::{Message, PreparedMessage};
    /// assert!(PreparedMessage::from_message(&Message::from("hi")).is_some());
    /// assert!(PreparedMessage::from_message(&Message::Ping(vec![])).is_none());
    /// ```
    pub fn from_message(message: &crate::Message) -> Option<PreparedMessage> {
        match message {
            crate::Message::Text(text) => Some(PreparedMessage::text(text)),
            crate::Message::Binary(data) => Some(PreparedMessage::binary(data)),
            _ => None,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.inner.kind
    }

    /// The message's data.
    pub fn payload(&self) -> &[u8] {
        &self.inner.frame[self.inner.header_len..]
    }

    /// The uncompressed frame a server sends: header and payload.
    pub fn frame(&self) -> &[u8] {
        &self.inner.frame
    }

    /// The frame compressed with a fresh compressor of this window and level (RSV1 set, RFC 7692 §6),
    /// made on first use; `None` when compression would not make it smaller.
    #[cfg(feature = "deflate")]
    pub(crate) fn compressed(&self, window_bits: u8, level: u8) -> Option<Arc<[u8]>> {
        let inner = &self.inner;
        inner.compressed.get_or_make(window_bits, level, || {
            let compressed = crate::deflate::compress_alone(
                inner.frame[inner.header_len..].as_ref(),
                window_bits,
                level,
            )?;
            Some(encode(inner.kind.opcode(), true, &compressed).0.into())
        })
    }
}

impl fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("kind", &self.inner.kind)
            .field("len", &self.payload().len())
            .finish()
    }
}

fn header(opcode: OpCode, rsv1: bool, len: usize) -> FrameHeader {
    FrameHeader {
        fin: true,
        rsv: if rsv1 { 0b100 } else { 0 },
        opcode,
        mask: None,
        payload_len: len as u64,
    }
}

/// One unmasked final frame, and its header's length.
fn encode(opcode: OpCode, rsv1: bool, payload: &[u8]) -> (Box<[u8]>, usize) {
    let mut head = [0u8; MAX_HEADER_LEN];
    let header_len = header(opcode, rsv1, payload.len()).encode(&mut head);
    let mut frame = Vec::with_capacity(header_len + payload.len());
    frame.extend_from_slice(&head[..header_len]);
    frame.extend_from_slice(payload);
    (frame.into_boxed_slice(), header_len)
}

#[cfg(feature = "deflate")]
mod compressed {
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};

    type Frame = Option<Arc<[u8]>>;

    /// The compressed frames made so far, by window size and level. A server usually has one set of
    /// parameters for all its connections: that one is read without a lock.
    #[derive(Default)]
    pub(super) struct Cache {
        first: OnceLock<(u8, u8, Frame)>,
        others: Mutex<Vec<(u8, u8, Frame)>>,
    }

    impl Cache {
        pub(super) fn get_or_make(
            &self,
            window_bits: u8,
            level: u8,
            make: impl FnOnce() -> Frame,
        ) -> Frame {
            let key = (window_bits, level);
            let mut make = Some(make);
            let first = self.first.get_or_init(|| {
                let make = make.take().expect("made once");
                (window_bits, level, make())
            });
            if (first.0, first.1) == key {
                return first.2.clone();
            }
            let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, _, frame)) = others.iter().find(|(w, l, _)| (*w, *l) == key) {
                return frame.clone();
            }
            let frame = make.take().expect("not used for the first entry")();
            others.push((window_bits, level, frame.clone()));
            frame
        }
    }
}

#[cfg(test)]
#[path = "prepared_tests.rs"]
mod tests;
