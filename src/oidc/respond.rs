//! Authorization responses: delivering a code or an error to the client's redirect URI, by
//! query (RFC 6749 §4.1.2) or by auto-submitted form (OAuth 2.0 Form Post Response Mode),
//! always with `iss` (RFC 9207) and the client's `state`.

pub use crate::domain::signin::ResponseMode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::oidc::error::clean_description;
use crate::web::error::AppError;
use crate::web::see_other;
use crate::web::{AUTO_SUBMIT_SCRIPT, Chrome, Page};

/// Where and how to answer the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReturnTo {
    /// The validated redirect URI, exactly as the client sent it.
    pub redirect_uri: String,
    /// Response mode.
    pub mode: ResponseMode,
    /// The client's `state`, echoed unchanged.
    pub state: Option<String>,
    /// The language of the form_post page (its title and the no-script hint).
    #[serde(default)]
    pub locale: crate::i18n::Locale,
}

impl ReturnTo {
    /// A successful response carrying `code`.
    pub fn code(&self, issuer: &str, code: &str) -> Result<Response, AppError> {
        self.deliver(vec![("code", code.to_owned())], issuer)
    }

    /// An error response (RFC 6749 §4.1.2.1).
    pub fn error(&self, issuer: &str, error: &str, description: &str) -> Response {
        let params = vec![
            ("error", error.to_owned()),
            ("error_description", clean_description(description)),
        ];
        self.deliver(params, issuer)
            .unwrap_or_else(IntoResponse::into_response)
    }

    fn deliver(&self, mut params: Vec<(&str, String)>, issuer: &str) -> Result<Response, AppError> {
        if let Some(state) = &self.state {
            params.push(("state", state.clone()));
        }
        params.push(("iss", issuer.to_owned()));
        match self.mode {
            ResponseMode::Query => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish();
                let separator = if self.redirect_uri.contains('?') {
                    '&'
                } else {
                    '?'
                };
                Ok(see_other(&format!(
                    "{}{separator}{encoded}",
                    self.redirect_uri
                )))
            }
            ResponseMode::FormPost => {
                let fields: Vec<(String, String)> =
                    params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                let page = Page::new(
                    "form_post.html",
                    &Chrome::gatehouse(self.locale),
                    minijinja::context! {
                        action => &self.redirect_uri, fields, script => AUTO_SUBMIT_SCRIPT,
                    },
                )?;
                Ok(page
                    .auto_submit()
                    .form_target(&self.redirect_uri)
                    .into_response())
            }
        }
    }
}

impl ReturnTo {
    /// Where the answer to `request` goes.
    pub fn of(request: &crate::domain::signin::AuthorizeRequest) -> Self {
        Self {
            redirect_uri: request.redirect_uri.clone(),
            mode: request.response_mode,
            state: request.state.clone(),
            locale: crate::i18n::Locale::negotiate(request.ui_locales.as_deref(), None, None),
        }
    }
}
