//! `/{tenant}/v1.0/organization/branding`: the organisation's face on its pages and mail
//! (Graph's `organizationalBranding`, reduced): `accentColor` (`#rrggbb`, Gatehouse's own
//! property; Graph has none) and the banner logo, uploaded with
//! `PUT …/organization/branding/bannerLogo` (a PNG or JPEG body, as Graph's stream property)
//! and removed with `DELETE`. Every change is audited; the public copies are served at
//! `/{tenant}/branding/logo` and `/{tenant}/branding/theme.css` by [`public_logo`] and
//! [`public_theme`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::authenticate;
use super::{ApiError, entity, read_json};
use crate::domain::branding::Branding;
use crate::domain::permission::ORGANIZATIONAL_BRANDING;
use crate::domain::tenant::Tenant;
use crate::services::AppState;
use crate::services::admin::tenants::{BrandingChange, update_branding};
use crate::store::{AuditEvent, Party};
use crate::web::error::AppError;

/// The branding as the API shows it.
fn to_json(state: &AppState, tenant: &Tenant, branding: &Branding) -> Value {
    json!({
        "@odata.context": format!("{}/v1.0/$metadata#organizationalBranding", state.issuer(&tenant.slug)),
        "id": "0",
        "accentColor": branding.accent_color,
        "bannerLogoRelativeUrl": branding.logo.as_ref().map(|_| format!("/{}/branding/logo?v={}", tenant.slug, branding.version())),
        "bannerLogo": branding.logo.as_ref().map(|logo| json!({
            "contentType": logo.content_type,
            "width": logo.width,
            "height": logo.height,
            "sha256": logo.sha256,
        })),
    })
}

/// `GET …/organization/branding`.
#[utoipa::path(get, path = "/{tenant}/v1.0/organization/branding", tag = "organization",
    params(("tenant" = String, Path)),
    responses((status = 200, description = "{ accentColor, bannerLogoRelativeUrl, bannerLogo: { contentType, width, height, sha256 } }")),
    security(("bearer" = [])))]
pub async fn get_branding(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller
        .require(ORGANIZATIONAL_BRANDING)
        .map_err(ApiError::from)?;
    let tenant = state.store.tenant_by_id(&caller.tenant.id).await?;
    Ok(entity(
        StatusCode::OK,
        to_json(&state, &tenant, &tenant.branding),
    ))
}

/// `PATCH …/organization/branding`: `{"accentColor": "#0b5cad"}` (or `null` to remove it).
#[utoipa::path(patch, path = "/{tenant}/v1.0/organization/branding", tag = "organization",
    params(("tenant" = String, Path)),
    request_body(content = String, description = "{ \"accentColor\": \"#rrggbb\" | null }", content_type = "application/json"),
    responses((status = 200, description = "The branding"), (status = 400, description = "Not a #rrggbb colour, or another property")),
    security(("bearer" = [])))]
pub async fn patch_branding(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller
        .require(ORGANIZATIONAL_BRANDING)
        .map_err(ApiError::from)?;
    let patch: Value = read_json(&headers, &body)?;
    let Some(fields) = patch.as_object() else {
        return Err(ApiError::bad_request("the body must be a JSON object").into());
    };
    let mut change = BrandingChange::default();
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("@odata.type", _) => {}
            ("accentColor", Value::Null) => change.accent_color = Some(None),
            ("accentColor", Value::String(colour)) => {
                change.accent_color = Some(Some(colour.clone()));
            }
            ("accentColor", _) => {
                return Err(ApiError::bad_request("accentColor must be a string or null").into());
            }
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "{other} cannot be changed here; the branding has accentColor (and the bannerLogo stream)"
                ))
                .into());
            }
        }
    }
    change_branding(&state, &caller, change, patch.clone()).await
}

/// `PUT …/organization/branding/bannerLogo`: the logo's bytes, `image/png` or `image/jpeg`.
#[utoipa::path(put, path = "/{tenant}/v1.0/organization/branding/bannerLogo", tag = "organization",
    params(("tenant" = String, Path)),
    request_body(content = Vec<u8>, description = "A PNG or JPEG image, at most 100 KB and 1024 pixels a side", content_type = "image/png"),
    responses((status = 200, description = "The branding"), (status = 400, description = "Not a PNG or JPEG within the limits")),
    security(("bearer" = [])))]
pub async fn put_logo(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller
        .require(ORGANIZATIONAL_BRANDING)
        .map_err(ApiError::from)?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !declared.starts_with("image/png") && !declared.starts_with("image/jpeg") {
        return Err(
            ApiError::bad_request("the logo must be sent as image/png or image/jpeg").into(),
        );
    }
    let change = BrandingChange {
        logo: Some(Some(body.to_vec())),
        ..BrandingChange::default()
    };
    let details = json!({ "bannerLogo": { "bytes": body.len() } });
    change_branding(&state, &caller, change, details).await
}

/// `DELETE …/organization/branding/bannerLogo`.
#[utoipa::path(delete, path = "/{tenant}/v1.0/organization/branding/bannerLogo", tag = "organization",
    params(("tenant" = String, Path)),
    responses((status = 200, description = "The branding, without the logo")),
    security(("bearer" = [])))]
pub async fn delete_logo(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller
        .require(ORGANIZATIONAL_BRANDING)
        .map_err(ApiError::from)?;
    let change = BrandingChange {
        logo: Some(None),
        ..BrandingChange::default()
    };
    change_branding(&state, &caller, change, json!({ "bannerLogo": null })).await
}

async fn change_branding(
    state: &AppState,
    caller: &super::auth::Caller,
    change: BrandingChange,
    details: Value,
) -> Result<Response, AppError> {
    let tenant = state.store.tenant_by_id(&caller.tenant.id).await?;
    let branding = update_branding(state.store.as_ref(), &tenant, change)
        .await
        .map_err(super::admin_error)?;
    state.directory.invalidate();
    state
        .store
        .record_audit(
            &AuditEvent::new(
                &tenant.id,
                "Policy",
                "Update organizational branding",
                caller.party(),
                vec![Party {
                    id: tenant.id.clone(),
                    kind: "tenant".to_owned(),
                    display: tenant.name.clone(),
                }],
            )
            .with_details(details),
        )
        .await?;
    Ok(entity(StatusCode::OK, to_json(state, &tenant, &branding)))
}

/// `GET /{tenant}/branding/logo`: the uploaded logo, for every page and mail. Served with its
/// own content type, `nosniff` and a sandboxing CSP, cacheable (the URL carries the version).
pub async fn public_logo(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    if tenant.branding.logo.is_none() {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let (content_type, bytes) = match state.store.tenant_logo(&tenant.id).await {
        Ok(logo) => logo,
        Err(crate::store::StoreError::NotFound) => return Ok(StatusCode::NOT_FOUND.into_response()),
        Err(e) => return Err(e.into()),
    };
    let content_type = match content_type.as_str() {
        "image/png" => "image/png",
        _ => "image/jpeg",
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /{tenant}/branding/theme.css`: the accent colour as a stylesheet (pages allow only
/// same-origin styles, never inline ones).
pub async fn public_theme(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let css = tenant.branding.theme_css().unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        css,
    )
        .into_response())
}
