//! Client-side WebSocket framing (RFC 6455 §5.2), written for the load generator alone: encode masked
//! frames, parse the server's unmasked ones. It shares nothing with wscore on purpose: the tool that
//! judges our server must not reuse the receive path it is judging. The one extension bit it knows is
//! permessage-deflate's RSV1 (RFC 7692 §6), which a caller allows once the extension is negotiated.

use std::fmt;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// A parsed frame header. The payload follows the header in the same buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    /// RSV1: with permessage-deflate, the message is compressed (RFC 7692 §6).
    pub compressed: bool,
    pub opcode: u8,
    /// Bytes of header before the payload (2, 4 or 10: a server frame carries no mask key).
    pub header_len: usize,
    pub payload_len: u64,
}

impl Header {
    /// §5.5: opcodes 0x8 and above are control frames.
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Everything a server frame can get wrong, as seen by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// §5.2: RSV1-3 must be 0 unless an extension defines them; permessage-deflate defines RSV1 alone.
    ReservedBits(u8),
    /// RFC 7692 §6.1: RSV1 marks the first frame of a data message, never a control frame or a
    /// continuation.
    CompressedNonFirst(u8),
    /// §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    UnknownOpcode(u8),
    /// §5.1: a server must not mask the frames it sends.
    Masked,
    /// §5.4: control frames must not be fragmented.
    FragmentedControl(u8),
    /// §5.5: control frames carry at most 125 bytes.
    ControlTooLong(u64),
    /// §5.2: "the minimal number of bytes MUST be used to encode the length".
    NonMinimalLength(u64),
    /// §5.2: the most significant bit of a 64-bit length must be 0.
    LengthTooLarge(u64),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedBits(bits) => write!(f, "reserved bits set: {bits:#04x}"),
            FrameError::CompressedNonFirst(op) => write!(f, "RSV1 on a frame of opcode {op:#x}"),
            FrameError::UnknownOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            FrameError::Masked => write!(f, "masked frame from the server"),
            FrameError::FragmentedControl(op) => write!(f, "fragmented control frame {op:#x}"),
            FrameError::ControlTooLong(len) => write!(f, "control frame of {len} bytes"),
            FrameError::NonMinimalLength(len) => write!(f, "length {len} not minimally encoded"),
            FrameError::LengthTooLarge(len) => {
                write!(f, "64-bit length with its top bit set: {len}")
            }
        }
    }
}

/// Parses the header at the start of `buf`: `Ok(None)` means it needs more bytes, like httparse's
/// `Status::Partial`. Only the header is looked at; the caller waits for the payload. `deflate` says
/// whether permessage-deflate was negotiated, which makes RSV1 legal on a data message's first frame.
pub fn parse_header(buf: &[u8], deflate: bool) -> Result<Option<Header>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let reserved = b0 & if deflate { 0x30 } else { 0x70 };
    if reserved != 0 {
        return Err(FrameError::ReservedBits(reserved));
    }
    let fin = b0 & 0x80 != 0;
    let compressed = b0 & 0x40 != 0;
    let opcode = b0 & 0x0F;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG if !fin => return Err(FrameError::FragmentedControl(opcode)),
        OP_CLOSE | OP_PING | OP_PONG => {}
        _ => return Err(FrameError::UnknownOpcode(opcode)),
    }
    if compressed && !matches!(opcode, OP_TEXT | OP_BINARY) {
        return Err(FrameError::CompressedNonFirst(opcode));
    }
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let (header_len, payload_len) = match b1 & 0x7F {
        126 => {
            let Some(bytes) = buf.get(2..4) else {
                return Ok(None);
            };
            let len = u64::from(u16::from_be_bytes([bytes[0], bytes[1]]));
            if len < 126 {
                return Err(FrameError::NonMinimalLength(len));
            }
            (4, len)
        }
        127 => {
            let Some(bytes) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(bytes);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 {
                return Err(FrameError::LengthTooLarge(len));
            }
            if len <= 0xFFFF {
                return Err(FrameError::NonMinimalLength(len));
            }
            (10, len)
        }
        len => (2, u64::from(len)),
    };
    let header = Header {
        fin,
        compressed,
        opcode,
        header_len,
        payload_len,
    };
    if header.is_control() && payload_len > 125 {
        return Err(FrameError::ControlTooLong(payload_len));
    }
    Ok(Some(header))
}

/// Appends one final, masked frame (§5.3: a client masks every frame) to `out`.
pub fn encode_masked(out: &mut Vec<u8>, opcode: u8, payload: &[u8], key: [u8; 4]) {
    encode_masked_with(out, 0x80 | opcode, payload, key);
}

/// Appends one masked frame whose first byte (FIN, RSV1-3, opcode; §5.2) is `first`: fragments and
/// compressed frames for the soak.
pub fn encode_masked_with(out: &mut Vec<u8>, first: u8, payload: &[u8], key: [u8; 4]) {
    out.push(first);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    let start = out.len();
    // Zeroing first is cheap next to a second pass over the payload: the copy and the mask are one.
    out.resize(start + len, 0);
    mask_copy(&mut out[start..], payload, key);
}

/// `dst[i] = src[i] ^ key[i % 4]`, eight bytes at a time: the copy into the output and the mask in one
/// pass, so the load generator stays cheaper per message than the servers it loads.
pub fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len());
    let [k0, k1, k2, k3] = key;
    let wide = u64::from_ne_bytes([k0, k1, k2, k3, k0, k1, k2, k3]);
    let mut dst_chunks = dst.chunks_exact_mut(8);
    let mut src_chunks = src.chunks_exact(8);
    for (d, s) in (&mut dst_chunks).zip(&mut src_chunks) {
        let mut word = [0u8; 8];
        word.copy_from_slice(s);
        d.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so at key byte 0.
    let tail = src_chunks.remainder();
    for (i, (d, s)) in dst_chunks.into_remainder().iter_mut().zip(tail).enumerate() {
        *d = s ^ key[i % 4];
    }
}

/// Unmasks (or masks) in place, byte by byte as §5.3 defines it: the reference the tests hold
/// `mask_copy` to, and how they read back what we sent.
#[cfg(test)]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `parse_header` three ways (whole, one byte at a time, with trailing bytes) and checks they
    /// agree; returns the whole-input answer. Without permessage-deflate, as most tests want.
    fn parse_three_ways(frame: &[u8]) -> Result<Option<Header>, FrameError> {
        parse_three_ways_with(frame, false)
    }

    fn parse_three_ways_with(frame: &[u8], deflate: bool) -> Result<Option<Header>, FrameError> {
        let whole = parse_header(frame, deflate);
        let mut trailing = frame.to_vec();
        trailing.extend_from_slice(&[0x82, 0x00, 0xFF, 0xEE]);
        let with_trailing = parse_header(&trailing, deflate);
        match whole {
            Ok(Some(h)) => assert_eq!(
                with_trailing,
                Ok(Some(h)),
                "trailing bytes changed the header"
            ),
            Ok(None) => {}
            Err(e) => assert_eq!(with_trailing, Err(e)),
        }
        // A prefix either needs more bytes or already fails with the same error; a complete header is
        // never reported before the last byte of the input arrives.
        for end in 0..frame.len() {
            match parse_header(&frame[..end], deflate) {
                Ok(None) => {}
                Ok(Some(h)) => {
                    assert!(end >= h.header_len, "header before its bytes");
                    assert_eq!(whole, Ok(Some(h)));
                }
                Err(e) => assert_eq!(whole, Err(e), "prefix of {end} bytes"),
            }
        }
        whole
    }

    fn header(fin: bool, opcode: u8, header_len: usize, payload_len: u64) -> Header {
        Header {
            fin,
            compressed: false,
            opcode,
            header_len,
            payload_len,
        }
    }

    #[test]
    fn needs_two_bytes_before_anything() {
        assert_eq!(parse_header(&[], false), Ok(None));
        assert_eq!(parse_header(&[0x82], true), Ok(None));
    }

    #[test]
    fn parses_seven_bit_length() {
        assert_eq!(
            parse_three_ways(&[0x82, 0]),
            Ok(Some(header(true, OP_BINARY, 2, 0)))
        );
        assert_eq!(
            parse_three_ways(&[0x81, 125]),
            Ok(Some(header(true, OP_TEXT, 2, 125)))
        );
    }

    #[test]
    fn parses_sixteen_bit_length() {
        assert_eq!(
            parse_three_ways(&[0x82, 126, 0x00, 126]),
            Ok(Some(header(true, OP_BINARY, 4, 126)))
        );
        assert_eq!(
            parse_three_ways(&[0x02, 126, 0xFF, 0xFF]),
            Ok(Some(header(false, OP_BINARY, 4, 65535)))
        );
    }

    #[test]
    fn parses_sixty_four_bit_length() {
        let frame = [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(
            parse_three_ways(&frame),
            Ok(Some(header(true, OP_BINARY, 10, 65536)))
        );
    }

    #[test]
    fn parses_continuation_and_control_frames() {
        assert_eq!(
            parse_three_ways(&[0x80, 3]),
            Ok(Some(header(true, OP_CONTINUATION, 2, 3)))
        );
        assert_eq!(
            parse_three_ways(&[0x89, 4]),
            Ok(Some(header(true, OP_PING, 2, 4)))
        );
        assert_eq!(
            parse_three_ways(&[0x8A, 0]),
            Ok(Some(header(true, OP_PONG, 2, 0)))
        );
        assert_eq!(
            parse_three_ways(&[0x88, 2]),
            Ok(Some(header(true, OP_CLOSE, 2, 2)))
        );
    }

    #[test]
    fn rejects_reserved_bits() {
        assert_eq!(
            parse_three_ways(&[0xC2, 0]),
            Err(FrameError::ReservedBits(0x40))
        );
        assert_eq!(
            parse_three_ways(&[0x92, 0]),
            Err(FrameError::ReservedBits(0x10))
        );
    }

    #[test]
    fn takes_rsv1_on_a_first_data_frame_once_deflate_is_negotiated() {
        let compressed = Header {
            compressed: true,
            ..header(false, OP_TEXT, 2, 5)
        };
        assert_eq!(
            parse_three_ways_with(&[0x41, 5], true),
            Ok(Some(compressed))
        );
        assert_eq!(
            parse_three_ways_with(&[0x41, 5], false),
            Err(FrameError::ReservedBits(0x40)),
            "not negotiated"
        );
    }

    #[test]
    fn rejects_rsv1_on_continuations_and_control_frames() {
        assert_eq!(
            parse_three_ways_with(&[0xC0, 0], true),
            Err(FrameError::CompressedNonFirst(OP_CONTINUATION))
        );
        assert_eq!(
            parse_three_ways_with(&[0xC9, 0], true),
            Err(FrameError::CompressedNonFirst(OP_PING))
        );
        assert_eq!(
            parse_three_ways_with(&[0xA2, 0], true),
            Err(FrameError::ReservedBits(0x20)),
            "RSV2 stays reserved"
        );
    }

    #[test]
    fn rejects_reserved_opcodes() {
        for op in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(
                parse_three_ways(&[0x80 | op, 0]),
                Err(FrameError::UnknownOpcode(op))
            );
        }
    }

    #[test]
    fn rejects_masked_server_frame() {
        assert_eq!(
            parse_three_ways(&[0x82, 0x81, 1, 2, 3, 4, 0]),
            Err(FrameError::Masked)
        );
    }

    #[test]
    fn rejects_fragmented_control_frame() {
        assert_eq!(
            parse_three_ways(&[0x09, 0]),
            Err(FrameError::FragmentedControl(OP_PING))
        );
    }

    #[test]
    fn rejects_control_frame_over_125_bytes() {
        assert_eq!(
            parse_three_ways(&[0x89, 126, 0, 126]),
            Err(FrameError::ControlTooLong(126))
        );
    }

    #[test]
    fn rejects_non_minimal_lengths() {
        assert_eq!(
            parse_three_ways(&[0x82, 126, 0, 125]),
            Err(FrameError::NonMinimalLength(125))
        );
        let frame = [0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        assert_eq!(
            parse_three_ways(&frame),
            Err(FrameError::NonMinimalLength(65535))
        );
    }

    #[test]
    fn rejects_length_with_top_bit_set() {
        let frame = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            parse_three_ways(&frame),
            Err(FrameError::LengthTooLarge(1 << 63))
        );
    }

    #[test]
    fn encodes_each_length_form_masked() {
        let key = [0x37, 0xFA, 0x21, 0x3D];
        // §5.7's masked "Hello".
        let mut out = Vec::new();
        encode_masked(&mut out, OP_TEXT, b"Hello", key);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        );

        for (len, head) in [
            (125, vec![0x82, 0x80 | 125]),
            (126, vec![0x82, 0x80 | 126, 0, 126]),
            (65535, vec![0x82, 0x80 | 126, 0xFF, 0xFF]),
            (65536, vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = Vec::new();
            encode_masked(&mut out, OP_BINARY, &payload, key);
            assert_eq!(out[..head.len()], head[..], "header for {len} bytes");
            assert_eq!(out[head.len()..head.len() + 4], key);
            let mut body = out[head.len() + 4..].to_vec();
            apply_mask(&mut body, key);
            assert_eq!(body, payload, "payload of {len} bytes");
        }
    }

    #[test]
    fn mask_copy_matches_the_bytewise_definition() {
        let key = [0xA5, 0x01, 0x7E, 0xFF];
        for len in 0..40 {
            let src: Vec<u8> = (0..len).map(|i| (i * 29 + 3) as u8).collect();
            let mut dst = vec![0u8; len];
            mask_copy(&mut dst, &src, key);
            let plain: Vec<u8> = src
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            assert_eq!(dst, plain, "length {len}");
        }
    }
}
