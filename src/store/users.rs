//! Users of a tenant — members and guests — and the identities they sign in with.

use async_trait::async_trait;

use super::sql::{RowsAffected, for_sql_backends, from_json};
use super::{StoreError, StoreResult};
use crate::domain::user::{Identity, User};

/// A change to a user's credentials or status.
#[derive(Debug, Clone)]
pub struct SecurityChange<'a> {
    /// Tenant.
    pub tenant_id: &'a str,
    /// User.
    pub user_id: &'a str,
    /// New enabled state, if it changes.
    pub enabled: Option<bool>,
    /// New password hash, if it changes.
    pub password_hash: Option<&'a str>,
    /// The new security stamp.
    pub stamp: &'a str,
    /// Time of the change.
    pub now: i64,
}

/// An external user made internal (Graph's `convertExternalToInternalMemberUser`).
#[derive(Debug, Clone)]
pub struct Conversion<'a> {
    /// Tenant.
    pub tenant_id: &'a str,
    /// User.
    pub user_id: &'a str,
    /// The new user principal name.
    pub upn: &'a str,
    /// The new sign-in and mail address.
    pub email: &'a str,
    /// The one identity the user keeps: the tenant's own (`userPrincipalName`).
    pub identity: &'a Identity,
    /// A new password hash, if one was set.
    pub password_hash: Option<&'a str>,
    /// The new security stamp (every grant of the external identity ends).
    pub stamp: &'a str,
    /// Time of the change.
    pub now: i64,
}

/// Storage of users and identities.
#[async_trait]
pub trait UserStore {
    /// Inserts a user with its identities. An e-mail or identity already used in the tenant
    /// gives [`StoreError::Conflict`].
    async fn create_user(&self, user: &User, identities: &[Identity]) -> StoreResult<()>;
    /// Finds a user of a tenant by object id.
    async fn user_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<User>;
    /// Finds a user of a tenant by the case-folded e-mail key.
    async fn user_by_email(&self, tenant_id: &str, email_key: &str) -> StoreResult<User>;
    /// The users of the tenant with any of these e-mail keys (a bulk upload's chunk).
    async fn users_by_email_keys(
        &self,
        tenant_id: &str,
        email_keys: &[String],
    ) -> StoreResult<Vec<User>>;
    /// The users of a tenant, optionally only one `userType`, ordered by display name.
    async fn list_users(
        &self,
        tenant_id: &str,
        user_type: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<User>>;
    /// The identities of a user.
    async fn identities(&self, user_id: &str) -> StoreResult<Vec<Identity>>;
    /// A user of a tenant found by the case-folded e-mail key, with the user's identities
    /// (ordered as [`UserStore::identities`] orders them), in one statement: home-realm
    /// discovery needs both on every sign-in that names an address.
    async fn user_with_identities_by_email(
        &self,
        tenant_id: &str,
        email_key: &str,
    ) -> StoreResult<(User, Vec<Identity>)>;
    /// The user of a tenant bound to the identity (issuer, subject) — never looked up by
    /// e-mail (SECURITY.md G.53).
    async fn user_by_identity(
        &self,
        tenant_id: &str,
        issuer: &str,
        issuer_assigned_id: &str,
    ) -> StoreResult<User>;
    /// Changes a user's credentials or status — `enabled` and `password_hash` when given —
    /// and always replaces the security stamp, so every grant given before ends
    /// (SECURITY.md C.33).
    async fn update_user_security(&self, change: &SecurityChange<'_>) -> StoreResult<()>;
    /// Writes a user's profile as `user` holds it: display name, given and family names, job
    /// title, usage location and userType.
    async fn update_user_profile(&self, user: &User) -> StoreResult<()>;
    /// Makes an external user an internal member: the new UPN and address, the tenant's own
    /// identity in place of every other, a new security stamp; an address another user of the
    /// tenant has gives [`StoreError::Conflict`].
    async fn convert_to_internal(&self, conversion: &Conversion<'_>) -> StoreResult<()>;
    /// Deletes a user (sessions, grants, invitations, memberships go with it).
    async fn delete_user(&self, tenant_id: &str, id: &str) -> StoreResult<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    tenant_id: String,
    user_type: String,
    email: String,
    email_verified: bool,
    display_name: String,
    given_name: Option<String>,
    family_name: Option<String>,
    upn: String,
    password_hash: Option<String>,
    roles: String,
    account_enabled: bool,
    security_stamp: String,
    external_user_state: Option<String>,
    external_user_state_changed_at: Option<i64>,
    creation_type: Option<String>,
    sponsors: String,
    created_at: i64,
    updated_at: i64,
    preferred_language: Option<String>,
    job_title: Option<String>,
    usage_location: Option<String>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> StoreResult<User> {
        let corrupt = |field: &str, e: crate::domain::Invalid| {
            StoreError::Corrupt(format!("users.{field}: {e}"))
        };
        Ok(User {
            user_type: self
                .user_type
                .parse()
                .map_err(|e| corrupt("user_type", e))?,
            external_user_state: self
                .external_user_state
                .map(|s| s.parse())
                .transpose()
                .map_err(|e| corrupt("external_user_state", e))?,
            roles: from_json(&self.roles)?,
            sponsors: from_json(&self.sponsors)?,
            id: self.id,
            tenant_id: self.tenant_id,
            email: self.email,
            email_verified: self.email_verified,
            display_name: self.display_name,
            given_name: self.given_name,
            family_name: self.family_name,
            upn: self.upn,
            password_hash: self.password_hash,
            account_enabled: self.account_enabled,
            security_stamp: self.security_stamp,
            external_user_state_changed_at: self.external_user_state_changed_at,
            creation_type: self.creation_type,
            created_at: self.created_at,
            updated_at: self.updated_at,
            preferred_language: self.preferred_language,
            job_title: self.job_title,
            usage_location: self.usage_location,
        })
    }
}

#[derive(sqlx::FromRow)]
struct IdentityRow {
    sign_in_type: String,
    issuer: String,
    issuer_assigned_id: String,
}

/// A user with one of its identities (none: a user without identities, from a left join).
#[derive(sqlx::FromRow)]
struct UserIdentityRow {
    #[sqlx(flatten)]
    user: UserRow,
    sign_in_type: Option<String>,
    issuer: Option<String>,
    issuer_assigned_id: Option<String>,
}

/// Columns of a user, in [`UserRow`] order.
macro_rules! user_columns {
    () => {
        "id, tenant_id, user_type, email, email_verified, display_name, given_name, family_name, \
         upn, password_hash, roles, account_enabled, security_stamp, external_user_state, \
         external_user_state_changed_at, creation_type, sponsors, created_at, updated_at, \
         preferred_language, job_title, usage_location"
    };
}

pub(crate) use user_columns;

/// Inserts a user; shared with the invitation store, which creates guests in its own
/// transactions.
pub(crate) const INSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_columns!(),
    ", email_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
     $16, $17, $18, $19, $20, $21, $22, $23)"
);

/// Inserts an identity.
pub(crate) const INSERT_IDENTITY: &str = "INSERT INTO user_identities (tenant_id, user_id, \
     sign_in_type, issuer, issuer_assigned_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Binds a user to [`INSERT_USER`].
macro_rules! bind_user {
    ($query:expr, $user:expr) => {{
        let user = $user;
        $query
            .bind(user.id.as_str())
            .bind(user.tenant_id.as_str())
            .bind(user.user_type.as_str())
            .bind(user.email.as_str())
            .bind(user.email_verified)
            .bind(user.display_name.as_str())
            .bind(user.given_name.as_deref())
            .bind(user.family_name.as_deref())
            .bind(user.upn.as_str())
            .bind(user.password_hash.as_deref())
            .bind($crate::store::sql::to_json(&user.roles)?)
            .bind(user.account_enabled)
            .bind(user.security_stamp.as_str())
            .bind(user.external_user_state.map(|s| s.as_str()))
            .bind(user.external_user_state_changed_at)
            .bind(user.creation_type.as_deref())
            .bind($crate::store::sql::to_json(&user.sponsors)?)
            .bind(user.created_at)
            .bind(user.updated_at)
            .bind(user.preferred_language.as_deref())
            .bind(user.job_title.as_deref())
            .bind(user.usage_location.as_deref())
            .bind(user.email.to_ascii_lowercase())
    }};
}
pub(crate) use bind_user;

for_sql_backends! {
    impl UserStore {
        async fn create_user(&self, user: &User, identities: &[Identity]) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            bind_user!(sqlx::query::<DB>(INSERT_USER), user).execute(&mut *tx).await?;
            for identity in identities {
                sqlx::query::<DB>(INSERT_IDENTITY)
                    .bind(user.tenant_id.as_str())
                    .bind(user.id.as_str())
                    .bind(identity.sign_in_type.as_str())
                    .bind(identity.issuer.as_str())
                    .bind(identity.issuer_assigned_id.as_str())
                    .bind(user.created_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn user_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<User> {
            sqlx::query_as::<DB, UserRow>(concat!(
                "SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&self.pool)
            .await?
            .into_user()
        }

        async fn user_by_identity(&self, tenant_id: &str, issuer: &str, issuer_assigned_id: &str)
            -> StoreResult<User> {
            sqlx::query_as::<DB, UserRow>(concat!(
                "SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 AND id = \
                 (SELECT user_id FROM user_identities WHERE tenant_id = $1 AND issuer = $2 \
                 AND issuer_assigned_id = $3)"
            ))
            .bind(tenant_id)
            .bind(issuer)
            .bind(issuer_assigned_id)
            .fetch_one(&self.pool)
            .await?
            .into_user()
        }

        async fn user_by_email(&self, tenant_id: &str, email_key: &str) -> StoreResult<User> {
            sqlx::query_as::<DB, UserRow>(concat!(
                "SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 AND email_key = $2"
            ))
            .bind(tenant_id)
            .bind(email_key)
            .fetch_one(&self.pool)
            .await?
            .into_user()
        }

        async fn users_by_email_keys(&self, tenant_id: &str, email_keys: &[String]) -> StoreResult<Vec<User>> {
            let mut users = Vec::new();
            for chunk in email_keys.chunks(super::sql::ROWS_PER_STATEMENT) {
                let sql = format!(
                    concat!("SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 AND email_key IN ({})"),
                    super::sql::placeholder_list(2, chunk.len())
                );
                let mut query = sqlx::query_as::<DB, UserRow>(sqlx::AssertSqlSafe(sql)).persistent(super::sql::cacheable(chunk.len())).bind(tenant_id);
                for key in chunk {
                    query = query.bind(key.as_str());
                }
                for row in query.fetch_all(&self.pool).await? {
                    users.push(row.into_user()?);
                }
            }
            Ok(users)
        }

        async fn list_users(&self, tenant_id: &str, user_type: Option<&str>, limit: i64, offset: i64)
        -> StoreResult<Vec<User>> {
            let rows = sqlx::query_as::<DB, UserRow>(concat!(
                "SELECT ", user_columns!(), " FROM users WHERE tenant_id = $1 \
                 AND ($2 IS NULL OR user_type = $2) ORDER BY display_name, id LIMIT $3 OFFSET $4"
            ))
            .bind(tenant_id)
            .bind(user_type)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(UserRow::into_user).collect()
        }

        async fn identities(&self, user_id: &str) -> StoreResult<Vec<Identity>> {
            let rows = sqlx::query_as::<DB, IdentityRow>(
                "SELECT sign_in_type, issuer, issuer_assigned_id FROM user_identities \
                 WHERE user_id = $1 ORDER BY created_at, issuer",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| Identity {
                    sign_in_type: r.sign_in_type,
                    issuer: r.issuer,
                    issuer_assigned_id: r.issuer_assigned_id,
                })
                .collect())
        }

        async fn user_with_identities_by_email(&self, tenant_id: &str, email_key: &str)
            -> StoreResult<(User, Vec<Identity>)> {
            // The identities' columns are renamed in a subquery so that the user's keep their
            // plain names (`id`, `tenant_id`, `created_at` exist in both tables).
            let rows = sqlx::query_as::<DB, UserIdentityRow>(concat!(
                "SELECT ", user_columns!(), ", sign_in_type, issuer, issuer_assigned_id \
                 FROM users LEFT JOIN (SELECT user_id, sign_in_type, issuer, issuer_assigned_id, \
                 created_at AS identity_created_at FROM user_identities) AS identities \
                 ON identities.user_id = users.id \
                 WHERE users.tenant_id = $1 AND users.email_key = $2 \
                 ORDER BY identity_created_at, issuer"
            ))
            .bind(tenant_id)
            .bind(email_key)
            .fetch_all(&self.pool)
            .await?;
            let mut identities = Vec::with_capacity(rows.len());
            let mut user = None;
            for row in rows {
                if let (Some(sign_in_type), Some(issuer), Some(issuer_assigned_id)) =
                    (row.sign_in_type, row.issuer, row.issuer_assigned_id)
                {
                    identities.push(Identity { sign_in_type, issuer, issuer_assigned_id });
                }
                if user.is_none() {
                    user = Some(row.user);
                }
            }
            let user = user.ok_or(StoreError::NotFound)?.into_user()?;
            Ok((user, identities))
        }

        async fn update_user_security(&self, change: &SecurityChange<'_>) -> StoreResult<()> {
            let done = sqlx::query::<DB>(
                "UPDATE users SET account_enabled = COALESCE($1, account_enabled), \
                 password_hash = COALESCE($2, password_hash), security_stamp = $3, updated_at = $4 \
                 WHERE tenant_id = $5 AND id = $6",
            )
            .bind(change.enabled)
            .bind(change.password_hash)
            .bind(change.stamp)
            .bind(change.now)
            .bind(change.tenant_id)
            .bind(change.user_id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        }

        async fn update_user_profile(&self, user: &User) -> StoreResult<()> {
            let done = sqlx::query::<DB>(
                "UPDATE users SET display_name = $1, given_name = $2, family_name = $3, \
                 job_title = $4, usage_location = $5, user_type = $6, updated_at = $7 \
                 WHERE tenant_id = $8 AND id = $9",
            )
            .bind(user.display_name.as_str())
            .bind(user.given_name.as_deref())
            .bind(user.family_name.as_deref())
            .bind(user.job_title.as_deref())
            .bind(user.usage_location.as_deref())
            .bind(user.user_type.as_str())
            .bind(user.updated_at)
            .bind(user.tenant_id.as_str())
            .bind(user.id.as_str())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        }

        async fn convert_to_internal(&self, change: &Conversion<'_>) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>(
                "UPDATE users SET user_type = 'Member', upn = $1, email = $2, email_key = $3, \
                 email_verified = FALSE, external_user_state = NULL, \
                 external_user_state_changed_at = NULL, creation_type = NULL, \
                 password_hash = COALESCE($4, password_hash), security_stamp = $5, updated_at = $6 \
                 WHERE tenant_id = $7 AND id = $8",
            )
            .bind(change.upn)
            .bind(change.email)
            .bind(change.email.to_ascii_lowercase())
            .bind(change.password_hash)
            .bind(change.stamp)
            .bind(change.now)
            .bind(change.tenant_id)
            .bind(change.user_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query::<DB>("DELETE FROM user_identities WHERE tenant_id = $1 AND user_id = $2")
                .bind(change.tenant_id)
                .bind(change.user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query::<DB>(INSERT_IDENTITY)
                .bind(change.tenant_id)
                .bind(change.user_id)
                .bind(change.identity.sign_in_type.as_str())
                .bind(change.identity.issuer.as_str())
                .bind(change.identity.issuer_assigned_id.as_str())
                .bind(change.now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn delete_user(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>("DELETE FROM app_role_assignments WHERE principal_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query::<DB>("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(())
        }
    }
}
