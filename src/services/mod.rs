//! The services tier: what Gatehouse does, whoever asks — a browser through the pages, a
//! relying party through OIDC or SAML, an administrator through the Graph API or the CLI.
//! Nothing here knows HTTP: services take plain values (the client's address, the browser's
//! cookie values, an [`Actor`]) and return data or an [`Error`], which each front door turns
//! into its own envelope (OAuth JSON, SAML status, Graph JSON, an HTML page, a CLI message).
//!
//! [`Services`] holds what a node has: configuration, the stores, the key ring, caches, the
//! mailer. Front doors reach it through [`AppState`].

pub mod access;
pub mod actor;
pub mod admin;
pub mod claims;
pub mod client_assertion;
pub mod codes;
pub mod error;
pub mod grants;
pub mod home;
pub mod invitations;
pub mod logout;
pub mod membership;
pub mod node;
pub mod sign_in_log;
pub mod signin;
#[cfg(test)]
pub mod testing;

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use error::{Error, Message, Problem, Result};

use crate::cache::Directory;
use crate::config::Config;
use crate::ephemeral::{self, Ephemeral};
use crate::keys::{HeadStart, KeyRing, KeyTimings, MasterKey};
use crate::mail::Mailer;
use crate::passwords::Passwords;
use crate::store::{self, Store};
use crate::tokens::Tokens;

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
    /// Outgoing mail.
    pub mailer: Arc<Mailer>,
    /// The master key (seals TOTP secrets and other secrets at rest).
    pub master: MasterKey,
    /// Partner identity providers' discovery and the HTTP client toward them.
    pub federation: crate::upstream::Federation,
    /// Cleared when shutdown starts, so `/readyz` fails before connections drain.
    pub ready: AtomicBool,
    /// The readiness write check's last answer.
    pub write_check: node::WriteCheck,
    /// The back-channel logout outbox's wake-up.
    pub logouts: logout::Outbox,
    /// Clients' JWK Sets fetched from their `jwks_uri` (`private_key_jwt`).
    pub client_keys: client_assertion::ClientKeyCache,
    /// The sign-in log's batching writer.
    pub sign_in_log: sign_in_log::SignInLog,
    /// The session apps this node recorded lately (spares rewriting an unchanged row).
    pub recorded_apps: logout::RecordedApps,
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
        let database_url = config.resolved_database_url();
        let opened = store::sql::open(&database_url, config.database_max_connections).await?;
        // A database no migration has run on is new, and will need its first signing keys:
        // their generation (most of a fresh node's start) begins now and overlaps migrating
        // it.
        let early_master = if opened.is_new() {
            Some(MasterKey::load_or_create(
                config.master_key.as_deref(),
                &config.keys_dir,
            )?)
        } else {
            None
        };
        // Two generations per algorithm race (the first to finish signs), unless a database
        // server on a machine of two cores or fewer needs one of them for the new schema's DDL
        // meanwhile: then one starts now and its rival once the database is migrated.
        let few_cores = std::thread::available_parallelism().map_or(true, |n| n.get() <= 2);
        let generations = if opened.is_server() && few_cores {
            1
        } else {
            2
        };
        let head_start = early_master
            .as_ref()
            .map(|master| HeadStart::start(master, generations));
        let store = opened.migrate().await?;
        let ephemeral =
            ephemeral::connect(config.redis_url.as_deref(), &config.redis_prefix).await?;
        let master = match early_master {
            Some(master) => master,
            None => MasterKey::load_or_create(config.master_key.as_deref(), &config.keys_dir)?,
        };
        let mailer = Arc::new(Mailer::new(&config.mail, &config.data_dir, master.clone())?);
        let keys = Arc::new(
            KeyRing::load(
                store.clone(),
                master.clone(),
                KeyTimings::from_config(&config),
                head_start,
            )
            .await?,
        );
        let bootstrap = keys.clone();
        tokio::spawn(async move {
            if let Err(e) = bootstrap.finish_bootstrap().await {
                tracing::error!(error = %e, "the next signing keys could not be generated; the next rotation will publish its own");
            }
        });
        let directory = Directory::new(store.clone()).await?;
        let sign_in_log = sign_in_log::SignInLog::start(store.clone());
        Ok(Self {
            mailer,
            master,
            federation: crate::upstream::Federation::new(config.federation.allow_private_networks)?,
            tokens: Tokens::new(keys.clone()),
            config,
            store,
            ephemeral,
            keys,
            directory,
            passwords: Passwords::default(),
            ready: AtomicBool::new(true),
            write_check: node::WriteCheck::default(),
            logouts: logout::Outbox::default(),
            client_keys: client_assertion::ClientKeyCache::default(),
            sign_in_log,
            recorded_apps: logout::RecordedApps::default(),
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
