//! App-role assignments in Graph's `appRoleAssignment` shape, reached three ways:
//! `/users/{id}/appRoleAssignments`, `/groups/{id}/appRoleAssignments` (what a principal
//! holds) and `/applications/{id}/appRoleAssignedTo` (who holds an app's roles), each with
//! `GET`, `POST` and `DELETE …/{assignmentId}`. Writes need `AppRoleAssignment.ReadWrite.All`;
//! reads also take `Application.Read.All` or `User.Read.All`. Departure from Graph: there is
//! no separate service principal, so `resourceId` is the application's object id.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::{Caller, authenticate};
use super::{ApiError, Paging, admin_error, entity, read_json};
use crate::domain::permission::{
    APP_ROLE_ASSIGNMENT_READWRITE_ALL, APPLICATION_READ_ALL, USER_READ_ALL,
};
use crate::services::AppState;
use crate::services::admin::assignments::{self, AssignmentRequest, Via};
use crate::web::error::AppError;

/// `POST` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentBody {
    principal_id: String,
    resource_id: String,
    app_role_id: String,
}

/// The authenticated caller, holding the write permission (or, for reads, one of the read
/// permissions).
async fn caller(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    write: bool,
) -> Result<Caller, AppError> {
    let tenant = super::tenant(state, slug).await?;
    let caller = authenticate(state, tenant, headers).await?;
    let reads = [
        APP_ROLE_ASSIGNMENT_READWRITE_ALL,
        APPLICATION_READ_ALL,
        USER_READ_ALL,
    ];
    if !write && reads.iter().any(|p| caller.holds(p)) {
        return Ok(caller);
    }
    caller
        .require(APP_ROLE_ASSIGNMENT_READWRITE_ALL)
        .map_err(ApiError::from)?;
    Ok(caller)
}

async fn list(
    state: AppState,
    slug: &str,
    via: Via<'_>,
    uri: &axum::http::Uri,
    paging: &Paging,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, slug, headers, false).await?;
    let found = assignments::list(state.store.as_ref(), &caller.tenant, via)
        .await
        .map_err(admin_error)?;
    let values = found.iter().map(assignments::to_json).collect();
    Ok(super::page_of_all(&state, uri, paging, values)?)
}

async fn add(
    state: AppState,
    slug: &str,
    via: Via<'_>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, AppError> {
    let caller = caller(&state, slug, headers, true).await?;
    let body: AssignmentBody = read_json(headers, body)?;
    let request = AssignmentRequest {
        principal_id: body.principal_id,
        resource_id: body.resource_id,
        app_role_id: body.app_role_id,
    };
    let added = assignments::add(
        state.store.as_ref(),
        &caller.tenant,
        caller.party(),
        via,
        request,
    )
    .await
    .map_err(admin_error)?;
    Ok(entity(StatusCode::CREATED, assignments::to_json(&added)))
}

async fn remove(
    state: AppState,
    slug: &str,
    via: Via<'_>,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, slug, headers, true).await?;
    assignments::remove(
        state.store.as_ref(),
        &caller.tenant,
        caller.party(),
        via,
        id,
    )
    .await
    .map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET …/users/{id}/appRoleAssignments`.
#[utoipa::path(get, path = "/{tenant}/v1.0/users/{id}/appRoleAssignments", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path), ("$top" = Option<i64>, Query), ("$skiptoken" = Option<String>, Query)),
    responses((status = 200, description = "{ value: [appRoleAssignment] }: the user's own assignments (not those through groups)"), (status = 404, description = "No such user")),
    security(("bearer" = [])))]
pub async fn list_user_assignments(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    list(state, &slug, Via::User(&id), &uri, &paging, &headers).await
}

/// `POST …/users/{id}/appRoleAssignments` → 201.
#[utoipa::path(post, path = "/{tenant}/v1.0/users/{id}/appRoleAssignments", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "{principalId (the user), resourceId (application object id), appRoleId (an enabled role allowing User, or 00000000-0000-0000-0000-000000000000 for default access when the app defines no roles)}", content_type = "application/json"),
    responses((status = 201, description = "The appRoleAssignment"), (status = 400, description = "Bad ids or a role the user cannot hold"), (status = 404, description = "No such user"), (status = 409, description = "Already held")),
    security(("bearer" = [])))]
pub async fn post_user_assignment(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    add(state, &slug, Via::User(&id), &headers, &body).await
}

/// `DELETE …/users/{id}/appRoleAssignments/{assignmentId}` → 204.
#[utoipa::path(delete, path = "/{tenant}/v1.0/users/{id}/appRoleAssignments/{assignment}", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path), ("assignment" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such assignment of this user")),
    security(("bearer" = [])))]
pub async fn delete_user_assignment(
    State(state): State<AppState>,
    Path((slug, id, assignment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    remove(state, &slug, Via::User(&id), &assignment, &headers).await
}

/// `GET …/groups/{id}/appRoleAssignments`.
#[utoipa::path(get, path = "/{tenant}/v1.0/groups/{id}/appRoleAssignments", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path), ("$top" = Option<i64>, Query), ("$skiptoken" = Option<String>, Query)),
    responses((status = 200, description = "{ value: [appRoleAssignment] }"), (status = 404, description = "No such group")),
    security(("bearer" = [])))]
pub async fn list_group_assignments(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    list(state, &slug, Via::Group(&id), &uri, &paging, &headers).await
}

/// `POST …/groups/{id}/appRoleAssignments` → 201.
#[utoipa::path(post, path = "/{tenant}/v1.0/groups/{id}/appRoleAssignments", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "{principalId (the group), resourceId, appRoleId}; members, also through nested groups, hold the role", content_type = "application/json"),
    responses((status = 201, description = "The appRoleAssignment"), (status = 400, description = "Bad ids or a role a group cannot hold"), (status = 404, description = "No such group"), (status = 409, description = "Already held")),
    security(("bearer" = [])))]
pub async fn post_group_assignment(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    add(state, &slug, Via::Group(&id), &headers, &body).await
}

/// `DELETE …/groups/{id}/appRoleAssignments/{assignmentId}` → 204.
#[utoipa::path(delete, path = "/{tenant}/v1.0/groups/{id}/appRoleAssignments/{assignment}", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path), ("assignment" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such assignment of this group")),
    security(("bearer" = [])))]
pub async fn delete_group_assignment(
    State(state): State<AppState>,
    Path((slug, id, assignment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    remove(state, &slug, Via::Group(&id), &assignment, &headers).await
}

/// `GET …/applications/{id}/appRoleAssignedTo`.
#[utoipa::path(get, path = "/{tenant}/v1.0/applications/{id}/appRoleAssignedTo", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path, description = "application object id (or client id)"), ("$top" = Option<i64>, Query), ("$skiptoken" = Option<String>, Query)),
    responses((status = 200, description = "{ value: [appRoleAssignment] }: every user, group and app holding a role of the application"), (status = 404, description = "No such application")),
    security(("bearer" = [])))]
pub async fn list_assigned_to(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    list(state, &slug, Via::Application(&id), &uri, &paging, &headers).await
}

/// `POST …/applications/{id}/appRoleAssignedTo` → 201.
#[utoipa::path(post, path = "/{tenant}/v1.0/applications/{id}/appRoleAssignedTo", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "{principalId (a user, group or another application), resourceId (this application), appRoleId}; an application principal (principalType ServicePrincipal) needs a role allowing Application and gets it in the roles of its client-credentials tokens", content_type = "application/json"),
    responses((status = 201, description = "The appRoleAssignment"), (status = 400, description = "Bad ids or a role the principal cannot hold"), (status = 404, description = "No such application"), (status = 409, description = "Already held")),
    security(("bearer" = [])))]
pub async fn post_assigned_to(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    add(state, &slug, Via::Application(&id), &headers, &body).await
}

/// `DELETE …/applications/{id}/appRoleAssignedTo/{assignmentId}` → 204.
#[utoipa::path(delete, path = "/{tenant}/v1.0/applications/{id}/appRoleAssignedTo/{assignment}", tag = "appRoleAssignments",
    params(("tenant" = String, Path), ("id" = String, Path), ("assignment" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such assignment to this application")),
    security(("bearer" = [])))]
pub async fn delete_assigned_to(
    State(state): State<AppState>,
    Path((slug, id, assignment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    remove(state, &slug, Via::Application(&id), &assignment, &headers).await
}
