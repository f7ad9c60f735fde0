//! Prometheus metrics, served on a listener of their own (`GATEHOUSE_METRICS_LISTEN`), never on
//! the public one. The `metrics` facade records them where things happen (requests, sign-ins,
//! second factors, invitations, mail) and `metrics-exporter-prometheus` renders them; the
//! gauges that describe the node's state (database pool, ephemeral store, key ages,
//! configuration generation, mail queue) are read afresh at each scrape.
//!
//! Names and labels are low-cardinality: routes are the router's templates (never the URI),
//! statuses and outcomes are small fixed sets.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::unix_now;
use crate::startup::AppState;

/// Requests served: `route`, `method`, `status`.
pub const HTTP_REQUESTS: &str = "gatehouse_http_requests_total";
/// Time to answer, seconds: `route`, `method`.
pub const HTTP_DURATION: &str = "gatehouse_http_request_duration_seconds";
/// Sign-in attempts: `protocol`, `outcome` (success, failure, interrupted).
pub const SIGN_INS: &str = "gatehouse_sign_ins_total";
/// Second-factor answers: `result` (totp, recovery, wrong, throttled).
pub const MFA_CHALLENGES: &str = "gatehouse_mfa_challenges_total";
/// Invitations created.
pub const INVITATIONS_CREATED: &str = "gatehouse_invitations_created_total";
/// Invitations redeemed.
pub const INVITATIONS_REDEEMED: &str = "gatehouse_invitations_redeemed_total";
/// Mail handed to the transport.
pub const MAIL_SENT: &str = "gatehouse_mail_sent_total";
/// Failed mail deliveries (each will be retried).
pub const MAIL_FAILURES: &str = "gatehouse_mail_failures_total";

/// The process's recorder, installed once (several nodes in one test process share it).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (idempotent); `None` if another recorder is installed.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &buckets)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .clone()
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
pub async fn serve(listen: SocketAddr, state: AppState, handle: PrometheusHandle) {
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
    let (size, idle) = state.store.pool_stats();
    metrics::gauge!("gatehouse_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("gatehouse_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle as u32) as f64);
    let database_up = state.store.ping().await.is_ok();
    metrics::gauge!("gatehouse_db_up").set(if database_up { 1.0 } else { 0.0 });
    let ephemeral_up = state.ephemeral.ping().await.is_ok();
    metrics::gauge!("gatehouse_ephemeral_up", "backend" => if state.config.redis_url.is_some() { "redis" } else { "memory" })
        .set(if ephemeral_up { 1.0 } else { 0.0 });
    if let Ok(depth) = state.store.outbox_depth().await {
        metrics::gauge!("gatehouse_mail_queue_depth").set(depth as f64);
    }
    for (alg, status, age) in state.keys.key_ages(unix_now()) {
        metrics::gauge!("gatehouse_signing_key_age_seconds", "alg" => alg, "state" => status)
            .set(age as f64);
    }
    metrics::gauge!("gatehouse_config_generation").set(state.directory.generation() as f64);
    metrics::gauge!("gatehouse_ready").set(
        if state.ready.load(std::sync::atomic::Ordering::SeqCst) {
            1.0
        } else {
            0.0
        },
    );
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
