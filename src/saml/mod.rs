//! SAML 2.0 identity provider, one per tenant (entityID = the tenant's issuer): metadata,
//! single sign-on by the HTTP-Redirect and HTTP-POST bindings on the shared sign-in journey,
//! IdP-initiated launch, and single logout.

pub mod dsig;
pub mod request;
pub mod response;
pub mod slo;
pub mod sso;
pub mod strict;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::domain::unix_now;
use crate::services::AppState;
use crate::web::error::AppError;

/// SAML routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/saml/metadata", get(get_metadata))
        .route("/{tenant}/saml/sso", get(sso::get_sso).post(sso::post_sso))
        .route("/{tenant}/saml/launch/{client_id}", get(sso::get_launch))
        .route("/{tenant}/saml/slo", get(slo::get_slo))
}

/// `GET {issuer}/saml/metadata`.
async fn get_metadata(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let xml = crate::samlxml::metadata::idp_metadata(
        &state.issuer(&tenant.slug),
        &state.keys.saml_certificates(unix_now()),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        xml,
    )
        .into_response())
}
