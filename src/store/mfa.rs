//! Second factors: TOTP authenticators (secrets sealed with the master key) and single-use
//! recovery codes (hashed). Both "a code is accepted once" rules are enforced by atomic
//! conditional updates, so of parallel submissions of one correct code exactly one wins.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::sql::{RowsAffected, for_sql_backends};
use super::{StoreError, StoreResult};

/// A TOTP authenticator of a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpMethod {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Owner.
    pub user_id: String,
    /// Name shown to the user ("Authenticator app").
    pub display_name: String,
    /// The secret, sealed with the master key.
    pub sealed_secret: String,
    /// Time step of the last accepted code.
    pub last_step: i64,
    /// Enrolment time.
    pub created_at: i64,
    /// Last successful use.
    pub last_used_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TotpRow {
    id: String,
    tenant_id: String,
    user_id: String,
    display_name: String,
    secret: String,
    last_step: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<TotpRow> for TotpMethod {
    fn from(r: TotpRow) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            display_name: r.display_name,
            sealed_secret: r.secret,
            last_step: r.last_step,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// Storage of second factors.
#[async_trait]
pub trait MfaStore {
    /// The user's TOTP methods, oldest first.
    async fn totp_methods(&self, user_id: &str) -> StoreResult<Vec<TotpMethod>>;
    /// Adds a TOTP method; with `recovery_code_hashes`, also replaces the recovery codes (the
    /// first enrolment), in one transaction.
    async fn add_totp_method(
        &self,
        method: &TotpMethod,
        recovery_code_hashes: Option<&[String]>,
    ) -> StoreResult<()>;
    /// Removes a TOTP method of the user; with no method left, the recovery codes go too.
    async fn remove_totp_method(&self, user_id: &str, id: &str) -> StoreResult<()>;
    /// Accepts time step `step` for the method if no code of that step or a later one was
    /// accepted before; `false` means the code was already used (a replay).
    async fn accept_totp_step(&self, id: &str, step: i64, now: i64) -> StoreResult<bool>;
    /// Replaces the user's recovery codes.
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
        now: i64,
    ) -> StoreResult<()>;
    /// Spends an unused recovery code; `false` if there is none with this hash.
    async fn use_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> StoreResult<bool>;
    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user_id: &str) -> StoreResult<i64>;
}

const INSERT_RECOVERY: &str =
    "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)";

for_sql_backends! {
    impl MfaStore {
        async fn totp_methods(&self, user_id: &str) -> StoreResult<Vec<TotpMethod>> {
            let rows = sqlx::query_as::<DB, TotpRow>(
                "SELECT id, tenant_id, user_id, display_name, secret, last_step, created_at, \
                 last_used_at FROM totp_methods WHERE user_id = $1 ORDER BY created_at, id",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(TotpMethod::from).collect())
        }

        async fn add_totp_method(&self, method: &TotpMethod, recovery_code_hashes: Option<&[String]>)
            -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "INSERT INTO totp_methods (id, tenant_id, user_id, display_name, secret, last_step, \
                 created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(method.id.as_str())
            .bind(method.tenant_id.as_str())
            .bind(method.user_id.as_str())
            .bind(method.display_name.as_str())
            .bind(method.sealed_secret.as_str())
            .bind(method.last_step)
            .bind(method.created_at)
            .bind(method.last_used_at)
            .execute(&mut *tx)
            .await?;
            if let Some(hashes) = recovery_code_hashes {
                sqlx::query::<DB>("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(method.user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                for hash in hashes {
                    sqlx::query::<DB>(INSERT_RECOVERY)
                        .bind(method.user_id.as_str())
                        .bind(hash.as_str())
                        .bind(method.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        }

        async fn remove_totp_method(&self, user_id: &str, id: &str) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>("DELETE FROM totp_methods WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let left = sqlx::query_scalar::<DB, i64>(
                "SELECT COUNT(*) FROM totp_methods WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            if left == 0 {
                sqlx::query::<DB>("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn accept_totp_step(&self, id: &str, step: i64, now: i64) -> StoreResult<bool> {
            let done = sqlx::query::<DB>(
                "UPDATE totp_methods SET last_step = $1, last_used_at = $2 \
                 WHERE id = $3 AND last_step < $1",
            )
            .bind(step)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn replace_recovery_codes(&self, user_id: &str, hashes: &[String], now: i64)
            -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for hash in hashes {
                sqlx::query::<DB>(INSERT_RECOVERY)
                    .bind(user_id)
                    .bind(hash.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn use_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> StoreResult<bool> {
            let done = sqlx::query::<DB>(
                "UPDATE recovery_codes SET used_at = $1 \
                 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .bind(hash)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn recovery_codes_left(&self, user_id: &str) -> StoreResult<i64> {
            Ok(sqlx::query_scalar::<DB, i64>(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?)
        }
    }
}
