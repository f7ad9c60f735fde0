//! Browser sessions: reading the session cookie, signing a browser in (with a fresh cookie
//! value every time, so a value planted before sign-in is worthless), and signing out; the
//! browser as the services see it, and the answer that sends it to a sign-in page.

pub use crate::domain::signin::Authentication;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::domain::unix_now;
use crate::domain::user::User;
use crate::secrets;
use crate::services::AppState;
use crate::services::signin::flow::{self, Browser, Opened};
use crate::store::Session;
use crate::web::cookies;
use crate::web::cookies::Cookies as _;
use crate::web::error::AppError;

use crate::domain::signin::Evidence;

/// The browser's live session in a tenant, if any.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    tenant_id: &str,
) -> Result<Option<Session>, AppError> {
    let token = state.cookies().read(headers, cookies::SESSION);
    Ok(flow::current_session(state, token, tenant_id).await?)
}

/// Signs the browser in as `user`: a new session row under a new cookie value (sessions of
/// the browser in other tenants move to the new value). Returns the evidence for the rest of
/// the journey and the `Set-Cookie` header.
pub async fn establish(
    state: &AppState,
    headers: &HeaderMap,
    user: User,
    how: Authentication,
) -> Result<(Evidence, HeaderValue), AppError> {
    let now = unix_now();
    let previous = state
        .cookies()
        .read(headers, cookies::SESSION)
        .map(secrets::hash_secret);
    let token = secrets::new_secret();
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
        auth_time: how.auth_time.unwrap_or(now).min(now),
        amr: how.amr,
        acr: how.acr,
        idp: how.idp,
        created_at: now,
        expires_at: now + state.config.tokens.session_ttl as i64,
    };
    state
        .store
        .establish_session(previous.as_deref(), &secrets::hash_secret(&token), &session)
        .await?;
    let cookie = state.cookies().set(
        cookies::SESSION,
        &token,
        Some(state.config.tokens.session_ttl),
    );
    Ok((evidence_of(user, &session), cookie))
}

pub use crate::services::signin::flow::evidence_of;

/// The browser of a request as the services see it: its session and binding cookies and its
/// address.
pub fn browser<'h>(state: &AppState, headers: &'h HeaderMap) -> Browser<'h> {
    let policy = state.cookies();
    Browser {
        session: policy.read(headers, cookies::SESSION),
        binding: policy.read(headers, cookies::BROWSER),
        ip: super::client_address::current(),
    }
}

/// The answer to a sign-in that must ask the person: See Other to the transaction's page,
/// setting the binding cookie when the browser had none.
pub fn ask(state: &AppState, opened: &Opened) -> Response {
    let transaction = &opened.transaction;
    let mut response =
        super::see_other(&super::login_url(&transaction.tenant_slug, &transaction.id));
    if let Some(value) = &opened.new_binding {
        let cookie = state.cookies().set(cookies::BROWSER, value, None);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
