//! Frame headers, RFC 6455 §5.2: parse and encode, with the checks that need no connection state.
//!
//! ```text
//!  0               1               2               3
//!  0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! ```

use crate::error::Error;

/// The largest header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode (RFC 6455 §5.2, §11.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: starts a text message.
    Text,
    /// 0x2: starts a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the four opcode bits; the reserved values 0x3–0x7 and 0xB–0xF are `None`.
    pub fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            _ => return None,
        })
    }

    /// The four opcode bits.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xa,
        }
    }

    /// Close, ping and pong: opcodes with the high bit set (RFC 6455 §5.5).
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// RSV1–RSV3 as the low three bits; non-zero only with a negotiated extension.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// The declared payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`. `Ok(None)` means more bytes are needed; otherwise the
    /// header and its length in bytes. Violations of §5.2 and §5.5 that need no connection state fail with
    /// a protocol error (1002): a reserved opcode, a fragmented or over-long control frame, a 64-bit length
    /// with its top bit set.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, Error> {
        let [b0, b1, rest @ ..] = buf else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode = OpCode::from_bits(b0 & 0x0f).ok_or(Error::Protocol("reserved opcode"))?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, len_bytes) = match b1 & 0x7f {
            126 => match rest {
                [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
                _ => return Ok(None),
            },
            127 => match rest.get(..8) {
                Some(bytes) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(bytes);
                    let len = u64::from_be_bytes(be);
                    // RFC 6455 §5.2: "the most significant bit MUST be 0".
                    if len >> 63 != 0 {
                        return Err(Error::Protocol(
                            "64-bit payload length with the top bit set",
                        ));
                    }
                    (len, 8)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 0),
        };
        if opcode.is_control() {
            // RFC 6455 §5.5: control frames are never fragmented and carry at most 125 bytes.
            if !fin {
                return Err(Error::Protocol("fragmented control frame"));
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(Error::Protocol("control frame payload over 125 bytes"));
            }
        }
        let rest = &rest[len_bytes..];
        let mask = if masked {
            match rest {
                [a, b, c, d, ..] => Some([*a, *b, *c, *d]),
                _ => return Ok(None),
            }
        } else {
            None
        };
        let header_len = 2 + len_bytes + if masked { 4 } else { 0 };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, header_len)))
    }

    /// Only where the header ends and what follows it: its length, the payload's declared length and the
    /// mask. No rule is checked (that is [`FrameHeader::parse`]'s job); used to unmask ahead of the parser.
    pub(crate) fn extent(buf: &[u8]) -> Option<(usize, u64, Option<[u8; 4]>)> {
        let b1 = *buf.get(1)?;
        let (len_bytes, payload_len) = match b1 & 0x7f {
            126 => (
                2,
                u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            ),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(buf.get(2..10)?);
                (8, u64::from_be_bytes(be))
            }
            short => (0, u64::from(short)),
        };
        let mut header_len = 2 + len_bytes;
        let mask = if b1 & 0x80 != 0 {
            let key = buf.get(header_len..header_len + 4)?;
            header_len += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        Some((header_len, payload_len, mask))
    }

    /// Writes the header into `out`, using the shortest length form (RFC 6455 §5.2: "the minimal number
    /// of bytes MUST be used"), and returns how many bytes it wrote.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut len = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::CloseCode;

    fn encoded(header: &FrameHeader) -> Vec<u8> {
        let mut out = [0u8; MAX_HEADER_LEN];
        let len = header.encode(&mut out);
        out[..len].to_vec()
    }

    /// Parses whole, one byte at a time (each prefix must say "need more"), and with trailing bytes.
    fn parse_three_ways(bytes: &[u8]) -> Result<Option<(FrameHeader, usize)>, Error> {
        for end in 0..bytes.len() {
            match FrameHeader::parse(&bytes[..end]) {
                Ok(None) => {}
                Err(e) => return Err(e),
                Ok(Some(_)) => panic!("a prefix of {end} bytes parsed as a whole header"),
            }
        }
        let whole = FrameHeader::parse(bytes)?;
        let mut trailing = bytes.to_vec();
        trailing.extend_from_slice(b"trailing");
        assert_eq!(FrameHeader::parse(&trailing)?, whole);
        Ok(whole)
    }

    #[test]
    fn parses_rfc_unmasked_text_frame_header() {
        // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
        let (h, len) = parse_three_ways(&[0x81, 0x05]).unwrap().unwrap();
        assert_eq!(len, 2);
        assert_eq!(
            h,
            FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Text,
                mask: None,
                payload_len: 5
            }
        );
    }

    #[test]
    fn parses_rfc_masked_header() {
        let (h, len) = parse_three_ways(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d])
            .unwrap()
            .unwrap();
        assert_eq!(len, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
    }

    #[test]
    fn parses_16_bit_length() {
        // RFC 6455 §5.7: 256 bytes binary message in a single unmasked frame.
        let (h, len) = parse_three_ways(&[0x82, 0x7e, 0x01, 0x00])
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, len), (256, 4));
    }

    #[test]
    fn parses_64_bit_length() {
        // RFC 6455 §5.7: 64KiB binary message in a single unmasked frame.
        let bytes = [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        let (h, len) = parse_three_ways(&bytes).unwrap().unwrap();
        assert_eq!((h.payload_len, len), (65536, 10));
    }

    #[test]
    fn rejects_64_bit_length_with_top_bit_set() {
        let bytes = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
        let err = parse_three_ways(&bytes).unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    }

    #[test]
    fn rejects_reserved_opcodes() {
        for bits in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            let err = FrameHeader::parse(&[0x80 | bits, 0]).unwrap_err();
            assert_eq!(
                err.close_code(),
                Some(CloseCode::PROTOCOL_ERROR),
                "opcode {bits:#x}"
            );
        }
    }

    #[test]
    fn rejects_fragmented_control_frame() {
        let err = FrameHeader::parse(&[0x09, 0x00]).unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    }

    #[test]
    fn rejects_control_payload_over_125() {
        assert!(FrameHeader::parse(&[0x89, 125]).unwrap().is_some());
        let err = FrameHeader::parse(&[0x89, 126, 0, 126]).unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    }

    #[test]
    fn reports_rsv_bits() {
        let (h, _) = FrameHeader::parse(&[0xc1, 0x00]).unwrap().unwrap();
        assert_eq!(h.rsv, 0b100);
    }

    #[test]
    fn encodes_each_length_form_minimally() {
        let header = |payload_len, mask| FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask,
            payload_len,
        };
        assert_eq!(encoded(&header(125, None)), [0x82, 125]);
        assert_eq!(encoded(&header(126, None)), [0x82, 126, 0, 126]);
        assert_eq!(encoded(&header(65535, None)), [0x82, 126, 0xff, 0xff]);
        assert_eq!(
            encoded(&header(65536, None)),
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(
            encoded(&header(5, Some([1, 2, 3, 4]))),
            [0x82, 0x85, 1, 2, 3, 4]
        );
    }

    #[test]
    fn encode_then_parse_round_trips() {
        for payload_len in [0u64, 1, 125, 126, 127, 65535, 65536, u64::MAX >> 1] {
            for mask in [None, Some([9, 8, 7, 6])] {
                for opcode in [OpCode::Continuation, OpCode::Text, OpCode::Binary] {
                    let h = FrameHeader {
                        fin: false,
                        rsv: 0b010,
                        opcode,
                        mask,
                        payload_len,
                    };
                    let bytes = encoded(&h);
                    assert_eq!(FrameHeader::parse(&bytes).unwrap(), Some((h, bytes.len())));
                }
            }
        }
    }
}
