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
mod tests {
    use super::*;
    use crate::handshake::Headers;
    use proptest::prelude::*;

    fn server(lines: &[&str], settings: &Deflate) -> Option<(DeflateParams, String)> {
        accept_offer(lines.iter().map(|line| line.as_bytes()), settings)
    }

    /// The response header a server with default settings gives to `lines`, checked to be the same
    /// whether the offers come in one line or one line each (RFC 7230 §3.2.2).
    fn response_to(lines: &[&str]) -> Option<String> {
        let settings = Deflate::default();
        let answer = server(lines, &settings);
        let joined = lines.join(", ");
        assert_eq!(server(&[&joined], &settings), answer, "{lines:?} joined");
        answer.map(|(_, header)| header)
    }

    fn in_force(snct: bool, cnct: bool, server_bits: u8, client_bits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        }
    }

    fn client(
        offers: Vec<DeflateOffer>,
        lines: &[&str],
    ) -> Result<Option<DeflateParams>, &'static str> {
        let settings = Deflate::default().offers(offers);
        accept_response(lines.iter().map(|line| line.as_bytes()), &settings)
    }

    fn offer() -> DeflateOffer {
        DeflateOffer::default().client_max_window_bits(None)
    }

    // The server, against offers real clients send.

    #[test]
    fn accepts_chromium_and_node_ws_default_offer() {
        // Chromium, and the `ws` package for Node by default, send the same single offer.
        let settings = Deflate::default();
        let (params, header) =
            server(&["permessage-deflate; client_max_window_bits"], &settings).unwrap();
        assert_eq!(header, "permessage-deflate; client_no_context_takeover");
        assert_eq!(params, in_force(false, true, 15, 15));
    }

    #[test]
    fn accepts_firefox_offer_without_window_parameters() {
        let (params, header) = server(&["permessage-deflate"], &Deflate::default()).unwrap();
        assert_eq!(header, "permessage-deflate; client_no_context_takeover");
        assert_eq!(params, in_force(false, true, 15, 15));
    }

    #[test]
    fn declines_an_offer_that_cannot_limit_the_client_window_when_we_need_it_limited() {
        let settings = Deflate::default().client_max_window_bits(10);
        assert_eq!(server(&["permessage-deflate"], &settings), None);
        let (params, header) = server(
            &["permessage-deflate, permessage-deflate; client_max_window_bits"],
            &settings,
        )
        .unwrap();
        assert_eq!(
            header,
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=10"
        );
        assert_eq!(params.client_max_window_bits, 10);
    }

    #[test]
    fn accepts_autobahn_13_offers() {
        for (offer, response) in [
            (
                "permessage-deflate; client_no_context_takeover; client_max_window_bits",
                "permessage-deflate; client_no_context_takeover",
            ),
            (
                "permessage-deflate; server_max_window_bits=9",
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=9",
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=9",
            ),
            (
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=9, \
                 permessage-deflate; client_no_context_takeover, permessage-deflate",
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=9",
            ),
        ] {
            assert_eq!(response_to(&[offer]).as_deref(), Some(response), "{offer}");
        }
    }

    #[test]
    fn reads_offers_through_headers_all() {
        let mut headers = Headers::default();
        headers.push("Sec-WebSocket-Extensions", "foo");
        headers.push(
            "sec-websocket-extensions",
            "permessage-deflate; server_max_window_bits=12",
        );
        let (params, _) =
            accept_offer(headers.all("Sec-WebSocket-Extensions"), &Deflate::default()).unwrap();
        assert_eq!(params.server_max_window_bits, 12);
    }

    // The server's decline list (RFC 7692 §7), each followed by a good offer it must fall back to.

    #[test]
    fn declines_offers_with_bad_parameters_and_takes_the_next() {
        for bad in [
            // Duplicates.
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=10",
            // Unknown parameters.
            "permessage-deflate; foo",
            "permessage-deflate; x_max_window_bits=10",
            "permessage-deflate; client_max_window_bits; mux",
            // A value where none is allowed.
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"true\"",
            // Missing or invalid window sizes.
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits=abc",
            "permessage-deflate; server_max_window_bits=-9",
            "permessage-deflate; server_max_window_bits=256",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=09",
        ] {
            assert_eq!(response_to(&[bad]), None, "{bad}");
            let answer = response_to(&[bad, "permessage-deflate; server_max_window_bits=11"]);
            assert_eq!(
                answer.as_deref(),
                Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=11"),
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_quoted_values_and_case_insensitive_names() {
        for offer in [
            "permessage-deflate; server_max_window_bits=\"10\"",
            "permessage-deflate; server_max_window_bits=\"1\\0\"",
            "Permessage-Deflate; Server_Max_Window_Bits=10",
            "permessage-deflate ;server_max_window_bits = 10 ",
            "permessage-deflate;\tserver_max_window_bits=10",
        ] {
            assert_eq!(
                response_to(&[offer]).as_deref(),
                Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=10"),
                "{offer}"
            );
        }
        for malformed in [
            "permessage-deflate; server_max_window_bits=\"1 0\"",
            "permessage-deflate; server_max_window_bits=\"\"",
            "permessage-deflate; server_max_window_bits=\"10",
            "permessage-deflate; server_max_window_bits=\"1\\ 0\"",
            "permessage-deflate; server_max_window_bits=\"10\"x",
        ] {
            assert_eq!(response_to(&[malformed]), None, "{malformed}");
        }
    }

    #[test]
    fn skips_other_extensions_and_empty_elements() {
        for lines in [
            &["x-webkit-deflate-frame, foo; bar=\"baz\", permessage-deflate"][..],
            &[
                "x-webkit-deflate-frame",
                "foo; bar=1; baz",
                "permessage-deflate",
            ],
            &[", ,permessage-deflate,"],
            &["", "  ", "permessage-deflate"],
        ] {
            assert_eq!(
                response_to(lines).as_deref(),
                Some("permessage-deflate; client_no_context_takeover"),
                "{lines:?}"
            );
        }
        assert_eq!(response_to(&["x-webkit-deflate-frame, foo"]), None);
        assert_eq!(response_to(&[]), None);
    }

    #[test]
    fn declines_a_malformed_element_and_resumes_after_its_comma() {
        let good = "permessage-deflate; server_max_window_bits=12";
        let answer = "permessage-deflate; client_no_context_takeover; server_max_window_bits=12";
        for broken in [
            "@@@",
            "; permessage-deflate",
            "permessage-deflate;",
            "permessage-deflate; ; server_no_context_takeover",
            "permessage-deflate; =10",
            "permessage-deflate; server_max_window_bits=",
            "permessage-deflate server_no_context_takeover",
            "permessage-deflate; foo=\"a,b\" c",
            "permessage-deflate\u{0}",
            "perméssage-deflate",
        ] {
            let line = format!("{broken}, {good}");
            assert_eq!(response_to(&[&line]).as_deref(), Some(answer), "{line}");
        }
        // A quote left open takes the rest of its line, and only its line.
        let open = format!("permessage-deflate; foo=\"x, {good}");
        assert_eq!(response_to(&[&open]), None);
        let settings = Deflate::default();
        let (_, header) = server(&[&open, good], &settings).unwrap();
        assert_eq!(header, answer);
        // Bytes that are not text at all.
        let garbage: &[u8] = b"\xff\xfe\x00permessage-deflate\x80, permessage-deflate";
        let (_, header) = accept_offer([garbage], &settings).unwrap();
        assert_eq!(header, "permessage-deflate; client_no_context_takeover");
    }

    // The server's response under its settings.

    #[test]
    fn answers_with_our_limits_asked_or_not() {
        let ours = Deflate::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(false)
            .server_max_window_bits(10)
            .client_max_window_bits(11);
        for (offer, response, expected) in [
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                 client_max_window_bits=11",
                in_force(true, false, 10, 11),
            ),
            (
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                 client_max_window_bits=9",
                in_force(true, false, 10, 9),
            ),
            (
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=8; \
                 client_max_window_bits=15",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=8; client_max_window_bits=11",
                in_force(true, true, 8, 11),
            ),
        ] {
            assert_eq!(
                server(&[offer], &ours),
                Some((expected, response.to_owned())),
                "{offer}"
            );
        }
    }

    #[test]
    fn echoes_the_window_a_client_promised_and_leaves_out_unlimited_ones() {
        let open = Deflate::default().client_no_context_takeover(false);
        for (offer, response, expected) in [
            (
                "permessage-deflate",
                "permessage-deflate",
                in_force(false, false, 15, 15),
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate",
                in_force(false, false, 15, 15),
            ),
            (
                "permessage-deflate; client_max_window_bits=12",
                "permessage-deflate; client_max_window_bits=12",
                in_force(false, false, 15, 12),
            ),
            (
                "permessage-deflate; client_max_window_bits=15",
                "permessage-deflate; client_max_window_bits=15",
                in_force(false, false, 15, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=15",
                "permessage-deflate; server_max_window_bits=15",
                in_force(false, false, 15, 15),
            ),
        ] {
            assert_eq!(
                server(&[offer], &open),
                Some((expected, response.to_owned())),
                "{offer}"
            );
        }
    }

    #[test]
    fn accepts_an_8_bit_server_window() {
        // zlib cannot compress raw deflate in 256 bytes; the codec then sends uncompressed messages.
        let (params, header) = server(
            &["permessage-deflate; server_max_window_bits=8"],
            &Deflate::default(),
        )
        .unwrap();
        assert_eq!(params.server_max_window_bits, 8);
        assert!(header.ends_with("; server_max_window_bits=8"), "{header}");
    }

    #[test]
    fn clamps_our_own_window_settings() {
        let small = Deflate::default()
            .server_max_window_bits(3)
            .client_max_window_bits(0);
        let (params, header) =
            server(&["permessage-deflate; client_max_window_bits"], &small).unwrap();
        assert_eq!(
            header,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=8; \
             client_max_window_bits=8"
        );
        assert_eq!(
            (params.server_max_window_bits, params.client_max_window_bits),
            (8, 8)
        );
        let large = Deflate::default()
            .server_max_window_bits(200)
            .client_max_window_bits(16);
        let (_, header) = server(&["permessage-deflate"], &large).unwrap();
        assert_eq!(header, "permessage-deflate; client_no_context_takeover");
    }

    // The client's offer.

    #[test]
    fn offers_like_a_browser_by_default() {
        assert_eq!(
            offer_header(&Deflate::default()).as_deref(),
            Some("permessage-deflate; client_max_window_bits")
        );
        assert_eq!(offer_header(&Deflate::default().offers(vec![])), None);
    }

    #[test]
    fn offers_several_in_order_with_every_parameter() {
        let settings = Deflate::default().offers(vec![
            DeflateOffer::default()
                .server_no_context_takeover(true)
                .client_no_context_takeover(true)
                .server_max_window_bits(10)
                .client_max_window_bits(Some(Some(12))),
            offer(),
            DeflateOffer::default()
                .server_max_window_bits(4)
                .client_max_window_bits(Some(Some(99))),
        ]);
        assert_eq!(
            offer_header(&settings).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=12, permessage-deflate, \
                 permessage-deflate; server_max_window_bits=8; client_max_window_bits=15"
            )
        );
    }

    // The client's checks on the response.

    #[test]
    fn no_extension_in_the_response_means_none_in_force() {
        assert_eq!(client(vec![DeflateOffer::default()], &[]), Ok(None));
        assert_eq!(
            client(vec![DeflateOffer::default()], &["", " , "]),
            Ok(None)
        );
    }

    #[test]
    fn accepts_parameters_the_server_may_add_unasked() {
        let plain = || vec![DeflateOffer::default()];
        assert_eq!(
            client(plain(), &["permessage-deflate"]),
            Ok(Some(in_force(false, false, 15, 15)))
        );
        assert_eq!(
            client(
                plain(),
                &["permessage-deflate; server_no_context_takeover; client_no_context_takeover"]
            ),
            Ok(Some(in_force(true, true, 15, 15)))
        );
        assert_eq!(
            client(plain(), &["permessage-deflate; server_max_window_bits=8"]),
            Ok(Some(in_force(false, false, 8, 15)))
        );
        assert_eq!(
            client(plain(), &["permessage-deflate; client_max_window_bits=9"]),
            Ok(Some(in_force(false, false, 15, 9)))
        );
        assert_eq!(
            client(
                plain(),
                &["Permessage-Deflate; Client_Max_Window_Bits=\"10\""]
            ),
            Ok(Some(in_force(false, false, 15, 10)))
        );
    }

    #[test]
    fn keeps_the_promises_of_the_offer() {
        let promised = DeflateOffer::default()
            .client_no_context_takeover(true)
            .client_max_window_bits(Some(Some(12)));
        assert_eq!(
            client(vec![promised], &["permessage-deflate"]),
            Ok(Some(in_force(false, true, 15, 12)))
        );
        assert_eq!(
            client(
                vec![promised],
                &["permessage-deflate; client_max_window_bits=10"]
            ),
            Ok(Some(in_force(false, true, 15, 10)))
        );
    }

    #[test]
    fn fails_on_what_rfc_7692_section_7_lists() {
        let asked = DeflateOffer::default()
            .server_no_context_takeover(true)
            .server_max_window_bits(10)
            .client_max_window_bits(Some(Some(12)));
        let cases: &[(DeflateOffer, &[&str], &str)] = &[
            (asked, &["x-webkit-deflate-frame"], NOT_OFFERED),
            (asked, &["permessage-deflate, foo"], NOT_OFFERED),
            (asked, &["foo, permessage-deflate"], NOT_OFFERED),
            (
                asked,
                &["permessage-deflate", "permessage-deflate"],
                "the server accepted permessage-deflate twice",
            ),
            (
                asked,
                &["permessage-deflate, permessage-deflate"],
                "the server accepted permessage-deflate twice",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover; mux"],
                "unknown permessage-deflate parameter",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                "duplicate permessage-deflate parameter",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover=1"],
                "a no_context_takeover parameter has a value",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=010"],
                "server_max_window_bits must be 8 to 15",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits"],
                "server_max_window_bits must be 8 to 15",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                   client_max_window_bits"],
                "client_max_window_bits must be 8 to 15",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=\"1 0\""],
                "malformed Sec-WebSocket-Extensions",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover;"],
                "malformed Sec-WebSocket-Extensions",
            ),
            (asked, &["\u{7f}"], "malformed Sec-WebSocket-Extensions"),
            (
                asked,
                &["permessage-deflate; server_max_window_bits=10"],
                "the server did not accept server_no_context_takeover",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover"],
                "the server did not accept server_max_window_bits",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=11"],
                "server_max_window_bits is larger than offered",
            ),
            (
                asked,
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=9; \
                   client_max_window_bits=13"],
                "client_max_window_bits is larger than offered",
            ),
            (
                offer(),
                &["permessage-deflate; client_max_window_bits=15"],
                "client_max_window_bits was not offered",
            ),
            (
                offer(),
                &["permessage-deflate; server_max_window_bits=16"],
                "server_max_window_bits must be 8 to 15",
            ),
        ];
        for (offer, lines, reason) in cases {
            assert_eq!(client(vec![*offer], lines), Err(*reason), "{lines:?}");
        }
        let nothing_offered = Deflate::default().offers(vec![]);
        assert_eq!(
            accept_response([&b"permessage-deflate"[..]], &nothing_offered),
            Err(NOT_OFFERED)
        );
    }

    #[test]
    fn accepts_a_response_that_one_of_several_offers_allows() {
        let offers = || {
            vec![
                DeflateOffer::default()
                    .server_no_context_takeover(true)
                    .server_max_window_bits(10),
                offer(),
            ]
        };
        // Only the second offer allows each of these.
        assert_eq!(
            client(offers(), &["permessage-deflate"]),
            Ok(Some(in_force(false, false, 15, 15)))
        );
        assert_eq!(
            client(offers(), &["permessage-deflate; server_max_window_bits=12"]),
            Ok(Some(in_force(false, false, 12, 15)))
        );
        // Neither allows this: the first offer's reason is given.
        assert_eq!(
            client(offers(), &["permessage-deflate; client_max_window_bits=10"]),
            Err("the server did not accept server_no_context_takeover")
        );
        // Every offer asked for server_no_context_takeover.
        let both = vec![
            offer().server_no_context_takeover(true),
            DeflateOffer::default()
                .server_no_context_takeover(true)
                .server_max_window_bits(9),
        ];
        assert_eq!(
            client(both, &["permessage-deflate; server_max_window_bits=9"]),
            Err("the server did not accept server_no_context_takeover")
        );
    }

    #[test]
    fn compresses_by_the_strictest_offer_the_response_may_answer() {
        let offers = vec![
            DeflateOffer::default().client_max_window_bits(Some(Some(10))),
            offer().client_no_context_takeover(true),
            DeflateOffer::default().server_max_window_bits(9),
        ];
        // The third offer asked for a server window the response does not give: it is not the answer.
        assert_eq!(
            client(offers.clone(), &["permessage-deflate"]),
            Ok(Some(in_force(false, true, 15, 10)))
        );
        assert_eq!(
            client(offers, &["permessage-deflate; client_max_window_bits=12"]),
            Err("client_max_window_bits is larger than offered")
        );
    }

    // Properties.

    fn any_offer() -> impl Strategy<Value = DeflateOffer> {
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(0u8..20),
            proptest::option::of(proptest::option::of(0u8..20)),
        )
            .prop_map(|(snct, cnct, server_bits, client_bits)| DeflateOffer {
                server_no_context_takeover: snct,
                client_no_context_takeover: cnct,
                server_max_window_bits: server_bits,
                client_max_window_bits: client_bits,
            })
    }

    fn any_settings() -> impl Strategy<Value = Deflate> {
        (
            proptest::collection::vec(any_offer(), 0..4),
            0u8..20,
            0u8..20,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(offers, server_bits, client_bits, snct, cnct)| {
                Deflate::default()
                    .offers(offers)
                    .server_max_window_bits(server_bits)
                    .client_max_window_bits(client_bits)
                    .server_no_context_takeover(snct)
                    .client_no_context_takeover(cnct)
            })
    }

    /// Header-ish bytes: the pieces of the grammar and a few that break it.
    fn headerish() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            "permessage-deflate",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
            "foo",
            "10",
            "8",
            "=",
            ";",
            ",",
            " ",
            "\"",
            "\\",
            "\u{0}",
            "é",
        ]);
        proptest::collection::vec(pieces, 0..24).prop_map(|pieces| pieces.concat().into_bytes())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 0..4),
            near in proptest::collection::vec(headerish(), 0..4),
            settings in any_settings(),
        ) {
            for lines in [&lines, &near] {
                let lines = lines.iter().map(Vec::as_slice);
                if let Some((params, header)) = accept_offer(lines.clone(), &settings) {
                    prop_assert!((8..=15).contains(&params.server_max_window_bits));
                    prop_assert!((8..=15).contains(&params.client_max_window_bits));
                    prop_assert!(header.starts_with("permessage-deflate"));
                }
                let _ = accept_response(lines, &settings);
            }
        }

        #[test]
        fn the_server_reads_back_what_the_client_offers(settings in any_settings()) {
            let header = offer_header(&settings);
            prop_assert_eq!(header.is_none(), settings.offers.is_empty());
            let header = header.unwrap_or_default();
            let read: Vec<_> = Elements::new(header.as_bytes())
                .map(|element| read_params(&element.unwrap(), Side::Offer).unwrap())
                .collect();
            let sent: Vec<_> = settings.offers.iter().map(clamped).collect();
            prop_assert_eq!(read, sent);
            // A server that needs no smaller client window than 15 accepts any offer we make.
            let open = Deflate { client_max_window_bits: 15, ..settings.clone() };
            prop_assert_eq!(
                accept_offer([header.as_bytes()], &open).is_some(),
                !settings.offers.is_empty()
            );
        }

        #[test]
        fn the_client_accepts_what_the_server_answers(client in any_settings(), server in any_settings()) {
            let header = offer_header(&client).unwrap_or_default();
            let Some((ours, response)) = accept_offer([header.as_bytes()], &server) else {
                // Declined only when no offer lets the server limit the client window it needs limited.
                prop_assert!(client.offers.iter().all(|offer| offer.client_max_window_bits.is_none()));
                prop_assert!(clamp_bits(server.client_max_window_bits) < 15 || client.offers.is_empty());
                return Ok(());
            };
            let theirs = accept_response([response.as_bytes()], &client);
            let Ok(Some(theirs)) = theirs else {
                return Err(TestCaseError::fail(format!("{response:?} refused: {theirs:?}")));
            };
            // What the server does is known exactly; the client is at least as strict with its own
            // compression as the server expects, and exactly as strict when it made one offer.
            prop_assert_eq!(theirs.server_no_context_takeover, ours.server_no_context_takeover);
            prop_assert_eq!(theirs.server_max_window_bits, ours.server_max_window_bits);
            prop_assert!(theirs.client_no_context_takeover >= ours.client_no_context_takeover);
            prop_assert!(theirs.client_max_window_bits <= ours.client_max_window_bits);
            if client.offers.len() == 1 {
                prop_assert_eq!(theirs, ours);
            }
        }
    }
}
