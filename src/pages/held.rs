//! Redemptions whose home IdP did not assert the invited address as verified: refused, or,
//! when the tenant says so (`unverifiedAddressRedemption: holdForApproval`), recorded for an
//! administrator to approve or deny. Nothing is bound until an administrator approves.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Upstream;
use crate::domain::invitation::{HeldRedemption, HeldStatus, Invitation};
use crate::domain::tenant::{Tenant, UnverifiedAddressRedemption};
use crate::domain::unix_now;
use crate::i18n::{Locale, Text};
use crate::services::AppState;
use crate::store::{AuditEvent, Party};
use crate::web::error::{AppError, ErrorPage};
use crate::web::{Chrome, Page};

/// Whether the upstream asserted `invited` as a verified address.
pub fn confirms(upstream: &Upstream, invited: &str) -> bool {
    upstream
        .verified_email
        .as_deref()
        .is_some_and(|email| email.eq_ignore_ascii_case(invited))
}

/// Whether the tenant holds such redemptions rather than refusing them.
pub fn holds(tenant: &Tenant) -> bool {
    tenant.settings.unverified_address_redemption == UnverifiedAddressRedemption::HoldForApproval
}

/// The refusal when the home IdP did not confirm the invited address (`idp_name`: `None`
/// for "your organisation").
pub fn refusal(idp_name: Option<&str>, invited: &str, locale: Locale) -> AppError {
    let idp = idp_name.map_or_else(
        || crate::i18n::text(locale, "your-organisation"),
        str::to_owned,
    );
    ErrorPage::new(
        StatusCode::FORBIDDEN,
        "error-refused-title",
        Text::new("error-unconfirmed-address")
            .arg("idp", idp)
            .arg("email", invited),
    )
    .in_locale(locale)
    .into()
}

/// Refuses, or records the request for an administrator; returns the step that tells the
/// guest where it stands (shown after a redirect, so a reload shows it again).
pub async fn hold_or_refuse(
    state: &AppState,
    tenant: &Tenant,
    invitation: &Invitation,
    upstream: &Upstream,
    locale: Locale,
) -> Result<super::Step, AppError> {
    let partner = state
        .directory
        .partners(&tenant.id)
        .await?
        .iter()
        .find(|p| p.issuer == upstream.issuer)
        .cloned();
    if !holds(tenant) {
        let name = partner.as_ref().map(|p| p.display_name.as_str());
        return Err(refusal(name, &invitation.email, locale));
    }
    let held = HeldRedemption {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        invitation_id: invitation.id.clone(),
        invited_user_id: invitation.user_id.clone(),
        invited_user_email_address: invitation.email.clone(),
        identity_provider_id: partner.map(|p| p.id),
        issuer: upstream.issuer.clone(),
        issuer_assigned_id: upstream.subject.clone(),
        asserted_email_address: upstream.asserted_email.clone(),
        asserted_email_verified: upstream.verified_email.is_some(),
        status: HeldStatus::Pending,
        created_at: unix_now(),
        decided_at: None,
        decided_by: None,
    };
    let audit = hold_audit(tenant, invitation, &held);
    let stored = state.store.hold_redemption(&held, &audit).await?;
    tracing::info!(tenant = %tenant.slug, held = %stored.id, status = stored.status.as_str(), "redemption held for approval");
    let (status, title, message) = match stored.status {
        HeldStatus::Pending => (
            StatusCode::ACCEPTED,
            "held-waiting-title",
            Text::new("held-waiting")
                .arg("email", &invitation.email)
                .arg("org", &tenant.name),
        ),
        HeldStatus::Denied => (
            StatusCode::FORBIDDEN,
            "held-declined-title",
            Text::new("held-declined")
                .arg("org", &tenant.name)
                .arg("email", &invitation.email),
        ),
        HeldStatus::Approved | HeldStatus::Closed => (
            StatusCode::BAD_REQUEST,
            "error-invitation-title",
            Text::new("error-invitation-handled"),
        ),
    };
    Ok(super::Step::Outcome {
        title: title.to_owned(),
        message,
        status: status.as_u16(),
    })
}

/// The audit record of a redemption held for an administrator.
fn hold_audit(tenant: &Tenant, invitation: &Invitation, held: &HeldRedemption) -> AuditEvent {
    AuditEvent::new(
        &tenant.id,
        "UserManagement",
        "Hold external user redemption for approval",
        Party {
            id: invitation.user_id.clone(),
            kind: "user".to_owned(),
            display: invitation.email.clone(),
        },
        vec![Party {
            id: held.id.clone(),
            kind: "heldRedemption".to_owned(),
            display: invitation.email.clone(),
        }],
    )
    .with_details(serde_json::json!({
        "invitationId": invitation.id,
        "identityProvider": held.issuer,
        "assertedEmailAddress": held.asserted_email_address,
    }))
}

/// The page of an [`super::Step::Outcome`].
pub fn outcome_page(
    tenant: &Tenant,
    locale: Locale,
    title: &str,
    message: &Text,
    status: u16,
) -> Result<Response, AppError> {
    let chrome = Chrome::tenant(tenant, locale);
    let page = Page::new(
        "message.html",
        &chrome,
        minijinja::context! {
            title => chrome.text(title),
            message => minijinja::Value::from_safe_string(message.in_locale_html(locale)),
        },
    )?
    .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    Ok(page.into_response())
}
