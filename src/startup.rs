//! Building and running a node: [`Services`] (database, ephemeral store, key ring, caches)
//! shared by the server and the CLI, and [`Application`], the HTTP server the binary and the
//! integration tests start the same way.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::cache::Directory;
use crate::config::Config;
use crate::domain::unix_now;
use crate::ephemeral::{self, Ephemeral};
use crate::journey::password::Passwords;
use crate::keys::{KeyRing, KeyTimings, MasterKey};
use crate::mail::Mailer;
use crate::store::{self, Store};
use crate::tokens::Tokens;
use crate::web::cookies::CookiePolicy;

/// Largest request body accepted anywhere (forms and JSON are far smaller).
pub const MAX_BODY: usize = 64 * 1024;
/// How long in-flight requests may run after a shutdown signal.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Everything a node holds: connections, key ring, caches, configuration.
pub struct Services {
    /// Configuration.
    pub config: Config,
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// Ephemeral storage.
    pub ephemeral: Arc<dyn Ephemeral>,
    /// Signing keys.
    pub keys: Arc<KeyRing>,
    /// JWT signing and verification.
    pub tokens: Tokens,
    /// Cached tenants and apps.
    pub directory: Directory,
    /// Password hashing.
    pub passwords: Passwords,
    /// Cookie naming and attributes.
    pub cookies: CookiePolicy,
    /// Outgoing mail.
    pub mailer: Arc<Mailer>,
    /// The master key (seals TOTP secrets and other secrets at rest).
    pub master: MasterKey,
    /// Partner identity providers' discovery and the HTTP client toward them.
    pub federation: crate::federation::Federation,
    /// Cleared when shutdown starts, so `/readyz` fails before connections drain.
    pub ready: AtomicBool,
    /// The readiness write check's last answer.
    pub write_check: crate::health::WriteCheck,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Connects to the configured stores (running migrations), loads the master key and the
    /// key ring (creating both on first start).
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let store = store::sql::connect(
            &config.resolved_database_url(),
            config.database_max_connections,
        )
        .await?;
        let ephemeral =
            ephemeral::connect(config.redis_url.as_deref(), &config.redis_prefix).await?;
        let master = MasterKey::load_or_create(config.master_key.as_deref(), &config.keys_dir)?;
        let mailer = Arc::new(Mailer::new(&config.mail, &config.data_dir, master.clone())?);
        let keys = Arc::new(
            KeyRing::load(
                store.clone(),
                master.clone(),
                KeyTimings::from_config(&config),
            )
            .await?,
        );
        let directory = Directory::new(store.clone()).await?;
        Ok(Self {
            mailer,
            master,
            federation: crate::federation::Federation::new(
                config.federation.allow_private_networks,
            )?,
            tokens: Tokens::new(keys.clone()),
            cookies: CookiePolicy {
                secure: config.is_https(),
            },
            config,
            store,
            ephemeral,
            keys,
            directory,
            passwords: Passwords::default(),
            ready: AtomicBool::new(true),
            write_check: crate::health::WriteCheck::default(),
        })
    }

    /// The issuer of a tenant slug.
    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/{slug}", self.config.base_url())
    }
}

/// Shared state handed to every handler.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Services>);

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Builds the router with every module's routes and the cross-cutting layers.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(crate::health::router())
        .merge(crate::web::router())
        .merge(crate::oidc::router())
        .merge(crate::saml::router())
        .merge(crate::graph::router())
        .merge(crate::journey::router())
        .layer(axum::middleware::from_fn(crate::web::refuse_nul))
        .layer(axum::middleware::from_fn(
            crate::monitoring::record_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::error::render_pending_pages,
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
                .make_span_with(crate::telemetry::request_span)
                .on_response(crate::telemetry::record_status),
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
    /// out meanwhile), then stops accepting and gives requests in flight [`DRAIN_DEADLINE`] to
    /// finish; background tasks stop last.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let background = tokio::spawn(background_tasks(state.clone()));
        let metrics = match (state.config.metrics_listen, crate::monitoring::install()) {
            (Some(listen), Some(handle)) => Some(tokio::spawn(crate::monitoring::serve(
                listen,
                state.clone(),
                handle,
            ))),
            _ => None,
        };
        let mail = tokio::spawn(state.mailer.clone().run(state.store.clone()));
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
        background.abort();
        mail.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        tracing::info!("gatehouse stopped");
        Ok(())
    }
}

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
