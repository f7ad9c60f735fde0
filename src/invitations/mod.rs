//! Inviting guests (B2B-REFERENCE.md B.1–B.5): who may invite, what is checked, the guest user
//! created at once, the e-mail, and the lifecycle beyond Entra (expiry, resend, revoke).

pub mod bulk;

use serde::Deserialize;

use crate::domain::app::App;
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{
    Invitation, InvitationStatus, Inviter, MessageInfo, parse_invited_email,
};
use crate::domain::permission::{USER_INVITE_ALL, USER_READWRITE_ALL};
use crate::domain::tenant::{InvitePolicy, Tenant};
use crate::domain::unix_now;
use crate::domain::user::{ExternalUserState, Role, User, UserType, guest_upn};
use crate::graph::ApiError;
use crate::graph::auth::{Caller, Principal};
use crate::i18n::Locale;
use crate::mail::compose::{self, InvitationMail};
use crate::secrets;
use crate::services::AppState;
use crate::store::{AuditEvent, NewInvitation, OutboxMessage, Party, Reset, StoreError};

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

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(_) => ApiError::conflict("a conflicting object already exists"),
        StoreError::NotFound => ApiError::not_found("not found"),
        other => {
            tracing::error!(error = %other, "storage failed during an invitation");
            ApiError {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                code: "serviceNotAvailable",
                message: "the directory is temporarily unavailable".to_owned(),
            }
        }
    }
}

/// The My Apps page of a tenant: always an allowed redirect.
pub fn my_apps_url(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/myapps", state.issuer(&tenant.slug))
}

/// Checks `inviteRedirectUrl` against the tenant's registered app URLs (SECURITY.md H.64):
/// the My Apps page, or an http(s) URL on the origin of an app's registered redirect, logout,
/// ACS or home URL — compared as parsed origins, so `app.example.com.evil.com`,
/// `app.example.com@evil`, `//evil`, `/\evil` and `javascript:` never pass. Returns the app the
/// URL belongs to.
pub async fn check_redirect(
    state: &AppState,
    tenant: &Tenant,
    raw: &str,
    apps: &[App],
) -> Result<Option<App>, ApiError> {
    let refuse = || {
        ApiError::bad_request(
            "inviteRedirectUrl must be the tenant's My Apps page or a URL of one of its registered apps",
        )
    };
    let url = url::Url::parse(raw).map_err(|_| refuse())?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.host_str().is_none()
        || raw.contains('\\')
        || raw.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(refuse());
    }
    if raw == my_apps_url(state, tenant) {
        return Ok(None);
    }
    let origin = url.origin().ascii_serialization();
    apps.iter()
        .find(|app| app.registered_origins().contains(&origin))
        .cloned()
        .map(Some)
        .ok_or_else(refuse)
}

/// Decides whether the caller may invite (B.5): the tenant's policy, the caller's roles and
/// membership, and — for users without that right — ownership of the target app or groups.
async fn authorize(
    state: &AppState,
    caller: &Caller,
    target_app: Option<&App>,
    groups: &[String],
) -> Result<(), ApiError> {
    let settings = &caller.tenant.settings;
    if settings.allow_invites_from == InvitePolicy::None {
        return Err(ApiError::forbidden(
            "the organisation does not allow invitations",
        ));
    }
    let admin = |user: &User| {
        user.roles.iter().any(|r| {
            matches!(
                r,
                Role::GlobalAdministrator | Role::UserAdministrator | Role::GuestInviter
            )
        })
    };
    match &caller.principal {
        Principal::Operator => Ok(()),
        Principal::App { .. } => caller.require(USER_INVITE_ALL),
        Principal::User { .. } if !caller.delegates(USER_INVITE_ALL) => Err(ApiError::forbidden(
            "the token does not carry the delegated permission User.Invite.All",
        )),
        Principal::User { user, .. } => {
            let by_policy = admin(user)
                || match settings.allow_invites_from {
                    InvitePolicy::Everyone => true,
                    InvitePolicy::AdminsGuestInvitersAndAllMembers => {
                        user.user_type == UserType::Member
                    }
                    InvitePolicy::AdminsAndGuestInviters | InvitePolicy::None => false,
                };
            if by_policy {
                // Administrators may add guests to any group; others only to their own.
                for group in groups {
                    if !admin(user)
                        && !state
                            .store
                            .is_group_owner(group, &user.id)
                            .await
                            .map_err(store_error)?
                    {
                        return Err(ApiError::forbidden(format!(
                            "the caller does not own group {group}"
                        )));
                    }
                }
                return Ok(());
            }
            // App and group owners may invite to what they own.
            let may_own = user.user_type == UserType::Member
                || settings.allow_invites_from == InvitePolicy::Everyone;
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
                Err(ApiError::forbidden(
                    "the organisation's settings do not let this user invite guests",
                ))
            }
        }
    }
}

/// The e-mail of an invitation, in the language it asks for, sealed for the outbox.
fn compose_mail(
    state: &AppState,
    tenant: &Tenant,
    invitation: &Invitation,
    inviter_email: Option<&str>,
    redeem_url: &str,
    block_url: &str,
) -> Result<crate::store::OutboxMessage, ApiError> {
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
        ApiError::bad_request("the invitation e-mail could not be composed")
    })?;
    state.mailer.seal(message).map_err(|e| {
        tracing::error!(error = %e, "invitation e-mail could not be sealed");
        store_error(StoreError::Unavailable(e.to_string()))
    })
}

/// Creates an invitation (and the guest user, the first time).
pub async fn invite(
    state: &AppState,
    caller: &Caller,
    request: InviteRequest,
) -> Result<Invited, ApiError> {
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
        Plan::Known(_) => Err(ApiError::conflict("the address is already known")),
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
    ) -> Result<Self, ApiError> {
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
    invitation: Invitation,
    redeem_url: String,
    token_hash: String,
    block_token_hash: String,
    user: User,
    new_guest: bool,
    reset_stamp: Option<String>,
    groups: Vec<String>,
    assign_app: Option<String>,
    mail: Option<OutboxMessage>,
    audit: Vec<AuditEvent>,
}

impl Planned {
    /// The guest's object id.
    pub fn user_id(&self) -> &str {
        &self.user.id
    }

    fn as_new(&self) -> NewInvitation<'_> {
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

/// Writes planned invitations in one transaction and wakes the mail sender.
pub async fn commit(state: &AppState, planned: Vec<Planned>) -> Result<Vec<Invited>, ApiError> {
    write(state, &planned).await?;
    finish(state, planned).await
}

/// Writes planned invitations in one transaction (all or none).
pub async fn write(state: &AppState, planned: &[Planned]) -> Result<(), ApiError> {
    let batch: Vec<NewInvitation<'_>> = planned.iter().map(Planned::as_new).collect();
    state
        .store
        .create_invitations(&batch)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict("the address is already used by another user")
            }
            other => store_error(other),
        })?;
    if planned.iter().any(|p| p.mail.is_some()) {
        state.mailer.wake();
    }
    Ok(())
}

/// The results of written invitations.
pub async fn finish(state: &AppState, planned: Vec<Planned>) -> Result<Vec<Invited>, ApiError> {
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

/// Validates and authorises one invitation and composes all it writes, given what the
/// directory knows about the address (nothing is written).
pub async fn plan(
    state: &AppState,
    caller: &Caller,
    request: InviteRequest,
    apps: &[App],
    on_known: OnKnown,
    known: Known,
) -> Result<Plan, ApiError> {
    let tenant = caller.tenant.as_ref();
    let email = parse_invited_email(&request.invited_user_email_address)?;
    let target_app = check_redirect(state, tenant, &request.invite_redirect_url, apps).await?;
    authorize(state, caller, target_app.as_ref(), &request.group_ids).await?;
    for group in &request.group_ids {
        state
            .store
            .group_by_id(&tenant.id, group)
            .await
            .map_err(|_| ApiError::not_found(format!("there is no group {group}")))?;
    }
    if !tenant.settings.domain_allowed(email.domain()) {
        return Err(ApiError::forbidden(format!(
            "invitations to {} are not allowed by the organisation's collaboration settings",
            email.domain()
        )));
    }
    let mut message_info = request
        .invited_user_message_info
        .clone()
        .unwrap_or_default()
        .validated()?;
    // The language asked for is remembered for a new guest (its preferredLanguage); Graph
    // reads back the language the message was written in: the one asked for, else the
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
    let user_type = match request.invited_user_type.as_deref() {
        None | Some("Guest") => UserType::Guest,
        Some("Member") => {
            let is_global_admin = caller
                .user()
                .is_none_or(|u| u.roles.contains(&Role::GlobalAdministrator));
            if !is_global_admin {
                return Err(ApiError::forbidden(
                    "only a Global Administrator may invite members",
                ));
            }
            UserType::Member
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invitedUserType {other:?} is not Guest or Member"
            )));
        }
    };
    let display_name = request
        .invited_user_display_name
        .as_deref()
        .map(|n| crate::admin::bounded_text("invitedUserDisplayName", n, 256))
        .transpose()?;
    let now = unix_now();
    let lifetime_days = request
        .expires_in_days
        .unwrap_or(tenant.settings.invitation_lifetime_days);
    if !(1..=365).contains(&lifetime_days) {
        return Err(ApiError::bad_request(
            "expiresInDays must be between 1 and 365",
        ));
    }
    // Who the guest is: new, a re-invitation of a pending guest, or a reset.
    let Known {
        user: existing,
        blocked,
    } = known;
    let (user, new_guest, reset) = if request.reset_redemption {
        reset_target(state, caller, &request, &email, existing).await?
    } else {
        match existing {
            Some(user) if on_known == OnKnown::Skip => return Ok(Plan::Known(Box::new(user))),
            Some(user) if user.user_type == UserType::Member && user.creation_type.is_none() => {
                return Err(ApiError::conflict(format!(
                    "{email} is already a member of this organisation"
                )));
            }
            Some(user) => (user, false, false),
            None => (
                new_guest_user(
                    tenant,
                    caller,
                    &email,
                    display_name.clone(),
                    user_type,
                    asked_language,
                    now,
                ),
                true,
                false,
            ),
        }
    };
    // A guest who already redeemed is invited again as Graph does it: the same guest, an
    // invitation that is Completed from the start (its link leads to sign-in), and the mail
    // again when asked; `resetRedemption` is what re-binds the guest to a new identity.
    let already_redeemed = !reset && user.external_user_state == Some(ExternalUserState::Accepted);
    let inviter = Inviter {
        id: caller.party().id,
        kind: caller.party().kind,
        name: caller.party().display,
    };
    let invitation = Invitation {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        email: email.to_string(),
        display_name: display_name.or_else(|| Some(user.display_name.clone())),
        redirect_url: request.invite_redirect_url.clone(),
        inviter,
        send_message: request.send_invitation_message,
        message_info,
        invited_user_type: user.user_type.as_str().to_owned(),
        reset_redemption: reset,
        created_at: now,
        expires_at: now + i64::from(lifetime_days) * 86_400,
        redeemed_at: already_redeemed.then_some(now),
        revoked_at: None,
    };
    let token = secrets::new_secret();
    let block_token = secrets::new_secret();
    let issuer = state.issuer(&tenant.slug);
    let redeem_url = format!("{issuer}/redeem?i={token}");
    let block_url = format!("{issuer}/invitations/block?b={block_token}");
    let mail = if request.send_invitation_message && !blocked {
        Some(compose_mail(
            state,
            tenant,
            &invitation,
            caller.user().map(|u| u.email.as_str()),
            &redeem_url,
            &block_url,
        )?)
    } else {
        None
    };
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
            &tenant.id,
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
            &tenant.id,
            "UserManagement",
            "Email not sent, user unsubscribed",
            caller.party(),
            vec![user_party],
        ));
    }
    Ok(Plan::Write(Box::new(Planned {
        token_hash: secrets::hash_secret(&token),
        block_token_hash: secrets::hash_secret(&block_token),
        redeem_url,
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

fn new_guest_user(
    tenant: &Tenant,
    caller: &Caller,
    email: &EmailAddress,
    display_name: Option<String>,
    user_type: UserType,
    preferred_language: Option<String>,
    now: i64,
) -> User {
    User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        user_type,
        email: email.to_string(),
        email_verified: false,
        display_name: display_name.unwrap_or_else(|| email.to_string()),
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
        preferred_language,
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
) -> Result<(User, bool, bool), ApiError> {
    let id = request
        .invited_user
        .as_ref()
        .and_then(|u| u.id.as_deref())
        .ok_or_else(|| ApiError::bad_request("resetRedemption needs invitedUser.id"))?;
    caller.require(USER_READWRITE_ALL)?;
    let user = state
        .store
        .user_by_id(&caller.tenant.id, id)
        .await
        .map_err(|_| ApiError::not_found(format!("there is no user {id}")))?;
    if user.creation_type.as_deref() != Some("Invitation") {
        return Err(ApiError::bad_request(
            "only invited users can have their redemption reset",
        ));
    }
    if matches!(caller.principal, Principal::App { .. }) && !user.roles.is_empty() {
        return Err(ApiError::forbidden(
            "an app cannot reset a user who holds directory roles",
        ));
    }
    if existing.is_some_and(|other| other.id != user.id) {
        return Err(ApiError::conflict(format!(
            "{email} belongs to another user"
        )));
    }
    Ok((user, false, true))
}

/// Sends a pending invitation again: a new link (the old one dies) and a new e-mail.
pub async fn resend(state: &AppState, caller: &Caller, id: &str) -> Result<Invited, ApiError> {
    let invitation = state
        .store
        .invitation_by_id(&caller.tenant.id, id)
        .await
        .map_err(|_| ApiError::not_found(format!("there is no invitation {id}")))?;
    if invitation.status(unix_now()) != InvitationStatus::PendingAcceptance
        && invitation.status(unix_now()) != InvitationStatus::Expired
    {
        return Err(ApiError::conflict(
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
pub async fn revoke(state: &AppState, caller: &Caller, id: &str) -> Result<Invitation, ApiError> {
    let invitation = state
        .store
        .invitation_by_id(&caller.tenant.id, id)
        .await
        .map_err(|_| ApiError::not_found(format!("there is no invitation {id}")))?;
    // Administrators, and the inviter through a token that may invite.
    let inviter = caller.delegates(USER_INVITE_ALL) && invitation.inviter.id == caller.party().id;
    if !caller.holds(USER_INVITE_ALL) && !inviter {
        return Err(ApiError::forbidden(
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
        return Err(ApiError::conflict("the invitation is no longer pending"));
    }
    let mut revoked = invitation;
    revoked.revoked_at = Some(now);
    Ok(revoked)
}
