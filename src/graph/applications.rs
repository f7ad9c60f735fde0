//! `/{tenant}/v1.0/applications`: list, read, change (PATCH) and delete applications, add and
//! remove their client secrets (`addPassword`, `removePassword`) and refresh an SP's SAML
//! metadata. The representation and the rules are the services tier's
//! ([`crate::services::admin::apps`]); this door reads the request, names the app and answers
//! in Graph's shape.
//!
//! Departure from Graph: Gatehouse has no separate servicePrincipal object. The properties
//! Entra keeps on the service principal (`appRoleAssignmentRequired`, `accountEnabled`) and the
//! OIDC registration fields Graph has no names for (`postLogoutRedirectUris`,
//! `backchannelLogoutUri`, `grantTypes`, `idTokenSignedResponseAlg`, `jwks`, `jwksUri`, token
//! lifetimes, `saml`) are top-level properties of the application.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{Caller, authenticate};
use super::{ApiError, Paging, entity, read_json};
use crate::services::AppState;
use crate::services::admin::apps::credentials::{self, NewPassword};
use crate::services::admin::apps::manage::{self, Access, AppKey};
use crate::services::admin::apps::shape::{application_json, password_credential};
use crate::web::error::AppError;

const APPLICATION: &str = "The Graph application: id, appId, displayName, createdDateTime, signInAudience, \
    isFallbackPublicClient, accountEnabled, web {redirectUris, homePageUrl, logoutUrl}, info {logoUrl}, appRoles, \
    groupMembershipClaims, optionalClaims, passwordCredentials (never the secret), appRoleAssignmentRequired, \
    postLogoutRedirectUris, backchannelLogoutUri, backchannelLogoutSessionRequired, frontchannelLogoutSessionRequired, \
    grantTypes, idTokenSignedResponseAlg, jwks, jwksUri, accessTokenLifetimeSeconds, idTokenLifetimeSeconds, \
    saml {entityId, acsUrls, sloUrl, nameIdFormat, signResponse, authnRequestsSigned, metadataUrl, certificates}. \
    Gatehouse has no servicePrincipal: appRoleAssignmentRequired, accountEnabled and the OIDC registration fields \
    are properties of the application.";

async fn caller(state: &AppState, slug: &str, headers: &HeaderMap) -> Result<Caller, AppError> {
    let tenant = super::tenant(state, slug).await?;
    authenticate(state, tenant, headers).await
}

fn failed(error: crate::services::Error) -> AppError {
    ApiError::from(error).into()
}

/// `GET /{tenant}/v1.0/applications`.
#[utoipa::path(get, path = "/{tenant}/v1.0/applications", tag = "applications",
    params(("tenant" = String, Path),
    ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [application], @odata.nextLink while more exist } (Application.Read.All)")),
    security(("bearer" = [])))]
pub async fn list_applications(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    OriginalUri(uri): OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    if paging.filter.is_some() {
        return Err(ApiError::bad_request("$filter is not supported on applications").into());
    }
    let (limit, offset) = paging.window()?;
    let apps = manage::list(state.store.as_ref(), &caller, limit + 1, offset)
        .await
        .map_err(failed)?;
    let values = apps.iter().map(application_json).collect();
    Ok(super::page(&state, &uri, (limit, offset), values))
}

async fn read(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    key: AppKey<'_>,
) -> Result<Response, AppError> {
    let caller = caller(state, slug, headers).await?;
    let app = manage::find(state.store.as_ref(), &caller, key, Access::Read)
        .await
        .map_err(failed)?;
    Ok(entity(StatusCode::OK, application_json(&app)))
}

async fn patch(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    body: &[u8],
    key: AppKey<'_>,
) -> Result<Response, AppError> {
    let caller = caller(state, slug, headers).await?;
    let patch: Value = read_json(headers, body)?;
    manage::update(state.store.as_ref(), &caller, key, &patch)
        .await
        .map_err(failed)?;
    state.directory.invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    key: AppKey<'_>,
) -> Result<Response, AppError> {
    let caller = caller(state, slug, headers).await?;
    manage::delete(state.store.as_ref(), &caller, key)
        .await
        .map_err(failed)?;
    state.directory.invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /{tenant}/v1.0/applications/{id}`.
#[utoipa::path(get, path = "/{tenant}/v1.0/applications/{id}", tag = "applications",
    params(("tenant" = String, Path), ("id" = String, Path, description = "the application's object id; `/applications(appId='{client_id}')` names it by client id (GET, PATCH, DELETE)")),
    responses((status = 200, description = APPLICATION), (status = 404, description = "No such application")),
    security(("bearer" = [])))]
pub async fn get_application(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    read(&state, &slug, &headers, AppKey::Id(&id)).await
}

/// `PATCH /{tenant}/v1.0/applications/{id}` → 204.
#[utoipa::path(patch, path = "/{tenant}/v1.0/applications/{id}", tag = "applications",
    params(("tenant" = String, Path), ("id" = String, Path, description = "the application's object id")),
    request_body(content = String, description = "Any subset of the writable properties of the application (all but id, appId, createdDateTime, isFallbackPublicClient, passwordCredentials); the whole result is checked as at creation. An unknown property, a read-only one or a wrong type is a 400 that names it.", content_type = "application/json"),
    responses((status = 204, description = "Changed; every node sees it at once"), (status = 400, description = "What is wrong"),
    (status = 404, description = "No such application"), (status = 409, description = "The SAML entity id is another app's")),
    security(("bearer" = [])))]
pub async fn patch_application(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    patch(&state, &slug, &headers, &body, AppKey::Id(&id)).await
}

/// `DELETE /{tenant}/v1.0/applications/{id}` → 204: the app goes with its secrets, SAML side
/// and assignments; its grants are revoked (refresh tokens and access tokens stop working).
#[utoipa::path(delete, path = "/{tenant}/v1.0/applications/{id}", tag = "applications",
    params(("tenant" = String, Path), ("id" = String, Path, description = "the application's object id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such application")),
    security(("bearer" = [])))]
pub async fn delete_application(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    delete(&state, &slug, &headers, AppKey::Id(&id)).await
}

/// The client id of Graph's alternate key, `applications(appId='{client_id}')`; any other
/// segment is not an application.
fn app_id_of(segment: &str) -> Result<&str, ApiError> {
    segment
        .strip_prefix("applications(appId='")
        .and_then(|rest| rest.strip_suffix("')"))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::not_found("there is no such resource"))
}

/// `GET /{tenant}/v1.0/applications(appId='{client_id}')`: an application by its client id
/// (Graph's alternate key; an alias of `GET /applications/{id}`, routed on the whole segment).
pub async fn get_application_by_app_id(
    State(state): State<AppState>,
    Path((slug, segment)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    read(
        &state,
        &slug,
        &headers,
        AppKey::ClientId(app_id_of(&segment)?),
    )
    .await
}

/// `PATCH /{tenant}/v1.0/applications(appId='{client_id}')` → 204.
pub async fn patch_application_by_app_id(
    State(state): State<AppState>,
    Path((slug, segment)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let key = AppKey::ClientId(app_id_of(&segment)?);
    patch(&state, &slug, &headers, &body, key).await
}

/// `DELETE /{tenant}/v1.0/applications(appId='{client_id}')` → 204.
pub async fn delete_application_by_app_id(
    State(state): State<AppState>,
    Path((slug, segment)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    delete(
        &state,
        &slug,
        &headers,
        AppKey::ClientId(app_id_of(&segment)?),
    )
    .await
}

/// `POST /{tenant}/v1.0/applications/{id}/addPassword` → 200 with the new
/// `passwordCredential`, its `secretText` shown this once.
#[utoipa::path(post, path = "/{tenant}/v1.0/applications/{id}/addPassword", tag = "applications",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "{\"passwordCredential\": {\"displayName\", \"endDateTime\" (RFC 3339; default and most: two years)}}", content_type = "application/json"),
    responses((status = 200, description = "{keyId, displayName, hint, startDateTime, endDateTime, secretText}: the secret is shown once and only its SHA-256 is kept"),
    (status = 400, description = "What is wrong (a public client, an end in the past or beyond two years)"), (status = 404, description = "No such application")),
    security(("bearer" = [])))]
pub async fn add_password(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        read_json(&headers, &body)?
    };
    let input = new_password(&request)?;
    let (_, secret, text) =
        credentials::add_password(state.store.as_ref(), &caller, AppKey::Id(&id), input)
            .await
            .map_err(failed)?;
    state.directory.invalidate();
    let mut body = password_credential(&secret);
    body["secretText"] = json!(text);
    Ok(entity(StatusCode::OK, body))
}

/// The `passwordCredential` of an `addPassword` body.
fn new_password(request: &Value) -> Result<NewPassword, ApiError> {
    let Some(fields) = request.as_object() else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    if let Some(key) = fields.keys().find(|k| *k != "passwordCredential") {
        return Err(ApiError::bad_request(format!(
            "addPassword has no property {key}; expected passwordCredential"
        )));
    }
    let credential = match fields.get("passwordCredential") {
        None | Some(Value::Null) => return Ok(NewPassword::default()),
        Some(Value::Object(credential)) => credential,
        Some(_) => {
            return Err(ApiError::bad_request(
                "property passwordCredential must be an object",
            ));
        }
    };
    let mut input = NewPassword::default();
    for (key, value) in credential {
        let text = match value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "property passwordCredential.{key} must be a string"
                )));
            }
        };
        match key.as_str() {
            "displayName" => input.display_name = text,
            "endDateTime" => input.end_date_time = text,
            "secretText" | "keyId" | "hint" | "startDateTime" if text.is_none() => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "passwordCredential.{other} cannot be set; give displayName and endDateTime"
                )));
            }
        }
    }
    Ok(input)
}

/// `POST /{tenant}/v1.0/applications/{id}/removePassword` → 204.
#[utoipa::path(post, path = "/{tenant}/v1.0/applications/{id}/removePassword", tag = "applications",
    params(("tenant" = String, Path), ("id" = String, Path)),
    request_body(content = String, description = "{\"keyId\"}", content_type = "application/json"),
    responses((status = 204, description = "Removed: the secret no longer authenticates"), (status = 400, description = "No keyId"),
    (status = 404, description = "No such application or secret")),
    security(("bearer" = [])))]
pub async fn remove_password(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let request: Value = read_json(&headers, &body)?;
    let key_id = request
        .as_object()
        .filter(|fields| fields.keys().all(|k| k == "keyId"))
        .and_then(|fields| fields.get("keyId"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("the body must be {\"keyId\": \"…\"}"))?;
    credentials::remove_password(state.store.as_ref(), &caller, AppKey::Id(&id), key_id)
        .await
        .map_err(failed)?;
    state.directory.invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /{tenant}/v1.0/applications/{id}/refreshSamlMetadata` → 200 with the application:
/// the SP's metadata is read again from `saml.metadataUrl` (through the guarded upstream
/// client) and its entity id, endpoints and certificates replace the stored ones.
#[utoipa::path(post, path = "/{tenant}/v1.0/applications/{id}/refreshSamlMetadata", tag = "applications",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = APPLICATION), (status = 400, description = "No metadata URL, or the metadata cannot be fetched or used"),
    (status = 404, description = "No such application")),
    security(("bearer" = [])))]
pub async fn refresh_saml_metadata(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let app = manage::refresh_saml_metadata(
        state.store.as_ref(),
        &state.federation,
        &caller,
        AppKey::Id(&id),
    )
    .await
    .map_err(failed)?;
    state.directory.invalidate();
    Ok(entity(StatusCode::OK, application_json(&app)))
}
