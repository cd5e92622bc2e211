//! The one error type, grouped by who is at fault: the peer, a limit, the handshake, the application, I/O.

use std::fmt;
use std::io;

use crate::close::CloseCode;
use crate::handshake::HttpResponse;

/// Everything that can go wrong. A peer error knows its close code ([`Error::close_code`]) or HTTP status
/// ([`Error::http_status`]); when the core returns one, it has already queued that close frame or answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    // The peer broke RFC 6455.
    /// A protocol violation (close 1002); the text names the rule.
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8 (close 1007, RFC 6455 §8.1).
    InvalidUtf8,
    /// A compressed message (permessage-deflate) whose data does not inflate (close 1007: the payload
    /// is inconsistent with the encoding negotiated for it, RFC 6455 §7.4.1, RFC 7692 §8).
    InvalidCompressedData,

    // A limit was exceeded.
    /// A frame declared a payload over `Config::max_frame_size` (close 1009).
    FrameTooLarge {
        /// The declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A message grew past `Config::max_message_size` (close 1009).
    MessageTooLarge {
        /// The length the message would have reached.
        len: u64,
        /// The limit.
        max: usize,
    },

    // The opening handshake failed.
    /// We are the server and the client's request was refused with this HTTP status (400, 426, 431, …).
    BadRequest {
        /// The status sent back.
        status: u16,
        /// Why, also sent as the response body.
        reason: &'static str,
    },
    /// The opening handshake outlasted `Config::handshake_timeout` (a server answers 408).
    HandshakeTimeout,
    /// The opening handshake was refused with this HTTP response. As a client: the server answered with
    /// another status than 101: its status, headers and the start of its body (head and body within
    /// `Config::max_handshake_size`), e.g. a 401's `WWW-Authenticate` or a redirect's `Location`. As a
    /// server: the application's policy refused the upgrade, and this response was sent.
    Refused(Box<HttpResponse>),
    /// We are the client and the server's 101 response does not complete a WebSocket handshake.
    BadResponse {
        /// The response's status, if it got that far.
        status: Option<u16>,
        /// What was wrong.
        reason: &'static str,
    },

    // A timer ran out.
    /// The peer did not answer a keepalive ping within `Config::ping_timeout` (nor send anything else);
    /// the connection failed with close code 1011.
    KeepaliveTimeout,
    /// The peer did not finish the close handshake within `Config::close_timeout`; the transport is
    /// dropped and the close was not clean (reported as 1006, RFC 6455 §7.1.5).
    CloseTimeout,

    // The application asked for something the protocol does not allow.
    /// The connection is closed (or closing): nothing more can be sent.
    Closed,
    /// A call the protocol does not allow: a control payload over 125 bytes, a close code that may not be
    /// sent, fragments out of order, invalid UTF-8 in text fragments, a subprotocol the client did not
    /// offer. The text says which.
    Misuse(&'static str),
    /// The queued output is at or past `Config::max_write_buffer`: this message was **not** queued.
    /// Write out what is queued (or wait until the driver says it may send again), then retry or drop
    /// it.
    WriteBufferFull {
        /// Bytes queued and not yet written.
        buffered: usize,
        /// The bound.
        max: usize,
    },
    /// A URL that is not `ws://host[:port][/path]` (or `wss://`).
    InvalidUrl(&'static str),

    // The peer went away.
    /// The transport ended before the close handshake finished (reported to the application as 1006,
    /// never sent: RFC 6455 §7.1.5).
    AbnormalClosure,

    /// The operating system's random generator could not be seeded (masking keys and handshake nonces
    /// need it, RFC 6455 §10.3).
    Random(io::Error),

    // The transport failed (drivers only).
    /// An I/O error from the underlying stream.
    Io(io::Error),
    /// TLS failed (feature `tls`): the server's certificate is not valid for the host or not signed by a
    /// trusted root, the peer sent an alert, a record was corrupt. The rustls error names the reason.
    #[cfg(feature = "tls")]
    Tls(rustls::Error),
}

impl Error {
    /// The close code this error sends to the peer, for errors of the peer or of a limit.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(_) => Some(CloseCode::PROTOCOL_ERROR),
            Error::InvalidUtf8 | Error::InvalidCompressedData => Some(CloseCode::INVALID_PAYLOAD),
            Error::FrameTooLarge { .. } | Error::MessageTooLarge { .. } => {
                Some(CloseCode::MESSAGE_TOO_BIG)
            }
            Error::KeepaliveTimeout => Some(CloseCode::INTERNAL_ERROR),
            _ => None,
        }
    }

    /// The HTTP status answered to a refused handshake request.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::BadRequest { status, .. } => Some(*status),
            Error::HandshakeTimeout => Some(408),
            _ => None,
        }
    }

    /// For a refused handshake request ([`Error::BadRequest`], [`Error::HandshakeTimeout`]), the response
    /// a server sends before closing the connection: 400, 408, 426 (naming the version we speak, RFC 6455
    /// §4.4) or 431, with the reason as a plain-text body.
    ///
    /// ```
    /// let error = wscore::Error::HandshakeTimeout;
    /// let response = error.http_response().unwrap();
    /// assert!(response.to_bytes().starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
    /// ```
    pub fn http_response(&self) -> Option<HttpResponse> {
        let status = self.http_status()?;
        let reason = match self {
            Error::BadRequest { reason, .. } => reason,
            _ => "the handshake took too long",
        };
        let mut response = HttpResponse::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(reason.as_bytes());
        if status == 426 {
            response = response.header("Sec-WebSocket-Version", "13");
        }
        Some(response)
    }

    /// A short reason for a close frame (kept far below the 123-byte limit).
    pub(crate) fn close_reason(&self) -> &'static str {
        match self {
            Error::Protocol(rule) => rule,
            Error::InvalidUtf8 => "invalid UTF-8",
            Error::InvalidCompressedData => "invalid compressed data",
            Error::FrameTooLarge { .. } => "frame too large",
            Error::MessageTooLarge { .. } => "message too large",
            Error::KeepaliveTimeout => "keepalive timeout",
            _ => "",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(rule) => write!(f, "protocol error: {rule}"),
            Error::InvalidUtf8 => f.write_str("invalid UTF-8 in a text message or close reason"),
            Error::InvalidCompressedData => {
                f.write_str("a compressed message whose data does not inflate")
            }
            Error::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            Error::MessageTooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
            Error::BadRequest { status, reason } => {
                write!(f, "handshake refused with {status}: {reason}")
            }
            Error::HandshakeTimeout => f.write_str("the opening handshake took too long"),
            Error::Refused(response) => write!(
                f,
                "the handshake was refused with {} {}",
                response.status, response.reason
            ),
            Error::BadResponse {
                status: Some(status),
                reason,
            } => {
                write!(f, "bad handshake response (status {status}): {reason}")
            }
            Error::BadResponse {
                status: None,
                reason,
            } => write!(f, "bad handshake response: {reason}"),
            Error::KeepaliveTimeout => f.write_str("the peer did not answer a keepalive ping in time"),
            Error::CloseTimeout => f.write_str("the peer did not finish the close handshake in time"),
            Error::WriteBufferFull { buffered, max } => write!(
                f,
                "the write buffer is full ({buffered} bytes queued, bound {max}); the message was not queued"
            ),
            Error::Random(e) => write!(f, "the random generator could not be seeded: {e}"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Misuse(what) => write!(f, "not allowed: {what}"),
            Error::InvalidUrl(what) => write!(f, "invalid WebSocket URL: {what}"),
            Error::AbnormalClosure => f.write_str("the connection ended without a close handshake"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            #[cfg(feature = "tls")]
            Error::Tls(e) => write!(f, "TLS error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::Random(e) => Some(e),
            #[cfg(feature = "tls")]
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    /// An I/O error; with the `tls` feature, one that carries a TLS failure becomes `Error::Tls` (or
    /// the 400 for plain HTTP on a TLS port), so the reason is not hidden inside `Io`.
    fn from(e: io::Error) -> Error {
        #[cfg(feature = "tls")]
        let e = match crate::driver::tls::classify(e) {
            Ok(error) => return error,
            Err(e) => e,
        };
        Error::Io(e)
    }
}
