//! permessage-deflate ([RFC 7692](https://www.rfc-editor.org/rfc/rfc7692)), feature `deflate`: each
//! data message may be compressed with DEFLATE, announced by RSV1 on its first frame.
//!
//! Settings live in [`Config::deflate`](crate::Config::deflate) ([`Deflate`]); the opening handshake
//! negotiates them into the [`DeflateParams`] in force on one connection.
//!
//! | file           | concern                                                                 |
//! |----------------|-------------------------------------------------------------------------|
//! | `negotiate.rs` | the `Sec-WebSocket-Extensions` offers and response, both roles (§5, §7) |
//! | `codec.rs`     | compressing and inflating one message, bounded (§7.2)                   |
//! | `frames.rs`    | which messages go compressed; RSV1 on the first frame (§6)              |

mod codec;
mod frames;

pub(crate) use frames::{compress_alone, Deflater, Inflater};

mod negotiate;

// The handshakes call these once they negotiate permessage-deflate; until then only the tests do.
pub(crate) use negotiate::{accept_offer, accept_response, offer_header};

/// permessage-deflate settings, both roles. The client sends [`Deflate::offers`]; the server accepts
/// the first offer it can and answers with its own limits. Defaults favour memory on servers with many
/// connections: clients must reset their compression context between messages
/// ([`Deflate::client_no_context_takeover`]), so an idle connection keeps no inflate state.
///
/// ```
/// use wscore::deflate::{Deflate, DeflateOffer};
/// let config = wscore::Config::default().deflate(
///     Deflate::default()
///         .level(1)
///         .threshold(256)
///         .offers(vec![DeflateOffer::default().server_max_window_bits(10), DeflateOffer::default()]),
/// );
/// assert_eq!(config.deflate.unwrap().offers.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deflate {
    /// Client: the offers, in order of preference, all in one `Sec-WebSocket-Extensions` header (RFC
    /// 7692 §5). Default: one offer, `permessage-deflate; client_max_window_bits`, as browsers send.
    pub offers: Vec<DeflateOffer>,
    /// Server: the largest LZ77 window our compressor uses, as a power of two (8–15; values outside are
    /// clamped). A client may ask for less (`server_max_window_bits`). Default 15 (32 KiB).
    pub server_max_window_bits: u8,
    /// Server: the window a client may use (8–15; values outside are clamped), when the client said it
    /// can limit its own (`client_max_window_bits` in its offer). A client that did not say so cannot be
    /// limited (RFC 7692 §7.1.2.2), so below 15 its offer is declined. Default 15.
    pub client_max_window_bits: u8,
    /// Server: we compress each message on its own (`server_no_context_takeover` in the response).
    /// Default false.
    pub server_no_context_takeover: bool,
    /// Server: clients compress each message on its own (`client_no_context_takeover` in the response,
    /// RFC 7692 §7.1.1.2), so the server keeps no inflate state between messages. Default true: with
    /// context takeover, every connection would keep about 40 KiB of inflate state even while idle.
    pub client_no_context_takeover: bool,
    /// The zlib compression level, 0 (none) to 9 (smallest). Default 6, zlib's own default.
    pub level: u8,
    /// Messages shorter than this many bytes are sent uncompressed (RSV1 clear), as are messages that
    /// would not shrink. Default 64.
    pub threshold: usize,
}

impl Default for Deflate {
    fn default() -> Deflate {
        Deflate {
            offers: vec![DeflateOffer::default()],
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: true,
            level: 6,
            threshold: 64,
        }
    }
}

macro_rules! setters {
    ($type:ident { $($(#[$doc:meta])* $name:ident: $ty:ty;)* }) => {
        impl $type {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> $type {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters!(Deflate {
    /// Sets [`Deflate::offers`](#structfield.offers).
    offers: Vec<DeflateOffer>;
    /// Sets [`Deflate::server_max_window_bits`](#structfield.server_max_window_bits).
    server_max_window_bits: u8;
    /// Sets [`Deflate::client_max_window_bits`](#structfield.client_max_window_bits).
    client_max_window_bits: u8;
    /// Sets [`Deflate::server_no_context_takeover`](#structfield.server_no_context_takeover).
    server_no_context_takeover: bool;
    /// Sets [`Deflate::client_no_context_takeover`](#structfield.client_no_context_takeover).
    client_no_context_takeover: bool;
    /// Sets [`Deflate::level`](#structfield.level).
    level: u8;
    /// Sets [`Deflate::threshold`](#structfield.threshold).
    threshold: usize;
});

/// One client offer of permessage-deflate and its parameters (RFC 7692 §7.1).
///
/// ```
/// use wscore::deflate::DeflateOffer;
/// let offer = DeflateOffer::default().server_no_context_takeover(true).client_max_window_bits(Some(Some(12)));
/// assert_eq!(offer.client_max_window_bits, Some(Some(12)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateOffer {
    /// Asks the server to compress each message on its own.
    pub server_no_context_takeover: bool,
    /// Tells the server we compress each message on its own.
    pub client_no_context_takeover: bool,
    /// Asks the server for a window of at most 2^N bytes (8–15; values outside are clamped).
    pub server_max_window_bits: Option<u8>,
    /// `Some(None)`: we can limit our window if the server asks; `Some(Some(n))`: we will use at most
    /// 2^n bytes (8–15; values outside are clamped). Default `Some(None)`.
    pub client_max_window_bits: Option<Option<u8>>,
}

impl Default for DeflateOffer {
    fn default() -> DeflateOffer {
        DeflateOffer {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: Some(None),
        }
    }
}

setters!(DeflateOffer {
    /// Sets [`DeflateOffer::server_no_context_takeover`](#structfield.server_no_context_takeover).
    server_no_context_takeover: bool;
    /// Sets [`DeflateOffer::client_no_context_takeover`](#structfield.client_no_context_takeover).
    client_no_context_takeover: bool;
    /// Sets [`DeflateOffer::client_max_window_bits`](#structfield.client_max_window_bits).
    client_max_window_bits: Option<Option<u8>>;
});

impl DeflateOffer {
    /// Sets [`DeflateOffer::server_max_window_bits`](#structfield.server_max_window_bits).
    #[must_use]
    pub fn server_max_window_bits(mut self, bits: u8) -> DeflateOffer {
        self.server_max_window_bits = Some(bits);
        self
    }
}

/// The permessage-deflate parameters in force on one connection, as negotiated.
///
/// ```
/// let params = wscore::deflate::DeflateParams::default();
/// assert_eq!((params.server_max_window_bits, params.client_max_window_bits), (15, 15));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with, as a power of two (8–15).
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with (8–15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// No limits: both sides keep their context and use 32 KiB windows.
    fn default() -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}
