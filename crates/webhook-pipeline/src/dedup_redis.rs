//! A dedup store on Redis.
//!
//! One string per delivery id, `{prefix}{key}`: `"inflight"` with the lease as its expiry
//! while claimed, `"done"` with the TTL as its expiry once completed. Redis expires both,
//! so a crashed claimer's key and an old completion become claimable again on their own.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Script};

use super::reach::{Probe, Probed, Reach};
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
/// A store opened with [`RedisDedup::connect`] answers "unavailable" within milliseconds
/// while Redis refuses connections, instead of after the 3 s response timeout: a command
/// that has waited 25 ms starts a probe (one plain connection, one at a time), and a probe
/// that is refused or reset fails the waiting commands and those after them at once, until
/// one probe every 250 ms connects again. A probe that connects means Redis is only slow:
/// the command keeps waiting for its answer.
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
    /// Whether Redis is known down (a store opened with `connect`; `None` from `new`).
    reach: Option<Arc<Reach>>,
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
            reach: None,
        }
    }

    /// Connects to the Redis server at `url` (`redis://host:port/db`, `rediss://` for
    /// TLS if the `redis` crate was built with it) with a 3 s connection and response
    /// timeout, and returns a store on it that answers at once while Redis is down (see
    /// [`RedisDedup`]).
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
        let conn = ConnectionManager::new_with_config(client.clone(), config).await.map_err(|e| error("connect", e))?;
        let mut store = Self::new(conn, ttl);
        store.reach = Some(Reach::new("Redis", probe(client)));
        Ok(store)
    }

    /// Runs `command`, unless Redis is known down; gives up as soon as a probe finds it
    /// down while the command waits.
    async fn run<T>(
        &self,
        what: &str,
        command: impl std::future::Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match &self.reach {
            Some(reach) => reach.run(what, command, |e| error(what, e)).await,
            None => command.await.map_err(|e| error(what, e)),
        }
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

/// A probe of the Redis server: one plain connection, dropped at once. Refused, reset or
/// any other I/O error, or `LOADING` in answer to a command the connection's setup sends
/// (`AUTH`, `SELECT`), is "down"; anything else (a timeout, an authentication error) says
/// nothing about reachability.
fn probe(client: redis::Client) -> Probe {
    Box::new(move || {
        let client = client.clone();
        Box::pin(async move {
            match client.get_multiplexed_async_connection().await {
                Ok(_) => Probed::Up,
                Err(e)
                    if e.is_io_error()
                        || e.is_connection_refusal()
                        || e.is_connection_dropped()
                        || e.kind() == redis::ErrorKind::BusyLoadingError =>
                {
                    Probed::Down(e.to_string())
                }
                Err(_) => Probed::Unknown,
            }
        })
    })
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
        let mut conn = self.conn.clone();
        let found: i64 =
            self.run("claim", self.claim.key(self.key(key)).arg(px(self.lease)).invoke_async(&mut conn)).await?;
        Ok(match found {
            0 => Claim::New,
            1 => Claim::Duplicate,
            _ => Claim::InFlight,
        })
    }

    async fn complete(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(self.key(key)).arg("done").arg("PX").arg(px(self.ttl));
        self.run("complete", set.query_async::<()>(&mut conn)).await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut del = redis::cmd("DEL");
        del.arg(self.key(key));
        self.run("release", del.query_async::<()>(&mut conn)).await
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

    /// While Redis refuses connections, claims are answered "unavailable" without the 3 s
    /// response timeout and nothing is claimed; the store finds Redis again by itself once it
    /// returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_down_is_answered_unavailable_at_once_and_found_again() {
        use crate::testing::Forwarder;
        let test = "redis_down_is_answered_unavailable_at_once_and_found_again";
        let Some(url) = crate::testing::service_url("WEBHOOK_TEST_REDIS_URL", test) else {
            return;
        };
        let info = redis::Client::open(url.as_str()).unwrap().get_connection_info().clone();
        let redis::ConnectionAddr::Tcp(host, port) = &info.addr else {
            panic!("WEBHOOK_TEST_REDIS_URL={url} is not redis:// over TCP");
        };
        let addr = tokio::net::lookup_host((host.as_str(), *port)).await.unwrap().next().unwrap();
        assert!(addr.ip().is_loopback(), "the test forwards to 127.0.0.1 only, not {addr}");
        let mut forwarder = Forwarder::start(addr, 0).await;
        let port = forwarder.port();
        let via = format!("redis://127.0.0.1:{port}/{}", info.redis.db);
        let s = RedisDedup::connect(&via, Duration::from_secs(60)).await.unwrap().with_prefix(unique_prefix());
        assert_eq!(s.claim("before").await.unwrap(), Claim::New);

        forwarder.stop().await;
        for i in 0..3 {
            let started = std::time::Instant::now();
            let err = s.claim(&format!("down-{i}")).await.unwrap_err();
            let took = started.elapsed();
            assert!(err.is_unavailable(), "{err}");
            assert!(took < TIMEOUT / 2, "claim {i} answered after {took:?}: {err}");
        }

        let _back = Forwarder::start(addr, port).await;
        // The connection's own reconnection waits up to 1 s between attempts.
        let claim = crate::testing::until_available(Duration::from_secs(10), || s.claim("after")).await;
        assert_eq!(claim, Claim::New);
        // Nothing was claimed while Redis was down; the claim from before is still there.
        for i in 0..3 {
            assert_eq!(s.claim(&format!("down-{i}")).await.unwrap(), Claim::New);
        }
        assert_eq!(s.claim("before").await.unwrap(), Claim::InFlight);
        for key in ["before", "after", "down-0", "down-1", "down-2"] {
            s.release(key).await.unwrap();
        }
    }

    #[test]
    fn expiries_are_valid_for_redis() {
        assert_eq!(px(Duration::ZERO), 1);
        assert_eq!(px(Duration::from_micros(10)), 1);
        assert_eq!(px(Duration::from_secs(7 * 24 * 3600)), 604_800_000);
        assert_eq!(px(Duration::MAX), MAX_PX);
    }
}
