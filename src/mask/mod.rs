//! Payload masking, RFC 6455 §5.3.
//!
//! Masking is a XOR with a repeating 4-byte key. Three versions, each held equal to the next by the
//! tests below and by the `mask` fuzz target:
//!
//! - [`apply_mask`] and [`mask_copy`], what the library calls. From 1 KiB up on x86-64 they go to
//!   `x86.rs`, which picks AVX-512 or AVX2 at run time; shorter payloads (a 16 B message is the hot
//!   case) stay on the word loop and pay one comparison for the choice.
//! - [`apply_mask_portable`] and [`mask_copy_portable`]: 8-byte words, no `unsafe`. The compiler turns
//!   them into 16-byte SSE2 on baseline x86-64 and 16-byte NEON on aarch64, where NEON is baseline, so
//!   aarch64 has no run-time choice to make (and no machine here to test one on).
//! - [`apply_mask_reference`]: byte at a time, the definition.

#[cfg(target_arch = "x86_64")]
mod x86;

/// Payloads shorter than this are masked by the word loop even where vector code is available: below
/// it, aligning and choosing cost more than the wider vectors save. Measured (`benches/mask.rs`, Zen 4):
/// at 512 B the vector path is 10-25% slower, at 1 KiB in place 1.2-1.3x faster and the copy even to
/// 1.2x faster.
const SIMD_MIN_LEN: usize = 1024;

/// XORs `data` with `key`, where `data[0]` is byte number `offset` of the frame's payload, so a payload
/// can be unmasked in pieces as it arrives. Applying it twice restores the input (RFC 6455 §5.3).
///
/// ```
/// let mut data = *b"Hello";
/// wscore::mask::apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= SIMD_MIN_LEN {
        return x86::apply_mask(data, key, offset);
    }
    mask_words(data, key, offset);
}

/// [`apply_mask`] without vector code chosen at run time: the safe twin it is tested against.
///
/// ```
/// let mut data = *b"Hello";
/// wscore::mask::apply_mask_portable(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
/// ```
pub fn apply_mask_portable(data: &mut [u8], key: [u8; 4], offset: usize) {
    mask_words(data, key, offset);
}

/// Writes `src` masked with `key` into `dst`, in one pass: what a client does when it copies a payload
/// into its output. `src[0]` is byte number `offset` of the payload. The slices should have the same
/// length; if not, only the shorter length is written.
///
/// ```
/// let mut out = [0u8; 5];
/// wscore::mask::mask_copy(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    let len = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..len], &src[..len]);
    #[cfg(target_arch = "x86_64")]
    if len >= SIMD_MIN_LEN {
        return x86::mask_copy(dst, src, key, offset);
    }
    copy_words(dst, src, key, offset);
}

/// [`mask_copy`] without vector code chosen at run time: the safe twin it is tested against.
///
/// ```
/// let mut out = [0u8; 5];
/// wscore::mask::mask_copy_portable(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn mask_copy_portable(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    let len = dst.len().min(src.len());
    copy_words(&mut dst[..len], &src[..len], key, offset);
}

/// The word loop. Always inlined, so that `x86.rs` can compile it again with wider vectors enabled.
#[inline(always)]
fn mask_words(data: &mut [u8], key: [u8; 4], offset: usize) {
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

/// The word loop of the masking copy; `dst` and `src` have the same length. Always inlined, as above.
#[inline(always)]
fn copy_words(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
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

/// The key repeated over a word, in memory order: both halves hold the same bytes, so the machine's
/// byte order does not matter.
fn key_word(key: [u8; 4]) -> u64 {
    let half = u64::from(u32::from_ne_bytes(key));
    half | half << 32
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

    /// Payload positions a piece can start at: small ones, ones near `usize::MAX` where the position
    /// wraps, and any.
    pub(super) fn offsets() -> impl Strategy<Value = usize> {
        prop_oneof![0usize..16, (usize::MAX - 16)..=usize::MAX, any::<usize>()]
    }

    /// `len` bytes of `buf` (at least `len + 127` long) starting `misalign` bytes past a 64-byte
    /// boundary, so every start relative to the vector code's alignment is reached whatever the
    /// allocator returned.
    pub(super) fn at_misalignment(buf: &mut [u8], misalign: usize, len: usize) -> &mut [u8] {
        let start = buf.as_ptr().align_offset(64) + misalign;
        &mut buf[start..start + len]
    }

    /// Miri interprets every byte: a few cases there, and no failure file (its isolation has no
    /// current directory). Many cases natively.
    pub(super) fn cases() -> ProptestConfig {
        if cfg!(miri) {
            ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::with_cases(8)
            }
        } else {
            ProptestConfig::with_cases(512)
        }
    }

    proptest! {
        #![proptest_config(cases())]

        // Lengths reach past the 1 KiB threshold and a few unrolled vector iterations and tails
        // after it; `x86.rs` tests each vector level from length 0.
        #[test]
        fn mask_equals_portable_and_reference(data in proptest::collection::vec(any::<u8>(), 0..1400),
                                              key in any::<[u8; 4]>(), offset in offsets(),
                                              misalign in 0usize..64) {
            let mut buf = vec![0u8; data.len() + 128];
            let fast = at_misalignment(&mut buf, misalign, data.len());
            fast.copy_from_slice(&data);
            apply_mask(fast, key, offset);
            let mut portable = data.clone();
            apply_mask_portable(&mut portable, key, offset);
            let mut plain = data.clone();
            apply_mask_reference(&mut plain, key, offset);
            prop_assert_eq!(&portable, &plain);
            prop_assert_eq!(&fast[..], &plain[..]);
        }

        #[test]
        fn mask_copy_equals_portable_and_reference(data in proptest::collection::vec(any::<u8>(), 0..1400),
                                                   key in any::<[u8; 4]>(), offset in offsets(),
                                                   dst_misalign in 0usize..64, src_misalign in 0usize..64) {
            let mut src_buf = vec![0u8; data.len() + 128];
            let src = at_misalignment(&mut src_buf, src_misalign, data.len());
            src.copy_from_slice(&data);
            let mut dst_buf = vec![0xee; data.len() + 128];
            let copied = at_misalignment(&mut dst_buf, dst_misalign, data.len());
            mask_copy(copied, src, key, offset);
            let mut portable = vec![0xee; data.len()];
            mask_copy_portable(&mut portable, src, key, offset);
            let mut plain = data.clone();
            apply_mask_reference(&mut plain, key, offset);
            prop_assert_eq!(&portable, &plain);
            prop_assert_eq!(&copied[..], &plain[..]);
        }

        #[test]
        fn mask_copy_writes_only_the_shorter_length(src in proptest::collection::vec(any::<u8>(), 0..1400),
                                                    dst_len in 0usize..1400, key in any::<[u8; 4]>()) {
            let mut dst = vec![0xee; dst_len];
            mask_copy(&mut dst, &src, key, 0);
            let n = dst_len.min(src.len());
            let mut plain = src[..n].to_vec();
            apply_mask_reference(&mut plain, key, 0);
            prop_assert_eq!(&dst[..n], &plain[..]);
            prop_assert!(dst[n..].iter().all(|&b| b == 0xee));
        }

        #[test]
        fn masking_twice_is_identity(data in proptest::collection::vec(any::<u8>(), 0..1400),
                                     key in any::<[u8; 4]>(), offset in offsets()) {
            let mut twice = data.clone();
            apply_mask(&mut twice, key, offset);
            apply_mask(&mut twice, key, offset);
            prop_assert_eq!(twice, data);
        }
    }
}
