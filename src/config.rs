//! Configuration: built-in defaults, then an optional `gatehouse.toml`, then `GATEHOUSE_*`
//! environment variables (the environment wins). Nested settings use `__` in variable names,
//! e.g. `GATEHOUSE_TOKENS__ACCESS_TOKEN_TTL=600`.
//!
//! Loading validates everything it can, so a bad setting stops the process at start with a
//! message that names the setting.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

/// Environment variable naming the configuration file (default `gatehouse.toml` if it exists).
pub const CONFIG_FILE_VAR: &str = "GATEHOUSE_CONFIG";

/// The whole configuration of one Gatehouse node.
///
/// Unknown top-level keys are ignored (other tools share the `GATEHOUSE_` prefix); unknown keys
/// inside a section are refused, so a misspelt setting is caught.
#[derive(Clone, Serialize, Deserialize)]
pub struct Config {
    /// Socket address the HTTP server binds (`GATEHOUSE_LISTEN`).
    pub listen: SocketAddr,
    /// Externally visible base URL; every issuer is `{public_url}/{tenant}` (`GATEHOUSE_PUBLIC_URL`).
    pub public_url: String,
    /// Directory for the default SQLite database and the mail outbox (`GATEHOUSE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; unset means `sqlite://{data_dir}/gatehouse.db`
    /// (`GATEHOUSE_DATABASE_URL`).
    pub database_url: Option<String>,
    /// Maximum connections in the database pool (`GATEHOUSE_DATABASE_MAX_CONNECTIONS`).
    pub database_max_connections: u32,
    /// `redis://…` for the shared ephemeral store; unset means in-memory (`GATEHOUSE_REDIS_URL`).
    pub redis_url: Option<String>,
    /// Prefix of every Redis key this deployment writes (`GATEHOUSE_REDIS_PREFIX`).
    pub redis_prefix: String,
    /// Directory holding the master key file `master.key` (`GATEHOUSE_KEYS_DIR`).
    pub keys_dir: PathBuf,
    /// The master key itself, base64url of 32 bytes; overrides `keys_dir/master.key`
    /// (`GATEHOUSE_MASTER_KEY`).
    pub master_key: Option<String>,
    /// Log output format: `compact` or `json` (`GATEHOUSE_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Proxies whose `X-Forwarded-For` is believed (`GATEHOUSE_TRUSTED_PROXIES`, comma-separated).
    pub trusted_proxies: Vec<IpAddr>,
    /// Token and session lifetimes.
    pub tokens: TokenSettings,
    /// Signing-key publication settings.
    pub keys: KeySettings,
    /// Throttling of failed credentials.
    pub throttle: ThrottleSettings,
    /// Outgoing mail.
    pub mail: MailSettings,
    /// Partner identity providers.
    pub federation: FederationSettings,
    /// How connections are served and how a node stops.
    pub server: ServerSettings,
    /// Where Prometheus metrics are served (`GATEHOUSE_METRICS_LISTEN`); unset: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// OpenTelemetry traces.
    pub otlp: OtlpSettings,
}

/// Serving connections (see `server`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Seconds a node keeps serving after a shutdown signal, while `/readyz` already says it
    /// is going (so a load balancer takes it out first).
    pub drain_seconds: u64,
    /// Seconds a client has to send a request's headers; also the longest idle time of a
    /// kept-alive connection.
    pub header_timeout: u64,
    /// Connections served at once; 0: below the open-file limit.
    pub max_connections: usize,
    /// Connections from one client address at once; 0: half of `max_connections`.
    pub max_connections_per_address: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            drain_seconds: 10,
            header_timeout: 10,
            max_connections: 0,
            max_connections_per_address: 0,
        }
    }
}

/// OpenTelemetry traces over OTLP/HTTP.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpSettings {
    /// The collector's OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`); unset:
    /// no traces are exported.
    pub endpoint: Option<String>,
    /// The service name traces carry.
    pub service_name: Option<String>,
}

/// Partner identity providers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    /// Let partner IdPs (their discovery, keys, token and userinfo endpoints) be on loopback
    /// or private addresses — for development and tests only; off, Gatehouse refuses to
    /// reach into the operator's own network on an administrator's say-so (SSRF).
    pub allow_private_networks: bool,
}

/// Outgoing mail.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// `smtp://host:port`, `smtps://user:password@host` …; unset writes `.eml` files to
    /// `{data_dir}/outbox` instead.
    pub smtp_url: Option<String>,
    /// The From address (`Name <address>`).
    pub from: String,
    /// Seconds before the first retry of a failed delivery; each further failure doubles it,
    /// up to an hour.
    pub retry_after: u64,
    /// Messages delivered at once (each over its own pooled SMTP connection).
    pub concurrency: usize,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Gatehouse Invitations <invitations@gatehouse.invalid>".to_owned(),
            retry_after: 30,
            concurrency: 16,
        }
    }
}

/// Lifetimes, in seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// ID token lifetime.
    pub id_token_ttl: u64,
    /// Access token lifetime.
    pub access_token_ttl: u64,
    /// Refresh token lifetime (each rotation starts a new one, the grant keeps its own limit).
    pub refresh_token_ttl: u64,
    /// Authorization code lifetime (policy: 60 s).
    pub code_ttl: u64,
    /// Browser session lifetime.
    pub session_ttl: u64,
    /// How long a sign-in transaction may stay open.
    pub transaction_ttl: u64,
    /// How recent the primary sign-in must be to enrol a second factor (and a mailed
    /// passcode to count as proof of a guest's mailbox).
    pub enrolment_window: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            id_token_ttl: 3600,
            access_token_ttl: 900,
            refresh_token_ttl: 14 * 24 * 3600,
            code_ttl: 60,
            session_ttl: 12 * 3600,
            transaction_ttl: 15 * 60,
            enrolment_window: 10 * 60,
        }
    }
}

impl TokenSettings {
    /// The longest lifetime of any JWT we sign: how long a retired key must stay published.
    pub fn longest_jwt_ttl(&self) -> u64 {
        self.id_token_ttl.max(self.access_token_ttl)
    }
}

/// Key-ring publication settings, in seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// `Cache-Control: max-age` of the JWKS; a new key is published at least this long before
    /// it signs.
    pub jwks_max_age: u64,
    /// How often each node re-reads the key ring and directory generation.
    pub refresh_interval: u64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            jwks_max_age: 300,
            refresh_interval: 2,
        }
    }
}

/// Throttling of failed passwords and client secrets.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    /// Failures per account after which each further attempt waits a growing delay.
    pub password_free_failures: u64,
    /// Consecutive failures after which an account refuses every attempt for an hour.
    pub password_lockout: u64,
    /// Wrong client secrets per client and source address per minute before 429.
    pub client_secret_failures_per_minute: u64,
    /// One-time codes mailed per address per hour (SECURITY.md I.68: at most 5).
    pub passcode_sends_per_address: u64,
    /// One-time codes mailed per client IP address per hour (at most 20; raise it only for
    /// sites where many people share one address).
    pub passcode_sends_per_ip: u64,
    /// Failed passwords or second factors from one client address before its attempts wait
    /// a growing delay. Partner organisations sign in from one NAT address, so this is sized
    /// for hundreds of people and kept apart from the per-account limits; only failures count.
    pub address_free_failures: u64,
    /// Failures from one client address after which it is refused for an hour.
    pub address_lockout: u64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            password_free_failures: 3,
            password_lockout: 100,
            client_secret_failures_per_minute: 20,
            passcode_sends_per_address: 5,
            passcode_sends_per_ip: 20,
            address_free_failures: 100,
            address_lockout: 1000,
        }
    }
}

/// Log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable single lines.
    Compact,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_max_connections: 16,
            redis_url: None,
            redis_prefix: "gh:".to_owned(),
            keys_dir: PathBuf::from("keys"),
            master_key: None,
            log_format: LogFormat::Compact,
            trusted_proxies: Vec::new(),
            tokens: TokenSettings::default(),
            keys: KeySettings::default(),
            throttle: ThrottleSettings::default(),
            mail: MailSettings::default(),
            federation: FederationSettings::default(),
            server: ServerSettings::default(),
            metrics_listen: None,
            otlp: OtlpSettings::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("keys_dir", &self.keys_dir)
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "[redacted]"),
            )
            .field("tokens", &self.tokens)
            .field("keys", &self.keys)
            .field(
                "mail_smtp_url",
                &self.mail.smtp_url.as_deref().map(redact_url),
            )
            .finish_non_exhaustive()
    }
}

/// A configuration that cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults → `gatehouse.toml` (or the file named by `GATEHOUSE_CONFIG`, or `file`)
    /// → `GATEHOUSE_*` environment, then validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let named = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_FILE_VAR).map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match named {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file("gatehouse.toml")),
        }
        figment = figment.merge(
            Env::prefixed("GATEHOUSE_")
                // GATEHOUSE_CONFIG names the file; GATEHOUSE_TEST_* belong to the test suite;
                // GATEHOUSE_TRUSTED_PROXIES is a comma-separated list, parsed below.
                .ignore(&["config", "trusted_proxies"])
                .filter(|key| !key.as_str().starts_with("test_"))
                .split("__"),
        );
        if let Ok(list) = std::env::var("GATEHOUSE_TRUSTED_PROXIES") {
            let items: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            figment = figment.merge(Serialized::default("trusted_proxies", items));
        }
        let config: Config = figment.extract().map_err(|e| ConfigError(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks cross-field rules the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_addresses()?;
        self.validate_lifetimes()?;
        self.validate_mail_and_master_key()
    }

    /// The public URL, the database and Redis URLs, and the database pool size.
    fn validate_addresses(&self) -> Result<(), ConfigError> {
        let url = Url::parse(&self.public_url).map_err(|e| {
            ConfigError(format!(
                "GATEHOUSE_PUBLIC_URL ({:?}) is not a URL: {e}",
                self.public_url
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
        {
            return Err(ConfigError(format!(
                "GATEHOUSE_PUBLIC_URL ({:?}) must be an http(s) URL without credentials, query or fragment",
                self.public_url
            )));
        }
        if let Some(db) = &self.database_url
            && !(db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "GATEHOUSE_DATABASE_URL must start with sqlite:, postgres:// or postgresql://"
                    .to_owned(),
            ));
        }
        if let Some(redis) = &self.redis_url
            && !(redis.starts_with("redis://") || redis.starts_with("rediss://"))
        {
            return Err(ConfigError(
                "GATEHOUSE_REDIS_URL must start with redis:// or rediss://".to_owned(),
            ));
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError(
                "GATEHOUSE_DATABASE_MAX_CONNECTIONS must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }

    /// Token, session and key-refresh lifetimes.
    fn validate_lifetimes(&self) -> Result<(), ConfigError> {
        let t = &self.tokens;
        for (name, value) in [
            ("GATEHOUSE_TOKENS__ID_TOKEN_TTL", t.id_token_ttl),
            ("GATEHOUSE_TOKENS__ACCESS_TOKEN_TTL", t.access_token_ttl),
            ("GATEHOUSE_TOKENS__REFRESH_TOKEN_TTL", t.refresh_token_ttl),
            ("GATEHOUSE_TOKENS__CODE_TTL", t.code_ttl),
            ("GATEHOUSE_TOKENS__SESSION_TTL", t.session_ttl),
            ("GATEHOUSE_TOKENS__TRANSACTION_TTL", t.transaction_ttl),
            ("GATEHOUSE_TOKENS__ENROLMENT_WINDOW", t.enrolment_window),
            (
                "GATEHOUSE_KEYS__REFRESH_INTERVAL",
                self.keys.refresh_interval,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("{name} must be greater than 0")));
            }
        }
        if t.code_ttl > 600 {
            return Err(ConfigError(
                "GATEHOUSE_TOKENS__CODE_TTL must be at most 600 seconds (RFC 6749 §4.1.2)"
                    .to_owned(),
            ));
        }
        if self.keys.refresh_interval > self.keys.jwks_max_age.max(1) {
            return Err(ConfigError(
                "GATEHOUSE_KEYS__REFRESH_INTERVAL must not exceed GATEHOUSE_KEYS__JWKS_MAX_AGE, \
                 or a node could sign with a key it has not yet seen published"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// The mail relay and sender, and the master key.
    fn validate_mail_and_master_key(&self) -> Result<(), ConfigError> {
        if let Some(smtp) = &self.mail.smtp_url
            && !(smtp.starts_with("smtp://") || smtp.starts_with("smtps://"))
        {
            return Err(ConfigError(
                "GATEHOUSE_MAIL__SMTP_URL must start with smtp:// or smtps://".to_owned(),
            ));
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError(format!(
                "GATEHOUSE_MAIL__FROM ({:?}) is not a mailbox such as \"Name <address@example.com>\"",
                self.mail.from
            )));
        }
        if let Some(key) = &self.master_key {
            crate::secrets::decode_key(key)
                .map_err(|e| ConfigError(format!("GATEHOUSE_MASTER_KEY is not usable: {e}")))?;
        }
        Ok(())
    }

    /// The public base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    /// Whether the public URL is https (decides `Secure` cookies and `__Host-` names).
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The database URL, defaulting to a SQLite file under the data directory.
    pub fn resolved_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.data_dir.join("gatehouse.db").to_string_lossy()
            ),
        }
    }

    /// The origin (`scheme://host[:port]`) of the public URL, for `Origin` header checks.
    pub fn public_origin(&self) -> String {
        Url::parse(&self.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }
}

/// Names each bad setting as the operator wrote it: the environment variable, or the key and
/// the file.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let setting = match &e.metadata {
                Some(meta) if meta.name.contains("environment") => {
                    format!("GATEHOUSE_{}", e.path.join("__").to_ascii_uppercase())
                }
                Some(meta) => format!(
                    "{key} (in {})",
                    meta.source
                        .as_ref()
                        .map_or_else(|| meta.name.to_string(), ToString::to_string,)
                ),
                None => key,
            };
            format!("{setting}: {}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Hides the password in a connection URL.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_point_at_sqlite_under_data() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.resolved_database_url(), "sqlite://data/gatehouse.db");
        assert_eq!(config.public_origin(), "http://127.0.0.1:8080");
    }

    #[test]
    fn a_public_url_with_a_query_is_refused_by_name() {
        let config = Config {
            public_url: "https://idp.example/?x=1".to_owned(),
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("GATEHOUSE_PUBLIC_URL"), "{err}");
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@db/x"),
            "postgres://u:redacted@db/x"
        );
    }
}
