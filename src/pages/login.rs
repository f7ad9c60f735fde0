//! The sign-in pages: e-mail, password and consent, one form per step, all at
//! `/{tenant}/login?tx=…`. Every POST is checked for a same-origin `Origin`, the browser that
//! started the transaction and the transaction's CSRF token before anything else happens.
//!
//! Every POST answers with a redirect (Post/Redirect/Get): a wrong password or code is kept in
//! the transaction as a [`Notice`] for the next page load, so reloading the page never posts
//! the form again. Pages speak the transaction's language ([`Transaction::locale`]).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::passcode;
use super::realm::{Discovered, SIGN_IN_CODE, code_sign_in_user, discover};
use super::session::{self, Authentication};
use super::throttle::Throttle;
use super::{
    ACR_SFA, AMR_PASSWORD, Next, Notice, ProtocolRequest, Step, Transaction, finish, see_other,
};
use crate::domain::email::EmailAddress;
use crate::domain::scope;
use crate::domain::tenant::Tenant;
use crate::domain::user::User;
use crate::i18n::Text;
use crate::pages::TransactionPage as _;
use crate::secrets::constant_time_eq;
use crate::services::AppState;
use crate::store::StoreError;
use crate::web::error::{AppError, ErrorPage};
use crate::web::{self, Chrome, Page};

/// The generic answer to a failed password: the same for unknown users.
const BAD_CREDENTIALS: &str = "login-error-credentials";
/// A throttle's wait longer than this is the hour-long lock, not a growing delay.
const LOCK_THRESHOLD: u64 = 300;

pub use crate::web::login_url;

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    tx: Option<String>,
}

/// Fields of the sign-in forms.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// Transaction id.
    pub tx: String,
    /// Anti-CSRF token.
    pub csrf: String,
    /// The step the form belongs to (a hidden field, so pressing Enter submits it).
    pub step: String,
    /// A secondary action chosen with one of the form's other buttons.
    pub action: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// One-time code.
    pub code: Option<String>,
    /// Consent decision.
    pub decision: Option<String>,
}

impl LoginForm {
    /// What the person asked for: a secondary button's action, else the step's own.
    pub fn intent(&self) -> &str {
        self.action.as_deref().unwrap_or(&self.step)
    }
}

fn expired() -> AppError {
    ErrorPage::bad_request("error-expired-title", Text::new("error-expired")).into()
}

/// Loads the tenant and the transaction, checking that this browser started it.
async fn load(
    state: &AppState,
    slug: &str,
    tx: &str,
    headers: &HeaderMap,
) -> Result<(std::sync::Arc<Tenant>, Transaction), AppError> {
    let tenant = state.directory.tenant(slug).await?.ok_or_else(expired)?;
    let transaction = Transaction::load(state, tx).await?.ok_or_else(expired)?;
    if transaction.tenant_id != tenant.id || !transaction.is_bound_to(state, headers) {
        return Err(expired());
    }
    Ok((tenant, transaction))
}

/// `GET /{tenant}/login`: shows the current step.
pub async fn get_login(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (tenant, mut transaction) =
        load(&state, &slug, query.tx.as_deref().unwrap_or(""), &headers).await?;
    if transaction.step == Step::Pending {
        // The request came by a cross-site POST; now the browser's cookies are here.
        let requirements = transaction.request.requirements();
        let evidence = super::session_evidence(&state, &headers, &tenant, &requirements).await?;
        match super::first_step(&requirements, evidence) {
            Next::Ask(step) => {
                transaction.step = step;
                transaction.save(&state).await?;
            }
            Next::Answer(evidence) => {
                transaction.delete(&state).await?;
                let request = &transaction.request;
                return finish(&state, &headers, &tenant, request, &evidence, false).await;
            }
            Next::Refuse => {
                transaction.delete(&state).await?;
                return super::passive_failure(&state, &tenant, &transaction.request).await;
            }
        }
    }
    // The user the step names, once looked up by home-realm discovery.
    let mut named = None;
    match transaction.step.clone() {
        Step::HomeReturned { proof } => {
            return super::home::resume(&state, &headers, &tenant, transaction, proof).await;
        }
        Step::AwayHome { .. } => {
            // Back here without finishing at home (the back button): start over.
            transaction.step = match transaction.request {
                ProtocolRequest::Redeem(_) => Step::Invited,
                _ => Step::Identify,
            };
            transaction.save(&state).await?;
        }
        Step::Password { email } if !matches!(transaction.request, ProtocolRequest::Home(_)) => {
            // Home-realm discovery: a guest bound to a home tenant or a partner IdP signs in
            // there; a guest who signs in with mailed codes only gets a code, never a
            // password page.
            match discover(&state, &headers, &tenant, transaction, email).await? {
                Discovered::Elsewhere(response) => return Ok(response),
                Discovered::Here(here, user) => {
                    transaction = *here;
                    named = Some(user.map(|user| *user));
                }
            }
        }
        _ => {}
    }
    // A notice left by the form just posted is shown once.
    let notice = transaction.notice.take();
    if notice.is_some() {
        transaction.save(&state).await?;
    }
    render_step(&state, &tenant, &transaction, &headers, notice, named).await
}

/// `POST /{tenant}/login`: advances the current step.
pub async fn post_login(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if !web::same_origin_post(&headers, &state.config.public_origin()) {
        return Err(AppError::Forbidden("cross-site sign-in form"));
    }
    let form: LoginForm = web::parse_form(&body)?;
    let (tenant, mut transaction) = load(&state, &slug, &form.tx, &headers).await?;
    if !constant_time_eq(&form.csrf, &transaction.csrf) {
        return Err(AppError::Forbidden("sign-in form without its CSRF token"));
    }
    let here = login_url(&tenant.slug, &transaction.id);
    let ip = web::client_ip(peer, &headers, &state.config.trusted_proxies);
    if super::mfa::is_mfa_step(&transaction.step) {
        return super::mfa::post_step(&state, &headers, &tenant, transaction, form, ip).await;
    }
    if matches!(transaction.request, ProtocolRequest::Redeem(_)) {
        return super::redeem::post_step(&state, &headers, &tenant, transaction, form, ip).await;
    }
    match (form.intent(), transaction.step.clone()) {
        ("restart", _) => {
            transaction.step = Step::Identify;
            transaction.save(&state).await?;
            Ok(see_other(&here))
        }
        ("identify", Step::Identify) => {
            match EmailAddress::parse(form.email.as_deref().unwrap_or("")) {
                Ok(email) => {
                    transaction.step = Step::Password {
                        email: email.to_string(),
                    };
                    transaction.save(&state).await?;
                    Ok(see_other(&here))
                }
                Err(_) => {
                    transaction
                        .retry(&state, Text::new("login-error-email"), StatusCode::OK)
                        .await
                }
            }
        }
        ("send_code", Step::Password { email } | Step::EmailCode { email }) => {
            send_code(&state, &headers, &tenant, transaction, email, ip).await
        }
        ("code", Step::EmailCode { email }) => {
            let code = form.code.unwrap_or_default();
            sign_in_with_code(&state, &headers, &tenant, transaction, &email, &code).await
        }
        ("password", Step::Password { email }) => {
            let password = form.password.unwrap_or_default();
            sign_in_with_password(&state, &headers, &tenant, transaction, &email, password, ip)
                .await
        }
        ("consent", Step::Consent { session_id }) => {
            let allowed = form.decision.as_deref() == Some("allow");
            consent(&state, &headers, &tenant, transaction, &session_id, allowed).await
        }
        // A stale form (back button, second tab): show where the transaction really is.
        _ => Ok(see_other(&here)),
    }
}

/// Mails a sign-in code to the address (or answers as if it did, for an address that gets
/// none) and moves to the code step.
async fn send_code(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    email: String,
    ip: std::net::IpAddr,
) -> Result<Response, AppError> {
    let user = code_sign_in_user(state, tenant, &email).await?;
    let locale = transaction.locale(headers, user.as_ref());
    let sent = passcode::send(
        state,
        tenant,
        &email,
        SIGN_IN_CODE,
        Some(ip),
        user.is_some(),
        locale,
    )
    .await?;
    transaction.step = Step::EmailCode { email };
    if sent == passcode::Sent::Throttled {
        let text = Text::new("code-error-too-many-sends");
        return transaction
            .retry(state, text, StatusCode::TOO_MANY_REQUESTS)
            .await;
    }
    transaction.save(state).await?;
    Ok(see_other(&login_url(&tenant.slug, &transaction.id)))
}

/// Signs in with a mailed code.
async fn sign_in_with_code(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    transaction: Transaction,
    email: &str,
    code: &str,
) -> Result<Response, AppError> {
    let user = code_sign_in_user(state, tenant, email).await?;
    let checked = passcode::check(state, tenant, email, SIGN_IN_CODE, code).await?;
    let Some(user) = user.filter(|_| checked == passcode::Checked::Valid) else {
        tracing::info!(tenant = %tenant.slug, "passcode sign-in failed");
        return transaction
            .retry(state, checked.message(), StatusCode::OK)
            .await;
    };
    let how = Authentication {
        amr: vec![super::redeem::AMR_EMAIL.to_owned()],
        acr: ACR_SFA.to_owned(),
        idp: Some(super::redeem::IDP_MAIL.to_owned()),
        auth_time: None,
    };
    tracing::info!(tenant = %tenant.slug, user = %user.id, "passcode sign-in succeeded");
    signed_in(state, headers, tenant, transaction, user, how).await
}

/// The consent decision: declined ends the journey, allowed finishes it for the session the
/// consent page was shown to.
async fn consent(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    transaction: Transaction,
    session_id: &str,
    allowed: bool,
) -> Result<Response, AppError> {
    transaction.delete(state).await?;
    if !allowed {
        return super::decline(state, tenant, &transaction.request).await;
    }
    let requirements = super::Requirements {
        consent: false,
        ..Default::default()
    };
    match super::session_evidence(state, headers, tenant, &requirements).await? {
        Some(evidence) if evidence.session_id == session_id => {
            finish(
                state,
                headers,
                tenant,
                &transaction.request,
                &evidence,
                true,
            )
            .await
        }
        _ => Err(expired()),
    }
}

/// The throttles a password attempt counts against: the account's and the source address's.
fn password_throttles(
    state: &AppState,
    tenant: &Tenant,
    key: &str,
    ip: std::net::IpAddr,
) -> (Throttle, Throttle) {
    let limits = &state.config.throttle;
    let account = Throttle {
        key: format!("pw:{}:{key}", tenant.id),
        free: limits.password_free_failures,
        lockout: limits.password_lockout,
    };
    let address = Throttle {
        key: format!("pwip:{ip}"),
        free: limits.address_free_failures,
        lockout: limits.address_lockout,
    };
    (account, address)
}

/// Why a password attempt must wait, if it must: the account locked or throttled, or else
/// the source address throttled.
async fn throttled(
    state: &AppState,
    account: &Throttle,
    address: &Throttle,
) -> Result<Option<Text>, AppError> {
    let wait = match (
        account.wait(state.ephemeral.as_ref()).await?,
        address.wait(state.ephemeral.as_ref()).await?,
    ) {
        (Some(seconds), _) if seconds > LOCK_THRESHOLD => {
            Some(Text::new("login-error-locked").arg("minutes", seconds.div_ceil(60)))
        }
        (Some(seconds), _) => Some(Text::new("login-error-throttled").arg("seconds", seconds)),
        (None, Some(seconds)) => {
            Some(Text::new("login-error-address-throttled").arg("seconds", seconds))
        }
        (None, None) => None,
    };
    Ok(wait)
}

/// Checks the password (always running argon2, against a dummy hash for unknown or
/// disabled accounts), then signs the browser in and continues the journey.
async fn sign_in_with_password(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    transaction: Transaction,
    email: &str,
    password: String,
    ip: std::net::IpAddr,
) -> Result<Response, AppError> {
    let key = email.to_ascii_lowercase();
    let (account, address) = password_throttles(state, tenant, &key, ip);
    let throttled = throttled(state, &account, &address).await?;
    if let Some(text) = throttled {
        return transaction
            .retry(state, text, StatusCode::TOO_MANY_REQUESTS)
            .await;
    }
    if password.is_empty() {
        return transaction
            .retry(
                state,
                Text::new("login-error-password-empty"),
                StatusCode::OK,
            )
            .await;
    }
    let user = match state.store.user_by_email(&tenant.id, &key).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let stored = user
        .as_ref()
        .filter(|u| u.account_enabled)
        .and_then(|u| u.password_hash.clone());
    let verified = state.passwords.verify(password, stored).await?;
    let (Some(user), true) = (user.as_ref(), verified) else {
        account.fail(state.ephemeral.as_ref()).await?;
        address.fail(state.ephemeral.as_ref()).await?;
        tracing::info!(tenant = %tenant.slug, "password sign-in failed");
        super::record_failure(
            state,
            tenant,
            &transaction.request,
            user.as_ref(),
            Some(&key),
            &[],
            "Invalid username or password.",
            50126,
        )
        .await?;
        return transaction
            .retry(state, Text::new(BAD_CREDENTIALS), StatusCode::OK)
            .await;
    };
    account.succeed(state.ephemeral.as_ref()).await?;
    tracing::info!(tenant = %tenant.slug, user = %user.id, "password sign-in succeeded");
    let how = Authentication {
        amr: vec![AMR_PASSWORD.to_owned()],
        acr: ACR_SFA.to_owned(),
        idp: None,
        auth_time: None,
    };
    signed_in(state, headers, tenant, transaction, user.clone(), how).await
}

/// Establishes the session of a user who just authenticated and continues the journey
/// (conditional access, second factor, consent: [`finish`]).
pub(crate) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    transaction: Transaction,
    user: User,
    how: Authentication,
) -> Result<Response, AppError> {
    let (evidence, cookie) = session::establish(state, headers, user, how).await?;
    transaction.delete(state).await?;
    let mut response = finish(
        state,
        headers,
        tenant,
        &transaction.request,
        &evidence,
        false,
    )
    .await?;
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// What each scope lets the application do, for the consent page.
fn scope_descriptions(request: &ProtocolRequest) -> Vec<&'static str> {
    let mut items = vec!["consent-scope-signin"];
    let ProtocolRequest::Oidc(oidc) = request else {
        return items;
    };
    if oidc.scope.contains(scope::PROFILE) {
        items.push("consent-scope-profile");
    }
    if oidc.scope.contains(scope::EMAIL) {
        items.push("consent-scope-email");
    }
    if oidc.scope.contains(scope::OFFLINE_ACCESS) {
        items.push("consent-scope-offline");
    }
    items
}

/// The user a sign-in step names by address, if the tenant has one (for the page's
/// language).
async fn user_named(
    state: &AppState,
    tenant: &Tenant,
    email: &str,
) -> Result<Option<User>, AppError> {
    match state
        .store
        .user_by_email(&tenant.id, &email.to_ascii_lowercase())
        .await
    {
        Ok(user) => Ok(Some(user)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Renders the transaction's current step, with the notice the last form left. `named` is
/// the user the step's address names when this request already looked them up (`Some(None)`:
/// nobody); `None` looks them up here.
async fn render_step(
    state: &AppState,
    tenant: &Tenant,
    transaction: &Transaction,
    headers: &HeaderMap,
    notice: Option<Notice>,
    named: Option<Option<User>>,
) -> Result<Response, AppError> {
    if super::mfa::is_mfa_step(&transaction.step) {
        return super::mfa::render(state, tenant, transaction, headers, notice).await;
    }
    if matches!(transaction.request, ProtocolRequest::Redeem(_)) {
        return super::redeem::render(state, tenant, transaction, headers, notice).await;
    }
    let action = format!("/{}/login", tenant.slug);
    let status = notice
        .as_ref()
        .and_then(|n| StatusCode::from_u16(n.status).ok())
        .unwrap_or(StatusCode::OK);
    let page = match &transaction.step {
        Step::Consent { session_id } => {
            consent_page(state, headers, tenant, transaction, session_id, action).await?
        }
        step => {
            let (step, email, title) = match step {
                Step::Password { email } => ("password", email.as_str(), "login-title-password"),
                Step::EmailCode { email } => ("code", email.as_str(), "login-title-code"),
                _ => ("identify", "", "login-title"),
            };
            let user = match named {
                _ if email.is_empty() => None,
                Some(named) => named,
                None => user_named(state, tenant, email).await?,
            };
            let chrome = Chrome::tenant(tenant, transaction.locale(headers, user.as_ref()));
            let error = notice.map(|n| n.text.in_locale(chrome.locale));
            Page::new(
                "login.html",
                &chrome,
                minijinja::context! {
                    step, email, error, action,
                    title => chrome.text(title),
                    app_name => transaction.request.app_name(),
                    tx => &transaction.id, csrf => &transaction.csrf,
                },
            )?
        }
    };
    let mut page = page
        .status(status)
        .form_target(transaction.request.return_url());
    if matches!(transaction.step, Step::Identify | Step::Password { .. }) {
        // Home-realm discovery may redirect a guest to a partner IdP after these forms.
        for partner in state.directory.partners(&tenant.id).await?.iter() {
            for target in state.federation.browser_targets(&partner.issuer) {
                page = page.form_target(&target);
            }
        }
    }
    Ok(page.into_response())
}

/// The consent page of a signed-in session.
async fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    transaction: &Transaction,
    session_id: &str,
    action: String,
) -> Result<Page, AppError> {
    let requirements = super::Requirements::default();
    let evidence = super::session_evidence(state, headers, tenant, &requirements).await?;
    let Some(evidence) = evidence.filter(|e| e.session_id == session_id) else {
        return Err(expired());
    };
    let chrome = Chrome::tenant(tenant, transaction.locale(headers, Some(&evidence.user)));
    Ok(Page::new(
        "consent.html",
        &chrome,
        minijinja::context! {
            title => chrome.text("consent-title"),
            action,
            app_name => transaction.request.app_name(),
            items => scope_descriptions(&transaction.request),
            email => evidence.user.email,
            tx => &transaction.id, csrf => &transaction.csrf,
        },
    )?)
}
