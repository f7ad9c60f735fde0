//! Single sign-on: the SAML front door (SP-initiated, both bindings; IdP-initiated launch)
//! handing requests to the shared journey, and the back door that answers with a signed
//! Response posted to the SP's ACS (SAML Profiles §4.1).

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::request::{
    self, Binding, CONTEXT_MFA, CONTEXT_PASSWORD, Intake, MAX_RELAY_STATE, SamlRequest,
};
use super::response::{self, AssertionFacts, ResponseParts, Status, status};
use crate::domain::saml::{NameIdFormat, SamlSp};
use crate::domain::signin::{Evidence, ProtocolRequest};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::samlxml::xml;
use crate::services::AppState;
use crate::services::signin::flow::{self, Outcome, Refusal, SessionCheck};
use crate::web::error::{AppError, ErrorPage};
use crate::web::session;
use crate::web::{AUTO_SUBMIT_SCRIPT, Page};

/// Validity of assertions and of their bearer confirmation (SECURITY.md I.4: at most 5 min).
const LIFETIME: i64 = 300;

/// Claim URIs of the attributes, as Entra emits them (B2B-REFERENCE.md B.6).
pub mod claims {
    /// Tenant id.
    pub const TENANT_ID: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
    /// Object id.
    pub const OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
    /// Identity provider.
    pub const IDENTITY_PROVIDER: &str =
        "http://schemas.microsoft.com/identity/claims/identityprovider";
    /// A guest's home tenant id, when the home is a tenant on this Gatehouse (the OIDC
    /// `home_tid`).
    pub const HOME_TENANT_ID: &str = "http://schemas.gatehouse.dev/claims/hometenantid";
    /// A guest's object id in its home tenant (the OIDC `home_oid`).
    pub const HOME_OBJECT_ID: &str = "http://schemas.gatehouse.dev/claims/homeobjectid";
    /// Display name.
    pub const DISPLAY_NAME: &str = "http://schemas.microsoft.com/identity/claims/displayname";
    /// E-mail address.
    pub const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
    /// Given name.
    pub const GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
    /// Surname.
    pub const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
    /// User principal name.
    pub const NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
    /// Group object ids.
    pub const GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
    /// Authentication methods.
    pub const AUTHN_METHODS: &str = "http://schemas.microsoft.com/claims/authnmethodsreferences";
    /// App role values.
    pub const ROLE: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
    /// Where the groups are when too many to list (the overage indicator).
    pub const GROUPS_LINK: &str = "http://schemas.microsoft.com/claims/groups.link";
    /// Guest flag: 0 member, 1 guest (the optional claim `acct`).
    pub const ACCT: &str = "http://schemas.microsoft.com/identity/claims/acct";
    /// User principal name (the optional claim `upn`).
    pub const UPN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
}

/// Most groups an assertion lists; beyond, [`claims::GROUPS_LINK`] replaces them (Entra's
/// limit for SAML).
pub const SAML_GROUPS_LIMIT: usize = 150;

/// Parameters of a POST-binding request.
#[derive(Debug, Deserialize)]
pub struct PostForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn bad_request(message: &str) -> AppError {
    ErrorPage::bad_request(
        "error-invalid-request-title",
        crate::i18n::Text::new("error-invalid-request"),
    )
    .with_detail(message)
    .into()
}

fn decoding_error(error: xml::InputError) -> AppError {
    tracing::info!(reason = %error, "SAML message refused before parsing");
    bad_request(&error.to_string())
}

/// `GET {issuer}/saml/sso`: the HTTP-Redirect binding.
pub async fn get_sso(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let raw = query.unwrap_or_default();
    let params = crate::oidc::params::Params::parse(raw.as_bytes());
    if params.is_repeated("SAMLRequest") || params.is_repeated("RelayState") {
        return Err(bad_request("The SAML request repeats a parameter."));
    }
    let encoded = params
        .get("SAMLRequest")
        .ok_or_else(|| bad_request("There is no SAML request in this address."))?;
    let xml = xml::decode_redirect(encoded).map_err(decoding_error)?;
    let intake = request::intake(
        &state,
        &tenant,
        &xml,
        params.get("RelayState"),
        Binding::Redirect { raw_query: &raw },
    )
    .await?;
    answer_intake(&state, &headers, &tenant, intake, SessionCheck::Now).await
}

/// `POST {issuer}/saml/sso`: the HTTP-POST binding. The browser's `SameSite=Lax` cookies do
/// not come with this cross-site POST, so the session is looked at on the next page load.
pub async fn post_sso(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let form: PostForm = crate::web::parse_form(&body)?;
    let encoded = form
        .saml_request
        .ok_or_else(|| bad_request("There is no SAML request in this form."))?;
    let xml = xml::decode_post(&encoded).map_err(decoding_error)?;
    let intake = request::intake(
        &state,
        &tenant,
        &xml,
        form.relay_state.as_deref(),
        Binding::Post,
    )
    .await?;
    answer_intake(&state, &headers, &tenant, intake, SessionCheck::OnArrival).await
}

async fn answer_intake(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    intake: Intake,
    check: SessionCheck,
) -> Result<Response, AppError> {
    match intake {
        Intake::Refused(request, status) => {
            tracing::info!(sp = %request.sp_entity_id, status = status.detail.unwrap_or(status.code), "AuthnRequest refused");
            error_response(state, tenant, &request, status).await
        }
        Intake::Accepted(request) => sign_in(state, headers, tenant, request, check).await,
    }
}

/// Hands the request to the sign-in and answers what it decided: the sign-in page when the
/// person must be asked, the Response (a success or a status) otherwise.
async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    request: SamlRequest,
    check: SessionCheck,
) -> Result<Response, AppError> {
    let outcome = flow::start(
        state,
        session::browser(state, headers),
        tenant,
        ProtocolRequest::Saml(request.clone()),
        check,
    )
    .await?;
    match outcome {
        Outcome::Ask(opened) => Ok(session::ask(state, &opened)),
        Outcome::Answer(evidence) => complete(state, tenant, &request, &evidence).await,
        Outcome::Refuse(Refusal::LoginRequired | Refusal::InteractionRequired) => {
            no_passive(state, tenant, &request).await
        }
        Outcome::Refuse(Refusal::Blocked) => blocked(state, tenant, &request).await,
        Outcome::Refuse(Refusal::NotAssigned) => not_assigned(state, tenant, &request).await,
    }
}

/// Query of an IdP-initiated launch.
#[derive(Debug, Deserialize)]
pub struct LaunchQuery {
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `GET {issuer}/saml/launch/{client_id}`: IdP-initiated sign-in to a SAML app (the My Apps
/// launcher's link): an unsolicited Response to the app's default ACS.
pub async fn get_launch(
    State(state): State<AppState>,
    Path((slug, client_id)): Path<(String, String)>,
    Query(query): Query<LaunchQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let app = request::launch_target(&state, &tenant, &client_id).await?;
    let sp = app
        .saml
        .as_ref()
        .ok_or_else(|| bad_request("The application is not a SAML application."))?;
    let acs = sp
        .acs_for(None, None)
        .ok_or_else(|| bad_request("The application has no assertion consumer service."))?;
    if query
        .relay_state
        .as_deref()
        .is_some_and(|r| r.len() > MAX_RELAY_STATE)
    {
        return Err(bad_request("RelayState is longer than 80 bytes."));
    }
    let request = SamlRequest {
        tenant_id: tenant.id.clone(),
        client_id: app.client_id.clone(),
        app_name: app.name.clone(),
        sp_entity_id: sp.entity_id.clone(),
        request_id: None,
        acs: acs.url.clone(),
        relay_state: query.relay_state,
        force_authn: false,
        is_passive: false,
        mfa: false,
        login_hint: None,
        expected_user: None,
        expected_name_id: None,
        name_id_format: None,
    };
    sign_in(&state, &headers, &tenant, request, SessionCheck::Now).await
}

/// Posts a signed Response to the ACS through a self-submitting form.
fn post_to_acs(
    request: &SamlRequest,
    xml: &str,
    locale: crate::i18n::Locale,
) -> Result<Response, AppError> {
    let mut fields = vec![("SAMLResponse".to_owned(), STANDARD.encode(xml))];
    if let Some(relay) = &request.relay_state {
        fields.push(("RelayState".to_owned(), relay.clone()));
    }
    let page = Page::new(
        "form_post.html",
        &crate::web::Chrome::gatehouse(locale),
        minijinja::context! { action => &request.acs, fields, script => AUTO_SUBMIT_SCRIPT },
    )?;
    Ok(page.auto_submit().form_target(&request.acs).into_response())
}

fn signing_key(state: &AppState) -> Result<std::sync::Arc<crate::keys::SamlKey>, AppError> {
    state
        .keys
        .saml_signing_key(unix_now())
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no active RSA key with a certificate")))
}

/// Answers the SP with an error status (signed Response, no assertion).
pub async fn error_response(
    state: &AppState,
    tenant: &Tenant,
    request: &SamlRequest,
    status: Status,
) -> Result<Response, AppError> {
    let parts = ResponseParts {
        issuer: state.issuer(&tenant.slug),
        destination: request.acs.clone(),
        in_response_to: request.request_id.clone(),
        status,
        assertion: None,
        sign_response: true,
        now: unix_now(),
    };
    let xml = response::signed_response(parts, signing_key(state)?)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    post_to_acs(request, &xml, crate::i18n::Locale::default())
}

/// `IsPassive` could not be honoured.
pub async fn no_passive(
    state: &AppState,
    tenant: &Tenant,
    request: &SamlRequest,
) -> Result<Response, AppError> {
    let status = Status::error(
        status::RESPONDER,
        status::NO_PASSIVE,
        "the user would have to sign in",
    );
    error_response(state, tenant, request, status).await
}

/// The journey's SAML answer when conditional access blocks the sign-in.
pub async fn blocked(
    state: &AppState,
    tenant: &Tenant,
    request: &SamlRequest,
) -> Result<Response, AppError> {
    let status = Status::error(
        status::RESPONDER,
        status::REQUEST_DENIED,
        "access is blocked by conditional access",
    );
    error_response(state, tenant, request, status).await
}

/// The application requires assignment and the user holds none (Entra's 50105).
pub async fn not_assigned(
    state: &AppState,
    tenant: &Tenant,
    request: &SamlRequest,
) -> Result<Response, AppError> {
    let status = Status::error(
        status::RESPONDER,
        status::REQUEST_DENIED,
        "the signed-in user is not assigned to this application, which requires assignment (50105)",
    );
    error_response(state, tenant, request, status).await
}

/// The user declined.
pub async fn declined(
    state: &AppState,
    tenant: &Tenant,
    request: &SamlRequest,
) -> Result<Response, AppError> {
    let status = Status::error(
        status::RESPONDER,
        status::REQUEST_DENIED,
        "the user declined",
    );
    error_response(state, tenant, request, status).await
}

/// The journey's SAML back door: a signed Assertion for the SP, posted to its ACS.
pub async fn complete(
    state: &AppState,
    tenant: &Tenant,
    request: &SamlRequest,
    evidence: &Evidence,
) -> Result<Response, AppError> {
    let Some(app) = state
        .directory
        .app(&request.client_id)
        .await?
        .filter(|app| app.enabled && app.tenant_id == tenant.id)
    else {
        let status = Status::error(
            status::RESPONDER,
            status::REQUEST_DENIED,
            "the application is no longer enabled",
        );
        return error_response(state, tenant, request, status).await;
    };
    let Some(sp) = app.saml.as_ref() else {
        return Err(bad_request("The application is not a SAML application."));
    };
    let issuer = state.issuer(&tenant.slug);
    let user = &evidence.user;
    let persistent = response::persistent_name_id(&tenant.id, &sp.entity_id, &user.id);
    let subject_mismatch = names_another_subject(request, &user.id, &persistent);
    if subject_mismatch {
        // Never assert another principal than the request's <Subject> (SAML Core §3.4.1.4).
        let status = Status::error(
            status::RESPONDER,
            status::AUTHN_FAILED,
            "the signed-in user is not the subject the request names",
        );
        return error_response(state, tenant, request, status).await;
    }
    let format = request.name_id_format.unwrap_or(sp.nameid_format);
    let name_id = match format {
        NameIdFormat::Persistent => persistent,
        NameIdFormat::EmailAddress => user.email.clone(),
        NameIdFormat::Transient => {
            transient_name_id(state, &tenant.id, &evidence.session_id, &sp.entity_id, true)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("transient NameID lost")))?
        }
    };
    let record = crate::store::SessionApp {
        session_id: evidence.session_id.clone(),
        app_id: app.id.clone(),
        tenant_id: tenant.id.clone(),
        client_id: app.client_id.clone(),
        user_id: user.id.clone(),
        name_id: Some(name_id.clone()),
        name_id_format: Some(format.uri().to_owned()),
        session_index: Some(evidence.session_id.clone()),
        at: unix_now(),
    };
    crate::services::logout::app_signed_in(state, record).await?;
    let mut attributes = assertion_attributes(state, tenant, evidence, &issuer).await?;
    app_attributes(state, &app, user, &issuer, &mut attributes).await?;
    let parts = response_parts(request, sp, issuer, (name_id, format), evidence, attributes);
    let xml = response::signed_response(parts, signing_key(state)?)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    tracing::info!(tenant = %tenant.slug, sp = %sp.entity_id, user = %user.id, "SAML assertion issued");
    let locale = user
        .preferred_language
        .as_deref()
        .and_then(crate::i18n::Locale::from_tag)
        .unwrap_or_default();
    post_to_acs(request, &xml, locale)
}

/// Whether the signed-in user differs from the principal the request's `<Subject>` names
/// (by object id or by persistent NameID).
fn names_another_subject(request: &SamlRequest, user_id: &str, persistent: &str) -> bool {
    request
        .expected_user
        .as_deref()
        .is_some_and(|expected| expected != user_id)
        || request
            .expected_name_id
            .as_deref()
            .is_some_and(|expected| expected != persistent)
}

/// The assertion's attribute statement, in Entra's claim URIs and order.
async fn assertion_attributes(
    state: &AppState,
    tenant: &Tenant,
    evidence: &Evidence,
    issuer: &str,
) -> Result<Vec<(&'static str, Vec<String>)>, AppError> {
    let user = &evidence.user;
    let mut attributes: Vec<(&'static str, Vec<String>)> = vec![
        (claims::TENANT_ID, vec![tenant.id.clone()]),
        (claims::OBJECT_ID, vec![user.id.clone()]),
        (
            claims::IDENTITY_PROVIDER,
            vec![evidence.idp.clone().unwrap_or_else(|| issuer.to_owned())],
        ),
        (claims::DISPLAY_NAME, vec![user.display_name.clone()]),
        (claims::EMAIL, vec![user.email.clone()]),
        (claims::NAME, vec![user.upn.clone()]),
    ];
    if evidence
        .idp
        .as_deref()
        .is_some_and(|idp| crate::services::home::is_local_issuer(state, idp))
        && let Some((home, home_oid)) = crate::services::home::bound_home(state, user).await?
    {
        attributes.push((claims::HOME_TENANT_ID, vec![home.id.clone()]));
        attributes.push((claims::HOME_OBJECT_ID, vec![home_oid]));
    }
    if let Some(given) = &user.given_name {
        attributes.push((claims::GIVEN_NAME, vec![given.clone()]));
    }
    if let Some(family) = &user.family_name {
        attributes.push((claims::SURNAME, vec![family.clone()]));
    }
    let mut methods = vec![authentication_method(&evidence.amr).to_owned()];
    if evidence.is_multi_factor() {
        methods.push("http://schemas.microsoft.com/claims/multipleauthn".to_owned());
    }
    attributes.push((claims::AUTHN_METHODS, methods));
    Ok(attributes)
}

/// What the app's configuration adds: its roles the user holds, the groups it asks for (or
/// the overage link beyond [`SAML_GROUPS_LIMIT`]), the guest flag `acct`, and the
/// `saml2Token` optional claims not already stated.
async fn app_attributes(
    state: &AppState,
    app: &crate::domain::app::App,
    user: &crate::domain::user::User,
    issuer: &str,
    attributes: &mut Vec<(&'static str, Vec<String>)>,
) -> Result<(), AppError> {
    let (roles, groups) =
        crate::services::claims::roles_and_groups(state.store.as_ref(), app, user).await?;
    if !roles.is_empty() {
        attributes.push((claims::ROLE, roles));
    }
    match groups {
        Some(groups) if groups.len() > SAML_GROUPS_LIMIT => attributes.push((
            claims::GROUPS_LINK,
            vec![crate::tokens::claims::groups_link(issuer, &user.id)],
        )),
        Some(groups) if !groups.is_empty() => attributes.push((claims::GROUPS, groups)),
        _ => {}
    }
    attributes.push((claims::ACCT, vec![user.user_type.acct().to_string()]));
    if app
        .profile
        .optional_claims
        .saml2_token
        .iter()
        .any(|c| c == "upn")
    {
        attributes.push((claims::UPN, vec![user.upn.clone()]));
    }
    Ok(())
}

/// The successful Response around the assertion of `name_id` for the signed-in user.
fn response_parts(
    request: &SamlRequest,
    sp: &SamlSp,
    issuer: String,
    (name_id, format): (String, NameIdFormat),
    evidence: &Evidence,
    attributes: Vec<(&'static str, Vec<String>)>,
) -> ResponseParts {
    let multi_factor = evidence.is_multi_factor();
    let now = unix_now();
    let facts = AssertionFacts {
        issuer: issuer.clone(),
        acs: request.acs.clone(),
        in_response_to: request.request_id.clone(),
        audience: sp.entity_id.clone(),
        name_id: (name_id, format.uri()),
        session_index: evidence.session_id.clone(),
        authn_instant: evidence.auth_time,
        authn_context: if multi_factor {
            CONTEXT_MFA
        } else {
            CONTEXT_PASSWORD
        },
        attributes,
        now,
        lifetime: LIFETIME,
    };
    ResponseParts {
        issuer,
        destination: request.acs.clone(),
        in_response_to: request.request_id.clone(),
        status: Status::success(),
        assertion: Some(facts),
        sign_response: sp.sign_response,
        now,
    }
}

/// The ephemeral-store key of the transient NameID of a session at an SP.
fn transient_key(tenant_id: &str, session_id: &str, sp_entity_id: &str) -> String {
    format!(
        "saml-transient:{}",
        crate::secrets::hash_secret(&format!(
            "{tenant_id}\u{1f}{session_id}\u{1f}{sp_entity_id}"
        ))
    )
}

/// The transient NameID (SAML Core §8.3.8) of browser session `session_id` at SP
/// `sp_entity_id`: 160 random bits, made (`mint`) at the first assertion of the session to
/// that SP and the same for the session's later assertions to it, so that the SP's single
/// logout names it; a new session, or another SP, gets another one, and none is ever derived
/// from the user. Kept in the ephemeral store for the session's lifetime; `None` when there
/// is none (and `mint` is false).
pub async fn transient_name_id(
    state: &AppState,
    tenant_id: &str,
    session_id: &str,
    sp_entity_id: &str,
    mint: bool,
) -> Result<Option<String>, AppError> {
    let key = transient_key(tenant_id, session_id, sp_entity_id);
    if mint {
        let fresh = format!("_{}", crate::secrets::random_token(20));
        let ttl = std::time::Duration::from_secs(state.config.tokens.session_ttl);
        if state
            .ephemeral
            .put_if_absent(&key, fresh.clone(), ttl)
            .await?
        {
            return Ok(Some(fresh));
        }
    }
    Ok(state.ephemeral.get(&key).await?)
}

/// The `authnmethodsreferences` value of the first factor: `password` for a password sign-in,
/// `unspecified` for anything else (a home IdP's sign-in, an e-mailed one-time passcode),
/// where the `identityprovider` attribute says who authenticated the user.
fn authentication_method(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == crate::domain::signin::AMR_PASSWORD) {
        "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
    } else {
        "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/unspecified"
    }
}
