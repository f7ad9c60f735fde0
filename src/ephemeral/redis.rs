//! Redis-backed ephemeral store, shared by every node. The connection manager reconnects on
//! its own after an outage; while Redis is away each call fails fast (2 s) as unavailable.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError};

use super::{Ephemeral, EphemeralError, EphemeralResult};

/// The Redis store. Every key is prefixed, so deployments (and test runs) can share a server.
#[derive(Clone)]
pub struct RedisEphemeral {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEphemeral")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: RedisError) -> EphemeralError {
    EphemeralError::Unavailable(error.to_string())
}

fn millis(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

impl RedisEphemeral {
    /// Connects to `url`.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let redacted = crate::config::redact_url(url);
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("GATEHOUSE_REDIS_URL ({redacted}) is not usable: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Redis at {redacted}: {e}"))?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Ephemeral for RedisEphemeral {
    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "redis SET", otel.kind = "client", db.system.name = "redis"))]
    async fn put(&self, key: &str, value: String, ttl: Duration) -> EphemeralResult<()> {
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "redis SET NX", otel.kind = "client", db.system.name = "redis"))]
    async fn put_if_absent(
        &self,
        key: &str,
        value: String,
        ttl: Duration,
    ) -> EphemeralResult<bool> {
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(stored.is_some())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "redis GET", otel.kind = "client", db.system.name = "redis"))]
    async fn get(&self, key: &str) -> EphemeralResult<Option<String>> {
        self.conn
            .clone()
            .get(self.key(key))
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "redis GETDEL", otel.kind = "client", db.system.name = "redis"))]
    async fn take(&self, key: &str) -> EphemeralResult<Option<String>> {
        redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "redis DEL", otel.kind = "client", db.system.name = "redis"))]
    async fn delete(&self, key: &str) -> EphemeralResult<()> {
        self.conn
            .clone()
            .del::<_, ()>(self.key(key))
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "redis INCR", otel.kind = "client", db.system.name = "redis"))]
    async fn incr(&self, key: &str, ttl: Duration) -> EphemeralResult<u64> {
        let key = self.key(key);
        let (count, _): (u64, i64) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .arg("NX")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "redis PING", otel.kind = "client", db.system.name = "redis"))]
    async fn ping(&self) -> EphemeralResult<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn.clone())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
