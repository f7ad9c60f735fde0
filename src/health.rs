//! `/healthz` (the process answers) and `/readyz` (it can serve: not shutting down, the
//! database readable and writable, the ephemeral store reachable). `/readyz` says which of
//! them is down, so an operator reading it knows where to look; a load balancer only needs
//! its status (200 or 503).
//!
//! The write check (a one-row update in a write transaction) runs at most once a second per
//! node, whatever the polling rate, and its answer is reused meanwhile.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::domain::unix_now;
use crate::startup::AppState;

/// How long a write check's answer is reused.
const WRITE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The last write check: when, and its error if it failed.
#[derive(Debug, Default)]
pub struct WriteCheck {
    last: Mutex<Option<(Instant, Option<String>)>>,
}

impl WriteCheck {
    /// Whether the database took a write lately (`Err` with why not).
    async fn run(&self, state: &AppState) -> Result<(), String> {
        if let Some((at, outcome)) = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
            && at.elapsed() < WRITE_CHECK_EVERY
        {
            return outcome.map_or(Ok(()), Err);
        }
        let outcome = state
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

/// Health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let accepting = state.ready.load(Ordering::SeqCst);
    let (read, ephemeral) = tokio::join!(state.store.ping(), state.ephemeral.ping());
    let write = match read {
        Ok(()) => state.write_check.run(&state).await,
        Err(_) => Err("the database cannot be read".to_owned()),
    };
    let database = match (&read, &write) {
        (Ok(()), Ok(())) => "up",
        (Ok(()), Err(_)) => "read-only",
        (Err(_), _) => "down",
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
    let ready = problems.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else if accepting { "degraded" } else { "shutting_down" },
        "database": database,
        "ephemeral": if ephemeral.is_ok() { "up" } else { "down" },
        "problems": problems,
    });
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
}
