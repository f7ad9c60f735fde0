//! Single logout, SP-initiated, HTTP-Redirect binding (SAML Profiles §4.4): a signed
//! LogoutRequest from a registered SP ends the browser's Gatehouse session in the tenant when
//! its NameID is the session's user as that SP knows it (its registered format, or the
//! transient NameID the session gave it), and a signed LogoutResponse goes back to the SP's
//! SLO endpoint.

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
use crate::web::error::{AppError, ErrorPage};
use crate::web::{see_other, session};

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
    let outcome = sign_out_named(&state, &tenant, &headers, sp, &request).await?;
    let request_id = request.id.clone().unwrap_or_default();
    match &sp.slo_url {
        Some(slo) => respond(
            &state,
            &tenant,
            slo,
            &request_id,
            outcome,
            params.get("RelayState"),
        ),
        None => crate::oidc::logout::signed_out_page(&tenant, &headers),
    }
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
/// it (or names nobody); the status to answer.
async fn sign_out_named(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    sp: &SamlSp,
    request: &LogoutRequest,
) -> Result<&'static str, AppError> {
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
            state.store.end_session(&current.id, unix_now()).await?;
            tracing::info!(tenant = %tenant.slug, sp = %sp.entity_id, "signed out by SAML single logout");
        } else {
            return Ok(UNKNOWN_PRINCIPAL);
        }
    }
    Ok(status::SUCCESS)
}

/// A signed LogoutResponse by the HTTP-Redirect binding.
fn respond(
    state: &AppState,
    tenant: &Tenant,
    slo: &str,
    in_response_to: &str,
    outcome: &str,
    relay_state: Option<&str>,
) -> Result<Response, AppError> {
    let key = state.keys.saml_signing_key(unix_now()).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("no active RSA key with a certificate"))
    })?;
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
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("SAMLResponse", &xml::encode_redirect(&out.finish()));
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
    let separator = if slo.contains('?') { '&' } else { '?' };
    Ok(see_other(&format!(
        "{slo}{separator}{unsigned}&Signature={signature}"
    )))
}
