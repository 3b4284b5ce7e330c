//! [`Windows`]: one fixed window per key — the arithmetic behind every bucket. Pure:
//! the caller passes `now`, so the rules are tested with an injected clock.
//!
//! A window opens at the first request of a key and lasts the quota's window; it
//! counts up to `limit` requests and refuses the rest until it ends. The next request
//! after that opens a new window with the whole `limit` again. That is Discord's
//! model: `X-RateLimit-Remaining` counts down within a window and returns to
//! `X-RateLimit-Limit` at `X-RateLimit-Reset`.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::settings::Quota;

/// How often ended windows are dropped. An ended window and no window answer alike,
/// so dropping one is invisible to clients; between sweeps the map holds at most the
/// windows opened within the longest quota window plus this interval.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// A bucket's state after a request: what its headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Requests the window allows.
    pub limit: u32,
    /// Requests it still allows.
    pub remaining: u32,
    /// Time until it ends and the whole `limit` is available again.
    pub reset_after: Duration,
}

/// Whether a request may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Counted; the window's state after it.
    Allowed(Status),
    /// Refused (and not counted): the window is spent until `reset_after`.
    Limited(Status),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    used: u32,
    ends_at: Instant,
}

/// The open windows of every key.
#[derive(Debug)]
pub struct Windows<K> {
    open: HashMap<K, Window>,
    next_sweep: Instant,
}

impl<K: Hash + Eq> Windows<K> {
    /// No windows yet; the first sweep is due [`SWEEP_INTERVAL`] after `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            open: HashMap::new(),
            next_sweep: now + SWEEP_INTERVAL,
        }
    }

    /// Counts one request of `key` under `quota` at `now`, or refuses it.
    ///
    /// A key must always be used with the same quota (the limiter derives the quota
    /// from the key's route).
    pub fn acquire(&mut self, key: K, quota: Quota, now: Instant) -> Decision {
        self.sweep(now);
        let fresh = Window {
            used: 0,
            ends_at: now + quota.window(),
        };
        let window = self.open.entry(key).or_insert(fresh);
        if now >= window.ends_at {
            *window = fresh;
        }
        let limit = quota.limit.get();
        let reset_after = window.ends_at.saturating_duration_since(now);
        if window.used < limit {
            window.used += 1;
            Decision::Allowed(Status {
                limit,
                remaining: limit - window.used,
                reset_after,
            })
        } else {
            Decision::Limited(Status {
                limit,
                remaining: 0,
                reset_after,
            })
        }
    }

    /// How many windows are held (ended ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no window is held.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Drops ended windows when a sweep is due: one pass over the map at most every
    /// [`SWEEP_INTERVAL`], so the cost per request stays constant on average.
    fn sweep(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.open.retain(|_, window| window.ends_at > now);
        self.next_sweep = now + SWEEP_INTERVAL;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Decision, SWEEP_INTERVAL, Status, Windows};
    use crate::rate_limit::Quota;

    const FIVE_PER_5S: Quota = Quota::new(5, 5_000);

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn allowed(remaining: u32, reset_after: Duration) -> Decision {
        Decision::Allowed(Status {
            limit: 5,
            remaining,
            reset_after,
        })
    }

    fn limited(reset_after: Duration) -> Decision {
        Decision::Limited(Status {
            limit: 5,
            remaining: 0,
            reset_after,
        })
    }

    #[test]
    fn a_window_allows_its_limit_counting_down_then_refuses_until_it_ends() {
        let t0 = Instant::now();
        let mut windows = Windows::new(t0);
        assert_eq!(windows.acquire("a", FIVE_PER_5S, t0), allowed(4, ms(5_000)));
        assert_eq!(
            windows.acquire("a", FIVE_PER_5S, t0 + ms(1_000)),
            allowed(3, ms(4_000))
        );
        for remaining in [2, 1, 0] {
            assert_eq!(
                windows.acquire("a", FIVE_PER_5S, t0 + ms(1_500)),
                allowed(remaining, ms(3_500))
            );
        }
        assert_eq!(
            windows.acquire("a", FIVE_PER_5S, t0 + ms(1_500)),
            limited(ms(3_500))
        );
        assert_eq!(
            windows.acquire("a", FIVE_PER_5S, t0 + ms(4_999)),
            limited(ms(1))
        );
    }

    #[test]
    fn refused_requests_do_not_extend_the_window() {
        let t0 = Instant::now();
        let mut windows = Windows::new(t0);
        for _ in 0..5 {
            windows.acquire("a", FIVE_PER_5S, t0);
        }
        for step in 1..50 {
            windows.acquire("a", FIVE_PER_5S, t0 + ms(step * 100));
        }
        assert_eq!(
            windows.acquire("a", FIVE_PER_5S, t0 + ms(5_000)),
            allowed(4, ms(5_000))
        );
    }

    #[test]
    fn the_first_request_after_the_end_opens_a_whole_new_window() {
        let t0 = Instant::now();
        let mut windows = Windows::new(t0);
        for _ in 0..5 {
            windows.acquire("a", FIVE_PER_5S, t0);
        }
        // Long after the end: the new window starts now, not at t0 + 5 s.
        let later = t0 + ms(7_250);
        assert_eq!(
            windows.acquire("a", FIVE_PER_5S, later),
            allowed(4, ms(5_000))
        );
        assert_eq!(
            windows.acquire("a", FIVE_PER_5S, later + ms(4_000)),
            allowed(3, ms(1_000))
        );
    }

    #[test]
    fn keys_count_apart() {
        let t0 = Instant::now();
        let mut windows = Windows::new(t0);
        for _ in 0..5 {
            windows.acquire("a", FIVE_PER_5S, t0);
        }
        assert_eq!(windows.acquire("a", FIVE_PER_5S, t0), limited(ms(5_000)));
        assert_eq!(windows.acquire("b", FIVE_PER_5S, t0), allowed(4, ms(5_000)));
    }

    #[test]
    fn ended_windows_are_dropped_at_the_next_sweep_and_open_ones_kept() {
        let t0 = Instant::now();
        let mut windows = Windows::new(t0);
        for key in 0..1_000 {
            windows.acquire(key, Quota::new(1, 1_000), t0);
        }
        windows.acquire(-1, Quota::new(1, 60_000), t0);
        assert_eq!(windows.len(), 1_001);
        // Before the sweep is due nothing is dropped, even ended windows.
        windows.acquire(-2, Quota::new(1, 1_000), t0 + ms(2_000));
        assert_eq!(windows.len(), 1_002);
        windows.acquire(-2, Quota::new(1, 1_000), t0 + SWEEP_INTERVAL);
        // The long window and the key just counted remain.
        assert_eq!(windows.len(), 2);
        assert_eq!(
            windows.acquire(-1, Quota::new(1, 60_000), t0 + SWEEP_INTERVAL),
            Decision::Limited(Status {
                limit: 1,
                remaining: 0,
                reset_after: ms(50_000),
            })
        );
    }
}
