//! What a soak connection sends: messages of mixed sizes (0 B to `max`), text or binary, whose bytes
//! follow from (slot, life, sequence number) alone, so the checker regenerates what it expects instead
//! of keeping a copy of every message in flight. A message of [`HEADER`] bytes or more starts with its
//! sequence number and a checksum of the rest (hex, so text stays ASCII there), which names the message
//! an echo carries when it is not the one expected: lost, duplicated or corrupted.

use std::fmt::Write as _;

use crate::next;

/// `SSSSSSSSSSSSSSSS:CCCCCCCCCCCCCCCC|`: sequence number, FNV-1a of the body, both hex.
pub const HEADER: usize = 34;

/// Words the bodies are made of, so permessage-deflate has something to do; the multi-byte ones put
/// 2-, 3- and 4-byte UTF-8 characters into text messages.
const WORDS: &[&str] = &[
    "frame ",
    "mask ",
    "close ",
    "ping ",
    "pong ",
    "deflate ",
    "window ",
    "échange ",
    "€uro ",
    "naïve ",
    "日本語 ",
    "🦀crab ",
    "ok ",
    "payload ",
    "message ",
    "Ünïcödé ",
];

/// Identifies one message: what it is, not its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub slot: u32,
    pub life: u32,
    pub seq: u64,
    pub len: usize,
    pub text: bool,
}

/// Picks a size: a tenth empty, most small, a few large, rare ones up to `max`.
pub fn pick_len(rng: &mut u64, max: usize) -> usize {
    let roll = next(rng) % 1000;
    let range = match roll {
        0..=99 => return 0,
        100..=699 => (1, 256),
        700..=949 => (256, 16 << 10),
        950..=994 => (16 << 10, 256 << 10),
        _ => (256 << 10, max + 1),
    };
    let (lo, hi) = (range.0.min(max), range.1.min(max + 1));
    if hi <= lo {
        return lo;
    }
    lo + (next(rng) as usize) % (hi - lo)
}

/// Writes the message `spec` names into `out` (cleared first).
pub fn fill(out: &mut Vec<u8>, spec: Spec) {
    out.clear();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64
        ^ (spec.slot as u64) << 40
        ^ (spec.life as u64) << 24
        ^ spec.seq.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let body_len = match spec.len >= HEADER {
        true => spec.len - HEADER,
        false => spec.len,
    };
    let start = out.len();
    while out.len() - start < body_len {
        let room = body_len - (out.len() - start);
        let pick = next(&mut rng);
        let word = WORDS[(pick % WORDS.len() as u64) as usize].as_bytes();
        if pick >> 60 < 11 && word.len() <= room {
            out.extend_from_slice(word);
        } else if spec.text {
            // One ASCII letter: always fits, never splits a character.
            out.push(b'a' + (pick >> 32) as u8 % 26);
        } else {
            out.push((pick >> 32) as u8);
        }
    }
    if spec.len >= HEADER {
        let mut header = String::with_capacity(HEADER);
        let _ = write!(header, "{:016x}:{:016x}|", spec.seq, fnv1a(out));
        out.splice(0..0, header.into_bytes());
    }
}

/// What an echo's header says about it, if it has one: its sequence number, and whether the body
/// matches the checksum.
pub fn read_header(payload: &[u8]) -> Option<(u64, bool)> {
    if payload.len() < HEADER || payload[16] != b':' || payload[HEADER - 1] != b'|' {
        return None;
    }
    let hex = |bytes: &[u8]| u64::from_str_radix(std::str::from_utf8(bytes).ok()?, 16).ok();
    let seq = hex(&payload[..16])?;
    let sum = hex(&payload[17..33])?;
    Some((seq, sum == fnv1a(&payload[HEADER..])))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |hash, &b| {
        (hash ^ b as u64).wrapping_mul(0x0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seq: u64, len: usize, text: bool) -> Spec {
        Spec {
            slot: 7,
            life: 2,
            seq,
            len,
            text,
        }
    }

    #[test]
    fn a_message_has_its_length_and_is_the_same_each_time() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for len in [0, 1, 33, 34, 35, 100, 4096, 70_000] {
            for text in [false, true] {
                fill(&mut a, spec(5, len, text));
                fill(&mut b, spec(5, len, text));
                assert_eq!(a.len(), len);
                assert_eq!(a, b);
                if text {
                    assert!(std::str::from_utf8(&a).is_ok(), "text of {len} is UTF-8");
                }
            }
        }
        fill(&mut b, spec(6, 4096, false));
        assert_ne!(
            a[..HEADER],
            b[..HEADER],
            "another sequence number, other bytes"
        );
    }

    #[test]
    fn the_header_names_the_message_and_catches_a_flipped_byte() {
        let mut m = Vec::new();
        fill(&mut m, spec(41, 500, true));
        assert_eq!(read_header(&m), Some((41, true)));
        m[300] ^= 1;
        assert_eq!(read_header(&m), Some((41, false)));
        assert_eq!(read_header(&m[..10]), None);
    }

    #[test]
    fn sizes_cover_empty_to_max() {
        let mut rng = 1;
        let lens: Vec<usize> = (0..20_000).map(|_| pick_len(&mut rng, 1 << 20)).collect();
        assert!(lens.contains(&0));
        assert!(lens.iter().all(|&l| l <= 1 << 20));
        assert!(lens.iter().any(|&l| l > 256 << 10));
        assert!(lens.iter().filter(|&&l| l < 256).count() > 10_000);
    }
}
