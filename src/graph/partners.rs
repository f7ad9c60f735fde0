//! `/{tenant}/v1.0/identity/identityProviders`: the tenant's partner identity providers
//! (guests' home IdPs) in the shape of Graph's `openIdConnectIdentityProvider` and
//! `samlOrWsFedExternalDomainFederation`, with the domains each one serves. Needs
//! `IdentityProvider.ReadWrite.All`. Secrets are write-only.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::{Caller, authenticate};
use super::{ApiError, entity, read_json};
use crate::domain::partner::ClientAuth;
use crate::domain::permission::IDENTITY_PROVIDERS;
use crate::services::AppState;
use crate::services::admin::partners::{self, OidcPartnerInput, PartnerChanges, SamlPartnerInput};
use crate::web::error::AppError;

/// A domain in Graph's shape.
#[derive(Debug, Deserialize)]
struct DomainRef {
    id: String,
}

/// `@odata.type` of an OpenID Connect partner.
const OIDC_TYPE: &str = "#microsoft.graph.openIdConnectIdentityProvider";
/// `@odata.type` of a SAML partner.
const SAML_TYPE: &str = "#microsoft.graph.samlOrWsFedExternalDomainFederation";

/// `POST` body of a SAML partner.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SamlPartnerBody {
    #[serde(rename = "@odata.type")]
    _odata_type: String,
    display_name: String,
    issuer_uri: Option<String>,
    metadata_xml: Option<String>,
    metadata_exchange_uri: Option<String>,
    #[serde(default)]
    domains: Vec<DomainRef>,
    #[serde(default)]
    attest_domains: bool,
    #[serde(default)]
    trust_mfa: bool,
    #[serde(default)]
    mfa_values: Vec<String>,
    #[serde(default)]
    offered_to_all: bool,
}

/// `POST` body of an OpenID Connect partner.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PartnerBody {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    display_name: String,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`; absent:
    /// chosen from the partner's discovery.
    client_authentication: Option<String>,
    scope: Option<String>,
    #[serde(default)]
    domains: Vec<DomainRef>,
    #[serde(default)]
    attest_domains: bool,
    #[serde(default)]
    trust_mfa: bool,
    #[serde(default)]
    mfa_values: Vec<String>,
    #[serde(default)]
    offered_to_all: bool,
}

/// `PATCH` body: the fields given change; the protocol and issuer never do.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PartnerPatch {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    display_name: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_authentication: Option<String>,
    scope: Option<String>,
    metadata_xml: Option<String>,
    metadata_exchange_uri: Option<String>,
    domains: Option<Vec<DomainRef>>,
    #[serde(default)]
    attest_domains: bool,
    trust_mfa: Option<bool>,
    mfa_values: Option<Vec<String>>,
    offered_to_all: Option<bool>,
}

/// Parses `clientAuthentication`.
fn client_auth(value: Option<&str>) -> Result<Option<ClientAuth>, AppError> {
    value
        .map(ClientAuth::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.0).into())
}

async fn caller(state: &AppState, slug: &str, headers: &HeaderMap) -> Result<Caller, AppError> {
    let tenant = super::tenant(state, slug).await?;
    let caller = authenticate(state, tenant, headers).await?;
    caller.require(IDENTITY_PROVIDERS).map_err(ApiError::from)?;
    Ok(caller)
}

use super::admin_error;

/// `GET …/identity/identityProviders`.
#[utoipa::path(get, path = "/{tenant}/v1.0/identity/identityProviders", tag = "identityProviders",
    params(("tenant" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [..], @odata.nextLink while more exist }: [openIdConnectIdentityProvider or samlOrWsFedExternalDomainFederation, with domains] }; secrets are never returned")),
    security(("bearer" = [])))]
pub async fn list_partners(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    axum::extract::Query(paging): axum::extract::Query<super::Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let list = state.store.partners(&caller.tenant.id).await?;
    let values = list.iter().map(partners::partner_json).collect();
    Ok(super::page_of_all(&state, &uri, &paging, values)?)
}

/// `POST …/identity/identityProviders` → 201 (an OpenID Connect provider, or a SAML IdP by
/// its metadata).
#[utoipa::path(post, path = "/{tenant}/v1.0/identity/identityProviders", tag = "identityProviders",
    params(("tenant" = String, Path)),
    request_body(content = String, description = "OIDC (@odata.type #microsoft.graph.openIdConnectIdentityProvider, the default): displayName, issuer, clientId, clientSecret, clientAuthentication (client_secret_basic, client_secret_post, private_key_jwt or none; default: chosen from the partner's discovery, private_key_jwt without a clientSecret), scope, domains: [{id}], attestDomains, trustMfa, mfaValues, offeredToAll. SAML (#microsoft.graph.samlOrWsFedExternalDomainFederation): displayName, issuerUri (optional, must match the metadata's entityID), metadataXml or metadataExchangeUri, domains, attestDomains, trustMfa, mfaValues (AuthnContextClassRef values), offeredToAll", content_type = "application/json"),
    responses((status = 201, description = "Registered (its discovery or metadata answered)"), (status = 400, description = "What is wrong: consumer domain, another tenant's verified domain, unproven domain, unreachable issuer or metadata, metadata without a signing certificate or HTTP-Redirect SSO"),
    (status = 409, description = "Issuer already registered or domain already bound")),
    security(("bearer" = [])))]
pub async fn post_partner(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let raw: serde_json::Value = read_json(&headers, &body)?;
    let partner = match raw.get("@odata.type").and_then(|t| t.as_str()) {
        Some(SAML_TYPE) => {
            let body: SamlPartnerBody = read_json(&headers, &body)?;
            let input = SamlPartnerInput {
                display_name: body.display_name,
                issuer: body.issuer_uri,
                metadata_xml: body.metadata_xml,
                metadata_url: body.metadata_exchange_uri,
                domains: body.domains.into_iter().map(|d| d.id).collect(),
                attest_domains: body.attest_domains,
                trust_mfa: body.trust_mfa,
                mfa_values: body.mfa_values,
                offered_to_all: body.offered_to_all,
            };
            partners::create_saml_partner(
                state.store.as_ref(),
                &state.federation,
                &caller.tenant,
                input,
                caller.party(),
            )
            .await
        }
        None | Some(OIDC_TYPE) => {
            let body: PartnerBody = read_json(&headers, &body)?;
            let client_auth = client_auth(body.client_authentication.as_deref())?;
            let input = OidcPartnerInput {
                display_name: body.display_name,
                issuer: body.issuer,
                client_id: body.client_id,
                client_secret: body.client_secret,
                client_auth,
                scopes: body
                    .scope
                    .map(|s| s.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default(),
                domains: body.domains.into_iter().map(|d| d.id).collect(),
                attest_domains: body.attest_domains,
                trust_mfa: body.trust_mfa,
                mfa_values: body.mfa_values,
                offered_to_all: body.offered_to_all,
            };
            partners::create_oidc_partner(
                state.store.as_ref(),
                &state.master,
                &state.federation,
                &caller.tenant,
                input,
                caller.party(),
            )
            .await
        }
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "@odata.type must be {OIDC_TYPE} or {SAML_TYPE}"
            ))
            .into());
        }
    }
    .map_err(admin_error)?;
    state.directory.invalidate();
    Ok(entity(
        StatusCode::CREATED,
        partners::partner_json(&partner),
    ))
}

/// `PATCH …/identity/identityProviders/{id}` → 204: rename, rotate the client secret,
/// change the client authentication, scopes, metadata (same entityID), domains (same rules as registration), MFA trust
/// or whether it is offered to every guest. Audited with the names of the changed fields.
#[utoipa::path(patch, path = "/{tenant}/v1.0/identity/identityProviders/{id}", tag = "identityProviders",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "Any of displayName, clientId, clientSecret (rotation), clientAuthentication (one that sends no secret forgets the stored one), scope (OIDC); metadataXml, metadataExchangeUri (SAML, same entityID); domains: [{id}] (the whole new set; new ones need proof or attestDomains), trustMfa, mfaValues, offeredToAll", content_type = "application/json"),
    responses((status = 204, description = "Changed; applies to the next sign-in"), (status = 400, description = "What is wrong"),
    (status = 404, description = "No such identity provider"), (status = 409, description = "A domain already routes to another partner")),
    security(("bearer" = [])))]
pub async fn patch_partner(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let patch: PartnerPatch = read_json(&headers, &body)?;
    let changes = PartnerChanges {
        display_name: patch.display_name,
        client_id: patch.client_id,
        client_secret: patch.client_secret,
        client_auth: client_auth(patch.client_authentication.as_deref())?,
        scopes: patch
            .scope
            .map(|s| s.split_whitespace().map(str::to_owned).collect()),
        metadata_xml: patch.metadata_xml,
        metadata_url: patch.metadata_exchange_uri,
        domains: patch
            .domains
            .map(|domains| domains.into_iter().map(|d| d.id).collect()),
        attest_domains: patch.attest_domains,
        trust_mfa: patch.trust_mfa,
        mfa_values: patch.mfa_values,
        offered_to_all: patch.offered_to_all,
    };
    partners::update_partner(
        state.store.as_ref(),
        &state.master,
        &state.federation,
        &caller.tenant,
        &id,
        changes,
        caller.party(),
    )
    .await
    .map_err(admin_error)?;
    state.directory.invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE …/identity/identityProviders/{id}` → 204. Guests bound to it can no longer sign
/// in until their redemption is reset.
#[utoipa::path(delete, path = "/{tenant}/v1.0/identity/identityProviders/{id}", tag = "identityProviders",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such identity provider")),
    security(("bearer" = [])))]
pub async fn delete_partner(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    crate::services::admin::lifecycle::delete_partner(&state, &caller, &id)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
