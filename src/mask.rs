//! Payload masking, RFC 6455 §5.3.
//!
//! Masking is a XOR with a repeating 4-byte key. The fast paths work on 8-byte words that the compiler
//! turns into vector instructions without `unsafe`; [`apply_mask_reference`] is the byte-at-a-time twin
//! that tests and the `mask` fuzz target hold them equal to.

/// XORs `data` with `key`, where `data[0]` is byte number `offset` of the frame's payload, so a payload
/// can be unmasked in pieces as it arrives. Applying it twice restores the input (RFC 6455 §5.3).
///
/// ```
/// let mut data = *b"Hello";
/// wscore::mask::apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    let word = key_word(key);
    let mut words = data.chunks_exact_mut(8);
    for chunk in &mut words {
        let masked = load(chunk) ^ word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    // Words are 8 bytes, a multiple of 4, so the tail starts at key position 0 again.
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// Writes `src` masked with `key` into `dst` (the same length), in one pass: what a client does when it
/// copies a payload into its output. `src[0]` is byte number `offset` of the payload.
///
/// ```
/// let mut out = [0u8; 5];
/// wscore::mask::mask_copy(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    let len = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..len], &src[..len]);
    let key = rotate(key, offset);
    let word = key_word(key);
    let mut dst_words = dst.chunks_exact_mut(8);
    let mut src_words = src.chunks_exact(8);
    for (d, s) in (&mut dst_words).zip(&mut src_words) {
        d.copy_from_slice(&(load(s) ^ word).to_ne_bytes());
    }
    let tail = dst_words
        .into_remainder()
        .iter_mut()
        .zip(src_words.remainder());
    for ((d, s), k) in tail.zip(key.iter().cycle()) {
        *d = s ^ k;
    }
}

/// The plain definition from RFC 6455 §5.3: `data[i] ^= key[(offset + i) % 4]`.
pub fn apply_mask_reference(data: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in data.iter_mut().enumerate() {
        // 2^64 is a multiple of 4, so wrapping keeps the position modulo 4 right for any offset.
        *byte ^= key[offset.wrapping_add(i) % 4];
    }
}

/// The key as seen from payload position `offset`.
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    // Rotating the bytes left is rotating the big-endian word left, whatever the machine's order.
    u32::from_be_bytes(key)
        .rotate_left(8 * (offset % 4) as u32)
        .to_be_bytes()
}

/// The key repeated over a word, in memory order.
fn key_word(key: [u8; 4]) -> u64 {
    let [a, b, c, d] = key;
    u64::from_ne_bytes([a, b, c, d, a, b, c, d])
}

/// An 8-byte chunk as a word; `chunks_exact(8)` guarantees the length.
fn load(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(chunk);
    u64::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_the_rfc_example() {
        // RFC 6455 §5.7: a masked "Hello".
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [1, 2, 3, 4];
        let mut whole: Vec<u8> = (0..100).collect();
        let mut pieces = whole.clone();
        apply_mask(&mut whole, key, 0);
        let (a, b) = pieces.split_at_mut(37);
        apply_mask(a, key, 0);
        apply_mask(b, key, 37);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn any_offset_is_accepted() {
        // Found by the `mask` fuzz target: the reference overflowed at offsets near usize::MAX.
        let mut fast = [1u8, 2, 3, 4, 5, 6];
        let mut plain = fast;
        apply_mask(&mut fast, [9, 8, 7, 6], usize::MAX);
        apply_mask_reference(&mut plain, [9, 8, 7, 6], usize::MAX);
        assert_eq!(fast, plain);
        assert_eq!(fast[0], 1 ^ 6, "position usize::MAX is key byte 3");
    }

    proptest! {
        #[test]
        fn fast_mask_equals_reference(data in proptest::collection::vec(any::<u8>(), 0..300),
                                      key in any::<[u8; 4]>(), offset in 0usize..16, skip in 0usize..40) {
            let skip = skip.min(data.len());
            let mut fast = data.clone();
            let mut plain = data.clone();
            apply_mask(&mut fast[skip..], key, offset);
            apply_mask_reference(&mut plain[skip..], key, offset);
            prop_assert_eq!(fast, plain);
        }

        #[test]
        fn mask_copy_equals_reference(data in proptest::collection::vec(any::<u8>(), 0..300),
                                      key in any::<[u8; 4]>(), offset in 0usize..16, skip in 0usize..40) {
            let skip = skip.min(data.len());
            let mut copied = vec![0xee; data.len() - skip];
            mask_copy(&mut copied, &data[skip..], key, offset);
            let mut plain = data[skip..].to_vec();
            apply_mask_reference(&mut plain, key, offset);
            prop_assert_eq!(copied, plain);
        }

        #[test]
        fn masking_twice_is_identity(data in proptest::collection::vec(any::<u8>(), 0..300),
                                     key in any::<[u8; 4]>(), offset in 0usize..16) {
            let mut twice = data.clone();
            apply_mask(&mut twice, key, offset);
            apply_mask(&mut twice, key, offset);
            prop_assert_eq!(twice, data);
        }
    }
}
