//! The connection's timers: keepalive, idle and close (the opening handshake's deadline belongs to the
//! handshake). The core reads no clock: it learns the time from [`crate::Connection::handle_timeout`] and
//! says when it next needs it through [`crate::Connection::poll_timeout`].
//!
//! Traffic is noted with flags, not timestamps, so the receive and send paths take no `now` and cost a
//! store; the next `handle_timeout` stamps what the flags saw with its `now`. A deadline computed from an
//! older stamp is earlier than the true one, so a driver may wake early, never late.

use std::time::{Duration, Instant};

use crate::Config;

/// What a call to [`Timers::update`] asks the connection to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Due {
    /// Send a keepalive ping.
    pub(crate) ping: bool,
    /// The peer showed no life since the ping: fail with 1011.
    pub(crate) keepalive_failed: bool,
    /// No message either way for the idle timeout: close with 1001.
    pub(crate) idle: bool,
    /// The close handshake outlasted the close timeout: drop the transport.
    pub(crate) close_expired: bool,
    /// The peer did not answer [`crate::Connection::go_away`]'s ping within the close timeout: close
    /// with 1001 without it.
    pub(crate) go_away: bool,
}

/// What happened since the last update, as the connection saw it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    /// The peer showed life: bytes arrived from it, or it took output that had backed up.
    pub(crate) bytes: bool,
    /// A data message was received or queued for sending.
    pub(crate) message: bool,
    /// The connection is open (no close frame either way, not failed): the idle timer runs.
    pub(crate) open: bool,
    /// The close is under way: our close frame was written out, the peer's arrived, the connection
    /// failed, or the transport ended. The close timer runs from then; before, the keepalive bounds a
    /// peer that does not read what precedes our close frame.
    pub(crate) closing: bool,
}

#[derive(Debug)]
pub(crate) struct Timers {
    ping_interval: Option<Duration>,
    ping_timeout: Duration,
    idle_timeout: Option<Duration>,
    close_timeout: Duration,
    /// The latest time we were told; `None` until the first `handle_timeout` starts the clock.
    now: Option<Instant>,
    last_bytes: Option<Instant>,
    last_message: Option<Instant>,
    /// When the keepalive ping that still waits for a sign of life was sent.
    ping_sent: Option<Instant>,
    /// When the close handshake started (our close, the peer's, or a failure).
    close_started: Option<Instant>,
    /// When [`crate::Connection::go_away`] sent its ping, until the close it waits for is queued.
    go_away_started: Option<Instant>,
    close_expired: bool,
}

impl Timers {
    pub(crate) fn new(config: &Config) -> Timers {
        Timers {
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            idle_timeout: config.idle_timeout,
            close_timeout: config.close_timeout,
            now: None,
            last_bytes: None,
            last_message: None,
            ping_sent: None,
            close_started: None,
            go_away_started: None,
            close_expired: false,
        }
    }

    pub(crate) fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    pub(crate) fn close_expired(&self) -> bool {
        self.close_expired
    }

    /// Starts the wait for the pong of [`crate::Connection::go_away`]'s ping, bounded by the close
    /// timeout; also starts the clock if no update has.
    pub(crate) fn start_go_away(&mut self, now: Instant) {
        let now = self.now.map_or(now, |latest| latest.max(now));
        self.now = Some(now);
        self.go_away_started.get_or_insert(now);
    }

    /// The wait of [`Timers::start_go_away`] is over: its close is queued.
    pub(crate) fn stop_go_away(&mut self) {
        self.go_away_started = None;
    }

    /// Moves the clock to `now`, stamps what was seen, and says which timers fired. The clock never goes
    /// backwards: an earlier `now` counts as the latest one.
    pub(crate) fn update(&mut self, now: Instant, seen: Seen) -> Due {
        let now = self.now.map_or(now, |latest| latest.max(now));
        self.now = Some(now);
        // The first call starts every timer.
        if seen.bytes || self.last_bytes.is_none() {
            self.last_bytes = Some(now);
            self.ping_sent = None;
        }
        if seen.message || self.last_message.is_none() {
            self.last_message = Some(now);
        }
        let mut due = Due::default();
        if !seen.closing {
            match (self.ping_sent, self.ping_interval) {
                (Some(sent), _) if reached(now, sent, self.ping_timeout) => {
                    due.keepalive_failed = true
                }
                (None, Some(interval)) if reached(now, self.last_bytes, interval) => {
                    due.ping = true;
                    self.ping_sent = Some(now);
                }
                _ => {}
            }
        }
        if let (true, Some(idle)) = (seen.open, self.idle_timeout) {
            due.idle = !due.keepalive_failed && reached(now, self.last_message, idle);
        }
        if seen.open && reached(now, self.go_away_started, self.close_timeout) {
            self.go_away_started = None;
            due.go_away = true;
        }
        // A failure starts the close timer now; a close starts it from the first update that sees it
        // under way.
        if (seen.closing || due.keepalive_failed) && self.close_started.is_none() {
            self.close_started = Some(now);
        }
        if !self.close_expired && reached(now, self.close_started, self.close_timeout) {
            self.close_expired = true;
            due.close_expired = true;
        }
        due
    }

    /// The next time [`Timers::update`] has work, given what is known now; `None` if no timer runs.
    pub(crate) fn next_deadline(&self, seen: Seen) -> Option<Instant> {
        let now = self.now?;
        if self.close_expired {
            return None;
        }
        if seen.closing {
            // A close not yet stamped needs the clock at once.
            return match self.close_started {
                Some(started) => started.checked_add(self.close_timeout),
                None => Some(now),
            };
        }
        let keepalive = match (self.ping_sent, self.ping_interval) {
            (Some(sent), _) => sent.checked_add(self.ping_timeout),
            (None, Some(interval)) => self.last_bytes.and_then(|t| t.checked_add(interval)),
            (None, None) => None,
        };
        let idle = match (seen.open, self.idle_timeout) {
            (true, Some(idle)) => self.last_message.and_then(|t| t.checked_add(idle)),
            _ => None,
        };
        let go_away = match seen.open {
            true => self
                .go_away_started
                .and_then(|t| t.checked_add(self.close_timeout)),
            false => None,
        };
        [keepalive, idle, go_away].into_iter().flatten().min()
    }
}

/// Whether `after` has passed since `since`; a deadline past the end of `Instant`'s range never comes.
fn reached(now: Instant, since: impl Into<Option<Instant>>, after: Duration) -> bool {
    since
        .into()
        .and_then(|since| since.checked_add(after))
        .is_some_and(|deadline| now >= deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Seen = Seen {
        bytes: false,
        message: false,
        open: true,
        closing: false,
    };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn no_deadline_before_the_clock_starts() {
        let timers = Timers::new(&Config::default());
        assert_eq!(timers.next_deadline(OPEN), None);
    }

    #[test]
    fn keepalive_pings_after_the_interval_and_fails_after_the_timeout() {
        let t0 = Instant::now();
        let mut timers = Timers::new(&Config::default());
        assert_eq!(timers.update(t0, OPEN), Due::default());
        assert_eq!(timers.next_deadline(OPEN), Some(t0 + secs(20)));
        let due = timers.update(t0 + secs(20), OPEN);
        assert!(due.ping && !due.keepalive_failed);
        assert_eq!(timers.next_deadline(OPEN), Some(t0 + secs(40)));
        assert_eq!(timers.update(t0 + secs(39), OPEN), Due::default());
        let due = timers.update(t0 + secs(40), OPEN);
        assert!(due.keepalive_failed && !due.ping);
    }

    #[test]
    fn any_bytes_answer_the_keepalive_ping() {
        let t0 = Instant::now();
        let mut timers = Timers::new(&Config::default());
        timers.update(t0, OPEN);
        assert!(timers.update(t0 + secs(20), OPEN).ping);
        let seen = Seen {
            bytes: true,
            ..OPEN
        };
        assert_eq!(timers.update(t0 + secs(25), seen), Due::default());
        assert_eq!(timers.next_deadline(OPEN), Some(t0 + secs(45)));
    }

    #[test]
    fn idle_timeout_counts_messages_not_pings() {
        let t0 = Instant::now();
        let config = Config::default().idle_timeout(Some(secs(30)));
        let mut timers = Timers::new(&config);
        timers.update(t0, OPEN);
        let bytes = Seen {
            bytes: true,
            ..OPEN
        };
        assert!(!timers.update(t0 + secs(29), bytes).idle);
        assert!(timers.update(t0 + secs(30), bytes).idle);
    }

    #[test]
    fn a_message_restarts_the_idle_timeout() {
        let t0 = Instant::now();
        let config = Config::default()
            .idle_timeout(Some(secs(30)))
            .ping_interval(None);
        let mut timers = Timers::new(&config);
        timers.update(t0, OPEN);
        let message = Seen {
            message: true,
            ..OPEN
        };
        timers.update(t0 + secs(10), message);
        assert_eq!(timers.next_deadline(OPEN), Some(t0 + secs(40)));
        assert!(!timers.update(t0 + secs(39), OPEN).idle);
        assert!(timers.update(t0 + secs(40), OPEN).idle);
    }

    #[test]
    fn close_timeout_runs_from_the_first_update_that_sees_the_close() {
        let t0 = Instant::now();
        let mut timers = Timers::new(&Config::default());
        timers.update(t0, OPEN);
        let closing = Seen {
            open: false,
            closing: true,
            ..OPEN
        };
        assert_eq!(
            timers.next_deadline(closing),
            Some(t0),
            "the close needs a stamp"
        );
        timers.update(t0 + secs(1), closing);
        assert_eq!(timers.next_deadline(closing), Some(t0 + secs(11)));
        assert!(!timers.update(t0 + secs(10), closing).close_expired);
        assert!(timers.update(t0 + secs(11), closing).close_expired);
        assert_eq!(timers.next_deadline(closing), None);
        assert!(
            !timers.update(t0 + secs(12), closing).close_expired,
            "fires once"
        );
    }

    #[test]
    fn keepalive_off_and_no_idle_means_no_deadline_while_open() {
        let mut timers = Timers::new(&Config::default().ping_interval(None));
        timers.update(Instant::now(), OPEN);
        assert_eq!(timers.next_deadline(OPEN), None);
    }

    #[test]
    fn a_timeout_too_large_for_instant_never_fires_and_never_panics() {
        let t0 = Instant::now();
        let config = Config::default()
            .ping_interval(Some(Duration::MAX))
            .idle_timeout(Some(Duration::MAX))
            .close_timeout(Duration::MAX);
        let mut timers = Timers::new(&config);
        assert_eq!(timers.update(t0, OPEN), Due::default());
        assert_eq!(timers.next_deadline(OPEN), None);
        let closing = Seen {
            open: false,
            closing: true,
            ..OPEN
        };
        assert_eq!(timers.update(t0 + secs(1), closing), Due::default());
        assert_eq!(timers.next_deadline(closing), None);
    }

    #[test]
    fn go_away_gives_up_on_its_pong_after_the_close_timeout_once() {
        let t0 = Instant::now();
        let config = Config::default().ping_interval(None);
        let mut timers = Timers::new(&config);
        timers.start_go_away(t0);
        assert_eq!(timers.next_deadline(OPEN), Some(t0 + secs(10)));
        assert!(!timers.update(t0 + secs(9), OPEN).go_away);
        assert!(timers.update(t0 + secs(10), OPEN).go_away);
        assert_eq!(timers.next_deadline(OPEN), None);
        assert!(!timers.update(t0 + secs(11), OPEN).go_away, "fires once");
    }

    #[test]
    fn go_away_stops_waiting_once_its_close_is_queued() {
        let t0 = Instant::now();
        let mut timers = Timers::new(&Config::default().ping_interval(None));
        timers.update(t0, OPEN);
        timers.start_go_away(t0 + secs(1));
        timers.stop_go_away();
        assert_eq!(timers.next_deadline(OPEN), None);
        assert!(!timers.update(t0 + secs(20), OPEN).go_away);
    }

    #[test]
    fn the_clock_never_goes_backwards() {
        let t0 = Instant::now();
        let mut timers = Timers::new(&Config::default());
        timers.update(t0 + secs(5), OPEN);
        timers.update(t0, OPEN);
        assert_eq!(timers.next_deadline(OPEN), Some(t0 + secs(25)));
    }
}
