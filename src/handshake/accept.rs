//! `Sec-WebSocket-Accept`, RFC 6455 §4.2.2 step 5.4: base64(SHA-1(key + GUID)).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

/// The GUID every WebSocket server appends to the client's key (RFC 6455 §1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value answering a `Sec-WebSocket-Key`.
///
/// ```
/// // RFC 6455 §1.3's example.
/// assert_eq!(wscore::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.finalize())
}

/// Whether a `Sec-WebSocket-Key` is base64 of exactly 16 bytes (RFC 6455 §4.1 step 7, §4.2.1 item 5).
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes encode to 24 characters; decoding into a 16-byte buffer refuses anything longer.
    let mut decoded = [0u8; 18];
    key.len() == 24 && matches!(STANDARD.decode_slice(key, &mut decoded), Ok(16))
}

/// A fresh random key.
pub(crate) fn generate_key(rng: &mut impl rand::RngCore) -> String {
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    STANDARD.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn validates_key_length_and_encoding() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ"), "missing padding");
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ==="));
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAAAAAAA="), "20 bytes");
        assert!(!is_valid_key(b"!!!!!!!!!!!!!!!!!!!!!!=="));
        assert!(!is_valid_key(b""));
    }

    #[test]
    fn generated_keys_are_valid_and_fresh() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let a = generate_key(&mut rng);
        let b = generate_key(&mut rng);
        assert!(is_valid_key(a.as_bytes()));
        assert_ne!(a, b);
    }

    use rand::SeedableRng;
}
