//! The byte buffer both halves of a connection use: received bytes are read straight into it and events
//! borrow from it; frames to send are encoded into it and the driver writes them from it.
//!
//! It is kept initialised to its full length, so bytes can be written into its spare room (by a socket
//! read, or by masking while copying) without `unsafe`. It grows only as far as the traffic needs — a
//! declared frame length is a claim, not a reason to allocate — and gives a large allocation back once a
//! round of traffic no longer needed it.

/// The smallest spare room offered to a read.
pub(crate) const READ_CHUNK: usize = 4096;

/// Up to this capacity a buffer is kept between messages, so steady traffic allocates nothing.
pub(crate) const KEEP_CAPACITY: usize = 64 << 10;

/// A larger buffer is given back after this many rounds in a row (filled, then emptied) that used less
/// than a quarter of it: one short round among full ones (the tail of a burst) must not cost a
/// reallocation for every doubling on the way back up.
const SMALL_ROUNDS_BEFORE_RELEASE: u8 = 4;

#[derive(Debug, Default)]
pub(crate) struct Buffer {
    /// `[start, end)` holds the bytes, `[end, len)` is spare room.
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// The most bytes held at once since the buffer was last empty.
    peak: usize,
    /// Rounds in a row whose peak was under a quarter of a buffer larger than `KEEP_CAPACITY`.
    small_rounds: u8,
    /// The room the last `spare` offered, until its `commit`.
    offered: usize,
    /// The room the last read filled to the brim (0 if it did not): the peer had more queued.
    filled: usize,
}

impl Buffer {
    /// The bytes held.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drops the first `n` bytes. Once empty, a buffer much larger than the traffic it carried in its
    /// last few rounds is given back: one large message leaves no large buffer behind, a stream of them
    /// keeps it.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.data.len() > KEEP_CAPACITY && self.data.len() > 4 * self.peak {
                self.small_rounds += 1;
                if self.small_rounds >= SMALL_ROUNDS_BEFORE_RELEASE {
                    self.data = Vec::new();
                    self.small_rounds = 0;
                }
            } else {
                self.small_rounds = 0;
            }
            self.peak = 0;
        }
    }

    /// Keeps only the first `len` bytes.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.end = self.start + len.min(self.end - self.start);
    }

    /// Spare room to read into, made for `want` bytes (what the frame being received still needs) but
    /// never for more than [`READ_CHUNK`] or what is already held: the buffer grows geometrically with
    /// what has arrived, so a peer must send bytes to make us hold them. A read that filled the last
    /// room offered doubles it, up to [`KEEP_CAPACITY`]: a peer with many small messages queued is
    /// then read in a few large reads (a syscall each), not in 4 KiB ones.
    pub(crate) fn spare(&mut self, want: usize) -> &mut [u8] {
        let held = self.end - self.start;
        let mut need = want.clamp(1, READ_CHUNK.max(held));
        let doubled = (2 * self.filled).min(KEEP_CAPACITY);
        if self.data.len() < doubled {
            // Once per doubling: a buffer already that large is not made to move its bytes for it.
            need = need.max(doubled);
        }
        // A frame that will not fit where it starts has to move to the front at some point: now,
        // while little of it has arrived, not once most of it is here. And up to 16 KiB held are
        // moved rather than let them cut the next read to less than half the buffer: a read is a
        // syscall, and this copy is of bytes still in cache.
        let fits = self.data.len() - self.start >= held.saturating_add(want);
        let cramped = held <= 4 * READ_CHUNK && self.data.len() - self.end < self.data.len() / 2;
        if self.start > 0 && (!fits || cramped) {
            self.move_to_front();
        }
        // Grow exactly, not by Vec's doubling: the growth policy is `need`'s, so the buffer never
        // exceeds the frame being received plus one chunk.
        let room = self.make_room(need, need.max(READ_CHUNK)).len();
        // What a read brings past the frame being received is the next frame's start, which moves to
        // the front with it: at most a chunk past a large frame, and up to 64 KiB held for small ones
        // (many messages per read).
        let limit = want
            .saturating_add(READ_CHUNK)
            .max(KEEP_CAPACITY.saturating_sub(held));
        self.offered = room.min(limit);
        &mut self.data[self.end..self.end + self.offered]
    }

    /// Room for exactly `n` more bytes that are already at hand (an encoded frame, bytes copied in),
    /// growing geometrically if it must but with no minimum: a connection that carried one small
    /// message holds a small buffer, which matters to an event loop with ten thousand of them (the
    /// allocator keeps freed memory, so the peak is what stays resident).
    pub(crate) fn room_for(&mut self, n: usize) -> &mut [u8] {
        let grow_to = n.max(self.data.len());
        &mut self.make_room(n, grow_to)[..n]
    }

    /// Ensures `need` bytes of spare room, first by moving the bytes held to the front, then by growing
    /// by `grow` bytes past them; returns all the spare room.
    fn make_room(&mut self, need: usize, grow: usize) -> &mut [u8] {
        let spare = self.data.len() - self.end;
        // Moving is cheap next to a read or a frame; do it also when what is left would make a
        // wastefully small read.
        if self.start > 0 && (spare < need || spare < READ_CHUNK / 4) {
            self.move_to_front();
        }
        if self.data.len() - self.end < need {
            let target = self.end + grow.max(need);
            self.data.reserve_exact(target - self.data.len());
            self.data.resize(target, 0);
        }
        &mut self.data[self.end..]
    }

    fn move_to_front(&mut self) {
        self.data.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Records that `n` bytes were written into the room [`Buffer::spare`] or [`Buffer::room_for`] gave.
    #[inline]
    pub(crate) fn commit(&mut self, n: usize) {
        if self.offered > 0 {
            self.filled = if n >= self.offered { self.offered } else { 0 };
            self.offered = 0;
        }
        self.end = (self.end + n).min(self.data.len());
        self.peak = self.peak.max(self.end - self.start);
    }

    /// Room for `want` bytes at hand that belong to a frame with `left` bytes still to come (`want`
    /// among them): grows geometrically with what is held, but never past the frame, so a large frame
    /// copied in costs its own size and no more, and a small one a small buffer.
    pub(crate) fn room_in_frame(&mut self, want: usize, left: usize) -> &mut [u8] {
        let held = self.end - self.start;
        let grow = want.max(held.min(left));
        &mut self.make_room(want, grow)[..want]
    }

    /// Copies `bytes` in.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.room_for(bytes.len()).copy_from_slice(bytes);
        self.commit(bytes.len());
    }

    /// Heap bytes held.
    pub(crate) fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Drops everything, keeping no allocation.
    pub(crate) fn clear(&mut self) {
        *self = Buffer::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_claim_does_not_allocate_until_bytes_arrive() {
        let mut buf = Buffer::default();
        let room = buf.spare(1 << 30).len();
        assert!(
            room <= 2 * READ_CHUNK,
            "offered {room} bytes for a 1 GiB claim"
        );
    }

    #[test]
    fn room_grows_geometrically_with_what_arrived() {
        let mut buf = Buffer::default();
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
    fn one_large_message_leaves_no_large_buffer_behind() {
        let mut buf = Buffer::default();
        buf.extend(&vec![7u8; 200_000]);
        buf.consume(100_000);
        assert_eq!(buf.bytes().len(), 100_000);
        buf.consume(100_000);
        assert!(
            buf.capacity() >= 200_000,
            "kept while such messages may follow"
        );
        for round in 1..SMALL_ROUNDS_BEFORE_RELEASE {
            buf.extend(&[1; 100]);
            buf.consume(100);
            assert!(buf.capacity() >= 200_000, "kept after {round} small rounds");
        }
        buf.extend(&[1; 100]);
        buf.consume(100);
        assert_eq!(
            buf.capacity(),
            0,
            "given back after a few rounds of small traffic"
        );
    }

    #[test]
    fn a_short_round_among_full_ones_keeps_the_buffer() {
        // The tail of a burst of answers (1,028-byte frames, 64 at a time) leaves a short round.
        let mut buf = Buffer::default();
        let mut grown = None;
        for round in 0..20 {
            let frames = if round % 3 == 2 { 2 } else { 64 };
            for _ in 0..frames {
                buf.extend(&[5; 1028]);
            }
            let held = buf.bytes().len();
            buf.consume(held);
            let capacity = *grown.get_or_insert(buf.capacity());
            assert_eq!(buf.capacity(), capacity, "reallocated in round {round}");
        }
        assert!(buf.capacity() > KEEP_CAPACITY);
    }

    #[test]
    fn a_stream_of_large_messages_keeps_its_buffer() {
        let mut buf = Buffer::default();
        buf.extend(&vec![7u8; 200_000]);
        let capacity = buf.capacity();
        for _ in 0..3 {
            buf.consume(200_000);
            buf.extend(&vec![7u8; 200_000]);
            assert_eq!(buf.capacity(), capacity);
        }
    }

    #[test]
    fn reads_that_fill_the_room_double_it_up_to_keep_capacity() {
        let mut buf = Buffer::default();
        let mut rooms = Vec::new();
        for _ in 0..7 {
            let room = buf.spare(READ_CHUNK).len();
            rooms.push(room);
            buf.commit(room);
            buf.consume(room);
        }
        assert_eq!(rooms, [4096, 8192, 16384, 32768, 65536, 65536, 65536]);
        // A read that leaves room shows the peer had no more: the room stops growing, and the buffer
        // is not grown for it.
        let room = buf.spare(READ_CHUNK).len();
        buf.commit(room - 1);
        buf.consume(room - 1);
        assert_eq!(buf.spare(READ_CHUNK).len(), 65536);
        assert_eq!(buf.capacity(), 65536);
    }

    #[test]
    fn a_room_not_filled_does_not_grow() {
        let mut buf = Buffer::default();
        for _ in 0..5 {
            let room = buf.spare(READ_CHUNK).len();
            assert_eq!(room, READ_CHUNK);
            buf.commit(100);
            buf.consume(100);
        }
    }

    #[test]
    fn a_frame_that_will_not_fit_where_it_starts_moves_while_little_of_it_is_here() {
        let mut buf = Buffer::default();
        buf.extend(&vec![1u8; 100_000]);
        buf.consume(60_000);
        buf.consume(39_900);
        // 100 bytes of a 65 KiB frame held at offset 99,900: they move now, not once 65 KiB are here.
        let room = buf.spare(65_000).len();
        assert_eq!(buf.bytes(), &[1u8; 100][..]);
        assert_eq!(buf.start, 0, "moved to the front");
        assert!(room >= 65_000 - 100 - READ_CHUNK);
    }

    #[test]
    fn a_read_ends_at_most_a_chunk_past_a_large_frame() {
        let mut buf = Buffer::default();
        buf.extend(&vec![1u8; 200_000]);
        buf.consume(200_000 - 60_000);
        // 60 KB of a 70 KB frame held: the read may bring its last 10 KB and one chunk of the next
        // frame, whose start then moves to the front with it, not 130 KB.
        let room = buf.spare(10_000).len();
        assert_eq!(room, 10_000 + READ_CHUNK);
    }

    #[test]
    fn held_bytes_move_to_the_front_to_make_room() {
        let mut buf = Buffer::default();
        buf.extend(&[1; READ_CHUNK]);
        buf.consume(READ_CHUNK - 2);
        buf.extend(&[2; 10]);
        assert_eq!(buf.bytes(), &[1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert_eq!(buf.capacity(), READ_CHUNK);
    }

    #[test]
    fn room_for_gives_exactly_the_room_asked() {
        let mut buf = Buffer::default();
        let room = buf.room_for(10);
        assert_eq!(room.len(), 10);
        room.copy_from_slice(&[3; 10]);
        buf.commit(10);
        buf.truncate(4);
        assert_eq!(buf.bytes(), &[3; 4]);
    }
}
