//! The node's own state: whether it can serve (readiness, with what is wrong) and the gauges
//! that describe it (database pool, ephemeral store, key ages, configuration generation,
//! mail queue), read afresh whenever someone looks.
//!
//! The write check (a one-row update in a write transaction) runs at most once a second per
//! node, whatever the polling rate, and its answer is reused meanwhile.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Services;
use crate::domain::unix_now;

/// How long a write check's answer is reused.
const WRITE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The last write check: when, and its error if it failed.
#[derive(Debug, Default)]
pub struct WriteCheck {
    last: Mutex<Option<(Instant, Option<String>)>>,
}

impl WriteCheck {
    /// Whether the database took a write lately (`Err` with why not).
    async fn run(&self, services: &Services) -> Result<(), String> {
        if let Some((at, outcome)) = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
            && at.elapsed() < WRITE_CHECK_EVERY
        {
            return outcome.map_or(Ok(()), Err);
        }
        let outcome = services
            .store
            .write_check(unix_now())
            .await
            .err()
            .map(|e| e.to_string());
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), outcome.clone()));
        outcome.map_or(Ok(()), Err)
    }
}

/// The state of the database as readiness sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// Read and written.
    Up,
    /// Read, but a write failed (a full disk, a read-only replica).
    ReadOnly,
    /// Not reachable.
    Down,
}

impl Database {
    /// How `/readyz` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::ReadOnly => "read-only",
            Self::Down => "down",
        }
    }
}

/// Whether the node can serve, and if not, why.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// Not shutting down.
    pub accepting: bool,
    /// The database.
    pub database: Database,
    /// The ephemeral store answers.
    pub ephemeral_up: bool,
    /// What is wrong, in words for an operator (empty when ready).
    pub problems: Vec<String>,
}

impl Readiness {
    /// Ready to serve.
    pub fn is_ready(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Looks at the node's dependencies now.
pub async fn readiness(services: &Services) -> Readiness {
    let accepting = services.ready.load(Ordering::SeqCst);
    let (read, ephemeral) = tokio::join!(services.store.ping(), services.ephemeral.ping());
    let write = match read {
        Ok(()) => services.write_check.run(services).await,
        Err(_) => Err("the database cannot be read".to_owned()),
    };
    let database = match (&read, &write) {
        (Ok(()), Ok(())) => Database::Up,
        (Ok(()), Err(_)) => Database::ReadOnly,
        (Err(_), _) => Database::Down,
    };
    let mut problems = Vec::new();
    if !accepting {
        problems.push("shutting down".to_owned());
    }
    if let Err(e) = &read {
        problems.push(format!("database unreachable: {e}"));
    } else if let Err(e) = &write {
        problems.push(format!("database cannot be written: {e}"));
    }
    if let Err(e) = &ephemeral {
        problems.push(format!("ephemeral store unreachable: {e}"));
    }
    Readiness {
        accepting,
        database,
        ephemeral_up: ephemeral.is_ok(),
        problems,
    }
}

/// The longest a scrape waits on each dependency it reports: without it, a database that is
/// down held `/metrics` for the pool's acquire timeout twice (ping, then the outbox depth),
/// 10 s in all — Prometheus's default scrape timeout, so the scrape that should have shown
/// `gatehouse_db_up 0` failed instead.
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sets the gauges that describe the node from what it sees now, waiting at most
/// [`OBSERVE_TIMEOUT`] on each dependency.
pub async fn observe(services: &Services) {
    let (size, idle) = services.store.pool_stats();
    metrics::gauge!("gatehouse_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("gatehouse_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle as u32) as f64);
    let database_up = matches!(
        tokio::time::timeout(OBSERVE_TIMEOUT, services.store.ping()).await,
        Ok(Ok(()))
    );
    metrics::gauge!("gatehouse_db_up").set(if database_up { 1.0 } else { 0.0 });
    let ephemeral_up = matches!(
        tokio::time::timeout(OBSERVE_TIMEOUT, services.ephemeral.ping()).await,
        Ok(Ok(()))
    );
    let backend = if services.config.redis_url.is_some() {
        "redis"
    } else {
        "memory"
    };
    metrics::gauge!("gatehouse_ephemeral_up", "backend" => backend).set(if ephemeral_up {
        1.0
    } else {
        0.0
    });
    if database_up
        && let Ok(Ok(depth)) =
            tokio::time::timeout(OBSERVE_TIMEOUT, services.store.outbox_depth()).await
    {
        metrics::gauge!("gatehouse_mail_queue_depth").set(depth as f64);
    }
    for (alg, status, age) in services.keys.key_ages(unix_now()) {
        metrics::gauge!("gatehouse_signing_key_age_seconds", "alg" => alg, "state" => status)
            .set(age as f64);
    }
    metrics::gauge!("gatehouse_config_generation").set(services.directory.generation() as f64);
    let ready = services.ready.load(Ordering::SeqCst);
    metrics::gauge!("gatehouse_ready").set(if ready { 1.0 } else { 0.0 });
}
