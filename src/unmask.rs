//! Unmasking ahead of the parser (RFC 6455 §5.3): a cursor over the input buffer that knows where each
//! frame's payload lies. [`crate::Connection::receive`] uses it to unmask while it copies, so bytes that
//! are copied in are touched once; bytes read straight into the buffer are unmasked in place when the
//! parser reaches their frame. Either way each byte is unmasked exactly once.

use crate::buffer::{Buffer, READ_CHUNK};
use crate::frame::FrameHeader;
use crate::mask::{apply_mask, mask_copy};

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Unmasker {
    /// Bytes at the front of the buffer that are done: headers passed, payloads unmasked.
    done: usize,
    /// Payload bytes of the frame under the cursor still to unmask.
    left: u64,
    key: Option<[u8; 4]>,
    /// How far into that payload the cursor is, for the key's rotation.
    position: usize,
}

impl Unmasker {
    /// Bytes at the front of the buffer already unmasked (or headers).
    pub(crate) fn done(&self) -> usize {
        self.done
    }

    /// The buffer dropped its first `n` bytes.
    #[inline]
    pub(crate) fn consumed(&mut self, n: usize) {
        self.done -= n.min(self.done);
    }

    /// Unmasks the payload of the frame at the front up to `end` (which lies within that frame), the
    /// frame the parser has just read: no header needs decoding here. This is `scan`'s payload step
    /// written out on purpose: going through `scan` costs 11% more instructions per 16 B message
    /// (callgrind), and this is the read path's hot loop.
    pub(crate) fn unmask_front(
        &mut self,
        bytes: &mut [u8],
        header: &FrameHeader,
        header_len: usize,
        end: usize,
    ) {
        if self.done == 0 {
            // The cursor is at this frame's header.
            self.done = header_len;
            self.left = header.payload_len;
            self.key = header.mask;
            self.position = 0;
        }
        if self.done < end {
            let n = end - self.done;
            if let Some(key) = self.key {
                apply_mask(&mut bytes[self.done..end], key, self.position);
            }
            self.advance(n);
        }
    }

    /// Whether the cursor stands at the header of the frame at the front: nothing ahead is unmasked, so
    /// a caller may unmask that frame itself and then call [`Unmasker::passed`].
    #[inline]
    pub(crate) fn at_front(&self) -> bool {
        // Bytes are consumed only whole frames at a time, so a cursor back at 0 has no payload left.
        self.done == 0
    }

    /// The caller unmasked the frame at the front, which ends at `end`; the cursor moves past it.
    #[inline]
    pub(crate) fn passed(&mut self, end: usize) {
        self.done = end;
        self.left = 0;
    }

    /// Unmasks in place until at least `limit` bytes of `bytes` are done (or the bytes run out).
    pub(crate) fn scan(&mut self, bytes: &mut [u8], limit: usize) {
        let limit = limit.min(bytes.len());
        while self.done < limit {
            if self.left > 0 {
                let n = self.left.min((limit - self.done) as u64) as usize;
                if let Some(key) = self.key {
                    apply_mask(&mut bytes[self.done..self.done + n], key, self.position);
                }
                self.advance(n);
                continue;
            }
            // Only the extent: a header the parser will refuse fails the connection before the bytes
            // after it matter.
            match FrameHeader::extent(&bytes[self.done..]) {
                Some((header_len, payload_len, key)) => {
                    self.done += header_len;
                    self.left = payload_len;
                    self.key = key;
                    self.position = 0;
                }
                None => break,
            }
        }
    }

    /// Appends `src` to `buffer`, unmasking payload bytes while copying them.
    pub(crate) fn copy_in(&mut self, buffer: &mut Buffer, mut src: &[u8]) {
        while !src.is_empty() {
            if self.left > 0 && self.done == buffer.bytes().len() {
                // In a payload, and nothing behind: one pass from `src` to the buffer.
                let want = self.left.min(src.len() as u64) as usize;
                // The bytes are here: room for them, growing with the frame but not past it.
                let left = usize::try_from(self.left).unwrap_or(usize::MAX);
                let room = buffer.room_in_frame(want, left);
                let n = want;
                match self.key {
                    Some(key) => mask_copy(&mut room[..n], &src[..n], key, self.position),
                    None => room[..n].copy_from_slice(&src[..n]),
                }
                buffer.commit(n);
                self.advance(n);
                src = &src[n..];
            } else {
                // Headers, small frames, or bytes read in without the cursor: copy a chunk as it is and
                // unmask it in place while it is in cache.
                let n = src.len().min(READ_CHUNK);
                buffer.extend(&src[..n]);
                src = &src[n..];
                let held = buffer.bytes().len();
                self.scan(buffer.bytes_mut(), held);
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.done += n;
        self.left -= n as u64;
        self.position += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::apply_mask_reference;
    use proptest::prelude::*;

    /// A masked frame with a 7-bit length.
    fn frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut out = vec![0x82, 0x80 | payload.len() as u8];
        out.extend_from_slice(&key);
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask_reference(&mut out[start..], key, 0);
        out
    }

    proptest! {
        /// Copying in through the cursor, in any pieces, leaves every payload unmasked and every header
        /// as it was: the same bytes as unmasking each frame on its own.
        #[test]
        fn copy_in_unmasks_exactly_the_payloads(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..6),
            key in any::<[u8; 4]>(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for p in &payloads {
                let f = frame(p, key);
                expected.extend_from_slice(&f[..6]);
                expected.extend_from_slice(p);
                stream.extend(f);
            }
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut buffer = Buffer::default();
            let mut cursor = Unmasker::default();
            let mut start = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                cursor.copy_in(&mut buffer, &stream[start..cut]);
                start = cut;
            }
            prop_assert_eq!(buffer.bytes(), &expected[..]);
            prop_assert_eq!(cursor.done(), stream.len());
        }
    }
}
