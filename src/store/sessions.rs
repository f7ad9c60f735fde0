//! Browser sessions, durable so that they survive a restart of Redis or of every node.
//!
//! A browser carries one session cookie; the database keeps one row per (browser, tenant),
//! keyed by the SHA-256 of the cookie value, so one browser can be signed in to several
//! tenants (a guest in one, a member of its home tenant in another).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use super::sql::{for_sql_backends, from_json, to_json};
use super::users::{UserRow, user_columns};
use crate::domain::user::User;

/// A signed-in browser in one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Public session id (`sid` claim).
    pub id: String,
    /// Tenant the session belongs to.
    pub tenant_id: String,
    /// Signed-in user.
    pub user_id: String,
    /// When the user last authenticated actively.
    pub auth_time: i64,
    /// Methods used (`amr`).
    pub amr: Vec<String>,
    /// Assurance level reached (`acr`).
    pub acr: String,
    /// Upstream identity provider, when the user authenticated elsewhere.
    pub idp: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    tenant_id: String,
    user_id: String,
    auth_time: i64,
    amr: String,
    acr: String,
    idp: Option<String>,
    created_at: i64,
    expires_at: i64,
}

/// Storage of browser sessions.
#[async_trait]
pub trait SessionStore {
    /// Signs a browser in: moves every session of the browser's previous cookie (if any) to
    /// the new cookie (so the old value stops working: no fixation), ends the browser's
    /// previous session in this tenant and stores `session` — in one transaction (for a
    /// browser without a previous cookie, one statement).
    async fn establish_session(
        &self,
        previous_token_hash: Option<&str>,
        token_hash: &str,
        session: &Session,
    ) -> StoreResult<()>;
    /// The live session of this browser in a tenant.
    async fn active_session(
        &self,
        token_hash: &str,
        tenant_id: &str,
        now: i64,
    ) -> StoreResult<Session>;
    /// The live session of this browser in a tenant with its user, in one statement (a
    /// sign-in answered from the session needs both). `NotFound` when there is no live
    /// session or its user is gone.
    async fn active_session_with_user(
        &self,
        token_hash: &str,
        tenant_id: &str,
        now: i64,
    ) -> StoreResult<(Session, User)>;
    /// Ends a session.
    async fn end_session(&self, id: &str, now: i64) -> StoreResult<()>;
}

/// A session row joined to its user's row: the session's columns renamed, so that the user's
/// keep the plain names [`UserRow`] reads.
#[derive(sqlx::FromRow)]
struct SessionUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    s_id: String,
    s_tenant_id: String,
    s_user_id: String,
    s_auth_time: i64,
    s_amr: String,
    s_acr: String,
    s_idp: Option<String>,
    s_created_at: i64,
    s_expires_at: i64,
}

impl SessionUserRow {
    fn into_parts(self) -> StoreResult<(Session, User)> {
        let session = SessionRow {
            id: self.s_id,
            tenant_id: self.s_tenant_id,
            user_id: self.s_user_id,
            auth_time: self.s_auth_time,
            amr: self.s_amr,
            acr: self.s_acr,
            idp: self.s_idp,
            created_at: self.s_created_at,
            expires_at: self.s_expires_at,
        };
        Ok((session.into_session()?, self.user.into_user()?))
    }
}

/// The browser's newest live session in tenant `$2` (cookie digest `$1`, clock `$3`) joined to
/// its user of the same tenant.
const ACTIVE_SESSION_WITH_USER: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", s_id, s_tenant_id, s_user_id, s_auth_time, s_amr, s_acr, s_idp, s_created_at, \
     s_expires_at FROM (SELECT id AS s_id, tenant_id AS s_tenant_id, user_id AS s_user_id, \
     auth_time AS s_auth_time, amr AS s_amr, acr AS s_acr, idp AS s_idp, \
     created_at AS s_created_at, expires_at AS s_expires_at FROM sessions \
     WHERE token_hash = $1 AND tenant_id = $2 AND ended_at IS NULL AND expires_at > $3 \
     ORDER BY created_at DESC LIMIT 1) AS s \
     JOIN users ON users.id = s.s_user_id AND users.tenant_id = s.s_tenant_id"
);

impl SessionRow {
    fn into_session(self) -> StoreResult<Session> {
        Ok(Session {
            amr: from_json(&self.amr)?,
            id: self.id,
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            auth_time: self.auth_time,
            acr: self.acr,
            idp: self.idp,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

for_sql_backends! {
    impl SessionStore {
        async fn establish_session(
            &self,
            previous_token_hash: Option<&str>,
            token_hash: &str,
            session: &Session,
        ) -> StoreResult<()> {
            let insert = sqlx::query::<DB>(
                "INSERT INTO sessions (id, token_hash, tenant_id, user_id, auth_time, amr, acr, idp, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(session.id.as_str())
            .bind(token_hash)
            .bind(session.tenant_id.as_str())
            .bind(session.user_id.as_str())
            .bind(session.auth_time)
            .bind(to_json(&session.amr)?)
            .bind(session.acr.as_str())
            .bind(session.idp.as_deref())
            .bind(session.created_at)
            .bind(session.expires_at);
            let Some(previous) = previous_token_hash else {
                // A browser without a session cookie: the insert alone, one statement.
                let _turn = self.writer_turn().await?;
                insert.execute(&self.pool).await?;
                return Ok(());
            };
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "UPDATE sessions SET ended_at = $1 \
                 WHERE token_hash = $2 AND tenant_id = $3 AND ended_at IS NULL",
            )
            .bind(session.created_at)
            .bind(previous)
            .bind(session.tenant_id.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query::<DB>("UPDATE sessions SET token_hash = $1 WHERE token_hash = $2")
                .bind(token_hash)
                .bind(previous)
                .execute(&mut *tx)
                .await?;
            insert.execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn active_session(
            &self,
            token_hash: &str,
            tenant_id: &str,
            now: i64,
        ) -> StoreResult<Session> {
            sqlx::query_as::<DB, SessionRow>(
                "SELECT id, tenant_id, user_id, auth_time, amr, acr, idp, created_at, expires_at \
                 FROM sessions WHERE token_hash = $1 AND tenant_id = $2 AND ended_at IS NULL \
                 AND expires_at > $3 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(token_hash)
            .bind(tenant_id)
            .bind(now)
            .fetch_one(&self.pool)
            .await?
            .into_session()
        }

        async fn active_session_with_user(
            &self,
            token_hash: &str,
            tenant_id: &str,
            now: i64,
        ) -> StoreResult<(Session, User)> {
            sqlx::query_as::<DB, SessionUserRow>(ACTIVE_SESSION_WITH_USER)
                .bind(token_hash)
                .bind(tenant_id)
                .bind(now)
                .fetch_one(&self.pool)
                .await?
                .into_parts()
        }

        async fn end_session(&self, id: &str, now: i64) -> StoreResult<()> {
            sqlx::query::<DB>("UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }
    }
}
