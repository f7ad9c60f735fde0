//! Creating tenants and changing their external-collaboration settings and branding.

use super::{AdminError, bounded_text, conflict_or, tenant_by_slug};
use crate::domain::branding::Branding;
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
        branding: crate::domain::branding::Branding::default(),
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

/// A change to a tenant's branding: each field given replaces the current one (`Some(None)`
/// removes it).
#[derive(Debug, Clone, Default)]
pub struct BrandingChange {
    /// The accent colour (`#rrggbb`).
    pub accent_color: Option<Option<String>>,
    /// The logo's bytes (PNG or JPEG).
    pub logo: Option<Option<Vec<u8>>>,
}

/// Changes a tenant's branding after checking the colour and the logo; returns the new
/// branding.
pub async fn update_branding(
    store: &dyn Store,
    tenant: &Tenant,
    change: BrandingChange,
) -> Result<Branding, AdminError> {
    let mut branding = tenant.branding.clone();
    if let Some(accent) = change.accent_color {
        branding.accent_color = accent
            .as_deref()
            .map(crate::domain::branding::parse_accent)
            .transpose()?;
    }
    let logo = match change.logo {
        Some(Some(bytes)) => {
            let logo = crate::domain::branding::check_logo(&bytes)?;
            let content_type = logo.content_type.clone();
            branding.logo = Some(logo);
            Some(Some((content_type, bytes)))
        }
        Some(None) => {
            branding.logo = None;
            Some(None)
        }
        None => None,
    };
    store
        .update_tenant_branding(
            &tenant.id,
            &branding,
            logo.as_ref().map(|l| {
                l.as_ref()
                    .map(|(content_type, bytes)| (content_type.as_str(), bytes.as_slice()))
            }),
        )
        .await
        .map_err(AdminError::Store)?;
    Ok(branding)
}
