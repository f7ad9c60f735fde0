//! `/{tenant}/v1.0/users`: list, read, change (`PATCH`), delete; `revokeSignInSessions`,
//! `convertExternalToInternalMemberUser`; the groups a user is in (`memberOf`,
//! `transitiveMemberOf`). The rules live in `services::admin::accounts` and
//! `services::admin::groups::members`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::authenticate;
use super::{ApiError, Paging, date_time, entity};
use crate::domain::permission::USER_READ_ALL;
use crate::domain::user::{Identity, User, UserType};
use crate::services::AppState;
use crate::services::admin::accounts;
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
        "jobTitle": user.job_title,
        "usageLocation": user.usage_location,
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

/// `DELETE /{tenant}/v1.0/users/{id}`: any user but the caller; the apps holding their
/// sessions are told first, then their sessions, grants, invitations and memberships go with
/// them.
#[utoipa::path(delete, path = "/{tenant}/v1.0/users/{id}", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 400, description = "The caller themself"), (status = 404, description = "No such user")),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    accounts::delete(&state, &caller, &id)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The changes of a `PATCH /users/{id}` body.
fn user_changes(map: serde_json::Map<String, Value>) -> Result<accounts::UserChanges, ApiError> {
    use super::groups::{boolean, text};
    let mut changes = accounts::UserChanges::default();
    for (key, value) in map {
        match key.as_str() {
            "displayName" => {
                changes.display_name = Some(
                    text(&value, &key)?
                        .ok_or_else(|| ApiError::bad_request("displayName cannot be null"))?,
                );
            }
            "givenName" => changes.given_name = Some(text(&value, &key)?),
            "surname" => changes.surname = Some(text(&value, &key)?),
            "jobTitle" => changes.job_title = Some(text(&value, &key)?),
            "usageLocation" => changes.usage_location = Some(text(&value, &key)?),
            "accountEnabled" => changes.account_enabled = Some(boolean(&value, &key)?),
            "userType" => {
                let name = text(&value, &key)?.unwrap_or_default();
                changes.user_type = Some(match name.as_str() {
                    "Guest" => UserType::Guest,
                    "Member" => UserType::Member,
                    _ => {
                        return Err(ApiError::bad_request(
                            "userType must be \"Guest\" or \"Member\"",
                        ));
                    }
                });
            }
            "passwordProfile" => changes.password = Some(password_profile(&value)?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "{other} cannot be changed here; the properties are displayName, givenName, surname, jobTitle, usageLocation, accountEnabled, userType, passwordProfile"
                )));
            }
        }
    }
    Ok(changes)
}

/// Graph's `passwordProfile` (the password is never echoed or logged).
fn password_profile(value: &Value) -> Result<accounts::PasswordProfile, ApiError> {
    let password = value
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("passwordProfile.password is required"))?;
    let force_change = match value.get("forceChangePasswordNextSignIn") {
        None | Some(Value::Null) => false,
        Some(flag) => {
            super::groups::boolean(flag, "passwordProfile.forceChangePasswordNextSignIn")?
        }
    };
    Ok(accounts::PasswordProfile {
        password: password.to_owned(),
        force_change,
    })
}

/// `PATCH /{tenant}/v1.0/users/{id}` → 204.
#[utoipa::path(patch, path = "/{tenant}/v1.0/users/{id}", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "Any of displayName, givenName, surname, jobTitle, usageLocation (ISO 3166 alpha-2), accountEnabled (false ends every sign-in of the user at once), userType (Guest | Member: the type only), passwordProfile {password, forceChangePasswordNextSignIn: false} for users who sign in here (ends their refresh tokens). Departure from Graph: forceChangePasswordNextSignIn true is refused (no forced change here).", content_type = "application/json"),
    responses((status = 204, description = "Changed"), (status = 400, description = "What is wrong"), (status = 404, description = "No such user")),
    security(("bearer" = [])))]
pub async fn patch_user(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    let changes = user_changes(super::groups::properties(&headers, &body)?)?;
    accounts::update(&state, &caller, &id, changes)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /{tenant}/v1.0/users/{id}/revokeSignInSessions` → `{"value": true}`.
#[utoipa::path(post, path = "/{tenant}/v1.0/users/{id}/revokeSignInSessions", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "{\"value\": true}: every refresh token, grant and session of the user has ended; apps holding a session are told"), (status = 404, description = "No such user")),
    security(("bearer" = [])))]
pub async fn post_revoke_sessions(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    accounts::revoke_sign_in_sessions(&state, &caller, &id)
        .await
        .map_err(ApiError::from)?;
    let context = format!(
        "{}/{slug}/v1.0/$metadata#Edm.Boolean",
        state.config.base_url()
    );
    Ok(entity(
        StatusCode::OK,
        json!({ "@odata.context": context, "value": true }),
    ))
}

/// `POST /{tenant}/v1.0/users/{id}/convertExternalToInternalMemberUser` → 200
/// `conversionUserDetails`.
#[utoipa::path(post, path = "/{tenant}/v1.0/users/{id}/convertExternalToInternalMemberUser", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "userPrincipalName (required, in a verified domain of the tenant), mail (optional; the sign-in address, the UPN when absent: members sign in with their address here), passwordProfile {password, forceChangePasswordNextSignIn: false} (optional)", content_type = "application/json"),
    responses((status = 200, description = "conversionUserDetails: displayName, userPrincipalName, mail, convertedToInternalUserDateTime"), (status = 400, description = "Not external, or a UPN outside the tenant's domains"), (status = 409, description = "The address belongs to another user")),
    security(("bearer" = [])))]
pub async fn post_convert(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    let map = super::groups::properties(&headers, &body)?;
    let mut input = accounts::ConversionInput::default();
    for (key, value) in map {
        match key.as_str() {
            "userPrincipalName" => input.user_principal_name = super::groups::text(&value, &key)?,
            "mail" => input.mail = super::groups::text(&value, &key)?,
            "passwordProfile" => input.password = Some(password_profile(&value)?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "{other} is not a parameter of this action"
                ))
                .into());
            }
        }
    }
    let converted = accounts::convert_to_internal(&state, &caller, &id, input)
        .await
        .map_err(ApiError::from)?;
    Ok(entity(
        StatusCode::OK,
        json!({
            "@odata.type": "#microsoft.graph.conversionUserDetails",
            "displayName": converted.display_name,
            "userPrincipalName": converted.user_principal_name,
            "mail": converted.mail,
            "convertedToInternalUserDateTime": date_time(converted.converted_at),
        }),
    ))
}

/// `GET /{tenant}/v1.0/users/{id}/memberOf`: the groups the user is a direct member of.
#[utoipa::path(get, path = "/{tenant}/v1.0/users/{id}/memberOf", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink")),
    responses((status = 200, description = "{ value: [group] }"), (status = 404, description = "No such user")),
    security(("bearer" = [])))]
pub async fn list_member_of(
    state: State<AppState>,
    path: Path<(String, String)>,
    uri: axum::extract::OriginalUri,
    paging: Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    member_of(state, path, uri, paging, headers, false).await
}

/// `GET /{tenant}/v1.0/users/{id}/transitiveMemberOf`: the groups the user is in directly or
/// through nested groups (at most 8 levels).
#[utoipa::path(get, path = "/{tenant}/v1.0/users/{id}/transitiveMemberOf", tag = "users",
    params(("tenant" = String, Path), ("id" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink")),
    responses((status = 200, description = "{ value: [group] }"), (status = 404, description = "No such user")),
    security(("bearer" = [])))]
pub async fn list_transitive_member_of(
    state: State<AppState>,
    path: Path<(String, String)>,
    uri: axum::extract::OriginalUri,
    paging: Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    member_of(state, path, uri, paging, headers, true).await
}

async fn member_of(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
    transitive: bool,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    let (limit, offset) = paging.window()?;
    let groups = crate::services::admin::groups::members::member_of(
        &state,
        &caller,
        &id,
        transitive,
        (limit + 1, offset),
    )
    .await
    .map_err(ApiError::from)?;
    let values = groups
        .iter()
        .map(|group| {
            let mut value = super::groups::group_json(group);
            value["@odata.type"] = json!("#microsoft.graph.group");
            value
        })
        .collect();
    Ok(super::page(&state, &uri, (limit, offset), values))
}
