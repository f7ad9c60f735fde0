//! Running a node: the router of every front door with the cross-cutting layers, and
//! [`Application`], the HTTP server the binary and the integration tests start the same way.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::domain::unix_now;
use crate::services::{AppState, Services};

pub use crate::web::MAX_BODY;

/// Builds the router with every module's routes and the cross-cutting layers.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(crate::health::router())
        .merge(crate::web::router())
        .merge(crate::oidc::router())
        .merge(crate::saml::router())
        .merge(crate::graph::router())
        .merge(crate::pages::router())
        .layer(axum::middleware::from_fn(crate::web::refuse_nul))
        .layer(axum::middleware::from_fn(crate::health::record_requests))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::error::render_pending_pages,
        ))
        .with_state(state.clone());
    crate::web::security_headers(routes)
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::web::client_address::scope,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::web::spans::request_span)
                .on_response(crate::web::spans::record_status)
                // The error type logs what went wrong, once (an internal error at ERROR, a
                // dependency down at WARN); the layer's own "response failed" ERROR line for
                // every 5xx doubled that, and turned each 503 of an outage into an ERROR.
                .on_failure(()),
        )
}

/// A bound, ready-to-run HTTP server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds `GATEHOUSE_LISTEN` and connects everything.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listen = config.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (GATEHOUSE_LISTEN): {e}"))?;
        Self::build_with_listener(config, listener).await
    }

    /// Connects everything and serves on an already bound listener (tests bind port 0 first
    /// so the public URL can name the port).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        // Both users of xmlsec1 (samael, the xmlsec crate) initialise it before anything is
        // served: the second initialisation must not run beside a signature (saml::dsig).
        crate::saml::dsig::init()?;
        let services = Services::connect(config).await?;
        Ok(Self {
            listener,
            state: AppState(Arc::new(services)),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The shared state (tests use it to seed data through the same services).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()?).await
    }

    /// Serves until `stop` completes, then drains: readiness turns false at once, the node
    /// keeps serving for `server.drain_seconds` (a load balancer polling `/readyz` takes it
    /// out meanwhile), then stops accepting and gives requests in flight [`crate::server::DRAIN_DEADLINE`] to
    /// finish, writes the sign-in log's queued rows; background tasks stop last.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let background = tokio::spawn(background_tasks(state.clone()));
        let metrics = match (state.config.metrics_listen, crate::monitoring::install()) {
            (Some(listen), Some(handle)) => Some(tokio::spawn(crate::health::serve_metrics(
                listen,
                state.clone(),
                handle,
            ))),
            _ => None,
        };
        let mail = tokio::spawn(state.mailer.clone().run(state.store.clone()));
        let logouts = tokio::spawn(crate::services::logout::deliver::run(state.clone()));
        let address = self.listener.local_addr()?;
        log_where_things_are(&state.config);
        tracing::info!(%address, public_url = %state.config.public_url, "gatehouse listening");
        let drain = Duration::from_secs(state.config.server.drain_seconds);
        let ready_state = state.clone();
        let draining = async move {
            stop.await;
            ready_state.ready.store(false, Ordering::SeqCst);
            tracing::info!(
                drain_seconds = drain.as_secs(),
                "shutdown requested: not ready any more; still serving while load balancers notice"
            );
            tokio::time::sleep(drain).await;
        };
        let limits = crate::server::Limits::from_config(&state.config.server)
            .uncapped_for(&state.config.trusted_proxies);
        crate::server::serve(self.listener, router(state.clone()), limits, draining).await;
        // Every request has finished or been cut: write the sign-in log's queued rows before
        // the process ends (what SIGKILL would lose; services::sign_in_log).
        if tokio::time::timeout(SIGN_IN_LOG_FLUSH, state.sign_in_log.flush())
            .await
            .is_err()
        {
            tracing::error!(
                seconds = SIGN_IN_LOG_FLUSH.as_secs(),
                "the sign-in log could not be written before stopping; its queued rows are lost"
            );
        }
        background.abort();
        mail.abort();
        logouts.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        tracing::info!("gatehouse stopped");
        Ok(())
    }
}

/// How long a stopping node waits for the database to take the sign-in log's queued rows.
const SIGN_IN_LOG_FLUSH: Duration = Duration::from_secs(10);

/// Tells the operator, at start, where this node keeps its state: the database, the
/// ephemeral store, the keys and where mail goes (never a password or key).
fn log_where_things_are(config: &Config) {
    let database = crate::config::redact_url(&config.resolved_database_url());
    let ephemeral = match &config.redis_url {
        Some(url) => format!(
            "redis {} (prefix {})",
            crate::config::redact_url(url),
            config.redis_prefix
        ),
        None => "in-memory (this node only)".to_owned(),
    };
    let keys = match &config.master_key {
        Some(_) => "master key from GATEHOUSE_MASTER_KEY; signing keys in the database".to_owned(),
        None => format!(
            "master key {}; signing keys in the database",
            config.keys_dir.join("master.key").display()
        ),
    };
    let mail = match &config.mail.smtp_url {
        Some(url) => format!("SMTP {}", crate::config::redact_url(url)),
        None => format!(
            "outbox directory {} (no SMTP server configured)",
            config.data_dir.join("outbox").display()
        ),
    };
    let metrics = config
        .metrics_listen
        .map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics"));
    let traces = config
        .otlp
        .endpoint
        .as_deref()
        .map_or_else(|| "off".to_owned(), crate::config::redact_url);
    tracing::info!(%database, %ephemeral, %keys, %mail, %metrics, %traces, "gatehouse state");
}

/// How often a node checks the configuration generation (one tiny query): the bound on how
/// late a change reaches a node that gets no notification (SQLite, or a lost LISTEN).
pub const CONFIG_POLL: Duration = Duration::from_millis(250);

/// Per-node background work: follow configuration changes made on other nodes or by the
/// CLI — at once when the database pushes them (Postgres `NOTIFY`), else within
/// [`CONFIG_POLL`] — and purge expired rows.
async fn background_tasks(state: AppState) {
    let mut ticks = tokio::time::interval(CONFIG_POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pushed = state.store.config_changes();
    let mut last_purge = unix_now();
    loop {
        let notified = async {
            match pushed.as_mut() {
                Some(feed) => feed.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ticks.tick() => {}
            signal = notified => {
                if signal.is_none() {
                    pushed = None;
                }
            }
        }
        if let Err(e) = state.directory.poll(&state.keys).await {
            tracing::warn!(error = %e, "could not check for configuration changes");
        }
        let now = unix_now();
        if now - last_purge >= 600 {
            last_purge = now;
            match state.store.purge_expired(now).await {
                Ok(purged) => tracing::debug!(purged, "purged expired rows"),
                Err(e) => tracing::warn!(error = %e, "could not purge expired rows"),
            }
        }
    }
}

/// SIGTERM or SIGINT. The handlers are installed when this is called — before the node says
/// it is listening — so a signal sent right after start-up drains instead of killing.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}
