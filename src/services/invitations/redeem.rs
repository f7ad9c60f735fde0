//! Redeeming an invitation: the guest's identity (the home IdP's issuer and subject, or the
//! invited mailbox) is bound to the invited user once, with the audit event, in one store
//! transaction.

use crate::domain::invitation::Invitation;
use crate::domain::signin::{IDP_MAIL, Upstream};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::{Identity, SIGN_IN_FEDERATED};
use crate::services::{Error, Result, Services};
use crate::store::{AuditEvent, Party, Redemption, StoreError};

/// Binds `invitation` to the identity the guest proved (`upstream`, else the mailbox) with an
/// optional password. `false` when the invitation was redeemed meanwhile (nothing changes).
pub async fn bind(
    state: &Services,
    tenant: &Tenant,
    invitation: &Invitation,
    upstream: Option<&Upstream>,
    password_hash: Option<&str>,
) -> Result<bool> {
    let identity = match upstream {
        Some(upstream) => Identity {
            sign_in_type: SIGN_IN_FEDERATED.to_owned(),
            issuer: upstream.issuer.clone(),
            issuer_assigned_id: upstream.subject.clone(),
        },
        None => Identity {
            sign_in_type: "emailAddress".to_owned(),
            issuer: IDP_MAIL.to_owned(),
            issuer_assigned_id: invitation.email.to_ascii_lowercase(),
        },
    };
    let audit = AuditEvent::new(
        &tenant.id,
        "UserManagement",
        "Redeem external user invite",
        Party {
            id: invitation.user_id.clone(),
            kind: "user".to_owned(),
            display: invitation.email.clone(),
        },
        vec![Party {
            id: invitation.id.clone(),
            kind: "invitation".to_owned(),
            display: invitation.email.clone(),
        }],
    )
    .with_details(serde_json::json!({ "identityProvider": identity.issuer }));
    match state
        .store
        .redeem(&Redemption {
            invitation,
            identity: &identity,
            password_hash,
            now: unix_now(),
            audit: &audit,
        })
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(Error::unexpected(e)),
    }
    tracing::info!(tenant = %tenant.slug, user = %invitation.user_id, "invitation redeemed");
    metrics::counter!(crate::monitoring::INVITATIONS_REDEEMED).increment(1);
    tracing::info!(tenant = %tenant.slug, user = %invitation.user_id, "invitation redeemed");
    metrics::counter!(crate::monitoring::INVITATIONS_REDEEMED).increment(1);
    Ok(true)
}
