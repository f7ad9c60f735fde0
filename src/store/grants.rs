//! Grants, refresh-token families and individually revoked access tokens.
//!
//! A grant is what one sign-in (or one client) was given. Every token minted from it carries
//! the grant id, so revoking the grant ends the refresh-token family and makes its access
//! tokens fail at userinfo and introspection. Refresh tokens are stored as SHA-256 digests
//! and rotate on every use; presenting a used one revokes the whole family
//! (RFC 9700 §4.14.2).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::sql::{RowsAffected, for_sql_backends, from_json, to_json};
use super::users::{UserRow, user_columns};
use super::{StoreError, StoreResult};
use crate::domain::user::User;

/// A grant as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// Grant id (also the refresh-token family id).
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Client the grant was given to.
    pub client_id: String,
    /// User, for user grants.
    pub user_id: Option<String>,
    /// Browser session the grant came from.
    pub session_id: Option<String>,
    /// Granted scope (space-separated).
    pub scope: String,
    /// Authentication time of the sign-in.
    pub auth_time: i64,
    /// Authentication methods of the sign-in.
    pub amr: Vec<String>,
    /// Assurance level of the sign-in.
    pub acr: String,
    /// Identity provider of the sign-in (`None` for local credentials).
    pub idp: Option<String>,
    /// Nonce of the authorization request, for ID tokens minted on refresh.
    pub nonce: Option<String>,
    /// The user's security stamp when the grant was given.
    pub user_stamp: Option<String>,
    /// The address the user signed in from, when known (the `ipaddr` optional claim).
    pub ip: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// When the grant can be forgotten.
    pub expires_at: i64,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

/// A refresh token as stored (the token itself is never stored).
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Grant (family) it belongs to.
    pub grant_id: String,
    /// Issue time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When it was exchanged for a successor.
    pub used_at: Option<i64>,
}

/// What happened when a refresh token was exchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was unused and is now spent; its successor is stored.
    Rotated,
    /// The token had already been spent (a concurrent or replayed use).
    AlreadyUsed,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    tenant_id: String,
    client_id: String,
    user_id: Option<String>,
    session_id: Option<String>,
    scope: String,
    auth_time: i64,
    amr: String,
    acr: String,
    idp: Option<String>,
    nonce: Option<String>,
    user_stamp: Option<String>,
    ip: Option<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl GrantRow {
    fn into_grant(self) -> StoreResult<Grant> {
        Ok(Grant {
            amr: from_json(&self.amr)?,
            id: self.id,
            tenant_id: self.tenant_id,
            client_id: self.client_id,
            user_id: self.user_id,
            session_id: self.session_id,
            scope: self.scope,
            auth_time: self.auth_time,
            acr: self.acr,
            idp: self.idp,
            nonce: self.nonce,
            user_stamp: self.user_stamp,
            ip: self.ip,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// A grant (its columns renamed `g_…`) with its user, from one join.
#[derive(sqlx::FromRow)]
struct GrantUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    g_id: String,
    g_tenant_id: String,
    g_client_id: String,
    g_user_id: Option<String>,
    g_session_id: Option<String>,
    g_scope: String,
    g_auth_time: i64,
    g_amr: String,
    g_acr: String,
    g_idp: Option<String>,
    g_nonce: Option<String>,
    g_user_stamp: Option<String>,
    g_ip: Option<String>,
    g_created_at: i64,
    g_expires_at: i64,
    g_revoked_at: Option<i64>,
}

impl GrantUserRow {
    fn into_parts(self) -> StoreResult<(Grant, User)> {
        let grant = GrantRow {
            id: self.g_id,
            tenant_id: self.g_tenant_id,
            client_id: self.g_client_id,
            user_id: self.g_user_id,
            session_id: self.g_session_id,
            scope: self.g_scope,
            auth_time: self.g_auth_time,
            amr: self.g_amr,
            acr: self.g_acr,
            idp: self.g_idp,
            nonce: self.g_nonce,
            user_stamp: self.g_user_stamp,
            ip: self.g_ip,
            created_at: self.g_created_at,
            expires_at: self.g_expires_at,
            revoked_at: self.g_revoked_at,
        };
        Ok((grant.into_grant()?, self.user.into_user()?))
    }
}

/// The grant `$1` joined to its user: the grant's columns renamed in a subquery, so that the
/// user's keep the plain names [`UserRow`] reads.
const GRANT_WITH_USER: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", g_id, g_tenant_id, g_client_id, g_user_id, g_session_id, g_scope, g_auth_time, g_amr, \
     g_acr, g_idp, g_nonce, g_user_stamp, g_ip, g_created_at, g_expires_at, g_revoked_at \
     FROM (SELECT id AS g_id, tenant_id AS g_tenant_id, client_id AS g_client_id, \
     user_id AS g_user_id, session_id AS g_session_id, scope AS g_scope, \
     auth_time AS g_auth_time, amr AS g_amr, acr AS g_acr, idp AS g_idp, nonce AS g_nonce, \
     user_stamp AS g_user_stamp, ip AS g_ip, created_at AS g_created_at, \
     expires_at AS g_expires_at, revoked_at AS g_revoked_at FROM grants WHERE id = $1) AS g \
     JOIN users ON users.id = g.g_user_id AND users.tenant_id = g.g_tenant_id"
);

/// Storage of grants and refresh tokens.
#[async_trait]
pub trait GrantStore {
    /// Stores a grant.
    async fn create_grant(&self, grant: &Grant) -> StoreResult<()>;
    /// Finds a grant.
    async fn grant_by_id(&self, id: &str) -> StoreResult<Grant>;
    /// Finds a grant with its user (of the grant's tenant), in one statement when the user
    /// exists: the code exchange needs both. `None`: the grant has no user, or its user is
    /// gone.
    async fn grant_with_user(&self, id: &str) -> StoreResult<(Grant, Option<User>)>;
    /// Revokes a grant and, with it, its refresh tokens and access tokens.
    async fn revoke_grant(&self, id: &str, now: i64) -> StoreResult<()>;
    /// Stores a refresh token of a grant and extends the grant's lifetime to cover it.
    async fn issue_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;
    /// Finds a refresh token by the digest of its value.
    async fn refresh_token(&self, token_hash: &str) -> StoreResult<RefreshToken>;
    /// Spends `old_hash` and stores `successor`, atomically: of several concurrent calls with
    /// the same token exactly one gets [`RefreshOutcome::Rotated`].
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        successor: &RefreshToken,
        now: i64,
    ) -> StoreResult<RefreshOutcome>;
    /// Records an access-token id as revoked until it would have expired anyway.
    async fn revoke_token_id(&self, jti: &str, expires_at: i64) -> StoreResult<()>;
    /// Whether an access-token id was revoked.
    async fn is_token_id_revoked(&self, jti: &str) -> StoreResult<bool>;
}

/// Inserts a grant: parameters `$1`…`$16`, bound by `bind_grant`.
pub(crate) const INSERT_GRANT: &str = "INSERT INTO grants (id, tenant_id, client_id, user_id, \
     session_id, scope, auth_time, amr, acr, nonce, user_stamp, created_at, expires_at, revoked_at, \
     idp, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// The parameters of [`INSERT_GRANT`].
pub(crate) const GRANT_PARAMETERS: usize = 16;

for_sql_backends! {
    helpers {
        /// Binds `grant` to the parameters of [`INSERT_GRANT`], after those `query` has.
        pub(crate) fn bind_grant<'q>(
            query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
            grant: &'q Grant,
        ) -> StoreResult<sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>> {
            Ok(query
                .bind(grant.id.as_str())
                .bind(grant.tenant_id.as_str())
                .bind(grant.client_id.as_str())
                .bind(grant.user_id.as_deref())
                .bind(grant.session_id.as_deref())
                .bind(grant.scope.as_str())
                .bind(grant.auth_time)
                .bind(to_json(&grant.amr)?)
                .bind(grant.acr.as_str())
                .bind(grant.nonce.as_deref())
                .bind(grant.user_stamp.as_deref())
                .bind(grant.created_at)
                .bind(grant.expires_at)
                .bind(grant.revoked_at)
                .bind(grant.idp.as_deref())
                .bind(grant.ip.as_deref()))
        }
    }
}

const INSERT_REFRESH_TOKEN: &str = "INSERT INTO refresh_tokens \
     (token_hash, grant_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)";

/// A grant lives at least as long as its newest refresh token.
const EXTEND_GRANT: &str = "UPDATE grants SET expires_at = \
     CASE WHEN expires_at < $1 THEN $1 ELSE expires_at END WHERE id = $2";

for_sql_backends! {
    impl GrantStore {
        async fn create_grant(&self, grant: &Grant) -> StoreResult<()> {
            Self::bind_grant(sqlx::query::<DB>(INSERT_GRANT), grant)?
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn grant_with_user(&self, id: &str) -> StoreResult<(Grant, Option<User>)> {
            let row = sqlx::query_as::<DB, GrantUserRow>(GRANT_WITH_USER)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            match row {
                Some(row) => row.into_parts().map(|(grant, user)| (grant, Some(user))),
                // No user (or no grant): the grant alone tells which.
                None => Ok((GrantStore::grant_by_id(self, id).await?, None)),
            }
        }

        async fn grant_by_id(&self, id: &str) -> StoreResult<Grant> {
            sqlx::query_as::<DB, GrantRow>(
                "SELECT id, tenant_id, client_id, user_id, session_id, scope, auth_time, amr, acr, \
                 idp, nonce, user_stamp, ip, created_at, expires_at, revoked_at FROM grants WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&self.pool)
            .await?
            .into_grant()
        }

        async fn revoke_grant(&self, id: &str, now: i64) -> StoreResult<()> {
            sqlx::query::<DB>("UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn issue_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(INSERT_REFRESH_TOKEN)
                .bind(token.token_hash.as_str())
                .bind(token.grant_id.as_str())
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query::<DB>(EXTEND_GRANT)
                .bind(token.expires_at)
                .bind(token.grant_id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn refresh_token(&self, token_hash: &str) -> StoreResult<RefreshToken> {
            Ok(sqlx::query_as::<DB, RefreshToken>(
                "SELECT token_hash, grant_id, created_at, expires_at, used_at \
                 FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_one(&self.pool)
            .await?)
        }

        async fn rotate_refresh_token(
            &self,
            old_hash: &str,
            successor: &RefreshToken,
            now: i64,
        ) -> StoreResult<RefreshOutcome> {
            let mut tx = self.begin_write().await?;
            let spent = sqlx::query::<DB>(
                "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
            )
            .bind(now)
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
            if spent.rows_affected() != 1 {
                return Ok(RefreshOutcome::AlreadyUsed);
            }
            sqlx::query::<DB>(INSERT_REFRESH_TOKEN)
                .bind(successor.token_hash.as_str())
                .bind(successor.grant_id.as_str())
                .bind(successor.created_at)
                .bind(successor.expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query::<DB>(EXTEND_GRANT)
                .bind(successor.expires_at)
                .bind(successor.grant_id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(RefreshOutcome::Rotated)
        }

        async fn revoke_token_id(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
            let result = sqlx::query::<DB>("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)")
                .bind(jti)
                .bind(expires_at)
                .execute(&self.pool)
                .await;
            match result.map_err(StoreError::from) {
                Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
                Err(other) => Err(other),
            }
        }

        async fn is_token_id_revoked(&self, jti: &str) -> StoreResult<bool> {
            let count = sqlx::query_scalar::<DB, i64>("SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_one(&self.pool)
                .await?;
            Ok(count > 0)
        }
    }
}
