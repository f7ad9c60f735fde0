//! Sending invitations: the e-mail, composed in the language it asks for and sealed for the
//! outbox, and the writing of planned invitations (one transaction) that wakes the mail sender.

use super::plan::Planned;
use super::{Invited, store_error};
use crate::domain::invitation::Invitation;
use crate::domain::tenant::Tenant;
use crate::i18n::Locale;
use crate::mail::compose::{self, InvitationMail};
use crate::services::{AppState, Error};
use crate::store::{NewInvitation, OutboxMessage, StoreError};

/// The e-mail of an invitation, in the language it asks for, sealed for the outbox.
pub(super) fn compose_mail(
    state: &AppState,
    tenant: &Tenant,
    invitation: &Invitation,
    inviter_email: Option<&str>,
    redeem_url: &str,
    block_url: &str,
) -> Result<OutboxMessage, Error> {
    let info = &invitation.message_info;
    let locale = info
        .message_language
        .as_deref()
        .and_then(Locale::from_tag)
        .or_else(|| Locale::from_tag(&tenant.settings.default_message_language))
        .unwrap_or_default();
    let brand = compose::MailBrand::of(tenant, state.config.base_url());
    let cc = info
        .cc_recipients
        .first()
        .map(|cc| (cc.address.as_str(), cc.name.as_deref()));
    let message = compose::invitation(&InvitationMail {
        tenant_id: &tenant.id,
        brand: &brand,
        domain: &tenant.primary_domain(),
        // An application invites as the organisation, not as a person.
        inviter: (invitation.inviter.kind == "user").then_some(invitation.inviter.name.as_str()),
        inviter_email,
        to: &invitation.email,
        to_name: invitation.display_name.as_deref(),
        cc,
        message: info.customized_message_body.as_deref(),
        redeem_url,
        destination: &invitation.redirect_url,
        block_url,
        privacy_url: tenant.settings.privacy_statement_url.as_deref(),
        locale,
    })
    .map_err(|e| {
        tracing::error!(error = %e, "invitation e-mail could not be rendered");
        Error::invalid("the invitation e-mail could not be composed")
    })?;
    state.mailer.seal(message).map_err(|e| {
        tracing::error!(error = %e, "invitation e-mail could not be sealed");
        store_error(StoreError::Unavailable(e.to_string()))
    })
}

/// Writes planned invitations in one transaction and wakes the mail sender.
pub async fn commit(state: &AppState, planned: Vec<Planned>) -> Result<Vec<Invited>, Error> {
    write(state, &planned).await?;
    finish(state, planned).await
}

/// Writes planned invitations in one transaction (all or none).
pub async fn write(state: &AppState, planned: &[Planned]) -> Result<(), Error> {
    let batch: Vec<NewInvitation<'_>> = planned.iter().map(Planned::as_new).collect();
    state
        .store
        .create_invitations(&batch)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                Error::conflict("the address is already used by another user")
            }
            other => store_error(other),
        })?;
    if planned.iter().any(|p| p.mail.is_some()) {
        state.mailer.wake();
    }
    Ok(())
}

/// The results of written invitations.
pub async fn finish(state: &AppState, planned: Vec<Planned>) -> Result<Vec<Invited>, Error> {
    let mut invited = Vec::with_capacity(planned.len());
    for planned in planned {
        tracing::info!(tenant_id = %planned.invitation.tenant_id, invitation = %planned.invitation.id, user = %planned.user.id, "invitation created");
        metrics::counter!(crate::monitoring::INVITATIONS_CREATED).increment(1);
        // A new guest is as written; an existing one may have changed (a reset): read it back.
        let user = if planned.new_guest {
            planned.user
        } else {
            state
                .store
                .user_by_id(&planned.invitation.tenant_id, &planned.user.id)
                .await
                .map_err(store_error)?
        };
        invited.push(Invited {
            email_queued: planned.mail.is_some(),
            invitation: planned.invitation,
            redeem_url: planned.redeem_url,
            user,
        });
    }
    Ok(invited)
}
