//! Token introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Introspection needs a confidential client of the tenant; anything not active for this
//! tenant answers `{"active": false}` and nothing more. Revocation accepts refresh tokens and
//! access tokens of the calling client: a token with a grant revokes the grant (its refresh
//! family and every access token of it); a client-credentials token is revoked by its `jti`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::client_auth::ClientRequest;
use super::error::OAuthError;
use super::userinfo::live_access_token;
use crate::domain::app::ClientType;
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::secrets;
use crate::services::AppState;
use crate::store::{Grant, RefreshToken, StoreError};
use crate::web::error::AppError;

fn no_store(body: Value) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response()
}

/// A refresh token of this tenant with its grant, if it exists.
async fn refresh_token_of(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
) -> Result<Option<(RefreshToken, Grant)>, AppError> {
    let stored = match state
        .store
        .refresh_token(&secrets::hash_secret(token))
        .await
    {
        Ok(stored) => stored,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let grant = state.store.grant_by_id(&stored.grant_id).await?;
    Ok((grant.tenant_id == tenant.id).then_some((stored, grant)))
}

/// `POST /{tenant}/oauth2/introspect`.
pub async fn post_introspect(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let ClientRequest {
        tenant,
        params,
        client,
    } = ClientRequest::read(&state, &slug, peer, &headers, &body).await?;
    if client.app.client_type != ClientType::Confidential {
        return Err(
            OAuthError::invalid_client("introspection needs a confidential client", false).into(),
        );
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = || no_store(json!({ "active": false }));
    if let Some(verified) = live_access_token(&state, &tenant, token).await? {
        let mut body = json!({ "active": true, "token_type": "Bearer" });
        for claim in [
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
        ] {
            if let Some(value) = verified.claims.get(claim) {
                body[claim] = value.clone();
            }
        }
        return Ok(no_store(body));
    }
    let now = unix_now();
    match refresh_token_of(&state, &tenant, token).await? {
        Some((stored, grant))
            if stored.used_at.is_none()
                && stored.expires_at > now
                && grant.revoked_at.is_none()
                && grant.client_id == client.app.client_id =>
        {
            Ok(no_store(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": grant.scope,
                "client_id": grant.client_id,
                "exp": stored.expires_at,
                "iat": stored.created_at,
                "iss": state.issuer(&tenant.slug),
            })))
        }
        _ => Ok(inactive()),
    }
}

/// `POST /{tenant}/oauth2/revoke`.
pub async fn post_revoke(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let ClientRequest {
        tenant,
        params,
        client,
    } = ClientRequest::read(&state, &slug, peer, &headers, &body).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let not_yours = || OAuthError::unauthorized_client("the token was not issued to this client");
    let now = unix_now();
    if let Some(verified) = live_access_token(&state, &tenant, token).await? {
        if verified.str("client_id") != Some(client.app.client_id.as_str()) {
            return Err(not_yours().into());
        }
        match (verified.str("gid"), verified.str("jti")) {
            (Some(grant_id), _) => state.store.revoke_grant(grant_id, now).await?,
            (None, Some(jti)) => {
                let exp = verified.int("exp").unwrap_or(now);
                state.store.revoke_token_id(jti, exp).await?;
            }
            (None, None) => {}
        }
        tracing::info!(client_id = %client.app.client_id, "access token revoked");
    } else if let Some((_, grant)) = refresh_token_of(&state, &tenant, token).await? {
        if grant.client_id != client.app.client_id {
            return Err(not_yours().into());
        }
        state.store.revoke_grant(&grant.id, now).await?;
        tracing::info!(client_id = %client.app.client_id, grant = %grant.id, "refresh token revoked");
    }
    // Unknown, expired and already revoked tokens: 200 as well (RFC 7009 §2.2).
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response())
}
