//! [`AppError`]: the one error type at the HTTP boundary. Handlers return
//! `Result<_, AppError>` and use `?`; each library error converts once, here.
//!
//! Protocol errors keep their spec's format: [`OAuthError`] renders RFC 6749 §5.2 JSON (401
//! with `WWW-Authenticate` where required), [`ErrorPage`] renders an HTML page for browser
//! flows that must not redirect. Internal failures answer a generic message and are logged
//! once, with their cause chain, never with request secrets.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ephemeral::EphemeralError;
use crate::oidc::error::OAuthError;
use crate::store::StoreError;
use crate::tokens::TokenError;
use crate::web::Page;

/// An HTML error page for a browser flow (shown instead of redirecting anywhere).
#[derive(Debug)]
pub struct ErrorPage {
    /// HTTP status.
    pub status: StatusCode,
    /// Heading.
    pub title: &'static str,
    /// Explanation for the user (never contains secrets).
    pub message: String,
}

impl ErrorPage {
    /// A 400 page.
    pub fn bad_request(title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title,
            message: message.into(),
        }
    }
}

/// Every error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An OAuth 2.0 / OIDC error response in JSON.
    #[error("oauth error: {}", .0.error)]
    OAuth(OAuthError),
    /// An HTML error page.
    #[error("error page: {}", .0.title)]
    Page(ErrorPage),
    /// An admin-API error in Graph's JSON envelope.
    #[error("api error: {0}")]
    Api(crate::graph::ApiError),
    /// A cross-site or token-less form submission.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A dependency (database, ephemeral store) is down: 503 with `Retry-After`.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything unexpected: 500 with a generic message.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<OAuthError> for AppError {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

impl From<ErrorPage> for AppError {
    fn from(page: ErrorPage) -> Self {
        Self::Page(page)
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(why) => Self::Unavailable(why),
            other => Self::Internal(anyhow::Error::new(other).context("database call failed")),
        }
    }
}

impl From<EphemeralError> for AppError {
    fn from(error: EphemeralError) -> Self {
        match error {
            EphemeralError::Unavailable(why) => Self::Unavailable(why),
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<TokenError> for AppError {
    fn from(error: TokenError) -> Self {
        Self::Internal(anyhow::Error::new(error).context("token signing failed"))
    }
}

impl From<minijinja::Error> for AppError {
    fn from(error: minijinja::Error) -> Self {
        Self::Internal(anyhow::Error::new(error).context("page rendering failed"))
    }
}

fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(error) => error.into_response(),
            Self::Api(error) => error.into_response(),
            Self::Page(page) => {
                let context = minijinja::context! {
                    title => page.title, message => page.message, kind => "error"
                };
                match Page::new("message.html", context) {
                    Ok(html) => html.status(page.status).into_response(),
                    Err(e) => Self::from(e).into_response(),
                }
            }
            Self::Forbidden(why) => {
                tracing::warn!(reason = why, "refused a form submission");
                let context = minijinja::context! {
                    title => "Request refused",
                    message => "This request did not come from a Gatehouse page. Go back and try again.",
                    kind => "error"
                };
                match Page::new("message.html", context) {
                    Ok(html) => html.status(StatusCode::FORBIDDEN).into_response(),
                    Err(e) => Self::from(e).into_response(),
                }
            }
            Self::Unavailable(why) => {
                tracing::warn!(reason = %why, "dependency unavailable");
                let mut response = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The service is temporarily unavailable; try again shortly.",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            Self::Internal(error) => {
                tracing::error!(error = ?error, "internal error");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "An unexpected error occurred.",
                )
            }
        }
    }
}
