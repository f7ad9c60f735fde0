//! Signing a guest in at a partner OpenID Connect provider (SECURITY.md G.51–54, 56), with
//! the openidconnect crate: authorization code flow with PKCE S256, a fresh `nonce`, and a
//! `state` that is single use, bound to the browser's transaction and to the partner the flow
//! started with (a response for another IdP cannot complete it: its code would be exchanged at
//! the recorded partner). The `iss` authorization-response parameter must be the partner's
//! issuer, and must be present when its discovery says it sends one (RFC 9207). ID tokens are checked by openidconnect (issuer, audience,
//! expiry, nonce, signature with an algorithm allow-list of RS256/PS256/ES256) and `at_hash`
//! when present; the signature itself is verified by OpenSSL through the partner's keys'
//! type, [`PartnerJwk`]. The guest's identity is (issuer, `sub`); an address counts only when the
//! IdP says `email_verified` — `true`, or the JSON string `"true"` that some IdPs send
//! (exactly that spelling; `"false"` is false, any other string makes the ID token unreadable
//! and the sign-in is refused), through openidconnect's `accept-string-booleans`.
//!
//! At the partner's token endpoint Gatehouse authenticates as the partner was registered
//! ([`ClientAuth`]): the client secret in HTTP Basic or in the body, a public client, or
//! `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a client assertion signed with the
//! active key of Gatehouse's key ring — the key ring whose JWKS every tenant publishes at
//! `{issuer}/oauth2/jwks`, which the partner registers as the client's `jwks_uri` — with
//! `iss` = `sub` = the client id, `aud` = the token endpoint it is posted to, a fresh `jti`
//! and a one-minute lifetime. RS256, or ES256 when the partner lists only that.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreIdToken, CoreIdTokenClaims, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyAdditionalClaims, IdTokenVerifier, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::{expired, refused, resume, take_once, unreachable_page, waiting_transaction};
use crate::domain::app::SigningAlg;
use crate::domain::partner::{ClientAuth, PartnerIdp};
use crate::domain::tenant::Tenant;
use crate::ephemeral::Json;
use crate::pages::{Transaction, Upstream};
use crate::services::AppState;
use crate::upstream::jwk::PartnerJwk;
use crate::web::error::AppError;

/// How long the browser may take at the partner IdP.
const FLOW_TTL: Duration = Duration::from_secs(600);
/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client assertion is valid.
const ASSERTION_TTL: i64 = 60;

/// What is remembered of an upstream sign-in in progress, under `fedstate:{state}`.
#[derive(Debug, Serialize, Deserialize)]
struct FlowState {
    tenant_id: String,
    transaction: String,
    partner_id: String,
    nonce: String,
    pkce_verifier: String,
    /// When the flow started, and what the request demands of the authentication's age.
    #[serde(default)]
    started_at: i64,
    #[serde(default)]
    fresh_login: bool,
    #[serde(default)]
    max_age: Option<i64>,
}

fn state_key(state: &str) -> String {
    format!("fedstate:{}", crate::secrets::hash_secret(state))
}

/// The redirect URI of a tenant's partner sign-ins.
pub fn callback_url(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/federation/oidc/callback", state.issuer(&tenant.slug))
}

/// The openidconnect client of a partner built from its discovery (authorization endpoint
/// set; token and userinfo endpoints as discovered): openidconnect's core client with the
/// partner's keys as [`PartnerJwk`]s, so that ID tokens verify with OpenSSL.
type PartnerClient = Client<
    EmptyAdditionalClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    PartnerJwk,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    CoreTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(
    state: &AppState,
    tenant: &Tenant,
    partner: &PartnerIdp,
    metadata: crate::upstream::PartnerMetadata,
) -> Result<PartnerClient, AppError> {
    let method = partner.client_auth.unwrap_or(ClientAuth::ClientSecretBasic);
    let secret = match partner
        .sealed_client_secret
        .as_ref()
        .filter(|_| method.uses_secret())
    {
        Some(sealed) => Some(ClientSecret::new(
            String::from_utf8(state.master.open(sealed).map_err(|e| {
                AppError::Internal(anyhow::anyhow!("partner secret cannot be opened: {e}"))
            })?)
            .map_err(|e| AppError::Internal(e.into()))?,
        )),
        None => None,
    };
    let redirect =
        RedirectUrl::new(callback_url(state, tenant)).map_err(|e| AppError::Internal(e.into()))?;
    // Without a secret, the oauth2 crate sends `client_id` in the body whatever the type.
    let auth_type = match method {
        ClientAuth::ClientSecretPost => AuthType::RequestBody,
        _ => AuthType::BasicAuth,
    };
    Ok(Client::from_provider_metadata(
        metadata,
        ClientId::new(partner.client_id.clone().unwrap_or_default()),
        secret,
    )
    .set_auth_type(auth_type)
    .set_redirect_uri(redirect))
}

/// A `private_key_jwt` client assertion for the partner's token endpoint (RFC 7523 §3): `iss`
/// and `sub` the client id, `aud` the token endpoint exactly as its discovery names it (where
/// it is posted, so it is never presented anywhere else), `jti`, `iat`, `exp` a minute later;
/// signed by the key ring (RS256 unless the partner lists only ES256).
fn client_assertion(
    state: &AppState,
    partner: &PartnerIdp,
    metadata: &crate::upstream::PartnerMetadata,
) -> Result<String, String> {
    let audience = metadata
        .token_endpoint()
        .ok_or("the partner has no token endpoint")?
        .as_str()
        .to_owned();
    let client_id = partner.client_id.clone().unwrap_or_default();
    let alg = match metadata.token_endpoint_auth_signing_alg_values_supported() {
        Some(algs)
            if !algs.contains(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256)
                && algs.contains(&CoreJwsSigningAlgorithm::EcdsaP256Sha256) =>
        {
            SigningAlg::ES256
        }
        _ => SigningAlg::RS256,
    };
    let now = crate::domain::unix_now();
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": crate::secrets::random_token(24),
        "iat": now,
        "exp": now + ASSERTION_TTL,
    });
    let serde_json::Value::Object(claims) = claims else {
        return Err("client assertion claims".to_owned());
    };
    state
        .tokens
        .sign(alg, crate::tokens::TYP_JWT, claims, now)
        .map_err(|e| e.to_string())
}

/// Parks the transaction and sends the browser to sign in at `partner`.
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    transaction: Transaction,
    partner: &PartnerIdp,
    login_hint: &str,
) -> Result<Response, AppError> {
    let metadata = state
        .federation
        .metadata(&partner.issuer, false)
        .await
        .map_err(unreachable_page)?;
    let client = client(state, tenant, partner, metadata)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", login_hint);
    // What the request demands of the authentication is demanded of the partner, and checked
    // on its ID token's auth_time.
    let demands = transaction.request.requirements();
    if demands.fresh_login {
        request = request.add_extra_param("prompt", "login");
    }
    let max_age = demands.max_age.map(|m| m.to_string());
    if let Some(max_age) = &max_age {
        request = request.add_extra_param("max_age", max_age.as_str());
    }
    for scope in partner.scopes.iter().filter(|s| s.as_str() != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    Json(state.ephemeral.as_ref())
        .put(
            &state_key(csrf.secret()),
            &FlowState {
                tenant_id: tenant.id.clone(),
                transaction: transaction.id.clone(),
                partner_id: partner.id.clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                started_at: crate::domain::unix_now(),
                fresh_login: demands.fresh_login,
                max_age: demands.max_age,
            },
            FLOW_TTL,
        )
        .await?;
    super::send_away(state, tenant, transaction, partner, url.as_str()).await
}

/// The query of the callback.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// `GET /{tenant}/federation/oidc/callback`: the partner's answer.
pub async fn callback(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let flow: FlowState = take_once(&state, query.state.as_deref(), state_key).await?;
    let (transaction, partner) = waiting_transaction(
        &state,
        &headers,
        &tenant,
        &flow.tenant_id,
        &flow.transaction,
        &flow.partner_id,
    )
    .await?;
    if query.error.is_some() {
        tracing::info!(tenant = %tenant.slug, partner = %partner.id, "the partner identity provider refused the sign-in");
        return Err(refused("error-upstream-refused"));
    }
    // RFC 9207: a partner that says it sends `iss` must send its own; one that does not
    // say so may omit it (the state is still bound to the partner the flow started with).
    let iss_promised = state
        .federation
        .metadata(&partner.issuer, false)
        .await
        .map(|m| {
            m.additional_metadata()
                .authorization_response_iss_parameter_supported
                == Some(true)
        })
        .unwrap_or(true);
    if query
        .iss
        .as_deref()
        .map_or(iss_promised, |iss| iss != partner.issuer)
    {
        tracing::warn!(tenant = %tenant.slug, partner = %partner.id, "authorization response from another issuer (mix-up)");
        return Err(refused("error-upstream-wrong-idp"));
    }
    let code = query.code.ok_or_else(expired)?;
    let upstream = verified_identity(&state, &tenant, &partner, code, &flow).await?;
    resume(&state, &headers, &tenant, transaction, &partner, upstream).await
}

/// Exchanges the code and checks the ID token; returns (subject, verified email, amr/acr).
async fn verified_identity(
    state: &AppState,
    tenant: &Tenant,
    partner: &PartnerIdp,
    code: String,
    flow: &FlowState,
) -> Result<Upstream, AppError> {
    let failed = |what: &str, e: String| {
        tracing::warn!(tenant = %tenant.slug, partner = %partner.id, error = %e, "{what}");
        refused("error-upstream-unverified")
    };
    let metadata = state
        .federation
        .metadata(&partner.issuer, false)
        .await
        .map_err(unreachable_page)?;
    let assertion = match partner.client_auth {
        Some(ClientAuth::PrivateKeyJwt) => Some(
            client_assertion(state, partner, &metadata)
                .map_err(|e| failed("client assertion", e))?,
        ),
        _ => None,
    };
    let mut client = client(state, tenant, partner, metadata)?;
    let response = exchange_code(state, &client, code, flow, assertion, &failed).await?;
    let id_token = response
        .id_token()
        .ok_or_else(|| failed("partner sent no ID token", String::new()))?;
    let nonce = Nonce::new(flow.nonce.clone());
    let allowed = [
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    ];
    // Verified once; only when that fails is it verified again, against fresh keys.
    let first = id_token
        .claims(
            &client.id_token_verifier().set_allowed_algs(allowed.clone()),
            &nonce,
        )
        .ok();
    if first.is_none() {
        // Perhaps the IdP rotated its keys: verify the same token once more against freshly
        // fetched keys (the last good copy is kept if the IdP does not answer).
        tracing::info!(partner = %partner.id, "ID token did not verify; fetching the partner's keys again");
        let fresh = state
            .federation
            .metadata(&partner.issuer, true)
            .await
            .map_err(unreachable_page)?;
        client = self::client(state, tenant, partner, fresh)?;
    }
    let verifier = client.id_token_verifier().set_allowed_algs(allowed);
    let claims = match first {
        Some(claims) => claims,
        None => id_token
            .claims(&verifier, &nonce)
            .map_err(|e| failed("partner ID token refused", e.to_string()))?,
    };
    check_at_hash(id_token, claims, &verifier, &response, &failed)?;
    let asserted = asserted_email(state, &client, &response, claims, &failed).await?;
    let demanded = super::Freshness {
        started_at: flow.started_at,
        fresh_login: flow.fresh_login,
        max_age: flow.max_age,
    };
    super::upstream(partner, proof(claims, asserted), demanded)
        .map_err(|reason| failed(reason, String::new()))
}

/// Exchanges the code, exactly once, at the partner's token endpoint, with the PKCE verifier
/// and the client assertion when there is one.
async fn exchange_code(
    state: &AppState,
    client: &PartnerClient,
    code: String,
    flow: &FlowState,
    assertion: Option<String>,
    failed: &impl Fn(&str, String) -> AppError,
) -> Result<CoreTokenResponse, AppError> {
    // The code is exchanged exactly once.
    let mut exchange = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| failed("partner has no token endpoint", e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()));
    if let Some(assertion) = assertion {
        exchange = exchange
            .add_extra_param("client_assertion_type", JWT_BEARER)
            .add_extra_param("client_assertion", assertion);
    }
    exchange
        .request_async(state.federation.http())
        .await
        .map_err(|e| failed("partner token request failed", e.to_string()))
}

/// Checks the ID token's `at_hash`, when it has one, against the access token it came with.
fn check_at_hash(
    id_token: &CoreIdToken,
    claims: &CoreIdTokenClaims,
    verifier: &IdTokenVerifier<'_, PartnerJwk>,
    response: &CoreTokenResponse,
    failed: &impl Fn(&str, String) -> AppError,
) -> Result<(), AppError> {
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|e| failed("ID token algorithm", e.to_string()))?;
        let key = id_token
            .signing_key(verifier)
            .map_err(|e| failed("ID token key", e.to_string()))?;
        let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
            .map_err(|e| failed("at_hash", e.to_string()))?;
        if &actual != expected {
            return Err(failed("at_hash mismatch", String::new()));
        }
    }
    Ok(())
}

/// The address the partner asserted and whether it is verified: from the ID token, or from
/// userinfo when the ID token lacks the address or its `email_verified`.
async fn asserted_email(
    state: &AppState,
    client: &PartnerClient,
    response: &CoreTokenResponse,
    claims: &CoreIdTokenClaims,
    failed: &impl Fn(&str, String) -> AppError,
) -> Result<Option<(String, bool)>, AppError> {
    let mut asserted = claims.email().map(|email| {
        (
            email.as_str().to_ascii_lowercase(),
            claims.email_verified() == Some(true),
        )
    });
    if claims.email().is_none() || claims.email_verified().is_none() {
        // Scope claims may come only from userinfo (OIDC Core §5.4); its `sub` must be
        // the ID token's (§5.3.2), which openidconnect checks.
        asserted = userinfo_email(state, client, response, claims.subject().clone())
            .await
            .map_err(|e| failed("partner userinfo refused", e))?
            .or(asserted);
    }
    Ok(asserted)
}

/// What the verified ID token proves of the sign-in: subject, address, time and methods.
fn proof(claims: &CoreIdTokenClaims, email: Option<(String, bool)>) -> super::UpstreamProof {
    let mut methods: Vec<String> = claims
        .auth_method_refs()
        .map(|refs| refs.iter().map(|r| r.as_str().to_owned()).collect())
        .unwrap_or_default();
    methods.extend(claims.auth_context_ref().map(|a| a.as_str().to_owned()));
    super::UpstreamProof {
        subject: claims.subject().as_str().to_owned(),
        email,
        auth_time: claims.auth_time().map(|t| t.timestamp()),
        methods,
    }
}

/// The address at the partner's userinfo endpoint and whether it is verified, if it has one.
async fn userinfo_email(
    state: &AppState,
    client: &PartnerClient,
    response: &CoreTokenResponse,
    subject: openidconnect::SubjectIdentifier,
) -> Result<Option<(String, bool)>, String> {
    let Ok(request) = client.user_info(response.access_token().clone(), Some(subject)) else {
        return Ok(None); // no userinfo endpoint: nothing more to learn
    };
    let info: openidconnect::core::CoreUserInfoClaims = request
        .request_async(state.federation.http())
        .await
        .map_err(|e| e.to_string())?;
    Ok(info.email().map(|email| {
        (
            email.as_str().to_ascii_lowercase(),
            info.email_verified() == Some(true),
        )
    }))
}
