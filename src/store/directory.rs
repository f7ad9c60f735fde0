//! The directory: tenants with their domains, users, applications with their secrets.

use async_trait::async_trait;

use super::sql::{RowsAffected, for_sql_backends, from_json, q, to_json};
use super::{StoreError, StoreResult};
use crate::domain::app::{App, AppSecret};
use crate::domain::branding::Branding;
use crate::domain::saml::{NameIdFormat, SamlSp};
use crate::domain::tenant::{Tenant, TenantSettings};

/// Storage of tenants and applications.
#[async_trait]
pub trait DirectoryStore {
    /// Inserts a tenant and its domains (recorded as verified: the operator who creates a
    /// tenant attests them). A slug or verified domain already taken gives
    /// [`StoreError::Conflict`].
    async fn create_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    /// Finds a tenant by its URL slug.
    async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Tenant>;
    /// Finds a tenant by id.
    async fn tenant_by_id(&self, id: &str) -> StoreResult<Tenant>;
    /// The slug of the tenant that verified `domain` (lower case), if any.
    async fn tenant_slug_by_verified_domain(&self, domain: &str) -> StoreResult<String>;
    /// Replaces a tenant's external-collaboration settings.
    async fn update_tenant_settings(
        &self,
        tenant_id: &str,
        settings: &TenantSettings,
    ) -> StoreResult<()>;
    /// Replaces a tenant's branding; `logo` replaces the logo's bytes (`Some(None)` removes
    /// them, `None` keeps them). The branding's `logo` must describe what is stored.
    async fn update_tenant_branding(
        &self,
        tenant_id: &str,
        branding: &Branding,
        logo: Option<Option<(&str, &[u8])>>,
    ) -> StoreResult<()>;
    /// The tenant's logo: content type and bytes.
    async fn tenant_logo(&self, tenant_id: &str) -> StoreResult<(String, Vec<u8>)>;
    /// Every app of a tenant (with secrets and SAML side).
    async fn apps_of_tenant(&self, tenant_id: &str) -> StoreResult<Vec<App>>;
    /// Inserts an application with its secrets.
    async fn create_app(&self, app: &App) -> StoreResult<()>;
    /// Finds an application (with its secrets and SAML side) by `client_id`.
    async fn app_by_client_id(&self, client_id: &str) -> StoreResult<App>;
    /// The `client_id` of the tenant's app whose SAML entityID is `entity_id`.
    async fn client_id_by_saml_entity(
        &self,
        tenant_id: &str,
        entity_id: &str,
    ) -> StoreResult<String>;
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    slug: String,
    name: String,
    settings: String,
    branding: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct AppRow {
    id: String,
    tenant_id: String,
    client_id: String,
    name: String,
    client_type: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    signing_alg: String,
    enabled: bool,
    permissions: String,
    owners: String,
    home_url: Option<String>,
    assignment_required: bool,
    profile: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct SamlRow {
    entity_id: String,
    acs: String,
    slo_url: Option<String>,
    certificates: String,
    authn_requests_signed: bool,
    sign_response: bool,
    nameid_format: String,
    metadata_url: Option<String>,
}

impl SamlRow {
    fn into_sp(self) -> StoreResult<SamlSp> {
        Ok(SamlSp {
            acs: from_json(&self.acs)?,
            certificates: from_json(&self.certificates)?,
            nameid_format: NameIdFormat::parse(&self.nameid_format)
                .map_err(|e| StoreError::Corrupt(format!("saml_sps.nameid_format: {e}")))?,
            entity_id: self.entity_id,
            slo_url: self.slo_url,
            authn_requests_signed: self.authn_requests_signed,
            sign_response: self.sign_response,
            metadata_url: self.metadata_url,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    id: String,
    secret_hash: String,
    hint: String,
    display_name: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
}

impl AppRow {
    fn into_app(self, secrets: Vec<SecretRow>, saml: Option<SamlSp>) -> StoreResult<App> {
        let corrupt = |field: &str, e: crate::domain::Invalid| {
            StoreError::Corrupt(format!("apps.{field}: {e}"))
        };
        Ok(App {
            client_type: self
                .client_type
                .parse()
                .map_err(|e| corrupt("client_type", e))?,
            signing_alg: self
                .signing_alg
                .parse()
                .map_err(|e| corrupt("signing_alg", e))?,
            redirect_uris: from_json(&self.redirect_uris)?,
            post_logout_redirect_uris: from_json(&self.post_logout_redirect_uris)?,
            grant_types: from_json(&self.grant_types)?,
            permissions: from_json(&self.permissions)?,
            owners: from_json(&self.owners)?,
            home_url: self.home_url,
            assignment_required: self.assignment_required,
            profile: from_json(&self.profile)?,
            id: self.id,
            tenant_id: self.tenant_id,
            client_id: self.client_id,
            name: self.name,
            enabled: self.enabled,
            created_at: self.created_at,
            saml,
            secrets: secrets
                .into_iter()
                .map(|s| AppSecret {
                    id: s.id,
                    secret_hash: s.secret_hash,
                    hint: s.hint,
                    display_name: s.display_name,
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                })
                .collect(),
        })
    }
}

for_sql_backends! {
    impl DirectoryStore {
        async fn create_tenant(&self, tenant: &Tenant) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "INSERT INTO tenants (id, slug, name, settings, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
                .bind(tenant.id.as_str())
                .bind(tenant.slug.as_str())
                .bind(tenant.name.as_str())
                .bind(to_json(&tenant.settings)?)
                .bind(tenant.created_at)
                .execute(&mut *tx)
                .await?;
            for (position, domain) in tenant.domains.iter().enumerate() {
                sqlx::query::<DB>(
                    "INSERT INTO tenant_domains (tenant_id, domain, position, verified, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant.id.as_str())
                .bind(domain.as_str())
                .bind(position as i64)
                .bind(true)
                .bind(tenant.created_at)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Tenant> {
            let row = sqlx::query_as::<DB, TenantRow>(
                "SELECT id, slug, name, settings, branding, created_at FROM tenants WHERE slug = $1",
            )
            .bind(slug)
            .fetch_one(&self.pool)
            .await?;
            let domains = sqlx::query_scalar::<DB, String>(
                "SELECT domain FROM tenant_domains WHERE tenant_id = $1 ORDER BY position",
            )
            .bind(row.id.as_str())
            .fetch_all(&self.pool)
            .await?;
            Ok(Tenant {
                settings: from_json(&row.settings)?,
                branding: from_json(&row.branding)?,
                id: row.id,
                slug: row.slug,
                name: row.name,
                domains,
                created_at: row.created_at,
            })
        }

        async fn tenant_slug_by_verified_domain(&self, domain: &str) -> StoreResult<String> {
            Ok(sqlx::query_scalar::<DB, String>(
                "SELECT tenants.slug FROM tenant_domains JOIN tenants ON tenants.id = tenant_domains.tenant_id \
                 WHERE tenant_domains.domain = $1 AND tenant_domains.verified",
            )
            .bind(domain)
            .fetch_one(&self.pool)
            .await?)
        }

        async fn tenant_by_id(&self, id: &str) -> StoreResult<Tenant> {
            let slug = sqlx::query_scalar::<DB, String>("SELECT slug FROM tenants WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
            self.tenant_by_slug(&slug).await
        }

        async fn update_tenant_settings(&self, tenant_id: &str, settings: &TenantSettings) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>("UPDATE tenants SET settings = $1 WHERE id = $2")
                .bind(to_json(settings)?)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn update_tenant_branding(
            &self,
            tenant_id: &str,
            branding: &Branding,
            logo: Option<Option<(&str, &[u8])>>,
        ) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>("UPDATE tenants SET branding = $1 WHERE id = $2")
                .bind(to_json(branding)?)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            match logo {
                Some(Some((content_type, bytes))) => {
                    sqlx::query::<DB>(
                        "INSERT INTO tenant_logos (tenant_id, content_type, bytes, updated_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
                         content_type = excluded.content_type, bytes = excluded.bytes, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(tenant_id)
                    .bind(content_type)
                    .bind(bytes)
                    .bind(crate::domain::unix_now())
                    .execute(&mut *tx)
                    .await?;
                }
                Some(None) => {
                    sqlx::query::<DB>("DELETE FROM tenant_logos WHERE tenant_id = $1")
                        .bind(tenant_id)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {}
            }
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn tenant_logo(&self, tenant_id: &str) -> StoreResult<(String, Vec<u8>)> {
            Ok(sqlx::query_as::<DB, (String, Vec<u8>)>(
                "SELECT content_type, bytes FROM tenant_logos WHERE tenant_id = $1",
            )
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await?)
        }

        async fn apps_of_tenant(&self, tenant_id: &str) -> StoreResult<Vec<App>> {
            let client_ids = sqlx::query_scalar::<DB, String>(
                "SELECT client_id FROM apps WHERE tenant_id = $1 ORDER BY name, client_id",
            )
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
            let mut apps = Vec::with_capacity(client_ids.len());
            for client_id in client_ids {
                apps.push(self.app_by_client_id(&client_id).await?);
            }
            Ok(apps)
        }

        async fn create_app(&self, app: &App) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "INSERT INTO apps (id, tenant_id, client_id, name, client_type, redirect_uris, \
                 post_logout_redirect_uris, grant_types, signing_alg, enabled, permissions, owners, \
                 home_url, assignment_required, created_at, profile) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(app.id.as_str())
            .bind(app.tenant_id.as_str())
            .bind(app.client_id.as_str())
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
            .bind(app.created_at)
            .bind(to_json(&app.profile)?)
            .execute(&mut *tx)
            .await?;
            if let Some(sp) = &app.saml {
                Self::insert_saml_sp(&mut tx, app, sp).await?;
            }
            for secret in &app.secrets {
                Self::insert_app_secret(&mut tx, &app.id, secret).await?;
            }
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn app_by_client_id(&self, client_id: &str) -> StoreResult<App> {
            let row = sqlx::query_as::<DB, AppRow>(
                "SELECT id, tenant_id, client_id, name, client_type, redirect_uris, \
                 post_logout_redirect_uris, grant_types, signing_alg, enabled, permissions, owners, \
                 home_url, assignment_required, profile, created_at FROM apps WHERE client_id = $1",
            )
            .bind(client_id)
            .fetch_one(&self.pool)
            .await?;
            let secrets = sqlx::query_as::<DB, SecretRow>(
                "SELECT id, secret_hash, hint, display_name, created_at, expires_at FROM app_secrets \
                 WHERE app_id = $1 ORDER BY created_at",
            )
            .bind(row.id.as_str())
            .fetch_all(&self.pool)
            .await?;
            let saml = sqlx::query_as::<DB, SamlRow>(
                "SELECT entity_id, acs, slo_url, certificates, authn_requests_signed, sign_response, \
                 nameid_format, metadata_url FROM saml_sps WHERE app_id = $1",
            )
            .bind(row.id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(SamlRow::into_sp)
            .transpose()?;
            row.into_app(secrets, saml)
        }

        async fn client_id_by_saml_entity(&self, tenant_id: &str, entity_id: &str)
        -> StoreResult<String> {
            Ok(sqlx::query_scalar::<DB, String>(
                "SELECT apps.client_id FROM saml_sps JOIN apps ON apps.id = saml_sps.app_id \
                 WHERE saml_sps.tenant_id = $1 AND saml_sps.entity_id = $2",
            )
            .bind(tenant_id)
            .bind(entity_id)
            .fetch_one(&self.pool)
            .await?)
        }
    }
}
