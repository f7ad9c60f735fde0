//! The redemption router (B2B-REFERENCE.md B.3): where a tenant's redemption order sends an
//! invited address — its home tenant on this Gatehouse, the partner IdP of its domain, an
//! offered partner, or a one-time passcode — with what was considered on the way.

use crate::domain::tenant::{RedemptionRoute, RouteFacts, Tenant, choose_route};
use crate::services::{Error, Result, Services};

/// Where the tenant's redemption order sends an address, with what it found on the way.
#[derive(Debug)]
pub struct Routed {
    /// The chosen route.
    pub route: RedemptionRoute,
    /// Every route as considered (the dry run's answer).
    pub considered: Vec<crate::domain::tenant::ConsideredRoute>,
    /// The home tenant on this Gatehouse, if the domain has one.
    pub home: Option<std::sync::Arc<Tenant>>,
    /// The partner IdP bound to the domain, if any.
    pub partner: Option<crate::domain::partner::PartnerIdp>,
    /// The partner IdPs offered to every guest.
    pub offered: Vec<crate::domain::partner::PartnerIdp>,
}

/// Runs the tenant's redemption router for `email` (B.3).
pub async fn route_for(state: &Services, tenant: &Tenant, email: &str) -> Result<Routed> {
    let home = crate::services::home::home_tenant_for(state, tenant, email).await?;
    let domain = email
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase();
    let partner = state
        .directory
        .partner_for_domain(&tenant.id, &domain)
        .await
        .map_err(Error::unexpected)?;
    let offered: Vec<_> = state
        .directory
        .partners(&tenant.id)
        .await
        .map_err(Error::unexpected)?
        .iter()
        .filter(|p| p.offered_to_all)
        .cloned()
        .collect();
    let facts = RouteFacts {
        home_tenant: home.as_ref().map(|h| h.slug.clone()),
        partner: partner.as_ref().map(|p| p.display_name.clone()),
        offered: offered.iter().map(|p| p.display_name.clone()).collect(),
    };
    let (route, considered) = choose_route(&tenant.settings.redemption_order, &facts);
    Ok(Routed {
        route,
        considered,
        home,
        partner,
        offered,
    })
}
