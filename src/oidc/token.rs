//! The token endpoint (RFC 6749 §3.2): authorization code with PKCE, refresh with rotation
//! and family revocation on reuse, client credentials. Responses carry
//! `Cache-Control: no-store` (SECURITY.md C.29).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::authorize::{CodeRecord, RedeemedCode, code_key, is_pkce_value, redeemed_key};
use super::claims::{self, SignInFacts};
use super::client_auth::{AuthenticatedClient, ClientRequest};
use super::error::OAuthError;
use super::params::Params;
use crate::domain::app::{App, GrantType};
use crate::domain::scope::{OFFLINE_ACCESS, Scopes};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::User;
use crate::ephemeral::Json;
use crate::policy::Outcome;
use crate::secrets;
use crate::services::AppState;
use crate::store::{Grant, RefreshOutcome, RefreshToken, StoreError};
use crate::tokens::{TYP_ACCESS_TOKEN, TYP_JWT};
use crate::web::error::AppError;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        (
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::PRAGMA, HeaderValue::from_static("no-cache")),
            ],
            axum::Json(self),
        )
            .into_response()
    }
}

/// `POST /{tenant}/oauth2/token`.
pub async fn post_token(
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
    let response = match params.get("grant_type") {
        Some("authorization_code") => authorization_code(&state, &tenant, &client, &params).await?,
        Some("refresh_token") => refresh(&state, &tenant, &client, &params).await?,
        Some("client_credentials") => client_credentials(&state, &tenant, &client, &params)?,
        Some(_) => {
            return Err(OAuthError::unsupported_grant_type(
                "supported grants: authorization_code, refresh_token, client_credentials",
            )
            .into());
        }
        None => return Err(OAuthError::invalid_request("grant_type is required").into()),
    };
    Ok(response.into_response())
}

fn require_grant(app: &App, grant: GrantType) -> Result<(), OAuthError> {
    if app.allows(grant) {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {grant} grant"
        )))
    }
}

/// The authorization-code grant (RFC 6749 §4.1.3, RFC 7636 §4.6).
async fn authorization_code(
    state: &AppState,
    tenant: &Tenant,
    client: &AuthenticatedClient,
    params: &Params,
) -> Result<TokenResponse, AppError> {
    require_grant(&client.app, GrantType::AuthorizationCode)?;
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = params.get("code_verifier");
    if verifier.is_some_and(|v| !is_pkce_value(v)) {
        return Err(OAuthError::invalid_grant("code_verifier is malformed").into());
    }
    let proves = |challenge: &str| {
        verifier.is_some_and(|v| {
            secrets::constant_time_eq(&secrets::sha256_b64url(v.as_bytes()), challenge)
        })
    };
    let json = Json(state.ephemeral.as_ref());
    let key = code_key(code);
    // Read the code, check everything, and only then claim it atomically: a request that
    // fails a check does not burn the client's code, and of concurrent valid redemptions
    // exactly one wins the claim and gets tokens (which the others' replays then revoke).
    let Some(record) = json.get::<CodeRecord>(&key).await? else {
        return Err(replayed(state, client, code, proves).await?.into());
    };
    if record.client_id != client.app.client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client").into());
    }
    if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        )
        .into());
    }
    if verifier.is_none() {
        return Err(OAuthError::invalid_grant("code_verifier is required").into());
    }
    if !proves(&record.code_challenge) {
        return Err(
            OAuthError::invalid_grant("code_verifier does not match the code challenge").into(),
        );
    }
    let now = unix_now();
    if now - record.issued_at > state.config.tokens.code_ttl as i64 {
        return Err(OAuthError::invalid_grant("the code has expired").into());
    }
    let grant = state.store.grant_by_id(&record.grant_id).await?;
    let user = live_user(state, tenant, &grant).await?;
    still_allowed(state, tenant, &client.app, &grant, &user).await?;
    if json.take::<CodeRecord>(&key).await?.is_none() {
        return Err(replayed(state, client, code, proves).await?.into());
    }
    let refresh = grant_refresh_token(state, &client.app, &grant, now).await?;
    let nonce = grant.nonce.clone();
    issue_user_tokens(
        state,
        tenant,
        &client.app,
        &grant,
        &user,
        nonce.as_deref(),
        refresh,
        now,
    )
    .await
}

/// A code that is unknown, expired or already redeemed. If it was redeemed and the caller
/// proves it is the same client with the right verifier, the code leaked: revoke what it
/// issued (SECURITY.md B.22). Anyone else learns nothing and revokes nothing.
async fn replayed(
    state: &AppState,
    client: &AuthenticatedClient,
    code: &str,
    proves: impl Fn(&str) -> bool,
) -> Result<OAuthError, AppError> {
    let json = Json(state.ephemeral.as_ref());
    if let Some(redeemed) = json.get::<RedeemedCode>(&redeemed_key(code)).await?
        && redeemed.client_id == client.app.client_id
        && proves(&redeemed.code_challenge)
    {
        state
            .store
            .revoke_grant(&redeemed.grant_id, unix_now())
            .await?;
        tracing::warn!(client_id = %client.app.client_id, "authorization code replayed; its grant is revoked");
    }
    Ok(OAuthError::invalid_grant(
        "the code is invalid, expired or already used",
    ))
}

/// The grant's user, if the grant is still good: not revoked, user present and enabled,
/// credentials unchanged since (SECURITY.md C.33).
async fn live_user(state: &AppState, tenant: &Tenant, grant: &Grant) -> Result<User, AppError> {
    let dead = || OAuthError::invalid_grant("the grant is no longer valid");
    if grant.revoked_at.is_some() || grant.tenant_id != tenant.id {
        return Err(dead().into());
    }
    let user_id = grant.user_id.as_deref().ok_or_else(dead)?;
    let user = match state.store.user_by_id(&tenant.id, user_id).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Err(dead().into()),
        Err(e) => return Err(e.into()),
    };
    if !user.account_enabled || grant.user_stamp.as_deref() != Some(user.security_stamp.as_str()) {
        return Err(dead().into());
    }
    Ok(user)
}

/// A new refresh token for the grant, when `offline_access` was granted and the client may
/// refresh.
async fn grant_refresh_token(
    state: &AppState,
    app: &App,
    grant: &Grant,
    now: i64,
) -> Result<Option<String>, AppError> {
    let scopes = Scopes::parse(&grant.scope).unwrap_or_default();
    if !scopes.contains(OFFLINE_ACCESS) || !app.allows(GrantType::RefreshToken) {
        return Ok(None);
    }
    let token = secrets::new_secret();
    state
        .store
        .issue_refresh_token(&new_refresh_record(state, &token, &grant.id, now))
        .await?;
    Ok(Some(token))
}

fn new_refresh_record(state: &AppState, token: &str, grant_id: &str, now: i64) -> RefreshToken {
    RefreshToken {
        token_hash: secrets::hash_secret(token),
        grant_id: grant_id.to_owned(),
        created_at: now,
        expires_at: now + state.config.tokens.refresh_token_ttl as i64,
        used_at: None,
    }
}

/// Signs the access token and, for OpenID requests, the ID token of a user grant.
#[allow(clippy::too_many_arguments)]
async fn issue_user_tokens(
    state: &AppState,
    tenant: &Tenant,
    app: &App,
    grant: &Grant,
    user: &User,
    nonce: Option<&str>,
    refresh_token: Option<String>,
    now: i64,
) -> Result<TokenResponse, AppError> {
    let issuer = state.issuer(&tenant.slug);
    let scopes = Scopes::parse(&grant.scope).unwrap_or_default();
    let home = if grant
        .idp
        .as_deref()
        .is_some_and(|idp| crate::journey::home::is_local_issuer(state, idp))
    {
        crate::journey::home::bound_home(state, user).await?
    } else {
        None
    };
    let facts = SignInFacts {
        issuer: &issuer,
        tenant_id: &tenant.id,
        client_id: &app.client_id,
        grant_id: &grant.id,
        session_id: grant.session_id.as_deref(),
        scopes: &scopes,
        auth_time: grant.auth_time,
        amr: &grant.amr,
        acr: &grant.acr,
        idp: grant.idp.as_deref(),
        home: home
            .as_ref()
            .map(|(tenant, oid)| (tenant.id.as_str(), oid.as_str())),
    };
    let ttl = &state.config.tokens;
    let access_token = state.tokens.sign(
        app.signing_alg,
        TYP_ACCESS_TOKEN,
        claims::user_access_token(&facts, user, now, ttl.access_token_ttl),
        now,
    )?;
    let id_token = if claims::is_openid(&scopes) {
        let claims = claims::id_token(&facts, user, nonce, &access_token, now, ttl.id_token_ttl);
        Some(state.tokens.sign(app.signing_alg, TYP_JWT, claims, now)?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl.access_token_ttl,
        scope: Some(scopes.to_string()),
        id_token,
        refresh_token,
    })
}

/// The sign-in log's reason for a user the application does not admit (Entra's 50105).
pub const NOT_ASSIGNED_REASON: &str =
    "The signed in user is not assigned to a role for the application.";

/// Conditional access again, at the token endpoint (SECURITY.md C.35, H.73): the policies as
/// they are now, against the evidence the grant was issued on. A grant whose sign-in lacks
/// the MFA a policy now requires, or that a policy now blocks, gets `invalid_grant`, and the
/// client must send the user through an interactive sign-in.
async fn still_allowed(
    state: &AppState,
    tenant: &Tenant,
    app: &App,
    grant: &Grant,
    user: &User,
) -> Result<(), AppError> {
    let mfa = grant.amr.iter().any(|m| m == "mfa");
    let decision = crate::services::access::decide(state, user, Some(&app.client_id), mfa).await?;
    let (reason, description) = match decision.outcome {
        Outcome::Allow => return Ok(()),
        Outcome::NotAssigned => (
            NOT_ASSIGNED_REASON,
            "the user is no longer assigned to this application (assignment is required)",
        ),
        Outcome::Block => (
            "Access has been blocked by Conditional Access policies.",
            "access is now blocked by the organisation's conditional access policies",
        ),
        Outcome::RequireMfa => (
            "Strong authentication is required.",
            "multi-factor authentication is now required: sign the user in again",
        ),
    };
    crate::services::access::record(
        state,
        crate::services::access::Attempt {
            tenant,
            user: Some(user),
            typed: None,
            app: Some((&app.client_id, &app.name)),
            amr: &grant.amr,
            idp: grant.idp.as_deref(),
            protocol: "oidc",
            interactive: false,
            status: crate::services::access::Status::Failure,
            reason: Some(reason),
            error_code: match decision.outcome {
                Outcome::Block => 53003,
                Outcome::NotAssigned => 50105,
                _ => 50076,
            },
            decision: Some(&decision),
            ip: crate::web::client_address::current(),
        },
    )
    .await?;
    tracing::info!(client_id = %app.client_id, grant = %grant.id, "token refused by conditional access");
    Err(OAuthError::invalid_grant(description).into())
}

/// The refresh-token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): each refresh
/// token works once; presenting a spent one revokes the whole family. Policy: strict, no
/// grace window — of concurrent refreshes exactly one succeeds, and the reuse revokes the
/// family, so a client must not refresh the same token twice.
async fn refresh(
    state: &AppState,
    tenant: &Tenant,
    client: &AuthenticatedClient,
    params: &Params,
) -> Result<TokenResponse, AppError> {
    require_grant(&client.app, GrantType::RefreshToken)?;
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let hash = secrets::hash_secret(presented);
    let stored = match state.store.refresh_token(&hash).await {
        Ok(stored) => stored,
        Err(StoreError::NotFound) => return Err(invalid().into()),
        Err(e) => return Err(e.into()),
    };
    let grant = state.store.grant_by_id(&stored.grant_id).await?;
    if grant.client_id != client.app.client_id {
        // Another client's token: refuse, but do not let it revoke the owner's family.
        return Err(invalid().into());
    }
    let now = unix_now();
    if stored.used_at.is_some() {
        state.store.revoke_grant(&grant.id, now).await?;
        tracing::warn!(client_id = %client.app.client_id, grant = %grant.id, "refresh token reused; family revoked");
        return Err(invalid().into());
    }
    if stored.expires_at <= now {
        return Err(invalid().into());
    }
    let user = live_user(state, tenant, &grant).await?;
    still_allowed(state, tenant, &client.app, &grant, &user).await?;
    let granted = Scopes::parse(&grant.scope).unwrap_or_default();
    if let Some(asked) = params.get("scope") {
        let asked = Scopes::parse(asked).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        if !asked.is_subset_of(&granted) {
            return Err(OAuthError::invalid_scope("a refresh cannot add scopes").into());
        }
    }
    let successor = secrets::new_secret();
    let record = new_refresh_record(state, &successor, &grant.id, now);
    if state
        .store
        .rotate_refresh_token(&hash, &record, now)
        .await?
        == RefreshOutcome::AlreadyUsed
    {
        state.store.revoke_grant(&grant.id, now).await?;
        tracing::warn!(client_id = %client.app.client_id, grant = %grant.id, "concurrent refresh token reuse; family revoked");
        return Err(invalid().into());
    }
    issue_user_tokens(
        state,
        tenant,
        &client.app,
        &grant,
        &user,
        None,
        Some(successor),
        now,
    )
    .await
}

/// The client-credentials grant (RFC 6749 §4.4): confidential clients only; no storage
/// round trip, so the endpoint is bounded by signing.
fn client_credentials(
    state: &AppState,
    tenant: &Tenant,
    client: &AuthenticatedClient,
    params: &Params,
) -> Result<TokenResponse, AppError> {
    if client.app.client_type != crate::domain::app::ClientType::Confidential {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        )
        .into());
    }
    require_grant(&client.app, GrantType::ClientCredentials)?;
    let scopes = Scopes::parse(params.get("scope").unwrap_or(""))
        .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    // Requested permissions must be among those granted to the app (SECURITY.md C.30); with
    // none requested the token carries every granted one.
    if let Some(scope) = scopes
        .iter()
        .find(|s| !client.app.permissions.iter().any(|p| p == s))
    {
        return Err(OAuthError::invalid_scope(format!(
            "the client has not been granted the permission {scope}"
        ))
        .into());
    }
    let roles: Vec<String> = if scopes.is_empty() {
        client.app.permissions.clone()
    } else {
        scopes.iter().map(str::to_owned).collect()
    };
    let now = unix_now();
    let ttl = state.config.tokens.access_token_ttl;
    let issuer = state.issuer(&tenant.slug);
    let claims =
        claims::client_access_token(&issuer, &tenant.id, &client.app.client_id, &roles, now, ttl);
    let access_token = state
        .tokens
        .sign(client.app.signing_alg, TYP_ACCESS_TOKEN, claims, now)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: None,
        id_token: None,
        refresh_token: None,
    })
}
