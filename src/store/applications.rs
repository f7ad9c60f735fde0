//! Managing applications after they were created: reading one by object id, listing a
//! tenant's, changing one, deleting one and its client secrets. Every change is one
//! transaction that records its audit event and bumps the configuration generation, so every
//! node's cache drops the app at once.

use async_trait::async_trait;

use super::audit::{AuditEvent, INSERT_AUDIT, bind_audit};
use super::sql::{RowsAffected, WriteTx, for_sql_backends, q, to_json};
use super::{DirectoryStore, StoreError, StoreResult};
use crate::domain::app::{App, AppSecret};
use crate::domain::saml::SamlSp;

/// Storage of application changes.
#[async_trait]
pub trait ApplicationStore {
    /// The tenant's app with object id `id` (with its secrets and SAML side).
    async fn app_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<App>;
    /// A window of the tenant's apps, by name then client id.
    async fn list_apps(&self, tenant_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<App>>;
    /// Replaces an app's registration and SAML side (not its secrets) and records `audit`;
    /// a SAML entity id another app of the tenant has is a [`StoreError::Conflict`].
    async fn update_app(&self, app: &App, audit: &AuditEvent) -> StoreResult<()>;
    /// Deletes an app with its secrets, SAML side and assignments, revokes every grant issued
    /// to it (their refresh and access tokens die with them) and records `audit`.
    async fn delete_app(&self, app: &App, now: i64, audit: &AuditEvent) -> StoreResult<()>;
    /// Adds a client secret to an app and records `audit`.
    async fn add_app_secret(
        &self,
        app_id: &str,
        secret: &AppSecret,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Removes one of an app's client secrets ([`StoreError::NotFound`] when it has no such
    /// secret) and records `audit`.
    async fn remove_app_secret(
        &self,
        app_id: &str,
        secret_id: &str,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
}

for_sql_backends! {
    helpers {
        /// Inserts the SAML side of `app`.
        pub(crate) async fn insert_saml_sp(tx: &mut WriteTx<DB>, app: &App, sp: &SamlSp) -> StoreResult<()> {
            sqlx::query::<DB>(
                "INSERT INTO saml_sps (app_id, tenant_id, entity_id, acs, slo_url, certificates, \
                 authn_requests_signed, sign_response, nameid_format, metadata_url) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(app.id.as_str())
            .bind(app.tenant_id.as_str())
            .bind(sp.entity_id.as_str())
            .bind(to_json(&sp.acs)?)
            .bind(sp.slo_url.as_deref())
            .bind(to_json(&sp.certificates)?)
            .bind(sp.authn_requests_signed)
            .bind(sp.sign_response)
            .bind(sp.nameid_format.as_str())
            .bind(sp.metadata_url.as_deref())
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Inserts one client secret (its digest) of app `app_id`.
        pub(crate) async fn insert_app_secret(tx: &mut WriteTx<DB>, app_id: &str, secret: &AppSecret) -> StoreResult<()> {
            sqlx::query::<DB>(
                "INSERT INTO app_secrets (id, app_id, secret_hash, hint, display_name, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(secret.id.as_str())
            .bind(app_id)
            .bind(secret.secret_hash.as_str())
            .bind(secret.hint.as_str())
            .bind(secret.display_name.as_deref())
            .bind(secret.created_at)
            .bind(secret.expires_at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    }
}

for_sql_backends! {
    impl ApplicationStore {
        async fn app_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<App> {
            let client_id = sqlx::query_scalar::<DB, String>(
                "SELECT client_id FROM apps WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            self.app_by_client_id(&client_id).await
        }

        async fn list_apps(&self, tenant_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<App>> {
            let client_ids = sqlx::query_scalar::<DB, String>(
                "SELECT client_id FROM apps WHERE tenant_id = $1 ORDER BY name, client_id \
                 LIMIT $2 OFFSET $3",
            )
            .bind(tenant_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
            let mut apps = Vec::with_capacity(client_ids.len());
            for client_id in client_ids {
                apps.push(self.app_by_client_id(&client_id).await?);
            }
            Ok(apps)
        }

        async fn update_app(&self, app: &App, audit: &AuditEvent) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>(
                "UPDATE apps SET name = $1, client_type = $2, redirect_uris = $3, \
                 post_logout_redirect_uris = $4, grant_types = $5, signing_alg = $6, enabled = $7, \
                 permissions = $8, owners = $9, home_url = $10, assignment_required = $11, \
                 profile = $12 WHERE id = $13 AND tenant_id = $14",
            )
            .bind(app.name.as_str())
            .bind(app.client_type.as_str())
            .bind(to_json(&app.redirect_uris)?)
            .bind(to_json(&app.post_logout_redirect_uris)?)
            .bind(to_json(&app.grant_types)?)
            .bind(app.signing_alg.as_str())
            .bind(app.enabled)
            .bind(to_json(&app.permissions)?)
            .bind(to_json(&app.owners)?)
            .bind(app.home_url.as_deref())
            .bind(app.assignment_required)
            .bind(to_json(&app.profile)?)
            .bind(app.id.as_str())
            .bind(app.tenant_id.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query::<DB>("DELETE FROM saml_sps WHERE app_id = $1")
                .bind(app.id.as_str())
                .execute(&mut *tx)
                .await?;
            if let Some(sp) = &app.saml {
                Self::insert_saml_sp(&mut tx, app, sp).await?;
            }
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn delete_app(&self, app: &App, now: i64, audit: &AuditEvent) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(app.client_id.as_str())
            .execute(&mut *tx)
            .await?;
            // Secrets, the SAML side and assignments go with the row (ON DELETE CASCADE).
            let done = sqlx::query::<DB>("DELETE FROM apps WHERE id = $1 AND tenant_id = $2")
                .bind(app.id.as_str())
                .bind(app.tenant_id.as_str())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn add_app_secret(&self, app_id: &str, secret: &AppSecret, audit: &AuditEvent) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            Self::insert_app_secret(&mut tx, app_id, secret).await?;
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn remove_app_secret(&self, app_id: &str, secret_id: &str, audit: &AuditEvent) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>("DELETE FROM app_secrets WHERE app_id = $1 AND id = $2")
                .bind(app_id)
                .bind(secret_id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}
