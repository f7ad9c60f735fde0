//! What the grants mint: access tokens, ID tokens and refresh tokens of a user grant, and the
//! app-only access token of the client-credentials grant.

use super::checks::require_grant;
use super::{GrantResult, Refusal};
use crate::domain::app::{App, ClientType, GrantType};
use crate::domain::scope::{OFFLINE_ACCESS, Scopes};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::User;
use crate::secrets;
use crate::services::{Services, home};
use crate::store::{Grant, RefreshToken};
use crate::tokens::claims::{self, SignInFacts};
use crate::tokens::{TYP_ACCESS_TOKEN, TYP_JWT};

/// The tokens a grant gave (the body of RFC 6749 §5.1, a `Bearer` access token).
#[derive(Debug, Clone)]
pub struct Issued {
    /// The access token (RFC 9068).
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The granted scope, for user grants.
    pub scope: Option<String>,
    /// The ID token, for OpenID grants.
    pub id_token: Option<String>,
    /// The (next) refresh token.
    pub refresh_token: Option<String>,
}

/// A new refresh token for the grant, when `offline_access` was granted and the client may
/// refresh.
pub(super) async fn grant_refresh_token(
    services: &Services,
    app: &App,
    grant: &Grant,
    now: i64,
) -> GrantResult<Option<String>> {
    let scopes = Scopes::parse(&grant.scope).unwrap_or_default();
    if !scopes.contains(OFFLINE_ACCESS) || !app.allows(GrantType::RefreshToken) {
        return Ok(None);
    }
    let token = secrets::new_secret();
    services
        .store
        .issue_refresh_token(&new_refresh_record(services, &token, &grant.id, now))
        .await?;
    Ok(Some(token))
}

/// The stored form of the refresh token `token` of a grant, issued at `now`.
pub(super) fn new_refresh_record(
    services: &Services,
    token: &str,
    grant_id: &str,
    now: i64,
) -> RefreshToken {
    RefreshToken {
        token_hash: secrets::hash_secret(token),
        grant_id: grant_id.to_owned(),
        created_at: now,
        expires_at: now + services.config.tokens.refresh_token_ttl as i64,
        used_at: None,
    }
}

/// What a user grant mints besides its refresh token.
pub(super) struct UserTokens<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The client.
    pub app: &'a App,
    /// The grant.
    pub grant: &'a Grant,
    /// Its user.
    pub user: &'a User,
    /// The authorization request's nonce (code exchange only).
    pub nonce: Option<&'a str>,
}

/// Signs the access token and, for OpenID requests, the ID token of a user grant.
pub(super) async fn issue_user_tokens(
    services: &Services,
    mint: UserTokens<'_>,
    refresh_token: Option<String>,
    now: i64,
) -> GrantResult<Issued> {
    let UserTokens {
        tenant,
        app,
        grant,
        user,
        nonce,
    } = mint;
    let issuer = services.issuer(&tenant.slug);
    let scopes = Scopes::parse(&grant.scope).unwrap_or_default();
    let home = if grant
        .idp
        .as_deref()
        .is_some_and(|idp| home::is_local_issuer(services, idp))
    {
        home::bound_home(services, user).await?
    } else {
        None
    };
    let extra = crate::services::claims::app_claims(services, app, user, grant.ip.clone()).await?;
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
        app: &extra,
    };
    let (access_ttl, id_ttl) = crate::services::claims::lifetimes(services, app);
    let access_token = services.tokens.sign(
        app.signing_alg,
        TYP_ACCESS_TOKEN,
        claims::user_access_token(&facts, user, now, access_ttl),
        now,
    )?;
    let id_token = if claims::is_openid(&scopes) {
        let claims = claims::id_token(&facts, user, nonce, &access_token, now, id_ttl);
        Some(
            services
                .tokens
                .sign(app.signing_alg, TYP_JWT, claims, now)?,
        )
    } else {
        None
    };
    Ok(Issued {
        access_token,
        expires_in: access_ttl,
        scope: Some(scopes.to_string()),
        id_token,
        refresh_token,
    })
}

/// The client-credentials grant (RFC 6749 §4.4): confidential clients only; `scope` asks for
/// some of the application permissions granted to the app (none: all of them). No storage
/// round trip, so the endpoint is bounded by signing.
pub fn client_credentials(
    services: &Services,
    tenant: &Tenant,
    app: &App,
    scope: Option<&str>,
) -> GrantResult<Issued> {
    if app.client_type != ClientType::Confidential {
        return Err(Refusal::UnauthorizedClient(
            "public clients cannot use client_credentials".to_owned(),
        )
        .into());
    }
    require_grant(app, GrantType::ClientCredentials)?;
    let scopes =
        Scopes::parse(scope.unwrap_or("")).map_err(|e| Refusal::InvalidScope(e.to_string()))?;
    // Requested permissions must be among those granted to the app (SECURITY.md C.30); with
    // none requested the token carries every granted one.
    if let Some(scope) = scopes
        .iter()
        .find(|s| !app.permissions.iter().any(|p| p == s))
    {
        return Err(Refusal::InvalidScope(format!(
            "the client has not been granted the permission {scope}"
        ))
        .into());
    }
    let roles: Vec<String> = if scopes.is_empty() {
        app.permissions.clone()
    } else {
        scopes.iter().map(str::to_owned).collect()
    };
    let now = unix_now();
    let ttl = crate::services::claims::lifetimes(services, app).0;
    let issuer = services.issuer(&tenant.slug);
    let claims = claims::client_access_token(&issuer, &tenant.id, &app.client_id, &roles, now, ttl);
    let access_token = services
        .tokens
        .sign(app.signing_alg, TYP_ACCESS_TOKEN, claims, now)?;
    Ok(Issued {
        access_token,
        expires_in: ttl,
        scope: None,
        id_token: None,
        refresh_token: None,
    })
}
