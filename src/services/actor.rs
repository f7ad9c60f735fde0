//! Who acts on the directory — a user through an app, an app on its own, or the operator at
//! the command line — and what they may do: the [`Caller`] every directory and invitation
//! service takes. How a caller is recognised (a bearer token, the command line) is the front
//! door's business; the rights a caller holds are decided here, free of HTTP.

use std::sync::Arc;

use crate::domain::app::App;
use crate::domain::permission;
use crate::domain::tenant::Tenant;
use crate::domain::user::{User, UserType};
use crate::services::Error;
use crate::store::Party;

/// The acting principal.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A user, through an app.
    User {
        /// The user.
        user: Box<User>,
        /// The app the token was issued to.
        app: Arc<App>,
        /// Delegated scopes in the token that the app still holds.
        scopes: Vec<String>,
    },
    /// An app on its own.
    App {
        /// The app.
        app: Arc<App>,
        /// The application permissions in the token (`roles`) that the app still holds.
        roles: Vec<String>,
    },
    /// The operator at the command line.
    Operator,
}

/// An authenticated caller of the admin API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The tenant of the endpoint.
    pub tenant: Arc<Tenant>,
    /// Who is acting.
    pub principal: Principal,
}

impl Caller {
    /// The operator acting on a tenant (CLI).
    pub fn operator(tenant: Arc<Tenant>) -> Self {
        Self {
            tenant,
            principal: Principal::Operator,
        }
    }

    /// The acting user, if any.
    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User { user, .. } => Some(user),
            _ => None,
        }
    }

    /// Whether the caller holds `permission` through its token and roles, or the permission
    /// that includes it (`X.ReadWrite.All` reads too, as in Graph).
    pub fn holds(&self, permission: &str) -> bool {
        self.holds_exactly(permission)
            || permission::included_in(permission).is_some_and(|wider| self.holds_exactly(wider))
    }

    fn holds_exactly(&self, permission: &str) -> bool {
        match &self.principal {
            Principal::Operator => true,
            Principal::App { roles, .. } => roles.iter().any(|p| p == permission),
            Principal::User { user, scopes, .. } => {
                scopes.iter().any(|s| s == permission)
                    && user
                        .roles
                        .iter()
                        .any(|role| permission::granted_by(*role).contains(&permission))
            }
        }
    }

    /// Whether the token carries `permission` as a delegated scope (the user's own rights are
    /// decided elsewhere).
    pub fn delegates(&self, permission: &str) -> bool {
        match &self.principal {
            Principal::Operator => true,
            Principal::App { roles, .. } => roles.iter().any(|p| p == permission),
            Principal::User { scopes, .. } => scopes.iter().any(|s| s == permission),
        }
    }

    /// Refuses the call unless the caller holds `permission`.
    pub fn require(&self, permission: &str) -> Result<(), Error> {
        if self.holds(permission) {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "the caller does not hold the permission {permission}"
            )))
        }
    }

    /// The caller as an audit party.
    pub fn party(&self) -> Party {
        match &self.principal {
            Principal::User { user, .. } => Party {
                id: user.id.clone(),
                kind: "user".to_owned(),
                display: user.display_name.clone(),
            },
            Principal::App { app, .. } => Party {
                id: app.client_id.clone(),
                kind: "app".to_owned(),
                display: app.name.clone(),
            },
            Principal::Operator => Party {
                id: "operator".to_owned(),
                kind: "system".to_owned(),
                display: "Gatehouse operator".to_owned(),
            },
        }
    }

    /// Whether the caller is a guest (guests get the least privilege).
    pub fn is_guest(&self) -> bool {
        self.user().is_some_and(|u| u.user_type == UserType::Guest)
    }
}
