//! The incremental validator over an arbitrary split against `std::str::from_utf8` on the whole: same
//! verdict, and failing in the piece that holds the first byte no valid text could continue with.
#![no_main]
use wscore::utf8::Utf8Validator;

/// The index of the first byte that no valid UTF-8 could have, if any; `Some(len)` if the text only
/// ends in the middle of a character.
fn first_offence(bytes: &[u8]) -> Option<usize> {
    let e = std::str::from_utf8(bytes).err()?;
    let start = e.valid_up_to();
    for end in start..bytes.len() {
        if let Err(e) = std::str::from_utf8(&bytes[start..=end]) {
            if e.error_len().is_some() {
                return Some(end);
            }
        }
    }
    Some(bytes.len())
}

libfuzzer_sys::fuzz_target!(|input: (Vec<u16>, Vec<u8>)| {
    let (cuts, bytes) = input;
    let mut cuts: Vec<usize> = cuts.into_iter().map(|c| usize::from(c) % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    let offence = first_offence(&bytes);
    let mut validator = Utf8Validator::default();
    let mut start = 0;
    for cut in cuts {
        let failed = validator.feed(&bytes[start..cut]).is_err();
        let holds_offence = offence.is_some_and(|at| at >= start && at < cut);
        assert_eq!(failed, holds_offence, "piece {start}..{cut}, first offence at {offence:?}");
        if failed {
            return;
        }
        start = cut;
    }
    assert_eq!(validator.finish().is_err(), offence.is_some());
});
