//! The receive fast path: a whole, unfragmented, uncompressed text or binary frame already in the input
//! buffer, decoded, checked and handed out where it lies without entering the general state machine.
//!
//! It only ever accepts: any frame it is not sure of (control frames, fragments, RSV bits, the wrong
//! masking, a frame over a limit) is left to [`Receiver::advance`]'s general path, which is the plain
//! twin `fast_tests.rs` holds it equal to, so every error is the general path's.
//!
//! A small binary frame that is not yet whole waits here for its rest instead: a socket read ends
//! mid-frame about once a read, which at 1 KiB messages and 4 KiB reads is one message in four, and the
//! general path's partial frame costs that message twice the instructions. Nothing is observable in
//! the wait: the header passed every rule, and a binary payload has none of its own. Text is not
//! kept waiting, as its first invalid byte fails the connection at once (RFC 6455 §8.1, Autobahn
//! 6.4.x); nor is a frame larger than a read, whose buffer grows with the general path's frame.

use super::*;
use crate::mask::apply_mask;

impl Receiver {
    /// What [`Receiver::advance`] returns for the frame at the front, if it is the common case: a
    /// message, or (a small binary frame not yet whole) `Ok(None)` for more bytes. `None` leaves the
    /// frame, untouched, to the general path. Called only with no frame partly parsed and no
    /// fragmented message open. (`advance`'s own type, so that passing it on costs nothing.)
    #[inline]
    pub(super) fn whole_message(&mut self) -> Option<Result<Option<Ready>, Error>> {
        let bytes = self.input.bytes();
        let [b0, b1, ..] = *bytes else {
            return None;
        };
        // RFC 6455 §5.2: FIN set, RSV1-3 clear (so not compressed, RFC 7692 §6), opcode text or binary.
        let (opcode, kind) = match b0 {
            0x82 => (OpCode::Binary, MessageKind::Binary),
            0x81 => (OpCode::Text, MessageKind::Text),
            _ => return None,
        };
        // RFC 6455 §5.1: clients mask every frame, servers none.
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return None;
        }
        let (payload_len, mut header_len) = match b1 & 0x7f {
            126 => match bytes.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return None,
            },
            127 => match bytes.get(2..10) {
                Some(be) => {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(be);
                    (u64::from_be_bytes(word), 10)
                }
                None => return None,
            },
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            match bytes.get(header_len..header_len + 4) {
                Some(&[a, b, c, d]) => {
                    header_len += 4;
                    Some([a, b, c, d])
                }
                _ => return None,
            }
        } else {
            None
        };
        if payload_len > self.max_frame_size as u64 || payload_len > self.max_message_size as u64 {
            return None;
        }
        // Once the whole payload is held its length fits in memory (and its top bit is clear, §5.2).
        if payload_len > (bytes.len() - header_len) as u64 {
            let small = payload_len <= (READ_CHUNK - header_len) as u64;
            return (kind == MessageKind::Binary && small).then_some(Ok(None));
        }
        let frame_len = header_len + payload_len as usize;
        // Built only where it is needed: the common case never does (6 instructions a message).
        let header = || FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len,
        };
        let payload = header_len..frame_len;
        // One borrow of the buffer for all that follows: its accessors are not always inlined.
        let input = self.input.bytes_mut();
        if self.unmasker.at_front() {
            // Read in as it came (the drivers' path): unmasked here, once, without the cursor's state.
            if let Some(key) = mask {
                apply_mask(&mut input[payload.clone()], key, 0);
            }
            self.unmasker.passed(frame_len);
        } else {
            // Copied in by `receive`: the payload may be unmasked already; the cursor knows how far.
            self.unmasker
                .unmask_front(input, &header(), header_len, frame_len);
        }
        let bytes = &input[payload.clone()];
        // RFC 6455 §8.1: a text message is valid UTF-8, else 1007. Whole, so one pass suffices.
        if kind == MessageKind::Text && crate::utf8::to_str(bytes).is_none() {
            return Some(Err(Error::InvalidUtf8));
        }
        if let Some(tap) = &self.tap {
            tap.frame(Direction::Received, &header(), bytes);
        }
        // What `start_frame` records for a new message: it is not compressed.
        self.compressed = false;
        self.borrowed_input = frame_len;
        Some(Ok(Some(Ready::Message(kind, Some(payload)))))
    }
}
