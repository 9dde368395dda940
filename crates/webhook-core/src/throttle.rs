//! At most one log line per interval for a warning that can repeat with every request (a
//! store that is down answers each of thousands of requests a second with the same 503):
//! the next line says how many were left out. The metrics still count every one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a repeated warning is logged at most.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// One repeated warning's state.
#[derive(Debug)]
pub(crate) struct Throttle {
    start: Instant,
    /// When the next line may be written, in ms since `start`.
    next: AtomicU64,
    /// Occurrences not logged since the last line.
    left_out: AtomicU64,
}

impl Throttle {
    pub(crate) fn new() -> Self {
        Self { start: Instant::now(), next: AtomicU64::new(0), left_out: AtomicU64::new(0) }
    }

    /// `Some(n)` when this occurrence is to be logged, `n` being how many were left out
    /// since the last line; `None` when it is counted instead.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.allow_at(now, LOG_INTERVAL)
    }

    fn allow_at(&self, now_ms: u64, interval: Duration) -> Option<u64> {
        let next = self.next.load(Ordering::Relaxed);
        let until = now_ms.saturating_add(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX));
        if now_ms >= next && self.next.compare_exchange(next, until, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            Some(self.left_out.swap(0, Ordering::Relaxed))
        } else {
            self.left_out.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_the_next_says_how_many_were_left_out() {
        let t = Throttle::new();
        let second = Duration::from_secs(1);
        assert_eq!(t.allow_at(0, second), Some(0), "the first is logged");
        assert_eq!(t.allow_at(10, second), None);
        assert_eq!(t.allow_at(999, second), None);
        assert_eq!(t.allow_at(1000, second), Some(2), "a second later, with the two left out");
        assert_eq!(t.allow_at(1500, second), None);
        assert_eq!(t.allow_at(5000, second), Some(1));
        assert_eq!(t.allow_at(5001, second), None);
    }

    #[test]
    fn threads_racing_log_once_and_count_the_rest() {
        let t = std::sync::Arc::new(Throttle::new());
        let logged: u64 = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..1000).filter(|_| t.allow_at(7, Duration::from_secs(60)).is_some()).count()
                })
            })
            .map(|h| h.join().unwrap() as u64)
            .sum();
        assert_eq!(logged, 1);
        assert_eq!(t.allow_at(60_007, Duration::from_secs(60)), Some(3999));
    }
}
