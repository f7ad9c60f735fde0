//! Inviting guests (B2B-REFERENCE.md B.1–B.5): who may invite, what is checked, the guest user
//! created at once, the e-mail, and the lifecycle beyond Entra (expiry, resend, revoke).
//!
//! The steps live in submodules: [`plan`] validates, authorises and composes an invitation
//! without writing anything ([`authorize`] decides who may invite), [`link`] checks where the
//! guest lands and makes the redemption and block links, [`send`] writes planned invitations
//! and composes their e-mail, [`lifecycle`] resends and revokes, and [`bulk`] runs uploads.
//! Every function takes the acting [`Caller`] and returns a [`services::Error`](Error).

pub mod authorize;
pub mod bulk;
pub mod lifecycle;
pub mod link;
pub mod plan;
pub mod redeem;
pub mod send;

use serde::Deserialize;

pub use lifecycle::{resend, revoke};
pub use link::{check_redirect, my_apps_url};
pub use plan::{Plan, Planned, plan};
pub use send::{commit, finish, write};

use crate::domain::email::EmailAddress;
use crate::domain::invitation::{Invitation, MessageInfo, parse_invited_email};
use crate::domain::tenant::Tenant;
use crate::domain::user::User;
use crate::i18n::Locale;
use crate::services::actor::Caller;
use crate::services::{AppState, Error};
use crate::store::StoreError;

/// The body of `POST /invitations` (B.1), plus Gatehouse's extensions.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InviteRequest {
    /// Required.
    pub invited_user_email_address: String,
    /// Display name of the invitee.
    pub invited_user_display_name: Option<String>,
    /// Required: where the guest lands after redeeming.
    pub invite_redirect_url: String,
    /// Send the invitation e-mail (default false, as in Graph).
    #[serde(default)]
    pub send_invitation_message: bool,
    /// E-mail customisation.
    pub invited_user_message_info: Option<MessageInfo>,
    /// `Guest` (default) or `Member`.
    pub invited_user_type: Option<String>,
    /// Reset an earlier redemption of `invitedUser.id`.
    #[serde(default)]
    pub reset_redemption: bool,
    /// `{ "id": … }` of the guest to reset.
    pub invited_user: Option<InvitedUserRef>,
    /// Extension: lifetime of this invitation in days (default: the tenant's).
    pub expires_in_days: Option<u32>,
    /// Extension: groups the guest joins (the caller must own them or be an administrator).
    #[serde(default)]
    pub group_ids: Vec<String>,
}

/// `invitedUser` in a request.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitedUserRef {
    /// Object id.
    pub id: Option<String>,
}

/// A created invitation.
#[derive(Debug, Clone)]
pub struct Invited {
    /// The invitation.
    pub invitation: Invitation,
    /// The redeem link (shown once; only its digest is stored).
    pub redeem_url: String,
    /// The guest user.
    pub user: User,
    /// Whether an e-mail was queued.
    pub email_queued: bool,
}

/// What a store failure during an invitation means to the caller: a conflict, an unknown
/// object, or — whatever else failed — a directory that is unavailable for now (logged here).
pub(crate) fn store_error(error: StoreError) -> Error {
    match error {
        StoreError::Conflict(_) => Error::conflict("a conflicting object already exists"),
        StoreError::NotFound => Error::not_found("not found"),
        other => {
            tracing::error!(error = %other, "storage failed during an invitation");
            Error::Unavailable("the directory is temporarily unavailable".to_owned())
        }
    }
}

/// The words of an invitation error, as a bulk result row or an operator reads them.
pub fn reason(error: &Error) -> String {
    match error {
        Error::Unavailable(why) => why.clone(),
        Error::Internal(_) => "an unexpected error occurred".to_owned(),
        other => other
            .problem()
            .map(|p| p.message.in_locale(Locale::default()))
            .unwrap_or_default(),
    }
}

/// Creates an invitation (and the guest user, the first time).
pub async fn invite(
    state: &AppState,
    caller: &Caller,
    request: InviteRequest,
) -> Result<Invited, Error> {
    let tenant = caller.tenant.as_ref();
    let apps = state
        .store
        .apps_of_tenant(&tenant.id)
        .await
        .map_err(store_error)?;
    let email = parse_invited_email(&request.invited_user_email_address)?;
    let known = Known::look_up(state, tenant, &email).await?;
    match plan(state, caller, request, &apps, OnKnown::Reinvite, known).await? {
        Plan::Write(planned) => {
            let mut invited = commit(state, vec![*planned]).await?;
            invited
                .pop()
                .ok_or_else(|| store_error(StoreError::Corrupt("no invitation written".into())))
        }
        Plan::Known(_) => Err(Error::conflict("the address is already known")),
    }
}

/// What the directory already knows about an invited address: looked up one at a time, or for
/// a whole chunk of a bulk upload at once.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The tenant's user with that address.
    pub user: Option<User>,
    /// Whether the address asked for no more invitations.
    pub blocked: bool,
}

impl Known {
    /// Looks one address up.
    pub async fn look_up(
        state: &AppState,
        tenant: &Tenant,
        email: &EmailAddress,
    ) -> Result<Self, Error> {
        let user = match state.store.user_by_email(&tenant.id, &email.key()).await {
            Ok(user) => Some(user),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(store_error(e)),
        };
        let blocked = state
            .store
            .is_blocked(&tenant.id, &email.key())
            .await
            .map_err(store_error)?;
        Ok(Self { user, blocked })
    }
}

/// What to do when the address already belongs to a user of the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnKnown {
    /// Invite a pending guest again (a new link; the old one dies), as `POST /invitations`.
    Reinvite,
    /// Leave the user alone and say so, as bulk invitations do (idempotent re-runs).
    Skip,
}
