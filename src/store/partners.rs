//! Partner identity providers of a tenant and the domains bound to them.

use async_trait::async_trait;

use super::audit::{INSERT_AUDIT, bind_audit};
use super::sql::{RowsAffected, for_sql_backends, from_json, q, to_json};
use super::{AuditEvent, StoreError, StoreResult};
use crate::domain::partner::{ClientAuth, DomainProof, PartnerDomain, PartnerIdp, PartnerKind};

#[derive(sqlx::FromRow)]
struct PartnerRow {
    id: String,
    tenant_id: String,
    kind: String,
    display_name: String,
    issuer: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_auth: Option<String>,
    scopes: String,
    metadata_xml: Option<String>,
    metadata_url: Option<String>,
    trust_mfa: bool,
    mfa_values: String,
    offered_to_all: bool,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct DomainRow {
    partner_id: String,
    domain: String,
    proof: String,
}

impl PartnerRow {
    fn into_partner(self, domains: Vec<PartnerDomain>) -> StoreResult<PartnerIdp> {
        Ok(PartnerIdp {
            kind: PartnerKind::parse(&self.kind).map_err(|e| StoreError::Corrupt(e.0))?,
            scopes: from_json(&self.scopes)?,
            mfa_values: from_json(&self.mfa_values)?,
            id: self.id,
            tenant_id: self.tenant_id,
            display_name: self.display_name,
            issuer: self.issuer,
            client_id: self.client_id,
            sealed_client_secret: self.client_secret,
            client_auth: self
                .client_auth
                .as_deref()
                .map(ClientAuth::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.0))?,
            metadata_xml: self.metadata_xml,
            metadata_url: self.metadata_url,
            trust_mfa: self.trust_mfa,
            offered_to_all: self.offered_to_all,
            domains,
            created_at: self.created_at,
        })
    }
}

/// Storage of partner identity providers.
#[async_trait]
pub trait PartnerStore {
    /// Stores a partner with its domains and the audit event, in one transaction; a domain
    /// the tenant already routes elsewhere or an issuer already registered is a conflict.
    async fn create_partner(&self, partner: &PartnerIdp, audit: &AuditEvent) -> StoreResult<()>;
    /// The tenant's partners, oldest first, with their domains.
    async fn partners(&self, tenant_id: &str) -> StoreResult<Vec<PartnerIdp>>;
    /// One partner.
    async fn partner(&self, tenant_id: &str, id: &str) -> StoreResult<PartnerIdp>;
    /// The partner a domain routes to in the tenant.
    async fn partner_for_domain(&self, tenant_id: &str, domain: &str) -> StoreResult<PartnerIdp>;
    /// Replaces a partner's mutable fields (and, if `replace_domains`, its domain set) and
    /// records the audit event, in one transaction; a domain routed elsewhere is a conflict.
    async fn update_partner(
        &self,
        partner: &PartnerIdp,
        replace_domains: bool,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Deletes a partner (its domains go with it) and records the audit event.
    async fn delete_partner(
        &self,
        tenant_id: &str,
        id: &str,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
}

/// Binds one domain to a partner: tenant, domain, partner id, proof, time.
const INSERT_DOMAIN: &str = "INSERT INTO partner_domains (tenant_id, domain, partner_id, proof, \
     created_at) VALUES ($1, $2, $3, $4, $5)";

const PARTNER_COLUMNS: &str = "id, tenant_id, kind, display_name, issuer, client_id, client_secret, client_auth, scopes, metadata_xml, metadata_url, trust_mfa, mfa_values, offered_to_all, created_at";

for_sql_backends! {
    impl PartnerStore {
        async fn create_partner(&self, partner: &PartnerIdp, audit: &AuditEvent) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "INSERT INTO partner_idps (id, tenant_id, kind, display_name, issuer, client_id, \
                 client_secret, scopes, metadata_xml, metadata_url, trust_mfa, mfa_values, \
                 offered_to_all, created_at, client_auth) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(partner.id.as_str())
            .bind(partner.tenant_id.as_str())
            .bind(partner.kind.as_str())
            .bind(partner.display_name.as_str())
            .bind(partner.issuer.as_str())
            .bind(partner.client_id.as_deref())
            .bind(partner.sealed_client_secret.as_deref())
            .bind(to_json(&partner.scopes)?)
            .bind(partner.metadata_xml.as_deref())
            .bind(partner.metadata_url.as_deref())
            .bind(partner.trust_mfa)
            .bind(to_json(&partner.mfa_values)?)
            .bind(partner.offered_to_all)
            .bind(partner.created_at)
            .bind(partner.client_auth.map(ClientAuth::as_str))
            .execute(&mut *tx)
            .await?;
            for domain in &partner.domains {
                sqlx::query::<DB>(INSERT_DOMAIN)
                .bind(partner.tenant_id.as_str())
                .bind(domain.domain.as_str())
                .bind(partner.id.as_str())
                .bind(domain.proof.as_str())
                .bind(partner.created_at)
                .execute(&mut *tx)
                .await?;
            }
            // Every node's cached partners go (cache.rs).
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn partners(&self, tenant_id: &str) -> StoreResult<Vec<PartnerIdp>> {
            let rows = sqlx::query_as::<DB, PartnerRow>(sqlx::AssertSqlSafe(format!(
                "SELECT {PARTNER_COLUMNS} FROM partner_idps WHERE tenant_id = $1 ORDER BY created_at, id"
            )))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
            let domains = sqlx::query_as::<DB, DomainRow>(
                "SELECT partner_id, domain, proof FROM partner_domains WHERE tenant_id = $1 ORDER BY domain",
            )
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter()
                .map(|row| {
                    let own = domains
                        .iter()
                        .filter(|d| d.partner_id == row.id)
                        .map(|d| {
                            Ok(PartnerDomain {
                                domain: d.domain.clone(),
                                proof: DomainProof::parse(&d.proof).map_err(|e| StoreError::Corrupt(e.0))?,
                            })
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    row.into_partner(own)
                })
                .collect()
        }

        async fn partner(&self, tenant_id: &str, id: &str) -> StoreResult<PartnerIdp> {
            self.partners(tenant_id)
                .await?
                .into_iter()
                .find(|p| p.id == id)
                .ok_or(StoreError::NotFound)
        }

        async fn partner_for_domain(&self, tenant_id: &str, domain: &str) -> StoreResult<PartnerIdp> {
            let id = sqlx::query_scalar::<DB, String>(
                "SELECT partner_id FROM partner_domains WHERE tenant_id = $1 AND domain = $2",
            )
            .bind(tenant_id)
            .bind(domain)
            .fetch_one(&self.pool)
            .await?;
            self.partner(tenant_id, &id).await
        }

        async fn update_partner(&self, partner: &PartnerIdp, replace_domains: bool, audit: &AuditEvent) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>(
                "UPDATE partner_idps SET display_name = $1, client_id = $2, client_secret = $3, \
                 scopes = $4, metadata_xml = $5, metadata_url = $6, trust_mfa = $7, mfa_values = $8, \
                 offered_to_all = $9, client_auth = $10 WHERE tenant_id = $11 AND id = $12",
            )
            .bind(partner.display_name.as_str())
            .bind(partner.client_id.as_deref())
            .bind(partner.sealed_client_secret.as_deref())
            .bind(to_json(&partner.scopes)?)
            .bind(partner.metadata_xml.as_deref())
            .bind(partner.metadata_url.as_deref())
            .bind(partner.trust_mfa)
            .bind(to_json(&partner.mfa_values)?)
            .bind(partner.offered_to_all)
            .bind(partner.client_auth.map(ClientAuth::as_str))
            .bind(partner.tenant_id.as_str())
            .bind(partner.id.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            if replace_domains {
                sqlx::query::<DB>("DELETE FROM partner_domains WHERE tenant_id = $1 AND partner_id = $2")
                    .bind(partner.tenant_id.as_str())
                    .bind(partner.id.as_str())
                    .execute(&mut *tx)
                    .await?;
                let now = crate::domain::unix_now();
                for domain in &partner.domains {
                    sqlx::query::<DB>(INSERT_DOMAIN)
                    .bind(partner.tenant_id.as_str())
                    .bind(domain.domain.as_str())
                    .bind(partner.id.as_str())
                    .bind(domain.proof.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            // Every node's cached partners go (cache.rs).
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn delete_partner(&self, tenant_id: &str, id: &str, audit: &AuditEvent) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>("DELETE FROM partner_domains WHERE tenant_id = $1 AND partner_id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query::<DB>("DELETE FROM partner_idps WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            // Every node's cached partners go (cache.rs).
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}
