//! How long a client may take, and how many connections a server holds: the policy an
//! open-internet webhook endpoint needs against slow clients, idle connections and
//! connection floods. Plain data: the adapters apply the body limits while reading a
//! body, the servers (the example receivers, or yours) apply the rest.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use webhook_core::limits::ConnectionLimits;
//!
//! let limits = ConnectionLimits::default()
//!     .header_timeout(Duration::from_secs(5))
//!     .max_connections(512);
//! assert_eq!(limits.body_timeout, Duration::from_secs(30));
//!
//! // A body that has sent nothing may wait out the grace period; after that it must keep
//! // up with the minimum rate, and it never gets more than the body timeout.
//! let start = Instant::now();
//! assert_eq!(limits.body_deadline(start, 0), start + limits.body_rate_grace);
//! assert_eq!(limits.body_deadline(start, 100_000_000), start + limits.body_timeout);
//! ```

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Time and connection limits for a webhook server. Build it from [`Default`] and the
/// setters; every field is public to read.
///
/// | field | default |
/// |---|---|
/// | [`header_timeout`](Self::header_timeout) | 10 s |
/// | [`body_timeout`](Self::body_timeout) | 30 s for the whole body |
/// | [`min_body_rate`](Self::min_body_rate) | 1024 bytes/s, after [`body_rate_grace`](Self::body_rate_grace) of 2 s |
/// | [`idle_timeout`](Self::idle_timeout) | 60 s |
/// | [`max_connections`](Self::max_connections) | from the soft `RLIMIT_NOFILE`: see [`default_max_connections`] |
/// | [`max_connections_per_client`](Self::max_connections_per_client) | none |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// From the connection's first byte (or from the end of the previous response, once
    /// a byte of the next request arrives) to the end of the request's headers; past it
    /// the connection is closed.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body; past it the request is answered
    /// 408 and nothing is verified, claimed or stored.
    pub body_timeout: Duration,
    /// The slowest body accepted, in bytes per second, once the grace period is over:
    /// after `grace + n / rate` the body must have sent more than `n` bytes. 0: no rate,
    /// only the body timeout.
    pub min_body_rate: u32,
    /// How long a body may send nothing at all before the rate applies.
    pub body_rate_grace: Duration,
    /// How long a kept-alive connection may sit between requests before it is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; past it, new connections wait in the listen backlog
    /// while the ones in flight are served.
    pub max_connections: usize,
    /// Connections one client address may hold at once; past it, its new connections are
    /// closed as soon as they are accepted, so one address cannot take every slot. The
    /// address is the connection's peer: a server behind proxies exempts them (their
    /// clients are known only from the headers). `None`: no such cap.
    pub max_connections_per_client: Option<usize>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            body_rate_grace: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
            max_connections_per_client: None,
        }
    }
}

impl ConnectionLimits {
    /// Sets [`header_timeout`](Self::header_timeout).
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Sets [`body_timeout`](Self::body_timeout).
    #[must_use]
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Sets [`min_body_rate`](Self::min_body_rate) (bytes per second; 0 turns it off) and
    /// its [`body_rate_grace`](Self::body_rate_grace).
    #[must_use]
    pub fn min_body_rate(mut self, bytes_per_sec: u32, grace: Duration) -> Self {
        self.min_body_rate = bytes_per_sec;
        self.body_rate_grace = grace;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](Self::max_connections) (at least 1).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets [`max_connections_per_client`](Self::max_connections_per_client) (`Some(0)`
    /// counts as 1).
    #[must_use]
    pub fn max_connections_per_client(mut self, n: Option<usize>) -> Self {
        self.max_connections_per_client = n.map(|n| n.max(1));
        self
    }

    /// When the next piece of a body must have arrived, for a body whose headers ended at
    /// `started` and which has sent `received` bytes so far: the earlier of
    /// `started + body_timeout` and, with a minimum rate,
    /// `started + body_rate_grace + received / min_body_rate`. An adapter waits for the
    /// next chunk until then, and answers 408 ([`Outcome::TimedOut`]) when it passes.
    ///
    /// [`Outcome::TimedOut`]: crate::receive::Outcome::TimedOut
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use webhook_core::limits::ConnectionLimits;
    ///
    /// let limits = ConnectionLimits::default().min_body_rate(100, Duration::from_secs(1));
    /// let start = Instant::now();
    /// // 50 bytes at 100 bytes/s earn half a second beyond the grace.
    /// assert_eq!(limits.body_deadline(start, 50), start + Duration::from_millis(1500));
    /// ```
    pub fn body_deadline(&self, started: Instant, received: u64) -> Instant {
        let whole = started + self.body_timeout;
        if self.min_body_rate == 0 {
            return whole;
        }
        let earned = Duration::from_secs_f64(received as f64 / f64::from(self.min_body_rate));
        match self.body_rate_grace.checked_add(earned).and_then(|d| started.checked_add(d)) {
            Some(paced) => paced.min(whole),
            None => whole,
        }
    }
}

/// The connection cap for a soft descriptor limit of `soft`: three quarters of it, so a
/// quarter (at least 64) stays for the stores, logs and the listener itself; at least 16.
///
/// ```
/// use webhook_core::limits::max_connections_for;
/// assert_eq!(max_connections_for(1024), 768);
/// assert_eq!(max_connections_for(20_000), 15_000);
/// assert_eq!(max_connections_for(100), 36);
/// assert_eq!(max_connections_for(10), 16);
/// ```
pub fn max_connections_for(soft: u64) -> usize {
    let headroom = (soft / 4).max(64);
    usize::try_from(soft.saturating_sub(headroom)).unwrap_or(usize::MAX).max(16)
}

/// The soft descriptor limit assumed where it cannot be read (not Linux, or no `/proc`).
pub const FALLBACK_NOFILE: u64 = 1024;

/// The default [`max_connections`](ConnectionLimits::max_connections):
/// [`max_connections_for`] the process's soft `RLIMIT_NOFILE`, read once from
/// `/proc/self/limits` on Linux ([`FALLBACK_NOFILE`] elsewhere, or when unlimited or
/// unreadable).
pub fn default_max_connections() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        let soft = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|text| soft_nofile(&text))
            .unwrap_or(FALLBACK_NOFILE);
        max_connections_for(soft)
    })
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text.
fn soft_nofile(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_limit_from_proc_self_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            20000                524288               files     \n";
        assert_eq!(soft_nofile(text), Some(20_000));
        assert_eq!(soft_nofile("Max open files            unlimited   unlimited  files"), None);
        assert_eq!(soft_nofile(""), None);
        assert!(default_max_connections() >= 16);
    }

    #[test]
    fn the_body_deadline_keeps_pace_and_never_passes_the_timeout() {
        let l = ConnectionLimits::default();
        let t = Instant::now();
        assert_eq!(l.body_deadline(t, 0), t + Duration::from_secs(2));
        assert_eq!(l.body_deadline(t, 1024), t + Duration::from_secs(3));
        assert_eq!(l.body_deadline(t, 1 << 30), t + Duration::from_secs(30));
        let unpaced = l.min_body_rate(0, Duration::ZERO);
        assert_eq!(unpaced.body_deadline(t, 0), t + Duration::from_secs(30));
        assert_eq!(ConnectionLimits::default().max_connections(0).max_connections, 1);
        assert_eq!(ConnectionLimits::default().max_connections_per_client, None);
        assert_eq!(ConnectionLimits::default().max_connections_per_client(Some(0)).max_connections_per_client, Some(1));
    }
}
