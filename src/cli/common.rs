//! What the commands share: the database an administration command works on, the operator it
//! acts as, reading files and secrets, printing JSON, and the exit statuses.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::domain::tenant::Tenant;
use crate::keys::MasterKey;
use crate::services::admin;
use crate::store::{self, Party, Store};

/// Exit status of `gatehouse invite` when it ran but some rows failed.
pub const EXIT_ROWS_FAILED: u8 = 3;

/// The bulk invitation ran to the end but `0` rows failed (their results say why).
#[derive(Debug, thiserror::Error)]
#[error("{0} of the rows failed; their results on stdout say why")]
pub(super) struct RowsFailed(pub(super) usize);

/// The exit status of a command's result; an error is printed on stderr first.
pub(super) fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<RowsFailed>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ROWS_FAILED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one JSON value, pretty, on stdout.
pub(super) fn print(value: serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// The first line of standard input, without its line ending (a password or a secret).
pub(super) fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// A text file named on the command line.
pub(super) fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// A text file named on the command line, when one was named.
pub(super) fn read_optional_text(path: Option<&Path>) -> anyhow::Result<Option<String>> {
    path.map(read_text).transpose()
}

/// The party an administration command acts as, in the audit log.
pub(super) fn operator() -> Party {
    Party {
        id: "cli".to_owned(),
        kind: "system".to_owned(),
        display: "gatehouse CLI".to_owned(),
    }
}

/// An administration command's footing: the configuration and the server's database.
pub(super) struct Admin {
    /// The configuration the command was started with.
    pub(super) config: Config,
    /// The server's database.
    pub(super) store: Arc<dyn Store>,
}

impl Admin {
    /// Opens the configured database, which must exist already.
    pub(super) async fn open(config: Config) -> anyhow::Result<Self> {
        require_existing_database(&config.resolved_database_url())?;
        let store = store::sql::connect(
            &config.resolved_database_url(),
            config.database_max_connections.min(4),
        )
        .await?;
        Ok(Self { config, store })
    }

    /// The database, borrowed.
    pub(super) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The OpenID issuer of the tenant with this slug.
    pub(super) fn issuer(&self, slug: &str) -> String {
        format!("{}/{slug}", self.config.base_url())
    }

    /// The tenant with this slug.
    pub(super) async fn tenant(&self, slug: &str) -> anyhow::Result<Tenant> {
        Ok(admin::tenant_by_slug(self.store(), slug).await?)
    }

    /// The master key that seals secrets at rest (created on first use, like the server does).
    pub(super) fn master_key(&self) -> anyhow::Result<MasterKey> {
        MasterKey::load_or_create(self.config.master_key.as_deref(), &self.config.keys_dir)
    }

    /// The client for partner identity providers' discovery and metadata.
    pub(super) fn federation(&self) -> anyhow::Result<crate::upstream::Federation> {
        crate::upstream::Federation::new(self.config.federation.allow_private_networks)
    }
}

/// An administration command works on the server's database: a SQLite file that does not
/// exist means the wrong directory or settings, never a reason to create an empty one.
fn require_existing_database(url: &str) -> anyhow::Result<()> {
    if let Some(path) = store::sql::sqlite_file(url)
        && !path.exists()
    {
        anyhow::bail!(
            "there is no database at {} (GATEHOUSE_DATA_DIR / GATEHOUSE_DATABASE_URL). Run this \
             command where the server runs, or create it with `gatehouse migrate` (or by starting \
             `gatehouse serve` once)",
            path.display()
        );
    }
    Ok(())
}
