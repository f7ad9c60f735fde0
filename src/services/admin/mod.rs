//! Administrative operations on the directory — tenants, users, apps, groups — shared by the
//! CLI and the Graph-shaped admin API. Input is validated here into domain types; storage
//! conflicts become clear messages.

pub mod accounts;
pub mod apps;
pub mod assignments;
pub mod groups;
pub mod lifecycle;
pub mod partners;
pub mod policies;
pub mod tenants;
pub mod users;

pub use apps::{AppInput, SamlInput, create_app};
pub use groups::{GroupInput, create_group};
pub use tenants::{TenantInput, create_tenant, update_settings};
pub use users::{UserInput, create_user, reset_password, set_user_enabled};

use crate::domain::Invalid;
use crate::domain::tenant::Tenant;
use crate::domain::user::User;
use crate::store::{Store, StoreError};

/// Why an administrative operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input broke a rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Something with that name already exists.
    #[error("{0}")]
    Conflict(String),
    /// The named tenant does not exist.
    #[error("tenant {0:?} does not exist")]
    NoTenant(String),
    /// A named user, group or app does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// Anything else (hashing).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<AdminError> for crate::services::Error {
    /// The services tier's kind of an administrative failure, for the front doors that answer
    /// in their own envelope (the CLI prints the [`AdminError`] itself, word for word).
    fn from(error: AdminError) -> Self {
        use crate::services::Error;
        match error {
            AdminError::Invalid(invalid) => Error::from(invalid),
            AdminError::Conflict(message) => Error::conflict(message),
            AdminError::NotFound(message) => Error::not_found(message),
            AdminError::NoTenant(slug) => {
                Error::not_found(format!("tenant {slug:?} does not exist"))
            }
            AdminError::Store(e) => Error::unexpected(e),
            AdminError::Other(e) => Error::Internal(e),
        }
    }
}

/// A store failure, or — when it is a conflict — [`AdminError::Conflict`] with `message`.
pub(crate) fn conflict_or(error: StoreError, message: impl FnOnce() -> String) -> AdminError {
    match error {
        StoreError::Conflict(_) => AdminError::Conflict(message()),
        other => AdminError::Store(other),
    }
}

/// A trimmed text of 1 to `max` characters without control characters, named `field` when
/// it is refused.
pub(crate) fn bounded_text(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Invalid::new(format!(
            "{field} must be 1-{max} characters without control characters"
        )));
    }
    Ok(value.to_owned())
}

/// A tenant by slug, or [`AdminError::NoTenant`].
pub async fn tenant_by_slug(store: &dyn Store, slug: &str) -> Result<Tenant, AdminError> {
    match store.tenant_by_slug(slug).await {
        Ok(tenant) => Ok(tenant),
        Err(StoreError::NotFound) => Err(AdminError::NoTenant(slug.to_owned())),
        Err(e) => Err(AdminError::Store(e)),
    }
}

/// A user of the tenant named by e-mail address, or [`AdminError::NotFound`].
pub async fn user_by_email(
    store: &dyn Store,
    tenant: &Tenant,
    email: &str,
) -> Result<User, AdminError> {
    let email = crate::domain::email::EmailAddress::parse(email)?;
    match store.user_by_email(&tenant.id, &email.key()).await {
        Ok(user) => Ok(user),
        Err(StoreError::NotFound) => Err(AdminError::NotFound(format!(
            "there is no user {email} in tenant {}",
            tenant.slug
        ))),
        Err(e) => Err(AdminError::Store(e)),
    }
}
