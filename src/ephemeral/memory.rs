//! In-memory ephemeral store for a single node: a map guarded by a mutex, with expiry checked
//! on read and expired entries swept periodically on write.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Ephemeral, EphemeralResult};

/// How often writes sweep expired entries.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Inner {
    entries: HashMap<String, (String, Instant)>,
    last_sweep: Instant,
}

/// The in-memory store.
#[derive(Debug)]
pub struct MemoryEphemeral {
    inner: Mutex<Inner>,
}

impl Default for MemoryEphemeral {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }
}

impl MemoryEphemeral {
    fn with<R>(&self, f: impl FnOnce(&mut Inner, Instant) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-operation; the map itself
        // is still consistent (every operation is a single insert or remove).
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(inner.last_sweep) > SWEEP_EVERY {
            inner.entries.retain(|_, (_, expires)| *expires > now);
            inner.last_sweep = now;
        }
        f(&mut inner, now)
    }
}

fn live(entry: Option<&(String, Instant)>, now: Instant) -> Option<&String> {
    entry.filter(|(_, expires)| *expires > now).map(|(v, _)| v)
}

#[async_trait]
impl Ephemeral for MemoryEphemeral {
    async fn put(&self, key: &str, value: String, ttl: Duration) -> EphemeralResult<()> {
        self.with(|inner, now| {
            inner.entries.insert(key.to_owned(), (value, now + ttl));
        });
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: String,
        ttl: Duration,
    ) -> EphemeralResult<bool> {
        Ok(self.with(|inner, now| {
            if live(inner.entries.get(key), now).is_some() {
                false
            } else {
                inner.entries.insert(key.to_owned(), (value, now + ttl));
                true
            }
        }))
    }

    async fn get(&self, key: &str) -> EphemeralResult<Option<String>> {
        Ok(self.with(|inner, now| live(inner.entries.get(key), now).cloned()))
    }

    async fn take(&self, key: &str) -> EphemeralResult<Option<String>> {
        Ok(self.with(|inner, now| {
            inner
                .entries
                .remove(key)
                .filter(|(_, expires)| *expires > now)
                .map(|(v, _)| v)
        }))
    }

    async fn delete(&self, key: &str) -> EphemeralResult<()> {
        self.with(|inner, _| inner.entries.remove(key));
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> EphemeralResult<u64> {
        Ok(self.with(|inner, now| {
            let count = live(inner.entries.get(key), now)
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(1, |c| c + 1);
            let expires = match inner.entries.get(key) {
                Some((_, expires)) if *expires > now => *expires,
                _ => now + ttl,
            };
            inner
                .entries
                .insert(key.to_owned(), (count.to_string(), expires));
            count
        }))
    }

    async fn ping(&self) -> EphemeralResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn take_is_single_use_and_expiry_hides_values() {
        let store = MemoryEphemeral::default();
        store
            .put("a", "1".into(), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.take("a").await.unwrap().as_deref(), Some("1"));
        assert_eq!(store.take("a").await.unwrap(), None);
        store
            .put("b", "2".into(), Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.get("b").await.unwrap(), None);
    }

    #[tokio::test]
    async fn counters_and_claims() {
        let store = MemoryEphemeral::default();
        assert_eq!(store.incr("c", Duration::from_secs(60)).await.unwrap(), 1);
        assert_eq!(store.incr("c", Duration::from_secs(60)).await.unwrap(), 2);
        assert!(
            store
                .put_if_absent("k", "x".into(), Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(
            !store
                .put_if_absent("k", "y".into(), Duration::from_secs(60))
                .await
                .unwrap()
        );
    }
}
