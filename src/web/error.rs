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
use crate::store::StoreError;
use crate::tokens::TokenError;
use crate::web::oauth::OAuthError;
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
    Api(crate::web::graph_error::ApiError),
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
            StoreError::Invalid(why) => Self::Page(
                ErrorPage::bad_request("error-bad-request-title", Text::new("error-bad-form"))
                    .with_detail(why),
            ),
            other => Self::Internal(anyhow::Error::new(other).context("database call failed")),
        }
    }
}

impl From<crate::services::Error> for AppError {
    fn from(error: crate::services::Error) -> Self {
        use crate::services::{Error, Message};
        let page = |status: StatusCode, problem: crate::services::Problem| {
            let (message, detail) = match problem.message {
                Message::Text(text) => (text, problem.detail),
                Message::Plain(plain) => (Text::new("error-bad-form"), Some(plain)),
            };
            let title = problem.title.unwrap_or(match status {
                StatusCode::NOT_FOUND => "error-not-found-title",
                StatusCode::FORBIDDEN => "error-refused-title",
                _ => "error-bad-request-title",
            });
            let mut page = ErrorPage::new(status, title, message);
            page.detail = detail;
            Self::Page(page)
        };
        match error {
            Error::Invalid(p) => page(StatusCode::BAD_REQUEST, p),
            Error::NotFound(p) => page(StatusCode::NOT_FOUND, p),
            Error::Conflict(p) => page(StatusCode::CONFLICT, p),
            Error::Forbidden(p) => page(StatusCode::FORBIDDEN, p),
            Error::Unavailable(why) => Self::Unavailable(why),
            Error::Internal(e) => Self::Internal(e),
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
                // The cause chain, never the backtrace anyhow may have captured (with
                // RUST_BACKTRACE=1 resolving one costs ~100 ms and tens of MB per error).
                tracing::error!(error = format!("{error:#}"), "internal error");
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

/// The front door a URL belongs to, which decides the shape of its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// The admin API (`/{tenant}/v1.0/…`, `/openapi.json`): Graph's JSON envelope.
    Graph,
    /// The OAuth endpoints clients call directly: RFC 6749 JSON.
    OAuth,
    /// Everything a person's browser opens: HTML pages.
    Pages,
}

impl Surface {
    fn of(path: &str) -> Self {
        const OAUTH: [&str; 5] = [
            "/oauth2/token",
            "/oauth2/introspect",
            "/oauth2/revoke",
            "/oauth2/userinfo",
            "/oauth2/jwks",
        ];
        if path.contains("/v1.0/") || path.ends_with("/v1.0") || path == "/openapi.json" {
            Self::Graph
        } else if OAUTH.iter().any(|end| path.ends_with(end)) {
            Self::OAuth
        } else {
            Self::Pages
        }
    }
}

/// The error a framework layer answered with (a body too large, a method not allowed, an
/// unknown path), which carries none of our envelopes: plain text or nothing.
fn is_bare_error(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"))
}

/// The Graph error code of a bare status.
fn graph_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Request_ResourceNotFound",
        StatusCode::PAYLOAD_TOO_LARGE => "Request_EntityTooLarge",
        StatusCode::SERVICE_UNAVAILABLE => "serviceNotAvailable",
        s if s.is_server_error() => "generalException",
        _ => "Request_BadRequest",
    }
}

/// The OAuth error code of a status (RFC 6749 §5.2).
fn oauth_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
        s if s.is_server_error() => "server_error",
        _ => "invalid_request",
    }
}

/// What a bare status means, for the caller.
pub(crate) fn bare_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "there is nothing at this address",
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed at this address",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than this endpoint accepts",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "the request body has a content type this endpoint does not accept"
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            "the service is temporarily unavailable; try again shortly"
        }
        s if s.is_server_error() => "an unexpected error occurred",
        _ => "the request cannot be read",
    }
}

/// The page of a bare status, for people.
fn bare_page(status: StatusCode) -> ErrorPage {
    match status {
        StatusCode::NOT_FOUND => ErrorPage::new(
            status,
            "error-not-found-title",
            Text::new("error-not-found"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ErrorPage::new(
            status,
            "error-too-large-title",
            Text::new("error-too-large"),
        ),
        s if s.is_server_error() => {
            ErrorPage::new(status, "error-internal-title", Text::new("error-internal"))
        }
        _ => ErrorPage::new(
            status,
            "error-bad-request-title",
            Text::new("error-bad-form"),
        )
        .with_detail(bare_message(status)),
    }
}

/// Middleware: every error leaves in the format of the front door its URL belongs to
/// ([`Surface`]): the admin API answers Graph JSON (413 and 5xx included), the OAuth endpoints
/// RFC 6749 JSON, and a person's browser an HTML page. A handler's [`PendingPage`] is put into
/// words here — in the language the journey chose, else the browser's `Accept-Language` — with
/// the brand of the tenant whose URL it is (`/{tenant}/…`), so that error pages carry the
/// organisation's name, never "Gatehouse", wherever a tenant is known.
pub async fn render_pending_pages(
    axum::extract::State(state): axum::extract::State<crate::services::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let navigation = is_navigation(request.headers());
    let accept_language = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = request.uri().path().to_owned();
    let surface = Surface::of(&path);
    let slug = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let mut response = next.run(request).await;
    let page = match response.extensions_mut().remove::<PendingPage>() {
        // The API surfaces never answer a page, whatever the handler produced.
        Some(_) if surface == Surface::Graph => {
            let status = response.status();
            return graph_error(status, graph_code(status), bare_message(status), response);
        }
        Some(_) if surface == Surface::OAuth => {
            let status = response.status();
            let json = json_error(status, oauth_code(status), bare_message(status));
            return keep_headers(response, json);
        }
        Some(pending) if pending.navigations_only && !navigation => return response,
        Some(pending) => pending.page,
        None if is_bare_error(&response) => {
            let status = response.status();
            match surface {
                Surface::Graph => {
                    return graph_error(status, graph_code(status), bare_message(status), response);
                }
                Surface::OAuth => {
                    let json = json_error(status, oauth_code(status), bare_message(status));
                    return keep_headers(response, json);
                }
                Surface::Pages => bare_page(status),
            }
        }
        None => return response,
    };
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
    match render_error_page(&page, &chrome) {
        Ok(rendered) => keep_headers(response, rendered.into_response()),
        Err(e) => {
            tracing::error!(error = %e, "error page rendering failed");
            response
        }
    }
}

/// A Graph error envelope in place of `original`'s body (its status and other headers kept).
fn graph_error(status: StatusCode, code: &str, message: &str, original: Response) -> Response {
    let body = crate::web::graph_error::ApiError::envelope(code, message);
    let json = (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response();
    keep_headers(original, json)
}

/// `replacement`'s body and content headers with `original`'s status and other headers
/// (Retry-After, Set-Cookie, …).
fn keep_headers(original: Response, replacement: Response) -> Response {
    let (mut parts, _) = original.into_parts();
    let (new_parts, body) = replacement.into_parts();
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_SECURITY_POLICY,
        header::CACHE_CONTROL,
        header::CONTENT_LANGUAGE,
    ] {
        parts.headers.remove(&name);
        if let Some(value) = new_parts.headers.get(&name) {
            parts.headers.insert(name, value.clone());
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}
