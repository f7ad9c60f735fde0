//! Browser sessions: reading the session cookie, signing a browser in (with a fresh cookie
//! value every time, so a value planted before sign-in is worthless), and signing out.

pub use crate::domain::signin::Authentication;
use axum::http::{HeaderMap, HeaderValue};

use crate::domain::unix_now;
use crate::domain::user::User;
use crate::secrets;
use crate::services::AppState;
use crate::store::{Session, StoreError};
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
    let Some(token) = state.cookies().read(headers, cookies::SESSION) else {
        return Ok(None);
    };
    match state
        .store
        .active_session(&secrets::hash_secret(token), tenant_id, unix_now())
        .await
    {
        Ok(session) => Ok(Some(session)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
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

/// Evidence carried by an existing session.
pub fn evidence_of(user: User, session: &Session) -> Evidence {
    Evidence {
        user,
        session_id: session.id.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr: session.acr.clone(),
        idp: session.idp.clone(),
    }
}
