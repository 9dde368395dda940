//! A dedup store on Redis.
//!
//! One string per delivery id, `{prefix}{key}`: `"inflight"` with the lease as its expiry
//! while claimed, `"done"` with the TTL as its expiry once completed. Redis expires both,
//! so a crashed claimer's key and an old completion become claimable again on their own.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use webhook_core::dedup::{Claim, DedupStore, MemoryDedup, StoreError};

/// How long `connect` waits for the server, per attempt, and how long a command waits for
/// its answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Connection attempts after the first one, in `connect` and on each reconnection.
const RETRIES: usize = 2;

/// The longest wait between two connection attempts, in ms. Without a cap, the
/// `redis` crate's backoff waits a minute or more between attempts.
const MAX_RETRY_DELAY_MS: u64 = 1_000;

/// Expiries are capped here (about 31,700 years): Redis rejects one that overflows.
const MAX_PX: u64 = 1_000_000_000_000_000;

/// The claim, classified atomically on the server: `SET NX` wins (0), or the existing
/// value tells a completed key (1) from one in flight (2).
const CLAIM_LUA: &str = r"
if redis.call('SET', KEYS[1], 'inflight', 'NX', 'PX', ARGV[1]) then
    return 0
end
if redis.call('GET', KEYS[1]) == 'done' then
    return 1
end
return 2
";

/// A [`DedupStore`] on Redis: shared by several receiver instances, with no table to
/// migrate or purge.
///
/// A claim is one Lua script (`SET key "inflight" NX PX lease`, then `GET` if the key
/// exists), so it is atomic and classified in one round trip; `complete` is
/// `SET key "done" PX ttl`, `release` is `DEL key`. Keys are namespaced by a prefix
/// (default [`RedisDedup::DEFAULT_PREFIX`]).
///
/// Cloning is cheap: clones share one multiplexed connection, which reconnects on its own.
///
/// ```no_run
/// use std::time::Duration;
/// use webhook_core::dedup::{Claim, DedupStore, MemoryDedup};
/// use webhook_pipeline::RedisDedup;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisDedup::connect("redis://127.0.0.1:6379", MemoryDedup::DEFAULT_TTL)
///     .await?
///     .with_lease(Duration::from_secs(30))
///     .with_prefix("shop-a:webhook:dedup:");
/// if store.claim("github:72d3162e").await? == Claim::New {
///     // ... store or handle the delivery, then:
///     store.complete("github:72d3162e").await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisDedup {
    conn: ConnectionManager,
    prefix: Arc<str>,
    ttl: Duration,
    lease: Duration,
    claim: Arc<Script>,
}

impl RedisDedup {
    /// The default key namespace.
    pub const DEFAULT_PREFIX: &'static str = "webhook:dedup:";

    /// A store on `conn`, remembering completed ids for `ttl` (see
    /// [`MemoryDedup::DEFAULT_TTL`]), with the default in-flight lease
    /// ([`MemoryDedup::DEFAULT_LEASE`]) and prefix ([`RedisDedup::DEFAULT_PREFIX`]).
    ///
    /// Give `conn` a response timeout (`ConnectionManagerConfig::set_response_timeout`),
    /// so a stalled server makes claims fail rather than hang.
    pub fn new(conn: ConnectionManager, ttl: Duration) -> Self {
        Self {
            conn,
            prefix: Self::DEFAULT_PREFIX.into(),
            ttl,
            lease: MemoryDedup::DEFAULT_LEASE,
            claim: Arc::new(Script::new(CLAIM_LUA)),
        }
    }

    /// Connects to the Redis server at `url` (`redis://host:port/db`, `rediss://` for
    /// TLS if the `redis` crate was built with it) with a 3 s connection and response
    /// timeout, and returns a store on it.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the URL is invalid or the server cannot be reached (after
    /// two more attempts, a second apart: within about 11 s).
    pub async fn connect(url: &str, ttl: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| error("parsing the URL", e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(RETRIES)
            .set_max_delay(MAX_RETRY_DELAY_MS);
        let conn = ConnectionManager::new_with_config(client, config).await.map_err(|e| error("connect", e))?;
        Ok(Self::new(conn, ttl))
    }

    /// How long a claim may stay in flight before another request may claim the key.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The key namespace: the id `github:72d3162e` is stored as `{prefix}github:72d3162e`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().into();
        self
    }

    fn key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
    }
}

impl std::fmt::Debug for RedisDedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDedup")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// An expiry in whole milliseconds, at least 1 (Redis rejects `PX 0`).
fn px(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(MAX_PX).clamp(1, MAX_PX)
}

fn error(what: &str, source: redis::RedisError) -> StoreError {
    let message = format!("redis: {what} failed");
    if matches!(source.kind(), redis::ErrorKind::InvalidClientConfig | redis::ErrorKind::AuthenticationFailed) {
        StoreError::misconfigured(message, Some(Box::new(source)))
    } else {
        StoreError::unavailable(message, Some(Box::new(source)))
    }
}

#[async_trait]
impl DedupStore for RedisDedup {
    async fn claim(&self, key: &str) -> Result<Claim, StoreError> {
        let found: i64 = self
            .claim
            .key(self.key(key))
            .arg(px(self.lease))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| error("claim", e))?;
        Ok(match found {
            0 => Claim::New,
            1 => Claim::Duplicate,
            _ => Claim::InFlight,
        })
    }

    async fn complete(&self, key: &str) -> Result<(), StoreError> {
        redis::cmd("SET")
            .arg(self.key(key))
            .arg("done")
            .arg("PX")
            .arg(px(self.ttl))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|e| error("complete", e))
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|e| error("release", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// A key prefix no other test (in this process or another) uses.
    fn unique_prefix() -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        format!("webhook:dedup:test:{}:{}:{}:", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
    }

    async fn store(test: &str, ttl: Duration, lease: Duration) -> Option<RedisDedup> {
        let url = crate::testing::service_url("WEBHOOK_TEST_REDIS_URL", test)?;
        let store = RedisDedup::connect(&url, ttl).await.unwrap().with_lease(lease).with_prefix(unique_prefix());
        Some(store)
    }

    async fn get(store: &RedisDedup, key: &str) -> Option<String> {
        redis::cmd("GET").arg(store.key(key)).query_async(&mut store.conn.clone()).await.unwrap()
    }

    /// The key's remaining time to live in ms (`PTTL`: -2 when there is no key, -1 when it
    /// never expires).
    async fn pttl(store: &RedisDedup, key: &str) -> i64 {
        redis::cmd("PTTL").arg(store.key(key)).query_async(&mut store.conn.clone()).await.unwrap()
    }

    /// What Redis does when the key's time is up, done now: the key goes.
    async fn expire_now(store: &RedisDedup, key: &str) {
        let removed: i64 =
            redis::cmd("PEXPIRE").arg(store.key(key)).arg(0).query_async(&mut store.conn.clone()).await.unwrap();
        assert_eq!(removed, 1, "{key} had no expiry to end");
    }

    #[tokio::test]
    async fn redis_lifecycle_and_release() {
        let Some(s) = store("redis_lifecycle_and_release", Duration::from_secs(60), Duration::from_secs(60)).await
        else {
            return;
        };
        assert_eq!(s.claim("a").await.unwrap(), Claim::New);
        assert_eq!(get(&s, "a").await.as_deref(), Some("inflight"));
        assert_eq!(s.claim("a").await.unwrap(), Claim::InFlight);
        s.complete("a").await.unwrap();
        assert_eq!(get(&s, "a").await.as_deref(), Some("done"));
        assert_eq!(s.claim("a").await.unwrap(), Claim::Duplicate);
        s.release("a").await.unwrap();
        assert_eq!(get(&s, "a").await, None);
        assert_eq!(s.claim("a").await.unwrap(), Claim::New);
        s.release("a").await.unwrap();
        assert_eq!(s.claim("a").await.unwrap(), Claim::New);
        // Releasing an unknown key is not an error.
        s.release("never").await.unwrap();

        // Another prefix is another namespace.
        let other = s.clone().with_prefix(unique_prefix());
        assert_eq!(other.claim("a").await.unwrap(), Claim::New);
        for (store, key) in [(&s, "a"), (&other, "a")] {
            store.release(key).await.unwrap();
        }
    }

    /// The lease and the TTL are the key's expiry in Redis, so they are checked on the key
    /// (its `PTTL`), and their end is brought about (`PEXPIRE 0`) instead of waited for: no
    /// window here depends on how fast the test runs (30 s and 60 s are never reached).
    #[tokio::test]
    async fn redis_lease_and_ttl_expire() {
        const LEASE: i64 = 30_000;
        const TTL: i64 = 60_000;
        let ms = |n: i64| Duration::from_millis(n.unsigned_abs());
        let Some(s) = store("redis_lease_and_ttl_expire", ms(TTL), ms(LEASE)).await else {
            return;
        };
        assert_eq!(s.claim("a").await.unwrap(), Claim::New);
        let leased = pttl(&s, "a").await;
        assert!(0 < leased && leased <= LEASE, "an in-flight claim expires with its lease: PTTL {leased}");
        // A second claim sees it in flight and does not extend the lease.
        assert_eq!(s.claim("a").await.unwrap(), Claim::InFlight);
        let still = pttl(&s, "a").await;
        assert!(0 < still && still <= leased, "PTTL {still} after a refused claim, {leased} before");
        // The claimer crashed: its lease ends and the key is claimable again.
        expire_now(&s, "a").await;
        assert_eq!(get(&s, "a").await, None);
        assert_eq!(s.claim("a").await.unwrap(), Claim::New);
        s.complete("a").await.unwrap();
        // A completed key lives for the TTL, not the lease.
        let done = pttl(&s, "a").await;
        assert!(LEASE < done && done <= TTL, "a completed key expires with the TTL: PTTL {done}");
        assert_eq!(s.claim("a").await.unwrap(), Claim::Duplicate);
        assert!(pttl(&s, "a").await > LEASE, "a duplicate claim does not shorten the TTL");
        // The TTL ends.
        expire_now(&s, "a").await;
        assert_eq!(s.claim("a").await.unwrap(), Claim::New);
        s.release("a").await.unwrap();
        assert_eq!(pttl(&s, "a").await, -2, "released: no key");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_concurrent_claims_have_one_winner() {
        let Some(s) =
            store("redis_concurrent_claims_have_one_winner", Duration::from_secs(60), Duration::from_secs(60)).await
        else {
            return;
        };
        let barrier = Arc::new(tokio::sync::Barrier::new(64));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (s, barrier) = (s.clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.claim("same").await
                })
            })
            .collect();
        let mut new = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Claim::New => new += 1,
                Claim::InFlight => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(new, 1);
        s.release("same").await.unwrap();
    }

    #[tokio::test]
    async fn redis_unreachable_is_an_error() {
        let started = std::time::Instant::now();
        let err = RedisDedup::connect("redis://127.0.0.1:1", Duration::from_secs(60)).await.unwrap_err();
        assert!(err.to_string().contains("redis"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());

        let err = RedisDedup::connect("not a url", Duration::from_secs(60)).await.unwrap_err();
        assert!(err.to_string().contains("redis"), "{err}");
    }

    #[test]
    fn expiries_are_valid_for_redis() {
        assert_eq!(px(Duration::ZERO), 1);
        assert_eq!(px(Duration::from_micros(10)), 1);
        assert_eq!(px(Duration::from_secs(7 * 24 * 3600)), 604_800_000);
        assert_eq!(px(Duration::MAX), MAX_PX);
    }
}
