//! Close codes and close-frame payloads, RFC 6455 §5.5.1 and §7.4.

use std::fmt;

use crate::error::Error;

/// A close status code (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no code was present. Reported, never sent (RFC 6455 §7.4.1).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection dropped without a close frame. Reported, never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a message's data was not consistent with its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a frame or message was too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the server is restarting (IANA's registry of close codes, beyond RFC 6455).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: the server is overloaded, try again later (IANA's registry); sent to a subscriber too slow
    /// to keep up, for instance.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);

    /// Any code; whether it may appear in a close frame is [`CloseCode::is_sendable`].
    pub const fn new(code: u16) -> CloseCode {
        CloseCode(code)
    }

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether the code may appear in a close frame on the wire.
    ///
    /// RFC 6455 §7.4.1 defines 1000–1011 but reserves 1004 and forbids 1005, 1006 and 1015 on the wire;
    /// 1012–1014 are registered with IANA since; 1016–2999 are reserved for future protocol use; 3000–3999
    /// are registered by libraries and 4000–4999 are private (§7.4.2). Everything else is invalid.
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The most a close reason can hold: a control payload is at most 125 bytes, two of them the code
/// (RFC 6455 §5.5).
pub const MAX_REASON_LEN: usize = 123;

/// A close frame's code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty.
    pub reason: &'a str,
}

/// Parses a received close payload (RFC 6455 §5.5.1): empty, or a valid code followed by a UTF-8 reason.
/// A one-byte payload or an invalid code is a protocol error (1002); a reason that is not UTF-8 is 1007.
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame<'_>>, Error> {
    match payload {
        [] => Ok(None),
        [_] => Err(Error::Protocol("close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_sendable() {
                return Err(Error::Protocol("invalid close code"));
            }
            let reason = crate::utf8::to_str(reason).ok_or(Error::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

/// Checks a close we are about to send (RFC 6455 §7.4, §5.5).
pub(crate) fn check_outgoing(code: CloseCode, reason: &str) -> Result<(), Error> {
    if !code.is_sendable() {
        return Err(Error::Misuse("this close code may not be sent"));
    }
    if reason.len() > MAX_REASON_LEN {
        return Err(Error::Misuse("close reason over 123 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_payload_has_no_code() {
        assert_eq!(parse_close_payload(&[]).unwrap(), None);
    }

    #[test]
    fn parses_code_and_reason() {
        let frame = parse_close_payload(b"\x03\xe8bye").unwrap().unwrap();
        assert_eq!(frame.code, CloseCode::NORMAL);
        assert_eq!(frame.reason, "bye");
    }

    #[test]
    fn rejects_one_byte_payload_with_1002() {
        let err = parse_close_payload(&[0x03]).unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    }

    #[test]
    fn rejects_invalid_utf8_reason_with_1007() {
        let err = parse_close_payload(&[0x03, 0xe8, 0xff]).unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::INVALID_PAYLOAD));
    }

    #[test]
    fn accepts_exactly_the_codes_autobahn_7_7_sends() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(
                parse_close_payload(&u16::to_be_bytes(code)).is_ok(),
                "{code}"
            );
        }
    }

    #[test]
    fn rejects_the_codes_autobahn_7_9_sends_with_1002() {
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            let err = parse_close_payload(&u16::to_be_bytes(code)).unwrap_err();
            assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR), "{code}");
        }
    }

    #[test]
    fn outgoing_close_must_be_sendable_and_short() {
        assert!(check_outgoing(CloseCode::NORMAL, "").is_ok());
        assert!(check_outgoing(CloseCode::NO_STATUS, "").is_err());
        assert!(check_outgoing(CloseCode::NORMAL, &"x".repeat(124)).is_err());
        assert!(check_outgoing(CloseCode::NORMAL, &"x".repeat(123)).is_ok());
    }
}
