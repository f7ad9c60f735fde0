//! The one sign-in journey every protocol shares:
//! identify → authenticate → (policy) → consent → back to the protocol that asked.
//!
//! A protocol front door (the OIDC authorize endpoint today; SAML SSO and invitation
//! redemption later) turns its request into a [`ProtocolRequest`] and calls [`start`]. The
//! journey keeps a [`Transaction`] in the ephemeral store, so any node can continue it, and
//! drives the browser through the pages in [`pages`]. When the user is known and everything
//! the request demands is met, [`finish`] hands the [`Evidence`] to the protocol's back door,
//! which answers the relying party.

pub mod held;
pub mod home;
pub mod mfa;
pub mod pages;
pub mod passcode;
pub mod redeem;
pub mod security_info;
pub mod throttle;
pub mod totp;

pub use crate::domain::signin::{
    ACR_MFA, ACR_PAPE_MFA, ACR_SFA, AMR_PASSWORD, Evidence, Notice, ProtocolRequest, Requirements,
    Step, Upstream,
};
pub use crate::web::session::{self, evidence_of};
pub use crate::web::{accept_language, see_other, tenant};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::User;
use crate::ephemeral::Json;
use crate::i18n::{Locale, Text};
use crate::policy::Outcome;
use crate::secrets;
use crate::services::AppState;
use crate::services::access::Status;
use crate::store::StoreError;
use crate::web::cookies;
use crate::web::cookies::Cookies as _;
use crate::web::error::{AppError, ErrorPage};

/// Continues a transaction with an upstream sign-in: a redemption goes on to consent with the
/// identity; any other request signs in the guest bound to (issuer, subject) — never found by
/// address — and continues the journey. `refusal` is what the page says when no enabled guest
/// is bound to the identity.
pub async fn continue_upstream(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    upstream: Upstream,
    refusal: Text,
) -> Result<Response, AppError> {
    if matches!(transaction.request, ProtocolRequest::Redeem(_)) {
        transaction.step = Step::RedeemConsent {
            password_hash: None,
            upstream: Some(upstream),
        };
        transaction.save(state).await?;
        return Ok(see_other(&pages::login_url(&tenant.slug, &transaction.id)));
    }
    let user = match state
        .store
        .user_by_identity(&tenant.id, &upstream.issuer, &upstream.subject)
        .await
    {
        Ok(user) if user.account_enabled => user,
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(
                ErrorPage::new(StatusCode::FORBIDDEN, "error-refused-title", refusal)
                    .in_locale(transaction.locale(headers, None))
                    .into(),
            );
        }
        Err(e) => return Err(e.into()),
    };
    pages::signed_in(
        state,
        headers,
        tenant,
        transaction,
        user,
        upstream.authentication(),
    )
    .await
}

/// A sign-in in progress, kept in the ephemeral store under `tx:{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    /// Transaction id (in the page URL; useless without the browser cookie).
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Tenant slug (URLs).
    pub tenant_slug: String,
    /// SHA-256 of the browser-binding cookie of the browser that started it.
    pub browser: String,
    /// Anti-CSRF token the pages' forms must echo.
    pub csrf: String,
    /// The protocol request to answer.
    pub request: ProtocolRequest,
    /// Current step.
    pub step: Step,
    /// Start time.
    pub created_at: i64,
    /// The languages the request asked for (`ui_locales`, an invitation's language).
    #[serde(default)]
    pub ui_locales: Option<String>,
    /// What the next page load must tell the person (the outcome of the form just posted:
    /// Post/Redirect/Get, so a reload never posts again).
    #[serde(default)]
    pub notice: Option<Notice>,
}

impl Transaction {
    fn key(id: &str) -> String {
        format!("tx:{id}")
    }

    /// Loads a transaction; `None` if it expired or never existed.
    pub async fn load(state: &AppState, id: &str) -> Result<Option<Self>, AppError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        Ok(Json(state.ephemeral.as_ref()).get(&Self::key(id)).await?)
    }

    /// Saves the transaction for the rest of its lifetime.
    pub async fn save(&self, state: &AppState) -> Result<(), AppError> {
        let ttl = state.config.tokens.transaction_ttl as i64 - (unix_now() - self.created_at);
        let ttl = Duration::from_secs(ttl.max(1) as u64);
        Ok(Json(state.ephemeral.as_ref())
            .put(&Self::key(&self.id), self, ttl)
            .await?)
    }

    /// Ends the transaction.
    pub async fn delete(&self, state: &AppState) -> Result<(), AppError> {
        Ok(state.ephemeral.delete(&Self::key(&self.id)).await?)
    }

    /// The language of this transaction's pages, for `user` when known: the request's
    /// `ui_locales`, the user's remembered language, then the browser's `Accept-Language`.
    pub fn locale(&self, headers: &HeaderMap, user: Option<&User>) -> Locale {
        Locale::negotiate(
            self.ui_locales.as_deref(),
            user.and_then(|u| u.preferred_language.as_deref()),
            accept_language(headers),
        )
    }

    /// Keeps `text` for the next page load and sends the browser there (Post/Redirect/Get).
    pub async fn retry(
        mut self,
        state: &AppState,
        text: Text,
        status: StatusCode,
    ) -> Result<Response, AppError> {
        self.notice = Some(Notice {
            text,
            status: status.as_u16(),
        });
        self.save(state).await?;
        Ok(see_other(&pages::login_url(&self.tenant_slug, &self.id)))
    }

    /// Whether the request comes from the browser that started the transaction.
    pub fn is_bound_to(&self, state: &AppState, headers: &HeaderMap) -> bool {
        state
            .cookies()
            .read(headers, cookies::BROWSER)
            .is_some_and(|value| {
                secrets::constant_time_eq(&secrets::hash_secret(value), &self.browser)
            })
    }
}

/// The evidence of the browser's existing session, if it satisfies `requirements`.
pub async fn session_evidence(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    requirements: &Requirements,
) -> Result<Option<Evidence>, AppError> {
    if requirements.fresh_login {
        return Ok(None);
    }
    let Some(session) = session::current(state, headers, &tenant.id).await? else {
        return Ok(None);
    };
    // max_age=0 means "authenticate now", as prompt=login does.
    if requirements
        .max_age
        .is_some_and(|max_age| max_age == 0 || unix_now() - session.auth_time > max_age)
    {
        return Ok(None);
    }
    if requirements
        .expected_user
        .as_deref()
        .is_some_and(|expected| expected != session.user_id)
    {
        return Ok(None);
    }
    match state.store.user_by_id(&tenant.id, &session.user_id).await {
        Ok(user) if user.account_enabled => Ok(Some(evidence_of(user, &session))),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// When the browser's existing session is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Now: the request carries the browser's cookies.
    Now,
    /// On the first page load: the request came by a cross-site POST without cookies.
    OnArrival,
}

/// Starts the journey for `request`. With a usable session and nothing to ask the user, the
/// request is answered at once; otherwise the browser is sent to the sign-in pages.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    request: ProtocolRequest,
    check: SessionCheck,
) -> Result<Response, AppError> {
    let step = match check {
        SessionCheck::OnArrival => Step::Pending,
        SessionCheck::Now => {
            let requirements = request.requirements();
            let evidence = session_evidence(state, headers, tenant, &requirements).await?;
            match first_step(&requirements, evidence) {
                Next::Ask(step) => step,
                Next::Answer(evidence) => {
                    return finish(state, headers, tenant, &request, &evidence, false).await;
                }
                Next::Refuse => return passive_failure(state, tenant, &request).await,
            }
        }
    };
    open(state, headers, tenant, request, step).await
}

/// Opens a transaction at `step` and sends the browser to its page.
pub async fn open(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    request: ProtocolRequest,
    step: Step,
) -> Result<Response, AppError> {
    let (browser, set_browser) = match state.cookies().read(headers, cookies::BROWSER) {
        Some(value) => (secrets::hash_secret(value), None),
        None => {
            let value = secrets::new_secret();
            let cookie = state.cookies().set(cookies::BROWSER, &value, None);
            (secrets::hash_secret(&value), Some(cookie))
        }
    };
    let transaction = Transaction {
        id: secrets::new_secret(),
        tenant_id: tenant.id.clone(),
        tenant_slug: tenant.slug.clone(),
        browser,
        csrf: secrets::new_secret(),
        ui_locales: request.ui_locales().map(str::to_owned),
        request,
        step,
        created_at: unix_now(),
        notice: None,
    };
    transaction.save(state).await?;
    let mut response = see_other(&pages::login_url(&tenant.slug, &transaction.id));
    if let Some(cookie) = set_browser {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Where the journey goes once the session has been looked at.
#[derive(Debug)]
pub enum Next {
    /// Ask the user something.
    Ask(Step),
    /// Answer the request at once with the session's evidence.
    Answer(Box<Evidence>),
    /// The user would have to be asked, but the request forbids interaction.
    Refuse,
}

/// Decides the first step given the session's evidence. (A usable session goes on to
/// [`finish`], which applies conditional access, the second factor and consent.)
pub fn first_step(requirements: &Requirements, evidence: Option<Evidence>) -> Next {
    match evidence {
        Some(evidence) => Next::Answer(Box::new(evidence)),
        None if requirements.passive => Next::Refuse,
        None => Next::Ask(
            match requirements
                .login_hint
                .as_deref()
                .and_then(|hint| crate::domain::email::EmailAddress::parse(hint).ok())
            {
                Some(email) => Step::Password {
                    email: email.to_string(),
                },
                None => Step::Identify,
            },
        ),
    }
}

/// Answers a request that forbids interaction but needs it (OIDC `login_required`, SAML
/// `NoPassive`).
pub async fn passive_failure(
    state: &AppState,
    tenant: &Tenant,
    request: &ProtocolRequest,
) -> Result<Response, AppError> {
    match request {
        ProtocolRequest::Oidc(request) => Ok(crate::oidc::authorize::login_required(
            state, tenant, request,
        )),
        ProtocolRequest::Saml(request) => {
            crate::saml::sso::no_passive(state, tenant, request).await
        }
        ProtocolRequest::Redeem(_) | ProtocolRequest::Home(_) | ProtocolRequest::Portal { .. } => {
            Err(AppError::Internal(anyhow::anyhow!(
                "redemption, home sign-in and My Apps are never passive"
            )))
        }
    }
}

/// Ends the journey: conditional access decides (block, second factor, or go on), then
/// consent when the request asks for it (`consented` says it was just given), then the
/// request's protocol answers with the evidence. Every outcome is written to the sign-in log.
pub async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    request: &ProtocolRequest,
    evidence: &Evidence,
    consented: bool,
) -> Result<Response, AppError> {
    let requirements = request.requirements();
    let mfa = evidence.is_multi_factor();
    let decision =
        crate::services::access::decide(state, &evidence.user, request.app_id(), mfa).await?;
    let app_name = request.app_name().to_owned();
    let attempt = |status, reason, error_code| crate::services::access::Attempt {
        tenant,
        user: Some(&evidence.user),
        typed: None,
        app: request.app_id().map(|id| (id, app_name.as_str())),
        amr: &evidence.amr,
        idp: evidence.idp.as_deref(),
        protocol: request.protocol(),
        interactive: true,
        status,
        reason,
        error_code,
        decision: Some(&decision),
        ip: crate::web::client_address::current(),
    };
    if decision.outcome == Outcome::NotAssigned {
        let reason = crate::oidc::token::NOT_ASSIGNED_REASON;
        crate::services::access::record(state, attempt(Status::Failure, Some(reason), 50105))
            .await?;
        tracing::info!(tenant = %tenant.slug, user = %evidence.user.id, app = ?request.app_id(), "sign-in refused: the user is not assigned to the application");
        return not_assigned(state, tenant, request).await;
    }
    if decision.outcome == Outcome::Block {
        let reason = "Access has been blocked by Conditional Access policies.";
        crate::services::access::record(state, attempt(Status::Failure, Some(reason), 53003))
            .await?;
        tracing::info!(tenant = %tenant.slug, user = %evidence.user.id, "sign-in blocked by conditional access");
        return blocked(state, tenant, request).await;
    }
    if (decision.outcome == Outcome::RequireMfa || requirements.mfa) && !mfa {
        let reason = "Strong authentication is required.";
        crate::services::access::record(state, attempt(Status::Interrupted, Some(reason), 50074))
            .await?;
        if requirements.passive {
            return interaction_required(state, tenant, request).await;
        }
        let step = mfa::first_step(state, tenant, evidence, None).await?;
        return open(state, headers, tenant, request.clone(), step).await;
    }
    if requirements.consent && !consented {
        if requirements.passive {
            return passive_failure(state, tenant, request).await;
        }
        let step = Step::Consent {
            session_id: evidence.session_id.clone(),
        };
        return open(state, headers, tenant, request.clone(), step).await;
    }
    crate::services::access::record(state, attempt(Status::Success, None, 0)).await?;
    match request {
        ProtocolRequest::Oidc(request) => {
            crate::oidc::authorize::complete(state, tenant, request, evidence).await
        }
        ProtocolRequest::Saml(request) => {
            crate::saml::sso::complete(state, tenant, request, evidence).await
        }
        ProtocolRequest::Redeem(request) => Ok(see_other(&request.redirect_url)),
        ProtocolRequest::Home(request) => {
            home::complete(state, headers, tenant, request, evidence).await
        }
        ProtocolRequest::Portal { return_url, .. } => Ok(see_other(return_url)),
    }
}

/// Writes a failed step of the journey (wrong password, wrong second factor) to the sign-in
/// log: `user` when known, else the address typed.
#[allow(clippy::too_many_arguments)]
pub async fn record_failure(
    state: &AppState,
    tenant: &Tenant,
    request: &ProtocolRequest,
    user: Option<&User>,
    typed: Option<&str>,
    amr: &[String],
    reason: &str,
    error_code: i64,
) -> Result<(), AppError> {
    let app_name = request.app_name().to_owned();
    crate::services::access::record(
        state,
        crate::services::access::Attempt {
            tenant,
            user,
            typed,
            app: request.app_id().map(|id| (id, app_name.as_str())),
            amr,
            idp: None,
            protocol: request.protocol(),
            interactive: true,
            status: Status::Failure,
            reason: Some(reason),
            error_code,
            decision: None,
            ip: crate::web::client_address::current(),
        },
    )
    .await?;
    Ok(())
}

/// Answers a request that conditional access blocks.
async fn blocked(
    state: &AppState,
    tenant: &Tenant,
    request: &ProtocolRequest,
) -> Result<Response, AppError> {
    match request {
        ProtocolRequest::Oidc(request) => {
            Ok(crate::oidc::authorize::blocked(state, tenant, request))
        }
        ProtocolRequest::Saml(request) => crate::saml::sso::blocked(state, tenant, request).await,
        ProtocolRequest::Redeem(_) | ProtocolRequest::Home(_) | ProtocolRequest::Portal { .. } => {
            Err(ErrorPage::new(
                StatusCode::FORBIDDEN,
                "error-blocked-title",
                Text::new("error-blocked").arg("org", &tenant.name),
            )
            .into())
        }
    }
}

/// Answers a request for an application that requires assignment, by a user not assigned to
/// it (OIDC `access_denied`, SAML `RequestDenied`, as Entra answers 50105).
async fn not_assigned(
    state: &AppState,
    tenant: &Tenant,
    request: &ProtocolRequest,
) -> Result<Response, AppError> {
    match request {
        ProtocolRequest::Oidc(request) => {
            Ok(crate::oidc::authorize::not_assigned(state, tenant, request))
        }
        ProtocolRequest::Saml(request) => {
            crate::saml::sso::not_assigned(state, tenant, request).await
        }
        ProtocolRequest::Redeem(_) | ProtocolRequest::Home(_) | ProtocolRequest::Portal { .. } => {
            Err(AppError::Internal(anyhow::anyhow!(
                "Gatehouse's own pages require no assignment"
            )))
        }
    }
}

/// Answers a request that forbids interaction when a second factor is needed (OIDC
/// `interaction_required`, SAML `NoPassive`).
async fn interaction_required(
    state: &AppState,
    tenant: &Tenant,
    request: &ProtocolRequest,
) -> Result<Response, AppError> {
    match request {
        ProtocolRequest::Oidc(request) => Ok(crate::oidc::authorize::interaction_required(
            state, tenant, request,
        )),
        _ => passive_failure(state, tenant, request).await,
    }
}

/// Ends the journey because the user declined.
pub async fn decline(
    state: &AppState,
    tenant: &Tenant,
    request: &ProtocolRequest,
) -> Result<Response, AppError> {
    match request {
        ProtocolRequest::Oidc(request) => {
            Ok(crate::oidc::authorize::declined(state, tenant, request))
        }
        ProtocolRequest::Saml(request) => crate::saml::sso::declined(state, tenant, request).await,
        ProtocolRequest::Redeem(request) => redeem::declined(
            tenant,
            request,
            Locale::negotiate(request.language.as_deref(), None, None),
        ),
        ProtocolRequest::Home(request) => Ok(see_other(&request.return_url)),
        ProtocolRequest::Portal { .. } => Ok(see_other(&format!("/{}/myapps", tenant.slug))),
    }
}

/// Journey routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/login",
            get(pages::get_login).post(pages::post_login),
        )
        .route("/{tenant}/redeem", get(redeem::get_redeem))
        .route(
            "/{tenant}/invitations/block",
            get(redeem::get_block).post(redeem::post_block),
        )
        .route("/{tenant}/myapps", get(redeem::get_my_apps))
        .route(
            "/{tenant}/federation/oidc/callback",
            get(crate::federation::oidc::callback),
        )
        .route(
            "/{tenant}/federation/saml/metadata",
            get(crate::federation::saml::get_metadata),
        )
        .route(
            "/{tenant}/federation/saml/acs",
            axum::routing::post(crate::federation::saml::post_acs),
        )
        .route(
            "/{tenant}/federation/saml/continue",
            get(crate::federation::saml::get_continue),
        )
        .route(
            "/{tenant}/branding/logo",
            get(crate::graph::branding::public_logo),
        )
        .route(
            "/{tenant}/branding/theme.css",
            get(crate::graph::branding::public_theme),
        )
        .route(
            "/{tenant}/security-info",
            get(security_info::get_security_info).post(security_info::post_security_info),
        )
}
