//! The ephemeral store: short-lived state any node must be able to read — sign-in
//! transactions, authorization codes, one-time passcodes, replay caches, rate-limit counters.
//!
//! Two implementations: [`memory::MemoryEphemeral`] for a single node (the default) and
//! [`redis::RedisEphemeral`] for many nodes. When the store is unreachable every call fails
//! with [`EphemeralError::Unavailable`]; callers answer 503 and never skip a replay or rate
//! check (fail closed).

pub mod memory;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why an ephemeral-store call failed.
#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    /// The store cannot be reached; the request must fail closed.
    #[error("ephemeral store unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded.
    #[error("corrupt ephemeral value: {0}")]
    Corrupt(String),
}

/// Result of an ephemeral-store call.
pub type EphemeralResult<T> = Result<T, EphemeralError>;

/// Key/value storage with expiry and the atomic operations flows need.
#[async_trait]
pub trait Ephemeral: Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: String, ttl: Duration) -> EphemeralResult<()>;
    /// Stores `value` only if `key` is absent; returns whether it was stored. The basis of
    /// replay caches and single-use claims.
    async fn put_if_absent(&self, key: &str, value: String, ttl: Duration)
    -> EphemeralResult<bool>;
    /// Reads a value.
    async fn get(&self, key: &str) -> EphemeralResult<Option<String>>;
    /// Reads and deletes a value in one atomic step: of concurrent callers, one gets it.
    async fn take(&self, key: &str) -> EphemeralResult<Option<String>>;
    /// Deletes a value.
    async fn delete(&self, key: &str) -> EphemeralResult<()>;
    /// Increments a counter, creating it with `ttl` on first use; returns the new count.
    async fn incr(&self, key: &str, ttl: Duration) -> EphemeralResult<u64>;
    /// Round trip, for readiness.
    async fn ping(&self) -> EphemeralResult<()>;
}

/// Typed JSON helpers over any [`Ephemeral`].
pub struct Json<'a>(pub &'a dyn Ephemeral);

impl Json<'_> {
    /// Stores a value as JSON.
    pub async fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> EphemeralResult<()> {
        let text =
            serde_json::to_string(value).map_err(|e| EphemeralError::Corrupt(e.to_string()))?;
        self.0.put(key, text, ttl).await
    }

    /// Reads a JSON value.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> EphemeralResult<Option<T>> {
        decode(self.0.get(key).await?)
    }

    /// Reads and deletes a JSON value atomically.
    pub async fn take<T: DeserializeOwned>(&self, key: &str) -> EphemeralResult<Option<T>> {
        decode(self.0.take(key).await?)
    }
}

fn decode<T: DeserializeOwned>(text: Option<String>) -> EphemeralResult<Option<T>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| EphemeralError::Corrupt(e.to_string())))
        .transpose()
}

/// Opens the configured ephemeral store: Redis when a URL is given, else in-memory.
pub async fn connect(redis_url: Option<&str>, prefix: &str) -> anyhow::Result<Arc<dyn Ephemeral>> {
    match redis_url {
        Some(url) => Ok(Arc::new(redis::RedisEphemeral::connect(url, prefix).await?)),
        None => Ok(Arc::new(memory::MemoryEphemeral::default())),
    }
}
