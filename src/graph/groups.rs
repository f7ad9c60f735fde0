//! `/{tenant}/v1.0/groups`: groups in Graph's `group` shape — list, read, create, change,
//! delete — with their members and owners as Graph `$ref` relationships. Members may be users
//! or groups (nesting, at most 8 levels); owners are users and may change the members of the
//! groups they own. The rules live in `services::admin::groups`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::{Caller, authenticate};
use super::{ApiError, Paging, date_time, entity, read_json};
use crate::domain::group::{Group, MemberKind};
use crate::services::AppState;
use crate::services::admin::groups::members::{self, DirectoryObject, Reference};
use crate::services::admin::groups::{self, GroupChanges};
use crate::web::error::AppError;

/// The Graph representation of a group.
pub fn group_json(group: &Group) -> Value {
    json!({
        "id": group.id,
        "displayName": group.display_name,
        "description": group.description,
        "securityEnabled": group.security_enabled,
        "mailEnabled": false,
        "mail": null,
        "groupTypes": [],
        "createdDateTime": date_time(group.created_at),
    })
}

/// A directory object of a member list, with its `@odata.type`.
async fn object_json(state: &AppState, object: &DirectoryObject) -> Result<Value, AppError> {
    Ok(match object {
        DirectoryObject::User(user) => {
            let mut value = super::users::user_json(user, &state.store.identities(&user.id).await?);
            value["@odata.type"] = json!("#microsoft.graph.user");
            value
        }
        DirectoryObject::Group(group) => {
            let mut value = group_json(group);
            value["@odata.type"] = json!("#microsoft.graph.group");
            value
        }
    })
}

/// The caller of a request to tenant `slug`.
async fn caller(state: &AppState, slug: &str, headers: &HeaderMap) -> Result<Caller, AppError> {
    let tenant = super::tenant(state, slug).await?;
    authenticate(state, tenant, headers).await
}

/// A JSON object body, without Graph's `@odata.*` annotations.
pub(super) fn properties(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = read_json(headers, body)?;
    let Value::Object(mut map) = value else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    map.retain(|key, _| !key.starts_with("@odata."));
    Ok(map)
}

/// A text property: absent (`None`), null (`Some(None)`) or a string.
pub(super) fn text(value: &Value, name: &str) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        _ => Err(ApiError::bad_request(format!(
            "{name} must be a string or null"
        ))),
    }
}

/// A boolean property.
pub(super) fn boolean(value: &Value, name: &str) -> Result<bool, ApiError> {
    value
        .as_bool()
        .ok_or_else(|| ApiError::bad_request(format!("{name} must be true or false")))
}

/// The changes a POST or PATCH body asks for.
fn group_changes(map: Map<String, Value>) -> Result<GroupChanges, ApiError> {
    let mut changes = GroupChanges::default();
    for (key, value) in map {
        match key.as_str() {
            "displayName" => {
                changes.display_name = Some(
                    text(&value, &key)?
                        .ok_or_else(|| ApiError::bad_request("displayName cannot be null"))?,
                );
            }
            "description" => changes.description = Some(text(&value, &key)?),
            "securityEnabled" => changes.security_enabled = Some(boolean(&value, &key)?),
            "mailEnabled" if value == json!(false) => {}
            "mailEnabled" => {
                return Err(ApiError::bad_request(
                    "mail-enabled groups are not supported: send mailEnabled false",
                ));
            }
            "groupTypes" if value == json!([]) => {}
            "groupTypes" => {
                return Err(ApiError::bad_request(
                    "only groupTypes [] is supported (no Unified or DynamicMembership groups)",
                ));
            }
            // Graph requires a mail nickname; without mail it names nothing here.
            "mailNickname" => {}
            other if other.ends_with("@odata.bind") => {
                return Err(ApiError::bad_request(format!(
                    "{other} is not supported: add members and owners with POST /groups/{{id}}/members/$ref and /owners/$ref"
                )));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "{other} is not a property a group can be given"
                )));
            }
        }
    }
    Ok(changes)
}

/// The object an `{"@odata.id": "…/directoryObjects/{id}"}` body names (also `…/users/{id}`
/// and `…/groups/{id}`).
fn reference(headers: &HeaderMap, body: &[u8]) -> Result<Reference, ApiError> {
    let value: Value = read_json(headers, body)?;
    let url = value
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request("the body must be {\"@odata.id\": \"…/directoryObjects/{id}\"}")
        })?;
    let mut segments = url.trim_end_matches('/').rsplit('/');
    let id = segments.next().unwrap_or_default();
    let kind = match segments.next() {
        Some("directoryObjects") => None,
        Some("users") => Some(MemberKind::User),
        Some("groups") => Some(MemberKind::Group),
        _ => {
            return Err(ApiError::bad_request(
                "@odata.id must end in /directoryObjects/{id}, /users/{id} or /groups/{id}",
            ));
        }
    };
    if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_request(
            "@odata.id does not name an object id",
        ));
    }
    Ok(Reference {
        id: id.to_owned(),
        kind,
    })
}

/// `GET /{tenant}/v1.0/groups`.
#[utoipa::path(get, path = "/{tenant}/v1.0/groups", tag = "groups",
    params(("tenant" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [group], @odata.nextLink while more exist }")), security(("bearer" = [])))]
pub async fn list_groups(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    OriginalUri(uri): OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let (limit, offset) = paging.window()?;
    let list = groups::list(&state, &caller, limit + 1, offset)
        .await
        .map_err(ApiError::from)?;
    let values = list.iter().map(group_json).collect();
    Ok(super::page(&state, &uri, (limit, offset), values))
}

/// `POST /{tenant}/v1.0/groups` → 201 with the group.
#[utoipa::path(post, path = "/{tenant}/v1.0/groups", tag = "groups",
    params(("tenant" = String, Path)),
    request_body(content = String, description = "group: displayName (required), description, securityEnabled (true when absent), mailEnabled false, mailNickname (accepted, unused), groupTypes []", content_type = "application/json"),
    responses((status = 201, description = "The group"), (status = 400, description = "What is wrong")), security(("bearer" = [])))]
pub async fn post_group(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let changes = group_changes(properties(&headers, &body)?)?;
    let group = groups::create(&state, &caller, changes)
        .await
        .map_err(ApiError::from)?;
    Ok(entity(StatusCode::CREATED, group_json(&group)))
}

/// `GET /{tenant}/v1.0/groups/{id}`.
#[utoipa::path(get, path = "/{tenant}/v1.0/groups/{id}", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The group"), (status = 404, description = "No such group")), security(("bearer" = [])))]
pub async fn get_group(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let group = groups::get(&state, &caller, &id)
        .await
        .map_err(ApiError::from)?;
    Ok(entity(StatusCode::OK, group_json(&group)))
}

/// `PATCH /{tenant}/v1.0/groups/{id}` → 204.
#[utoipa::path(patch, path = "/{tenant}/v1.0/groups/{id}", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "Any of displayName, description (null clears), securityEnabled", content_type = "application/json"),
    responses((status = 204, description = "Changed"), (status = 400, description = "What is wrong"), (status = 404, description = "No such group")), security(("bearer" = [])))]
pub async fn patch_group(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let changes = group_changes(properties(&headers, &body)?)?;
    groups::update(&state, &caller, &id, changes)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /{tenant}/v1.0/groups/{id}` → 204.
#[utoipa::path(delete, path = "/{tenant}/v1.0/groups/{id}", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Deleted, with its memberships, owners and assignments"), (status = 404, description = "No such group")), security(("bearer" = [])))]
pub async fn delete_group(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    groups::delete(&state, &caller, &id)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /{tenant}/v1.0/groups/{id}/members`: direct members, users and groups.
#[utoipa::path(get, path = "/{tenant}/v1.0/groups/{id}/members", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink")),
    responses((status = 200, description = "{ value: [directoryObject with @odata.type #microsoft.graph.user | #microsoft.graph.group] }"), (status = 404, description = "No such group")), security(("bearer" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let (limit, offset) = paging.window()?;
    let objects = members::members(&state, &caller, &id, (limit + 1, offset))
        .await
        .map_err(ApiError::from)?;
    let mut values = Vec::with_capacity(objects.len());
    for object in &objects {
        values.push(object_json(&state, object).await?);
    }
    Ok(super::page(&state, &uri, (limit, offset), values))
}

/// `POST /{tenant}/v1.0/groups/{id}/members/$ref` → 204.
#[utoipa::path(post, path = "/{tenant}/v1.0/groups/{id}/members/$ref", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "{\"@odata.id\": \"{base}/{tenant}/v1.0/directoryObjects/{id}\"} (also …/users/{id}, …/groups/{id}): a user or a group of the tenant", content_type = "application/json"),
    responses((status = 204, description = "Added"), (status = 400, description = "Already a member, a cycle, or nesting deeper than 8 levels"), (status = 404, description = "No such group, user or group to add")), security(("bearer" = [])))]
pub async fn post_member(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let reference = reference(&headers, &body)?;
    members::add_member(&state, &caller, &id, &reference)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /{tenant}/v1.0/groups/{id}/members/{memberId}/$ref` → 204.
#[utoipa::path(delete, path = "/{tenant}/v1.0/groups/{id}/members/{member_id}/$ref", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path), ("member_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not a member")), security(("bearer" = [])))]
pub async fn delete_member(
    State(state): State<AppState>,
    Path((slug, id, member_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    members::remove_member(&state, &caller, &id, &member_id)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /{tenant}/v1.0/groups/{id}/owners`.
#[utoipa::path(get, path = "/{tenant}/v1.0/groups/{id}/owners", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink")),
    responses((status = 200, description = "{ value: [user] }"), (status = 404, description = "No such group")), security(("bearer" = [])))]
pub async fn list_owners(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let (limit, offset) = paging.window()?;
    let owners = members::owners(&state, &caller, &id, (limit + 1, offset))
        .await
        .map_err(ApiError::from)?;
    let mut values = Vec::with_capacity(owners.len());
    for owner in owners {
        values.push(object_json(&state, &DirectoryObject::User(Box::new(owner))).await?);
    }
    Ok(super::page(&state, &uri, (limit, offset), values))
}

/// `POST /{tenant}/v1.0/groups/{id}/owners/$ref` → 204.
#[utoipa::path(post, path = "/{tenant}/v1.0/groups/{id}/owners/$ref", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "{\"@odata.id\": \"{base}/{tenant}/v1.0/directoryObjects/{id}\"}: a user of the tenant", content_type = "application/json"),
    responses((status = 204, description = "Added"), (status = 400, description = "Already an owner, or not a user"), (status = 404, description = "No such group or user")), security(("bearer" = [])))]
pub async fn post_owner(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let reference = reference(&headers, &body)?;
    members::add_owner(&state, &caller, &id, &reference)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /{tenant}/v1.0/groups/{id}/owners/{ownerId}/$ref` → 204.
#[utoipa::path(delete, path = "/{tenant}/v1.0/groups/{id}/owners/{owner_id}/$ref", tag = "groups",
    params(("tenant" = String, Path), ("id" = String, Path), ("owner_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not an owner")), security(("bearer" = [])))]
pub async fn delete_owner(
    State(state): State<AppState>,
    Path((slug, id, owner_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    members::remove_owner(&state, &caller, &id, &owner_id)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
