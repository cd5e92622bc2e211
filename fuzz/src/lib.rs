//! What the fuzz targets share: feeding a connection arbitrary bytes in arbitrary pieces and checking
//! everything it writes back.

use wscore::deflate::DeflateParams;
use wscore::handshake::Extensions;
use wscore::{CloseCode, Config, Connection, Event, Role};

/// Small limits, so that "memory stays within the limits" is checked often.
pub fn fuzz_config(seed: u64) -> Config {
    Config::default().max_frame_size(1 << 16).max_message_size(1 << 18).max_write_buffer(1 << 16).rng_seed(Some(seed))
}

/// A connection may hold: a partial frame, a partial message, the output it keeps between writes, and
/// the bytes of one `receive` call.
fn heap_bound(config: &Config, chunk: usize) -> usize {
    config.max_frame_size + config.max_message_size + 3 * (64 << 10) + chunk
}

/// permessage-deflate on top: zlib's compressor and inflater, and the compressed copy of the largest
/// message echoed.
fn deflate_bound(config: &Config) -> usize {
    (512 << 10) + config.max_message_size
}

pub fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// Cuts `data` into pieces whose sizes the fuzzer chooses through `seed`.
pub fn pieces(data: &[u8], mut seed: u64) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let size = match seed >> 62 {
            0 => 1,
            1 => 1 + (seed >> 32) as usize % 16,
            2 => 1 + (seed >> 32) as usize % 512,
            _ => rest.len(),
        };
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

/// Checks what a connection wrote: a peer with generous limits must read it without any error.
pub struct OutputChecker {
    peer: Connection,
    /// The code of the last close frame the peer saw; `Some(None)` for a close without a code.
    pub close_seen: Option<Option<CloseCode>>,
}

impl OutputChecker {
    pub fn new(role_of_writer: Role, extensions: &Extensions) -> OutputChecker {
        let config = fuzz_config(99).max_frame_size(1 << 22).max_message_size(1 << 22);
        let peer = Connection::with_extensions(peer(role_of_writer), &config, extensions);
        OutputChecker { peer, close_seen: None }
    }

    pub fn check(&mut self, bytes: &[u8]) {
        self.peer.receive(bytes);
        loop {
            match self.peer.next_event() {
                Ok(Some((Event::Close(frame), _))) => self.close_seen = Some(frame.map(|f| f.code)),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("the connection wrote a malformed frame: {e}"),
            }
        }
    }
}

/// Feeds `data` (8 bytes of split seed, then the stream) to a connection in `role`, echoing what it
/// receives, and checks every rule a fuzzer can reach: no panic, at most one error and no event after
/// it, heap within the limits, output always well-formed frames, a close frame with the error's code,
/// and nothing written after a close.
pub fn fuzz_frames(role: Role, data: &[u8]) {
    fuzz_frames_with(role, data, &Extensions::default());
}

/// Like [`fuzz_frames`], with permessage-deflate negotiated: 2 bytes choose the parameters (context
/// takeover each way, both windows), then as `fuzz_frames`. The connection echoes compressed, the
/// checker inflates what it wrote, and a frame that inflates past the limit must fail with 1009, never
/// take the memory.
pub fn fuzz_deflate(role: Role, data: &[u8]) {
    let [flags, windows, rest @ ..] = data else { return };
    let mut params = DeflateParams::default();
    params.server_no_context_takeover = flags & 1 != 0;
    params.client_no_context_takeover = flags & 2 != 0;
    params.server_max_window_bits = 8 + (windows & 0x0f) % 8;
    params.client_max_window_bits = 8 + (windows >> 4) % 8;
    let mut extensions = Extensions::default();
    extensions.deflate = Some(params);
    fuzz_frames_with(role, rest, &extensions);
}

fn fuzz_frames_with(role: Role, data: &[u8], extensions: &Extensions) {
    let (seed, stream) = match data {
        [a, b, c, d, e, f, g, h, rest @ ..] => (u64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]), rest),
        _ => return,
    };
    let config = fuzz_config(seed);
    let mut conn = Connection::with_extensions(role, &config, extensions);
    let mut checker = OutputChecker::new(role, extensions);
    let extra = if extensions.deflate.is_some() { deflate_bound(&config) } else { 0 };
    let mut error_code: Option<Option<CloseCode>> = None;
    for (i, piece) in pieces(stream, seed).into_iter().enumerate() {
        let closed_before = conn.sender().close_sent();
        match i % 3 {
            0 => conn.receive(piece),
            1 => {
                // The other way in: straight into the connection's buffer, as much as it offers.
                let mut rest = piece;
                while !rest.is_empty() {
                    let room = conn.read_buffer();
                    let n = room.len().min(rest.len());
                    room[..n].copy_from_slice(&rest[..n]);
                    conn.commit(n);
                    rest = &rest[n..];
                }
            }
            _ => {
                // The event loop's way: the connection picks its buffer or the scratch one.
                let mut rest = piece;
                let mut scratch = [0u8; 4096];
                while !rest.is_empty() {
                    let n = conn
                        .receive_with(&mut scratch, |buf| {
                            let n = buf.len().min(rest.len());
                            buf[..n].copy_from_slice(&rest[..n]);
                            Ok::<_, ()>(n)
                        })
                        .unwrap();
                    rest = &rest[n..];
                }
            }
        }
        loop {
            match conn.next_event() {
                Ok(Some((event, sender))) => {
                    assert!(error_code.is_none(), "an event after an error");
                    match event {
                        Event::Text(text) => {
                            let _ = sender.send_text(text);
                        }
                        Event::Binary(data) => {
                            let _ = sender.send_binary(data);
                        }
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(error_code.is_none(), "a second error: {e}");
                    let code = e.close_code().unwrap_or_else(|| panic!("a peer error without a close code: {e}"));
                    error_code = Some(Some(code));
                }
            }
        }
        let out = conn.pending_output().to_vec();
        assert!(!closed_before || out.is_empty(), "wrote {} bytes after its close frame", out.len());
        checker.check(&out);
        conn.consume_output(out.len());
        let heap = conn.heap_size();
        assert!(heap <= heap_bound(&config, piece.len()) + extra, "holds {heap} bytes");
    }
    if let Some(code) = error_code {
        assert_eq!(checker.close_seen, Some(code), "the close frame must carry the error's code");
    }
}
