//! Creating tenants and changing their external-collaboration settings.

use super::{AdminError, bounded_text, conflict_or, tenant_by_slug};
use crate::domain::tenant::{Tenant, TenantSettings, parse_domain, parse_slug};
use crate::domain::unix_now;
use crate::store::Store;

/// Input for a new tenant.
#[derive(Debug, Clone)]
pub struct TenantInput {
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Domains, the first is primary (recorded as verified by the operator).
    pub domains: Vec<String>,
}

/// Creates a tenant with default settings.
pub async fn create_tenant(store: &dyn Store, input: TenantInput) -> Result<Tenant, AdminError> {
    let slug = parse_slug(&input.slug)?;
    let mut domains: Vec<String> = Vec::new();
    for raw in &input.domains {
        let domain = parse_domain(raw)?;
        if crate::domain::partner::is_consumer_domain(&domain) {
            return Err(crate::domain::Invalid::new(format!(
                "{domain} is a consumer mail domain: no tenant can verify it"
            ))
            .into());
        }
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    let tenant = Tenant {
        id: uuid::Uuid::new_v4().to_string(),
        name: bounded_text("name", &input.name, 256)?,
        slug,
        domains,
        settings: TenantSettings::default(),
        created_at: unix_now(),
    };
    store.create_tenant(&tenant).await.map_err(|e| {
        conflict_or(e, || {
            format!(
                "tenant slug {:?} or one of its domains is already taken",
                tenant.slug
            )
        })
    })?;
    Ok(tenant)
}

/// Replaces a tenant's external-collaboration settings after validating them.
pub async fn update_settings(
    store: &dyn Store,
    slug: &str,
    settings: TenantSettings,
) -> Result<TenantSettings, AdminError> {
    let tenant = tenant_by_slug(store, slug).await?;
    let settings = settings.validated()?;
    store
        .update_tenant_settings(&tenant.id, &settings)
        .await
        .map_err(AdminError::Store)?;
    Ok(settings)
}
