//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
//!
//! With a valid `id_token_hint` for the signed-in user the session ends at once and, if the
//! client named a registered `post_logout_redirect_uri`, the browser goes back there with
//! `state`. Without a hint nothing happens until the user confirms on a page (so a cross-site
//! GET cannot sign anyone out), and there is never a redirect. A bad hint, a mismatched
//! `client_id` or an unregistered redirect gives an error page and no redirect (SECURITY.md
//! F.48–F.50).
//!
//! An RP's logout form POST is cross-site, so the browser withholds the `SameSite=Lax`
//! session cookie: such a POST is parked for a moment and the browser sent on, by a 303, to a
//! GET of the same endpoint, which carries the cookie — as the SAML POST binding does — so the
//! session really ends.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::claims;
use super::params::Params;
use crate::domain::tenant::Tenant;
use crate::secrets;
use crate::services::AppState;
use crate::services::logout::{
    self,
    chain::{Chain, Finish},
};
use crate::web::cookies::Cookies as _;
use crate::web::error::{AppError, ErrorPage};
use crate::web::see_other;
use crate::web::session;
use crate::web::{self, Chrome, Page, cookies};

/// `GET /{tenant}/oauth2/logout`.
pub async fn get_logout(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let mut params = Params::parse(query.unwrap_or_default().as_bytes());
    if let Some(handle) = params.get("resume").map(str::to_owned) {
        // The second half of an RP's cross-site POST: its parameters, now with the cookies.
        let parked = match handle.len() {
            1..=64 => state.ephemeral.take(&parked_key(&handle)).await?,
            _ => None,
        };
        let Some(body) = parked else {
            return Err(refuse(
                "This sign-out request has expired; go back and try again.",
            ));
        };
        params = Params::parse(body.as_bytes());
    }
    logout(&state, &tenant, &headers, &params).await
}

/// How long an RP's parked logout POST waits for the browser's GET.
const PARKED_TTL: Duration = Duration::from_secs(120);

fn parked_key(handle: &str) -> String {
    format!("logoutpost:{}", secrets::hash_secret(handle))
}

/// `POST /{tenant}/oauth2/logout`: an RP's form post, or the user's confirmation.
pub async fn post_logout(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let params = Params::parse(&body);
    if params.get("confirm").is_some() {
        return confirmed(&state, &tenant, &headers, &params).await;
    }
    if state.cookies().read(&headers, cookies::SESSION).is_none() {
        // A cross-site POST carries no Lax cookie: one hop to a GET that does.
        let handle = secrets::new_secret();
        let body = String::from_utf8_lossy(&body).into_owned();
        state
            .ephemeral
            .put(&parked_key(&handle), body, PARKED_TTL)
            .await?;
        return Ok(see_other(&format!(
            "/{}/oauth2/logout?resume={handle}",
            tenant.slug
        )));
    }
    logout(&state, &tenant, &headers, &params).await
}

fn refuse(message: &str) -> AppError {
    ErrorPage::bad_request(
        "error-signout-refused-title",
        crate::i18n::Text::new("error-signout-refused"),
    )
    .with_detail(message)
    .into()
}

async fn logout(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, AppError> {
    if let Some(name) = params.first_repeated() {
        return Err(refuse(&format!(
            "The request repeats the {name} parameter."
        )));
    }
    let issuer = state.issuer(&tenant.slug);
    let hint = match params.get("id_token_hint") {
        Some(raw) => Some(
            claims::verify_id_token_hint(&state.tokens, &issuer, raw)
                .map_err(|_| refuse("The ID token hint was not issued by this organisation."))?,
        ),
        None => None,
    };
    let hint_client = hint.as_ref().and_then(|h| h.str("aud").map(str::to_owned));
    let client_id = match (params.get("client_id"), hint_client.as_deref()) {
        (Some(given), Some(from_hint)) if given != from_hint => {
            return Err(refuse("The client_id does not match the ID token hint."));
        }
        (Some(given), _) => Some(given.to_owned()),
        (None, from_hint) => from_hint.map(str::to_owned),
    };
    let redirect = registered_return(state, tenant, params, hint.is_some(), client_id).await?;
    let current = session::current(state, headers, &tenant.id).await?;
    let Some(hint) = hint else {
        // No proof the request comes from the user's app: ask first.
        return match current {
            Some(_) => confirmation_page(state, tenant, headers).await,
            None => signed_out_page(tenant, headers),
        };
    };
    let redirect = redirect.map(|uri| with_state(uri, params));
    if let Some(current) = &current {
        if hint.str("oid") != Some(current.user_id.as_str()) {
            // The hint names someone else: do not end this user's session silently.
            return confirmation_page(state, tenant, headers).await;
        }
        let ended = logout::session_ended(state, tenant, current).await?;
        tracing::info!(tenant = %tenant.slug, "signed out by relying party");
        return after_end(state, tenant, headers, &ended, redirect).await;
    }
    match redirect {
        Some(uri) => Ok(see_other(&uri)),
        None => signed_out_page(tenant, headers),
    }
}

/// The rest of a sign-out after the session `ended`: the other SAML SPs of the session (by
/// the SAML door's single logout), then the front-channel iframes and `redirect`.
async fn after_end(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    ended: &logout::Ended,
    redirect: Option<String>,
) -> Result<Response, AppError> {
    let issuer = state.issuer(&tenant.slug);
    let chain = Chain::of(&issuer, ended, None, Finish::Redirect(redirect.clone()));
    if chain.pending.is_empty() {
        return signed_out(tenant, headers, &chain.frames, redirect.as_deref());
    }
    let handle = chain.park(state).await?;
    Ok(see_other(&format!(
        "/{}/saml/slo?chain={handle}",
        tenant.slug
    )))
}

/// The `post_logout_redirect_uri`, when given: allowed only with an ID token hint and only
/// when the client registered it.
async fn registered_return(
    state: &AppState,
    tenant: &Tenant,
    params: &Params,
    hinted: bool,
    client_id: Option<String>,
) -> Result<Option<String>, AppError> {
    Ok(match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            if !hinted {
                return Err(refuse(
                    "A return address needs an ID token hint; you have not been redirected.",
                ));
            }
            let app = match client_id.as_deref() {
                Some(id) => state.directory.app(id).await?,
                None => None,
            };
            match app.filter(|app| app.tenant_id == tenant.id) {
                Some(app) if app.has_post_logout_redirect_uri(uri) => Some(uri.to_owned()),
                _ => {
                    return Err(refuse(
                        "The application asked to send you to an address it has not registered; you have not been redirected.",
                    ));
                }
            }
        }
    })
}

/// The return address with the client's `state` appended, when it sent one.
fn with_state(uri: String, params: &Params) -> String {
    match params.get("state") {
        Some(value) => {
            let separator = if uri.contains('?') { '&' } else { '?' };
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("state", value)
                .finish();
            format!("{uri}{separator}{encoded}")
        }
        None => uri,
    }
}

/// The page of a sign-out that goes nowhere else.
pub fn signed_out_page(tenant: &Tenant, headers: &HeaderMap) -> Result<Response, AppError> {
    signed_out(tenant, headers, &[], None)
}

/// The end of a sign-out: the front-channel logout iframes of the session's apps
/// (Front-Channel Logout 1.0 §3; the page's CSP allows exactly their origins as frames), then
/// `next` (a post-logout redirect, or an SP's LogoutResponse): at once when there is no
/// iframe, else after a moment, or when the user follows the link.
pub fn signed_out(
    tenant: &Tenant,
    headers: &HeaderMap,
    frames: &[String],
    next: Option<&str>,
) -> Result<Response, AppError> {
    if let (true, Some(next)) = (frames.is_empty(), next) {
        return Ok(see_other(next));
    }
    let chrome = page_chrome(tenant, headers);
    let mut page = Page::new(
        "logout.html",
        &chrome,
        minijinja::context! {
            title => chrome.text("logout-done-title"), confirm => false, frames => frames.to_vec(), next,
            script => next.map(|_| crate::web::AFTER_FRAMES_SCRIPT),
        },
    )?;
    if next.is_some() {
        page = page.continue_after_frames();
    }
    for frame in frames {
        page = page.frame_target(frame);
    }
    Ok(page.into_response())
}

/// The sign-out pages speak the browser's language.
fn page_chrome(tenant: &Tenant, headers: &HeaderMap) -> Chrome {
    Chrome::tenant(
        tenant,
        crate::i18n::Locale::negotiate(None, None, crate::web::accept_language(headers)),
    )
}

fn confirm_key(csrf: &str) -> String {
    format!("logout:{}", secrets::hash_secret(csrf))
}

async fn confirmation_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let csrf = secrets::new_secret();
    let (browser, set_cookie) = match state.cookies().read(headers, cookies::BROWSER) {
        Some(value) => (secrets::hash_secret(value), None),
        None => {
            let value = secrets::new_secret();
            (
                secrets::hash_secret(&value),
                Some(state.cookies().set(cookies::BROWSER, &value, None)),
            )
        }
    };
    state
        .ephemeral
        .put(
            &confirm_key(&csrf),
            format!("{}|{browser}", tenant.id),
            Duration::from_secs(600),
        )
        .await?;
    let chrome = page_chrome(tenant, headers);
    let page = Page::new(
        "logout.html",
        &chrome,
        minijinja::context! {
            title => chrome.text("logout-title"), confirm => true, csrf,
            action => format!("/{}/oauth2/logout", tenant.slug),
        },
    )?;
    let mut response = page.into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn confirmed(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, AppError> {
    if !web::same_origin_post(headers, &state.config.public_origin()) {
        return Err(AppError::Forbidden("cross-site sign-out confirmation"));
    }
    let csrf = params.get("csrf").unwrap_or("");
    let expected = state
        .cookies()
        .read(headers, cookies::BROWSER)
        .map(|b| format!("{}|{}", tenant.id, secrets::hash_secret(b)));
    let stored = state.ephemeral.take(&confirm_key(csrf)).await?;
    if stored.is_none() || stored != expected {
        return Err(AppError::Forbidden(
            "sign-out confirmation without its CSRF token",
        ));
    }
    if let Some(current) = session::current(state, headers, &tenant.id).await? {
        let ended = logout::session_ended(state, tenant, &current).await?;
        tracing::info!(tenant = %tenant.slug, "signed out by the user");
        return after_end(state, tenant, headers, &ended, None).await;
    }
    signed_out_page(tenant, headers)
}
