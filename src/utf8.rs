//! Incremental UTF-8 validation across frame and TCP boundaries.
//!
//! RFC 6455 §8.1: an endpoint that receives invalid UTF-8 in a text message must fail the connection
//! (1007). Checking only complete messages is too late for Autobahn 6.4.x, which expects failure at the
//! first invalid byte even while the rest of the frame has not arrived. The validator keeps the at most
//! three bytes of a character that a piece ended in, and rejects a sequence as soon as it cannot become
//! valid. The heavy lifting is `std::str::from_utf8`, or with the `simdutf8` feature the SIMD
//! validator of that crate (5–10× faster on non-ASCII text, see `benches/utf8.rs`), each byte validated
//! once.

#[cfg(feature = "simdutf8")]
use simdutf8::compat::from_utf8;
#[cfg(not(feature = "simdutf8"))]
use std::str::from_utf8;

/// `bytes` as text, if they are UTF-8, by the fastest validator built in.
pub fn to_str(bytes: &[u8]) -> Option<&str> {
    #[cfg(feature = "simdutf8")]
    return simdutf8::basic::from_utf8(bytes).ok();
    #[cfg(not(feature = "simdutf8"))]
    return std::str::from_utf8(bytes).ok();
}

/// An invalid byte sequence was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Validates a byte stream given in pieces.
///
/// ```
/// use wscore::utf8::Utf8Validator;
/// let mut v = Utf8Validator::default();
/// let euro = "€".as_bytes();
/// v.feed(&euro[..1]).unwrap(); // incomplete, not yet invalid
/// v.feed(&euro[1..]).unwrap();
/// assert!(v.finish().is_ok());
/// assert!(v.feed(&[0xc0]).is_err()); // can never start a valid character
/// ```
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The start of a character that the last piece ended in.
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// Validates the next piece. Fails as soon as the bytes seen so far cannot be the start of valid UTF-8.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let need = char_width(self.partial[0]).saturating_sub(have);
            let take = need.min(bytes.len());
            self.partial[have..have + take].copy_from_slice(&bytes[..take]);
            self.partial_len += take as u8;
            bytes = &bytes[take..];
            match from_utf8(&self.partial[..usize::from(self.partial_len)]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_none() => return Ok(()), // still incomplete
                Err(_) => return Err(InvalidUtf8),
            }
        }
        let cut = incomplete_tail_start(bytes);
        let (body, tail) = bytes.split_at(cut);
        from_utf8(body).map_err(|_| InvalidUtf8)?;
        match from_utf8(tail) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the stream: a character left incomplete is an error. The validator is reset either way.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Forgets any incomplete character.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }
}

/// The length of the character a lead byte starts; 1 for ASCII and bytes that cannot lead.
fn char_width(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    }
}

/// Where a character that runs past the end of `bytes` starts, or `bytes.len()` if none does.
fn incomplete_tail_start(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xc0 != 0x80 {
            return if char_width(byte) > back {
                bytes.len() - back
            } else {
                bytes.len()
            };
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn validate_split(bytes: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::default();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, bytes.len());
            v.feed(&bytes[start..cut])?;
            start = cut;
        }
        v.feed(&bytes[start..])?;
        v.finish()
    }

    #[test]
    fn accepts_multibyte_characters_split_anywhere() {
        let text = "aé€𝄞z".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert_eq!(validate_split(text, &[i, j]), Ok(()), "cuts {i} {j}");
            }
        }
    }

    #[test]
    fn fails_fast_on_an_impossible_continuation() {
        // 0xF4 0x90 would encode a code point above U+10FFFF: invalid at the second byte.
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[b'a', 0xf4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
    }

    #[test]
    fn fails_fast_on_a_surrogate_prefix() {
        // 0xED 0xA0 starts a UTF-16 surrogate, never valid in UTF-8.
        assert_eq!(
            Utf8Validator::default().feed(&[0xed, 0xa0]),
            Err(InvalidUtf8)
        );
    }

    #[test]
    fn rejects_an_incomplete_character_at_the_end() {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xe2, 0x82]), Ok(()));
        assert_eq!(v.finish(), Err(InvalidUtf8));
        assert_eq!(v.finish(), Ok(()), "finish resets");
    }

    proptest! {
        #[test]
        fn agrees_with_std_for_any_split(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                         cuts in proptest::collection::vec(0usize..64, 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(validate_split(&bytes, &cuts).is_ok(), std::str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn agrees_with_std_on_mostly_valid_text(text in "\\PC{0,20}", junk in any::<u8>(), at in 0usize..80,
                                                cuts in proptest::collection::vec(0usize..80, 0..6)) {
            let mut bytes = text.into_bytes();
            let at = at.min(bytes.len());
            bytes.insert(at, junk);
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(validate_split(&bytes, &cuts).is_ok(), std::str::from_utf8(&bytes).is_ok());
        }
    }
}
