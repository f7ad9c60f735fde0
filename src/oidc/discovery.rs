//! Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2) and the JWKS.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::signin::{ACR_MFA, ACR_SFA};
use crate::domain::unix_now;
use crate::services::AppState;
use crate::web::error::AppError;

/// The metadata document of a tenant.
pub fn metadata(issuer: &str) -> Value {
    let endpoint = |path: &str| format!("{issuer}/oauth2/{path}");
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint("authorize"),
        "token_endpoint": endpoint("token"),
        "userinfo_endpoint": endpoint("userinfo"),
        "jwks_uri": endpoint("jwks"),
        "revocation_endpoint": endpoint("revoke"),
        "introspection_endpoint": endpoint("introspect"),
        "end_session_endpoint": endpoint("logout"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": crate::services::client_assertion::ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": crate::services::client_assertion::ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": crate::services::client_assertion::ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
            "tid", "oid", "acct", "name", "given_name", "family_name", "preferred_username",
            "updated_at", "email", "email_verified"
        ],
        "acr_values_supported": [ACR_SFA, ACR_MFA],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": true,
        "authorization_response_iss_parameter_supported": true,
        "ui_locales_supported": crate::i18n::Locale::ALL.map(|l| l.tag()),
        "display_values_supported": ["page", "popup"],
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}

fn cached_json(body: Value, max_age: u64) -> Response {
    let cache = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("no-cache"));
    (
        [
            (header::CACHE_CONTROL, cache),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// `GET /{tenant}/.well-known/openid-configuration` and
/// `GET /.well-known/oauth-authorization-server/{tenant}` (RFC 8414 §3.1 path insertion).
pub async fn get_metadata(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let tenant = super::tenant_for_api(&state, &slug).await?;
    Ok(cached_json(metadata(&state.issuer(&tenant.slug)), 300))
}

/// `GET /{tenant}/oauth2/jwks`: next, active and recently retired public keys.
pub async fn get_jwks(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    super::tenant_for_api(&state, &slug).await?;
    let now = unix_now();
    Ok(cached_json(
        state.keys.jwks(now),
        state.keys.jwks_max_age(now, state.config.keys.jwks_max_age),
    ))
}
