//! Administrative changes the admin API makes for a caller: the tenant's external
//! collaboration settings, removing a user's authenticator (the user is
//! told by mail), deleting a partner identity provider and deciding a redemption held for
//! approval, each written to the audit log.

use crate::domain::invitation::HeldRedemption;
use crate::domain::tenant::TenantSettings;
use crate::domain::unix_now;
use crate::domain::user::User;
use crate::mail::compose::Notice;
use crate::services::actor::Caller;
use crate::services::{Error, Result, Services};
use crate::store::{AuditEvent, Decision, Party, StoreError};

/// The user `id` of tenant `tenant_id` (404 when there is none).
pub async fn user(services: &Services, tenant_id: &str, id: &str) -> Result<User> {
    match services.store.user_by_id(tenant_id, id).await {
        Ok(user) => Ok(user),
        Err(StoreError::NotFound) => Err(Error::not_found(format!("there is no user {id}"))),
        Err(e) => Err(Error::unexpected(e)),
    }
}

/// The user as an audit event's target.
pub(crate) fn target(user: &User) -> Vec<Party> {
    vec![Party {
        id: user.id.clone(),
        kind: "user".to_owned(),
        display: user.email.clone(),
    }]
}

/// Removes one of a user's authenticator apps and tells the user by mail.
pub async fn remove_totp_method(
    services: &Services,
    caller: &Caller,
    id: &str,
    method: &str,
) -> Result<()> {
    let user = user(services, &caller.tenant.id, id).await?;
    match services.store.remove_totp_method(&user.id, method).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(Error::not_found("no such method")),
        Err(e) => return Err(Error::unexpected(e)),
    }
    let audit = AuditEvent::new(
        &caller.tenant.id,
        "UserManagement",
        "Admin deleted security info",
        caller.party(),
        target(&user),
    );
    services
        .store
        .record_audit(&audit)
        .await
        .map_err(Error::unexpected)?;
    crate::services::signin::factors::notify(services, &caller.tenant, &user, Notice::MethodRemoved)
        .await
}

/// Deletes a partner identity provider; guests bound to it can no longer sign in until their
/// redemption is reset. The node's caches forget it at once.
pub async fn delete_partner(services: &Services, caller: &Caller, id: &str) -> Result<()> {
    let tenant = &caller.tenant;
    let partner = match services.store.partner(&tenant.id, id).await {
        Ok(partner) => partner,
        Err(StoreError::NotFound) => return Err(Error::not_found("no such identity provider")),
        Err(e) => return Err(Error::unexpected(e)),
    };
    let audit = AuditEvent::new(
        &tenant.id,
        "Policy",
        "Delete identity provider",
        caller.party(),
        vec![Party {
            id: partner.id.clone(),
            kind: "identityProvider".to_owned(),
            display: partner.display_name.clone(),
        }],
    );
    services
        .store
        .delete_partner(&tenant.id, id, &audit)
        .await
        .map_err(Error::unexpected)?;
    services.directory.invalidate();
    services.federation.forget(id);
    Ok(())
}

/// Merges `patch` (a JSON object of settings) into the tenant's external collaboration
/// settings, checks the result, stores it and audits the patch; returns the new settings.
pub async fn update_collaboration_settings(
    services: &Services,
    caller: &Caller,
    patch: serde_json::Value,
) -> Result<TenantSettings> {
    let tenant = &caller.tenant;
    let current = services
        .store
        .tenant_by_id(&tenant.id)
        .await
        .map_err(Error::unexpected)?
        .settings;
    let mut merged = serde_json::to_value(current).unwrap_or_default();
    if let (Some(target), Some(fields)) = (merged.as_object_mut(), patch.as_object()) {
        for (key, value) in fields {
            target.insert(key.clone(), value.clone());
        }
    }
    let settings: TenantSettings = serde_json::from_value(merged)
        .map_err(|e| Error::invalid(format!("the settings are not valid: {e}")))?;
    let settings = settings.validated()?;
    services
        .store
        .update_tenant_settings(&tenant.id, &settings)
        .await
        .map_err(Error::unexpected)?;
    services.directory.invalidate();
    let audit = AuditEvent::new(
        &tenant.id,
        "Policy",
        "Update external collaboration settings",
        caller.party(),
        vec![Party {
            id: tenant.id.clone(),
            kind: "tenant".to_owned(),
            display: tenant.name.clone(),
        }],
    )
    .with_details(patch);
    services
        .store
        .record_audit(&audit)
        .await
        .map_err(Error::unexpected)?;
    Ok(settings)
}

/// Approves or denies a redemption held for approval (409 when it was decided, or its
/// invitation changed, meanwhile); returns it as decided.
pub async fn decide_held(
    services: &Services,
    caller: &Caller,
    id: &str,
    decision: Decision,
) -> Result<HeldRedemption> {
    let tenant = &caller.tenant;
    let held = match services.store.held_redemption(&tenant.id, id).await {
        Ok(held) => held,
        Err(StoreError::NotFound) => {
            return Err(Error::not_found(format!(
                "there is no held redemption {id}"
            )));
        }
        Err(e) => return Err(Error::unexpected(e)),
    };
    let activity = match decision {
        Decision::Approve => "Approve held external user redemption",
        Decision::Deny => "Deny held external user redemption",
    };
    let audit = AuditEvent::new(
        &tenant.id,
        "UserManagement",
        activity,
        caller.party(),
        vec![
            Party {
                id: held.invited_user_id.clone(),
                kind: "user".to_owned(),
                display: held.invited_user_email_address.clone(),
            },
            Party {
                id: held.id.clone(),
                kind: "heldRedemption".to_owned(),
                display: held.invited_user_email_address.clone(),
            },
        ],
    )
    .with_details(serde_json::json!({
        "invitationId": held.invitation_id,
        "identityProvider": held.issuer,
        "assertedEmailAddress": held.asserted_email_address,
    }));
    let decided = services
        .store
        .decide_held_redemption(
            &tenant.id,
            id,
            decision,
            &caller.party().id,
            unix_now(),
            &audit,
        )
        .await;
    match decided {
        Ok(held) => {
            tracing::info!(tenant = %tenant.slug, held = %held.id, status = held.status.as_str(), "held redemption decided");
            Ok(held)
        }
        Err(StoreError::Conflict(reason)) => Err(Error::conflict(reason)),
        Err(e) => Err(Error::unexpected(e)),
    }
}
