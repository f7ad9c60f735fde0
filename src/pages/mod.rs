//! The pages door: the one sign-in journey every protocol shares, as people see it —
//! identify → authenticate → (policy, second factor) → consent → back to the protocol that
//! asked — plus redemption, My Apps, security info and the federation callbacks.
//!
//! The decisions are [`crate::services::signin`]'s: a protocol door (OIDC authorize, SAML SSO)
//! hands its request to `services::signin::flow::start` and answers the outcome itself when
//! nothing needs asking; otherwise the browser comes here, to the [`Transaction`]'s pages in
//! [`login`], [`mfa`], [`redeem`] and [`federation`]. When a step completes, [`finish`] asks the
//! services again and [`answer`] — the one place that matches a finished sign-in to a protocol —
//! hands the [`Evidence`] to `oidc::authorize::complete` or `saml::sso::complete`.

pub mod block;
pub mod federation;
pub mod held;
pub mod home;
pub mod login;
pub mod mfa;
pub mod myapps;
pub mod realm;
pub mod redeem;
pub mod security_info;

pub use crate::domain::signin::{
    ACR_MFA, ACR_PAPE_MFA, ACR_SFA, AMR_PASSWORD, Evidence, Notice, ProtocolRequest, Requirements,
    Step, Upstream,
};
pub use crate::services::signin::{passcode, throttle, totp};
pub use crate::web::session::{self, evidence_of};
pub use crate::web::{accept_language, see_other, tenant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use crate::domain::tenant::Tenant;
use crate::domain::user::User;
use crate::i18n::{Locale, Text};
use crate::services::AppState;
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
        return Ok(see_other(&login::login_url(&tenant.slug, &transaction.id)));
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
    login::signed_in(
        state,
        headers,
        tenant,
        transaction,
        user,
        upstream.authentication(),
    )
    .await
}

pub use crate::services::signin::Transaction;

/// What the pages add to a [`Transaction`]: the language from the request's headers, the
/// browser binding read from its cookie, and Post/Redirect/Get of a step's notice.
pub trait TransactionPage: Sized {
    /// The language of this transaction's pages, for `user` when known: the request's
    /// `ui_locales`, the user's remembered language, then the browser's `Accept-Language`.
    fn locale(&self, headers: &HeaderMap, user: Option<&User>) -> Locale;

    /// Keeps `text` for the next page load and sends the browser there (Post/Redirect/Get).
    fn retry(
        self,
        state: &AppState,
        text: Text,
        status: StatusCode,
    ) -> impl std::future::Future<Output = Result<Response, AppError>> + Send;

    /// Whether the request comes from the browser that started the transaction.
    fn is_bound_to(&self, state: &AppState, headers: &HeaderMap) -> bool;
}

impl TransactionPage for Transaction {
    fn locale(&self, headers: &HeaderMap, user: Option<&User>) -> Locale {
        self.locale_for(accept_language(headers), user)
    }

    async fn retry(
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
        Ok(see_other(&login::login_url(&self.tenant_slug, &self.id)))
    }

    fn is_bound_to(&self, state: &AppState, headers: &HeaderMap) -> bool {
        self.is_bound_to_binding(state.cookies().read(headers, cookies::BROWSER))
    }
}

use crate::services::signin::flow::{self, Outcome, Refusal};
pub use crate::services::signin::flow::{Next, SessionCheck, first_step};
use crate::web::session::browser;

/// The evidence of the browser's existing session, if it satisfies `requirements`.
pub async fn session_evidence(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    requirements: &Requirements,
) -> Result<Option<Evidence>, AppError> {
    Ok(flow::session_evidence(state, browser(state, headers), tenant, requirements).await?)
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
    let outcome = flow::start(
        state,
        browser(state, headers),
        tenant,
        request.clone(),
        check,
    )
    .await?;
    answer(state, headers, tenant, &request, outcome).await
}

/// Opens a transaction at `step` and sends the browser to its page.
pub async fn open(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    request: ProtocolRequest,
    step: Step,
) -> Result<Response, AppError> {
    let opened = flow::open(state, browser(state, headers), tenant, request, step).await?;
    Ok(crate::web::session::ask(state, &opened))
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
    let outcome = flow::finish(
        state,
        browser(state, headers),
        tenant,
        request,
        evidence,
        consented,
    )
    .await?;
    answer(state, headers, tenant, request, outcome).await
}

/// Answers what the sign-in decided, in the protocol of `request`: the pages door is the one
/// place that matches a finished sign-in to the OIDC or SAML answer.
pub async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    request: &ProtocolRequest,
    outcome: Outcome,
) -> Result<Response, AppError> {
    match outcome {
        Outcome::Ask(opened) => Ok(crate::web::session::ask(state, &opened)),
        Outcome::Answer(evidence) => match request {
            ProtocolRequest::Oidc(request) => {
                crate::oidc::authorize::complete(state, tenant, request, &evidence).await
            }
            ProtocolRequest::Saml(request) => {
                crate::saml::sso::complete(state, tenant, request, &evidence).await
            }
            ProtocolRequest::Redeem(request) => Ok(see_other(&request.redirect_url)),
            ProtocolRequest::Home(request) => {
                home::complete(state, headers, tenant, request, &evidence).await
            }
            ProtocolRequest::Portal { return_url, .. } => Ok(see_other(return_url)),
        },
        Outcome::Refuse(Refusal::LoginRequired) => passive_failure(state, tenant, request).await,
        Outcome::Refuse(Refusal::InteractionRequired) => {
            interaction_required(state, tenant, request).await
        }
        Outcome::Refuse(Refusal::Blocked) => blocked(state, tenant, request).await,
        Outcome::Refuse(Refusal::NotAssigned) => not_assigned(state, tenant, request).await,
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

/// Writes a failed step of the journey (wrong password, wrong second factor) to the sign-in
/// log: `user` when known, else the address typed; the client address is the request's.
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
    Ok(flow::record_failure(
        state,
        tenant,
        request,
        user,
        typed,
        amr,
        reason,
        error_code,
        crate::web::client_address::current(),
    )
    .await?)
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
            get(login::get_login).post(login::post_login),
        )
        .route("/{tenant}/redeem", get(redeem::get_redeem))
        .route(
            "/{tenant}/invitations/block",
            get(block::get_block).post(block::post_block),
        )
        .route("/{tenant}/myapps", get(myapps::get_my_apps))
        .route(
            "/{tenant}/federation/oidc/callback",
            get(crate::pages::federation::oidc::callback),
        )
        .route(
            "/{tenant}/federation/saml/metadata",
            get(crate::pages::federation::saml::get_metadata),
        )
        .route(
            "/{tenant}/federation/saml/acs",
            axum::routing::post(crate::pages::federation::saml::post_acs),
        )
        .route(
            "/{tenant}/federation/saml/continue",
            get(crate::pages::federation::saml::get_continue),
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
