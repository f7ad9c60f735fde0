//! The operations door: `/healthz` (the process answers) and `/readyz` (it can serve: not
//! shutting down, the database readable and writable, the ephemeral store reachable) on the
//! public listener, and Prometheus' `/metrics` on a listener of its own
//! (`GATEHOUSE_METRICS_LISTEN`), never the public one. `/readyz` says which dependency is
//! down, so an operator reading it knows where to look; a load balancer only needs its status
//! (200 or 503). Request metrics are recorded by [`record_requests`], by route template.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::monitoring::{HTTP_DURATION, HTTP_REQUESTS};
use crate::services::{AppState, node};

/// Health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = node::readiness(&state).await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if readiness.is_ready() {
        "ready"
    } else if readiness.accepting {
        "degraded"
    } else {
        "shutting_down"
    };
    let body = json!({
        "status": word,
        "database": readiness.database.as_str(),
        "ephemeral": if readiness.ephemeral_up { "up" } else { "down" },
        "problems": readiness.problems,
    });
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
}

/// Middleware: counts every request by route template, method and status, and times it.
pub async fn record_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves `/metrics` on `listen` until the process ends.
pub async fn serve_metrics(listen: SocketAddr, state: AppState, handle: PrometheusHandle) {
    let app = axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state((state, handle));
    match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => {
            tracing::info!(%listen, "metrics at /metrics");
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        }
        Err(e) => {
            tracing::error!(%listen, error = %e, "cannot listen for metrics (GATEHOUSE_METRICS_LISTEN)")
        }
    }
}

/// `GET /metrics`: the node's state read now, then everything recorded.
async fn scrape(State((state, handle)): State<(AppState, PrometheusHandle)>) -> Response {
    node::observe(&state).await;
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
