//! The UserInfo endpoint (OIDC Core §5.3): GET or POST with a bearer access token in the
//! `Authorization` header (or, for POST, the form body: RFC 6750 §2.2). Tokens in the query
//! string are refused (RFC 9700 §2.4, SECURITY.md D.39).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::claims::{self, pairwise_sub};
use super::error::OAuthError;
use super::params::Params;
use crate::domain::scope::{OPENID, Scopes};
use crate::domain::tenant::Tenant;
use crate::services::AppState;
use crate::store::StoreError;
use crate::tokens::Verified;
use crate::web::error::AppError;

/// The bearer token of the `Authorization` header, if any.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(OAuthError::bearer_required()),
    }
}

/// `GET /{tenant}/oauth2/userinfo`.
pub async fn get_userinfo(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant_for_api(&state, &slug).await?;
    refuse_token_in_query(query.as_deref())?;
    let token = bearer(&headers)?.ok_or_else(OAuthError::bearer_required)?;
    userinfo(&state, &tenant, token).await
}

/// `POST /{tenant}/oauth2/userinfo`.
pub async fn post_userinfo(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = super::tenant_for_api(&state, &slug).await?;
    refuse_token_in_query(query.as_deref())?;
    let from_body = if body.is_empty() {
        None
    } else {
        super::form_params(&headers, &body)?
            .get("access_token")
            .map(str::to_owned)
    };
    let token = match (bearer(&headers)?, from_body.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request("send the access token once").into());
        }
        (Some(token), None) | (None, Some(token)) => token.to_owned(),
        (None, None) => return Err(OAuthError::bearer_required().into()),
    };
    userinfo(&state, &tenant, &token).await
}

fn refuse_token_in_query(query: Option<&str>) -> Result<(), OAuthError> {
    if Params::parse(query.unwrap_or("").as_bytes())
        .get("access_token")
        .is_some()
    {
        return Err(OAuthError::invalid_request(
            "access tokens are not accepted in the query string",
        ));
    }
    Ok(())
}

/// Checks that an access token is ours, for this tenant, unexpired and not revoked, and
/// returns its claims ([`crate::services::grants::live_access_token`]).
pub async fn live_access_token(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
) -> Result<Option<Verified>, AppError> {
    Ok(crate::services::grants::live_access_token(state, tenant, token).await?)
}

async fn userinfo(state: &AppState, tenant: &Tenant, token: &str) -> Result<Response, AppError> {
    let invalid = || OAuthError::invalid_token("the access token is invalid, expired or revoked");
    let verified = live_access_token(state, tenant, token)
        .await?
        .ok_or_else(invalid)?;
    let scopes = Scopes::parse(verified.str("scope").unwrap_or("")).unwrap_or_default();
    if !scopes.contains(OPENID) {
        return Err(
            OAuthError::insufficient_scope("the token was not granted the openid scope").into(),
        );
    }
    let (Some(user_id), Some(client_id)) = (verified.str("oid"), verified.str("client_id")) else {
        return Err(invalid().into());
    };
    let user = match state.store.user_by_id(&tenant.id, user_id).await {
        Ok(user) if user.account_enabled => user,
        Ok(_) | Err(StoreError::NotFound) => return Err(invalid().into()),
        Err(e) => return Err(e.into()),
    };
    let mut body: Map<String, Value> = Map::new();
    body.insert(
        "sub".into(),
        json!(pairwise_sub(&tenant.id, client_id, &user.id)),
    );
    claims::user_claims(&user, &scopes, &mut body);
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(Value::Object(body)),
    )
        .into_response())
}
