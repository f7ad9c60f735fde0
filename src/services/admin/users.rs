//! Creating member users and changing their credentials.

use super::{AdminError, bounded_text, conflict_or, tenant_by_slug};
use crate::domain::Invalid;
use crate::domain::email::EmailAddress;
use crate::domain::unix_now;
use crate::domain::user::{Identity, Role, User, UserType};
use crate::passwords::{Passwords, check_policy};
use crate::secrets;
use crate::store::{SecurityChange, Store};

/// Input for a new member user.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    /// Tenant slug.
    pub tenant: String,
    /// Sign-in e-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Initial password, if any.
    pub password: Option<String>,
    /// Directory roles.
    pub roles: Vec<String>,
}

/// Creates a member user (argon2id on the blocking pool for the password).
pub async fn create_user(
    store: &dyn Store,
    passwords: &Passwords,
    input: UserInput,
) -> Result<User, AdminError> {
    let tenant = tenant_by_slug(store, &input.tenant).await?;
    let email = EmailAddress::parse(&input.email)?;
    let roles = input
        .roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()?;
    let password_hash = match input.password {
        Some(password) => {
            check_policy(&password).map_err(crate::domain::Invalid::from)?;
            Some(passwords.hash(password).await?)
        }
        None => None,
    };
    let optional = |field: &str, value: Option<String>| -> Result<Option<String>, Invalid> {
        value.map(|v| bounded_text(field, &v, 128)).transpose()
    };
    let now = unix_now();
    let identity = Identity {
        sign_in_type: "userPrincipalName".to_owned(),
        issuer: tenant.primary_domain(),
        issuer_assigned_id: email.key(),
    };
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id,
        user_type: UserType::Member,
        upn: email.to_string(),
        email: email.to_string(),
        email_verified: false,
        display_name: bounded_text("name", &input.name, 256)?,
        given_name: optional("given name", input.given_name)?,
        family_name: optional("family name", input.family_name)?,
        password_hash,
        roles,
        account_enabled: true,
        security_stamp: secrets::random_token(16),
        external_user_state: None,
        external_user_state_changed_at: None,
        creation_type: None,
        sponsors: Vec::new(),
        created_at: now,
        updated_at: now,
        preferred_language: None,
        job_title: None,
        usage_location: None,
    };
    store.create_user(&user, &[identity]).await.map_err(|e| {
        conflict_or(e, || {
            format!(
                "a user with the address {} already exists in this tenant",
                user.email
            )
        })
    })?;
    Ok(user)
}

/// Disables or re-enables a user; either ends every refresh-token family of the user. It does
/// not end browser sessions nor tell the apps: the admin API and the CLI disable through
/// [`super::accounts::update`], which does both.
pub async fn set_user_enabled(
    store: &dyn Store,
    tenant_id: &str,
    user_id: &str,
    enabled: bool,
) -> Result<(), AdminError> {
    update_security(store, tenant_id, user_id, Some(enabled), None).await
}

/// Sets a new password (policy-checked, argon2id); ends every refresh-token family.
pub async fn reset_password(
    store: &dyn Store,
    passwords: &Passwords,
    tenant_id: &str,
    user_id: &str,
    password: String,
) -> Result<(), AdminError> {
    check_policy(&password).map_err(crate::domain::Invalid::from)?;
    let hash = passwords.hash(password).await?;
    update_security(store, tenant_id, user_id, None, Some(&hash)).await
}

async fn update_security(
    store: &dyn Store,
    tenant_id: &str,
    user_id: &str,
    enabled: Option<bool>,
    password_hash: Option<&str>,
) -> Result<(), AdminError> {
    store
        .update_user_security(&SecurityChange {
            tenant_id,
            user_id,
            enabled,
            password_hash,
            stamp: &secrets::random_token(16),
            now: unix_now(),
        })
        .await
        .map_err(AdminError::Store)
}
