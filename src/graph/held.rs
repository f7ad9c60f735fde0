//! `/{tenant}/v1.0/heldRedemptions`: redemptions held because the guest's home IdP did not
//! assert the invited address as verified (tenant setting `unverifiedAddressRedemption:
//! holdForApproval`). Administrators list them (`User.Read.All`, `User.ReadWrite.All` or
//! `User.Invite.All`) and approve or deny them (`User.ReadWrite.All`). Approving binds the
//! home identity (issuer, subject) to the invited guest and redeems the invitation; both
//! decisions are audited.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::auth::authenticate;
use super::{ApiError, Paging, date_time, entity};
use crate::domain::invitation::{HeldRedemption, HeldStatus};
use crate::domain::permission::{USER_INVITE_ALL, USER_READ_ALL, USER_READWRITE_ALL};
use crate::services::AppState;
use crate::store::{Decision, StoreError};
use crate::web::error::AppError;

/// The Graph-style JSON of a held redemption.
fn to_json(held: &HeldRedemption) -> Value {
    let mut value = serde_json::to_value(held).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("createdDateTime".into(), date_time(held.created_at).into());
        object.insert(
            "decidedDateTime".into(),
            held.decided_at.map(date_time).into(),
        );
        object.remove("createdAt");
        object.remove("decidedAt");
    }
    value
}

/// `$filter=status eq '<status>'`, the one filter supported.
fn parse_filter(filter: &str) -> Result<HeldStatus, ApiError> {
    filter
        .trim()
        .strip_prefix("status eq '")
        .and_then(|rest| rest.strip_suffix('\''))
        .and_then(|status| HeldStatus::parse(status).ok())
        .ok_or_else(|| {
            ApiError::bad_request("supported filter: status eq '<pending|approved|denied|closed>'")
        })
}

/// `GET …/heldRedemptions`, newest first; `$filter=status eq 'pending'` narrows it.
#[utoipa::path(get, path = "/{tenant}/v1.0/heldRedemptions", tag = "invitations",
    params(("tenant" = String, Path), ("$filter" = Option<String>, Query, description = "status eq 'pending|approved|denied|closed'"), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [..], @odata.nextLink while more exist }: [heldRedemption] }, newest first: redemptions whose home IdP did not assert the invited address as verified, held when the tenant's unverifiedAddressRedemption is holdForApproval")),
    security(("bearer" = [])))]
pub async fn list_held(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    if !caller.holds(USER_READ_ALL) && !caller.holds(USER_READWRITE_ALL) {
        caller.require(USER_INVITE_ALL).map_err(ApiError::from)?;
    }
    let status = match paging.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(filter) => Some(parse_filter(filter)?),
    };
    let window = paging.window()?;
    let held = state
        .store
        .held_redemptions(&caller.tenant.id, status, window.0 + 1, window.1)
        .await?;
    Ok(super::page(
        &state,
        &uri,
        window,
        held.iter().map(to_json).collect(),
    ))
}

/// `GET …/heldRedemptions/{id}`.
#[utoipa::path(get, path = "/{tenant}/v1.0/heldRedemptions/{id}", tag = "invitations",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = crate::domain::invitation::HeldRedemption, description = "The request"), (status = 404, description = "No such request")),
    security(("bearer" = [])))]
pub async fn get_held(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    if !caller.holds(USER_READ_ALL) && !caller.holds(USER_READWRITE_ALL) {
        caller.require(USER_INVITE_ALL).map_err(ApiError::from)?;
    }
    match state.store.held_redemption(&caller.tenant.id, &id).await {
        Ok(held) => Ok(entity(StatusCode::OK, to_json(&held))),
        Err(StoreError::NotFound) => {
            Err(ApiError::not_found(format!("there is no held redemption {id}")).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST …/heldRedemptions/{id}/approve`.
#[utoipa::path(post, path = "/{tenant}/v1.0/heldRedemptions/{id}/approve", tag = "invitations",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = crate::domain::invitation::HeldRedemption, description = "Approved: the home identity is bound to the guest and the invitation redeemed"),
    (status = 409, description = "Already decided, the invitation is no longer pending (the request is then closed), or the identity is bound to another user")),
    security(("bearer" = [])))]
pub async fn post_approve(
    state: State<AppState>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    decide(state, path, headers, Decision::Approve).await
}

/// `POST …/heldRedemptions/{id}/deny`.
#[utoipa::path(post, path = "/{tenant}/v1.0/heldRedemptions/{id}/deny", tag = "invitations",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = crate::domain::invitation::HeldRedemption, description = "Denied: nothing is bound; the same identity is refused for this invitation from now on"),
    (status = 409, description = "Already decided")),
    security(("bearer" = [])))]
pub async fn post_deny(
    state: State<AppState>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    decide(state, path, headers, Decision::Deny).await
}

async fn decide(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    decision: Decision,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller.require(USER_READWRITE_ALL).map_err(ApiError::from)?;
    let held = crate::services::admin::lifecycle::decide_held(&state, &caller, &id, decision)
        .await
        .map_err(ApiError::from)?;
    Ok(entity(StatusCode::OK, to_json(&held)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_status_filter_is_understood() {
        assert_eq!(
            parse_filter("status eq 'pending'").unwrap(),
            HeldStatus::Pending
        );
        assert_eq!(
            parse_filter(" status eq 'denied' ").unwrap(),
            HeldStatus::Denied
        );
        for bad in ["status eq 'nope'", "userId eq 'x'", "status eq pending", ""] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}
