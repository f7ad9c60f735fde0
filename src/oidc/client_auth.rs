//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3.1): `client_secret_basic`, `client_secret_post`, `private_key_jwt`
//! (RFC 7523, checked by [`crate::services::client_assertion`]), or `none` for public
//! clients. Secrets are checked against their SHA-256 digests in constant time; wrong secrets
//! are counted per client and source address across nodes and answered 429 past the limit
//! (SECURITY.md C.26, C.27).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;

use super::error::OAuthError;
use super::params::Params;
use crate::domain::app::{App, ClientType};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::secrets;
use crate::services::{AppState, client_assertion};
use crate::web;
use crate::web::error::AppError;

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic.
    Basic,
    /// Credentials in the form body.
    Post,
    /// A JWT signed with a key the client registered (`private_key_jwt`).
    PrivateKeyJwt,
    /// A public client naming itself.
    None,
}

/// A client that proved who it is.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The application.
    pub app: Arc<App>,
    /// The method used.
    pub method: AuthMethod,
}

/// A form POST to a client-authenticated endpoint (token, introspection, revocation), read
/// and checked: the tenant, the parameters (none repeated) and the authenticated client.
#[derive(Debug)]
pub struct ClientRequest {
    /// The tenant of the endpoint.
    pub tenant: Arc<Tenant>,
    /// The form parameters.
    pub params: Params,
    /// The client.
    pub client: AuthenticatedClient,
}

impl ClientRequest {
    /// Reads the request and authenticates its client.
    pub async fn read(
        state: &AppState,
        slug: &str,
        peer: SocketAddr,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, AppError> {
        let tenant = super::tenant_for_api(state, slug).await?;
        let params = super::form_params(headers, body)?;
        if let Some(name) = params.first_repeated() {
            return Err(
                OAuthError::invalid_request(format!("the {name} parameter is repeated")).into(),
            );
        }
        let ip = web::client_ip(peer, headers, &state.config.trusted_proxies);
        let client = authenticate(state, &tenant, headers, &params, ip).await?;
        Ok(Self {
            tenant,
            params,
            client,
        })
    }
}

/// Credentials as presented, before checking.
struct Presented {
    client_id: String,
    secret: Option<String>,
    assertion: Option<String>,
    method: AuthMethod,
}

/// A `private_key_jwt` client assertion (RFC 7523 §2.2), when the request carries one.
fn presented_assertion(
    headers: &HeaderMap,
    params: &Params,
) -> Result<Option<Presented>, OAuthError> {
    let kind = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");
    if kind.is_none() && assertion.is_none() {
        return Ok(None);
    }
    if headers.contains_key(header::AUTHORIZATION) || params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        ));
    }
    if kind != Some(client_assertion::JWT_BEARER) {
        return Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {}",
            client_assertion::JWT_BEARER
        )));
    }
    let Some(assertion) = assertion else {
        return Err(OAuthError::invalid_request("client_assertion is required"));
    };
    let failed = || OAuthError::invalid_client("client authentication failed", false);
    let client_id = client_assertion::claimed_client(assertion).ok_or_else(failed)?;
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(failed());
    }
    Ok(Some(Presented {
        client_id,
        secret: None,
        assertion: Some(assertion.to_owned()),
        method: AuthMethod::PrivateKeyJwt,
    }))
}

fn form_decode(part: &str) -> Option<String> {
    let spaced = part.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    if let Some(presented) = presented_assertion(headers, params)? {
        return Ok(presented);
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    match basic {
        Some(encoded) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let malformed = || OAuthError::invalid_client("malformed Basic credentials", true);
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
            let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
            let client_id = form_decode(id).ok_or_else(malformed)?;
            let secret = form_decode(secret).ok_or_else(malformed)?;
            if params
                .get("client_id")
                .is_some_and(|body_id| body_id != client_id)
            {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the authenticated client",
                ));
            }
            Ok(Presented {
                client_id,
                secret: Some(secret),
                assertion: None,
                method: AuthMethod::Basic,
            })
        }
        None => {
            let client_id = params
                .get("client_id")
                .ok_or_else(|| {
                    OAuthError::invalid_client("client authentication is required", true)
                })?
                .to_owned();
            let secret = params.get("client_secret").map(str::to_owned);
            let method = if secret.is_some() {
                AuthMethod::Post
            } else {
                AuthMethod::None
            };
            Ok(Presented {
                client_id,
                secret,
                assertion: None,
                method,
            })
        }
    }
}

/// Authenticates the client of a request to one of `tenant`'s endpoints. A client of
/// another tenant, a disabled client, a confidential client without a (valid) secret and a
/// public client with one are all `invalid_client`.
pub async fn authenticate(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    params: &Params,
    ip: IpAddr,
) -> Result<AuthenticatedClient, AppError> {
    let presented = presented(headers, params)?;
    let basic = presented.method == AuthMethod::Basic;
    let Some(app) = state
        .directory
        .app(&presented.client_id)
        .await?
        .filter(|app| app.tenant_id == tenant.id && app.enabled)
    else {
        return Err(OAuthError::invalid_client("unknown client", basic).into());
    };
    if let Some(assertion) = &presented.assertion {
        return by_assertion(state, tenant, app, assertion, ip).await;
    }
    match (app.client_type, presented.secret) {
        (ClientType::Public, None) => Ok(AuthenticatedClient {
            app,
            method: AuthMethod::None,
        }),
        (ClientType::Public, Some(_)) => {
            Err(OAuthError::invalid_client("a public client has no secret", basic).into())
        }
        (ClientType::Confidential, None) => {
            Err(OAuthError::invalid_client("client authentication is required", basic).into())
        }
        (ClientType::Confidential, Some(secret)) => {
            let now = unix_now();
            let valid = app.secrets.iter().any(|stored| {
                stored.expires_at.is_none_or(|exp| exp > now)
                    && secrets::verify_secret(&secret, &stored.secret_hash)
            });
            if valid {
                return Ok(AuthenticatedClient {
                    app,
                    method: presented.method,
                });
            }
            Err(failed(state, &app, ip, "wrong client secret", basic).await)
        }
    }
}

/// A failed authentication of a known client: counted per client and address across nodes
/// (429 past the limit, SECURITY.md C.27) and answered `invalid_client` without the reason.
async fn failed(state: &AppState, app: &App, ip: IpAddr, reason: &str, basic: bool) -> AppError {
    let key = format!("csfail:{}:{ip}", app.client_id);
    let failures = match state.ephemeral.incr(&key, Duration::from_secs(60)).await {
        Ok(failures) => failures,
        Err(e) => return e.into(),
    };
    tracing::warn!(client_id = %app.client_id, %ip, failures, reason, "client authentication failed");
    if failures > state.config.throttle.client_secret_failures_per_minute {
        return OAuthError::too_many_attempts(60).into();
    }
    OAuthError::invalid_client("client authentication failed", basic).into()
}

/// `private_key_jwt`: a confidential client with registered keys and an assertion that
/// [`client_assertion::verify`] accepts, with `aud` the issuer or one of its endpoints.
async fn by_assertion(
    state: &AppState,
    tenant: &Tenant,
    app: Arc<App>,
    assertion: &str,
    ip: IpAddr,
) -> Result<AuthenticatedClient, AppError> {
    let keys = &app.profile.keys;
    if app.client_type != ClientType::Confidential
        || (keys.jwks.is_none() && keys.jwks_uri.is_none())
    {
        return Err(failed(
            state,
            &app,
            ip,
            "no keys registered for private_key_jwt",
            false,
        )
        .await);
    }
    let issuer = state.issuer(&tenant.slug);
    let audiences: Vec<String> = ["", "/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"]
        .iter()
        .map(|path| format!("{issuer}{path}"))
        .collect();
    match client_assertion::verify(state, &app, assertion, &audiences, unix_now()).await {
        Ok(()) => Ok(AuthenticatedClient {
            app,
            method: AuthMethod::PrivateKeyJwt,
        }),
        Err(client_assertion::AssertionError::Unavailable(e)) => Err(e.into()),
        Err(client_assertion::AssertionError::Refused(reason)) => {
            Err(failed(state, &app, ip, reason, false).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let raw = STANDARD.encode("my%3Aclient:s%2Bc+r");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {raw}")).unwrap(),
        );
        let got = presented(&headers, &Params::default())
            .map_err(|e| e.error)
            .unwrap();
        assert_eq!(got.client_id, "my:client");
        assert_eq!(got.secret.as_deref(), Some("s+c r"));
        assert_eq!(got.method, AuthMethod::Basic);
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let mut headers = HeaderMap::new();
        let raw = STANDARD.encode("a:b");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {raw}")).unwrap(),
        );
        let params = Params::parse(b"client_secret=b");
        assert_eq!(
            presented(&headers, &params).err().map(|e| e.error),
            Some("invalid_request")
        );
    }
}
