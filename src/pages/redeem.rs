//! Redeeming an invitation (B2B-REFERENCE.md B.3, SECURITY.md part H) — the journey's third
//! front door — plus the "block future invitations" link and the My Apps page.
//!
//! The redeem link opens a page that says who invited the address to what. The redemption
//! route comes from the tenant's ordered router; today its route is the lightweight account:
//! a passcode mailed to the invited address (and only that address), optionally a password,
//! then consent. The invitation is bound by one conditional update (exactly once, however many
//! tabs race), the guest is signed in, and the browser goes to `inviteRedirectUrl` — never to
//! an address from the query string. A guest who already redeemed and follows the link again
//! is sent on to `inviteRedirectUrl` to sign in, as Entra does; expired, revoked and unknown
//! links all get the same page. The pages speak the invitation's language.

pub use crate::domain::signin::{AMR_EMAIL, IDP_MAIL, RedeemRequest};
use std::net::IpAddr;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::login::{LoginForm, login_url};
use super::passcode::{self, Sent};
use super::session::{self, Authentication};
use super::{ACR_SFA, ProtocolRequest, Step, Transaction, see_other};
use crate::domain::invitation::{Invitation, InvitationStatus};
use crate::domain::tenant::{RedemptionRoute, Tenant};
use crate::domain::unix_now;
use crate::i18n::Text;
use crate::pages::TransactionPage as _;
use crate::passwords::check_policy;
use crate::secrets;
use crate::services::AppState;
use crate::store::StoreError;
use crate::web::error::{AppError, ErrorPage};
use crate::web::{Chrome, Page};

pub(super) fn invalid_link() -> AppError {
    ErrorPage::bad_request(
        "error-invitation-title",
        Text::new("error-invitation-invalid"),
    )
    .into()
}

/// The invitation of the tenant a redeem token names, if any (whatever its status).
async fn invitation_of_link(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
) -> Result<Option<Invitation>, AppError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    match state
        .store
        .invitation_by_token(&secrets::hash_secret(token))
        .await
    {
        Ok(invitation) if invitation.tenant_id == tenant.id => Ok(Some(invitation)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Query of the redeem link.
#[derive(Debug, Deserialize)]
pub struct RedeemQuery {
    i: Option<String>,
}

/// `GET /{tenant}/redeem?i=…`: the invitation's landing page.
pub async fn get_redeem(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<RedeemQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let invitation = invitation_of_link(&state, &tenant, query.i.as_deref().unwrap_or("")).await?;
    let invitation = match invitation {
        Some(invitation) => match invitation.status(unix_now()) {
            InvitationStatus::PendingAcceptance => invitation,
            // The link stays the way back to the resources (B.2): once redeemed it leads to
            // where the guest was invited to, which asks them to sign in.
            InvitationStatus::Completed => return Ok(see_other(&invitation.redirect_url)),
            InvitationStatus::Revoked | InvitationStatus::Expired => {
                return Err(invalid_link());
            }
        },
        None => return Err(invalid_link()),
    };
    if !tenant.settings.domain_allowed(domain_of(&invitation.email)) {
        return Err(ErrorPage::bad_request(
            "error-invitation-title",
            Text::new("error-invitation-domain"),
        )
        .into());
    }
    let request = RedeemRequest {
        tenant_id: tenant.id.clone(),
        invitation_id: invitation.id.clone(),
        user_id: invitation.user_id.clone(),
        email: invitation.email.clone(),
        redirect_url: invitation.redirect_url.clone(),
        inviter_name: invitation.inviter.name.clone(),
        org_name: tenant.name.clone(),
        privacy_url: tenant.settings.privacy_statement_url.clone(),
        language: invitation.message_info.message_language.clone(),
        inviter_is_app: invitation.inviter.kind != "user",
    };
    super::open(
        &state,
        &headers,
        &tenant,
        ProtocolRequest::Redeem(request),
        Step::Invited,
    )
    .await
}

/// Advances a redemption step (called by the sign-in pages' POST handler).
pub async fn post_step(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    form: LoginForm,
    ip: IpAddr,
) -> Result<Response, AppError> {
    let ProtocolRequest::Redeem(request) = transaction.request.clone() else {
        return Err(invalid_link());
    };
    let here = login_url(&tenant.slug, &transaction.id);
    match (form.intent(), &transaction.step) {
        ("accept", Step::Invited) => {
            accept(state, headers, tenant, transaction, &request, ip).await
        }
        ("passcode", Step::ChooseIdp) => {
            send_redemption_code(state, headers, tenant, transaction, &request, ip).await
        }
        (choice, Step::ChooseIdp) if choice.starts_with("idp:") => {
            let id = &choice["idp:".len()..];
            start_offered(state, tenant, transaction, id, &request.email, &here).await
        }
        ("resend", Step::RedeemCode) => {
            send_redemption_code(state, headers, tenant, transaction, &request, ip).await
        }
        ("code", Step::RedeemCode) => {
            let code = form.code.unwrap_or_default();
            check_redemption_code(state, tenant, transaction, &request, &code, &here).await
        }
        ("password", Step::RedeemPassword) => {
            let password = form.password.unwrap_or_default();
            choose_password(state, headers, transaction, password).await
        }
        ("skip_password", Step::RedeemPassword) => {
            transaction.step = Step::RedeemConsent {
                password_hash: None,
                upstream: None,
            };
            transaction.save(state).await?;
            Ok(see_other(&here))
        }
        (
            "consent",
            Step::RedeemConsent {
                password_hash,
                upstream,
            },
        ) => {
            let (password_hash, upstream) = (password_hash.clone(), upstream.clone());
            transaction.delete(state).await?;
            if form.decision.as_deref() != Some("allow") {
                transaction.step = declined_step(&request);
                transaction.save(state).await?;
                return Ok(see_other(&here));
            }
            complete(
                state,
                headers,
                tenant,
                transaction,
                password_hash.as_deref(),
                upstream.as_ref(),
            )
            .await
        }
        // A stale form: show where the transaction really is.
        _ => Ok(see_other(&here)),
    }
}

/// Starts the sign-in at a partner offered to every guest; any other choice shows the step
/// again.
async fn start_offered(
    state: &AppState,
    tenant: &Tenant,
    transaction: Transaction,
    id: &str,
    email: &str,
    here: &str,
) -> Result<Response, AppError> {
    let partner = match state.directory.partner(&tenant.id, id).await? {
        Some(partner) if partner.offered_to_all => partner,
        _ => return Ok(see_other(here)),
    };
    crate::pages::federation::start(state, tenant, transaction, &partner, email).await
}

/// Checks the passcode sent to the invited address; a valid one moves on to the optional
/// password.
async fn check_redemption_code(
    state: &AppState,
    tenant: &Tenant,
    mut transaction: Transaction,
    request: &RedeemRequest,
    code: &str,
    here: &str,
) -> Result<Response, AppError> {
    let purpose = format!("redeem:{}", request.invitation_id);
    let checked = passcode::check(state, tenant, &request.email, &purpose, code).await?;
    if checked != passcode::Checked::Valid {
        return transaction
            .retry(state, checked.message(), StatusCode::OK)
            .await;
    }
    transaction.step = Step::RedeemPassword;
    transaction.save(state).await?;
    Ok(see_other(here))
}

/// The invitation accepted: the tenant's redemption order picks the route (B.3); the
/// passcode is the fallback that always stays on.
async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    request: &RedeemRequest,
    ip: IpAddr,
) -> Result<Response, AppError> {
    let routed = route_for(state, tenant, &request.email).await?;
    match (routed.route, routed.home, routed.partner) {
        (RedemptionRoute::HomeTenant, Some(home), _) => {
            let email = &request.email;
            super::home::go_home(state, headers, tenant, transaction, &home, email, None).await
        }
        (RedemptionRoute::PartnerIdp, _, Some(partner)) => {
            let email = &request.email;
            crate::pages::federation::start(state, tenant, transaction, &partner, email).await
        }
        (RedemptionRoute::OfferedIdps, _, _) => {
            transaction.step = Step::ChooseIdp;
            transaction.save(state).await?;
            Ok(see_other(&login_url(&tenant.slug, &transaction.id)))
        }
        _ => send_redemption_code(state, headers, tenant, transaction, request, ip).await,
    }
}

/// The optional password of a lightweight account: checked against the policy, hashed off
/// the async workers, kept for the consent step.
async fn choose_password(
    state: &AppState,
    headers: &HeaderMap,
    mut transaction: Transaction,
    password: String,
) -> Result<Response, AppError> {
    if let Err(problem) = check_policy(&password) {
        let reason = crate::i18n::text(transaction.locale(headers, None), problem.message_key());
        let text = Text::new("redeem-error-password").arg("reason", reason);
        return transaction.retry(state, text, StatusCode::OK).await;
    }
    let hash = state.passwords.hash(password).await?;
    transaction.step = Step::RedeemConsent {
        password_hash: Some(hash),
        upstream: None,
    };
    transaction.save(state).await?;
    Ok(see_other(&login_url(
        &transaction.tenant_slug,
        &transaction.id,
    )))
}

pub use crate::services::signin::route::{Routed, route_for};

/// The lightweight-account route: a passcode to the invited address.
async fn send_redemption_code(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    request: &RedeemRequest,
    ip: IpAddr,
) -> Result<Response, AppError> {
    let purpose = format!("redeem:{}", request.invitation_id);
    let locale = transaction.locale(headers, None);
    if passcode::send(
        state,
        tenant,
        &request.email,
        &purpose,
        Some(ip),
        true,
        locale,
    )
    .await?
        == Sent::Throttled
    {
        let text = Text::new("code-error-too-many-sends");
        return transaction
            .retry(state, text, StatusCode::TOO_MANY_REQUESTS)
            .await;
    }
    transaction.step = Step::RedeemCode;
    transaction.save(state).await?;
    Ok(see_other(&login_url(&tenant.slug, &transaction.id)))
}

/// Binds the invitation (once), signs the guest in and continues the journey.
async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    password_hash: Option<&str>,
    upstream: Option<&super::Upstream>,
) -> Result<Response, AppError> {
    let ProtocolRequest::Redeem(request) = transaction.request.clone() else {
        return Err(invalid_link());
    };
    let request = &request;
    let invitation = match state
        .store
        .invitation_by_id(&tenant.id, &request.invitation_id)
        .await
    {
        Ok(invitation) => invitation,
        Err(StoreError::NotFound) => return Err(invalid_link()),
        Err(e) => return Err(e.into()),
    };
    if !tenant.settings.domain_allowed(domain_of(&invitation.email)) {
        return Err(invalid_link());
    }
    if let Some(upstream) = upstream
        && !super::held::confirms(upstream, &invitation.email)
    {
        let locale = transaction.locale(headers, None);
        let step =
            super::held::hold_or_refuse(state, tenant, &invitation, upstream, locale).await?;
        // Shown by the GET after this POST: a reload shows it again, never posts again.
        transaction.step = step;
        transaction.save(state).await?;
        return Ok(see_other(&login_url(&tenant.slug, &transaction.id)));
    }
    let bound = crate::services::invitations::redeem::bind(
        state,
        tenant,
        &invitation,
        upstream,
        password_hash,
    )
    .await?;
    if !bound {
        return Err(invalid_link());
    }
    let user = state
        .store
        .user_by_id(&tenant.id, &invitation.user_id)
        .await?;
    let how = match upstream {
        Some(upstream) => upstream.authentication(),
        None => Authentication {
            amr: vec![AMR_EMAIL.to_owned()],
            acr: ACR_SFA.to_owned(),
            idp: Some(IDP_MAIL.to_owned()),
            auth_time: None,
        },
    };
    let (evidence, cookie) = session::establish(state, headers, user, how).await?;
    let mut response = super::finish(
        state,
        headers,
        tenant,
        &ProtocolRequest::Redeem(request.clone()),
        &evidence,
        true,
    )
    .await?;
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The step after a guest declines: a page that says nothing was shared.
fn declined_step(request: &RedeemRequest) -> Step {
    Step::Outcome {
        title: "redeem-declined-title".to_owned(),
        message: Text::new("redeem-declined").arg("org", &request.org_name),
        status: StatusCode::OK.as_u16(),
    }
}

/// The page after a guest declines (the journey's decline of a redemption).
pub fn declined(
    tenant: &Tenant,
    request: &RedeemRequest,
    locale: crate::i18n::Locale,
) -> Result<Response, AppError> {
    let Step::Outcome {
        title,
        message,
        status,
    } = declined_step(request)
    else {
        return Err(invalid_link());
    };
    super::held::outcome_page(tenant, locale, &title, &message, status)
}

/// The partners offered to every guest, listed on the choose step only.
async fn offered_partners(
    state: &AppState,
    tenant: &Tenant,
    step: &Step,
) -> Result<Vec<minijinja::Value>, AppError> {
    Ok(if *step == Step::ChooseIdp {
        state
            .store
            .partners(&tenant.id)
            .await?
            .into_iter()
            .filter(|p| p.offered_to_all)
            .map(|p| minijinja::context! { id => p.id, name => p.display_name })
            .collect()
    } else {
        Vec::new()
    })
}

/// The address of another account already signed in here, who must choose explicitly
/// (H.62).
async fn signed_in_as(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    invited: &str,
) -> Result<Option<String>, AppError> {
    Ok(match session::current(state, headers, &tenant.id).await? {
        Some(current) if current.user_id != invited => state
            .store
            .user_by_id(&tenant.id, &current.user_id)
            .await
            .ok()
            .map(|u| u.email),
        _ => None,
    })
}

/// Renders the current redemption step, with the notice the last form left.
pub async fn render(
    state: &AppState,
    tenant: &Tenant,
    transaction: &Transaction,
    headers: &HeaderMap,
    notice: Option<super::Notice>,
) -> Result<Response, AppError> {
    let ProtocolRequest::Redeem(request) = &transaction.request else {
        return Err(invalid_link());
    };
    if let Step::Outcome {
        title,
        message,
        status,
    } = &transaction.step
    {
        let locale = transaction.locale(headers, None);
        return super::held::outcome_page(tenant, locale, title, message, *status);
    }
    let (step, title) = match &transaction.step {
        Step::RedeemCode => ("code", "redeem-title-code"),
        Step::RedeemPassword => ("password", "redeem-title-password"),
        Step::RedeemConsent { .. } => ("consent", "redeem-title-consent"),
        Step::ChooseIdp => ("choose", "redeem-title-choose"),
        _ => ("invited", "redeem-title-invited"),
    };
    let offered = offered_partners(state, tenant, &transaction.step).await?;
    let signed_in_as = signed_in_as(state, headers, tenant, &request.user_id).await?;
    let chrome = Chrome::tenant(tenant, transaction.locale(headers, None));
    let status = notice
        .as_ref()
        .and_then(|n| StatusCode::from_u16(n.status).ok())
        .unwrap_or(StatusCode::OK);
    let page = Page::new(
        "redeem.html",
        &chrome,
        minijinja::context! {
            step, signed_in_as,
            title => chrome.text(title),
            error => notice.map(|n| n.text.in_locale(chrome.locale)),
            action => format!("/{}/login", tenant.slug),
            org => &request.org_name,
            inviter => (!request.inviter_is_app).then_some(&request.inviter_name),
            email => &request.email,
            destination => &request.redirect_url,
            privacy_url => &request.privacy_url,
            offered => offered,
            tx => &transaction.id, csrf => &transaction.csrf,
        },
    )?
    .status(status);
    let mut page = page.form_target(&request.redirect_url);
    if matches!(transaction.step, Step::Invited | Step::ChooseIdp) {
        // Accepting may redirect to a partner identity provider.
        for partner in state.directory.partners(&tenant.id).await?.iter() {
            for target in state.federation.browser_targets(&partner.issuer) {
                page = page.form_target(&target);
            }
        }
    }
    Ok(page.into_response())
}
