//! The IdP's side of a propagated logout (SAML Profiles §4.4.3.3): a signed LogoutRequest
//! to each other SP of the ended session in turn, by the HTTP-Redirect binding through the
//! browser, each LogoutResponse read back at `/saml/slo`, and then the end of the sign-out.

use std::str::FromStr;

use axum::http::HeaderMap;
use axum::response::Response;
use samael::schema::LogoutResponse;

use super::{refuse, response_url, signed_redirect};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::oidc::params::Params;
use crate::saml::request::verify_redirect_signature;
use crate::saml::response::{NS_ASSERTION, NS_PROTOCOL, instant, new_id};
use crate::samlxml::xml::{self, XmlOut};
use crate::services::AppState;
use crate::services::logout::chain::{Chain, Finish, SloTarget};
use crate::web::error::AppError;
use crate::web::see_other;

/// How long an SP may take to answer a LogoutRequest we send (`NotOnOrAfter`).
const REQUEST_LIFETIME: i64 = 300;

/// The browser's next hop: the next SP's LogoutRequest, or the end of the sign-out.
pub(super) async fn next(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    mut chain: Chain,
) -> Result<Response, AppError> {
    if chain.pending.is_empty() {
        return finish(state, tenant, headers, chain);
    }
    let target = chain.pending.remove(0);
    let id = new_id();
    let request = logout_request(&state.issuer(&tenant.slug), &id, &target);
    chain.awaiting = Some((target.entity_id.clone(), id));
    let handle = chain.park(state).await?;
    tracing::info!(tenant = %tenant.slug, sp = %target.entity_id, "SAML logout propagated to an SP");
    let url = signed_redirect(
        state,
        &target.slo_url,
        "SAMLRequest",
        &request,
        Some(&handle),
    )?;
    Ok(see_other(&url))
}

/// The end: the front-channel iframes, then the post-logout redirect or the LogoutResponse
/// to the SP that asked (or the signed-out page).
fn finish(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    chain: Chain,
) -> Result<Response, AppError> {
    let next = match &chain.finish {
        Finish::Redirect(next) => next.clone(),
        Finish::SamlResponse {
            slo_url,
            in_response_to,
            status,
            relay_state,
        } => Some(response_url(
            state,
            tenant,
            slo_url,
            in_response_to,
            status,
            relay_state.as_deref(),
        )?),
    };
    crate::oidc::logout::signed_out(tenant, headers, &chain.frames, next.as_deref())
}

/// A LogoutResponse from an SP we sent a LogoutRequest: checked (the chain it answers, the
/// SP, its signature when the SP registered certificates), then the next hop.
pub(super) async fn on_response(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    raw: &str,
    params: &Params,
) -> Result<Response, AppError> {
    let handle = params.get("RelayState").unwrap_or_default();
    let chain = Chain::resume(state, handle)
        .await?
        .filter(|chain| chain.tenant_id == tenant.id)
        .ok_or_else(|| refuse("This sign-out has expired; you are signed out."))?;
    let Some((entity_id, request_id)) = chain.awaiting.clone() else {
        return Err(refuse("No application was asked to sign you out."));
    };
    let encoded = params.get("SAMLResponse").unwrap_or_default();
    let response = read_logout_response(encoded)?;
    let issuer = response
        .issuer
        .as_ref()
        .and_then(|i| i.value.as_deref())
        .map(str::trim);
    if issuer != Some(entity_id.as_str())
        || response.in_response_to.as_deref() != Some(request_id.as_str())
    {
        return Err(refuse(
            "The logout response does not answer the request this sign-out sent.",
        ));
    }
    let app = state.directory.saml_app(&tenant.id, &entity_id).await?;
    if let Some(sp) = app.as_ref().and_then(|app| app.saml.as_ref())
        && !sp.certificates.is_empty()
    {
        verify_redirect_signature(raw, &sp.certificates).map_err(|why| {
            tracing::warn!(sp = %entity_id, reason = why, "LogoutResponse signature refused");
            refuse("The application's logout response is not correctly signed.")
        })?;
    }
    let status = response
        .status
        .as_ref()
        .and_then(|s| s.status_code.value.clone())
        .unwrap_or_default();
    tracing::info!(tenant = %tenant.slug, sp = %entity_id, %status, "SAML logout answered by an SP");
    let mut chain = chain;
    chain.awaiting = None;
    next(state, tenant, headers, chain).await
}

fn read_logout_response(encoded: &str) -> Result<LogoutResponse, AppError> {
    let xml = xml::decode_redirect(encoded).map_err(|e| refuse(&e.to_string()))?;
    crate::saml::strict::check(&xml, crate::saml::strict::Root::LogoutResponse).map_err(|e| {
        refuse(&format!(
            "The logout response is not well-formed SAML: {}.",
            e.reason
        ))
    })?;
    LogoutResponse::from_str(&xml).map_err(|_| refuse("The SAML logout response cannot be read."))
}

/// A LogoutRequest (SAML Core §3.7.1) naming the principal as `target` knows it.
fn logout_request(issuer: &str, id: &str, target: &SloTarget) -> String {
    let now = unix_now();
    let mut out = XmlOut::document();
    out.open(
        "samlp:LogoutRequest",
        &[
            ("xmlns:samlp", NS_PROTOCOL),
            ("xmlns:saml", NS_ASSERTION),
            ("ID", id),
            ("Version", "2.0"),
            ("IssueInstant", &instant(now)),
            ("Destination", &target.slo_url),
            ("NotOnOrAfter", &instant(now + REQUEST_LIFETIME)),
        ],
    )
    .leaf("saml:Issuer", &[], issuer);
    let mut name_attributes = vec![("Format", target.name_id_format.as_str())];
    if target.name_id_format == crate::domain::saml::NAMEID_PERSISTENT {
        name_attributes.push(("NameQualifier", issuer));
        name_attributes.push(("SPNameQualifier", target.entity_id.as_str()));
    }
    out.leaf("saml:NameID", &name_attributes, &target.name_id)
        .leaf("samlp:SessionIndex", &[], &target.session_index)
        .close("samlp:LogoutRequest");
    out.finish()
}
