//! `/{tenant}/security-info`: a signed-in user manages their own sign-in methods — lists
//! them, adds an authenticator app, removes one, creates new recovery codes. Removing a
//! factor or replacing recovery codes needs a multi-factor session (the page steps up
//! through the journey first: SECURITY.md H.72); adding one goes through the journey's
//! enrolment (fresh sign-in, and the mailbox proof for a guest's first authenticator).
//! The user is told by mail of every change.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Evidence, ProtocolRequest, Requirements, SessionCheck, mfa, see_other, totp};
use crate::domain::date_time;
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::i18n::{Locale, Text};
use crate::mail::compose::Notice;
use crate::secrets;
use crate::services::AppState;
use crate::store::{AuditEvent, Party, StoreError};
use crate::web::cookies::Cookies as _;
use crate::web::error::AppError;
use crate::web::{self, AccountPage, Chrome, Page, cookies};

/// The form of the page.
#[derive(Debug, Deserialize)]
struct MethodsForm {
    csrf: String,
    action: Option<String>,
    method: Option<String>,
}

fn page_url(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/security-info", state.issuer(&tenant.slug))
}

/// The page's anti-CSRF token: derived from the session cookie, which only this browser
/// holds, so it needs no storage.
fn csrf_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    state
        .cookies()
        .read(headers, cookies::SESSION)
        .map(|cookie| secrets::hash_secret(&format!("security-info:{cookie}")))
}

/// Sends the browser through the journey (sign-in, or a step-up when `mfa`) and back here.
async fn through_journey(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mfa: bool,
) -> Result<Response, AppError> {
    let request = ProtocolRequest::Portal {
        return_url: page_url(state, tenant),
        mfa,
    };
    super::start(state, headers, tenant, request, SessionCheck::Now).await
}

/// The stored name of authenticators enrolled through the pages, shown in the reader's
/// language.
const DEFAULT_METHOD_NAME: &str = "Authenticator app";

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    evidence: &Evidence,
    notice: Option<Text>,
    codes: Vec<String>,
) -> Result<Response, AppError> {
    let user = &evidence.user;
    let locale = Locale::negotiate(
        None,
        user.preferred_language.as_deref(),
        super::accept_language(headers),
    );
    let chrome = Chrome::tenant(tenant, locale).account(AccountPage::SecurityInfo, tenant);
    let methods: Vec<minijinja::Value> = state
        .store
        .totp_methods(&user.id)
        .await?
        .into_iter()
        .map(|m| {
            let name = if m.display_name == DEFAULT_METHOD_NAME {
                chrome.text("mfa-method-default")
            } else {
                m.display_name
            };
            minijinja::context! {
                id => m.id, name, created => date_time(m.created_at),
                last_used => m.last_used_at.map(date_time),
            }
        })
        .collect();
    let page = Page::new(
        "security_info.html",
        &chrome,
        minijinja::context! {
            title => chrome.text("secinfo-title"),
            email => &user.email,
            has_password => user.password_hash.is_some(),
            recovery_left => state.store.recovery_codes_left(&user.id).await?,
            action => format!("/{}/security-info", tenant.slug),
            csrf => csrf_token(state, headers).unwrap_or_default(),
            notice => notice.map(|n| n.in_locale(locale)),
            methods, codes,
        },
    )?;
    Ok((StatusCode::OK, page).into_response())
}

/// `GET /{tenant}/security-info`.
pub async fn get_security_info(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let requirements = Requirements::default();
    match super::session_evidence(&state, &headers, &tenant, &requirements).await? {
        Some(evidence) => render(&state, &headers, &tenant, &evidence, None, Vec::new()).await,
        None => through_journey(&state, &headers, &tenant, false).await,
    }
}

/// `POST /{tenant}/security-info`: `add`, `remove` (with `method`) or `recovery`.
pub async fn post_security_info(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if !web::same_origin_post(&headers, &state.config.public_origin()) {
        return Err(AppError::Forbidden("cross-site form"));
    }
    let tenant = super::tenant(&state, &slug).await?;
    let form: MethodsForm = web::parse_form(&body)?;
    let requirements = Requirements::default();
    let Some(evidence) = super::session_evidence(&state, &headers, &tenant, &requirements).await?
    else {
        return Err(AppError::Forbidden("not signed in"));
    };
    let expected = csrf_token(&state, &headers).unwrap_or_default();
    if expected.is_empty() || !secrets::constant_time_eq(&form.csrf, &expected) {
        return Err(AppError::Forbidden("form without its CSRF token"));
    }
    let user = evidence.user.clone();
    let has_methods = !state.store.totp_methods(&user.id).await?.is_empty();
    let multi_factor = evidence.is_multi_factor();
    match form.action.as_deref() {
        Some("add") => {
            if has_methods && !multi_factor {
                return through_journey(&state, &headers, &tenant, true).await;
            }
            let ip = web::client_ip(peer, &headers, &state.config.trusted_proxies);
            let step = mfa::enrolment_step(&state, &tenant, &evidence, Some(ip)).await?;
            let request = ProtocolRequest::Portal {
                return_url: page_url(&state, &tenant),
                mfa: false,
            };
            super::open(&state, &headers, &tenant, request, step).await
        }
        Some("remove") => {
            if !multi_factor {
                return through_journey(&state, &headers, &tenant, true).await;
            }
            let id = form.method.unwrap_or_default();
            match state.store.remove_totp_method(&user.id, &id).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => {
                    let notice = Text::new("secinfo-notice-gone");
                    return render(
                        &state,
                        &headers,
                        &tenant,
                        &evidence,
                        Some(notice),
                        Vec::new(),
                    )
                    .await;
                }
                Err(e) => return Err(e.into()),
            }
            audit(&state, &tenant, &user, "User deleted security info").await?;
            mfa::notify(&state, &tenant, &user, Notice::MethodRemoved).await?;
            Ok(see_other(&page_url(&state, &tenant)))
        }
        Some("recovery") if has_methods => {
            if !multi_factor {
                return through_journey(&state, &headers, &tenant, true).await;
            }
            let codes = totp::new_recovery_codes();
            let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
            state
                .store
                .replace_recovery_codes(&user.id, &hashes, unix_now())
                .await?;
            audit(&state, &tenant, &user, "User changed default security info").await?;
            mfa::notify(&state, &tenant, &user, Notice::RecoveryCodesReplaced).await?;
            render(&state, &headers, &tenant, &evidence, None, codes).await
        }
        _ => Ok(see_other(&page_url(&state, &tenant))),
    }
}

async fn audit(
    state: &AppState,
    tenant: &Tenant,
    user: &crate::domain::user::User,
    activity: &str,
) -> Result<(), AppError> {
    let me = Party {
        id: user.id.clone(),
        kind: "user".to_owned(),
        display: user.email.clone(),
    };
    state
        .store
        .record_audit(&AuditEvent::new(
            &tenant.id,
            "UserManagement",
            activity,
            me.clone(),
            vec![me],
        ))
        .await?;
    Ok(())
}
