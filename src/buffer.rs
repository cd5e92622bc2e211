//! The connection's input buffer: bytes are read straight into it, and events borrow from it.
//!
//! It grows only as far as the bytes actually received need (a declared frame length is a claim, not a
//! reason to allocate) and gives large allocations back once it is empty again.

/// The smallest spare room offered to a read.
pub(crate) const READ_CHUNK: usize = 4096;

/// Above this capacity an emptied buffer is given back, so an idle connection holds little.
pub(crate) const KEEP_CAPACITY: usize = 64 << 10;

#[derive(Debug, Default)]
pub(crate) struct InputBuffer {
    /// Always initialised up to its length: `[start, end)` holds unread bytes, `[end, len)` is spare.
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl InputBuffer {
    /// The bytes received and not yet consumed.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(crate) fn unread_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    /// Marks `n` unread bytes as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.data.len() > KEEP_CAPACITY {
                self.data = Vec::new();
            }
        }
    }

    /// Spare room to read into, made for `want` bytes (what the frame being received still needs) but
    /// never for more than [`READ_CHUNK`] or what is already unread: the buffer grows geometrically with
    /// what has arrived, so a peer must send bytes to make us hold them.
    pub(crate) fn spare(&mut self, want: usize) -> &mut [u8] {
        let unread = self.end - self.start;
        let need = want.clamp(1, READ_CHUNK.max(unread));
        let spare = self.data.len() - self.end;
        // Move unread bytes to the front when what is left would not hold the bytes needed, or would
        // make for a wastefully small read.
        if self.start > 0 && (spare < need || spare < READ_CHUNK / 4) {
            self.data.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = unread;
        }
        if self.data.len() - self.end < need {
            // Grow exactly, not by Vec's doubling: the growth policy is ours (geometric through
            // `need`), so the buffer never exceeds the frame being received plus one chunk.
            let target = self.end + need.max(READ_CHUNK);
            self.data.reserve_exact(target - self.data.len());
            self.data.resize(target, 0);
        }
        &mut self.data[self.end..]
    }

    /// Records that `n` bytes were written into the room [`InputBuffer::spare`] gave.
    pub(crate) fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    /// Copies `bytes` in.
    pub(crate) fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.spare(bytes.len());
            let n = room.len().min(bytes.len());
            room[..n].copy_from_slice(&bytes[..n]);
            self.commit(n);
            bytes = &bytes[n..];
        }
    }

    /// Heap bytes held.
    pub(crate) fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Drops everything, keeping no allocation.
    pub(crate) fn clear(&mut self) {
        *self = InputBuffer::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_claim_does_not_allocate_until_bytes_arrive() {
        let mut buf = InputBuffer::default();
        let room = buf.spare(1 << 30).len();
        assert!(
            room <= 2 * READ_CHUNK,
            "offered {room} bytes for a 1 GiB claim"
        );
    }

    #[test]
    fn room_grows_geometrically_with_what_arrived() {
        let mut buf = InputBuffer::default();
        let mut received = 0;
        while received < 1 << 20 {
            let room = buf.spare(1 << 30);
            assert!(room.len() <= 2 * (received + READ_CHUNK));
            let n = room.len();
            buf.commit(n);
            received += n;
        }
        assert!(buf.capacity() <= 4 << 20);
    }

    #[test]
    fn consumed_bytes_are_reclaimed_and_large_buffers_released() {
        let mut buf = InputBuffer::default();
        buf.extend(&vec![7u8; 200_000]);
        assert_eq!(buf.unread().len(), 200_000);
        buf.consume(100_000);
        assert_eq!(buf.unread().len(), 100_000);
        buf.consume(100_000);
        assert_eq!(buf.capacity(), 0);
    }

    #[test]
    fn unread_bytes_move_to_the_front_to_make_room() {
        let mut buf = InputBuffer::default();
        buf.extend(&[1; READ_CHUNK]);
        buf.consume(READ_CHUNK - 2);
        buf.extend(&[2; 10]);
        assert_eq!(buf.unread(), &[1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert_eq!(buf.capacity(), READ_CHUNK);
    }
}
