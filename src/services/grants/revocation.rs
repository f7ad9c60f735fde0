//! Token revocation (RFC 7009) and introspection (RFC 7662), and the liveness of the access
//! tokens Gatehouse issued.
//!
//! Introspection needs a confidential client of the tenant; anything not active for this
//! tenant is inactive and nothing more is said. Revocation accepts refresh tokens and access
//! tokens of the calling client: a token with a grant revokes the grant (its refresh family
//! and every access token of it); a client-credentials token is revoked by its `jti`.

use serde_json::{Map, Value};

use super::{GrantResult, Refusal};
use crate::domain::app::{App, ClientType};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::secrets;
use crate::services::{Error, Result, Services};
use crate::store::{Grant, RefreshToken, StoreError};
use crate::tokens::Verified;
use crate::tokens::claims::verify_access_token;

/// The access-token claims an introspection answer repeats.
const INTROSPECTED_CLAIMS: [&str; 12] = [
    "scope",
    "client_id",
    "sub",
    "exp",
    "iat",
    "iss",
    "aud",
    "jti",
    "tid",
    "oid",
    "acr",
    "auth_time",
];

/// What introspection found (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq)]
pub enum Introspection {
    /// Not an active token of this tenant (or not the caller's refresh token).
    Inactive,
    /// A live access token: the claims the answer repeats.
    AccessToken(Map<String, Value>),
    /// A live refresh token of the caller.
    RefreshToken {
        /// The grant's scope.
        scope: String,
        /// The client it was issued to.
        client_id: String,
        /// Expiry.
        expires_at: i64,
        /// Issue time.
        issued_at: i64,
        /// The tenant's issuer.
        issuer: String,
    },
}

/// Checks that an access token is ours, for this tenant, unexpired and not revoked (by its
/// `jti` or its grant), and returns its claims.
pub async fn live_access_token(
    services: &Services,
    tenant: &Tenant,
    token: &str,
) -> Result<Option<Verified>> {
    let issuer = services.issuer(&tenant.slug);
    let Ok(verified) = verify_access_token(&services.tokens, &issuer, token, unix_now()) else {
        return Ok(None);
    };
    if let Some(jti) = verified.str("jti")
        && services
            .store
            .is_token_id_revoked(jti)
            .await
            .map_err(Error::unexpected)?
    {
        return Ok(None);
    }
    if let Some(grant_id) = verified.str("gid") {
        match services.store.grant_by_id(grant_id).await {
            Ok(grant) if grant.revoked_at.is_none() => {}
            Ok(_) | Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(Error::unexpected(e)),
        }
    }
    // The tokens of an app deleted or disabled since die with it (client credentials ones
    // have no grant to revoke).
    if let Some(client_id) = verified.str("client_id") {
        match services
            .directory
            .app(client_id)
            .await
            .map_err(Error::unexpected)?
        {
            Some(app) if app.enabled && app.tenant_id == tenant.id => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(verified))
}

/// A refresh token of this tenant with its grant, if it exists.
async fn refresh_token_of(
    services: &Services,
    tenant: &Tenant,
    token: &str,
) -> GrantResult<Option<(RefreshToken, Grant)>> {
    let stored = match services
        .store
        .refresh_token(&secrets::hash_secret(token))
        .await
    {
        Ok(stored) => stored,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let grant = services.store.grant_by_id(&stored.grant_id).await?;
    Ok((grant.tenant_id == tenant.id).then_some((stored, grant)))
}

/// Introspects `token` for `app` (RFC 7662), which must be a confidential client.
pub async fn introspect(
    services: &Services,
    tenant: &Tenant,
    app: &App,
    token: Option<&str>,
) -> GrantResult<Introspection> {
    if app.client_type != ClientType::Confidential {
        return Err(
            Refusal::InvalidClient("introspection needs a confidential client".to_owned()).into(),
        );
    }
    let token = token.ok_or_else(|| Refusal::InvalidRequest("token is required".to_owned()))?;
    if let Some(verified) = live_access_token(services, tenant, token).await? {
        let claims = INTROSPECTED_CLAIMS
            .iter()
            .filter_map(|claim| {
                let value = verified.claims.get(*claim)?;
                Some(((*claim).to_owned(), value.clone()))
            })
            .collect();
        return Ok(Introspection::AccessToken(claims));
    }
    let now = unix_now();
    match refresh_token_of(services, tenant, token).await? {
        Some((stored, grant))
            if stored.used_at.is_none()
                && stored.expires_at > now
                && grant.revoked_at.is_none()
                && grant.client_id == app.client_id =>
        {
            Ok(Introspection::RefreshToken {
                scope: grant.scope,
                client_id: grant.client_id,
                expires_at: stored.expires_at,
                issued_at: stored.created_at,
                issuer: services.issuer(&tenant.slug),
            })
        }
        _ => Ok(Introspection::Inactive),
    }
}

/// Revokes `token` for `app` (RFC 7009): unknown, expired and already revoked tokens are no
/// error (§2.2); another client's token is refused (`unauthorized_client`).
pub async fn revoke(
    services: &Services,
    tenant: &Tenant,
    app: &App,
    token: Option<&str>,
) -> GrantResult<()> {
    let token = token.ok_or_else(|| Refusal::InvalidRequest("token is required".to_owned()))?;
    let not_yours =
        || Refusal::UnauthorizedClient("the token was not issued to this client".to_owned());
    let now = unix_now();
    if let Some(verified) = live_access_token(services, tenant, token).await? {
        if verified.str("client_id") != Some(app.client_id.as_str()) {
            return Err(not_yours().into());
        }
        match (verified.str("gid"), verified.str("jti")) {
            (Some(grant_id), _) => services.store.revoke_grant(grant_id, now).await?,
            (None, Some(jti)) => {
                let exp = verified.int("exp").unwrap_or(now);
                services.store.revoke_token_id(jti, exp).await?;
            }
            (None, None) => {}
        }
        tracing::info!(client_id = %app.client_id, "access token revoked");
    } else if let Some((_, grant)) = refresh_token_of(services, tenant, token).await? {
        if grant.client_id != app.client_id {
            return Err(not_yours().into());
        }
        services.store.revoke_grant(&grant.id, now).await?;
        tracing::info!(client_id = %app.client_id, grant = %grant.id, "refresh token revoked");
    }
    Ok(())
}
