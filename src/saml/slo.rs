//! Single logout, SP-initiated, HTTP-Redirect binding (SAML Profiles §4.4): a signed
//! LogoutRequest from a registered SP ends the browser's Gatehouse session in the tenant when
//! its NameID is the session's user as that SP knows it (its registered format, or the
//! transient NameID the session gave it), and a signed LogoutResponse goes back to the SP's
//! SLO endpoint — after the IdP has propagated the logout (Profiles §4.4.3.3): each other
//! SP of the session with an SLO endpoint gets a signed LogoutRequest naming the NameID and
//! SessionIndex it received, in turn, through the browser, and its LogoutResponse comes back
//! here; then the front-channel iframes and the answer to the SP that asked. An RP-initiated
//! OIDC logout hands its session's SPs to the same chain (`?chain=`).

use std::str::FromStr;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use samael::schema::LogoutRequest;

use super::request::verify_redirect_signature;
use super::response::{self, NS_ASSERTION, NS_PROTOCOL, instant, new_id, status};
use crate::domain::saml::{NameIdFormat, SamlSp};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::oidc::params::Params;
use crate::samlxml::xml::{self, XmlOut};
use crate::services::AppState;
use crate::services::logout::Ended;
use crate::services::logout::chain::{Chain, Finish};
use crate::web::error::{AppError, ErrorPage};
use crate::web::session;

mod chain;

/// `urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal`.
const UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";

fn refuse(message: &str) -> AppError {
    ErrorPage::bad_request(
        "error-signout-refused-title",
        crate::i18n::Text::new("error-signout-refused"),
    )
    .with_detail(message)
    .into()
}

/// `GET {issuer}/saml/slo`.
pub async fn get_slo(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let raw = query.unwrap_or_default();
    let params = Params::parse(raw.as_bytes());
    if let Some(name) = params.first_repeated() {
        return Err(refuse(&format!(
            "The request repeats the {name} parameter."
        )));
    }
    if let Some(handle) = params.get("chain") {
        let chain = Chain::resume(&state, handle)
            .await?
            .filter(|chain| chain.tenant_id == tenant.id)
            .ok_or_else(|| refuse("This sign-out has expired; you are signed out."))?;
        return chain::next(&state, &tenant, &headers, chain).await;
    }
    if params.get("SAMLResponse").is_some() {
        return chain::on_response(&state, &tenant, &headers, &raw, &params).await;
    }
    let encoded = params
        .get("SAMLRequest")
        .ok_or_else(|| refuse("There is no SAML logout request in this address."))?;
    let request = read_logout_request(encoded)?;
    let issuer = request
        .issuer
        .as_ref()
        .and_then(|i| i.value.as_deref())
        .ok_or_else(|| refuse("The logout request does not say which application sent it."))?;
    let app = state
        .directory
        .saml_app(&tenant.id, issuer.trim())
        .await?
        .ok_or_else(|| {
            refuse("The application that sent you here is not registered with this organisation.")
        })?;
    let sp = app
        .saml
        .as_ref()
        .ok_or_else(|| refuse("The application is not a SAML application."))?;
    if !sp.certificates.is_empty() {
        // A logout request must be authenticated (SAML Profiles §4.4.4.1), or any site could
        // sign users out.
        verify_redirect_signature(&raw, &sp.certificates).map_err(|why| {
            tracing::warn!(sp = %sp.entity_id, reason = why, "LogoutRequest signature refused");
            refuse("The application's logout request is not correctly signed.")
        })?;
    }
    let (outcome, ended) = sign_out_named(&state, &tenant, &headers, sp, &request).await?;
    let finish = match &sp.slo_url {
        Some(slo) => Finish::SamlResponse {
            slo_url: slo.clone(),
            in_response_to: request.id.clone().unwrap_or_default(),
            status: outcome.to_owned(),
            relay_state: params.get("RelayState").map(str::to_owned),
        },
        None => Finish::Redirect(None),
    };
    let issuer = state.issuer(&tenant.slug);
    let mut chain = match &ended {
        Some(ended) => Chain::of(&issuer, ended, Some(&app.id), finish),
        None => Chain {
            tenant_id: tenant.id.clone(),
            pending: Vec::new(),
            awaiting: None,
            frames: Vec::new(),
            finish,
        },
    };
    chain.tenant_id = tenant.id.clone();
    chain::next(&state, &tenant, &headers, chain).await
}

/// Decodes the HTTP-Redirect `SAMLRequest` and reads it, strictly and namespace-aware first.
fn read_logout_request(encoded: &str) -> Result<LogoutRequest, AppError> {
    let xml = xml::decode_redirect(encoded).map_err(|e| refuse(&e.to_string()))?;
    // Strict and namespace-aware first: samael's reader matches local names and stops after
    // the first element.
    super::strict::check(&xml, super::strict::Root::LogoutRequest).map_err(|e| {
        tracing::info!(reason = %e.reason, "LogoutRequest that is not well-formed SAML");
        refuse(&format!(
            "The logout request is not well-formed SAML: {}.",
            e.reason
        ))
    })?;
    LogoutRequest::from_str(&xml).map_err(|_| refuse("The SAML logout request cannot be read."))
}

/// Ends the browser's session in the tenant when the request names its user as this SP knows
/// it (or names nobody); the status to answer, and the session ended.
async fn sign_out_named(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    sp: &SamlSp,
    request: &LogoutRequest,
) -> Result<(&'static str, Option<Ended>), AppError> {
    if let Some(current) = session::current(state, headers, &tenant.id).await? {
        let named = request.name_id.as_ref().map(|n| n.value.trim());
        let user = state.store.user_by_id(&tenant.id, &current.user_id).await?;
        // The session's user as this SP knows it: its registered format, or the transient
        // NameID this session gave it (an SP may have asked for either).
        let mut expected = vec![match sp.nameid_format {
            NameIdFormat::Persistent => {
                response::persistent_name_id(&tenant.id, &sp.entity_id, &user.id)
            }
            NameIdFormat::EmailAddress => user.email.clone(),
            NameIdFormat::Transient => String::new(),
        }];
        expected.extend(
            super::sso::transient_name_id(state, &tenant.id, &current.id, &sp.entity_id, false)
                .await?,
        );
        if named.is_none_or(|n| !n.is_empty() && expected.iter().any(|e| e == n)) {
            let ended = crate::services::logout::session_ended(state, tenant, &current).await?;
            tracing::info!(tenant = %tenant.slug, sp = %sp.entity_id, "signed out by SAML single logout");
            return Ok((status::SUCCESS, Some(ended)));
        } else {
            return Ok((UNKNOWN_PRINCIPAL, None));
        }
    }
    Ok((status::SUCCESS, None))
}

/// The address of a signed LogoutResponse by the HTTP-Redirect binding.
pub(super) fn response_url(
    state: &AppState,
    tenant: &Tenant,
    slo: &str,
    in_response_to: &str,
    outcome: &str,
    relay_state: Option<&str>,
) -> Result<String, AppError> {
    let issuer = state.issuer(&tenant.slug);
    let mut out = XmlOut::document();
    let (code, detail) = if outcome == status::SUCCESS {
        (status::SUCCESS, None)
    } else {
        (status::REQUESTER, Some(outcome))
    };
    out.open(
        "samlp:LogoutResponse",
        &[
            ("xmlns:samlp", NS_PROTOCOL),
            ("xmlns:saml", NS_ASSERTION),
            ("ID", &new_id()),
            ("Version", "2.0"),
            ("IssueInstant", &instant(unix_now())),
            ("Destination", slo),
            ("InResponseTo", in_response_to),
        ],
    )
    .leaf("saml:Issuer", &[], &issuer)
    .open("samlp:Status", &[])
    .open("samlp:StatusCode", &[("Value", code)]);
    if let Some(detail) = detail {
        out.empty("samlp:StatusCode", &[("Value", detail)]);
    }
    out.close("samlp:StatusCode")
        .close("samlp:Status")
        .close("samlp:LogoutResponse");
    signed_redirect(state, slo, "SAMLResponse", &out.finish(), relay_state)
}

/// `destination` with `xml` as the HTTP-Redirect binding's `param`, signed with the
/// tenant's SAML key (SAML Bindings §3.4.4.1).
pub(super) fn signed_redirect(
    state: &AppState,
    destination: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
) -> Result<String, AppError> {
    let key = state.keys.saml_signing_key(unix_now()).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("no active RSA key with a certificate"))
    })?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair(param, &xml::encode_redirect(xml));
    if let Some(relay) = relay_state {
        query.append_pair("RelayState", relay);
    }
    query.append_pair(
        "SigAlg",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    );
    let unsigned = query.finish();
    let private =
        PKey::private_key_from_der(&key.private_der).map_err(|e| AppError::Internal(e.into()))?;
    let signature = Signer::new(MessageDigest::sha256(), &private)
        .and_then(|mut signer| signer.sign_oneshot_to_vec(unsigned.as_bytes()))
        .map_err(|e| AppError::Internal(e.into()))?;
    let signature: String =
        url::form_urlencoded::byte_serialize(STANDARD.encode(signature).as_bytes()).collect();
    let separator = if destination.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{destination}{separator}{unsigned}&Signature={signature}"
    ))
}
