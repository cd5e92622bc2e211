//! The `Sec-WebSocket-Extensions` negotiation of permessage-deflate for both roles (RFC 7692 §5, §7.1),
//! over the header syntax of RFC 6455 §9.1. Pure functions: header values in, parameters and header
//! values out.
//!
//! Choices the RFCs leave open, decided here:
//! - **Names.** Extension and parameter names compare ASCII-case-insensitively. RFC 6455 §9.1 and RFC
//!   7692 do not say; a peer writing `Permessage-Deflate` can only mean ours, and nothing else could be
//!   confused with it.
//! - **Whitespace.** Optional whitespace (SP, HTAB) is allowed around `,`, `;` and `=`: RFC 6455 §9.1's
//!   grammar is written in RFC 2616's style, with implied linear whitespace between words.
//! - **Empty list elements** (`a, , b`, a blank header line) are skipped, as RFC 7230 §7 requires of a
//!   recipient.
//! - **Quoted values.** `server_max_window_bits="10"` means `server_max_window_bits=10`; the unescaped
//!   value must be a token (RFC 6455 §9.1), so `"1 0"` or `""` make the element malformed.
//! - **Broken syntax.** Each header line is parsed on its own. An element that breaks the grammar (no
//!   name, an empty or unnamed parameter, a stray byte, a bad quoted value) is one malformed element:
//!   parsing resumes after the next comma outside a quoted string, and a quote left open runs to the end
//!   of its line. A server declines a malformed element like any offer it cannot accept (the client that
//!   sent it may still have sent a good one); a client fails on one, since a response must be exact.
//! - **Window sizes in our own settings** are clamped to 8–15 before they are offered or answered, so we
//!   never put a value on the wire that the peer must refuse.
//!
//! The rules of each role, with their RFC sections, are on [`accept_offer`] and [`accept_response`].

use std::borrow::Cow;

use super::{Deflate, DeflateOffer, DeflateParams};

/// The extension's name (RFC 7692 §7).
const NAME: &[u8] = b"permessage-deflate";

/// The smallest and largest LZ77 windows, as powers of two (RFC 7692 §7.1.2.1, §7.1.2.2).
const MIN_BITS: u8 = 8;
const MAX_BITS: u8 = 15;

const NOT_OFFERED: &str = "the server chose an extension that was not offered";

/// Server: every `Sec-WebSocket-Extensions` value of the request, in order (header lines may repeat and
/// each may hold several comma-separated extensions). Picks the first permessage-deflate offer it can
/// accept under `settings` and returns the parameters in force plus the response header value, e.g.
/// "permessage-deflate; client_no_context_takeover". None when there is no acceptable offer.
///
/// Offers come in the client's order of preference (RFC 7692 §5). An offer is declined, and the next one
/// tried, when it has an unknown or duplicate parameter, a value where none is allowed, or a missing or
/// invalid window size (RFC 7692 §7, the "server MUST decline" list), or when it is malformed (see the
/// module docs). Other extensions are ignored: we answer none of them. The response to an accepted offer:
/// - `server_no_context_takeover` when the offer asked for it (§7.1.1.1: that is how the server accepts
///   it) or [`Deflate::server_no_context_takeover`] is set (§7.1.1.1 allows it unasked);
/// - `client_no_context_takeover` when the offer had it or [`Deflate::client_no_context_takeover`] is set
///   (§7.1.1.2 allows it unasked; echoing the client's own hint makes it binding);
/// - `server_max_window_bits=N`, N the smaller of the offer's value and
///   [`Deflate::server_max_window_bits`], whenever the offer had it (§7.1.2.1: that is how the server
///   accepts it), and unasked when our own limit is below 15 (§7.1.2.1 allows it);
/// - `client_max_window_bits=N` only if the offer had that parameter (§7.1.2.2: MUST NOT otherwise), N the
///   smaller of the offer's value (if any) and [`Deflate::client_max_window_bits`], included when N < 15
///   or when the offer gave a value (then N is echoed, so both sides name the same window).
///
/// An offer without `client_max_window_bits` is declined when [`Deflate::client_max_window_bits`] is
/// below 15: the response could not limit the client's window (§7.1.2.2), and a server that cannot
/// inflate a 32 KiB window does not support that configuration (§7).
///
/// A server window of 8 bits is accepted and returned as 8, although zlib cannot compress raw deflate
/// with a 256-byte window: the connection then sends its messages uncompressed, which is always allowed
/// (RFC 7692 §6: a message without RSV1 is not compressed).
pub(crate) fn accept_offer<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    settings: &Deflate,
) -> Option<(DeflateParams, String)> {
    values
        .into_iter()
        .flat_map(Elements::new)
        .filter_map(Result::ok)
        .filter(|element| element.name.eq_ignore_ascii_case(NAME))
        .filter_map(|element| read_params(&element, Side::Offer).ok())
        .find_map(|offer| answer(&offer, settings))
}

/// Client: the header value offering `settings.offers` in order, e.g.
/// "permessage-deflate; client_max_window_bits, permessage-deflate". None if there are no offers.
///
/// All offers go in one header line, in order of preference (RFC 7692 §5); window sizes are clamped to
/// 8–15.
pub(crate) fn offer_header(settings: &Deflate) -> Option<String> {
    let mut header = String::new();
    for offer in &settings.offers {
        if !header.is_empty() {
            header.push_str(", ");
        }
        render(&mut header, &clamped(offer));
    }
    (!header.is_empty()).then_some(header)
}

/// Client: checks the server's `Sec-WebSocket-Extensions` values against what `settings.offers` offered.
/// Ok(None): the server accepted no extension. Ok(Some(params)): the parameters in force. Err(reason)
/// (a short static English reason, which the caller puts into Error::BadResponse): any extension other
/// than permessage-deflate, more than one extension element, an unknown/duplicate/invalid parameter,
/// a value out of range or malformed, a response that no single offer allows (e.g. client_max_window_bits
/// in the response when no offer had it; server_max_window_bits larger than every offer that asked;
/// a missing server_no_context_takeover when every offer asked for it) — the RFC 7692 §7 "client MUST
/// _Fail the WebSocket Connection_" list.
///
/// The response may add `server_no_context_takeover` (§7.1.1.1), `client_no_context_takeover`
/// (§7.1.1.2) or `server_max_window_bits` (§7.1.2.1) unasked. `client_max_window_bits` in a response
/// must have a value: without one it would limit nothing, and §7.1.2.2 only describes a response that
/// limits the client's window, so a bare one is an invalid value and fails.
///
/// The response does not say which offer it answers, so it is accepted if at least one offer allows it.
/// The parameters for our own compression are then the strictest among those offers, because the server
/// may have relied on the hints of the one it chose (§7.1.1.2, §7.1.2.2) and compressing with less
/// context than allowed is always safe: we reset our context if the response or any of those offers
/// said `client_no_context_takeover`, and our window is the response's `client_max_window_bits`, else
/// the smallest value those offers gave, else 15. A failing response is reported with the reason its
/// first offer refuses it.
pub(crate) fn accept_response<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    settings: &Deflate,
) -> Result<Option<DeflateParams>, &'static str> {
    let mut accepted = None;
    for element in values.into_iter().flat_map(Elements::new) {
        let element = element.map_err(|Malformed| "malformed Sec-WebSocket-Extensions")?;
        // RFC 6455 §4.1 item 6 (only what we offered), and permessage-deflate is all we offer.
        if settings.offers.is_empty() || !element.name.eq_ignore_ascii_case(NAME) {
            return Err(NOT_OFFERED);
        }
        // RFC 7692 §5: a server MUST NOT accept more than one compression offer.
        if accepted.is_some() {
            return Err("the server accepted permessage-deflate twice");
        }
        accepted = Some(read_params(&element, Side::Response)?);
    }
    let Some(response) = accepted else {
        return Ok(None);
    };
    let mut refusal = None;
    let mut params: Option<DeflateParams> = None;
    for offer in settings.offers.iter().map(clamped) {
        if let Err(reason) = allows(&offer, &response) {
            refusal.get_or_insert(reason);
            continue;
        }
        let params = params.get_or_insert(DeflateParams {
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover,
            server_max_window_bits: response.server_max_window_bits.unwrap_or(MAX_BITS),
            client_max_window_bits: response
                .client_max_window_bits
                .flatten()
                .unwrap_or(MAX_BITS),
        });
        // RFC 7692 §7.1.1.2, §7.1.2.2: the offer's hints bind us even when the response omits them.
        params.client_no_context_takeover |= offer.client_no_context_takeover;
        if response.client_max_window_bits.is_none() {
            let promised = offer.client_max_window_bits.flatten().unwrap_or(MAX_BITS);
            params.client_max_window_bits = params.client_max_window_bits.min(promised);
        }
    }
    match params {
        Some(params) => Ok(Some(params)),
        None => Err(refusal.unwrap_or(NOT_OFFERED)),
    }
}

/// The server's response to one valid offer under `settings`, or None when it must decline it. The
/// response is held in a [`DeflateOffer`]: the same four parameters, `client_max_window_bits` never
/// without a value.
fn answer(offer: &DeflateOffer, settings: &Deflate) -> Option<(DeflateParams, String)> {
    let server_limit = clamp_bits(settings.server_max_window_bits);
    let client_limit = clamp_bits(settings.client_max_window_bits);
    // RFC 7692 §7.1.2.1: the same or a smaller value than asked; unasked, any value.
    let server_bits = offer
        .server_max_window_bits
        .map_or(server_limit, |asked| asked.min(server_limit));
    // RFC 7692 §7.1.2.2.
    let (client_bits, client_param) = match offer.client_max_window_bits {
        // We cannot limit a client that did not offer the parameter, and cannot inflate its 32 KiB window.
        None if client_limit < MAX_BITS => return None,
        None => (MAX_BITS, None),
        Some(None) => (
            client_limit,
            (client_limit < MAX_BITS).then_some(client_limit),
        ),
        Some(Some(promised)) => {
            let bits = promised.min(client_limit);
            (bits, Some(bits))
        }
    };
    let response = DeflateOffer {
        // RFC 7692 §7.1.1.1, §7.1.1.2: asked for, or our own choice.
        server_no_context_takeover: offer.server_no_context_takeover
            || settings.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || settings.client_no_context_takeover,
        server_max_window_bits: (offer.server_max_window_bits.is_some() || server_bits < MAX_BITS)
            .then_some(server_bits),
        client_max_window_bits: client_param.map(Some),
    };
    let params = DeflateParams {
        server_no_context_takeover: response.server_no_context_takeover,
        client_no_context_takeover: response.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    };
    let mut header = String::new();
    render(&mut header, &response);
    Some((params, header))
}

/// Whether a valid `response` can answer `offer` (RFC 7692 §7: "the client does not support the
/// configuration that the response represents" otherwise), and if not, why.
fn allows(offer: &DeflateOffer, response: &DeflateOffer) -> Result<(), &'static str> {
    // RFC 7692 §7.1.1.1: the server accepts the parameter by including it.
    if offer.server_no_context_takeover && !response.server_no_context_takeover {
        return Err("the server did not accept server_no_context_takeover");
    }
    // RFC 7692 §7.1.2.1: included, with the same or a smaller value, if asked; anything 8-15 if not.
    match (
        offer.server_max_window_bits,
        response.server_max_window_bits,
    ) {
        (Some(_), None) => return Err("the server did not accept server_max_window_bits"),
        (Some(asked), Some(bits)) if bits > asked => {
            return Err("server_max_window_bits is larger than offered")
        }
        _ => {}
    }
    // RFC 7692 §7.1.2.2: only if offered, and no larger than the value offered.
    match (
        offer.client_max_window_bits,
        response.client_max_window_bits,
    ) {
        (None, Some(_)) => Err("client_max_window_bits was not offered"),
        (Some(Some(promised)), Some(Some(bits))) if bits > promised => {
            Err("client_max_window_bits is larger than offered")
        }
        _ => Ok(()),
    }
}

/// Which message an element's parameters come from: RFC 7692 allows `client_max_window_bits` without a
/// value only in an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

/// The four parameters of RFC 7692 §7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    ServerNoContextTakeover,
    ClientNoContextTakeover,
    ServerMaxWindowBits,
    ClientMaxWindowBits,
}

impl Param {
    const ALL: [(Param, &'static str); 4] = [
        (Param::ServerNoContextTakeover, "server_no_context_takeover"),
        (Param::ClientNoContextTakeover, "client_no_context_takeover"),
        (Param::ServerMaxWindowBits, "server_max_window_bits"),
        (Param::ClientMaxWindowBits, "client_max_window_bits"),
    ];

    fn named(name: &[u8]) -> Option<Param> {
        Param::ALL
            .iter()
            .find(|(_, known)| name.eq_ignore_ascii_case(known.as_bytes()))
            .map(|&(param, _)| param)
    }
}

/// The parameters of one permessage-deflate element, checked against RFC 7692 §7: each known, at most
/// once, with a value exactly where one is allowed. An error is a reason for the client to fail; the
/// server just declines.
fn read_params(element: &Element<'_>, side: Side) -> Result<DeflateOffer, &'static str> {
    let mut params = DeflateOffer {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: None,
    };
    let mut seen = [false; Param::ALL.len()];
    for (name, value) in &element.params {
        let param = Param::named(name).ok_or("unknown permessage-deflate parameter")?;
        if std::mem::replace(&mut seen[param as usize], true) {
            return Err("duplicate permessage-deflate parameter");
        }
        let value = value.as_deref();
        match param {
            // RFC 7692 §7.1.1.1, §7.1.1.2: "This extension parameter has no value."
            Param::ServerNoContextTakeover | Param::ClientNoContextTakeover if value.is_some() => {
                return Err("a no_context_takeover parameter has a value")
            }
            Param::ServerNoContextTakeover => params.server_no_context_takeover = true,
            Param::ClientNoContextTakeover => params.client_no_context_takeover = true,
            // RFC 7692 §7.1.2.1: a value is required.
            Param::ServerMaxWindowBits => {
                let bits = value.and_then(window_bits);
                params.server_max_window_bits =
                    Some(bits.ok_or("server_max_window_bits must be 8 to 15")?);
            }
            // RFC 7692 §7.1.2.2: "no value or a decimal integer value"; see accept_response on a
            // response without one.
            Param::ClientMaxWindowBits => {
                params.client_max_window_bits = match value {
                    None if side == Side::Offer => Some(None),
                    _ => {
                        let bits = value.and_then(window_bits);
                        Some(Some(bits.ok_or("client_max_window_bits must be 8 to 15")?))
                    }
                };
            }
        }
    }
    Ok(params)
}

/// RFC 7692 §7.1.2.1, §7.1.2.2: "a decimal integer value without leading zeroes between 8 to 15,
/// inclusive".
fn window_bits(value: &[u8]) -> Option<u8> {
    match *value {
        [digit @ b'8'..=b'9'] => Some(digit - b'0'),
        [b'1', digit @ b'0'..=b'5'] => Some(10 + digit - b'0'),
        _ => None,
    }
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_BITS, MAX_BITS)
}

/// An offer with its window sizes in range, as it goes on the wire.
fn clamped(offer: &DeflateOffer) -> DeflateOffer {
    DeflateOffer {
        server_max_window_bits: offer.server_max_window_bits.map(clamp_bits),
        client_max_window_bits: offer
            .client_max_window_bits
            .map(|bits| bits.map(clamp_bits)),
        ..*offer
    }
}

/// One offer or response, its parameters always in the order RFC 7692 §7.1 defines them.
fn render(out: &mut String, params: &DeflateOffer) {
    out.push_str("permessage-deflate");
    if params.server_no_context_takeover {
        out.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        out.push_str("; client_no_context_takeover");
    }
    if let Some(bits) = params.server_max_window_bits {
        out.push_str("; server_max_window_bits=");
        out.push_str(&bits.to_string());
    }
    if let Some(bits) = params.client_max_window_bits {
        out.push_str("; client_max_window_bits");
        if let Some(bits) = bits {
            out.push('=');
            out.push_str(&bits.to_string());
        }
    }
}

/// One `extension` of RFC 6455 §9.1: `extension-token *( ";" extension-param )`, values unquoted.
#[derive(Debug, PartialEq, Eq)]
struct Element<'a> {
    name: &'a [u8],
    params: Vec<ExtensionParam<'a>>,
}

/// One `extension-param` (RFC 6455 §9.1): its name and its value, if it has one, unquoted.
type ExtensionParam<'a> = (&'a [u8], Option<Cow<'a, [u8]>>);

/// An element that breaks RFC 6455 §9.1's grammar.
#[derive(Debug, PartialEq, Eq)]
struct Malformed;

/// The elements of one header line (`extension-list = 1#extension`, RFC 6455 §9.1), in order.
struct Elements<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Elements<'a> {
    fn new(line: &'a [u8]) -> Elements<'a> {
        Elements { line, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    /// OWS (RFC 7230 §3.2.3).
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// A token (RFC 7230 §3.2.6), if one starts here.
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.line[start..self.pos])
    }

    /// `extension-token *( ";" extension-param )`, up to and including the comma that ends it.
    fn element(&mut self) -> Result<Element<'a>, Malformed> {
        let name = self.token().ok_or(Malformed)?;
        let mut params = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => break,
                Some(b',') => {
                    self.pos += 1;
                    break;
                }
                Some(b';') => {
                    self.pos += 1;
                    self.skip_whitespace();
                    let name = self.token().ok_or(Malformed)?;
                    self.skip_whitespace();
                    let value = if self.peek() == Some(b'=') {
                        self.pos += 1;
                        self.skip_whitespace();
                        Some(self.value()?)
                    } else {
                        None
                    };
                    params.push((name, value));
                }
                Some(_) => return Err(Malformed),
            }
        }
        Ok(Element { name, params })
    }

    /// `token | quoted-string`, where the quoted-string, unescaped, must be a token (RFC 6455 §9.1).
    /// Since a token has no quote, backslash or space, only a backslash before a token character can
    /// appear inside the quotes.
    fn value(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
        if self.peek() != Some(b'"') {
            return self.token().map(Cow::Borrowed).ok_or(Malformed);
        }
        self.pos += 1;
        let start = self.pos;
        let mut unescaped: Option<Vec<u8>> = None;
        loop {
            match self.peek().ok_or(Malformed)? {
                b'"' => break,
                b'\\' => {
                    let escaped = self
                        .line
                        .get(self.pos + 1)
                        .copied()
                        .filter(|&b| is_tchar(b));
                    let escaped = escaped.ok_or(Malformed)?;
                    unescaped
                        .get_or_insert_with(|| self.line[start..self.pos].to_vec())
                        .push(escaped);
                    self.pos += 2;
                }
                b if is_tchar(b) => {
                    if let Some(unescaped) = &mut unescaped {
                        unescaped.push(b);
                    }
                    self.pos += 1;
                }
                _ => return Err(Malformed),
            }
        }
        let value = match unescaped {
            Some(unescaped) => Cow::Owned(unescaped),
            None => Cow::Borrowed(&self.line[start..self.pos]),
        };
        self.pos += 1;
        if value.is_empty() {
            return Err(Malformed);
        }
        Ok(value)
    }

    /// After a malformed element: on to the next comma outside a quoted string (RFC 7230 §3.2.6), or to
    /// the end of the line.
    fn skip_element(&mut self) {
        let mut quoted = false;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => quoted = !quoted,
                b'\\' if quoted => self.pos += 1,
                b',' if !quoted => return,
                _ => {}
            }
        }
        self.pos = self.line.len();
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        // RFC 7230 §7: empty list elements are ignored.
        loop {
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.pos += 1,
                _ => break,
            }
        }
        let start = self.pos;
        let element = self.element();
        if element.is_err() {
            self.pos = start;
            self.skip_element();
        }
        Some(element)
    }
}

/// `tchar` (RFC 7230 §3.2.6).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "negotiate_tests.rs"]
mod tests;
