//! The ways a soak connection misbehaves, and what a correct server does about each (RFC 6455 and the
//! server's configured timers). A faulty slot takes them in turn, so every kind comes up equally often.

/// One misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A frame header and part of its payload, then a TCP reset (SO_LINGER 0): the server must drop
    /// the connection and its buffers. Nothing to see from the client; the fd count shows it.
    Reset,
    /// One message, then our FIN: the server still echoes the message (it was accepted), then ends
    /// the connection (§7.1.5: 1006, abnormal, is not sent).
    HalfClose,
    /// Stop reading for a few seconds while sending a burst larger than the server's output limit,
    /// then resume: the server holds back (stops reading us), and every echo still comes, once, in
    /// order.
    PauseReading,
    /// The same burst, then never read again: the keepalive (ping interval + ping timeout) fails the
    /// connection with 1011, and the close timeout drops it.
    StopReading,
    /// The upgrade request a byte every half second: 408 at the handshake deadline.
    Slowloris,
    /// A thousand pings back to back: answered in order (§5.5.3 allows answering only the latest), and
    /// the connection carries on.
    PingFlood,
    /// A frame the protocol forbids, right after a good message: the message's echo, then a close
    /// with the code the RFC names.
    Invalid(Invalid),
}

/// Frames a server must refuse (RFC 6455 §5.2, §5.4, §5.5, §8.1; §7.4.1 for the codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// §5.1: a client frame without a mask: 1002.
    Unmasked,
    /// §5.2: opcode 0x3 is reserved: 1002.
    ReservedOpcode,
    /// §5.2: RSV2 with no extension defining it: 1002.
    ReservedBits,
    /// §8.1: a text message that is not UTF-8: 1007.
    BadUtf8,
    /// §5.5: a ping of 200 bytes (control frames carry at most 125): 1002.
    LongControl,
    /// §5.4: a continuation with no message to continue: 1002.
    OrphanContinuation,
    /// A declared length of 1 GiB, past the server's frame limit: 1009 before any of it is held.
    Oversize,
}

pub const ALL: [Fault; 13] = [
    Fault::Reset,
    Fault::HalfClose,
    Fault::PauseReading,
    Fault::StopReading,
    Fault::Slowloris,
    Fault::PingFlood,
    Fault::Invalid(Invalid::Unmasked),
    Fault::Invalid(Invalid::ReservedOpcode),
    Fault::Invalid(Invalid::ReservedBits),
    Fault::Invalid(Invalid::BadUtf8),
    Fault::Invalid(Invalid::LongControl),
    Fault::Invalid(Invalid::OrphanContinuation),
    Fault::Invalid(Invalid::Oversize),
];

impl Fault {
    pub fn index(self) -> usize {
        ALL.iter()
            .position(|&f| f == self)
            .expect("every fault is in ALL")
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::Reset => "reset_mid_frame",
            Fault::HalfClose => "half_close",
            Fault::PauseReading => "pause_reading",
            Fault::StopReading => "stop_reading",
            Fault::Slowloris => "slowloris",
            Fault::PingFlood => "ping_flood",
            Fault::Invalid(Invalid::Unmasked) => "unmasked_frame",
            Fault::Invalid(Invalid::ReservedOpcode) => "reserved_opcode",
            Fault::Invalid(Invalid::ReservedBits) => "reserved_bits",
            Fault::Invalid(Invalid::BadUtf8) => "invalid_utf8",
            Fault::Invalid(Invalid::LongControl) => "long_control_frame",
            Fault::Invalid(Invalid::OrphanContinuation) => "orphan_continuation",
            Fault::Invalid(Invalid::Oversize) => "oversize_frame",
        }
    }
}

impl Invalid {
    /// The close code the server must send (§7.4.1).
    pub fn code(self) -> u16 {
        match self {
            Invalid::BadUtf8 => 1007,
            Invalid::Oversize => 1009,
            _ => 1002,
        }
    }

    /// Appends the offending frame.
    pub fn encode(self, out: &mut Vec<u8>, key: [u8; 4]) {
        use crate::frame::encode_masked_with;
        match self {
            Invalid::Unmasked => out.extend_from_slice(&[0x82, 0x05, b'h', b'e', b'l', b'l', b'o']),
            Invalid::ReservedOpcode => encode_masked_with(out, 0x83, b"", key),
            Invalid::ReservedBits => encode_masked_with(out, 0xA2, b"rsv2", key),
            Invalid::BadUtf8 => encode_masked_with(out, 0x81, &[b'o', b'k', 0xC3, 0x28], key),
            Invalid::LongControl => encode_masked_with(out, 0x89, &[b'p'; 200], key),
            Invalid::OrphanContinuation => encode_masked_with(out, 0x80, b"x", key),
            Invalid::Oversize => {
                out.extend_from_slice(&[0x82, 0x80 | 127]);
                out.extend_from_slice(&(1u64 << 30).to_be_bytes());
                out.extend_from_slice(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_its_own_name_and_place() {
        for (i, fault) in ALL.iter().enumerate() {
            assert_eq!(fault.index(), i);
            assert_eq!(ALL.iter().filter(|f| f.name() == fault.name()).count(), 1);
        }
    }

    /// Each frame carries the flaw it names, read off its first bytes (§5.2).
    #[test]
    fn each_invalid_frame_breaks_the_rule_it_names() {
        let frame = |invalid: Invalid| {
            let mut out = Vec::new();
            invalid.encode(&mut out, [1, 2, 3, 4]);
            out
        };
        assert_eq!(frame(Invalid::Unmasked)[1] & 0x80, 0, "no mask bit");
        assert_eq!(frame(Invalid::ReservedOpcode)[0] & 0x0F, 0x3);
        assert_eq!(frame(Invalid::ReservedBits)[0] & 0x70, 0x20, "RSV2 alone");
        let text = frame(Invalid::BadUtf8);
        let payload: Vec<u8> = text[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4])
            .collect();
        assert!(std::str::from_utf8(&payload).is_err());
        let long = frame(Invalid::LongControl);
        assert_eq!(
            (
                long[0] & 0x0F,
                long[1] & 0x7F,
                u16::from_be_bytes([long[2], long[3]])
            ),
            (0x9, 126, 200)
        );
        assert_eq!(frame(Invalid::OrphanContinuation)[0], 0x80);
        let oversize = frame(Invalid::Oversize);
        assert_eq!(
            u64::from_be_bytes(oversize[2..10].try_into().unwrap()),
            1 << 30
        );
        assert_eq!(oversize.len(), 14, "a header and a key, no payload");
    }
}
