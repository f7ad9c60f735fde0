//! Server-rendered pages and the browser-facing plumbing they share: templates (minijinja,
//! compiled into the binary, auto-escaped, with the `t` function of [`crate::i18n`]), what
//! every page shows around its content ([`Chrome`]: the reader's language and the
//! organisation's [`Brand`]), per-page Content-Security-Policy, security headers on every
//! response, cookies, the CSRF/`Origin` check for forms and the client address.

pub mod client_address;
pub mod cookies;
pub mod error;
pub mod graph_error;
pub mod oauth;
pub mod requests;
pub mod session;
pub mod spans;

pub use requests::{REFERRER_POLICY, client_ip, parse_form, refuse_nul, same_origin_post};

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use minijinja::Environment;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::domain::tenant::Tenant;
use crate::i18n::Locale;

/// Largest request body accepted anywhere (forms and JSON are far smaller).
pub const MAX_BODY: usize = 64 * 1024;

/// The script that submits a `form_post` response page; allowed by its CSP hash.
pub const AUTO_SUBMIT_SCRIPT: &str = "document.getElementById('auto').submit();";

/// The script of a signed-out page with front-channel logout iframes: once every iframe has
/// loaded (or after 3 s), the browser follows the page's `next` link, as a person would;
/// allowed by its CSP hash. Without scripts the link is there to follow.
pub const AFTER_FRAMES_SCRIPT: &str = "(function(){var a=document.getElementById('next');\
var f=document.querySelectorAll('iframe.frontchannel-logout');var left=f.length;\
function go(){location.replace(a.href);}\
for(var i=0;i<f.length;i++){f[i].addEventListener('load',function(){left-=1;if(left===0){go();}});}\
setTimeout(go,3000);})();";

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    crate::i18n::register(&mut env);
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("message.html", include_str!("templates/message.html")),
        ("form_post.html", include_str!("templates/form_post.html")),
        ("logout.html", include_str!("templates/logout.html")),
        ("consent.html", include_str!("templates/consent.html")),
        ("redeem.html", include_str!("templates/redeem.html")),
        ("myapps.html", include_str!("templates/myapps.html")),
        ("block.html", include_str!("templates/block.html")),
        ("landing.html", include_str!("templates/landing.html")),
        ("mfa.html", include_str!("templates/mfa.html")),
        (
            "security_info.html",
            include_str!("templates/security_info.html"),
        ),
    ] {
        // The templates are part of the binary; a syntax error is caught by the test suite.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

static AUTO_SUBMIT_HASH: LazyLock<String> = LazyLock::new(|| script_hash(AUTO_SUBMIT_SCRIPT));

static AFTER_FRAMES_HASH: LazyLock<String> = LazyLock::new(|| script_hash(AFTER_FRAMES_SCRIPT));

/// A CSP source allowing exactly `script`.
fn script_hash(script: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script))
    )
}

/// Renders a template; a rendering failure is an internal error.
pub fn render(name: &str, context: minijinja::Value) -> Result<String, minijinja::Error> {
    TEMPLATES.get_template(name)?.render(context)
}

/// The organisation a page speaks for: its name, and the logo and accent colour it uploaded
/// (Entra's company branding), served from Gatehouse itself.
#[derive(Debug, Clone, Serialize)]
pub struct Brand {
    /// Display name (the page title's suffix, the logo's alternative text).
    pub name: String,
    /// URL of the uploaded logo, if any.
    pub logo_url: Option<String>,
    /// URL of the stylesheet carrying the accent colour, if one is set.
    pub theme_url: Option<String>,
}

impl Brand {
    /// The tenant's face.
    pub fn of(tenant: &Tenant) -> Self {
        let version = tenant.branding.version();
        Self {
            name: tenant.name.clone(),
            logo_url: tenant
                .branding
                .logo
                .as_ref()
                .map(|_| format!("/{}/branding/logo?v={version}", tenant.slug)),
            theme_url: tenant
                .branding
                .accent_color
                .as_ref()
                .map(|_| format!("/{}/branding/theme.css?v={version}", tenant.slug)),
        }
    }

    /// Gatehouse's own face, for pages no tenant owns.
    pub fn gatehouse(locale: Locale) -> Self {
        Self {
            name: crate::i18n::text(locale, "brand-fallback"),
            logo_url: None,
            theme_url: None,
        }
    }
}

/// Which account page a page is, for the links between My Apps, security info and sign-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountPage {
    /// My Apps.
    MyApps,
    /// Security info.
    SecurityInfo,
}

/// What every page shows around its own content: the reader's language, the organisation's
/// brand, and on the account pages the links between them.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The reader's language.
    pub locale: Locale,
    /// The organisation.
    pub brand: Brand,
    /// The account page this is, with the tenant's path (`/{slug}`).
    pub account: Option<(AccountPage, String)>,
}

impl Chrome {
    /// A page of `tenant` in `locale`.
    pub fn tenant(tenant: &Tenant, locale: Locale) -> Self {
        Self {
            locale,
            brand: Brand::of(tenant),
            account: None,
        }
    }

    /// A page of Gatehouse itself (no tenant).
    pub fn gatehouse(locale: Locale) -> Self {
        Self {
            locale,
            brand: Brand::gatehouse(locale),
            account: None,
        }
    }

    /// Marks the page as one of `tenant`'s account pages (links to the others and sign-out).
    pub fn account(mut self, page: AccountPage, tenant: &Tenant) -> Self {
        self.account = Some((page, format!("/{}", tenant.slug)));
        self
    }

    /// A message of the catalogue in the page's language (plain text; templates escape it).
    pub fn text(&self, key: &str) -> String {
        crate::i18n::text(self.locale, key)
    }
}

/// An HTML page with its own Content-Security-Policy.
#[derive(Debug)]
pub struct Page {
    /// HTTP status.
    pub status: StatusCode,
    /// Rendered HTML.
    pub html: String,
    /// The page's language (`Content-Language`).
    pub locale: Locale,
    /// Origins forms on this page may submit to, or that a form submission may redirect to
    /// (browsers apply `form-action` to the redirects after a POST).
    pub form_targets: Vec<String>,
    /// Whether the page carries the `form_post` auto-submit script.
    pub auto_submit: bool,
    /// Whether the page carries the script that continues after front-channel iframes.
    pub after_frames: bool,
    /// Origins the page may load in iframes (the front-channel logout URIs of a sign-out).
    pub frame_targets: Vec<String>,
}

impl Page {
    /// Renders `template` with `chrome` around `context` into a page with status 200. The
    /// template sees `lang`, `brand` and (account pages) `nav`/`nav_base` besides `context`.
    pub fn new(
        template: &str,
        chrome: &Chrome,
        context: minijinja::Value,
    ) -> Result<Self, minijinja::Error> {
        let (nav, nav_base) = match &chrome.account {
            Some((AccountPage::MyApps, base)) => (Some("myapps"), Some(base.as_str())),
            Some((AccountPage::SecurityInfo, base)) => (Some("security_info"), Some(base.as_str())),
            None => (None, None),
        };
        let context = minijinja::context! {
            lang => chrome.locale.tag(),
            stylesheet => STYLESHEET_URL.as_str(),
            brand => minijinja::value::Serde(&chrome.brand),
            nav, nav_base,
            ..context
        };
        Ok(Self {
            status: StatusCode::OK,
            html: render(template, context)?,
            locale: chrome.locale,
            form_targets: Vec::new(),
            auto_submit: false,
            after_frames: false,
            frame_targets: Vec::new(),
        })
    }

    /// Sets the status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Marks the page as carrying the `form_post` auto-submit script (allowed by its hash).
    pub fn auto_submit(mut self) -> Self {
        self.auto_submit = true;
        self
    }

    /// Marks the page as carrying [`AFTER_FRAMES_SCRIPT`] (allowed by its hash).
    pub fn continue_after_frames(mut self) -> Self {
        self.after_frames = true;
        self
    }

    /// Allows forms on the page (and the redirects after them) to reach `url`'s origin.
    pub fn form_target(mut self, url: &str) -> Self {
        if let Some(origin) = origin_of(url) {
            self.form_targets.push(origin);
        }
        self
    }

    /// Allows the page to load `url`'s origin in an iframe.
    pub fn frame_target(mut self, url: &str) -> Self {
        if let Some(origin) = origin_of(url)
            && !self.frame_targets.contains(&origin)
        {
            self.frame_targets.push(origin);
        }
        self
    }

    fn csp(&self) -> String {
        let mut form_action = String::from("'self'");
        for target in &self.form_targets {
            form_action.push(' ');
            form_action.push_str(target);
        }
        let script = if self.auto_submit {
            AUTO_SUBMIT_HASH.as_str()
        } else if self.after_frames {
            AFTER_FRAMES_HASH.as_str()
        } else {
            "'none'"
        };
        let frames = match self.frame_targets.is_empty() {
            true => String::new(),
            false => format!(" frame-src {};", self.frame_targets.join(" ")),
        };
        format!(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src {script};{frames} \
             form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        )
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let csp = HeaderValue::from_str(&self.csp())
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
        (
            self.status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::CONTENT_SECURITY_POLICY, csp),
                (
                    header::CONTENT_LANGUAGE,
                    HeaderValue::from_static(self.locale.tag()),
                ),
            ],
            self.html,
        )
            .into_response()
    }
}

/// `scheme://host[:port]` of a URL usable in CSP source lists, if it has one.
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        url::Origin::Tuple(..) => Some(parsed.origin().ascii_serialization()),
        // Private-use schemes (native apps) have no origin; allow the scheme itself.
        url::Origin::Opaque(_) => Some(format!("{}:", parsed.scheme())),
    }
}

/// Layers that put the security headers on every response (SECURITY.md A.12, J.79): pages
/// override the default CSP with their own.
pub fn security_headers<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    let always = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    let default = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(always(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
        .layer(always(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(always(header::X_FRAME_OPTIONS, "DENY"))
        .layer(always(header::REFERRER_POLICY, REFERRER_POLICY))
        .layer(default(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ))
}

/// The stylesheet every page links to.
const STYLESHEET: &str = include_str!("static/gatehouse.css");
/// The icon browsers ask for at `/favicon.ico`.
const FAVICON: &[u8] = include_bytes!("static/favicon.ico");

/// The stylesheet's URL, versioned by its content so a new release is never served a stale
/// copy from a browser's cache.
pub static STYLESHEET_URL: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLESHEET);
    format!(
        "/static/gatehouse.css?v={}",
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)[..12]
    )
});

/// Routes for static assets: the stylesheet, the icon, and the README as the documentation a
/// fresh server links to.
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
        .route(
            "/static/gatehouse.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                    ],
                    STYLESHEET,
                )
            }),
        )
        .route(
            "/favicon.ico",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "image/x-icon"),
                        (header::CACHE_CONTROL, "public, max-age=86400"),
                    ],
                    FAVICON,
                )
            }),
        )
        .route("/", get(landing))
        .route(
            "/docs",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/markdown; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    include_str!("../../README.md"),
                )
            }),
        )
}

/// `GET /`: what this server is, with links to the documentation and its health, in the
/// browser's language.
async fn landing(headers: HeaderMap) -> Response {
    let locale = Locale::negotiate(
        None,
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let chrome = Chrome::gatehouse(locale);
    let context = minijinja::context! {
        title => chrome.text("landing-title"),
        docs_url => "/docs",
    };
    match Page::new("landing.html", &chrome, context) {
        Ok(page) => page.into_response(),
        Err(e) => crate::web::error::AppError::from(e).into_response(),
    }
}

/// The sign-in page of transaction `tx` in tenant `slug`.
pub fn login_url(slug: &str, tx: &str) -> String {
    format!("/{slug}/login?tx={tx}")
}

/// The tenant of a browser-facing endpoint; unknown tenants get a 404 page.
pub async fn tenant(
    state: &crate::services::AppState,
    slug: &str,
) -> Result<std::sync::Arc<crate::domain::tenant::Tenant>, crate::web::error::AppError> {
    state.directory.tenant(slug).await?.ok_or_else(|| {
        crate::web::error::ErrorPage::new(
            StatusCode::NOT_FOUND,
            "error-unknown-tenant-title",
            crate::i18n::Text::new("error-unknown-tenant"),
        )
        .into()
    })
}

/// The browser's `Accept-Language`, if it sent one.
pub fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

/// A `303 See Other` to `location` (never 307 after a POST: SECURITY.md A.11).
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => {
            crate::web::error::AppError::Internal(anyhow::anyhow!("unencodable redirect location"))
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_in_every_language() {
        for name in [
            "login.html",
            "message.html",
            "form_post.html",
            "logout.html",
            "consent.html",
            "mfa.html",
            "redeem.html",
            "myapps.html",
            "security_info.html",
            "block.html",
            "landing.html",
        ] {
            for locale in Locale::ALL {
                let context = minijinja::context! {
                    title => "t", step => "identify", fields => Vec::<(String, String)>::new(),
                    items => vec!["consent-scope-signin"], email => "a@b.example",
                };
                let page = Page::new(name, &Chrome::gatehouse(locale), context)
                    .unwrap_or_else(|e| panic!("{name} {locale}: {e:#}"));
                assert!(
                    page.html.contains(&format!(r#"<html lang="{locale}">"#)),
                    "{name} {locale}"
                );
            }
        }
    }

    #[test]
    fn pages_speak_the_readers_language() {
        let render = |locale| {
            Page::new(
                "login.html",
                &Chrome::gatehouse(locale),
                minijinja::context! { title => "t", step => "password", email => "a@b.example" },
            )
            .unwrap()
            .html
        };
        assert!(render(Locale::En).contains("Password"));
        assert!(render(Locale::Fr).contains("Mot de passe"));
        assert!(render(Locale::De).contains("Passwort"));
        let html = render(Locale::En);
        assert!(
            html.contains(r#"name="username" value="a@b.example" autocomplete="username""#),
            "a hidden username beside the password: {html}"
        );
    }

    #[test]
    fn templates_escape_user_text() {
        let html = Page::new(
            "message.html",
            &Chrome::gatehouse(Locale::En),
            minijinja::context! { title => "x", message => "<script>alert(1)</script>" },
        )
        .unwrap()
        .html;
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
