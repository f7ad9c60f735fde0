//! Token introspection (RFC 7662) and revocation (RFC 7009): the door reads the form and the
//! client's authentication, [`crate::services::grants`] decides, and the answer is JSON with
//! `Cache-Control: no-store`. Anything not active for this tenant answers `{"active": false}`
//! and nothing more.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::client_auth::ClientRequest;
use crate::services::AppState;
use crate::services::grants::{self, Introspection};
use crate::web::error::AppError;

fn no_store(body: Value) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response()
}

/// `POST /{tenant}/oauth2/introspect`.
pub async fn post_introspect(
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
    let found = grants::introspect(&state, &tenant, &client.app, params.get("token")).await?;
    Ok(no_store(match found {
        Introspection::Inactive => json!({ "active": false }),
        Introspection::AccessToken(claims) => {
            let mut body = json!({ "active": true, "token_type": "Bearer" });
            for (claim, value) in claims {
                body[claim] = value;
            }
            body
        }
        Introspection::RefreshToken {
            scope,
            client_id,
            expires_at,
            issued_at,
            issuer,
        } => json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": scope,
            "client_id": client_id,
            "exp": expires_at,
            "iat": issued_at,
            "iss": issuer,
        }),
    }))
}

/// `POST /{tenant}/oauth2/revoke`.
pub async fn post_revoke(
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
    grants::revoke(&state, &tenant, &client.app, params.get("token")).await?;
    // Unknown, expired and already revoked tokens: 200 as well (RFC 7009 §2.2).
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response())
}
