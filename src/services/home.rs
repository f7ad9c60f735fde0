//! Tenants on this Gatehouse as home identities: whether an identity provider is one of this
//! Gatehouse's tenants, and the home tenant a guest is bound to. Tokens and assertions name
//! the home (`home_tid`, `home_oid`); the sign-in journey sends guests there.

use std::sync::Arc;

use super::{Error, Result, Services};
use crate::domain::tenant::Tenant;
use crate::domain::user::{Identity, User};
use crate::store::StoreError;

/// Whether `idp` is the issuer of a tenant on this Gatehouse (or could be): only then can a
/// sign-in through it have a home tenant, so [`bound_home`] is worth a query.
pub fn is_local_issuer(services: &Services, idp: &str) -> bool {
    idp.strip_prefix(services.config.base_url())
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The home tenant a guest is bound to (an identity whose issuer is a tenant of this
/// Gatehouse), with the guest's home object id.
pub async fn bound_home(services: &Services, user: &User) -> Result<Option<(Arc<Tenant>, String)>> {
    let identities = services
        .store
        .identities(&user.id)
        .await
        .map_err(Error::unexpected)?;
    bound_home_among(services, &identities).await
}

/// [`bound_home`] for a guest whose identities are already loaded.
pub async fn bound_home_among(
    services: &Services,
    identities: &[Identity],
) -> Result<Option<(Arc<Tenant>, String)>> {
    let prefix = format!("{}/", services.config.base_url());
    for identity in identities {
        let Some(slug) = identity.issuer.strip_prefix(&prefix) else {
            continue;
        };
        if let Some(home) = services
            .directory
            .tenant(slug)
            .await
            .map_err(Error::unexpected)?
            && services.issuer(&home.slug) == identity.issuer
        {
            return Ok(Some((home, identity.issuer_assigned_id.clone())));
        }
    }
    Ok(None)
}

/// The home tenant of an address: another tenant on this Gatehouse that verified its domain.
pub async fn home_tenant_for(
    services: &Services,
    resource: &Tenant,
    email: &str,
) -> Result<Option<Arc<Tenant>>> {
    let domain = email.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    if crate::domain::partner::is_consumer_domain(&domain) {
        // Nobody's organisation: never a home tenant, whatever was recorded.
        return Ok(None);
    }
    let slug = match services.store.tenant_slug_by_verified_domain(&domain).await {
        Ok(slug) => slug,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(Error::unexpected(e)),
    };
    Ok(services
        .directory
        .tenant(&slug)
        .await
        .map_err(Error::unexpected)?
        .filter(|home| home.id != resource.id))
}
