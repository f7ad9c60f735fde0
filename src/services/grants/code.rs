//! The authorization-code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6). A code works
//! once; a replay by the client it was issued to, proving the verifier, revokes what the code
//! issued (SECURITY.md B.22).

use std::net::IpAddr;

use super::checks::{grant_user_alive, require_grant, still_allowed};
use super::issue::{Issued, UserTokens, grant_refresh_token, issue_user_tokens};
use super::{GrantResult, Refusal, invalid_grant};
use crate::domain::app::{App, GrantType};
use crate::domain::scope::is_pkce_value;
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::ephemeral::Json;
use crate::secrets;
use crate::services::Services;
use crate::services::codes::{CodeRecord, RedeemedCode, code_key, redeemed_key};

/// The parameters of a code exchange, as the client sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct CodeExchange<'a> {
    /// `code`.
    pub code: Option<&'a str>,
    /// `redirect_uri`: must repeat the authorization request's.
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier` (PKCE).
    pub code_verifier: Option<&'a str>,
}

/// Exchanges an authorization code of `app` for tokens; `ip` is the client's address for the
/// sign-in log.
pub async fn exchange_code(
    services: &Services,
    tenant: &Tenant,
    app: &App,
    exchange: CodeExchange<'_>,
    ip: Option<IpAddr>,
) -> GrantResult<Issued> {
    require_grant(app, GrantType::AuthorizationCode)?;
    let code = exchange
        .code
        .ok_or_else(|| Refusal::InvalidRequest("code is required".to_owned()))?;
    let verifier = exchange.code_verifier;
    if verifier.is_some_and(|v| !is_pkce_value(v)) {
        return Err(invalid_grant("code_verifier is malformed"));
    }
    let proves = |challenge: &str| {
        verifier.is_some_and(|v| {
            secrets::constant_time_eq(&secrets::sha256_b64url(v.as_bytes()), challenge)
        })
    };
    let json = Json(services.ephemeral.as_ref());
    let key = code_key(code);
    // Read the code, check everything, and only then claim it atomically: a request that
    // fails a check does not burn the client's code, and of concurrent valid redemptions
    // exactly one wins the claim and gets tokens (which the others' replays then revoke).
    let Some(record) = json.get::<CodeRecord>(&key).await? else {
        return Err(replayed(services, app, code, proves).await?);
    };
    if record.client_id != app.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if exchange.redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    if verifier.is_none() {
        return Err(invalid_grant("code_verifier is required"));
    }
    if !proves(&record.code_challenge) {
        return Err(invalid_grant(
            "code_verifier does not match the code challenge",
        ));
    }
    let now = unix_now();
    if now - record.issued_at > services.config.tokens.code_ttl as i64 {
        return Err(invalid_grant("the code has expired"));
    }
    // The grant and its user in one statement.
    let (grant, user) = services.store.grant_with_user(&record.grant_id).await?;
    let user = grant_user_alive(tenant, &grant, user)?;
    still_allowed(services, tenant, app, &grant, &user, ip).await?;
    if json.take::<CodeRecord>(&key).await?.is_none() {
        return Err(replayed(services, app, code, proves).await?);
    }
    let refresh = grant_refresh_token(services, app, &grant, now).await?;
    let mint = UserTokens {
        tenant,
        app,
        grant: &grant,
        user: &user,
        nonce: grant.nonce.as_deref(),
    };
    issue_user_tokens(services, mint, refresh, now).await
}

/// A code that is unknown, expired or already redeemed. If it was redeemed and the caller
/// proves it is the same client with the right verifier, the code leaked: revoke what it
/// issued (SECURITY.md B.22). Anyone else learns nothing and revokes nothing. Returns the
/// refusal to answer.
async fn replayed(
    services: &Services,
    app: &App,
    code: &str,
    proves: impl Fn(&str) -> bool,
) -> GrantResult<super::GrantError> {
    let json = Json(services.ephemeral.as_ref());
    if let Some(redeemed) = json.get::<RedeemedCode>(&redeemed_key(code)).await?
        && redeemed.client_id == app.client_id
        && proves(&redeemed.code_challenge)
    {
        services
            .store
            .revoke_grant(&redeemed.grant_id, unix_now())
            .await?;
        tracing::warn!(client_id = %app.client_id, "authorization code replayed; its grant is revoked");
    }
    Ok(invalid_grant(
        "the code is invalid, expired or already used",
    ))
}
