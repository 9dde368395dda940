//! Deduplication by delivery id: an atomic claim, run only after verification succeeds, so
//! a forged request can never burn an id.
//!
//! ```
//! use std::time::Duration;
//! use webhook_core::dedup::{Claim, DedupStore, MemoryDedup};
//!
//! # tokio_test_block_on(async {
//! let store = MemoryDedup::new(10_000, Duration::from_secs(7 * 24 * 3600));
//! assert_eq!(store.claim("github:72d3162e").await.unwrap(), Claim::New);
//! assert_eq!(store.claim("github:72d3162e").await.unwrap(), Claim::InFlight);
//! store.complete("github:72d3162e").await.unwrap();
//! assert_eq!(store.claim("github:72d3162e").await.unwrap(), Claim::Duplicate);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::hash_map::{Entry, HashMap};
use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Claim {
    /// First sight of this id: the caller owns it and must `complete` or `release` it.
    New,
    /// Seen and completed within the TTL: answer "duplicate" and do nothing.
    Duplicate,
    /// Claimed by a request still being handled (not yet completed): not acknowledged yet,
    /// so the sender should retry rather than be told it is a duplicate.
    InFlight,
}

/// A store (dedup, event store, broker) could not do what was asked.
///
/// Its kind says what the caller should do: [`is_unavailable`](Self::is_unavailable) (the
/// store cannot be reached, is full or timed out: answer 503 so the provider retries, and
/// it recovers by itself), [`is_misconfigured`](Self::is_misconfigured) (a bad URL, a
/// missing database, refused credentials, a failed migration: fix the configuration; a
/// receiver stops at startup naming the setting), or [`is_constraint`](Self::is_constraint)
/// (the store refused the data itself).
///
/// ```
/// use webhook_core::dedup::StoreError;
///
/// let down = StoreError::unavailable("connection refused", None);
/// assert!(down.is_unavailable() && !down.is_misconfigured());
/// assert_eq!(down.to_string(), "store unavailable: connection refused");
/// let bad = StoreError::misconfigured("database \"events\" does not exist", None);
/// assert!(bad.is_misconfigured());
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", kind.describe())]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreErrorKind {
    Unavailable,
    Misconfigured,
    Constraint,
}

impl StoreErrorKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Unavailable => "store unavailable",
            Self::Misconfigured => "store misconfigured",
            Self::Constraint => "store refused the data",
        }
    }
}

/// A boxed cause of a [`StoreError`].
pub type StoreErrorSource = Option<Box<dyn std::error::Error + Send + Sync>>;

impl StoreError {
    /// The store cannot be reached, is full, or did not answer in time: retry later.
    pub fn unavailable(message: impl Into<String>, source: StoreErrorSource) -> Self {
        Self { kind: StoreErrorKind::Unavailable, message: message.into(), source }
    }

    /// The store's configuration is wrong (URL, credentials, missing database, failed
    /// migration): retrying will not help.
    pub fn misconfigured(message: impl Into<String>, source: StoreErrorSource) -> Self {
        Self { kind: StoreErrorKind::Misconfigured, message: message.into(), source }
    }

    /// The store refused the data itself (a constraint, a statement the schema rejects).
    pub fn constraint(message: impl Into<String>, source: StoreErrorSource) -> Self {
        Self { kind: StoreErrorKind::Constraint, message: message.into(), source }
    }

    /// [`unavailable`](Self::unavailable): the common case, kept under its old name.
    pub fn new(message: impl Into<String>, source: StoreErrorSource) -> Self {
        Self::unavailable(message, source)
    }

    /// The store cannot be reached now; the request may succeed later (answered 503).
    pub fn is_unavailable(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }

    /// The store is misconfigured; fix the setting.
    pub fn is_misconfigured(&self) -> bool {
        self.kind == StoreErrorKind::Misconfigured
    }

    /// The store refused the data.
    pub fn is_constraint(&self) -> bool {
        self.kind == StoreErrorKind::Constraint
    }

    /// The same error (kind and message) without its source, for answering several
    /// callers that one failure failed.
    pub fn detached(&self) -> Self {
        Self { kind: self.kind, message: self.message.clone(), source: None }
    }

    /// The message, without the kind's prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Remembers delivery ids. Implementations make `claim` atomic: of many concurrent claims
/// of one key, exactly one sees [`Claim::New`].
#[async_trait]
pub trait DedupStore: Send + Sync {
    /// Claims `key`. A claimed key that is neither completed nor released within the
    /// store's in-flight lease becomes claimable again (the claimer crashed).
    async fn claim(&self, key: &str) -> Result<Claim, StoreError>;

    /// Marks a claimed key as done: later claims are [`Claim::Duplicate`] until the TTL ends.
    async fn complete(&self, key: &str) -> Result<(), StoreError>;

    /// Forgets a claimed key after a failure, so the provider's retry can succeed.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

#[derive(Clone, Copy)]
struct Slot {
    done: bool,
    expires: Instant,
    /// Generation, to skip queue entries of a key that was removed and claimed again.
    generation: u64,
}

struct Shard {
    map: HashMap<Box<str>, Slot>,
    /// Keys in claim order with the generation they were claimed under: expiry and
    /// eviction pop from the front, so nothing ever scans the whole map.
    order: VecDeque<(Box<str>, u64)>,
}

/// An in-memory [`DedupStore`] for one process: sharded, so there is no global lock, and
/// sized up front, so no map ever resizes while requests wait (a growing
/// `Mutex<HashSet>` was measured stalling 60–300 ms).
///
/// Bounded by `capacity` and a TTL (7 days is what providers' redelivery windows call
/// for). When a shard is full, expired ids go first, then the oldest: that eviction is
/// counted ([`MemoryDedup::evictions`]) because it weakens the guarantee for that id.
pub struct MemoryDedup {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    ttl: Duration,
    lease: Duration,
    hasher: RandomState,
    generation: AtomicU64,
    evictions: AtomicU64,
}

impl MemoryDedup {
    /// Default TTL: 7 days.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
    /// Default in-flight lease: 60 s, longer than any provider waits for an answer.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

    /// A store for at most `capacity` ids (rounded up to a multiple of the shard count),
    /// each remembered for `ttl` after completion.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let shards = std::thread::available_parallelism().map_or(8, |n| n.get() * 16).next_power_of_two();
        let per_shard = capacity.div_ceil(shards).max(1);
        Self {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::with_capacity(per_shard),
                        order: VecDeque::with_capacity(per_shard),
                    })
                })
                .collect(),
            per_shard,
            ttl,
            lease: Self::DEFAULT_LEASE,
            hasher: RandomState::new(),
            generation: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// How long a claim may stay in flight before another request may claim the key.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How many unexpired ids were evicted because a shard was full.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// How many ids are held now (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let h = self.hasher.hash_one(key) as usize;
        &self.shards[h & (self.shards.len() - 1)]
    }

    /// The claim, synchronously (the lock is never held across an await).
    pub fn claim_now(&self, key: &str, now: Instant) -> Claim {
        let mut shard = lock(self.shard(key));
        let shard = &mut *shard;
        if let Some(slot) = shard.map.get(key) {
            if slot.expires > now {
                return if slot.done { Claim::Duplicate } else { Claim::InFlight };
            }
        }
        // Sweep what has expired at the front, then make room if still full.
        while let Some((k, gen)) = shard.order.front() {
            match shard.map.get(&**k) {
                Some(s) if s.generation == *gen && s.expires > now && shard.map.len() < self.per_shard => break,
                Some(s) if s.generation == *gen => {
                    if s.expires > now {
                        self.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                    let (k, _) = shard.order.pop_front().expect("front exists");
                    shard.map.remove(&k);
                }
                _ => {
                    shard.order.pop_front();
                }
            }
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let slot = Slot { done: false, expires: now + self.lease, generation };
        match shard.map.entry(key.into()) {
            Entry::Occupied(mut e) => {
                e.insert(slot);
            }
            Entry::Vacant(e) => {
                e.insert(slot);
            }
        }
        shard.order.push_back((key.into(), generation));
        Claim::New
    }

    /// Marks `key` done, synchronously.
    pub fn complete_now(&self, key: &str, now: Instant) {
        if let Some(slot) = lock(self.shard(key)).map.get_mut(key) {
            slot.done = true;
            slot.expires = now + self.ttl;
        }
    }

    /// Forgets `key`, synchronously.
    pub fn release_now(&self, key: &str) {
        lock(self.shard(key)).map.remove(key);
    }
}

impl std::fmt::Debug for MemoryDedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDedup")
            .field("shards", &self.shards.len())
            .field("capacity", &(self.per_shard * self.shards.len()))
            .field("ttl", &self.ttl)
            .field("lease", &self.lease)
            .finish()
    }
}

fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    // A panic while holding a shard lock cannot leave a shard half-updated in a way that
    // matters (every update is a single map operation), so poisoning is ignored.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl DedupStore for MemoryDedup {
    async fn claim(&self, key: &str) -> Result<Claim, StoreError> {
        Ok(self.claim_now(key, Instant::now()))
    }
    async fn complete(&self, key: &str) -> Result<(), StoreError> {
        self.complete_now(key, Instant::now());
        Ok(())
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.release_now(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lifecycle_and_expiry() {
        let d = MemoryDedup::new(100, Duration::from_secs(10)).with_lease(Duration::from_secs(2));
        let t0 = Instant::now();
        assert_eq!(d.claim_now("a", t0), Claim::New);
        assert_eq!(d.claim_now("a", t0), Claim::InFlight);
        // A crashed claimer's lease runs out.
        assert_eq!(d.claim_now("a", t0 + Duration::from_secs(3)), Claim::New);
        d.complete_now("a", t0 + Duration::from_secs(3));
        assert_eq!(d.claim_now("a", t0 + Duration::from_secs(12)), Claim::Duplicate);
        assert_eq!(d.claim_now("a", t0 + Duration::from_secs(14)), Claim::New);
        d.release_now("a");
        assert_eq!(d.claim_now("a", t0 + Duration::from_secs(14)), Claim::New);
    }

    #[test]
    fn bounded_with_counted_evictions() {
        let d = MemoryDedup::new(1, Duration::from_secs(3600));
        let t0 = Instant::now();
        for i in 0..10_000 {
            let k = i.to_string();
            assert_eq!(d.claim_now(&k, t0), Claim::New);
            d.complete_now(&k, t0);
        }
        let cap = d.per_shard * d.shards.len();
        assert!(d.len() <= cap, "{} > {cap}", d.len());
        assert_eq!(d.evictions(), 10_000 - d.len() as u64);
        // Each shard's map kept the capacity it was given: it never grew.
        assert!(d.shards.iter().all(|s| lock(s).map.capacity() >= d.per_shard));
    }

    #[test]
    fn concurrent_claims_have_one_winner() {
        let d = Arc::new(MemoryDedup::new(1000, Duration::from_secs(60)));
        let winners: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..64)
                .map(|_| {
                    let d = Arc::clone(&d);
                    s.spawn(move || d.claim_now("same", Instant::now()) == Claim::New)
                })
                .collect();
            handles.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
        });
        assert_eq!(winners, 1);
    }
}
