//! Masking with the widest vectors the CPU has, chosen at run time: AVX-512, else AVX2, else the
//! portable word loop (SSE2, baseline on x86-64).
//!
//! The vector code is the portable word loop itself, compiled again inside a `#[target_feature]`
//! function: the compiler unrolls it into four 64-byte (or 32-byte) XORs per iteration. What it cannot
//! know is where cache lines begin, and a vector that straddles two lines costs about twice as much, so
//! the head up to the first 64-byte boundary of the written slice goes through the word loop first.
//! Measured on Zen 4 in cache, unmasking 64 KiB: 45-54 GiB/s portable, 64-94 GiB/s with wider vectors
//! but no alignment, 103-106 GiB/s aligned; explicit aligned intrinsics (as tokio-websockets does)
//! measured the same 105-106 GiB/s, so they would buy `unsafe` loads and stores for nothing: here the
//! only `unsafe` is the call into a function whose CPU feature was detected. AVX-512 measured no faster
//! than AVX2 on Zen 4 (it splits 512-bit operations in two); it is chosen first for cores with
//! full-width 512-bit units.

#![allow(unsafe_code)]

use super::{copy_words, mask_words};

/// A cache line: vector stores aligned to it never straddle two.
const ALIGN: usize = 64;

/// The vector width detected on this CPU. `is_x86_feature_detected!` caches its answer, so asking is
/// one load and a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Avx512,
    Avx2,
    Sse2,
}

/// The best level this CPU has; it returns no level it did not detect.
fn level() -> Level {
    if is_x86_feature_detected!("avx512f") {
        Level::Avx512
    } else if is_x86_feature_detected!("avx2") {
        Level::Avx2
    } else {
        Level::Sse2
    }
}

/// [`super::apply_mask`] at the best level this CPU has. Never inlined, so that the short payloads'
/// path through the caller stays free of this one's register saves.
#[inline(never)]
pub(super) fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // SAFETY: `level()` returns only a level it detected.
    unsafe { apply_mask_at(level(), data, key, offset) }
}

/// [`super::mask_copy`] at the best level this CPU has; `dst` and `src` have the same length. Never
/// inlined, as above.
#[inline(never)]
pub(super) fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    // SAFETY: `level()` returns only a level it detected.
    unsafe { mask_copy_at(level(), dst, src, key, offset) }
}

/// Masks at `level`, which the tests choose so that each level this CPU has is tested.
///
/// # Safety
/// `level` must be one this CPU has.
unsafe fn apply_mask_at(level: Level, data: &mut [u8], key: [u8; 4], offset: usize) {
    let head = data.as_ptr().align_offset(ALIGN).min(data.len());
    let (head, body) = data.split_at_mut(head);
    mask_words(head, key, offset);
    let offset = offset.wrapping_add(head.len());
    match level {
        // SAFETY: the CPU has AVX-512F (this function's contract), `mask_avx512`'s one feature.
        Level::Avx512 => unsafe { mask_avx512(body, key, offset) },
        // SAFETY: the CPU has AVX2 (this function's contract), `mask_avx2`'s one feature.
        Level::Avx2 => unsafe { mask_avx2(body, key, offset) },
        Level::Sse2 => mask_words(body, key, offset),
    }
}

/// As [`apply_mask_at`]; aligns the stores to `dst`, since a store that straddles lines costs more than
/// a load that does.
///
/// # Safety
/// `level` must be one this CPU has.
unsafe fn mask_copy_at(level: Level, dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    let head = dst.as_ptr().align_offset(ALIGN).min(dst.len());
    let (dst_head, dst_body) = dst.split_at_mut(head);
    let (src_head, src_body) = src.split_at(head);
    copy_words(dst_head, src_head, key, offset);
    let offset = offset.wrapping_add(head);
    match level {
        // SAFETY: the CPU has AVX-512F (this function's contract), `copy_avx512`'s one feature.
        Level::Avx512 => unsafe { copy_avx512(dst_body, src_body, key, offset) },
        // SAFETY: the CPU has AVX2 (this function's contract), `copy_avx2`'s one feature.
        Level::Avx2 => unsafe { copy_avx2(dst_body, src_body, key, offset) },
        Level::Sse2 => copy_words(dst_body, src_body, key, offset),
    }
}

#[target_feature(enable = "avx512f")]
fn mask_avx512(data: &mut [u8], key: [u8; 4], offset: usize) {
    mask_words(data, key, offset);
}

#[target_feature(enable = "avx2")]
fn mask_avx2(data: &mut [u8], key: [u8; 4], offset: usize) {
    mask_words(data, key, offset);
}

#[target_feature(enable = "avx512f")]
fn copy_avx512(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    copy_words(dst, src, key, offset);
}

#[target_feature(enable = "avx2")]
fn copy_avx2(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    copy_words(dst, src, key, offset);
}

#[cfg(test)]
mod tests {
    use super::super::apply_mask_reference;
    use super::super::tests::{at_misalignment, cases, offsets};
    use super::*;
    use proptest::prelude::*;

    /// Every level this CPU has (and no other), so the AVX2 code is tested on an AVX-512 machine too.
    fn levels() -> Vec<Level> {
        let mut levels = vec![Level::Sse2];
        if is_x86_feature_detected!("avx2") {
            levels.push(Level::Avx2);
        }
        if is_x86_feature_detected!("avx512f") {
            levels.push(Level::Avx512);
        }
        levels
    }

    #[test]
    fn every_level_at_every_alignment_equals_reference() {
        // Each length around the head, the vector width and the unrolled loop, from each start in a
        // cache line: the boundaries a random test could miss. Miri takes the property tests only.
        let lengths = if cfg!(miri) { 0..0 } else { 0..300 };
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
        let mut buf = vec![0u8; 300 + 128];
        let mut src_buf = vec![0u8; 300 + 128];
        for level in levels() {
            for len in lengths.clone() {
                for misalign in 0..64 {
                    for offset in [0, 1, 2, 3, usize::MAX] {
                        let mut plain = data[..len].to_vec();
                        apply_mask_reference(&mut plain, key, offset);
                        let fast = at_misalignment(&mut buf, misalign, len);
                        fast.copy_from_slice(&data[..len]);
                        // SAFETY: `levels()` holds only levels it detected.
                        unsafe { apply_mask_at(level, fast, key, offset) };
                        assert_eq!(fast, &plain[..], "{level:?} len {len} misalign {misalign}");
                        let src = at_misalignment(&mut src_buf, 63 - misalign, len);
                        src.copy_from_slice(&data[..len]);
                        let dst = at_misalignment(&mut buf, misalign, len);
                        // SAFETY: as above.
                        unsafe { mask_copy_at(level, dst, src, key, offset) };
                        assert_eq!(
                            dst,
                            &plain[..],
                            "{level:?} copy len {len} misalign {misalign}"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(cases())]

        #[test]
        fn every_level_equals_reference(data in proptest::collection::vec(any::<u8>(), 0..600),
                                        key in any::<[u8; 4]>(), offset in offsets(),
                                        dst_misalign in 0usize..64, src_misalign in 0usize..64) {
            let mut plain = data.clone();
            apply_mask_reference(&mut plain, key, offset);
            let mut buf = vec![0u8; data.len() + 128];
            let mut src_buf = vec![0u8; data.len() + 128];
            for level in levels() {
                let fast = at_misalignment(&mut buf, dst_misalign, data.len());
                fast.copy_from_slice(&data);
                // SAFETY: `levels()` holds only levels it detected.
                unsafe { apply_mask_at(level, fast, key, offset) };
                prop_assert_eq!(&fast[..], &plain[..], "{:?}", level);
                let src = at_misalignment(&mut src_buf, src_misalign, data.len());
                src.copy_from_slice(&data);
                let dst = at_misalignment(&mut buf, dst_misalign, data.len());
                dst.fill(0xee);
                // SAFETY: as above.
                unsafe { mask_copy_at(level, dst, src, key, offset) };
                prop_assert_eq!(&dst[..], &plain[..], "{:?} copy", level);
            }
        }
    }
}
