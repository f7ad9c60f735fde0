//! Redemptions whose home IdP did not assert the invited address as verified: refused, or,
//! when the tenant says so (`unverifiedAddressRedemption: holdForApproval`), recorded for an
//! administrator to approve or deny. Nothing is bound until an administrator approves.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Upstream;
use crate::domain::invitation::{HeldRedemption, HeldStatus, Invitation};
use crate::domain::tenant::{Tenant, UnverifiedAddressRedemption};
use crate::domain::unix_now;
use crate::error::{AppError, ErrorPage};
use crate::startup::AppState;
use crate::store::{AuditEvent, Party};
use crate::web::Page;

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

/// The refusal when the home IdP did not confirm the invited address.
pub fn refusal(idp_name: &str, invited: &str) -> AppError {
    AppError::Page(ErrorPage {
        status: StatusCode::FORBIDDEN,
        title: "Sign-in refused",
        message: format!(
            "{idp_name} did not confirm that you own {invited}, the invited address, so the invitation cannot be accepted with this account."
        ),
    })
}

/// Refuses, or records the request for an administrator and tells the guest where it stands.
pub async fn hold_or_refuse(
    state: &AppState,
    tenant: &Tenant,
    invitation: &Invitation,
    upstream: &Upstream,
) -> Result<Response, AppError> {
    let partner = state
        .directory
        .partners(&tenant.id)
        .await?
        .iter()
        .find(|p| p.issuer == upstream.issuer)
        .cloned();
    if !holds(tenant) {
        let name = partner
            .as_ref()
            .map_or("Your organisation", |p| &p.display_name);
        return Err(refusal(name, &invitation.email));
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
    let audit = AuditEvent::new(
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
    }));
    let stored = state.store.hold_redemption(&held, &audit).await?;
    tracing::info!(tenant = %tenant.slug, held = %stored.id, status = stored.status.as_str(), "redemption held for approval");
    let (status, title, message) = match stored.status {
        HeldStatus::Pending => (
            StatusCode::ACCEPTED,
            "Waiting for approval",
            format!(
                "Your organisation did not confirm that you own {}, the invited address. {} has been asked to approve the account you signed in with. Once an administrator approves it, sign in to the application again with the same account.",
                invitation.email, tenant.name
            ),
        ),
        HeldStatus::Denied => (
            StatusCode::FORBIDDEN,
            "Request declined",
            format!(
                "An administrator of {} declined the account you signed in with for the invitation to {}.",
                tenant.name, invitation.email
            ),
        ),
        HeldStatus::Approved | HeldStatus::Closed => (
            StatusCode::BAD_REQUEST,
            "Invitation not available",
            "This invitation has already been dealt with. Sign in to the application again, or ask the person who invited you for a new invitation.".to_owned(),
        ),
    };
    let mut page = Page::new(
        "message.html",
        minijinja::context! { title => title, tenant_name => &tenant.name, message => message },
    )?;
    page.status = status;
    Ok(page.into_response())
}
