//! Taking in an AuthnRequest (SAML 2.0 Core §3.4.1, Profiles §4.1.4.1): decoding, strict
//! namespace-aware reading ([`super::strict`]; a message that is not well-formed SAML gets a
//! `Requester` status only when its SP and ACS can be trusted, else a page), the SP by
//! its Issuer, the signature (HTTP-Redirect: over the query as sent; HTTP-POST: XML-DSig via
//! xmlsec, reduced to the signed content), the ACS (only registered endpoints), and what the
//! SP asks of the sign-in (ForceAuthn, IsPassive, RequestedAuthnContext, NameIDPolicy).

mod signature;

pub use crate::domain::signin::SamlRequest;
pub use signature::verify_redirect_signature;
use signature::{query_value, verified};
use std::str::FromStr;
use std::sync::Arc;

use samael::schema::AuthnRequest;

use super::response::{Status, status};
use super::strict::{self, Malformed, Root};
use crate::domain::app::App;
use crate::domain::email::EmailAddress;
use crate::domain::saml::{
    NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT, NAMEID_UNSPECIFIED, NameIdFormat, SamlSp,
};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::samlxml::metadata::BINDING_POST;
use crate::services::AppState;
use crate::store::StoreError;
use crate::web::error::{AppError, ErrorPage};

/// The longest RelayState accepted (SAML Bindings §3.4.3, §3.5.3).
pub const MAX_RELAY_STATE: usize = 80;

/// Single-factor authentication context classes we can satisfy with a password.
const SINGLE_FACTOR: [&str; 4] = [
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
    "https://refeds.org/profile/sfa",
];
/// Multi-factor authentication context classes.
const MULTI_FACTOR: [&str; 3] = [
    "https://refeds.org/profile/mfa",
    "http://schemas.microsoft.com/claims/multipleauthn",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
];

/// AuthnContextClassRef of a password sign-in.
pub const CONTEXT_PASSWORD: &str = SINGLE_FACTOR[0];
/// AuthnContextClassRef of a multi-factor sign-in.
pub const CONTEXT_MFA: &str = MULTI_FACTOR[0];

/// How the request arrived.
#[derive(Debug)]
pub enum Binding<'a> {
    /// HTTP-Redirect, with the raw (still URL-encoded) query string.
    Redirect {
        /// The query as received.
        raw_query: &'a str,
    },
    /// HTTP-POST.
    Post,
}

/// The outcome of taking in a request whose SP and ACS are known.
#[derive(Debug)]
pub enum Intake {
    /// Valid: start the journey.
    Accepted(SamlRequest),
    /// Refused: answer the SP at its ACS with this status.
    Refused(SamlRequest, Status),
}

/// A page for a request that cannot be answered at an ACS: a generic, translated explanation,
/// and the reason (English) for the application's owner.
fn page(message: &str) -> AppError {
    ErrorPage::bad_request(
        "error-invalid-request-title",
        crate::i18n::Text::new("error-invalid-request"),
    )
    .with_detail(message)
    .into()
}

fn parse(xml: &str) -> Result<AuthnRequest, AppError> {
    AuthnRequest::from_str(xml)
        .map_err(|_| page("The application sent a SAML request that cannot be read."))
}

/// Takes in an AuthnRequest. Errors before the SP and its ACS are established are pages
/// (nothing is ever posted to an unverified address).
pub async fn intake(
    state: &AppState,
    tenant: &Tenant,
    xml: &str,
    relay_state: Option<&str>,
    binding: Binding<'_>,
) -> Result<Intake, AppError> {
    if let Err(malformed) = strict::check(xml, Root::AuthnRequest) {
        return malformed_request(state, tenant, malformed, relay_state, binding).await;
    }
    let unsigned = parse(xml)?;
    let app = issuing_app(state, tenant, &unsigned).await?;
    let sp = app
        .saml
        .as_ref()
        .ok_or_else(|| page("The application is not a SAML application."))?;
    let request = verified(sp, xml, &unsigned, binding)?;
    if request
        .issuer
        .as_ref()
        .and_then(|i| i.value.as_deref())
        .map(str::trim)
        != Some(sp.entity_id.as_str())
    {
        return Err(page("The signed SAML request names another application."));
    }
    let acs = sp
        .acs_for(
            request.assertion_consumer_service_url.as_deref(),
            request.assertion_consumer_service_index.map(|i| i as u32),
        )
        .ok_or_else(|| {
            tracing::info!(sp = %sp.entity_id, "AuthnRequest with an unregistered ACS");
            page("The application asked to receive the sign-in at an address it has not registered. You have not been redirected.",
            )
        })?;
    let saml = SamlRequest {
        tenant_id: tenant.id.clone(),
        client_id: app.client_id.clone(),
        app_name: app.name.clone(),
        sp_entity_id: sp.entity_id.clone(),
        request_id: Some(request.id.clone()),
        acs: acs.url.clone(),
        relay_state: None,
        force_authn: request.force_authn.unwrap_or(false),
        is_passive: request.is_passive.unwrap_or(false),
        mfa: false,
        login_hint: None,
        expected_user: None,
        expected_name_id: None,
        name_id_format: None,
    };
    asked_of_sign_in(state, tenant, sp, &request, relay_state, saml).await
}

/// The enabled SAML application the (still unverified) request's `<Issuer>` names.
async fn issuing_app(
    state: &AppState,
    tenant: &Tenant,
    unsigned: &AuthnRequest,
) -> Result<Arc<App>, AppError> {
    let issuer = unsigned
        .issuer
        .as_ref()
        .and_then(|i| i.value.as_deref())
        .ok_or_else(|| page("The SAML request does not say which application sent it."))?;
    state
        .directory
        .saml_app(&tenant.id, issuer.trim())
        .await?
        .filter(|app| app.enabled)
        .ok_or_else(|| {
            page("The application that sent you here is not registered with this organisation.")
        })
}

/// Takes in what a verified request from a known SP and ACS asks of the sign-in: its
/// RelayState, the checks of [`check_request`], and the subject it names.
async fn asked_of_sign_in(
    state: &AppState,
    tenant: &Tenant,
    sp: &SamlSp,
    request: &AuthnRequest,
    relay_state: Option<&str>,
    mut saml: SamlRequest,
) -> Result<Intake, AppError> {
    if let Some(relay) = relay_state {
        if relay.len() > MAX_RELAY_STATE {
            let status = Status::error(
                status::REQUESTER,
                status::REQUEST_DENIED,
                "RelayState is longer than 80 bytes",
            );
            return Ok(Intake::Refused(saml, status));
        }
        saml.relay_state = Some(relay.to_owned());
    }
    let (mfa, format) = match check_request(state, tenant, sp, request) {
        Ok(checked) => checked,
        Err(status) => return Ok(Intake::Refused(saml, status)),
    };
    saml.mfa = mfa;
    saml.name_id_format = Some(format);
    match requested_subject(state, tenant, sp, request).await? {
        Ok(RequestedSubject::Nobody) => {}
        Ok(RequestedSubject::User { id, email }) => {
            saml.expected_user = Some(id);
            saml.login_hint = Some(email);
        }
        Ok(RequestedSubject::Persistent(name_id)) => saml.expected_name_id = Some(name_id),
        Err(status) => return Ok(Intake::Refused(saml, status)),
    }
    Ok(Intake::Accepted(saml))
}

/// Answers a request that is not well-formed SAML. Only what was read before the fault
/// counts ([`strict::Outline`]): a `samlp:AuthnRequest` root whose first child is a
/// `saml:Issuer` naming an enabled SAML app of the tenant. The request must be that SP's as
/// far as can be known — with the HTTP-Redirect binding its query signature verifies when it
/// carries one, and is required when the SP signs; with HTTP-POST a signing SP's malformed
/// document cannot be verified at all — and the ACS it names (URL or index, as read from the
/// root) must be registered. Then the SP gets a signed `Requester` status there; in every other
/// case the browser gets a page and nothing is posted anywhere.
async fn malformed_request(
    state: &AppState,
    tenant: &Tenant,
    malformed: Malformed,
    relay_state: Option<&str>,
    binding: Binding<'_>,
) -> Result<Intake, AppError> {
    tracing::info!(reason = %malformed.reason, "SAML request that is not well-formed SAML");
    let refusal = || {
        page(&format!(
            "The application sent a SAML request that is not well-formed SAML: {}.",
            malformed.reason
        ))
    };
    let outline = &malformed.outline;
    let Some(issuer) = outline.issuer.as_deref().filter(|_| outline.root_ok) else {
        return Err(refusal());
    };
    let Some(app) = state
        .directory
        .saml_app(&tenant.id, issuer)
        .await?
        .filter(|app| app.enabled)
    else {
        return Err(refusal());
    };
    let Some(sp) = app.saml.as_ref() else {
        return Err(refusal());
    };
    let authenticated = match binding {
        Binding::Redirect { raw_query } if query_value(raw_query, "Signature").is_some() => {
            verify_redirect_signature(raw_query, &sp.certificates).is_ok()
        }
        Binding::Redirect { .. } | Binding::Post => !sp.authn_requests_signed,
    };
    if !authenticated {
        return Err(refusal());
    }
    let index = match outline.attribute("AssertionConsumerServiceIndex") {
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(index) => Some(index),
            Err(_) => return Err(refusal()),
        },
        None => None,
    };
    let Some(acs) = sp.acs_for(outline.attribute("AssertionConsumerServiceURL"), index) else {
        return Err(refusal());
    };
    let request_id = outline
        .attribute("ID")
        .filter(|id| !id.is_empty() && id.len() <= 256 && !id.contains(char::is_whitespace))
        .map(str::to_owned);
    let saml = SamlRequest {
        tenant_id: tenant.id.clone(),
        client_id: app.client_id.clone(),
        app_name: app.name.clone(),
        sp_entity_id: sp.entity_id.clone(),
        request_id,
        acs: acs.url.clone(),
        relay_state: relay_state
            .filter(|r| r.len() <= MAX_RELAY_STATE)
            .map(str::to_owned),
        force_authn: false,
        is_passive: false,
        mfa: false,
        login_hint: None,
        expected_user: None,
        expected_name_id: None,
        name_id_format: None,
    };
    let status = Status {
        code: status::REQUESTER,
        detail: None,
        message: Some(format!(
            "the request is not well-formed SAML: {}",
            malformed.reason
        )),
    };
    Ok(Intake::Refused(saml, status))
}

/// Whom an AuthnRequest's `<Subject>` names.
enum RequestedSubject {
    /// No subject: anyone may sign in.
    Nobody,
    /// A user of the tenant, named by e-mail address.
    User { id: String, email: String },
    /// A persistent NameID of this SP (opaque here; compared when the assertion is made).
    Persistent(String),
}

/// Resolves the request's `<Subject>`: the resulting assertion must be about that principal
/// (SAML Core §3.4.1.4), so an unknown one is `Responder/UnknownPrincipal` at once.
async fn requested_subject(
    state: &AppState,
    tenant: &Tenant,
    sp: &SamlSp,
    request: &AuthnRequest,
) -> Result<Result<RequestedSubject, Status>, AppError> {
    let Some(subject) = &request.subject else {
        return Ok(Ok(RequestedSubject::Nobody));
    };
    let unknown = || {
        Status::error(
            status::RESPONDER,
            status::UNKNOWN_PRINCIPAL,
            "the subject of the request is not known here",
        )
    };
    let Some(name_id) = &subject.name_id else {
        return Ok(Err(unknown()));
    };
    let value = name_id.value.trim();
    match name_id.format.as_deref().unwrap_or(NAMEID_UNSPECIFIED) {
        NAMEID_PERSISTENT if sp.nameid_format == NameIdFormat::Persistent && !value.is_empty() => {
            Ok(Ok(RequestedSubject::Persistent(value.to_owned())))
        }
        NAMEID_EMAIL | NAMEID_UNSPECIFIED => {
            let Ok(email) = EmailAddress::parse(value) else {
                return Ok(Err(unknown()));
            };
            match state.store.user_by_email(&tenant.id, &email.key()).await {
                Ok(user) if user.account_enabled => Ok(Ok(RequestedSubject::User {
                    id: user.id,
                    email: email.to_string(),
                })),
                Ok(_) | Err(StoreError::NotFound) => Ok(Err(unknown())),
                Err(e) => Err(e.into()),
            }
        }
        _ => Ok(Err(unknown())),
    }
}

/// Checks version, time, destination, binding, NameIDPolicy and RequestedAuthnContext.
/// Returns whether multi-factor authentication is needed, and the NameID format to assert.
fn check_request(
    state: &AppState,
    tenant: &Tenant,
    sp: &SamlSp,
    request: &AuthnRequest,
) -> Result<(bool, NameIdFormat), Status> {
    let requester = |detail, message: &str| Status::error(status::REQUESTER, detail, message);
    if let Some(mismatch) = version_mismatch(&request.version) {
        return Err(mismatch);
    }
    let now = unix_now();
    let issued = request.issue_instant.timestamp();
    if issued > now + 180 || issued < now - 600 {
        return Err(requester(
            status::REQUEST_DENIED,
            "the request's IssueInstant is out of range",
        ));
    }
    let sso = format!("{}/saml/sso", state.issuer(&tenant.slug));
    if request.destination.as_deref().is_some_and(|d| d != sso) {
        return Err(requester(
            status::REQUEST_DENIED,
            "the request's Destination is not this endpoint",
        ));
    }
    if request
        .protocol_binding
        .as_deref()
        .is_some_and(|b| b != BINDING_POST)
    {
        return Err(requester(
            status::UNSUPPORTED_BINDING,
            "responses are sent with the HTTP-POST binding only",
        ));
    }
    let policy = request
        .name_id_policy
        .as_ref()
        .and_then(|p| p.format.as_deref())
        .map(str::trim);
    let format = name_id_format(sp, policy).ok_or_else(|| {
        requester(
            status::INVALID_NAMEID_POLICY,
            "this application receives another NameID format",
        )
    })?;
    Ok((requested_level(request)?, format))
}

/// The NameID format that answers a NameIDPolicy `Format` (SAML Core §3.4.1.1): the SP's
/// registered format for none or `unspecified`; transient whenever asked (as Entra, ADFS and
/// Keycloak do: it reveals nothing); otherwise only the registered format (`None`:
/// `InvalidNameIDPolicy`), so an SP registered for opaque identifiers never obtains the
/// address, nor one registered for the address a persistent identifier.
pub fn name_id_format(sp: &SamlSp, asked: Option<&str>) -> Option<NameIdFormat> {
    match asked {
        None | Some(NAMEID_UNSPECIFIED) => Some(sp.nameid_format),
        Some(NAMEID_TRANSIENT) => Some(NameIdFormat::Transient),
        Some(format) if format == sp.nameid_format.uri() => Some(sp.nameid_format),
        Some(_) => None,
    }
}

/// The status for a request that is not SAML 2.0 (SAML Core §3.2.2.2, §4.2): top-level
/// `VersionMismatch`, second level "too high" or "too low" when the version can be read.
fn version_mismatch(version: &str) -> Option<Status> {
    if version == "2.0" {
        return None;
    }
    let parsed = version
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)));
    let detail = match parsed {
        Some(v) if v > (2, 0) => Some(status::REQUEST_VERSION_TOO_HIGH),
        Some(_) => Some(status::REQUEST_VERSION_TOO_LOW),
        None => None,
    };
    Some(Status {
        code: status::VERSION_MISMATCH,
        detail,
        message: Some("only SAML 2.0 is spoken here".to_owned()),
    })
}

/// Whether the RequestedAuthnContext (SAML Core §3.3.2.2.1) needs MFA; a context that no
/// sign-in here can meet is `Responder/NoAuthnContext` — never a weaker assertion.
fn requested_level(request: &AuthnRequest) -> Result<bool, Status> {
    let Some(context) = &request.requested_authn_context else {
        return Ok(false);
    };
    let classes: Vec<&str> = context
        .authn_context_class_refs
        .iter()
        .flatten()
        .filter_map(|c| c.value.as_deref())
        .map(str::trim)
        .collect();
    if classes.is_empty() {
        return Ok(false);
    }
    let level = |class: &str| {
        if SINGLE_FACTOR.contains(&class) {
            Some(1u8)
        } else if MULTI_FACTOR.contains(&class) {
            Some(2u8)
        } else {
            None
        }
    };
    let known: Vec<u8> = classes.iter().filter_map(|c| level(c)).collect();
    let unmet = || {
        Status::error(
            status::RESPONDER,
            status::NO_AUTHN_CONTEXT,
            "the requested authentication context cannot be satisfied",
        )
    };
    let comparison = context
        .comparison
        .as_ref()
        .map(|c| format!("{c:?}").to_ascii_lowercase())
        .unwrap_or_else(|| "exact".to_owned());
    let (Some(lowest), Some(highest)) = (known.iter().min().copied(), known.iter().max().copied())
    else {
        return Err(unmet());
    };
    match comparison.as_str() {
        "minimum" => Ok(lowest >= 2),
        "better" if highest >= 2 => Err(unmet()),
        "better" => Ok(true),
        "maximum" => Ok(false),
        _ => Ok(!known.contains(&1)),
    }
}

/// The app of an IdP-initiated sign-in, checked to be an enabled SAML app of the tenant.
pub async fn launch_target(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Arc<App>, AppError> {
    state
        .directory
        .app(client_id)
        .await?
        .filter(|app| app.tenant_id == tenant.id && app.enabled && app.saml.is_some())
        .ok_or_else(|| page("There is no SAML application at this address."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_saml_versions_get_version_mismatch() {
        assert!(version_mismatch("2.0").is_none());
        let detail = |v: &str| version_mismatch(v).and_then(|s| s.detail);
        assert_eq!(detail("2.1"), Some(status::REQUEST_VERSION_TOO_HIGH));
        assert_eq!(detail("3.0"), Some(status::REQUEST_VERSION_TOO_HIGH));
        assert_eq!(detail("1.1"), Some(status::REQUEST_VERSION_TOO_LOW));
        assert_eq!(detail("two"), None);
        assert_eq!(
            version_mismatch("two").unwrap().code,
            status::VERSION_MISMATCH
        );
    }
}
