//! `/{tenant}/v1.0/users/{id}/authentication/…`: an administrator lists a user's sign-in
//! methods and removes an authenticator (Entra's "require re-register MFA"), in Graph's
//! `authenticationMethod` shapes. Needs `UserAuthenticationMethod.ReadWrite.All`. The
//! administrator's own token was issued through conditional access like any other.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::authenticate;
use super::{ApiError, date_time};
use crate::domain::permission::USER_AUTH_METHODS;
use crate::services::AppState;
use crate::web::error::AppError;

/// `GET …/users/{id}/authentication/methods`.
#[utoipa::path(get, path = "/{tenant}/v1.0/users/{id}/authentication/methods", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [..], @odata.nextLink while more exist }: [passwordAuthenticationMethod | softwareOathAuthenticationMethod] }")),
    security(("bearer" = [])))]
pub async fn list_methods(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    axum::extract::Query(paging): axum::extract::Query<super::Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller.require(USER_AUTH_METHODS).map_err(ApiError::from)?;
    let user = super::user(&state, &caller.tenant.id, &id).await?;
    let mut methods = Vec::new();
    if user.password_hash.is_some() {
        methods.push(json!({
            "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
            "id": "28c10230-6103-485e-b985-444c60001490",
        }));
    }
    for method in state.store.totp_methods(&user.id).await? {
        methods.push(json!({
            "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod",
            "id": method.id,
            "displayName": method.display_name,
            "createdDateTime": date_time(method.created_at),
            "lastUsedDateTime": method.last_used_at.map(date_time),
        }));
    }
    Ok(super::page_of_all(&state, &uri, &paging, methods)?)
}

/// `DELETE …/users/{id}/authentication/softwareOathMethods/{method}` → 204; the user is
/// told by mail.
#[utoipa::path(delete, path = "/{tenant}/v1.0/users/{id}/authentication/softwareOathMethods/{method}", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path), ("method" = String, Path)),
    responses((status = 204, description = "Removed; the user is told by mail"), (status = 404, description = "No such user or method")),
    security(("bearer" = [])))]
pub async fn delete_totp_method(
    State(state): State<AppState>,
    Path((slug, id, method)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller.require(USER_AUTH_METHODS).map_err(ApiError::from)?;
    crate::services::admin::lifecycle::remove_totp_method(&state, &caller, &id, &method)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
