//! The fast path (`fast.rs`) held equal to its plain twin, the general path: arbitrary frames, valid
//! and not, split at arbitrary points and fed through `read_buffer`/`commit`, through `receive`, or
//! alternating, give the same events, the same error and the same output with the fast path on and off.

use proptest::prelude::*;

use crate::handshake::Extensions;
use crate::mask::apply_mask_reference;
use crate::{Config, Connection, Event, Role};

/// A piece of the stream the peer sends.
#[derive(Debug, Clone)]
enum Piece {
    /// A frame written by hand: its first byte, whether it is masked as its role requires, how its
    /// length is written, its payload and key.
    Frame {
        b0: u8,
        right_mask: bool,
        form: u8,
        payload: Vec<u8>,
        key: [u8; 4],
    },
    /// A text message as a peer sends it (compressed when the extension is in force).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    Sent(String),
    Garbage(Vec<u8>),
}

fn first_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => Just(0x82u8),
        4 => Just(0x81u8),
        // Fragments, control frames, RSV1 (compressed), any opcode.
        4 => (any::<bool>(), prop::sample::select(vec![0u8, 1, 2, 8, 9, 10]))
            .prop_map(|(fin, op)| (u8::from(fin) << 7) | op),
        1 => Just(0xc1u8),
        1 => any::<u8>(),
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => proptest::collection::vec(any::<u8>(), 100..300),
        3 => "\\PC{0,30}".prop_map(String::into_bytes),
        // Text with an invalid byte somewhere.
        1 => ("\\PC{0,20}", any::<prop::sample::Index>(), 0x80u8..=0xff).prop_map(|(s, at, bad)| {
            let mut bytes = s.into_bytes();
            bytes.insert(at.index(bytes.len() + 1), bad);
            bytes
        }),
        // A close payload: a code, valid or not, and a reason.
        1 => (any::<u16>(), "\\PC{0,10}").prop_map(|(code, reason)| {
            let mut bytes = code.to_be_bytes().to_vec();
            bytes.extend_from_slice(reason.as_bytes());
            bytes
        }),
    ]
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        12 => (first_byte(), prop::bool::weighted(0.9), prop::sample::select(vec![0u8, 0, 0, 0, 1, 2, 3, 4]), payload(), any::<[u8; 4]>())
            .prop_map(|(b0, right_mask, form, payload, key)| Piece::Frame { b0, right_mask, form, payload, key }),
        2 => "\\PC{0,40}".prop_map(Piece::Sent),
        1 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(Piece::Garbage),
    ]
}

/// The bytes of the stream a `role` connection receives.
fn render(role: Role, pieces: &[Piece], peer: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Frame {
                b0,
                right_mask,
                form,
                payload,
                key,
            } => {
                let masked = (role == Role::Server) == *right_mask;
                out.push(*b0);
                let mask_bit = if masked { 0x80 } else { 0 };
                let len = payload.len() as u64;
                match form {
                    // The shortest form, as RFC 6455 §5.2 requires (parsers accept the others too).
                    0 if len < 126 => out.push(mask_bit | len as u8),
                    0 | 1 if len <= 0xffff => {
                        out.push(mask_bit | 126);
                        out.extend_from_slice(&(len as u16).to_be_bytes());
                    }
                    0..=2 => {
                        out.push(mask_bit | 127);
                        out.extend_from_slice(&len.to_be_bytes());
                    }
                    // A 64-bit length with its top bit set.
                    3 => {
                        out.push(mask_bit | 127);
                        out.extend_from_slice(&(len | 1 << 63).to_be_bytes());
                    }
                    // A length that claims more than follows: the next pieces become this payload.
                    _ => out.push(mask_bit | (len + 7).min(125) as u8),
                }
                if masked {
                    out.extend_from_slice(key);
                }
                let start = out.len();
                out.extend_from_slice(payload);
                if masked {
                    apply_mask_reference(&mut out[start..], *key, 0);
                }
            }
            Piece::Sent(text) => {
                let _ = peer.sender().send_text(text);
                out.extend_from_slice(peer.pending_output());
                let n = peer.pending_output().len();
                peer.consume_output(n);
            }
            Piece::Garbage(bytes) => out.extend_from_slice(bytes),
        }
    }
    out
}

/// An event or error, owned and exact, so runs can be compared.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Error(String),
}

/// How the bytes go in.
#[derive(Debug, Clone, Copy)]
enum Way {
    ReadBuffer,
    Receive,
    Alternate,
}

fn drain(conn: &mut Connection, seen: &mut Vec<Seen>) {
    loop {
        match conn.next_event() {
            Ok(Some((event, _))) => seen.push(match event {
                Event::Text(t) => Seen::Text(t.to_owned()),
                Event::Binary(b) => Seen::Binary(b.to_vec()),
                Event::Ping(p) => Seen::Ping(p.to_vec()),
                Event::Pong(p) => Seen::Pong(p.to_vec()),
                Event::Close(c) => Seen::Close(c.map(|c| (c.code.as_u16(), c.reason.to_owned()))),
            }),
            Ok(None) => return,
            Err(e) => {
                seen.push(Seen::Error(format!("{e:?}")));
                return;
            }
        }
    }
}

/// Feeds `stream` cut at `cuts` to a fresh connection and returns what came out and what it queued.
fn run(
    role: Role,
    config: &Config,
    extensions: &Extensions,
    stream: &[u8],
    cuts: &[usize],
    way: Way,
    fast: bool,
) -> (Vec<Seen>, Vec<u8>) {
    // A fresh stream counter, so a client draws the same masks in every run.
    let config = Config {
        streams: Default::default(),
        ..config.clone()
    };
    let mut conn = Connection::with_extensions(role, &config, extensions);
    conn.set_fast_path(fast);
    let mut seen = Vec::new();
    let mut start = 0;
    for (i, &cut) in cuts.iter().chain([&stream.len()]).enumerate() {
        let mut piece = &stream[start..cut.max(start)];
        start = cut.max(start);
        let read = match way {
            Way::ReadBuffer => true,
            Way::Receive => false,
            Way::Alternate => i % 2 == 0,
        };
        if read {
            // A read takes at most the room offered, as a socket read would.
            while !piece.is_empty() {
                let room = conn.read_buffer();
                let n = room.len().min(piece.len());
                room[..n].copy_from_slice(&piece[..n]);
                conn.commit(n);
                piece = &piece[n..];
                drain(&mut conn, &mut seen);
            }
        } else {
            conn.receive(piece);
        }
        drain(&mut conn, &mut seen);
    }
    (seen, conn.pending_output().to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn fast_path_equals_general_path(
        server in any::<bool>(),
        limits in prop::sample::select(vec![(1usize << 20, 1usize << 20), (100, 1 << 20), (1 << 20, 150), (20, 30)]),
        compression in any::<bool>(),
        pieces in proptest::collection::vec(piece(), 0..12),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let peer_role = if server { Role::Client } else { Role::Server };
        let mut config = Config::default().rng_seed(Some(7));
        config.max_frame_size = limits.0;
        config.max_message_size = limits.1;
        #[allow(unused_mut)]
        let mut extensions = Extensions::default();
        #[cfg(feature = "deflate")]
        if compression {
            extensions.deflate = Some(Default::default());
            config = config.deflate(crate::deflate::Deflate::default().threshold(0));
        }
        let _ = compression;
        let mut peer = Connection::with_extensions(peer_role, &config, &extensions);
        let stream = render(role, &pieces, &mut peer);
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        for way in [Way::ReadBuffer, Way::Receive, Way::Alternate] {
            let general = run(role, &config, &extensions, &stream, &cuts, way, false);
            let fast = run(role, &config, &extensions, &stream, &cuts, way, true);
            prop_assert_eq!(&fast, &general, "{:?}", way);
        }
    }
}
