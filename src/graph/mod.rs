//! The admin API, shaped like Microsoft Graph v1.0 so that people who know Entra feel at home:
//! `{public_url}/{tenant}/v1.0/…`, camelCase JSON, collections as `{"value": [...]}`, errors as
//! `{"error": {"code", "message"}}`. Callers authenticate with access tokens Gatehouse issued
//! ([`auth`]). The OpenAPI document is served at `/openapi.json`.

pub mod applications;
pub mod assignments;
pub mod audit;
pub mod auth;
pub mod branding;
pub mod groups;
pub mod held;
pub mod invitations;
pub mod methods;
pub mod openapi;
pub mod partners;
pub mod policies;
pub mod settings;
pub mod signins;
pub mod users;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::services::AppState;
use crate::web::error::AppError;

pub use crate::web::graph_error::ApiError;

/// An error of the directory operations the CLI shares, in Graph's envelope (through the one
/// mapping of `services::Error` to [`ApiError`]).
pub(crate) fn admin_error(error: crate::services::admin::AdminError) -> AppError {
    ApiError::from(crate::services::Error::from(error)).into()
}

/// The tenant of an admin-API URL; an unknown one is a Graph-style 404.
pub async fn tenant(
    state: &AppState,
    slug: &str,
) -> Result<std::sync::Arc<crate::domain::tenant::Tenant>, AppError> {
    Ok(state
        .directory
        .tenant(slug)
        .await?
        .ok_or_else(|| ApiError::not_found("there is no tenant at this address"))?)
}

/// A user of the caller's tenant by object id; an unknown one is a Graph-style 404.
pub async fn user(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<crate::domain::user::User, AppError> {
    crate::services::admin::lifecycle::user(state, tenant_id, id)
        .await
        .map_err(|e| ApiError::from(e).into())
}

/// The query of a collection: `$top`, the opaque `$skiptoken` of an `@odata.nextLink` (or a
/// plain `$skip`), and `$filter` for the endpoints that support one (B2B-REFERENCE.md B.10).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Paging {
    #[serde(rename = "$top")]
    top: Option<String>,
    #[serde(rename = "$skip")]
    skip: Option<String>,
    #[serde(rename = "$skiptoken")]
    skiptoken: Option<String>,
    /// `$filter`, for the endpoints that support one.
    #[serde(rename = "$filter")]
    pub filter: Option<String>,
}

/// Graph's default page size, and its largest.
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 999;

/// The `$skiptoken` of the page that starts at `offset`: opaque to clients (they follow
/// `@odata.nextLink` unchanged), versioned so its meaning can change.
fn skiptoken(offset: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{offset}"))
}

fn offset_of(token: &str) -> Option<i64> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let offset: i64 = std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("v1:")?
        .parse()
        .ok()?;
    (offset >= 0).then_some(offset)
}

impl Paging {
    /// (page size, offset): `$top` between 1 and 999 (100 when absent), the offset from the
    /// `$skiptoken` (or `$skip`). A malformed value is a 400, never a silent default.
    pub fn window(&self) -> Result<(i64, i64), ApiError> {
        let top = match self.top.as_deref() {
            None => DEFAULT_PAGE,
            Some(top) => match top.parse::<i64>() {
                Ok(top) if (1..=MAX_PAGE).contains(&top) => top,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "$top must be a whole number from 1 to {MAX_PAGE}"
                    )));
                }
            },
        };
        let offset = match (self.skiptoken.as_deref(), self.skip.as_deref()) {
            (Some(token), _) => offset_of(token)
                .ok_or_else(|| ApiError::bad_request("$skiptoken is not one this API issued"))?,
            (None, Some(skip)) => skip
                .parse::<i64>()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| ApiError::bad_request("$skip must be a whole number"))?,
            (None, None) => 0,
        };
        Ok((top, offset))
    }
}

/// One page of a collection, in Graph's shape: `value`, and `@odata.nextLink` whenever more
/// items exist — a list never ends silently. `values` holds what the store returned for a
/// window of `limit + 1` from `offset` (the extra item only says that more exist); `uri` is
/// the request's, whose query the next link repeats with a new `$skiptoken`.
pub fn page(
    state: &AppState,
    uri: &axum::http::Uri,
    (limit, offset): (i64, i64),
    mut values: Vec<Value>,
) -> Response {
    let more = values.len() as i64 > limit;
    values.truncate(limit.max(0) as usize);
    let path = uri.path();
    let mut body = json!({
        "@odata.context": format!("{}{path}/$metadata", state.config.base_url()),
        "value": values,
    });
    if more {
        // The client's own query, as it wrote it, with a new `$skiptoken` (base64url, so
        // it needs no escaping): `$` stays `$`, as in Graph's links.
        let mut query: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let name = pair.split('=').next().unwrap_or("");
                let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
                name != "$skiptoken" && name != "$skip"
            })
            .collect();
        let token = format!("$skiptoken={}", skiptoken(offset + limit));
        query.push(&token);
        let query = query.join("&");
        body["@odata.nextLink"] = json!(format!("{}{path}?{query}", state.config.base_url()));
    }
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// One page of a collection held in memory whole (a tenant's policies, partners, methods).
pub fn page_of_all(
    state: &AppState,
    uri: &axum::http::Uri,
    paging: &Paging,
    all: Vec<Value>,
) -> Result<Response, ApiError> {
    let (limit, offset) = paging.window()?;
    let values = all
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize + 1)
        .collect();
    Ok(page(state, uri, (limit, offset), values))
}

/// A JSON entity response.
pub fn entity(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(value),
    )
        .into_response()
}

/// Reads a JSON body; the wrong content type or malformed JSON is a 400 that says why.
pub fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(ApiError::bad_request("the body must be application/json"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the JSON body is not valid: {e}")))
}

pub use crate::domain::date_time;

/// Admin-API routes.
pub fn router() -> Router<AppState> {
    api().0
}

/// The admin API's routes and its OpenAPI document, built together from the handlers'
/// `#[utoipa::path]` annotations (each `routes!` registers a path in both).
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    let router = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::AdminApi::openapi());
    let router = directory_routes(guest_routes(router));
    access_routes(policy_routes(router))
        .route("/openapi.json", get(openapi::get_openapi))
        .split_for_parts()
}

/// Graph's routes with their OpenAPI paths.
type ApiRouter = utoipa_axum::router::OpenApiRouter<AppState>;

/// Invitations, held redemptions and the collaboration settings.
fn guest_routes(router: ApiRouter) -> ApiRouter {
    use utoipa_axum::routes;
    router
        .routes(routes!(
            invitations::post_invitation,
            invitations::list_invitations
        ))
        .routes(routes!(invitations::post_bulk))
        .routes(routes!(invitations::get_invitation))
        .routes(routes!(invitations::post_resend))
        .routes(routes!(invitations::post_revoke))
        .routes(routes!(held::list_held))
        .routes(routes!(held::get_held))
        .routes(routes!(held::post_approve))
        .routes(routes!(held::post_deny))
        .routes(routes!(settings::get_settings, settings::patch_settings))
        .routes(routes!(settings::get_redemption_route))
}

/// Users, groups and their members and owners.
fn directory_routes(router: ApiRouter) -> ApiRouter {
    use utoipa_axum::routes;
    router
        .routes(routes!(users::list_users))
        .routes(routes!(
            users::get_user,
            users::patch_user,
            users::delete_user
        ))
        .routes(routes!(users::post_revoke_sessions))
        .routes(routes!(users::post_convert))
        .routes(routes!(users::list_member_of))
        .routes(routes!(users::list_transitive_member_of))
        .routes(routes!(groups::list_groups, groups::post_group))
        .routes(routes!(
            groups::get_group,
            groups::patch_group,
            groups::delete_group
        ))
        .routes(routes!(groups::list_members))
        .routes(routes!(groups::post_member))
        .routes(routes!(groups::delete_member))
        .routes(routes!(groups::list_owners))
        .routes(routes!(groups::post_owner))
        .routes(routes!(groups::delete_owner))
        .routes(routes!(methods::list_methods))
        .routes(routes!(methods::delete_totp_method))
}

/// Logs, conditional-access policies, partners and branding.
fn policy_routes(router: ApiRouter) -> ApiRouter {
    use utoipa_axum::routes;
    router
        .routes(routes!(audit::list_directory_audits))
        // Graph's collection itself, an alias of its directoryAudits.
        .route(
            "/{tenant}/v1.0/auditLogs",
            get(audit::list_directory_audits),
        )
        .routes(routes!(signins::list_sign_ins))
        .routes(routes!(policies::list_policies, policies::post_policy))
        .routes(routes!(
            policies::get_policy,
            policies::patch_policy,
            policies::delete_policy
        ))
        .routes(routes!(partners::list_partners, partners::post_partner))
        .routes(routes!(partners::delete_partner, partners::patch_partner))
        .routes(routes!(branding::get_branding, branding::patch_branding))
        .routes(routes!(branding::put_logo, branding::delete_logo))
}

/// Applications, their secrets, and app-role assignments.
fn access_routes(router: ApiRouter) -> ApiRouter {
    use utoipa_axum::routes;
    router
        .routes(routes!(applications::list_applications))
        .routes(routes!(
            applications::get_application,
            applications::patch_application,
            applications::delete_application
        ))
        // Graph's alternate key, `applications(appId='…')`: one whole segment.
        .route(
            "/{tenant}/v1.0/{alternate_key}",
            get(applications::get_application_by_app_id)
                .patch(applications::patch_application_by_app_id)
                .delete(applications::delete_application_by_app_id),
        )
        .routes(routes!(applications::add_password))
        .routes(routes!(applications::remove_password))
        .routes(routes!(applications::refresh_saml_metadata))
        .routes(routes!(
            assignments::list_user_assignments,
            assignments::post_user_assignment
        ))
        .routes(routes!(assignments::delete_user_assignment))
        .routes(routes!(
            assignments::list_group_assignments,
            assignments::post_group_assignment
        ))
        .routes(routes!(assignments::delete_group_assignment))
        .routes(routes!(
            assignments::list_assigned_to,
            assignments::post_assigned_to
        ))
        .routes(routes!(assignments::delete_assigned_to))
}
