//! What the opening handshake agreed on beyond the subprotocol: the extensions in force on the
//! connection (RFC 6455 §9).

/// The extensions a handshake negotiated, for [`Connection::with_extensions`](crate::Connection::with_extensions).
/// Without the `deflate` feature there are none to negotiate and this is empty.
///
/// ```
/// let none = wscore::handshake::Extensions::default();
/// let connection = wscore::Connection::with_extensions(wscore::Role::Server, &Default::default(), &none);
/// # let _ = connection;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extensions {
    /// permessage-deflate (RFC 7692), when negotiated.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateParams>,
}
