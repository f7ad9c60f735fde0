//! Changing users for a caller, as Graph does: `PATCH /users/{id}` (profile, userType,
//! accountEnabled, a password for users who sign in here), `revokeSignInSessions`, deleting a
//! user, and `convertExternalToInternalMemberUser`. Each is audited with Entra's activity
//! names; whatever ends a user's sign-ins (a new security stamp, which ends every refresh
//! token and grant at the next use on every node) also tells the apps through
//! [`crate::services::logout::user_sessions_ended`].

use serde_json::json;

use super::bounded_text;
use super::lifecycle::{target, user};
use crate::domain::Invalid;
use crate::domain::email::EmailAddress;
use crate::domain::permission::USER_READWRITE_ALL;
use crate::domain::unix_now;
use crate::domain::user::{Identity, User, UserType, usage_location};
use crate::passwords::check_policy;
use crate::secrets;
use crate::services::actor::Caller;
use crate::services::{Error, Result, Services};
use crate::store::{AuditEvent, Conversion, SecurityChange, StoreError};

/// A new password (Graph's `passwordProfile`).
#[derive(Clone, Default)]
pub struct PasswordProfile {
    /// The password; never logged, never echoed.
    pub password: String,
    /// Graph's `forceChangePasswordNextSignIn`: Gatehouse has no forced change, so `true` is
    /// refused rather than ignored.
    pub force_change: bool,
}

impl std::fmt::Debug for PasswordProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordProfile")
            .field("force_change", &self.force_change)
            .finish_non_exhaustive()
    }
}

/// The changes of a `PATCH /users/{id}`: what is `Some` changes (`Some(None)` clears).
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// Display name.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<Option<String>>,
    /// Surname.
    pub surname: Option<Option<String>>,
    /// Job title.
    pub job_title: Option<Option<String>>,
    /// Usage location (ISO 3166 alpha-2).
    pub usage_location: Option<Option<String>>,
    /// Enabled or disabled.
    pub account_enabled: Option<bool>,
    /// Guest or Member (the type only: identity and home sign-in stay).
    pub user_type: Option<UserType>,
    /// A new password, for users who sign in with a password here.
    pub password: Option<PasswordProfile>,
}

/// Whether a user signs in somewhere else (an invited user, or one bound to an identity that
/// is not the tenant's own).
async fn is_external(services: &Services, user: &User) -> Result<bool> {
    if user.creation_type.as_deref() == Some("Invitation") {
        return Ok(true);
    }
    let identities = services
        .store
        .identities(&user.id)
        .await
        .map_err(Error::unexpected)?;
    Ok(identities
        .iter()
        .any(|i| i.sign_in_type != "userPrincipalName"))
}

/// An optional text of at most `max` characters; empty clears it.
fn optional(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, Invalid> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => bounded_text(field, text, max).map(Some),
    }
}

/// Applies the profile part of `changes` to `user`; returns the names of what changed.
fn apply_profile(user: &mut User, changes: &UserChanges) -> Result<Vec<&'static str>, Invalid> {
    let mut modified = Vec::new();
    if let Some(name) = &changes.display_name {
        user.display_name = bounded_text("displayName", name, 256)?;
        modified.push("displayName");
    }
    if let Some(value) = &changes.given_name {
        user.given_name = optional("givenName", value.clone(), 64)?;
        modified.push("givenName");
    }
    if let Some(value) = &changes.surname {
        user.family_name = optional("surname", value.clone(), 64)?;
        modified.push("surname");
    }
    if let Some(value) = &changes.job_title {
        user.job_title = optional("jobTitle", value.clone(), 128)?;
        modified.push("jobTitle");
    }
    if let Some(value) = &changes.usage_location {
        user.usage_location = value.as_deref().map(usage_location).transpose()?;
        modified.push("usageLocation");
    }
    if let Some(user_type) = changes.user_type {
        user.user_type = user_type;
        modified.push("userType");
    }
    Ok(modified)
}

/// Records an audit event about `user`.
async fn audit(
    services: &Services,
    caller: &Caller,
    activity: &str,
    user: &User,
    details: serde_json::Value,
) -> Result<()> {
    let event = AuditEvent::new(
        &caller.tenant.id,
        "UserManagement",
        activity,
        caller.party(),
        target(user),
    )
    .with_details(details);
    services
        .store
        .record_audit(&event)
        .await
        .map_err(Error::unexpected)
}

/// A new password's hash, for a user who signs in here (policy-checked; argon2id on the
/// blocking pool).
async fn new_password_hash(
    services: &Services,
    user: &User,
    profile: PasswordProfile,
) -> Result<String> {
    if is_external(services, user).await? {
        return Err(Error::invalid(
            "this user signs in with an external identity and has no password here; convert them with convertExternalToInternalMemberUser first",
        ));
    }
    hash_password(services, profile).await
}

/// A password's hash: policy-checked, argon2id on the blocking pool.
async fn hash_password(services: &Services, profile: PasswordProfile) -> Result<String> {
    if profile.force_change {
        return Err(Error::invalid(
            "forceChangePasswordNextSignIn is not supported: Gatehouse cannot force a password change; send false",
        ));
    }
    check_policy(&profile.password).map_err(Invalid::from)?;
    services
        .passwords
        .hash(profile.password)
        .await
        .map_err(Error::Internal)
}

/// Writes a new security stamp (and the enabled state or password hash when given): every
/// refresh token and grant of the user ends at its next use.
async fn new_stamp(
    services: &Services,
    user: &User,
    enabled: Option<bool>,
    password_hash: Option<&str>,
) -> Result<()> {
    let change = SecurityChange {
        tenant_id: &user.tenant_id,
        user_id: &user.id,
        enabled,
        password_hash,
        stamp: &secrets::random_token(16),
        now: unix_now(),
    };
    match services.store.update_user_security(&change).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(Error::not_found(format!("there is no user {}", user.id))),
        Err(e) => Err(Error::unexpected(e)),
    }
}

/// `PATCH /users/{id}`: changes a user's profile, type, enabled state or password. Disabling
/// ends the user's sign-ins at once; a new password ends their refresh tokens.
pub async fn update(
    services: &Services,
    caller: &Caller,
    id: &str,
    mut changes: UserChanges,
) -> Result<()> {
    caller.require(USER_READWRITE_ALL)?;
    let mut user = user(services, &caller.tenant.id, id).await?;
    if changes.account_enabled == Some(false) && caller.user().is_some_and(|u| u.id == id) {
        return Err(Error::invalid("a caller cannot disable their own account"));
    }
    let modified = apply_profile(&mut user, &changes)?;
    let password_hash = match changes.password.take() {
        Some(profile) => Some(new_password_hash(services, &user, profile).await?),
        None => None,
    };
    if !modified.is_empty() {
        user.updated_at = unix_now();
        services
            .store
            .update_user_profile(&user)
            .await
            .map_err(Error::unexpected)?;
        let details = json!({ "modifiedProperties": modified });
        audit(services, caller, "Update user", &user, details).await?;
    }
    if changes.account_enabled.is_some() || password_hash.is_some() {
        new_stamp(
            services,
            &user,
            changes.account_enabled,
            password_hash.as_deref(),
        )
        .await?;
    }
    if password_hash.is_some() {
        audit(
            services,
            caller,
            "Reset user password",
            &user,
            serde_json::Value::Null,
        )
        .await?;
    }
    match changes.account_enabled {
        Some(false) => {
            audit(
                services,
                caller,
                "Disable account",
                &user,
                serde_json::Value::Null,
            )
            .await?;
            crate::services::logout::user_sessions_ended(services, &user.tenant_id, &user.id)
                .await?;
            tracing::info!(tenant = %caller.tenant.slug, user = %user.id, "user disabled");
        }
        Some(true) => {
            audit(
                services,
                caller,
                "Enable account",
                &user,
                serde_json::Value::Null,
            )
            .await?;
        }
        None => {}
    }
    Ok(())
}

/// `POST /users/{id}/revokeSignInSessions`: a new security stamp (every refresh token and
/// grant ends), then the apps are told. The user may revoke their own; anyone else needs
/// User.ReadWrite.All.
pub async fn revoke_sign_in_sessions(services: &Services, caller: &Caller, id: &str) -> Result<()> {
    if caller.user().is_none_or(|u| u.id != id) {
        caller.require(USER_READWRITE_ALL)?;
    }
    let user = user(services, &caller.tenant.id, id).await?;
    new_stamp(services, &user, None, None).await?;
    crate::services::logout::user_sessions_ended(services, &user.tenant_id, &user.id).await?;
    audit(
        services,
        caller,
        "Invalidate all refresh tokens for user",
        &user,
        serde_json::Value::Null,
    )
    .await?;
    tracing::info!(tenant = %caller.tenant.slug, user = %user.id, "sign-in sessions revoked");
    Ok(())
}

/// `DELETE /users/{id}`: any user but the caller. The apps are told first; then the user goes
/// with their sessions, grants, invitations, memberships and assignments.
pub async fn delete(services: &Services, caller: &Caller, id: &str) -> Result<()> {
    caller.require(USER_READWRITE_ALL)?;
    if caller.user().is_some_and(|u| u.id == id) {
        return Err(Error::invalid("a caller cannot delete their own account"));
    }
    let user = user(services, &caller.tenant.id, id).await?;
    crate::services::logout::user_sessions_ended(services, &user.tenant_id, &user.id).await?;
    match services.store.delete_user(&caller.tenant.id, id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(Error::not_found(format!("there is no user {id}")));
        }
        Err(e) => return Err(Error::unexpected(e)),
    }
    let details = json!({ "userType": user.user_type.as_str() });
    audit(services, caller, "Delete user", &user, details).await?;
    tracing::info!(tenant = %caller.tenant.slug, user = %user.id, "user deleted");
    Ok(())
}

/// What `convertExternalToInternalMemberUser` takes.
#[derive(Debug, Clone, Default)]
pub struct ConversionInput {
    /// The new user principal name, in a verified domain of the tenant (required).
    pub user_principal_name: Option<String>,
    /// A new mail (and sign-in) address; the UPN when absent.
    pub mail: Option<String>,
    /// A password to sign in with here.
    pub password: Option<PasswordProfile>,
}

/// Graph's `conversionUserDetails`.
#[derive(Debug, Clone)]
pub struct Converted {
    /// Display name.
    pub display_name: String,
    /// The new UPN.
    pub user_principal_name: String,
    /// The new mail address.
    pub mail: String,
    /// When (Unix seconds).
    pub converted_at: i64,
}

/// The UPN (in a verified domain of the tenant) and the address of a conversion.
fn conversion_names(
    caller: &Caller,
    input: &ConversionInput,
) -> Result<(EmailAddress, EmailAddress)> {
    let upn = input
        .user_principal_name
        .as_deref()
        .ok_or_else(|| Error::invalid("userPrincipalName is required"))?;
    let upn = EmailAddress::parse(upn)?;
    let domains = &caller.tenant.domains;
    if !domains.iter().any(|d| d.eq_ignore_ascii_case(upn.domain())) {
        return Err(Error::invalid(format!(
            "userPrincipalName must be in a verified domain of the tenant ({})",
            domains.join(", ")
        )));
    }
    let mail = match input.mail.as_deref() {
        Some(mail) => EmailAddress::parse(mail)?,
        None => upn.clone(),
    };
    Ok((upn, mail))
}

/// `POST /users/{id}/convertExternalToInternalMemberUser`: an external user becomes an
/// internal member with a UPN in a verified domain of the tenant (and, optionally, a
/// password); their external identities are removed and every sign-in they had ends. The
/// object id, groups and assignments stay.
pub async fn convert_to_internal(
    services: &Services,
    caller: &Caller,
    id: &str,
    input: ConversionInput,
) -> Result<Converted> {
    caller.require(USER_READWRITE_ALL)?;
    let user = user(services, &caller.tenant.id, id).await?;
    if !is_external(services, &user).await? {
        return Err(Error::invalid(
            "this user is already internal: only external users can be converted",
        ));
    }
    let (upn, mail) = conversion_names(caller, &input)?;
    let password_hash = match input.password {
        Some(profile) => Some(hash_password(services, profile).await?),
        None => None,
    };
    let identity = Identity {
        sign_in_type: "userPrincipalName".to_owned(),
        issuer: caller.tenant.primary_domain(),
        issuer_assigned_id: upn.key(),
    };
    let now = unix_now();
    let (upn, mail, stamp) = (upn.to_string(), mail.to_string(), secrets::random_token(16));
    let conversion = Conversion {
        tenant_id: &user.tenant_id,
        user_id: &user.id,
        upn: &upn,
        email: &mail,
        identity: &identity,
        password_hash: password_hash.as_deref(),
        stamp: &stamp,
        now,
    };
    match services.store.convert_to_internal(&conversion).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Error::conflict(format!(
                "another user of the tenant already has the address {mail}"
            )));
        }
        Err(e) => return Err(Error::unexpected(e)),
    }
    crate::services::logout::user_sessions_ended(services, &user.tenant_id, &user.id).await?;
    let details = json!({ "userPrincipalName": upn, "mail": mail, "previousUserType": user.user_type.as_str() });
    audit(
        services,
        caller,
        "Convert external user to internal user",
        &user,
        details,
    )
    .await?;
    Ok(Converted {
        display_name: user.display_name,
        user_principal_name: upn,
        mail,
        converted_at: now,
    })
}
