//! `apply_mask` and `mask_copy` (vector code chosen at run time from 1 KiB on x86-64) against
//! their portable twins and the byte-at-a-time definition, at arbitrary offsets, lengths and starts in
//! a cache line for the source and the destination.
#![no_main]
use wscore::mask::{
    apply_mask, apply_mask_portable, apply_mask_reference, mask_copy, mask_copy_portable,
};

/// `len` bytes of `buf` starting `misalign % 64` bytes past a 64-byte boundary.
fn at_misalignment(buf: &mut [u8], misalign: u8, len: usize) -> &mut [u8] {
    let start = buf.as_ptr().align_offset(64) + usize::from(misalign % 64);
    &mut buf[start..start + len]
}

libfuzzer_sys::fuzz_target!(|input: (usize, u8, u8, u8, [u8; 4], Vec<u8>)| {
    let (offset, dst_misalign, src_misalign, repeat, key, seed) = input;
    // Repeating the input reaches the vector paths' lengths without waiting for the fuzzer to grow
    // inputs past 1 KiB.
    let len = seed.len() * (1 + usize::from(repeat % 16));
    let data: Vec<u8> = seed.iter().copied().cycle().take(len).collect();

    let mut plain = data.clone();
    apply_mask_reference(&mut plain, key, offset);

    let mut buf = vec![0u8; len + 128];
    let fast = at_misalignment(&mut buf, dst_misalign, len);
    fast.copy_from_slice(&data);
    apply_mask(fast, key, offset);
    assert_eq!(fast, &plain[..], "apply_mask");
    apply_mask(fast, key, offset);
    assert_eq!(fast, &data[..], "masking twice is the identity");

    let mut portable = data.clone();
    apply_mask_portable(&mut portable, key, offset);
    assert_eq!(portable, plain, "apply_mask_portable");

    let mut src_buf = vec![0u8; len + 128];
    let src = at_misalignment(&mut src_buf, src_misalign, len);
    src.copy_from_slice(&data);
    let copied = at_misalignment(&mut buf, dst_misalign, len);
    copied.fill(0xee);
    mask_copy(copied, src, key, offset);
    assert_eq!(copied, &plain[..], "mask_copy");
    let mut portable = vec![0xee; len];
    mask_copy_portable(&mut portable, src, key, offset);
    assert_eq!(portable, plain, "mask_copy_portable");
});
