//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 6750 §3) for the token, userinfo,
//! introspection and revocation endpoints — the OIDC door's envelope (re-exported there as
//! `oidc::error`), here beside the other envelopes so the shared error rendering needs no
//! door. Authorization-endpoint errors are redirects and live in `oidc::respond`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::services::grants::{GrantError, Refusal};
use crate::web::error::AppError;

/// An error in the JSON format of RFC 6749 §5.2.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// Error code.
    pub error: &'static str,
    /// Human-readable detail, restricted to the characters §5.2 allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// `WWW-Authenticate` to send (401 responses).
    #[serde(skip)]
    pub www_authenticate: Option<String>,
    /// `Retry-After` seconds (429 responses).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// Keeps only the characters RFC 6749 §5.2 allows in `error_description`
/// (%x20-21 / %x23-5B / %x5D-7E): no quotes, backslashes, CR, LF or TAB.
pub fn clean_description(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' => c,
            _ => ' ',
        })
        .collect()
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        let description = clean_description(&description.into());
        Self {
            status,
            error,
            error_description: (!description.is_empty()).then_some(description),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// `invalid_client` (401); `basic` adds the `WWW-Authenticate: Basic` challenge.
    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description);
        error.www_authenticate = Some(if basic {
            "Basic realm=\"gatehouse\", charset=\"UTF-8\"".to_owned()
        } else {
            // Clients that used client_secret_post still get a challenge (RFC 6749 §5.2
            // requires it for 401), naming the scheme they could use.
            "Basic realm=\"gatehouse\"".to_owned()
        });
        error
    }

    /// `invalid_grant` (400).
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// `unauthorized_client` (400).
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    /// `unsupported_grant_type` (400).
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        )
    }

    /// `invalid_scope` (400).
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// `unsupported_token_type` (400, RFC 7009 §2.2.1).
    pub fn unsupported_token_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            description,
        )
    }

    /// `invalid_token` (401) with a Bearer challenge (RFC 6750 §3.1).
    pub fn invalid_token(description: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description);
        let detail = error.error_description.clone().unwrap_or_default();
        error.www_authenticate = Some(format!(
            "Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"{detail}\""
        ));
        error
    }

    /// A missing bearer token (401 without an error code, RFC 6750 §3.1).
    pub fn bearer_required() -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "a bearer access token is required",
        );
        error.www_authenticate = Some("Bearer realm=\"gatehouse\"".to_owned());
        error
    }

    /// `insufficient_scope` (403, RFC 6750 §3.1).
    pub fn insufficient_scope(description: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::FORBIDDEN, "insufficient_scope", description);
        error.www_authenticate =
            Some("Bearer realm=\"gatehouse\", error=\"insufficient_scope\"".to_owned());
        error
    }

    /// Too many failed attempts (429 with `Retry-After`).
    pub fn too_many_attempts(retry_after: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_client",
            "too many failed attempts; slow down",
        );
        error.retry_after = Some(retry_after);
        error
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(challenge) = self.www_authenticate.as_deref()
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<Refusal> for OAuthError {
    /// A grant rule's refusal in OAuth's words: its kind is the error code, its text the
    /// description. `invalid_client` here is never about credentials sent in Basic.
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::InvalidRequest(why) => Self::invalid_request(why),
            Refusal::InvalidClient(why) => Self::invalid_client(why, false),
            Refusal::InvalidGrant(why) => Self::invalid_grant(why),
            Refusal::UnauthorizedClient(why) => Self::unauthorized_client(why),
            Refusal::InvalidScope(why) => Self::invalid_scope(why),
        }
    }
}

impl From<GrantError> for AppError {
    /// A refusal answers OAuth JSON; a failure answers as every failure at the door does.
    fn from(error: GrantError) -> Self {
        match error {
            GrantError::Refused(refusal) => Self::OAuth(refusal.into()),
            GrantError::Failed(failure) => failure.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_lose_quotes_and_line_breaks() {
        assert_eq!(clean_description("a\"b\\c\r\nd\te"), "a b c  d e");
        let error = OAuthError::invalid_token("bad \"token\"\n");
        assert!(!error.www_authenticate.unwrap().contains("\"token\""));
    }
}
