//! Planning an invitation: the request validated and authorised, the guest chosen (new, a
//! pending guest invited again, or a reset), and everything it writes composed — the
//! invitation, the guest, the e-mail, the audit events — before anything is written.

use super::authorize::authorize;
use super::link::{Links, check_redirect};
use super::send::compose_mail;
use super::{InviteRequest, Known, OnKnown};
use crate::domain::app::App;
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{Invitation, Inviter, MessageInfo, parse_invited_email};
use crate::domain::permission::USER_READWRITE_ALL;
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::{ExternalUserState, Role, User, UserType, guest_upn};
use crate::secrets;
use crate::services::actor::{Caller, Principal};
use crate::services::{AppState, Error};
use crate::store::{AuditEvent, NewInvitation, OutboxMessage, Party, Reset};

/// What [`plan`] decided.
#[derive(Debug)]
pub enum Plan {
    /// An invitation to write.
    Write(Box<Planned>),
    /// The address was already known and [`OnKnown::Skip`] was asked for.
    Known(Box<User>),
}

/// An invitation with everything decided and composed, not yet written.
#[derive(Debug)]
pub struct Planned {
    pub(super) invitation: Invitation,
    pub(super) redeem_url: String,
    token_hash: String,
    block_token_hash: String,
    pub(super) user: User,
    pub(super) new_guest: bool,
    reset_stamp: Option<String>,
    groups: Vec<String>,
    assign_app: Option<String>,
    pub(super) mail: Option<OutboxMessage>,
    audit: Vec<AuditEvent>,
}

impl Planned {
    /// The guest's object id.
    pub fn user_id(&self) -> &str {
        &self.user.id
    }

    /// The invitation as the store writes it.
    pub(super) fn as_new(&self) -> NewInvitation<'_> {
        NewInvitation {
            invitation: &self.invitation,
            token_hash: &self.token_hash,
            block_token_hash: &self.block_token_hash,
            new_guest: self.new_guest.then_some(&self.user),
            reset: self.reset_stamp.as_deref().map(|stamp| Reset {
                email: &self.invitation.email,
                stamp,
            }),
            groups: &self.groups,
            assign_app: self.assign_app.as_deref(),
            mail: self.mail.as_ref(),
            audit: &self.audit,
        }
    }
}

/// Who the guest of an invitation is.
enum Target {
    /// The address is known and [`OnKnown::Skip`] was asked for.
    Skip(User),
    /// The guest to invite: whether it is new, whether its redemption is reset.
    Invite {
        user: User,
        new_guest: bool,
        reset: bool,
    },
}

/// Validates and authorises one invitation and composes all it writes, given what the
/// directory knows about the address (nothing is written).
pub async fn plan(
    state: &AppState,
    caller: &Caller,
    request: InviteRequest,
    apps: &[App],
    on_known: OnKnown,
    known: Known,
) -> Result<Plan, Error> {
    let tenant = caller.tenant.as_ref();
    let email = parse_invited_email(&request.invited_user_email_address)?;
    let target_app = check_target(state, caller, &request, &email, apps).await?;
    let (message_info, asked_language) = message_info(tenant, &request, &known)?;
    let user_type = user_type(caller, &request)?;
    let display_name = request
        .invited_user_display_name
        .as_deref()
        .map(|n| crate::services::admin::bounded_text("invitedUserDisplayName", n, 256))
        .transpose()?;
    let now = unix_now();
    let lifetime_days = request
        .expires_in_days
        .unwrap_or(tenant.settings.invitation_lifetime_days);
    if !(1..=365).contains(&lifetime_days) {
        return Err(Error::invalid("expiresInDays must be between 1 and 365"));
    }
    let Known {
        user: existing,
        blocked,
    } = known;
    let guest = NewGuest {
        display_name: display_name.clone(),
        user_type,
        preferred_language: asked_language,
        now,
    };
    let (user, new_guest, reset) =
        match target(state, caller, &request, &email, existing, on_known, guest).await? {
            Target::Skip(user) => return Ok(Plan::Known(Box::new(user))),
            Target::Invite {
                user,
                new_guest,
                reset,
            } => (user, new_guest, reset),
        };
    let invitation = Invitation {
        display_name: display_name.or_else(|| Some(user.display_name.clone())),
        message_info,
        ..invitation_of(caller, &request, &email, &user, reset, now, lifetime_days)
    };
    let links = Links::new(state, tenant);
    let mail = if request.send_invitation_message && !blocked {
        Some(compose_mail(
            state,
            tenant,
            &invitation,
            caller.user().map(|u| u.email.as_str()),
            &links.redeem_url,
            &links.block_url,
        )?)
    } else {
        None
    };
    let audit = audit_of(caller, &request, &invitation, &user, &email, reset, blocked);
    Ok(Plan::Write(Box::new(Planned {
        token_hash: links.token_hash,
        block_token_hash: links.block_token_hash,
        redeem_url: links.redeem_url,
        user,
        new_guest,
        reset_stamp: reset.then(|| secrets::random_token(16)),
        groups: request.group_ids,
        assign_app: target_app.map(|app| app.id),
        mail,
        audit,
        invitation,
    })))
}

/// Checks where the guest lands, the caller's right to invite there and into the groups, the
/// groups themselves and the address's domain; returns the app the guest is invited to.
async fn check_target(
    state: &AppState,
    caller: &Caller,
    request: &InviteRequest,
    email: &EmailAddress,
    apps: &[App],
) -> Result<Option<App>, Error> {
    let tenant = caller.tenant.as_ref();
    let target_app = check_redirect(state, tenant, &request.invite_redirect_url, apps).await?;
    authorize(state, caller, target_app.as_ref(), &request.group_ids).await?;
    for group in &request.group_ids {
        state
            .store
            .group_by_id(&tenant.id, group)
            .await
            .map_err(|_| Error::not_found(format!("there is no group {group}")))?;
    }
    if !tenant.settings.domain_allowed(email.domain()) {
        return Err(Error::forbidden(format!(
            "invitations to {} are not allowed by the organisation's collaboration settings",
            email.domain()
        )));
    }
    Ok(target_app)
}

/// The e-mail customisation, validated, with the language the message is written in; and the
/// language the request asked for (remembered for a new guest as its `preferredLanguage`).
fn message_info(
    tenant: &Tenant,
    request: &InviteRequest,
    known: &Known,
) -> Result<(MessageInfo, Option<String>), Error> {
    let mut message_info = request
        .invited_user_message_info
        .clone()
        .unwrap_or_default()
        .validated()?;
    // Graph reads back the language the message was written in: the one asked for, else the
    // guest's own, else the tenant's.
    let asked_language = message_info.message_language.clone();
    let remembered_language = known
        .user
        .as_ref()
        .and_then(|u| u.preferred_language.clone());
    message_info.message_language = asked_language
        .clone()
        .or(remembered_language)
        .or_else(|| Some(tenant.settings.default_message_language.clone()));
    Ok((message_info, asked_language))
}

/// `invitedUserType`: a guest, or a member when a Global Administrator (or the operator) asks.
fn user_type(caller: &Caller, request: &InviteRequest) -> Result<UserType, Error> {
    match request.invited_user_type.as_deref() {
        None | Some("Guest") => Ok(UserType::Guest),
        Some("Member") => {
            let is_global_admin = caller
                .user()
                .is_none_or(|u| u.roles.contains(&Role::GlobalAdministrator));
            if !is_global_admin {
                return Err(Error::forbidden(
                    "only a Global Administrator may invite members",
                ));
            }
            Ok(UserType::Member)
        }
        Some(other) => Err(Error::invalid(format!(
            "invitedUserType {other:?} is not Guest or Member"
        ))),
    }
}

/// Who the guest is: new, a re-invitation of a pending guest, or a reset.
async fn target(
    state: &AppState,
    caller: &Caller,
    request: &InviteRequest,
    email: &EmailAddress,
    existing: Option<User>,
    on_known: OnKnown,
    guest: NewGuest,
) -> Result<Target, Error> {
    if request.reset_redemption {
        let (user, new_guest, reset) =
            reset_target(state, caller, request, email, existing).await?;
        return Ok(Target::Invite {
            user,
            new_guest,
            reset,
        });
    }
    match existing {
        Some(user) if on_known == OnKnown::Skip => Ok(Target::Skip(user)),
        Some(user) if user.user_type == UserType::Member && user.creation_type.is_none() => Err(
            Error::conflict(format!("{email} is already a member of this organisation")),
        ),
        Some(user) => Ok(Target::Invite {
            user,
            new_guest: false,
            reset: false,
        }),
        None => Ok(Target::Invite {
            user: new_guest_user(caller.tenant.as_ref(), caller, email, guest),
            new_guest: true,
            reset: false,
        }),
    }
}

/// The invitation of `user` (its display name and message info are the caller's to set).
fn invitation_of(
    caller: &Caller,
    request: &InviteRequest,
    email: &EmailAddress,
    user: &User,
    reset: bool,
    now: i64,
    lifetime_days: u32,
) -> Invitation {
    // A guest who already redeemed is invited again as Graph does it: the same guest, an
    // invitation that is Completed from the start (its link leads to sign-in), and the mail
    // again when asked; `resetRedemption` is what re-binds the guest to a new identity.
    let already_redeemed = !reset && user.external_user_state == Some(ExternalUserState::Accepted);
    let party = caller.party();
    Invitation {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: caller.tenant.id.clone(),
        user_id: user.id.clone(),
        email: email.to_string(),
        display_name: None,
        redirect_url: request.invite_redirect_url.clone(),
        inviter: Inviter {
            id: party.id,
            kind: party.kind,
            name: party.display,
        },
        send_message: request.send_invitation_message,
        message_info: MessageInfo::default(),
        invited_user_type: user.user_type.as_str().to_owned(),
        reset_redemption: reset,
        created_at: now,
        expires_at: now + i64::from(lifetime_days) * 86_400,
        redeemed_at: already_redeemed.then_some(now),
        revoked_at: None,
    }
}

/// The audit events of an invitation (and of a mail not sent to an address that opted out).
fn audit_of(
    caller: &Caller,
    request: &InviteRequest,
    invitation: &Invitation,
    user: &User,
    email: &EmailAddress,
    reset: bool,
    blocked: bool,
) -> Vec<AuditEvent> {
    let tenant_id = &caller.tenant.id;
    let user_party = Party {
        id: user.id.clone(),
        kind: "user".to_owned(),
        display: email.to_string(),
    };
    let invitation_party = Party {
        id: invitation.id.clone(),
        kind: "invitation".to_owned(),
        display: email.to_string(),
    };
    let activity = if reset {
        "Invite external user with reset invitation status"
    } else {
        "Invite external user"
    };
    let mut audit = vec![
        AuditEvent::new(
            tenant_id,
            "UserManagement",
            activity,
            caller.party(),
            vec![user_party.clone(), invitation_party],
        )
        .with_details(serde_json::json!({
            "inviteRedirectUrl": invitation.redirect_url,
            "sendInvitationMessage": invitation.send_message,
            "expiresAt": invitation.expires_at,
        })),
    ];
    if request.send_invitation_message && blocked {
        audit.push(AuditEvent::new(
            tenant_id,
            "UserManagement",
            "Email not sent, user unsubscribed",
            caller.party(),
            vec![user_party],
        ));
    }
    audit
}

/// What a new guest is made of, beyond its address.
struct NewGuest {
    display_name: Option<String>,
    user_type: UserType,
    preferred_language: Option<String>,
    now: i64,
}

/// A new guest user, pending acceptance, sponsored by the inviting user.
fn new_guest_user(tenant: &Tenant, caller: &Caller, email: &EmailAddress, guest: NewGuest) -> User {
    let now = guest.now;
    User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        user_type: guest.user_type,
        email: email.to_string(),
        email_verified: false,
        display_name: guest.display_name.unwrap_or_else(|| email.to_string()),
        given_name: None,
        family_name: None,
        upn: guest_upn(&email.to_string(), &tenant.primary_domain()),
        password_hash: None,
        roles: Vec::new(),
        account_enabled: true,
        security_stamp: secrets::random_token(16),
        external_user_state: Some(ExternalUserState::PendingAcceptance),
        external_user_state_changed_at: Some(now),
        creation_type: Some("Invitation".to_owned()),
        sponsors: caller
            .user()
            .map(|u| vec![u.id.clone()])
            .unwrap_or_default(),
        created_at: now,
        updated_at: now,
        preferred_language: guest.preferred_language,
        job_title: None,
        usage_location: None,
    }
}

/// The guest a `resetRedemption` request re-binds (B.1, E6): it must name an invited user;
/// the new address may differ but must not belong to someone else.
async fn reset_target(
    state: &AppState,
    caller: &Caller,
    request: &InviteRequest,
    email: &EmailAddress,
    existing: Option<User>,
) -> Result<(User, bool, bool), Error> {
    let id = request
        .invited_user
        .as_ref()
        .and_then(|u| u.id.as_deref())
        .ok_or_else(|| Error::invalid("resetRedemption needs invitedUser.id"))?;
    caller.require(USER_READWRITE_ALL)?;
    let user = state
        .store
        .user_by_id(&caller.tenant.id, id)
        .await
        .map_err(|_| Error::not_found(format!("there is no user {id}")))?;
    if user.creation_type.as_deref() != Some("Invitation") {
        return Err(Error::invalid(
            "only invited users can have their redemption reset",
        ));
    }
    if matches!(caller.principal, Principal::App { .. }) && !user.roles.is_empty() {
        return Err(Error::forbidden(
            "an app cannot reset a user who holds directory roles",
        ));
    }
    if existing.is_some_and(|other| other.id != user.id) {
        return Err(Error::conflict(format!("{email} belongs to another user")));
    }
    Ok((user, false, true))
}
