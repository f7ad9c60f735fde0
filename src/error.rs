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
use crate::i18n::{Locale, Text};
use crate::oidc::error::OAuthError;
use crate::store::StoreError;
use crate::tokens::TokenError;
use crate::web::{Chrome, Page};

/// An HTML error page for a browser flow (shown instead of redirecting anywhere). Its words
/// are catalogue messages: the page is put into words, in the reader's language and with the
/// organisation's brand, by [`render_pending_pages`] once the response leaves the handler.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// HTTP status.
    pub status: StatusCode,
    /// Heading (a catalogue message id).
    pub title: String,
    /// Explanation for the user (never contains secrets). An `org` argument, when the
    /// message has none, is the organisation's name.
    pub message: Text,
    /// Technical detail for the application's owner, shown as is (protocol errors).
    pub detail: Option<String>,
    /// The reader's language when the journey knows it (else `Accept-Language` decides).
    pub locale: Option<Locale>,
}

impl ErrorPage {
    /// A page with `status`, the heading `title` and `message` (catalogue ids).
    pub fn new(status: StatusCode, title: &str, message: Text) -> Self {
        Self {
            status,
            title: title.to_owned(),
            message,
            detail: None,
            locale: None,
        }
    }

    /// A 400 page.
    pub fn bad_request(title: &str, message: Text) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    /// Adds technical detail for the application's owner.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Fixes the page's language.
    pub fn in_locale(mut self, locale: Locale) -> Self {
        self.locale = Some(locale);
        self
    }
}

/// An error page waiting in a response's extensions to be rendered by
/// [`render_pending_pages`]; `navigations_only` pages replace a JSON error only when a browser
/// navigated to the URL (a failure at the authorization endpoint, not at the token endpoint).
#[derive(Debug, Clone)]
pub struct PendingPage {
    /// The page.
    pub page: ErrorPage,
    /// Whether the page is only for top-level navigations.
    pub navigations_only: bool,
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

/// A response that carries `page` for [`render_pending_pages`] (and a plain-text body for
/// the rare client that bypasses the router's layers).
fn pending(page: ErrorPage, navigations_only: bool, mut response: Response) -> Response {
    response.extensions_mut().insert(PendingPage {
        page,
        navigations_only,
    });
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(error) => error.into_response(),
            Self::Api(error) => error.into_response(),
            Self::Page(page) => {
                let status = page.status;
                pending(page, false, (status, "error").into_response())
            }
            Self::Forbidden(why) => {
                tracing::warn!(reason = why, "refused a form submission");
                let page = ErrorPage::new(
                    StatusCode::FORBIDDEN,
                    "error-request-refused-title",
                    Text::new("error-cross-site"),
                );
                pending(
                    page,
                    false,
                    (StatusCode::FORBIDDEN, "forbidden").into_response(),
                )
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
                let page = ErrorPage::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error-unavailable-title",
                    Text::new("error-unavailable"),
                );
                pending(page, true, response)
            }
            Self::Internal(error) => {
                tracing::error!(error = ?error, "internal error");
                let response = json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "An unexpected error occurred.",
                );
                let page = ErrorPage::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error-internal-title",
                    Text::new("error-internal"),
                );
                pending(page, true, response)
            }
        }
    }
}

/// Renders an [`ErrorPage`] with `chrome` (status and headers are the caller's to keep).
pub fn render_error_page(page: &ErrorPage, chrome: &Chrome) -> Result<Page, minijinja::Error> {
    let mut message = page.message.clone();
    if !message.args.iter().any(|(name, _)| name == "org") {
        message = message.arg("org", chrome.brand.name.as_str());
    }
    let context = minijinja::context! {
        title => crate::i18n::text(chrome.locale, &page.title),
        message => minijinja::Value::from_safe_string(message.in_locale_html(chrome.locale)),
        detail => page.detail.as_deref(),
        kind => "error",
    };
    Ok(Page::new("message.html", chrome, context)?.status(page.status))
}

/// Whether a request is a browser's top-level navigation (it expects a page, not JSON).
fn is_navigation(headers: &axum::http::HeaderMap) -> bool {
    match headers.get("sec-fetch-dest") {
        Some(dest) => dest.as_bytes() == b"document",
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.starts_with("text/html")),
    }
}

/// Middleware: puts the [`PendingPage`] a handler answered into words — in the language the
/// journey chose, else the browser's `Accept-Language` — with the brand of the tenant whose
/// URL it is (`/{tenant}/…`), so that error pages carry the organisation's name, never
/// "Gatehouse", wherever a tenant is known.
pub async fn render_pending_pages(
    axum::extract::State(state): axum::extract::State<crate::startup::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let navigation = is_navigation(request.headers());
    let accept_language = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let slug = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let mut response = next.run(request).await;
    let Some(pending) = response.extensions_mut().remove::<PendingPage>() else {
        return response;
    };
    if pending.navigations_only && !navigation {
        return response;
    }
    let page = pending.page;
    let locale = page
        .locale
        .unwrap_or_else(|| Locale::negotiate(None, None, accept_language.as_deref()));
    let tenant = match crate::domain::tenant::parse_slug(&slug) {
        Ok(slug) => state.directory.tenant(&slug).await.ok().flatten(),
        Err(_) => None,
    };
    let chrome = match &tenant {
        Some(tenant) => Chrome::tenant(tenant, locale),
        None => Chrome::gatehouse(locale),
    };
    let rendered = match render_error_page(&page, &chrome) {
        Ok(rendered) => rendered.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "error page rendering failed");
            return response;
        }
    };
    // Keep what the handler said besides the body (Retry-After, Set-Cookie, …).
    let (mut parts, _) = response.into_parts();
    let (rendered_parts, body) = rendered.into_parts();
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_SECURITY_POLICY,
        header::CACHE_CONTROL,
        header::CONTENT_LANGUAGE,
    ] {
        parts.headers.remove(&name);
        if let Some(value) = rendered_parts.headers.get(&name) {
            parts.headers.insert(name, value.clone());
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}
