//! The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 9700): validates the
//! request, hands it to the sign-in journey, and, as the journey's OIDC back door, answers
//! with a code.
//!
//! Until the client and its redirect URI are validated every error is an HTML page (never a
//! redirect: SECURITY.md A.1, A.3, A.4); after that, errors go back to the client with `iss`
//! and `state`.

pub use crate::domain::signin::AuthorizeRequest;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::claims;
use super::params::Params;
use super::respond::{ResponseMode, ReturnTo};
use crate::domain::app::{App, GrantType};
use crate::domain::scope::Scopes;
use crate::domain::signin::{Evidence, ProtocolRequest};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::ephemeral::Json;
use crate::secrets;
use crate::services::AppState;
use crate::services::signin::flow::{self, Outcome, Refusal as Refused, SessionCheck};
use crate::store::Grant;
use crate::web::error::{AppError, ErrorPage};
use crate::web::session;

pub use crate::domain::scope::is_pkce_value;
pub use crate::services::codes::{
    CODE_REPLAY_MEMORY, CodeRecord, RedeemedCode, code_key, redeemed_key,
};

/// A page for an authorization request that cannot be answered at the client: a generic,
/// translated explanation, and the protocol's reason (English) for the application's owner.
fn error_page(message: &str) -> AppError {
    ErrorPage::bad_request(
        "error-invalid-request-title",
        crate::i18n::Text::new("error-invalid-request"),
    )
    .with_detail(message)
    .into()
}

/// `GET /{tenant}/oauth2/authorize`.
pub async fn get_authorize(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    authorize(state, slug, headers, params).await
}

/// `POST /{tenant}/oauth2/authorize` (form-encoded, OIDC Core §3.1.2.1).
pub async fn post_authorize(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    authorize(state, slug, headers, Params::parse(&body)).await
}

async fn authorize(
    state: AppState,
    slug: String,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let issuer = state.issuer(&tenant.slug);
    let (app, redirect_uri) = client_and_redirect(&state, &tenant, &params).await?;
    let mode = match params.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => {
            let back = ReturnTo {
                redirect_uri,
                mode: ResponseMode::Query,
                state: params.get("state").map(str::to_owned),
                locale: crate::i18n::Locale::default(),
            };
            return Ok(back.error(
                &issuer,
                "invalid_request",
                "response_mode must be query or form_post",
            ));
        }
    };
    let back = ReturnTo {
        redirect_uri: redirect_uri.clone(),
        mode,
        state: params.get("state").map(str::to_owned),
        locale: crate::i18n::Locale::negotiate(params.get("ui_locales"), None, None),
    };
    let request = match validate(&state, &tenant, &issuer, &app, redirect_uri, mode, &params) {
        Ok(request) => request,
        Err((error, description)) => return Ok(back.error(&issuer, error, &description)),
    };
    let outcome = flow::start(
        &state,
        session::browser(&state, &headers),
        &tenant,
        ProtocolRequest::Oidc(request.clone()),
        SessionCheck::Now,
    )
    .await?;
    answer(&state, &tenant, &request, outcome).await
}

/// Answers what the sign-in decided at the authorization endpoint: the sign-in page when the
/// person must be asked, the authorization response otherwise.
async fn answer(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizeRequest,
    outcome: Outcome,
) -> Result<Response, AppError> {
    Ok(match outcome {
        Outcome::Ask(opened) => session::ask(state, &opened),
        Outcome::Answer(evidence) => return complete(state, tenant, request, &evidence).await,
        Outcome::Refuse(Refused::LoginRequired) => login_required(state, tenant, request),
        Outcome::Refuse(Refused::InteractionRequired) => {
            interaction_required(state, tenant, request)
        }
        Outcome::Refuse(Refused::Blocked) => blocked(state, tenant, request),
        Outcome::Refuse(Refused::NotAssigned) => not_assigned(state, tenant, request),
    })
}

/// Finds the client and checks the redirect URI; failures are pages, never redirects.
async fn client_and_redirect(
    state: &AppState,
    tenant: &Tenant,
    params: &Params,
) -> Result<(std::sync::Arc<App>, String), AppError> {
    for name in ["client_id", "redirect_uri"] {
        if params.is_repeated(name) {
            return Err(error_page(&format!(
                "The request repeats the {name} parameter."
            )));
        }
    }
    let unknown_client = || {
        error_page("The application that sent you here is not registered with this organisation.")
    };
    let client_id = params.get("client_id").ok_or_else(unknown_client)?;
    let app = state
        .directory
        .app(client_id)
        .await?
        .filter(|app| app.tenant_id == tenant.id && app.enabled)
        .ok_or_else(unknown_client)?;
    let redirect_uri = params.get("redirect_uri").ok_or_else(|| {
        error_page("The application did not say where to send you back (redirect_uri is required).")
    })?;
    if app.match_redirect_uri(redirect_uri).is_none() {
        tracing::info!(client_id = %app.client_id, "authorization request with an unregistered redirect_uri");
        return Err(error_page(
            "The application asked to send you back to an address it has not registered. You have not been redirected.",
        ));
    }
    Ok((app, redirect_uri.to_owned()))
}

type Refusal = (&'static str, String);

fn refuse<T>(error: &'static str, description: impl Into<String>) -> Result<T, Refusal> {
    Err((error, description.into()))
}

/// Validates everything after the client and redirect URI (RFC 6749 §4.1.1, OIDC Core
/// §3.1.2.1, RFC 7636, OIDC Core §6).
fn validate(
    state: &AppState,
    tenant: &Tenant,
    issuer: &str,
    app: &App,
    redirect_uri: String,
    response_mode: ResponseMode,
    params: &Params,
) -> Result<AuthorizeRequest, Refusal> {
    refuse_unsupported(params)?;
    if !app.allows(GrantType::AuthorizationCode) {
        return refuse(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }
    let requested = Scopes::parse(params.get("scope").unwrap_or(""))
        .or_else(|e| refuse("invalid_scope", e.to_string()))?;
    let code_challenge = code_challenge(params)?;
    let prompt = prompt(params)?;
    let max_age = max_age(params)?;
    if let Some(claims) = params.get("claims")
        && !serde_json::from_str::<serde_json::Value>(claims).is_ok_and(|v| v.is_object())
    {
        return refuse("invalid_request", "claims must be a JSON object");
    }
    let bounded = |name: &str, max: usize| bounded(params, name, max);
    let hint_user = hint_user(state, issuer, params)?;
    Ok(AuthorizeRequest {
        tenant_id: tenant.id.clone(),
        client_id: app.client_id.clone(),
        app_name: app.name.clone(),
        redirect_uri,
        response_mode,
        scope: requested.grantable_to_user(&app.permissions),
        state: bounded("state", 4096)?,
        nonce: bounded("nonce", 1024)?,
        code_challenge,
        prompt,
        max_age,
        login_hint: bounded("login_hint", 254)?,
        acr_values: bounded("acr_values", 1024)?
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        hint_user,
        ui_locales: bounded("ui_locales", 256)?,
    })
}

/// Refuses repeated parameters, the request-object and registration features this server
/// does not offer, and any response type but `code`.
fn refuse_unsupported(params: &Params) -> Result<(), Refusal> {
    if let Some(name) = params.first_repeated() {
        return refuse(
            "invalid_request",
            format!("the {name} parameter is repeated"),
        );
    }
    if params.get("request").is_some() {
        return refuse("request_not_supported", "request objects are not supported");
    }
    if params.get("request_uri").is_some() {
        return refuse("request_uri_not_supported", "request_uri is not supported");
    }
    if params.get("registration").is_some() {
        return refuse(
            "registration_not_supported",
            "registration is not supported",
        );
    }
    match params.get("response_type") {
        None => refuse("invalid_request", "response_type is required"),
        Some("code") => Ok(()),
        Some(_) => refuse(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is offered",
        ),
    }
}

/// The PKCE challenge (RFC 7636): required, S256 only, well formed.
fn code_challenge(params: &Params) -> Result<String, Refusal> {
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, _) => refuse(
            "invalid_request",
            "code challenge required (PKCE with S256)",
        ),
        (Some(_), None | Some("plain")) => {
            refuse("invalid_request", "code_challenge_method must be S256")
        }
        (Some(_), Some(method)) if method != "S256" => {
            refuse("invalid_request", "code_challenge_method must be S256")
        }
        (Some(challenge), Some(_)) => {
            if !is_pkce_value(challenge) {
                return refuse("invalid_request", "code_challenge is malformed");
            }
            Ok(challenge.to_owned())
        }
    }
}

/// The `prompt` values: only the four OIDC Core defines, and `none` alone.
fn prompt(params: &Params) -> Result<Vec<String>, Refusal> {
    let prompt: Vec<String> = params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = prompt
        .iter()
        .find(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        return refuse(
            "invalid_request",
            format!("unsupported prompt value {unknown}"),
        );
    }
    if prompt.len() > 1 && prompt.iter().any(|p| p == "none") {
        return refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    Ok(prompt)
}

/// `max_age`: absent, or a non-negative number of seconds.
fn max_age(params: &Params) -> Result<Option<i64>, Refusal> {
    match params.get("max_age") {
        None => Ok(None),
        Some(value) => match value.parse::<i64>() {
            Ok(seconds) if seconds >= 0 => Ok(Some(seconds)),
            _ => refuse("invalid_request", "max_age must be a non-negative integer"),
        },
    }
}

/// A free-text parameter, refused when longer than `max` bytes.
fn bounded(params: &Params, name: &str, max: usize) -> Result<Option<String>, Refusal> {
    match params.get(name) {
        Some(value) if value.len() > max => refuse(
            "invalid_request",
            format!("{name} is longer than {max} characters"),
        ),
        other => Ok(other.map(str::to_owned)),
    }
}

/// The user an `id_token_hint` names, when it is an ID token issued here.
fn hint_user(state: &AppState, issuer: &str, params: &Params) -> Result<Option<String>, Refusal> {
    match params.get("id_token_hint") {
        None => Ok(None),
        Some(hint) => match claims::verify_id_token_hint(&state.tokens, issuer, hint) {
            Ok(verified) => Ok(verified.str("oid").map(str::to_owned)),
            Err(_) => refuse(
                "invalid_request",
                "id_token_hint is not an ID token issued here",
            ),
        },
    }
}

/// The journey's OIDC back door: records the grant, mints a single-use code bound to the
/// client, redirect URI and PKCE challenge, and sends it to the client.
pub async fn complete(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizeRequest,
    evidence: &Evidence,
) -> Result<Response, AppError> {
    let issuer = state.issuer(&tenant.slug);
    let back = ReturnTo::of(request);
    if request
        .hint_user
        .as_deref()
        .is_some_and(|hinted| hinted != evidence.user.id)
    {
        // Never answer for a different user than id_token_hint names (OIDC Core §3.1.2.1).
        return Ok(back.error(
            &issuer,
            "login_required",
            "the signed-in user is not the one id_token_hint names",
        ));
    }
    let app = state.directory.app(&request.client_id).await?;
    let Some(app) = app.filter(|app| app.enabled && app.tenant_id == tenant.id) else {
        return Ok(back.error(
            &issuer,
            "unauthorized_client",
            "the application is no longer enabled",
        ));
    };
    let now = unix_now();
    let tokens = &state.config.tokens;
    let access_ttl = crate::services::claims::lifetimes(state, &app).0;
    let grant = Grant {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        client_id: request.client_id.clone(),
        user_id: Some(evidence.user.id.clone()),
        session_id: Some(evidence.session_id.clone()),
        scope: request.scope.to_string(),
        auth_time: evidence.auth_time,
        amr: evidence.amr.clone(),
        acr: evidence.acr.clone(),
        idp: evidence.idp.clone(),
        nonce: request.nonce.clone(),
        user_stamp: Some(evidence.user.security_stamp.clone()),
        ip: crate::web::client_address::current().map(|ip| ip.to_string()),
        created_at: now,
        expires_at: now + (tokens.code_ttl + access_ttl) as i64,
        revoked_at: None,
    };
    crate::services::logout::grant_signed_in(state, &grant, session_app(&app, evidence, now))
        .await?;
    let code = secrets::new_secret();
    let json = Json(state.ephemeral.as_ref());
    json.put(
        &redeemed_key(&code),
        &RedeemedCode {
            grant_id: grant.id.clone(),
            client_id: request.client_id.clone(),
            code_challenge: request.code_challenge.clone(),
        },
        CODE_REPLAY_MEMORY,
    )
    .await?;
    json.put(
        &code_key(&code),
        &CodeRecord {
            grant_id: grant.id,
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            issued_at: now,
        },
        Duration::from_secs(tokens.code_ttl),
    )
    .await?;
    back.code(&issuer, &code)
}

/// What the session answered: `app`, for its back- and front-channel logout.
fn session_app(
    app: &crate::domain::app::App,
    evidence: &Evidence,
    now: i64,
) -> crate::store::SessionApp {
    crate::store::SessionApp {
        session_id: evidence.session_id.clone(),
        app_id: app.id.clone(),
        tenant_id: app.tenant_id.clone(),
        client_id: app.client_id.clone(),
        user_id: evidence.user.id.clone(),
        name_id: None,
        name_id_format: None,
        session_index: None,
        at: now,
    }
}

/// The answer to `prompt=none` when the user would have to sign in (OIDC Core §3.1.2.6).
pub fn login_required(state: &AppState, tenant: &Tenant, request: &AuthorizeRequest) -> Response {
    ReturnTo::of(request).error(
        &state.issuer(&tenant.slug),
        "login_required",
        "no usable sign-in session for this request",
    )
}

/// The answer when a second factor is needed but `prompt=none` forbids asking for it
/// (OIDC Core §3.1.2.6).
pub fn interaction_required(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizeRequest,
) -> Response {
    ReturnTo::of(request).error(
        &state.issuer(&tenant.slug),
        "interaction_required",
        "multi-factor authentication is required",
    )
}

/// The answer when conditional access blocks the sign-in.
pub fn blocked(state: &AppState, tenant: &Tenant, request: &AuthorizeRequest) -> Response {
    ReturnTo::of(request).error(
        &state.issuer(&tenant.slug),
        "access_denied",
        "access is blocked by the organisation's conditional access policies",
    )
}

/// The answer when the application requires assignment and the user holds none (Entra's
/// AADSTS50105, as `access_denied` with a description that names the cause).
pub fn not_assigned(state: &AppState, tenant: &Tenant, request: &AuthorizeRequest) -> Response {
    ReturnTo::of(request).error(
        &state.issuer(&tenant.slug),
        "access_denied",
        "the signed-in user is not assigned to this application, which requires assignment (50105); an administrator must assign the user or one of the user's groups",
    )
}

/// The journey's OIDC answer when the user declines.
pub fn declined(state: &AppState, tenant: &Tenant, request: &AuthorizeRequest) -> Response {
    ReturnTo::of(request).error(
        &state.issuer(&tenant.slug),
        "access_denied",
        "the user declined the request",
    )
}
