//! `/{tenant}/v1.0/policies/externalCollaboration`: who may invite, domain allow/deny lists,
//! invitation lifetime, privacy statement, redemption order.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::auth::authenticate;
use super::{ApiError, entity, read_json};
use crate::domain::permission::{POLICY_READ_ALL, POLICY_READWRITE_AUTHORIZATION};
use crate::services::AppState;
use crate::web::error::AppError;

/// `GET …/policies/externalCollaboration`.
#[utoipa::path(get, path = "/{tenant}/v1.0/policies/externalCollaboration", tag = "policies",
    params(("tenant" = String, Path)), responses((status = 200, body = crate::domain::tenant::TenantSettings, description = "The settings")), security(("bearer" = [])))]
pub async fn get_settings(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    if !caller.holds(POLICY_READ_ALL) {
        caller
            .require(POLICY_READWRITE_AUTHORIZATION)
            .map_err(ApiError::from)?;
    }
    let settings = state.store.tenant_by_id(&caller.tenant.id).await?.settings;
    Ok(entity(
        StatusCode::OK,
        serde_json::to_value(settings).unwrap_or_default(),
    ))
}

/// `PATCH …/policies/externalCollaboration`: the fields given replace the current ones.
#[utoipa::path(patch, path = "/{tenant}/v1.0/policies/externalCollaboration", tag = "policies",
    params(("tenant" = String, Path)), request_body = crate::domain::tenant::TenantSettings, description = "The settings",
    responses((status = 200, body = crate::domain::tenant::TenantSettings, description = "The settings"), (status = 400, description = "Invalid settings")),
    security(("bearer" = [])))]
pub async fn patch_settings(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller
        .require(POLICY_READWRITE_AUTHORIZATION)
        .map_err(ApiError::from)?;
    let patch: Value = read_json(&headers, &body)?;
    if !patch.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object").into());
    }
    let settings =
        crate::services::admin::lifecycle::update_collaboration_settings(&state, &caller, patch)
            .await
            .map_err(ApiError::from)?;
    Ok(entity(
        StatusCode::OK,
        serde_json::to_value(settings).unwrap_or_default(),
    ))
}

/// The query of the redemption dry run.
#[derive(Debug, serde::Deserialize)]
pub struct RouteQuery {
    address: Option<String>,
}

/// `GET …/policies/externalCollaboration/redemptionRoute?address=…`: which redemption route
/// an invitation to `address` would take, and why (every route of the order as considered).
/// Needs `User.Invite.All` or `Policy.Read.All`.
#[utoipa::path(get, path = "/{tenant}/v1.0/policies/externalCollaboration/redemptionRoute", tag = "policies",
    params(("tenant" = String, Path), ("address" = String, Query, description = "the address an invitation would go to")),
    responses((status = 200, description = "{ address, route, reason, homeTenant, considered: [{ route, applies, reason }] }"),
    (status = 400, description = "Not a valid address")),
    security(("bearer" = [])))]
pub async fn get_redemption_route(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::Query(query): axum::extract::Query<RouteQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    if !caller.holds(POLICY_READ_ALL) {
        caller
            .require(crate::domain::permission::USER_INVITE_ALL)
            .map_err(ApiError::from)?;
    }
    let address = crate::domain::email::EmailAddress::parse(query.address.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("address: {e}")))?;
    let routed =
        crate::services::signin::route::route_for(&state, &caller.tenant, &address.to_string())
            .await?;
    let (route, considered, home) = (routed.route, routed.considered, routed.home);
    Ok(entity(
        StatusCode::OK,
        serde_json::json!({
            "address": address.to_string(),
            "route": route.as_str(),
            "reason": considered.iter().find(|c| c.route == route).map(|c| c.reason.clone()),
            "homeTenant": home.map(|h| serde_json::json!({
                "id": h.id, "slug": h.slug, "displayName": h.name,
                "issuer": state.issuer(&h.slug),
            })),
            "partner": routed.partner.map(|p| serde_json::json!({
                "id": p.id, "displayName": p.display_name, "issuer": p.issuer,
            })),
            "considered": considered,
        }),
    ))
}
