//! The loop's deadlines: one min-heap for every connection. A connection's entry is valid while its
//! slot's generation and scheduled deadline still match; moved or ended ones are skipped when they
//! come up, which is cheaper than removing them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
}

impl Timers {
    pub(super) fn schedule(&mut self, at: Instant, index: u32, generation: u32) {
        self.heap.push(Reverse((at, index, generation)));
    }

    /// The earliest deadline, valid or not (a stale one wakes the loop early, once).
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, ..))| *at)
    }

    /// Takes the next entry due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32, u32)> {
        match self.heap.peek() {
            Some(Reverse((at, ..))) if *at <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_only_once_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.schedule(t0 + Duration::from_secs(2), 1, 0);
        timers.schedule(t0 + Duration::from_secs(1), 2, 0);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(timers.pop_due(later).map(|e| e.1), Some(2));
        assert_eq!(timers.pop_due(later).map(|e| e.1), Some(1));
        assert_eq!(timers.len(), 0);
    }
}
