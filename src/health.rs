//! `/healthz` (the process answers) and `/readyz` (it can serve: not shutting down, the
//! database and the ephemeral store reachable).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::atomic::Ordering;

use crate::startup::AppState;

/// Health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let accepting = state.ready.load(Ordering::SeqCst);
    let (database, ephemeral) = tokio::join!(state.store.ping(), state.ephemeral.ping());
    let up = |ok: bool| if ok { "up" } else { "down" };
    let all = accepting && database.is_ok() && ephemeral.is_ok();
    let status = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all { "ready" } else if accepting { "degraded" } else { "shutting_down" },
        "database": up(database.is_ok()),
        "ephemeral": up(ephemeral.is_ok()),
    });
    (status, Json(body))
}
