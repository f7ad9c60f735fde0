//! Throttling of failed credentials, in the ephemeral store so the limits hold across nodes
//! (SECURITY.md I.70, R12). After a few free failures each further failure locks the key for
//! a doubling delay; a long run of failures locks it for an hour. Keys are per account and per
//! client address, and the same for accounts that do not exist, so throttling reveals nothing.

use std::time::Duration;

use crate::ephemeral::{Ephemeral, EphemeralResult};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Longest delay between attempts before the hard lock.
const MAX_DELAY: u64 = 300;
/// How long failures are remembered, and the hard-lock duration.
const WINDOW: Duration = Duration::from_secs(3600);

/// A throttled key and its limits.
#[derive(Debug, Clone)]
pub struct Throttle {
    /// Key in the ephemeral store (`kind:subject`).
    pub key: String,
    /// Failures allowed before delays start.
    pub free: u64,
    /// Failures after which every attempt is refused for [`WINDOW`].
    pub lockout: u64,
}

impl Throttle {
    /// Seconds to wait before the next attempt, or `None` if an attempt may be made now.
    pub async fn wait(&self, store: &dyn Ephemeral) -> EphemeralResult<Option<u64>> {
        let Some(until) = store.get(&format!("lock:{}", self.key)).await? else {
            return Ok(None);
        };
        let left = until.parse::<u64>().unwrap_or(0).saturating_sub(now_ms());
        Ok((left > 0).then(|| left.div_ceil(1000)))
    }

    /// Records a failure and sets the lock its count calls for; returns the count of
    /// failures in the window.
    pub async fn fail(&self, store: &dyn Ephemeral) -> EphemeralResult<u64> {
        let count = store.incr(&format!("fail:{}", self.key), WINDOW).await?;
        let delay = if count >= self.lockout {
            WINDOW.as_secs()
        } else if count > self.free {
            let doublings = (count - self.free - 1).min(16) as u32;
            (1u64 << doublings).min(MAX_DELAY)
        } else {
            return Ok(count);
        };
        let until = now_ms() + delay * 1000;
        store
            .put(
                &format!("lock:{}", self.key),
                until.to_string(),
                Duration::from_secs(delay),
            )
            .await?;
        Ok(count)
    }

    /// Forgets failures after a success.
    pub async fn succeed(&self, store: &dyn Ephemeral) -> EphemeralResult<()> {
        store.delete(&format!("fail:{}", self.key)).await?;
        store.delete(&format!("lock:{}", self.key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ephemeral::memory::MemoryEphemeral;

    #[tokio::test]
    async fn delays_start_after_the_free_failures_and_grow() {
        let store = MemoryEphemeral::default();
        let throttle = Throttle {
            key: "pw:t:alice".into(),
            free: 3,
            lockout: 100,
        };
        for _ in 0..3 {
            throttle.fail(&store).await.unwrap();
            assert_eq!(throttle.wait(&store).await.unwrap(), None);
        }
        throttle.fail(&store).await.unwrap();
        assert!(throttle.wait(&store).await.unwrap().is_some_and(|w| w <= 1));
        throttle.fail(&store).await.unwrap();
        assert!(
            throttle
                .wait(&store)
                .await
                .unwrap()
                .is_some_and(|w| (1..=2).contains(&w))
        );
        throttle.succeed(&store).await.unwrap();
        assert_eq!(throttle.wait(&store).await.unwrap(), None);
    }
}
