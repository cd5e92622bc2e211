//! The fast mask and the masking copy against the byte-at-a-time definition, at arbitrary offsets and lengths.
#![no_main]
use wscore::mask::{apply_mask, apply_mask_reference, mask_copy};

libfuzzer_sys::fuzz_target!(|input: (usize, u8, [u8; 4], Vec<u8>)| {
    let (offset, skip, key, data) = input;
    let skip = usize::from(skip).min(data.len());
    let mut fast = data.clone();
    let mut plain = data.clone();
    apply_mask(&mut fast[skip..], key, offset);
    apply_mask_reference(&mut plain[skip..], key, offset);
    assert_eq!(fast, plain);
    let mut copied = vec![0u8; data.len() - skip];
    mask_copy(&mut copied, &data[skip..], key, offset);
    assert_eq!(copied, plain[skip..]);
    apply_mask(&mut fast[skip..], key, offset);
    assert_eq!(fast, data, "masking twice is the identity");
});
