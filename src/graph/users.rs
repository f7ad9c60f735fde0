//! `/{tenant}/v1.0/users`: list, read, and delete guests.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::authenticate;
use super::{ApiError, Paging, date_time, entity};
use crate::domain::permission::{USER_READ_ALL, USER_READWRITE_ALL};
use crate::domain::user::{Identity, User};
use crate::services::AppState;
use crate::web::error::AppError;

/// The Graph representation of a user (B.4).
pub fn user_json(user: &User, identities: &[Identity]) -> Value {
    json!({
        "id": user.id,
        "displayName": user.display_name,
        "givenName": user.given_name,
        "surname": user.family_name,
        "mail": user.email,
        "userPrincipalName": user.upn,
        "userType": user.user_type.as_str(),
        "accountEnabled": user.account_enabled,
        "creationType": user.creation_type,
        "externalUserState": user.external_user_state.map(|s| s.as_str()),
        "externalUserStateChangeDateTime": user.external_user_state_changed_at.map(date_time),
        "identities": identities,
        "sponsors": user.sponsors.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
        "createdDateTime": date_time(user.created_at),
    })
}

/// `GET /{tenant}/v1.0/users[?$filter=userType eq 'Guest']`.
#[utoipa::path(get, path = "/{tenant}/v1.0/users", tag = "users",
    params(("tenant" = String, Path), ("$filter" = Option<String>, Query, description = "userType eq 'Guest'|'Member'"),
    ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [..], @odata.nextLink while more exist }: [user] }")), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller.require(USER_READ_ALL).map_err(ApiError::from)?;
    let user_type = match paging.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("userType eq 'Guest'") => Some("Guest"),
        Some("userType eq 'Member'") => Some("Member"),
        Some(_) => {
            return Err(ApiError::bad_request(
                "only $filter=userType eq 'Guest' or 'Member' is supported",
            )
            .into());
        }
    };
    let (limit, offset) = paging.window()?;
    let users = state
        .store
        .list_users(&caller.tenant.id, user_type, limit + 1, offset)
        .await?;
    let mut values = Vec::with_capacity(users.len());
    for user in &users {
        values.push(user_json(user, &state.store.identities(&user.id).await?));
    }
    Ok(super::page(&state, &uri, (limit, offset), values))
}

/// `GET /{tenant}/v1.0/users/{id}`.
#[utoipa::path(get, path = "/{tenant}/v1.0/users/{id}", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The user, with userType, externalUserState, identities, creationType")),
    security(("bearer" = [])))]
pub async fn get_user(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    // Everyone may read themselves; anyone else needs User.Read.All.
    if caller.user().is_none_or(|u| u.id != id) {
        caller.require(USER_READ_ALL).map_err(ApiError::from)?;
    }
    let user = super::user(&state, &caller.tenant.id, &id).await?;
    let identities = state.store.identities(&user.id).await?;
    Ok(entity(StatusCode::OK, user_json(&user, &identities)))
}

/// `DELETE /{tenant}/v1.0/users/{id}`: guests only; their sessions, grants and invitations go
/// with them.
#[utoipa::path(delete, path = "/{tenant}/v1.0/users/{id}", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 400, description = "Not a guest")),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller.require(USER_READWRITE_ALL).map_err(ApiError::from)?;
    crate::services::admin::lifecycle::delete_guest(&state, &caller, &id)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
