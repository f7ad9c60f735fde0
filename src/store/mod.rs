//! Durable storage: the [`Store`] trait every module talks to, and its SQL implementation for
//! SQLite and Postgres ([`sql::SqlStore`]).
//!
//! The trait is split by concern ([`DirectoryStore`], [`UserStore`], [`GroupStore`],
//! [`KeyStore`], [`SessionStore`], [`GrantStore`], …) and [`Store`] unites them, so callers
//! hold one `Arc<dyn Store>`.
//! Timestamps are Unix seconds (`i64`), ids are strings, lists are JSON text: the same schema
//! and SQL serve both backends.

pub mod applications;
pub mod assignments;
pub mod audit;
pub mod directory;
pub mod grants;
pub mod groups;
pub mod held;
pub mod invitations;
pub mod keys;
pub mod logout;
pub mod mail;
pub mod memberships;
pub mod mfa;
pub mod partners;
pub mod policies;
pub mod sessions;
pub mod sql;
pub mod users;

use async_trait::async_trait;

pub use applications::ApplicationStore;
pub use assignments::{AppRoleAssignment, AssignmentStore, NewAssignment};
pub use audit::{AuditEvent, AuditStore, Party};
pub use directory::DirectoryStore;
pub use grants::{Grant, GrantStore, RefreshOutcome, RefreshToken};
pub use groups::GroupStore;
pub use held::{Decision, HeldRedemptionStore};
pub use invitations::{InvitationStore, NewInvitation, Redemption, Reset};
pub use keys::{KeyRingChanges, KeyStore, StoredKey};
pub use logout::{EndSessions, LogoutNotice, LogoutStore, SessionApp};
pub use mail::{Addressee, MailStore, OutboxMessage};
pub use memberships::MembershipStore;
pub use mfa::{MfaStore, TotpMethod};
pub use partners::PartnerStore;
pub use policies::{PolicyStore, SignIn, SignInFilter};
pub use sessions::{Session, SessionStore};
pub use users::{Conversion, SecurityChange, UserStore};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken (the message says which, for logs).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached right now; the caller answers 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or manual tampering).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database refused a value no input should have carried this far (a NUL byte in a
    /// Postgres text): the caller answers 400. The edge refuses such input first.
    #[error("value refused by the database: {0}")]
    Invalid(String),
    /// Anything else the driver reported.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(error.to_string())
            }
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                Self::Conflict(db.message().to_owned())
            }
            sqlx::Error::Database(ref db)
                if db.code().as_deref().is_some_and(|c| {
                    c.starts_with("08") || matches!(c, "25006" | "53100" | "53200" | "13" | "10")
                }) =>
            {
                // Postgres connection exceptions, read-only transactions (failover) and a full
                // disk or memory; SQLite's full disk (13) and I/O errors (10): the database is
                // there but cannot serve this now.
                Self::Unavailable(error.to_string())
            }
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .as_deref()
                    .is_some_and(|c| matches!(c, "22021" | "22P05")) =>
            {
                Self::Invalid(db.message().to_owned())
            }
            other => Self::Other(other),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Gatehouse persists.
#[async_trait]
pub trait Store:
    DirectoryStore
    + ApplicationStore
    + UserStore
    + GroupStore
    + MembershipStore
    + AssignmentStore
    + InvitationStore
    + HeldRedemptionStore
    + MailStore
    + MfaStore
    + PolicyStore
    + PartnerStore
    + AuditStore
    + KeyStore
    + SessionStore
    + GrantStore
    + LogoutStore
    + Send
    + Sync
{
    /// Cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// The connection pool: (connections open, of which idle).
    fn pool_stats(&self) -> (u32, usize);

    /// Messages in the outbox not yet delivered.
    async fn outbox_depth(&self) -> StoreResult<i64>;

    /// A tiny write in a write transaction: whether the database can be written (a full disk
    /// leaves it readable but not writable).
    async fn write_check(&self, now: i64) -> StoreResult<()>;

    /// A counter bumped by every change to cached configuration (tenants, apps, keys); nodes
    /// poll it and drop their caches when it moves.
    async fn generation(&self) -> StoreResult<i64>;

    /// Signals pushed when the generation moves (Postgres `LISTEN/NOTIFY`), so a node reloads
    /// at once; `None` when the engine cannot push (SQLite: the node polls).
    fn config_changes(&self) -> Option<tokio::sync::mpsc::Receiver<()>>;

    /// Deletes expired rows (sessions, refresh tokens, revoked token ids).
    async fn purge_expired(&self, now: i64) -> StoreResult<u64>;
}
