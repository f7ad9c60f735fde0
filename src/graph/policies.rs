//! `/{tenant}/v1.0/identity/conditionalAccess/policies`: conditional-access policies in
//! Graph's `conditionalAccessPolicy` shape. Reading needs `Policy.Read.All` (or the write
//! permission), changing needs `Policy.ReadWrite.ConditionalAccess`. A change applies to the
//! next token issued.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::{Caller, authenticate};
use super::{ApiError, entity, read_json};
use crate::domain::permission::{POLICY_READ_ALL, POLICY_READWRITE};
use crate::domain::policy::{Conditions, GrantControls, Policy, PolicyState, strip_unenforced};
use crate::services::AppState;
use crate::services::admin::policies::{self, PolicyInput};
use crate::store::StoreError;
use crate::web::error::AppError;

/// The body of a POST (all fields) or a PATCH (any of them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyBody {
    display_name: Option<String>,
    state: Option<String>,
    conditions: Option<Conditions>,
    grant_controls: Option<GrantControls>,
    // Read-only properties a client may echo back from a GET.
    #[serde(default, rename = "id")]
    _id: Option<String>,
    #[serde(default, rename = "createdDateTime")]
    _created: Option<String>,
    #[serde(default, rename = "modifiedDateTime")]
    _modified: Option<String>,
}

/// Reads a policy body: Graph's annotations and the properties that restrict nothing are
/// accepted and dropped ([`strip_unenforced`]); the rest is parsed strictly.
fn policy_body(headers: &HeaderMap, body: &[u8]) -> Result<PolicyBody, ApiError> {
    let mut value: serde_json::Value = read_json(headers, body)?;
    strip_unenforced(&mut value).map_err(ApiError::from)?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("the policy is not valid: {e}")))
}

async fn reader(state: &AppState, slug: &str, headers: &HeaderMap) -> Result<Caller, AppError> {
    let tenant = super::tenant(state, slug).await?;
    let caller = authenticate(state, tenant, headers).await?;
    if !caller.holds(POLICY_READ_ALL) {
        caller.require(POLICY_READWRITE).map_err(ApiError::from)?;
    }
    Ok(caller)
}

async fn writer(state: &AppState, slug: &str, headers: &HeaderMap) -> Result<Caller, AppError> {
    let tenant = super::tenant(state, slug).await?;
    let caller = authenticate(state, tenant, headers).await?;
    caller.require(POLICY_READWRITE).map_err(ApiError::from)?;
    Ok(caller)
}

fn parse_state(state: Option<&str>) -> Result<Option<PolicyState>, ApiError> {
    state
        .map(|s| match s {
            "enabled" | "disabled" | "enabledForReportingButNotEnforced" => {
                PolicyState::parse(s).map_err(ApiError::from)
            }
            other => Err(ApiError::bad_request(format!(
                "unknown state {other:?}; expected enabled, disabled or enabledForReportingButNotEnforced"
            ))),
        })
        .transpose()
}

async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<Policy, AppError> {
    match state.store.policy(&caller.tenant.id, id).await {
        Ok(policy) => Ok(policy),
        Err(StoreError::NotFound) => Err(ApiError::not_found("no such policy").into()),
        Err(e) => Err(e.into()),
    }
}

/// `GET …/identity/conditionalAccess/policies`.
#[utoipa::path(get, path = "/{tenant}/v1.0/identity/conditionalAccess/policies", tag = "conditionalAccess",
    params(("tenant" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [..], @odata.nextLink while more exist }: [conditionalAccessPolicy] }")), security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    axum::extract::Query(paging): axum::extract::Query<super::Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = reader(&state, &slug, &headers).await?;
    let policies = state.store.policies(&caller.tenant.id).await?;
    let values = policies.iter().map(Policy::to_graph).collect();
    Ok(super::page_of_all(&state, &uri, &paging, values)?)
}

/// `POST …/identity/conditionalAccess/policies` → 201 with the policy.
#[utoipa::path(post, path = "/{tenant}/v1.0/identity/conditionalAccess/policies", tag = "conditionalAccess",
    params(("tenant" = String, Path)),
    request_body(content = String, description = "conditionalAccessPolicy: displayName, state (enabled | disabled | enabledForReportingButNotEnforced), conditions.users (includeUsers: All | None | GuestsOrExternalUsers | Members | ids; excludeUsers; includeGroups; excludeGroups), conditions.applications (includeApplications: All | None | appIds; excludeApplications), grantControls.builtInControls (mfa | block)", content_type = "application/json"),
    responses((status = 201, description = "The policy"), (status = 400, description = "What is wrong with it")),
    security(("bearer" = [])))]
pub async fn post_policy(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = writer(&state, &slug, &headers).await?;
    let body = policy_body(&headers, &body)?;
    let missing = |field: &str| ApiError::bad_request(format!("{field} is required"));
    let input = PolicyInput {
        display_name: body.display_name.ok_or_else(|| missing("displayName"))?,
        state: parse_state(body.state.as_deref())?.ok_or_else(|| missing("state"))?,
        conditions: body.conditions.ok_or_else(|| missing("conditions"))?,
        grant: body
            .grant_controls
            .ok_or_else(|| missing("grantControls"))?,
    };
    let policy =
        policies::create_policy(state.store.as_ref(), &caller.tenant, input, caller.party())
            .await
            .map_err(super::admin_error)?;
    state.directory.invalidate();
    Ok(entity(StatusCode::CREATED, policy.to_graph()))
}

/// `GET …/identity/conditionalAccess/policies/{id}`.
#[utoipa::path(get, path = "/{tenant}/v1.0/identity/conditionalAccess/policies/{id}", tag = "conditionalAccess",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The policy"), (status = 404, description = "No such policy")),
    security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = reader(&state, &slug, &headers).await?;
    Ok(entity(
        StatusCode::OK,
        load(&state, &caller, &id).await?.to_graph(),
    ))
}

/// `PATCH …/identity/conditionalAccess/policies/{id}` → 204; the fields given replace the
/// current ones (`conditions` and `grantControls` as wholes).
#[utoipa::path(patch, path = "/{tenant}/v1.0/identity/conditionalAccess/policies/{id}", tag = "conditionalAccess",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "Any of displayName, state, conditions, grantControls", content_type = "application/json"),
    responses((status = 204, description = "Changed; applies to the next token issued"), (status = 400, description = "What is wrong")),
    security(("bearer" = [])))]
pub async fn patch_policy(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = writer(&state, &slug, &headers).await?;
    let body = policy_body(&headers, &body)?;
    let mut policy = load(&state, &caller, &id).await?;
    if let Some(name) = body.display_name {
        policy.display_name = name;
    }
    if let Some(new_state) = parse_state(body.state.as_deref())? {
        policy.state = new_state;
    }
    if let Some(conditions) = body.conditions {
        policy.conditions = conditions;
    }
    if let Some(grant) = body.grant_controls {
        policy.grant = grant;
    }
    policies::update_policy(state.store.as_ref(), &caller.tenant, policy, caller.party())
        .await
        .map_err(super::admin_error)?;
    state.directory.invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE …/identity/conditionalAccess/policies/{id}` → 204.
#[utoipa::path(delete, path = "/{tenant}/v1.0/identity/conditionalAccess/policies/{id}", tag = "conditionalAccess",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such policy")),
    security(("bearer" = [])))]
pub async fn delete_policy(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = writer(&state, &slug, &headers).await?;
    policies::delete_policy(state.store.as_ref(), &caller.tenant, &id, caller.party())
        .await
        .map_err(super::admin_error)?;
    state.directory.invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}
