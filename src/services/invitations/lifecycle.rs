//! An invitation after it was sent: resent with a new link (the old one dies), or revoked.

use super::{InviteRequest, Invited, invite, store_error};
use crate::domain::invitation::{Invitation, InvitationStatus};
use crate::domain::permission::USER_INVITE_ALL;
use crate::domain::unix_now;
use crate::services::actor::Caller;
use crate::services::{AppState, Error};
use crate::store::{AuditEvent, Party};

/// Sends a pending invitation again: a new link (the old one dies) and a new e-mail.
pub async fn resend(state: &AppState, caller: &Caller, id: &str) -> Result<Invited, Error> {
    let invitation = state
        .store
        .invitation_by_id(&caller.tenant.id, id)
        .await
        .map_err(|_| Error::not_found(format!("there is no invitation {id}")))?;
    if invitation.status(unix_now()) != InvitationStatus::PendingAcceptance
        && invitation.status(unix_now()) != InvitationStatus::Expired
    {
        return Err(Error::conflict(
            "only pending or expired invitations can be resent",
        ));
    }
    let request = InviteRequest {
        invited_user_email_address: invitation.email.clone(),
        invited_user_display_name: invitation.display_name.clone(),
        invite_redirect_url: invitation.redirect_url.clone(),
        send_invitation_message: true,
        invited_user_message_info: Some(invitation.message_info.clone()),
        invited_user_type: Some(invitation.invited_user_type.clone()),
        ..InviteRequest::default()
    };
    invite(state, caller, request).await
}

/// Revokes a pending invitation (its link dies at once).
pub async fn revoke(state: &AppState, caller: &Caller, id: &str) -> Result<Invitation, Error> {
    let invitation = state
        .store
        .invitation_by_id(&caller.tenant.id, id)
        .await
        .map_err(|_| Error::not_found(format!("there is no invitation {id}")))?;
    // Administrators, and the inviter through a token that may invite.
    let inviter = caller.delegates(USER_INVITE_ALL) && invitation.inviter.id == caller.party().id;
    if !caller.holds(USER_INVITE_ALL) && !inviter {
        return Err(Error::forbidden(
            "only administrators and the inviter may revoke an invitation",
        ));
    }
    let now = unix_now();
    let audit = AuditEvent::new(
        &caller.tenant.id,
        "UserManagement",
        "Revoke external user invitation",
        caller.party(),
        vec![Party {
            id: invitation.id.clone(),
            kind: "invitation".to_owned(),
            display: invitation.email.clone(),
        }],
    );
    if !state
        .store
        .revoke_invitation(&invitation, now, &audit)
        .await
        .map_err(store_error)?
    {
        return Err(Error::conflict("the invitation is no longer pending"));
    }
    let mut revoked = invitation;
    revoked.revoked_at = Some(now);
    Ok(revoked)
}
