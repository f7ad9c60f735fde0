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
use crate::domain::scope::Scopes;
use crate::domain::tenant::Tenant;
use crate::oidc::userinfo::{bearer, live_access_token};
use crate::services::AppState;
use crate::store::StoreError;
use crate::web::error::AppError;

pub use crate::services::actor::{Caller, Principal};

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
