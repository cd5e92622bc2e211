//! The receiving half of a connection: frames parsed from the input buffer, unmasked (while copied in,
//! or in place: `unmask.rs`), checked, and reassembled into messages (RFC 6455 §5.2–§5.5).

use std::ops::Range;
use std::sync::Arc;

use crate::buffer::{Buffer, KEEP_CAPACITY, READ_CHUNK};
use crate::close::parse_close_payload;
use crate::error::Error;
use crate::frame::{FrameHeader, OpCode};
use crate::send::{MessageKind, Sender};
use crate::trace::{Direction, Tap};
use crate::unmask::Unmasker;
use crate::utf8::Utf8Validator;
use crate::{Config, Role};

mod fast;
#[cfg(test)]
mod fast_tests;

/// What [`Receiver::advance`] found; ranges index [`Receiver::unread`], which stays put until the next
/// call, so the event can borrow it.
#[derive(Debug)]
pub(crate) enum Ready {
    /// A complete message: `Some(range)` is a single frame's payload in the input buffer, `None` the
    /// reassembled fragments in the message buffer.
    Message(MessageKind, Option<Range<usize>>),
    Ping(Range<usize>),
    Pong(Range<usize>),
    Close(Range<usize>),
}

/// A frame whose header has been parsed and whose payload may still be arriving.
#[derive(Debug, Clone, Copy)]
struct PartialFrame {
    header: FrameHeader,
    header_len: usize,
    payload_len: usize,
    /// Payload bytes already unmasked (and, for text, validated).
    processed: usize,
}

#[derive(Debug)]
pub(crate) struct Receiver {
    role: Role,
    max_frame_size: usize,
    max_message_size: usize,
    input: Buffer,
    /// How far the input is unmasked.
    unmasker: Unmasker,
    frame: Option<PartialFrame>,
    /// The fragments of the message being reassembled.
    message: Vec<u8>,
    /// The kind of the fragmented message being reassembled, if one is open.
    fragmented: Option<MessageKind>,
    utf8: Utf8Validator,
    /// What the last event borrowed, released at the next call.
    borrowed_input: usize,
    borrowed_message: bool,
    close_received: bool,
    /// Reports each frame received, when tracing.
    tap: Option<Arc<Tap>>,
    /// The message being received is compressed (RSV1 on its first frame, RFC 7692 §6).
    compressed: bool,
    /// permessage-deflate, when negotiated; boxed, as most connections of a server have none.
    #[cfg(feature = "deflate")]
    inflater: Option<Box<crate::deflate::Inflater>>,
    /// Off to test the general path alone against the fast path (`fast_tests.rs`).
    #[cfg(test)]
    pub(crate) fast_path: bool,
}

impl Receiver {
    pub(crate) fn new(role: Role, config: &Config, tap: Option<Arc<Tap>>) -> Receiver {
        Receiver {
            role,
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            input: Buffer::default(),
            unmasker: Unmasker::default(),
            frame: None,
            message: Vec::new(),
            fragmented: None,
            utf8: Utf8Validator::default(),
            borrowed_input: 0,
            borrowed_message: false,
            close_received: false,
            tap,
            compressed: false,
            #[cfg(feature = "deflate")]
            inflater: None,
            #[cfg(test)]
            fast_path: true,
        }
    }

    /// Inflates compressed messages from now on, as negotiated.
    #[cfg(feature = "deflate")]
    pub(crate) fn inflate(&mut self, inflater: crate::deflate::Inflater) {
        self.inflater = Some(Box::new(inflater));
    }

    /// Whether RSV1 may mark a compressed message: permessage-deflate was negotiated.
    fn compression_negotiated(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.inflater.is_some();
        #[cfg(not(feature = "deflate"))]
        false
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// Whether a fragmented message has begun and not yet ended.
    pub(crate) fn in_message(&self) -> bool {
        self.fragmented.is_some()
    }

    pub(crate) fn close_received(&self) -> bool {
        self.close_received
    }

    /// Copies received bytes in, unmasking payloads on the way.
    pub(crate) fn receive(&mut self, bytes: &[u8]) {
        self.unmasker.copy_in(&mut self.input, bytes);
    }

    /// Room to read received bytes into; they are unmasked when their frame is parsed.
    pub(crate) fn read_buffer(&mut self) -> &mut [u8] {
        let wanted = self.wanted();
        self.input.spare(wanted)
    }

    /// [`Receiver::read_buffer`], if the input buffer is already large enough to read into without
    /// growing for a small read: a connection that carries little traffic keeps a small buffer.
    pub(crate) fn warm_read_buffer(&mut self) -> Option<&mut [u8]> {
        if self.input.capacity() >= READ_CHUNK {
            Some(self.read_buffer())
        } else {
            None
        }
    }

    pub(crate) fn commit(&mut self, n: usize) {
        self.input.commit(n);
    }

    /// Drops `n` parsed bytes from the front of the input.
    #[inline]
    fn consume_input(&mut self, n: usize) {
        self.input.consume(n);
        self.unmasker.consumed(n);
    }

    /// How many bytes the next read should make room for.
    fn wanted(&self) -> usize {
        match self.frame {
            Some(f) => (f.header_len + f.payload_len).saturating_sub(self.input.bytes().len()),
            None => READ_CHUNK,
        }
    }

    pub(crate) fn unread(&self) -> &[u8] {
        self.input.bytes()
    }

    /// The payload of a message found by [`Receiver::advance`].
    pub(crate) fn message_bytes(&self, range: &Option<Range<usize>>) -> &[u8] {
        match range {
            Some(range) => &self.input.bytes()[range.clone()],
            None => &self.message,
        }
    }

    pub(crate) fn heap_size(&self) -> usize {
        #[cfg(feature = "deflate")]
        if let Some(inflater) = &self.inflater {
            return self.input.capacity() + self.message.capacity() + inflater.heap_size();
        }
        self.input.capacity() + self.message.capacity()
    }

    /// Frees what the last event borrowed: its frame's bytes, or the reassembled message.
    #[inline]
    fn release_borrowed(&mut self) {
        let borrowed = std::mem::take(&mut self.borrowed_input);
        self.consume_input(borrowed);
        if self.borrowed_message {
            self.release_message();
        }
    }

    /// Empties the reassembled message the last event borrowed.
    #[inline(never)]
    fn release_message(&mut self) {
        self.borrowed_message = false;
        // Kept for more messages of this size; given back once a much smaller one used it.
        if self.message.capacity() > KEEP_CAPACITY
            && self.message.capacity() > 4 * self.message.len()
        {
            self.message = Vec::new();
        }
        self.message.clear();
    }

    /// Gives back the buffers that hold nothing, for a connection about to sit idle.
    pub(crate) fn release_idle(&mut self) {
        self.release_borrowed();
        if self.input.is_empty() {
            self.input.clear();
            self.unmasker = Unmasker::default();
        }
        if self.message.is_empty() {
            self.message = Vec::new();
            #[cfg(feature = "deflate")]
            if let Some(inflater) = &mut self.inflater {
                inflater.release_idle();
            }
        }
    }

    /// Drops all buffered input; used once the connection has failed or closed.
    pub(crate) fn discard(&mut self) {
        self.input.clear();
        self.unmasker = Unmasker::default();
        self.message = Vec::new();
        self.frame = None;
        self.borrowed_input = 0;
        self.borrowed_message = false;
        #[cfg(feature = "deflate")]
        {
            self.inflater = None;
        }
    }

    /// Releases what the last event borrowed, then parses until an event is ready (`Ok(Some)`), more
    /// bytes are needed (`Ok(None)`), or the peer broke a rule (`Err`, for the caller to fail with).
    /// Pings and closes are answered through `sender` before they are reported.
    ///
    /// Small, with the general path out of line. Left to the compiler it is not inlined into
    /// `Connection::next_event`; forcing that saves 17 instructions a message (callgrind) but cost 20%
    /// in time at 16 B (benches/receive.rs, alternating runs), so it is not forced.
    #[inline]
    pub(crate) fn advance(&mut self, sender: &mut Sender) -> Result<Option<Ready>, Error> {
        self.release_borrowed();
        #[cfg(test)]
        let fast = self.fast_path;
        #[cfg(not(test))]
        let fast = true;
        if fast && self.frame.is_none() && self.fragmented.is_none() {
            if let Some(ready) = self.whole_message() {
                return ready;
            }
        }
        self.advance_general(sender)
    }

    /// The general path: any frame, whole or in pieces, fragmented messages, control frames, every rule.
    #[inline(never)]
    fn advance_general(&mut self, sender: &mut Sender) -> Result<Option<Ready>, Error> {
        loop {
            let mut frame = match self.frame.take() {
                Some(frame) => frame,
                None => match FrameHeader::parse(self.input.bytes())? {
                    Some((header, header_len)) => self.start_frame(header, header_len)?,
                    None => return Ok(None),
                },
            };
            if !self.process_payload(&mut frame)? {
                // Resumed when more bytes arrive; the usual whole frame never waits here.
                self.frame = Some(frame);
                return Ok(None);
            }
            let payload = frame.header_len..frame.header_len + frame.payload_len;
            let frame_len = payload.end;
            let header = frame.header;
            if let Some(tap) = &self.tap {
                tap.frame(
                    Direction::Received,
                    &header,
                    &self.input.bytes()[payload.clone()],
                );
            }
            match header.opcode {
                OpCode::Ping => {
                    sender.answer_ping(&self.input.bytes()[payload.clone()]);
                    self.borrowed_input = frame_len;
                    return Ok(Some(Ready::Ping(payload)));
                }
                OpCode::Pong => {
                    self.borrowed_input = frame_len;
                    return Ok(Some(Ready::Pong(payload)));
                }
                OpCode::Close => {
                    let close = parse_close_payload(&self.input.bytes()[payload.clone()])?;
                    sender.answer_close(close.map(|c| c.code));
                    self.close_received = true;
                    self.borrowed_input = frame_len;
                    return Ok(Some(Ready::Close(payload)));
                }
                // The usual case: a whole message in one frame, handed out where it lies.
                OpCode::Text | OpCode::Binary if header.fin && !self.compressed => {
                    let kind = kind_of(header.opcode);
                    if kind == MessageKind::Text {
                        self.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
                    }
                    self.borrowed_input = frame_len;
                    return Ok(Some(Ready::Message(kind, Some(payload))));
                }
                OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                    let kind = self.fragmented.unwrap_or(kind_of(header.opcode));
                    if self.compressed {
                        self.inflate_fragment(&payload, header.fin, kind)?;
                    } else {
                        self.append_fragment(&payload);
                    }
                    self.consume_input(frame_len);
                    if !header.fin {
                        self.fragmented = Some(kind);
                        continue;
                    }
                    self.fragmented = None;
                    if kind == MessageKind::Text {
                        self.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
                    }
                    self.borrowed_message = true;
                    return Ok(Some(Ready::Message(kind, None)));
                }
            }
        }
    }

    /// Applies the rules that need connection state to a new frame's header.
    fn start_frame(
        &mut self,
        header: FrameHeader,
        header_len: usize,
    ) -> Result<PartialFrame, Error> {
        // RFC 6455 §5.2: RSV bits are zero unless an extension defines them. RFC 7692 §6:
        // permessage-deflate defines RSV1, set on the first frame of a compressed data message only.
        let rsv1 = header.rsv & 0b100 != 0;
        if header.rsv & 0b011 != 0 || (rsv1 && !self.compression_negotiated()) {
            return Err(Error::Protocol(
                "reserved bits set without a negotiated extension",
            ));
        }
        if rsv1 && !matches!(header.opcode, OpCode::Text | OpCode::Binary) {
            return Err(Error::Protocol("RSV1 on a control or continuation frame"));
        }
        // RFC 6455 §5.1: clients mask every frame, servers none.
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(Error::Protocol("unmasked frame from a client")),
            (Role::Client, true) => return Err(Error::Protocol("masked frame from a server")),
            _ => {}
        }
        let payload_len = usize::try_from(header.payload_len)
            .ok()
            .filter(|&len| len <= self.max_frame_size)
            .ok_or(Error::FrameTooLarge {
                len: header.payload_len,
                max: self.max_frame_size,
            })?;
        // RFC 6455 §5.4: a continuation needs an open message; a new message needs none open.
        match (header.opcode, self.fragmented) {
            (OpCode::Continuation, None) => {
                return Err(Error::Protocol("continuation frame without a message"))
            }
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(Error::Protocol("new message inside a fragmented message"))
            }
            _ => {}
        }
        if matches!(header.opcode, OpCode::Text | OpCode::Binary) {
            self.compressed = rsv1;
        }
        // A compressed message's limit applies to its inflated bytes, as they are inflated.
        if !header.opcode.is_control() && !self.compressed {
            let so_far = if header.opcode == OpCode::Continuation {
                self.message.len()
            } else {
                0
            };
            let total = so_far as u64 + header.payload_len;
            if total > self.max_message_size as u64 {
                return Err(Error::MessageTooLarge {
                    len: total,
                    max: self.max_message_size,
                });
            }
        }
        if header.opcode == OpCode::Text {
            self.utf8.reset();
        }
        Ok(PartialFrame {
            header,
            header_len,
            payload_len,
            processed: 0,
        })
    }

    /// Unmasks the payload bytes that arrived since the last call (unless they were unmasked as they were
    /// copied in) and validates text as it comes, to fail at the first invalid byte (RFC 6455 §8.1,
    /// Autobahn 6.4.x). Returns whether the frame is complete.
    fn process_payload(&mut self, frame: &mut PartialFrame) -> Result<bool, Error> {
        let held = self.input.bytes().len();
        let end = (frame.header_len + frame.payload_len).min(held);
        self.unmasker
            .unmask_front(self.input.bytes_mut(), &frame.header, frame.header_len, end);
        let arrived = self
            .unmasker
            .done()
            .min(end)
            .saturating_sub(frame.header_len);
        if arrived > frame.processed {
            // Compressed text is validated as it inflates instead.
            let text = !self.compressed
                && match frame.header.opcode {
                    OpCode::Text => true,
                    OpCode::Continuation => self.fragmented == Some(MessageKind::Text),
                    _ => false,
                };
            if text {
                let bytes = &self.input.bytes()
                    [frame.header_len + frame.processed..frame.header_len + arrived];
                self.utf8.feed(bytes).map_err(|_| Error::InvalidUtf8)?;
            }
            frame.processed = arrived;
        }
        Ok(frame.processed == frame.payload_len)
    }

    /// Inflates a compressed message's frame onto the message, validating text as it comes out.
    #[cfg(feature = "deflate")]
    fn inflate_fragment(
        &mut self,
        payload: &Range<usize>,
        fin: bool,
        kind: MessageKind,
    ) -> Result<(), Error> {
        let Some(inflater) = &mut self.inflater else {
            return Err(Error::Protocol("a compressed message without an extension"));
        };
        let utf8 = &mut self.utf8;
        let mut check = |bytes: &[u8]| match kind {
            MessageKind::Text => utf8.feed(bytes).map_err(|_| Error::InvalidUtf8),
            MessageKind::Binary => Ok(()),
        };
        inflater.inflate(
            &self.input.bytes()[payload.clone()],
            fin,
            &mut self.message,
            self.max_message_size,
            &mut check,
        )
    }

    /// Without the feature no message is compressed: RSV1 fails in `start_frame`.
    #[cfg(not(feature = "deflate"))]
    fn inflate_fragment(&mut self, _: &Range<usize>, _: bool, _: MessageKind) -> Result<(), Error> {
        Err(Error::Protocol("a compressed message without an extension"))
    }

    /// Appends a fragment to the message, growing the buffer geometrically but never past the limit.
    fn append_fragment(&mut self, payload: &Range<usize>) {
        let bytes = &self.input.bytes()[payload.clone()];
        let needed = self.message.len() + bytes.len();
        if needed > self.message.capacity() {
            let target = needed.max((self.message.capacity() * 2).min(self.max_message_size));
            self.message.reserve_exact(target - self.message.len());
        }
        self.message.extend_from_slice(bytes);
    }
}

fn kind_of(opcode: OpCode) -> MessageKind {
    if opcode == OpCode::Text {
        MessageKind::Text
    } else {
        MessageKind::Binary
    }
}
