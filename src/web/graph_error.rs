//! The admin API's error envelope, Graph's `{"error": {"code", "message", "innerError"}}`
//! (B2B-REFERENCE.md B.10): the Graph door answers every failure in it, and the shared error
//! rendering uses it for whatever fails under `/v1.0`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::{Invalid, date_time};
use crate::web::error::{AppError, bare_message};

/// An admin-API error in Graph's envelope.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Graph-style error code.
    pub code: &'static str,
    /// What went wrong, for the caller.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `Request_BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// 401 `InvalidAuthenticationToken`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// 403 `Authorization_RequestDenied`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            message,
        )
    }

    /// 404 `Request_ResourceNotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", message)
    }

    /// 409 `Request_Conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Request_Conflict", message)
    }
}

impl From<Invalid> for ApiError {
    fn from(error: Invalid) -> Self {
        Self::bad_request(error.0)
    }
}

impl From<crate::services::Error> for ApiError {
    /// The Graph answer of a service's error, the one mapping of the admin API: Invalid → 400
    /// `Request_BadRequest`, NotFound → 404 `Request_ResourceNotFound`, Conflict → 409
    /// `Request_Conflict`, Forbidden → 403 `Authorization_RequestDenied`, with the service's
    /// message; Unavailable → 503 `serviceNotAvailable` and Internal → 500
    /// `generalException` with the shared generic messages (the cause is logged, never shown),
    /// as the shared error rendering answers them under `/v1.0`.
    fn from(error: crate::services::Error) -> Self {
        use crate::services::Error;
        // A plain message is the caller's to read; a page's words (a value the database refused)
        // are answered as the shared rendering answers a page under `/v1.0`.
        let message = |problem: crate::services::Problem, status: StatusCode| match problem.message
        {
            crate::services::Message::Plain(plain) => plain,
            crate::services::Message::Text(_) => bare_message(status).to_owned(),
        };
        match error {
            Error::Invalid(p) => Self::bad_request(message(p, StatusCode::BAD_REQUEST)),
            Error::NotFound(p) => Self::not_found(message(p, StatusCode::NOT_FOUND)),
            Error::Conflict(p) => Self::conflict(message(p, StatusCode::CONFLICT)),
            Error::Forbidden(p) => Self::forbidden(message(p, StatusCode::FORBIDDEN)),
            Error::Unavailable(why) => {
                tracing::warn!(reason = %why, "dependency unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    bare_message(StatusCode::SERVICE_UNAVAILABLE),
                )
            }
            Error::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "generalException",
                    bare_message(StatusCode::INTERNAL_SERVER_ERROR),
                )
            }
        }
    }
}

impl From<ApiError> for AppError {
    fn from(error: ApiError) -> Self {
        AppError::Api(error)
    }
}

impl ApiError {
    /// Graph's error envelope (B2B-REFERENCE.md B.10): `code`, `message`, and an
    /// `innerError` with a request id and the date, on every status.
    pub fn envelope(code: &str, message: &str) -> Value {
        json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "request-id": uuid::Uuid::new_v4().to_string(),
                    "date": date_time(crate::domain::unix_now()),
                },
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(Self::envelope(self.code, &self.message)),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
        }
        response
    }
}
