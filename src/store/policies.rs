//! Conditional-access policies and the sign-in log.
//!
//! Policies are read from the database on every decision (no cache), so a change made on
//! any node applies to the very next token issued anywhere (SECURITY.md H.73).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::sql::{
    ROWS_PER_STATEMENT, RowsAffected, cacheable, for_sql_backends, from_json, q, repeat_values,
    to_json,
};
use super::{StoreError, StoreResult};
use crate::domain::policy::{Policy, PolicyState};

/// One entry of the sign-in log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    /// Id.
    pub id: String,
    /// Tenant the sign-in was to.
    pub tenant_id: String,
    /// When.
    pub occurred_at: i64,
    /// The user, when known.
    pub user_id: Option<String>,
    /// The application (`client_id`), when there is one.
    pub app_id: Option<String>,
    /// `success`, `failure` or `interrupted`.
    pub status: String,
    /// The rest, as Graph `signIn` JSON.
    pub details: serde_json::Value,
}

/// One sign-in row; [`repeat_values`] makes it a batch.
const INSERT_SIGN_IN: &str = "INSERT INTO sign_ins (id, tenant_id, occurred_at, user_id, app_id, status, details) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Binds one sign-in's seven values, in [`INSERT_SIGN_IN`]'s order.
macro_rules! bind_sign_in {
    ($query:expr, $sign_in:expr, $details:expr) => {
        $query
            .bind($sign_in.id.as_str())
            .bind($sign_in.tenant_id.as_str())
            .bind($sign_in.occurred_at)
            .bind($sign_in.user_id.as_deref())
            .bind($sign_in.app_id.as_deref())
            .bind($sign_in.status.as_str())
            .bind($details)
    };
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    id: String,
    tenant_id: String,
    display_name: String,
    state: String,
    conditions: String,
    grant_controls: String,
    created_at: i64,
    modified_at: i64,
}

impl PolicyRow {
    fn into_policy(self) -> StoreResult<Policy> {
        Ok(Policy {
            state: PolicyState::parse(&self.state).map_err(|e| StoreError::Corrupt(e.0))?,
            conditions: from_json(&self.conditions)?,
            grant: from_json(&self.grant_controls)?,
            id: self.id,
            tenant_id: self.tenant_id,
            display_name: self.display_name,
            created_at: self.created_at,
            modified_at: self.modified_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SignInRow {
    id: String,
    tenant_id: String,
    occurred_at: i64,
    user_id: Option<String>,
    app_id: Option<String>,
    status: String,
    details: String,
}

/// Filters of the sign-in log.
#[derive(Debug, Clone, Default)]
pub struct SignInFilter {
    /// Only this user's sign-ins.
    pub user_id: Option<String>,
    /// Only sign-ins to this application.
    pub app_id: Option<String>,
    /// Only this status.
    pub status: Option<String>,
}

/// Storage of policies and sign-ins.
#[async_trait]
pub trait PolicyStore {
    /// The tenant's policies, oldest first.
    async fn policies(&self, tenant_id: &str) -> StoreResult<Vec<Policy>>;
    /// One policy.
    async fn policy(&self, tenant_id: &str, id: &str) -> StoreResult<Policy>;
    /// Stores a new policy.
    async fn create_policy(&self, policy: &Policy) -> StoreResult<()>;
    /// Replaces a policy's name, state, conditions and grant.
    async fn update_policy(&self, policy: &Policy) -> StoreResult<()>;
    /// Deletes a policy.
    async fn delete_policy(&self, tenant_id: &str, id: &str) -> StoreResult<()>;
    /// Appends a sign-in.
    async fn record_sign_in(&self, sign_in: &SignIn) -> StoreResult<()>;
    /// Appends several sign-ins in one transaction (multi-row `INSERT`s): all or none.
    async fn record_sign_ins(&self, sign_ins: &[SignIn]) -> StoreResult<()>;
    /// The tenant's sign-ins, newest first.
    async fn sign_ins(
        &self,
        tenant_id: &str,
        filter: &SignInFilter,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<SignIn>>;
}

for_sql_backends! {
    impl PolicyStore {
        async fn policies(&self, tenant_id: &str) -> StoreResult<Vec<Policy>> {
            let rows = sqlx::query_as::<DB, PolicyRow>(
                "SELECT id, tenant_id, display_name, state, conditions, grant_controls, created_at, modified_at FROM ca_policies WHERE tenant_id = $1 ORDER BY created_at, id",
            )
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(PolicyRow::into_policy).collect()
        }

        async fn policy(&self, tenant_id: &str, id: &str) -> StoreResult<Policy> {
            sqlx::query_as::<DB, PolicyRow>(
                "SELECT id, tenant_id, display_name, state, conditions, grant_controls, created_at, modified_at FROM ca_policies WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&self.pool)
            .await?
            .into_policy()
        }

        async fn create_policy(&self, policy: &Policy) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "INSERT INTO ca_policies (id, tenant_id, display_name, state, conditions, grant_controls, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(policy.id.as_str())
            .bind(policy.tenant_id.as_str())
            .bind(policy.display_name.as_str())
            .bind(policy.state.as_str())
            .bind(to_json(&policy.conditions)?)
            .bind(to_json(&policy.grant)?)
            .bind(policy.created_at)
            .bind(policy.modified_at)
            .execute(&mut *tx)
            .await?;
            // Every node's cached policies go (cache.rs).
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn update_policy(&self, policy: &Policy) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>(
                "UPDATE ca_policies SET display_name = $1, state = $2, conditions = $3, \
                 grant_controls = $4, modified_at = $5 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(policy.display_name.as_str())
            .bind(policy.state.as_str())
            .bind(to_json(&policy.conditions)?)
            .bind(to_json(&policy.grant)?)
            .bind(policy.modified_at)
            .bind(policy.tenant_id.as_str())
            .bind(policy.id.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn delete_policy(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>("DELETE FROM ca_policies WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn record_sign_in(&self, sign_in: &SignIn) -> StoreResult<()> {
            let details = to_json(&sign_in.details)?;
            // One statement: atomic on its own, so only the writer's turn, no BEGIN/COMMIT.
            let _turn = self.writer_turn().await?;
            bind_sign_in!(sqlx::query::<DB>(INSERT_SIGN_IN), sign_in, details)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn record_sign_ins(&self, sign_ins: &[SignIn]) -> StoreResult<()> {
            match sign_ins {
                [] => return Ok(()),
                [one] => return self.record_sign_in(one).await,
                _ => {}
            }
            let details = sign_ins
                .iter()
                .map(|s| to_json(&s.details))
                .collect::<StoreResult<Vec<_>>>()?;
            let mut tx = self.begin_write().await?;
            for (chunk, texts) in sign_ins.chunks(ROWS_PER_STATEMENT).zip(details.chunks(ROWS_PER_STATEMENT)) {
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(repeat_values(INSERT_SIGN_IN, chunk.len())))
                    .persistent(cacheable(chunk.len()));
                for (sign_in, text) in chunk.iter().zip(texts) {
                    query = bind_sign_in!(query, sign_in, text.as_str());
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn sign_ins(&self, tenant_id: &str, filter: &SignInFilter, limit: i64, offset: i64)
            -> StoreResult<Vec<SignIn>> {
            // Each filter is bound as ($n IS NULL OR column = $n), so one statement serves
            // every combination.
            let rows = sqlx::query_as::<DB, SignInRow>(
                "SELECT id, tenant_id, occurred_at, user_id, app_id, status, details FROM sign_ins \
                 WHERE tenant_id = $1 AND ($2 IS NULL OR user_id = $2) \
                 AND ($3 IS NULL OR app_id = $3) AND ($4 IS NULL OR status = $4) \
                 ORDER BY occurred_at DESC, id LIMIT $5 OFFSET $6",
            )
            .bind(tenant_id)
            .bind(filter.user_id.as_deref())
            .bind(filter.app_id.as_deref())
            .bind(filter.status.as_deref())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(SignIn {
                        details: from_json(&r.details)?,
                        id: r.id,
                        tenant_id: r.tenant_id,
                        occurred_at: r.occurred_at,
                        user_id: r.user_id,
                        app_id: r.app_id,
                        status: r.status,
                    })
                })
                .collect()
        }
    }
}
