//! Compressing and inflating the frames of one message (RFC 7692 §7.2), with zlib through flate2.
//!
//! Both sides make their zlib state on first use and can give it back while the connection is idle:
//! our compressor at any time (the peer's window does not need ours: new data that refers to nothing
//! older is still valid), the peer's only when it compresses each message on its own.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::Error;

/// What a sync flush ends with; taken off the end of each compressed message and put back before
/// inflating it (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output room made at a time, at least: about one socket read's worth.
const STEP: usize = 16 << 10;

/// Our side's compressor.
pub(crate) struct Compressor {
    state: Option<Box<Compress>>,
    window_bits: u8,
    level: u32,
    /// We agreed to compress each message on its own (our `*_no_context_takeover`).
    no_context_takeover: bool,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("active", &self.state.is_some())
            .field("window_bits", &self.window_bits)
            .field("level", &self.level)
            .field("no_context_takeover", &self.no_context_takeover)
            .finish()
    }
}

impl Compressor {
    /// `None` for a window zlib cannot keep to: raw deflate starts at 9 bits, and compressing with a
    /// larger window than the peer allowed could refer back further than it keeps (RFC 7692
    /// §7.1.2.1 allows 8). Then every message goes uncompressed, which is always allowed (§6).
    pub(crate) fn new(window_bits: u8, level: u8, no_context_takeover: bool) -> Option<Compressor> {
        (9..=15).contains(&window_bits).then_some(Compressor {
            state: None,
            window_bits,
            level: u32::from(level.min(9)),
            no_context_takeover,
        })
    }

    /// Appends the compressed form of `input`, one frame's part of a message, to `out`; `fin`: the
    /// message ends with it, so the flush's tail comes off (§7.2.1). Each part is flushed, so that it
    /// can go out at once.
    pub(crate) fn compress(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let (level, window_bits) = (self.level, self.window_bits);
        let state = self.state.get_or_insert_with(|| {
            Box::new(Compress::new_with_window_bits(
                Compression::new(level),
                false,
                window_bits,
            ))
        });
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(STEP.max((input.len() - consumed) / 2 + 64));
            }
            let before = state.total_in();
            state
                .compress_vec(&input[consumed..], out, FlushCompress::Sync)
                .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            consumed += (state.total_in() - before) as usize;
            // zlib: the flush is complete once a call leaves output room unused.
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if fin {
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            if self.no_context_takeover {
                state.reset();
            }
        }
        Ok(())
    }

    /// The window size and level it compresses with.
    pub(crate) fn params(&self) -> (u8, u8) {
        (self.window_bits, self.level as u8)
    }

    /// Forgets what the compressor has seen: after a message it compressed went out uncompressed,
    /// the peer's window lacks that data, so nothing may refer back to it.
    pub(crate) fn reset(&mut self) {
        if let Some(state) = &mut self.state {
            state.reset();
        }
    }

    /// Gives the zlib state back; the next message makes a new one and refers to nothing before it.
    pub(crate) fn release(&mut self) {
        self.state = None;
    }

    /// zlib's state, when made, as measured with zlib-rs through flate2 (`tests/deflate.rs`): the
    /// window and its chain links grow with the window (4 bytes per position), the hash table and the
    /// pending buffers do not (zlib's memory level 8, which flate2 uses).
    pub(crate) fn heap_size(&self) -> usize {
        match self.state {
            Some(_) => (4 << self.window_bits) + (243 << 10),
            None => 0,
        }
    }
}

/// The peer's side: inflates its compressed messages.
pub(crate) struct Decompressor {
    state: Option<Box<Decompress>>,
    /// The peer compresses each message on its own, so we can start afresh after each.
    peer_no_context_takeover: bool,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("active", &self.state.is_some())
            .field("peer_no_context_takeover", &self.peer_no_context_takeover)
            .finish()
    }
}

impl Decompressor {
    pub(crate) fn new(peer_no_context_takeover: bool) -> Decompressor {
        Decompressor {
            state: None,
            peer_no_context_takeover,
        }
    }

    /// Inflates one frame's part of a compressed message onto `out`, which never grows past `max`
    /// bytes of message (a small frame that would inflate to gigabytes fails with 1009 before the
    /// memory is taken). `check` sees each new piece of output as it is produced, so text is validated
    /// as it inflates. `fin`: the message ends here; its tail is put back (§7.2.2).
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        max: usize,
        check: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let state = self
            .state
            // Inflating with the largest window is always safe, whatever the peer compresses with.
            .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, 15)));
        let mut ended = feed(state, input, out, max, check)?;
        if fin {
            if !ended {
                ended = feed(state, &TAIL, out, max, check)?;
            }
            // A stream the peer ended (BFINAL) starts anew with its next message.
            if ended || self.peer_no_context_takeover {
                state.reset(false);
            }
        } else if ended {
            // More of the message follows a stream that has ended: nothing can inflate it.
            return Err(Error::InvalidCompressedData);
        }
        Ok(())
    }

    /// Gives the zlib state back between messages, when the peer's next message cannot refer to this
    /// one's data.
    pub(crate) fn release(&mut self) {
        if self.peer_no_context_takeover {
            self.state = None;
        }
    }

    /// zlib's inflate state with its 32 KiB window, when made (measured: `tests/deflate.rs`).
    pub(crate) fn heap_size(&self) -> usize {
        match self.state {
            Some(_) => 47 << 10,
            None => 0,
        }
    }
}

/// Inflates all of `input` onto `out` within `max`; returns whether the deflate stream ended.
fn feed(
    state: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    max: usize,
    check: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
) -> Result<bool, Error> {
    let mut consumed = 0;
    loop {
        if out.len() == out.capacity() {
            // One byte past the limit is room enough to learn that the message is too large.
            let room = (max + 1).saturating_sub(out.len()).min(STEP.max(out.len()));
            if room == 0 {
                return Err(too_large(out.len(), max));
            }
            out.reserve_exact(room);
        }
        let (before_in, before_out) = (state.total_in(), out.len());
        let status = state
            .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
            .map_err(|_| Error::InvalidCompressedData)?;
        consumed += (state.total_in() - before_in) as usize;
        check(&out[before_out..])?;
        if out.len() > max {
            return Err(too_large(out.len(), max));
        }
        if status == Status::StreamEnd {
            return if consumed == input.len() {
                Ok(true)
            } else {
                Err(Error::InvalidCompressedData)
            };
        }
        // Done once the input is in and inflate left output room unused.
        if consumed == input.len() && out.len() < out.capacity() {
            return Ok(false);
        }
        // Room was made, yet inflate neither took input nor made output: the data cannot go on.
        if state.total_in() == before_in && out.len() == before_out {
            return Err(Error::InvalidCompressedData);
        }
    }
}

fn too_large(len: usize, max: usize) -> Error {
    Error::MessageTooLarge {
        len: len as u64,
        max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress_all(compressor: &mut Compressor, parts: &[&[u8]]) -> Vec<Vec<u8>> {
        parts
            .iter()
            .enumerate()
            .map(|(n, part)| {
                let mut out = Vec::new();
                compressor
                    .compress(part, n + 1 == parts.len(), &mut out)
                    .unwrap();
                out
            })
            .collect()
    }

    fn inflate_all(
        decompressor: &mut Decompressor,
        parts: &[Vec<u8>],
        max: usize,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for (n, part) in parts.iter().enumerate() {
            decompressor.inflate(part, n + 1 == parts.len(), &mut out, max, &mut |_| Ok(()))?;
        }
        Ok(out)
    }

    #[test]
    fn the_rfc_examples_inflate() {
        // RFC 7692 §7.2.3.1: "Hello" compressed; §7.2.3.2 the same again with context takeover.
        let mut d = Decompressor::new(false);
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(
            inflate_all(&mut d, &[hello.to_vec()], 100).unwrap(),
            b"Hello"
        );
        let again = [0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(
            inflate_all(&mut d, &[again.to_vec()], 100).unwrap(),
            b"Hello"
        );
        // §7.2.3.3: a stored (uncompressed) block; §7.2.3.4 the message in two frames.
        let mut d = Decompressor::new(false);
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(
            inflate_all(&mut d, &[stored.to_vec()], 100).unwrap(),
            b"Hello"
        );
        let split = [vec![0xf2, 0x48, 0xcd], vec![0xc9, 0xc9, 0x07, 0x00]];
        assert_eq!(
            inflate_all(&mut Decompressor::new(false), &split, 100).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn an_empty_message_compresses_to_one_zero_byte() {
        // RFC 7692 §7.2.3.6.
        let mut c = Compressor::new(15, 6, false).unwrap();
        assert_eq!(compress_all(&mut c, &[b""]), [vec![0x00]]);
    }

    #[test]
    fn messages_round_trip_with_and_without_context_takeover_in_parts() {
        for no_context_takeover in [false, true] {
            for window_bits in [9, 12, 15] {
                let mut c = Compressor::new(window_bits, 6, no_context_takeover).unwrap();
                let mut d = Decompressor::new(no_context_takeover);
                for round in 0..5u8 {
                    // A short period: zlib's 9-bit window reaches back only 250 bytes (it keeps 262
                    // bytes of lookahead).
                    let message: Vec<u8> = (0..70_000u32).map(|i| (i % 20) as u8 ^ round).collect();
                    let parts: Vec<&[u8]> = message.chunks(20_000).collect();
                    let compressed = compress_all(&mut c, &parts);
                    let size: usize = compressed.iter().map(Vec::len).sum();
                    assert!(
                        size < message.len() / 4,
                        "{window_bits} {no_context_takeover} {round}: {size}"
                    );
                    assert_eq!(inflate_all(&mut d, &compressed, 1 << 20).unwrap(), message);
                    if no_context_takeover {
                        // Each message inflates on its own, by a fresh inflater.
                        let alone = inflate_all(&mut Decompressor::new(true), &compressed, 1 << 20);
                        assert_eq!(alone.unwrap(), message);
                    }
                }
            }
        }
    }

    #[test]
    fn context_takeover_makes_a_repeated_message_smaller() {
        let message = br#"{"type":"chat","user":"ada","text":"hello there, how are you?"}"#;
        let mut keep = Compressor::new(15, 6, false).unwrap();
        let mut reset = Compressor::new(15, 6, true).unwrap();
        compress_all(&mut keep, &[message]);
        compress_all(&mut reset, &[message]);
        let kept = compress_all(&mut keep, &[message])[0].len();
        let alone = compress_all(&mut reset, &[message])[0].len();
        assert!(kept < alone / 2, "{kept} vs {alone}");
    }

    #[test]
    fn a_released_compressor_still_makes_data_the_peer_inflates() {
        let mut c = Compressor::new(15, 6, false).unwrap();
        let mut d = Decompressor::new(false);
        for n in 0..3 {
            let message = format!("message {n} message {n} message {n}");
            let parts = compress_all(&mut c, &[message.as_bytes()]);
            assert_eq!(
                inflate_all(&mut d, &parts, 100).unwrap(),
                message.as_bytes()
            );
            c.release();
            assert_eq!(c.heap_size(), 0);
        }
    }

    #[test]
    fn a_window_of_8_bits_is_not_compressed() {
        assert!(Compressor::new(8, 6, false).is_none());
        assert!(Compressor::new(9, 6, false).is_some());
    }

    #[test]
    fn a_bomb_fails_at_the_limit_without_taking_more_memory() {
        // 16 MiB of zeros compress to ~16 KiB; the limit is 1 MiB.
        let mut c = Compressor::new(15, 9, false).unwrap();
        let zeros = vec![0u8; 16 << 20];
        let bomb = compress_all(&mut c, &[&zeros]);
        assert!(bomb[0].len() < 64 << 10);
        let mut out = Vec::new();
        let error = Decompressor::new(false)
            .inflate(&bomb[0], true, &mut out, 1 << 20, &mut |_| Ok(()))
            .unwrap_err();
        assert!(matches!(error, Error::MessageTooLarge { max, .. } if max == 1 << 20));
        assert!(out.capacity() <= (1 << 20) + 1, "{}", out.capacity());
    }

    #[test]
    fn invalid_data_fails_with_1007_and_never_loops() {
        for garbage in [
            &[0xff; 10][..],
            &[0x07, 0xff, 0xff],
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x01, 0x00],
        ] {
            let result = inflate_all(&mut Decompressor::new(false), &[garbage.to_vec()], 1000);
            if let Err(e) = result {
                assert_eq!(
                    e.close_code(),
                    Some(crate::CloseCode::INVALID_PAYLOAD),
                    "{garbage:?}"
                );
            }
        }
        // A final block, then more of the message: invalid.
        let ended = [0x03, 0x00];
        let result = inflate_all(
            &mut Decompressor::new(false),
            &[ended.to_vec(), vec![0xf2]],
            1000,
        );
        assert!(matches!(result, Err(Error::InvalidCompressedData)));
    }

    #[test]
    fn a_stream_the_peer_ended_starts_anew_with_the_next_message() {
        // "Hello" with BFINAL set, as a sender that finishes the stream per message would send it.
        let mut c = Compress::new(Compression::default(), false);
        let mut hello = Vec::with_capacity(64);
        c.compress_vec(b"Hello", &mut hello, FlushCompress::Finish)
            .unwrap();
        let mut d = Decompressor::new(false);
        for _ in 0..2 {
            assert_eq!(
                inflate_all(&mut d, &[hello.clone()], 100).unwrap(),
                b"Hello"
            );
        }
    }

    #[test]
    fn check_sees_every_byte_of_output_in_order() {
        let message: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        let mut c = Compressor::new(15, 6, false).unwrap();
        let parts = compress_all(&mut c, &[&message]);
        let mut seen = Vec::new();
        let mut out = Vec::new();
        Decompressor::new(false)
            .inflate(&parts[0], true, &mut out, 1 << 20, &mut |piece| {
                seen.extend_from_slice(piece);
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, message);
    }
}
