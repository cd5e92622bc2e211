//! The sending half of a connection: frames queued as bytes for the driver to write.
//!
//! It is a separate value from the receiving half so that an application can answer an event while the
//! event still borrows the input buffer (see [`crate::Connection::next_event`]).

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::RngCore;

use crate::buffer::Buffer;
use crate::close::{self, CloseCode};
use crate::error::Error;
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::mask_copy;
use crate::trace::{Direction, Tap};
use crate::utf8::Utf8Validator;
use crate::{Message, PreparedMessage, Role};

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    pub(crate) fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// Queues frames for sending: the one way to send, whether you hold a [`crate::Connection`]
/// ([`crate::Connection::sender`]), an event (the sender comes beside it) or a driver's socket.
///
/// Output is bounded: while the queue holds `Config::max_write_buffer` bytes or more, a message is
/// refused with [`Error::WriteBufferFull`] before anything is queued (below the bound any message is
/// taken, so the queue never exceeds the bound plus one message), and every other error also means
/// nothing was queued. [`Sender::buffered_amount`] tells how much waits, as the browser's
/// `bufferedAmount` does.
///
/// ```
/// use wscore::{Config, Connection, Error, Role};
/// let mut server = Connection::new(Role::Server, &Config::default().max_write_buffer(1000));
/// let sender = server.sender();
/// sender.send_binary(&[0; 600]).unwrap();
/// sender.send_binary(&[0; 600]).unwrap(); // below the bound: taken whole
/// assert_eq!(sender.buffered_amount(), 1208);
/// assert!(sender.is_full());
/// // Not queued: the caller may retry once the driver has written the output.
/// assert!(matches!(sender.send_binary(&[0; 1]), Err(Error::WriteBufferFull { .. })));
/// assert_eq!(sender.buffered_amount(), 1208);
/// ```
#[derive(Debug)]
pub struct Sender {
    role: Role,
    /// Encoded frames not yet written.
    out: Buffer,
    /// The masking keys' generator; a server masks nothing and has none (RFC 6455 §5.1). Boxed: it is
    /// a few hundred bytes that a server's connections would otherwise all carry.
    pub(crate) masks: Option<Box<StdRng>>,
    max_write_buffer: usize,
    /// A data message was queued since the connection's timers last looked (idle timeout).
    pub(crate) sent_message: bool,
    /// Since the timers last looked, the transport took output while more waited behind it (a partial
    /// write, or the rest of a queue that had backed up): the peer is reading, so it is alive.
    pub(crate) drained_backlog: bool,
    backed_up: bool,
    close_sent: bool,
    /// Where our close frame ends in the output, counted from the first unwritten byte, until written.
    close_end: Option<usize>,
    close_written: bool,
    /// The transport ended or was dropped: nothing can be sent any more.
    ended: bool,
    failed: bool,
    /// The kind of the fragmented message being sent, if one is open.
    fragmenting: Option<MessageKind>,
    /// Checks text fragments, which may split a character, across calls.
    utf8: Utf8Validator,
    /// Where the automatic pong starts in `out` (counted from the first unwritten byte), while it is the
    /// last frame there and none of it has been written: the next ping's pong replaces it.
    unsent_pong: Option<usize>,
    /// Reports each frame queued, when tracing.
    tap: Option<Arc<Tap>>,
    /// permessage-deflate, when negotiated; boxed, as most connections of a server have none.
    #[cfg(feature = "deflate")]
    deflater: Option<Box<crate::deflate::Deflater>>,
}

impl Sender {
    pub(crate) fn new(
        role: Role,
        masks: Option<Box<StdRng>>,
        max_write_buffer: usize,
        tap: Option<Arc<Tap>>,
    ) -> Sender {
        Sender {
            role,
            out: Buffer::default(),
            masks,
            max_write_buffer,
            sent_message: false,
            drained_backlog: false,
            backed_up: false,
            close_sent: false,
            close_end: None,
            close_written: false,
            ended: false,
            failed: false,
            fragmenting: None,
            utf8: Utf8Validator::default(),
            unsent_pong: None,
            tap,
            #[cfg(feature = "deflate")]
            deflater: None,
        }
    }

    /// Compresses data messages from now on, as negotiated.
    #[cfg(feature = "deflate")]
    pub(crate) fn deflate(&mut self, deflater: crate::deflate::Deflater) {
        self.deflater = Some(Box::new(deflater));
    }

    /// Queues any [`Message`]: text, binary, ping, pong, or a close (which starts the close handshake,
    /// as [`Sender::close`] does; `Close(None)` sends a close frame without a code).
    pub fn send(&mut self, message: &Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_text(text),
            Message::Binary(data) => self.send_binary(data),
            Message::Ping(data) => self.send_ping(data),
            Message::Pong(data) => self.send_pong(data),
            Message::Close(Some((code, reason))) => self.close(*code, reason),
            Message::Close(None) => {
                if !self.close_sent {
                    self.write_close(None, "");
                }
                Ok(())
            }
        }
    }

    /// Queues a text message as one frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send_message(OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message as one frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_message(OpCode::Binary, data)
    }

    /// Queues one fragment of a message, for streaming a message too large to hold (RFC 6455 §5.4). The
    /// first fragment starts a message of `kind`; later ones must name the same kind and are sent as
    /// continuations; `fin` ends the message. Control frames may be sent between fragments. Text
    /// fragments may split a character, but together they must be valid UTF-8.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        self.check_room()?;
        let opcode = match self.fragmenting {
            None => kind.opcode(),
            Some(open) if open == kind => OpCode::Continuation,
            Some(_) => {
                return Err(Error::Misuse(
                    "a fragment of another kind while a message is open",
                ))
            }
        };
        if kind == MessageKind::Text {
            if opcode == OpCode::Text {
                self.utf8.reset();
            }
            let valid = self.utf8.feed(payload).is_ok() && (!fin || self.utf8.finish().is_ok());
            if !valid {
                return Err(Error::Misuse("text fragments that are not valid UTF-8"));
            }
        }
        self.fragmenting = if fin { None } else { Some(kind) };
        #[cfg(feature = "deflate")]
        if let Some(mut deflater) = self.deflater.take() {
            let first = opcode != OpCode::Continuation;
            let result = deflater
                .fragment(payload, first, fin)
                .map(|(bytes, rsv1)| self.write_frame(opcode, fin, rsv1, bytes));
            if fin {
                deflater.message_done();
                deflater.trim();
            }
            self.deflater = Some(deflater);
            result?;
            self.sent_message = true;
            return Ok(());
        }
        self.write_frame(opcode, fin, false, payload);
        self.sent_message = true;
        Ok(())
    }

    /// Queues a message encoded once for many connections (see [`PreparedMessage`] for what it costs
    /// each). The rules are those of [`Sender::send_text`] and [`Sender::send_binary`]: refused while
    /// the output is full, after a close, or while a fragmented message is open.
    ///
    /// ```
    /// use wscore::{Config, Connection, PreparedMessage, Role};
    /// let message = PreparedMessage::binary(&[1, 2, 3]);
    /// let mut server = Connection::new(Role::Server, &Config::default());
    /// server.sender().send_prepared(&message).unwrap();
    /// assert_eq!(server.pending_output(), [0x82, 3, 1, 2, 3]);
    /// ```
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        let opcode = message.kind().opcode();
        if self.role == Role::Client {
            // Each client frame needs a mask of its own (RFC 6455 §5.3): nothing to share.
            return self.send_message(opcode, message.payload());
        }
        self.check_message()?;
        #[cfg(feature = "deflate")]
        if let Some(deflater) = &mut self.deflater {
            let compressed = deflater
                .prepared_params(message.payload().len())
                .and_then(|(window_bits, level)| message.compressed(window_bits, level));
            if let Some(frame) = compressed {
                deflater.forget_context();
                self.write_encoded(&frame);
                self.sent_message = true;
                return Ok(());
            }
        }
        self.write_encoded(message.frame());
        self.sent_message = true;
        Ok(())
    }

    /// Queues a ping; its payload is at most 125 bytes (RFC 6455 §5.5.2).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong, a one-way heartbeat (RFC 6455 §5.5.3). Pings are answered by the core.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the closing handshake (RFC 6455 §5.5.1): queues a close frame; nothing can be sent after it.
    /// The peer's close then completes the handshake. The reason is at most 123 bytes. A close frame is
    /// never refused for lack of room. Once a close frame is queued (ours, or the core's answer to the
    /// peer's close, or on failure), calling `close` again does nothing: answering an
    /// [`Event::Close`](crate::Event::Close) with `close` is natural and not an error.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        close::check_outgoing(code, reason)?;
        if !self.close_sent && !self.ended {
            self.write_close(Some(code), reason);
        }
        Ok(())
    }

    /// Bytes waiting to be written to the transport.
    pub fn pending_output(&self) -> &[u8] {
        self.out.bytes()
    }

    /// How many bytes are queued and not yet written (the browser API's `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.out.bytes().len()
    }

    /// Whether the output is at or past `Config::max_write_buffer` (the high-water mark): messages are
    /// refused with [`Error::WriteBufferFull`] until the driver has written some of it out. An event loop
    /// stops producing (and stops handing out events) while this is true, and resumes once it drains.
    pub fn is_full(&self) -> bool {
        let buffered = self.buffered_amount();
        buffered > 0 && buffered >= self.max_write_buffer
    }

    /// Records that the first `n` bytes of [`Sender::pending_output`] were written.
    pub fn consume_output(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.unsent_pong = self.unsent_pong.and_then(|start| start.checked_sub(n));
        if let Some(end) = self.close_end {
            self.close_end = end.checked_sub(n).filter(|&left| left > 0);
            self.close_written = self.close_end.is_none();
        }
        self.out.consume(n);
        let more_waits = !self.out.is_empty();
        self.drained_backlog |= self.backed_up || more_waits;
        self.backed_up = more_waits;
    }

    /// The first `n` bytes of the output are being written by a driver that copied them out: a waiting
    /// pong among them can no longer be replaced.
    pub(crate) fn pin_output(&mut self, n: usize) {
        if self.unsent_pong.is_some_and(|start| start < n) {
            self.unsent_pong = None;
        }
    }

    /// Whether a close frame has been queued (by the application, as a reply, or on failure).
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// Whether our close frame has been written out whole: the close timeout runs from then.
    pub(crate) fn close_written(&self) -> bool {
        self.close_written
    }

    /// The transport is gone: every later send fails with [`Error::Closed`] instead of being queued
    /// for nobody.
    pub(crate) fn end(&mut self) {
        self.ended = true;
    }

    /// Queues a ping of the core's own (the keepalive's, or [`crate::Connection::go_away`]'s), which,
    /// like the automatic pong, is never refused for room: one small frame per ping interval, or per
    /// connection.
    pub(crate) fn send_own_ping(&mut self, payload: &[u8]) {
        debug_assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        if !self.close_sent && !self.ended {
            self.write_frame(OpCode::Ping, true, false, payload);
        }
    }

    /// Ends a connection that cannot send (a client without a masking generator): nothing is queued.
    pub(crate) fn disable(&mut self) {
        self.close_sent = true;
        self.failed = true;
    }

    pub(crate) fn heap_size(&self) -> usize {
        #[cfg(feature = "deflate")]
        if let Some(deflater) = &self.deflater {
            return self.out.capacity() + deflater.heap_size();
        }
        self.out.capacity()
    }

    /// Gives back the output buffer if everything in it was written.
    pub(crate) fn release_idle(&mut self) {
        if self.out.is_empty() {
            self.out.clear();
        }
        #[cfg(feature = "deflate")]
        if let Some(deflater) = &mut self.deflater {
            deflater.release_idle();
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7): queues a close frame with the error's code, unless one
    /// was sent already, and refuses everything after.
    pub(crate) fn fail(&mut self, error: Error) -> Error {
        if !self.close_sent {
            self.write_close(error.close_code(), error.close_reason());
        }
        self.failed = true;
        error
    }

    /// Answers a ping with the same payload (RFC 6455 §5.5.3), unless closing. Every ping gets its pong
    /// (Autobahn 2.10 checks it of a batch of pings) until the output reaches its bound: from then on a
    /// pong still waiting whole at the end of the output is replaced rather than joined, as §5.5.3 allows
    /// ("a Pong frame for only the most recently processed Ping frame"), so a peer that floods pings and
    /// never reads cannot make the output grow past the bound and one pong.
    pub(crate) fn answer_ping(&mut self, payload: &[u8]) {
        if self.close_sent {
            return;
        }
        if let Some(start) = self.unsent_pong.take() {
            if self.is_full() {
                self.out.truncate(start);
            }
        }
        let start = self.write_frame(OpCode::Pong, true, false, payload);
        self.unsent_pong = Some(start);
    }

    /// Answers the peer's close by echoing its code (RFC 6455 §5.5.1), unless we sent one first.
    pub(crate) fn answer_close(&mut self, code: Option<CloseCode>) {
        if !self.close_sent {
            self.write_close(code, "");
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.close_sent || self.ended {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Refuses a frame while the output is at or past its bound; below it, any message is taken, so the
    /// queue never holds more than the bound plus one message.
    fn check_room(&self) -> Result<(), Error> {
        let buffered = self.buffered_amount();
        if self.is_full() {
            return Err(Error::WriteBufferFull {
                buffered,
                max: self.max_write_buffer,
            });
        }
        Ok(())
    }

    /// Whether a whole data message may be queued now.
    fn check_message(&self) -> Result<(), Error> {
        self.check_open()?;
        if self.fragmenting.is_some() {
            return Err(Error::Misuse(
                "a new message while a fragmented one is open",
            ));
        }
        self.check_room()
    }

    fn send_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.check_message()?;
        #[cfg(feature = "deflate")]
        if let Some(mut deflater) = self.deflater.take() {
            match deflater.message(payload) {
                Some(compressed) => self.write_frame(opcode, true, true, compressed),
                None => self.write_frame(opcode, true, false, payload),
            };
            deflater.trim();
            self.deflater = Some(deflater);
            self.sent_message = true;
            return Ok(());
        }
        self.write_frame(opcode, true, false, payload);
        self.sent_message = true;
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::Misuse("control frame payload over 125 bytes"));
        }
        self.check_room()?;
        self.write_frame(opcode, true, false, payload);
        Ok(())
    }

    fn write_close(&mut self, code: Option<CloseCode>, reason: &str) {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        // Codes such as 1005 are never sent (RFC 6455 §7.4.1): an empty close stands for them.
        let len = match code {
            Some(code) if code.is_sendable() => {
                let reason = &reason.as_bytes()[..reason.len().min(close::MAX_REASON_LEN)];
                payload[..2].copy_from_slice(&code.as_u16().to_be_bytes());
                payload[2..2 + reason.len()].copy_from_slice(reason);
                2 + reason.len()
            }
            _ => 0,
        };
        self.write_frame(OpCode::Close, true, false, &payload[..len]);
        self.close_sent = true;
        self.close_end = Some(self.out.bytes().len());
    }

    /// Queues a whole frame encoded elsewhere (unmasked: a server's).
    fn write_encoded(&mut self, frame: &[u8]) {
        debug_assert!(self.masks.is_none());
        if let Some(tap) = &self.tap {
            if let Ok(Some((header, header_len))) = FrameHeader::parse(frame) {
                tap.frame(Direction::Sent, &header, &frame[header_len..]);
            }
        }
        // Whatever follows a waiting pong pins it in place.
        self.unsent_pong = None;
        self.out.room_for(frame.len()).copy_from_slice(frame);
        self.out.commit(frame.len());
    }

    /// Encodes one frame into the output, returning where it starts; a client masks it with a fresh key
    /// (RFC 6455 §5.3). `rsv1` marks the first frame of a compressed message (RFC 7692 §6).
    fn write_frame(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8]) -> usize {
        debug_assert_eq!(self.masks.is_some(), self.role == Role::Client);
        let mask = self.masks.as_mut().map(|rng| rng.next_u32().to_ne_bytes());
        let header = FrameHeader {
            fin,
            rsv: if rsv1 { 0b100 } else { 0 },
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        if let Some(tap) = &self.tap {
            tap.frame(Direction::Sent, &header, payload);
        }
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        // Whatever follows a waiting pong pins it in place.
        self.unsent_pong = None;
        let frame_start = self.out.bytes().len();
        let room = self.out.room_for(head_len + payload.len());
        room[..head_len].copy_from_slice(&head[..head_len]);
        match mask {
            // One pass: the payload is masked as it is copied.
            Some(key) => mask_copy(&mut room[head_len..], payload, key, 0),
            None => room[head_len..].copy_from_slice(payload),
        }
        self.out.commit(head_len + payload.len());
        frame_start
    }
}
