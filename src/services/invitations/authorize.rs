//! Who may invite (B2B-REFERENCE.md B.5): the tenant's invitation policy, the caller's roles
//! and membership, and — for users without that right — ownership of the target app or groups.

use super::store_error;
use crate::domain::app::App;
use crate::domain::permission::USER_INVITE_ALL;
use crate::domain::tenant::InvitePolicy;
use crate::domain::user::{Role, User, UserType};
use crate::services::actor::{Caller, Principal};
use crate::services::{AppState, Error};

/// Whether a user's directory roles let them invite anyone into any group.
fn is_invite_admin(user: &User) -> bool {
    user.roles.iter().any(|r| {
        matches!(
            r,
            Role::GlobalAdministrator | Role::UserAdministrator | Role::GuestInviter
        )
    })
}

/// Decides whether the caller may invite to `target_app` and `groups`.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    target_app: Option<&App>,
    groups: &[String],
) -> Result<(), Error> {
    let settings = &caller.tenant.settings;
    if settings.allow_invites_from == InvitePolicy::None {
        return Err(Error::forbidden(
            "the organisation does not allow invitations",
        ));
    }
    match &caller.principal {
        Principal::Operator => Ok(()),
        Principal::App { .. } => caller.require(USER_INVITE_ALL),
        Principal::User { .. } if !caller.delegates(USER_INVITE_ALL) => Err(Error::forbidden(
            "the token does not carry the delegated permission User.Invite.All",
        )),
        Principal::User { user, .. } => {
            authorize_user(state, caller, user, target_app, groups).await
        }
    }
}

/// A user's right to invite, by policy or by ownership.
async fn authorize_user(
    state: &AppState,
    caller: &Caller,
    user: &User,
    target_app: Option<&App>,
    groups: &[String],
) -> Result<(), Error> {
    let settings = &caller.tenant.settings;
    let by_policy = is_invite_admin(user)
        || match settings.allow_invites_from {
            InvitePolicy::Everyone => true,
            InvitePolicy::AdminsGuestInvitersAndAllMembers => user.user_type == UserType::Member,
            InvitePolicy::AdminsAndGuestInviters | InvitePolicy::None => false,
        };
    if by_policy {
        // Administrators may add guests to any group; others only to their own.
        for group in groups {
            if !is_invite_admin(user)
                && !state
                    .store
                    .is_group_owner(group, &user.id)
                    .await
                    .map_err(store_error)?
            {
                return Err(Error::forbidden(format!(
                    "the caller does not own group {group}"
                )));
            }
        }
        return Ok(());
    }
    // App and group owners may invite to what they own.
    let may_own =
        user.user_type == UserType::Member || settings.allow_invites_from == InvitePolicy::Everyone;
    let owns_app = target_app.is_some_and(|app| app.owners.contains(&user.id));
    let mut owns_groups = !groups.is_empty();
    for group in groups {
        owns_groups &= state
            .store
            .is_group_owner(group, &user.id)
            .await
            .map_err(store_error)?;
    }
    if may_own && (owns_app || owns_groups) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "the organisation's settings do not let this user invite guests",
        ))
    }
}
