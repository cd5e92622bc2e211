//! The receive fast path: a whole, unfragmented, uncompressed text or binary frame already in the input
//! buffer, decoded, checked and handed out where it lies without entering the general state machine.
//!
//! It only ever accepts: any frame it is not sure of (control frames, fragments, RSV bits, the wrong
//! masking, a frame over a limit, a frame not yet whole) is left to [`Receiver::advance`]'s general path,
//! which is the plain twin `fast_tests.rs` holds it equal to, so every error is the general path's.

use super::*;
use crate::mask::apply_mask;

impl Receiver {
    /// The frame at the front of the input as a message, if it is the common case; `Ok(None)` leaves the
    /// frame, untouched, to the general path. Called only with no frame partly parsed and no fragmented
    /// message open.
    #[inline]
    pub(super) fn whole_message(&mut self) -> Result<Option<Ready>, Error> {
        let bytes = self.input.bytes();
        let [b0, b1, ..] = *bytes else {
            return Ok(None);
        };
        // RFC 6455 §5.2: FIN set, RSV1-3 clear (so not compressed, RFC 7692 §6), opcode text or binary.
        let (opcode, kind) = match b0 {
            0x82 => (OpCode::Binary, MessageKind::Binary),
            0x81 => (OpCode::Text, MessageKind::Text),
            _ => return Ok(None),
        };
        // RFC 6455 §5.1: clients mask every frame, servers none.
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return Ok(None);
        }
        let (payload_len, mut header_len) = match b1 & 0x7f {
            126 => match bytes.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match bytes.get(2..10) {
                Some(be) => {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(be);
                    (u64::from_be_bytes(word), 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            match bytes.get(header_len..header_len + 4) {
                Some(&[a, b, c, d]) => {
                    header_len += 4;
                    Some([a, b, c, d])
                }
                _ => return Ok(None),
            }
        } else {
            None
        };
        // The whole payload is held, so its length fits in memory (and its top bit is clear, §5.2).
        let held = (bytes.len() - header_len) as u64;
        if payload_len > held
            || payload_len > self.max_frame_size as u64
            || payload_len > self.max_message_size as u64
        {
            return Ok(None);
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
        if self.unmasker.at_front() {
            // Read in as it came (the drivers' path): unmasked here, once, without the cursor's state.
            if let Some(key) = mask {
                apply_mask(&mut self.input.bytes_mut()[payload.clone()], key, 0);
            }
            self.unmasker.passed(frame_len);
        } else {
            // Copied in by `receive`: the payload may be unmasked already; the cursor knows how far.
            self.unmasker
                .unmask_front(self.input.bytes_mut(), &header(), header_len, frame_len);
        }
        let bytes = &self.input.bytes()[payload.clone()];
        // RFC 6455 §8.1: a text message is valid UTF-8, else 1007. Whole, so one pass suffices.
        if kind == MessageKind::Text && crate::utf8::to_str(bytes).is_none() {
            return Err(Error::InvalidUtf8);
        }
        if let Some(tap) = &self.tap {
            tap.frame(Direction::Received, &header(), bytes);
        }
        // What `start_frame` records for a new message: it is not compressed.
        self.compressed = false;
        self.borrowed_input = frame_len;
        Ok(Some(Ready::Message(kind, Some(payload))))
    }
}
