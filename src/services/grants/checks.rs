//! The checks every grant makes before it mints: the client may use the grant, the grant and
//! its user are still good, and the user may still have a token for the application.

use std::net::IpAddr;

use super::{GrantResult, NOT_ASSIGNED_REASON, Refusal, invalid_grant};
use crate::domain::app::{App, GrantType};
use crate::domain::tenant::Tenant;
use crate::domain::user::User;
use crate::policy::Outcome;
use crate::services::Services;
use crate::services::access::{self, Attempt, Status};
use crate::store::{Grant, StoreError};

/// Refuses a client not registered for `grant` (`unauthorized_client`).
pub(super) fn require_grant(app: &App, grant: GrantType) -> GrantResult<()> {
    if app.allows(grant) {
        Ok(())
    } else {
        Err(
            Refusal::UnauthorizedClient(format!("this client may not use the {grant} grant"))
                .into(),
        )
    }
}

/// The grant's user, if the grant is still good: not revoked, user present and enabled,
/// credentials unchanged since (SECURITY.md C.33).
pub(super) async fn live_user(
    services: &Services,
    tenant: &Tenant,
    grant: &Grant,
) -> GrantResult<User> {
    let dead = || invalid_grant("the grant is no longer valid");
    if grant.revoked_at.is_some() || grant.tenant_id != tenant.id {
        return Err(dead());
    }
    let user_id = grant.user_id.as_deref().ok_or_else(dead)?;
    let user = match services.store.user_by_id(&tenant.id, user_id).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    grant_user_alive(tenant, grant, user)
}

/// [`live_user`] for a grant read together with its user (`None`: the grant has none, or its
/// user is gone): the same checks, without a query.
pub(super) fn grant_user_alive(
    tenant: &Tenant,
    grant: &Grant,
    user: Option<User>,
) -> GrantResult<User> {
    let dead = || invalid_grant("the grant is no longer valid");
    if grant.revoked_at.is_some() || grant.tenant_id != tenant.id || grant.user_id.is_none() {
        return Err(dead());
    }
    let user = user
        .filter(|user| Some(user.id.as_str()) == grant.user_id.as_deref())
        .ok_or_else(dead)?;
    if user.tenant_id != tenant.id
        || !user.account_enabled
        || grant.user_stamp.as_deref() != Some(user.security_stamp.as_str())
    {
        return Err(dead());
    }
    Ok(user)
}

/// Conditional access again, at the token endpoint (SECURITY.md C.35, H.73): the policies as
/// they are now, against the evidence the grant was issued on. A grant whose sign-in lacks
/// the MFA a policy now requires, or that a policy now blocks, or whose user is no longer
/// assigned, gets `invalid_grant` (and a failure in the sign-in log, from `ip`), and the
/// client must send the user through an interactive sign-in.
pub(super) async fn still_allowed(
    services: &Services,
    tenant: &Tenant,
    app: &App,
    grant: &Grant,
    user: &User,
    ip: Option<IpAddr>,
) -> GrantResult<()> {
    let mfa = grant.amr.iter().any(|m| m == "mfa");
    let decision = access::decide(services, user, Some(&app.client_id), mfa).await?;
    let (reason, description, error_code) = match decision.outcome {
        Outcome::Allow => return Ok(()),
        Outcome::NotAssigned => (
            NOT_ASSIGNED_REASON,
            "the user is no longer assigned to this application (assignment is required)",
            50105,
        ),
        Outcome::Block => (
            "Access has been blocked by Conditional Access policies.",
            "access is now blocked by the organisation's conditional access policies",
            53003,
        ),
        Outcome::RequireMfa => (
            "Strong authentication is required.",
            "multi-factor authentication is now required: sign the user in again",
            50076,
        ),
    };
    let attempt = Attempt {
        tenant,
        user: Some(user),
        typed: None,
        app: Some((&app.client_id, &app.name)),
        amr: &grant.amr,
        idp: grant.idp.as_deref(),
        protocol: "oidc",
        interactive: false,
        status: Status::Failure,
        reason: Some(reason),
        error_code,
        decision: Some(&decision),
        ip,
    };
    access::record(services, attempt).await?;
    tracing::info!(client_id = %app.client_id, grant = %grant.id, "token refused by conditional access");
    Err(invalid_grant(description))
}
