//! Who is calling the admin API, and what they may do.
//!
//! Callers present a bearer access token Gatehouse issued for the tenant. An app acting on its
//! own (client credentials) holds the application permissions currently granted to it. An app
//! acting for a user holds the delegated permissions in the token's scope that the app is
//! still granted, limited to what the user's directory roles allow — Entra's model. Invitation
//! rights for users without a role depend on the tenant's invitation policy and ownership, and
//! are decided by the invitation service.

use std::sync::Arc;

use axum::http::HeaderMap;

use super::ApiError;
use crate::domain::app::App;
use crate::domain::permission;
use crate::domain::scope::Scopes;
use crate::domain::tenant::Tenant;
use crate::domain::user::{User, UserType};
use crate::oidc::userinfo::{bearer, live_access_token};
use crate::services::AppState;
use crate::store::{Party, StoreError};
use crate::web::error::AppError;

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

    /// Whether the caller holds `permission` through its token and roles.
    pub fn holds(&self, permission: &str) -> bool {
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
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.holds(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
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

/// Authenticates the bearer token of an admin-API request to `tenant`.
pub async fn authenticate(
    state: &AppState,
    tenant: Arc<Tenant>,
    headers: &HeaderMap,
) -> Result<Caller, AppError> {
    let unauthorized =
        || ApiError::unauthorized("a valid bearer access token issued by this tenant is required");
    let token = bearer(headers)
        .map_err(|_| unauthorized())?
        .ok_or_else(unauthorized)?;
    let verified = live_access_token(state, &tenant, token)
        .await?
        .ok_or_else(unauthorized)?;
    let client_id = verified.str("client_id").ok_or_else(unauthorized)?;
    let app = state
        .directory
        .app(client_id)
        .await?
        .filter(|app| app.enabled && app.tenant_id == tenant.id)
        .ok_or_else(unauthorized)?;
    let principal = match verified.str("oid") {
        None => {
            // A token asked for with a narrower scope holds only what it carries; a permission
            // withdrawn from the app since the token was issued is gone at once.
            let roles = verified
                .claims
                .get("roles")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .filter(|role| app.permissions.iter().any(|p| p == role))
                .map(str::to_owned)
                .collect();
            Principal::App { app, roles }
        }
        Some(user_id) => {
            let user = match state.store.user_by_id(&tenant.id, user_id).await {
                Ok(user) if user.account_enabled => user,
                Ok(_) | Err(StoreError::NotFound) => return Err(unauthorized().into()),
                Err(e) => return Err(e.into()),
            };
            let scopes = Scopes::parse(verified.str("scope").unwrap_or(""))
                .unwrap_or_default()
                .iter()
                .filter(|s| app.permissions.iter().any(|p| p == s))
                .map(str::to_owned)
                .collect();
            Principal::User {
                user: Box::new(user),
                app,
                scopes,
            }
        }
    };
    Ok(Caller { tenant, principal })
}
