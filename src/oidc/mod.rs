//! OpenID Connect provider, one per tenant, issuer `{public_url}/{tenant}`: discovery, JWKS,
//! authorization (the journey's front and back door for OIDC), token, userinfo, introspection,
//! revocation and RP-initiated logout.

pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub use crate::web::oauth as error;
pub mod introspection;
pub mod logout;
pub mod params;
pub mod respond;
pub mod token;
pub mod userinfo;

/// What tokens say, now with the tokens (tier 1); kept at its old path for the door.
pub use crate::tokens::claims;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use self::error::OAuthError;
use self::params::Params;
use crate::domain::tenant::Tenant;
use crate::services::AppState;
use crate::web::error::AppError;

/// OIDC routes. Endpoints called by JavaScript clients (discovery, JWKS, token, userinfo,
/// revocation) answer CORS requests from any origin — they take no cookies, only explicit
/// credentials. The authorization and logout endpoints never do (RFC 9700 §2.6).
pub fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let for_scripts = Router::new()
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::get_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/{tenant}",
            get(discovery::get_metadata),
        )
        .route("/{tenant}/oauth2/jwks", get(discovery::get_jwks))
        .route("/{tenant}/oauth2/token", post(token::post_token))
        .route(
            "/{tenant}/oauth2/userinfo",
            get(userinfo::get_userinfo).post(userinfo::post_userinfo),
        )
        .route("/{tenant}/oauth2/revoke", post(introspection::post_revoke))
        .layer(cors);
    Router::new()
        .merge(for_scripts)
        .route(
            "/{tenant}/oauth2/authorize",
            get(authorize::get_authorize).post(authorize::post_authorize),
        )
        .route(
            "/{tenant}/oauth2/introspect",
            post(introspection::post_introspect),
        )
        .route(
            "/{tenant}/oauth2/logout",
            get(logout::get_logout).post(logout::post_logout),
        )
}

/// The tenant of an API endpoint; unknown tenants get a 404 in OAuth JSON.
pub async fn tenant_for_api(state: &AppState, slug: &str) -> Result<Arc<Tenant>, AppError> {
    state.directory.tenant(slug).await?.ok_or_else(|| {
        let mut error = OAuthError::invalid_request("there is no tenant at this address");
        error.status = StatusCode::NOT_FOUND;
        error.into()
    })
}

/// The parameters of a form-encoded request body; other content types are refused.
pub fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(OAuthError::invalid_request("the body is not UTF-8"));
    }
    Ok(Params::parse(body))
}
