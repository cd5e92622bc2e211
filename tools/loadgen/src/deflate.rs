//! The client's side of permessage-deflate (RFC 7692), as far as a load generator needs it: the offer,
//! the check of the server's answer, inflating what the server compressed, and compressing what the
//! soak sends ([`Deflater`]; the echo and fan-out workloads send uncompressed, which §6 always allows).
//! Both directions are miniz_oxide's, not the zlib-rs that wscore uses: the judge does not share the
//! code it judges.

use miniz_oxide::deflate::core::{
    compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// What browsers offer (§7.1.2.2: we could accept a limit on our own window, which we never use).
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// §7.2.2: a sender drops the `00 00 ff ff` that ends each sync-flushed message; the receiver puts it
/// back before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The server's answer to [`OFFER`], as far as it concerns inflating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    /// §7.1.1.1: each message is compressed on its own, so the inflater starts afresh each time.
    pub server_no_context_takeover: bool,
    /// §7.1.1.2: the server forgets our window after each message, so each one is compressed alone.
    pub client_no_context_takeover: bool,
    /// §7.1.2.2: the window our compressor may use, if the server limited it (the soak compresses
    /// only with the full 15 bits, miniz_oxide's fixed window).
    pub client_max_window_bits: Option<u8>,
}

/// Checks a `Sec-WebSocket-Extensions` response value against our one offer: exactly
/// permessage-deflate, each parameter at most once, window bits 8–15 (§7.1).
pub fn check_response(value: &str) -> Result<Accepted, String> {
    let mut extensions = value.split(',');
    let extension = extensions.next().unwrap_or_default();
    if extensions.next().is_some() {
        return Err(format!("more than the one extension offered: {value:?}"));
    }
    let mut parts = extension.split(';').map(str::trim);
    if parts.next() != Some("permessage-deflate") {
        return Err(format!("an extension that was not offered: {value:?}"));
    }
    let mut seen = Vec::new();
    let mut accepted = Accepted::default();
    for param in parts {
        let (name, bits) = match param.split_once('=') {
            Some((name, bits)) => (name.trim(), Some(bits.trim().trim_matches('"'))),
            None => (param, None),
        };
        if seen.contains(&name) {
            return Err(format!("{name} twice (RFC 7692 §7): {value:?}"));
        }
        seen.push(name);
        match (name, bits) {
            ("server_no_context_takeover", None) => accepted.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => accepted.client_no_context_takeover = true,
            // The inflater keeps a 32 KiB window, enough for any of them.
            ("server_max_window_bits" | "client_max_window_bits", Some(bits))
                if bits.parse::<u8>().is_ok_and(|b| (8..=15).contains(&b)) =>
            {
                if name == "client_max_window_bits" {
                    accepted.client_max_window_bits = bits.parse().ok();
                }
            }
            _ => return Err(format!("bad permessage-deflate parameter {param:?}")),
        }
    }
    Ok(accepted)
}

/// One connection's inflater: with context takeover (§7.1.1.1), messages refer back to earlier ones,
/// so the window lives as long as the connection. It is made at the first compressed message, so a
/// connection that never gets one does not hold its 32 KiB.
pub struct Inflater {
    accepted: Accepted,
    state: Option<Box<InflateState>>,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Inflater {
    pub fn new(accepted: Accepted) -> Inflater {
        Inflater {
            accepted,
            state: None,
            input: Vec::new(),
            output: Vec::new(),
        }
    }

    /// Inflates one message's payload; more than `limit` bytes is an error, found before they are
    /// held.
    pub fn inflate(&mut self, payload: &[u8], limit: usize) -> Result<&[u8], String> {
        let state = self
            .state
            .get_or_insert_with(|| InflateState::new_boxed(DataFormat::Raw));
        if self.accepted.server_no_context_takeover {
            state.reset(DataFormat::Raw);
        }
        self.input.clear();
        self.input.extend_from_slice(payload);
        self.input.extend_from_slice(&TAIL);
        let out = &mut self.output;
        out.clear();
        let mut consumed = 0;
        loop {
            // One byte past the limit tells an over-long message from one exactly at it.
            let start = out.len();
            let room = (limit + 1 - start).min(payload.len().max(256) * 4);
            out.resize(start + room, 0);
            let result = inflate(
                state,
                &self.input[consumed..],
                &mut out[start..],
                MZFlush::None,
            );
            out.truncate(start + result.bytes_written);
            consumed += result.bytes_consumed;
            if out.len() > limit {
                return Err(format!("a compressed message inflating past {limit} bytes"));
            }
            let all_taken = consumed == self.input.len();
            match result.status {
                // A final block ends the stream: the tail we added is left over, and the next message
                // starts a new stream (§7.2.3.3 allows BFINAL; zlib's sync flush never sets it).
                Ok(MZStatus::StreamEnd) => {
                    state.reset(DataFormat::Raw);
                    return Ok(out);
                }
                Ok(_) if all_taken && result.bytes_written < room => return Ok(out),
                Ok(_) => {}
                // No progress with all input taken and the output not full: nothing was left.
                Err(MZError::Buf) if all_taken => return Ok(out),
                Err(e) => return Err(format!("inflating a compressed message: {e:?}")),
            }
        }
    }
}

/// The soak's compressor for what it sends (RFC 7692 §7.2.1): raw deflate, sync-flushed per message
/// with the `00 00 ff ff` tail taken off, keeping its window from message to message (context takeover,
/// which the offer allows by not asking for `client_no_context_takeover`).
pub struct Deflater {
    compressor: Box<CompressorOxide>,
    /// §7.1.1.2: the server asked for `client_no_context_takeover`.
    no_context_takeover: bool,
}

impl Deflater {
    pub fn new(accepted: Accepted) -> Deflater {
        // Level 1, raw (negative window bits), default strategy.
        let flags = create_comp_flags_from_zip_params(1, -15, 0);
        Deflater {
            compressor: Box::new(CompressorOxide::new(flags)),
            no_context_takeover: accepted.client_no_context_takeover,
        }
    }

    /// Appends `payload` compressed to `out`.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if self.no_context_takeover {
            self.compressor.reset();
        }
        let start = out.len();
        let mut taken = 0;
        loop {
            let at = out.len();
            out.resize(at + payload.len() / 2 + 64, 0);
            let (status, read, written) = compress(
                &mut self.compressor,
                &payload[taken..],
                &mut out[at..],
                TDEFLFlush::Sync,
            );
            out.truncate(at + written);
            taken += read;
            // Done once everything is taken and the flush did not fill the space it had.
            if status != TDEFLStatus::Okay
                || (taken == payload.len() && written < payload.len() / 2 + 64)
            {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_answers_servers_give() {
        let plain = Accepted::default();
        assert_eq!(check_response("permessage-deflate"), Ok(plain));
        assert_eq!(
            check_response("permessage-deflate; client_max_window_bits=15"),
            Ok(Accepted {
                client_max_window_bits: Some(15),
                ..plain
            })
        );
        assert_eq!(
            check_response(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=\"10\""
            ),
            Ok(Accepted {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..Accepted::default()
            })
        );
    }

    #[test]
    fn rejects_what_was_not_offered_or_is_malformed() {
        for bad in [
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; mystery",
        ] {
            assert!(check_response(bad).is_err(), "{bad}");
        }
    }

    /// Compresses messages as a server with context takeover does: one raw deflate stream, each message
    /// ended by a sync flush whose `00 00 ff ff` is dropped (RFC 7692 §7.2.1).
    fn compress_messages(messages: &[&[u8]]) -> Vec<Vec<u8>> {
        let flags = create_comp_flags_from_zip_params(6, -15, 0);
        let mut compressor = CompressorOxide::new(flags);
        messages
            .iter()
            .map(|message| {
                let mut out = vec![0; message.len() * 2 + 64];
                let (_, _, written) =
                    compress(&mut compressor, message, &mut out, TDEFLFlush::Sync);
                out.truncate(written);
                assert_eq!(out[written - 4..], TAIL);
                out.truncate(written - 4);
                out
            })
            .collect()
    }

    #[test]
    fn inflates_messages_that_refer_to_earlier_ones() {
        let first =
            b"fanout 0000000000000000 the quick brown fox jumps over the lazy dog".repeat(3);
        let second =
            b"fanout 0000000000000001 the quick brown fox jumps over the lazy dog".repeat(3);
        let compressed = compress_messages(&[&first, &second]);
        assert!(
            compressed[1].len() < second.len() / 4,
            "the second one refers back"
        );
        let mut inflater = Inflater::new(Accepted::default());
        assert_eq!(inflater.inflate(&compressed[0], 1000), Ok(&first[..]));
        assert_eq!(inflater.inflate(&compressed[1], 1000), Ok(&second[..]));
    }

    #[test]
    fn a_message_larger_than_the_limit_fails_before_it_is_held() {
        let big = vec![b'a'; 100_000];
        let compressed = compress_messages(&[&big]);
        let mut inflater = Inflater::new(Accepted {
            server_no_context_takeover: true,
            ..Accepted::default()
        });
        assert!(inflater.inflate(&compressed[0], 1000).is_err());
        assert!(
            inflater.output.capacity() < 2000,
            "held no more than the limit"
        );
        assert_eq!(
            inflater.inflate(&compressed[0], 100_000),
            Ok(&big[..]),
            "exactly at the limit"
        );
    }

    /// What the soak compresses inflates back, message after message, with and without context
    /// takeover (the server's `client_no_context_takeover` resets the window each time).
    #[test]
    fn the_deflater_round_trips_through_an_inflater() {
        for takeover in [true, false] {
            let accepted = Accepted {
                client_no_context_takeover: !takeover,
                server_no_context_takeover: !takeover,
                ..Accepted::default()
            };
            let mut deflater = Deflater::new(accepted);
            let mut inflater = Inflater::new(accepted);
            for n in 0..5 {
                let message: Vec<u8> = format!("message {n}: ").repeat(200 + n * 300).into_bytes();
                let mut wire = Vec::new();
                deflater.compress(&message, &mut wire);
                assert!(!wire.ends_with(&TAIL), "the tail is taken off (§7.2.1)");
                assert!(wire.len() < message.len() / 4);
                assert_eq!(inflater.inflate(&wire, 1 << 20).unwrap(), &message[..]);
            }
        }
    }
}
