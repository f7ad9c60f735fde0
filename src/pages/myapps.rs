//! My Apps: the applications the signed-in user may open, each launched through its own
//! protocol.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

use super::{ProtocolRequest, SessionCheck};
use crate::policy::Outcome;
use crate::services::AppState;
use crate::web::error::AppError;
use crate::web::{AccountPage, Chrome, Page};

/// `GET /{tenant}/myapps`: the apps the signed-in user may open.
pub async fn get_my_apps(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ConnectInfo(_peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let requirements = super::Requirements::default();
    let Some(evidence) = super::session_evidence(&state, &headers, &tenant, &requirements).await?
    else {
        let return_url = format!("{}/myapps", state.issuer(&tenant.slug));
        return super::start(
            &state,
            &headers,
            &tenant,
            ProtocolRequest::Portal {
                return_url,
                mfa: false,
            },
            SessionCheck::Now,
        )
        .await;
    };
    if crate::services::access::decide(&state, &evidence.user, None, evidence.is_multi_factor())
        .await?
        .outcome
        != Outcome::Allow
    {
        // A policy covers My Apps and this session does not meet it: step up (or refuse).
        let request = ProtocolRequest::Portal {
            return_url: format!("{}/myapps", state.issuer(&tenant.slug)),
            mfa: false,
        };
        return super::finish(&state, &headers, &tenant, &request, &evidence, false).await;
    }
    let user = &evidence.user;
    let mut principals =
        crate::services::membership::groups_of_user(state.store.as_ref(), &user.id).await?;
    principals.push(user.id.clone());
    let assigned = state.store.assigned_apps(&principals).await?;
    let issuer = state.issuer(&tenant.slug);
    let apps: Vec<minijinja::Value> = state
        .store
        .apps_of_tenant(&tenant.id)
        .await?
        .into_iter()
        .filter(|app| app.enabled && (!app.assignment_required || assigned.contains(&app.id)))
        .filter_map(|app| {
            let url = match (&app.home_url, &app.saml) {
                (Some(home), _) => home.clone(),
                (None, Some(_)) => format!("{issuer}/saml/launch/{}", app.client_id),
                (None, None) => return None,
            };
            Some(minijinja::context! { name => app.name, url })
        })
        .collect();
    let locale = crate::i18n::Locale::negotiate(
        None,
        user.preferred_language.as_deref(),
        super::accept_language(&headers),
    );
    let chrome = Chrome::tenant(&tenant, locale).account(AccountPage::MyApps, &tenant);
    let page = Page::new(
        "myapps.html",
        &chrome,
        minijinja::context! { title => chrome.text("myapps-title"), user => &user.email, apps },
    )?;
    Ok((StatusCode::OK, page).into_response())
}
