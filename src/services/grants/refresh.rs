//! The refresh-token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): each refresh
//! token works once; presenting a spent one revokes the whole family. Policy: strict, no
//! grace window — of concurrent refreshes exactly one succeeds, and the reuse revokes the
//! family, so a client must not refresh the same token twice.

use std::net::IpAddr;

use super::checks::{live_user, require_grant, still_allowed};
use super::issue::{Issued, UserTokens, issue_user_tokens, new_refresh_record};
use super::{GrantResult, Refusal, invalid_grant};
use crate::domain::app::{App, GrantType};
use crate::domain::scope::Scopes;
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::secrets;
use crate::services::Services;
use crate::store::{RefreshOutcome, StoreError};

/// The parameters of a refresh, as the client sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshRequest<'a> {
    /// `refresh_token`.
    pub refresh_token: Option<&'a str>,
    /// `scope`: at most what was granted.
    pub scope: Option<&'a str>,
}

/// Exchanges a refresh token of `app` for new tokens and the token's successor; `ip` is the
/// client's address for the sign-in log.
pub async fn refresh(
    services: &Services,
    tenant: &Tenant,
    app: &App,
    request: RefreshRequest<'_>,
    ip: Option<IpAddr>,
) -> GrantResult<Issued> {
    require_grant(app, GrantType::RefreshToken)?;
    let presented = request
        .refresh_token
        .ok_or_else(|| Refusal::InvalidRequest("refresh_token is required".to_owned()))?;
    let invalid = || invalid_grant("the refresh token is invalid, expired or revoked");
    let hash = secrets::hash_secret(presented);
    let stored = match services.store.refresh_token(&hash).await {
        Ok(stored) => stored,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    let grant = services.store.grant_by_id(&stored.grant_id).await?;
    if grant.client_id != app.client_id {
        // Another client's token: refuse, but do not let it revoke the owner's family.
        return Err(invalid());
    }
    let now = unix_now();
    if stored.used_at.is_some() {
        services.store.revoke_grant(&grant.id, now).await?;
        tracing::warn!(client_id = %app.client_id, grant = %grant.id, "refresh token reused; family revoked");
        return Err(invalid());
    }
    if stored.expires_at <= now {
        return Err(invalid());
    }
    let user = live_user(services, tenant, &grant).await?;
    still_allowed(services, tenant, app, &grant, &user, ip).await?;
    let granted = Scopes::parse(&grant.scope).unwrap_or_default();
    if let Some(asked) = request.scope {
        let asked = Scopes::parse(asked).map_err(|e| Refusal::InvalidScope(e.to_string()))?;
        if !asked.is_subset_of(&granted) {
            return Err(Refusal::InvalidScope("a refresh cannot add scopes".to_owned()).into());
        }
    }
    let successor = secrets::new_secret();
    let record = new_refresh_record(services, &successor, &grant.id, now);
    if services
        .store
        .rotate_refresh_token(&hash, &record, now)
        .await?
        == RefreshOutcome::AlreadyUsed
    {
        services.store.revoke_grant(&grant.id, now).await?;
        tracing::warn!(client_id = %app.client_id, grant = %grant.id, "concurrent refresh token reuse; family revoked");
        return Err(invalid());
    }
    let mint = UserTokens {
        tenant,
        app,
        grant: &grant,
        user: &user,
        nonce: None,
    };
    issue_user_tokens(services, mint, Some(successor), now).await
}
