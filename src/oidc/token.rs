//! The token endpoint (RFC 6749 §3.2): reads the form and the client's authentication, asks
//! [`crate::services::grants`] for the authorization-code (PKCE), refresh (rotation, family
//! revocation on reuse) or client-credentials grant, and answers in OAuth JSON. Responses
//! carry `Cache-Control: no-store` (SECURITY.md C.29).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::client_auth::ClientRequest;
use super::error::OAuthError;
use crate::services::AppState;
use crate::services::grants::{self, CodeExchange, Issued, RefreshRequest};
use crate::web::error::AppError;

/// The sign-in log's reason for a user the application does not admit (Entra's 50105).
pub use crate::services::grants::NOT_ASSIGNED_REASON;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl From<Issued> for TokenResponse {
    fn from(issued: Issued) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: issued.scope,
            id_token: issued.id_token,
            refresh_token: issued.refresh_token,
        }
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        (
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::PRAGMA, HeaderValue::from_static("no-cache")),
            ],
            axum::Json(self),
        )
            .into_response()
    }
}

/// `POST /{tenant}/oauth2/token`.
pub async fn post_token(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let ClientRequest {
        tenant,
        params,
        client,
    } = ClientRequest::read(&state, &slug, peer, &headers, &body).await?;
    let app = &client.app;
    let ip = crate::web::client_address::current();
    let issued = match params.get("grant_type") {
        Some("authorization_code") => {
            let exchange = CodeExchange {
                code: params.get("code"),
                redirect_uri: params.get("redirect_uri"),
                code_verifier: params.get("code_verifier"),
            };
            grants::exchange_code(&state, &tenant, app, exchange, ip).await?
        }
        Some("refresh_token") => {
            let request = RefreshRequest {
                refresh_token: params.get("refresh_token"),
                scope: params.get("scope"),
            };
            grants::refresh(&state, &tenant, app, request, ip).await?
        }
        Some("client_credentials") => {
            grants::client_credentials(&state, &tenant, app, params.get("scope"))?
        }
        Some(_) => {
            return Err(OAuthError::unsupported_grant_type(
                "supported grants: authorization_code, refresh_token, client_credentials",
            )
            .into());
        }
        None => return Err(OAuthError::invalid_request("grant_type is required").into()),
    };
    Ok(TokenResponse::from(issued).into_response())
}
