//! Opening what the settings name: the dedup store (`REDIS_URL`), the broker
//! (`WEBHOOK_SINK`) and the event store (`DATABASE_URL`). A store that cannot be opened is
//! an error naming its variable.

use std::sync::Arc;

use webhook_core::dedup::{DedupStore, MemoryDedup, StoreError};
use webhook_core::receive::DEFAULT_DEDUP_TTL;
use webhook_core::sink::Sink;
use webhook_pipeline::{
    EventStore, MemoryStore, NatsConfig, NatsSink, PostgresStore, RabbitConfig, RabbitSink, RedisDedup, SqliteStore,
};

use crate::Config;

/// `VAR: <error>`, with a hint when the store is misconfigured rather than down.
fn failed(var: &str, e: &StoreError) -> String {
    if e.is_misconfigured() {
        format!("{var}: {e} (check the setting)")
    } else {
        format!("{var}: {e}")
    }
}

/// Where each delivery id is claimed for the dedup TTL: Redis when `REDIS_URL` is set (so
/// several receivers share the claims), else this process's memory.
pub async fn dedup(config: &Config) -> Result<Arc<dyn DedupStore>, String> {
    Ok(match &config.redis_url {
        Some(url) => Arc::new(RedisDedup::connect(url, DEFAULT_DEDUP_TTL).await.map_err(|e| failed("REDIS_URL", &e))?),
        None => Arc::new(MemoryDedup::new(1_000_000, DEFAULT_DEDUP_TTL)),
    })
}

/// The broker `WEBHOOK_SINK` names, connected: a NATS JetStream stream (`nats://`) or a
/// RabbitMQ exchange and queue (`amqp://`), named by `WEBHOOK_SINK_NAME`. `None` when it is
/// unset.
pub async fn broker(config: &Config) -> Result<Option<Arc<dyn Sink>>, String> {
    let Some(url) = &config.sink_url else { return Ok(None) };
    Ok(Some(if url.starts_with("amqp") {
        let rabbit = RabbitConfig::named(&config.sink_name);
        let config = match config.sink_channels {
            Some(n) => rabbit.channels(n),
            None => rabbit,
        };
        Arc::new(RabbitSink::connect_with(url, config).await.map_err(|e| failed("WEBHOOK_SINK", &e))?)
    } else {
        let stream = config.sink_name.to_ascii_uppercase().replace('-', "_");
        let config = NatsConfig::default().named(&stream, &config.sink_name);
        Arc::new(NatsSink::connect_with(url, config).await.map_err(|e| failed("WEBHOOK_SINK", &e))?)
    }))
}

/// The event store `DATABASE_URL` names: SQLite (the file is created if missing),
/// PostgreSQL (the tables are created), or `memory:` (nothing survives a restart).
pub async fn event_store(config: &Config) -> Result<Arc<dyn EventStore>, String> {
    let url = &config.database_url;
    Ok(if url.starts_with("memory:") {
        tracing::warn!("DATABASE_URL=memory: nothing survives a restart (benchmarks and demos only)");
        Arc::new(MemoryStore::new())
    } else if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url).await.map_err(|e| failed("DATABASE_URL", &e))?)
    } else {
        Arc::new(PostgresStore::connect(url).await.map_err(|e| failed("DATABASE_URL", &e))?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhook_pipeline::Effects;

    #[tokio::test]
    async fn database_url_picks_the_store() {
        let db = std::env::temp_dir().join(format!("receiver-common-{}.db", std::process::id()));
        let config = |url: &str| Config::from_vars(|k| (k == "DATABASE_URL").then(|| url.to_owned())).unwrap();
        let memory = event_store(&config("memory:")).await.unwrap();
        let sqlite = event_store(&config(&format!("sqlite://{}", db.display()))).await.unwrap();
        assert!(db.exists(), "the SQLite file is created");
        for store in [memory, sqlite] {
            store.execute(&Effects::new().execute("CREATE TABLE IF NOT EXISTS t (x BIGINT)", [])).await.unwrap();
            assert_eq!(store.depth().await.unwrap(), 0);
            store.close().await;
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let err = event_store(&config("sqlite:///no/such/dir/x.db")).await.err().unwrap();
        assert!(err.starts_with("DATABASE_URL: "), "{err}");
    }
}
