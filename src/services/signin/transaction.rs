//! A sign-in in progress ([`Transaction`]), kept in the ephemeral store so that any node can
//! continue it: the protocol request it answers, its step, the browser it is bound to.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::signin::{Notice, ProtocolRequest, Step};
use crate::domain::unix_now;
use crate::domain::user::User;
use crate::ephemeral::Json;
use crate::i18n::Locale;
use crate::secrets;
use crate::services::{Result, Services};

/// A sign-in in progress, kept in the ephemeral store under `tx:{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    /// Transaction id (in the page URL; useless without the browser cookie).
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Tenant slug (URLs).
    pub tenant_slug: String,
    /// SHA-256 of the browser-binding cookie of the browser that started it.
    pub browser: String,
    /// Anti-CSRF token the pages' forms must echo.
    pub csrf: String,
    /// The protocol request to answer.
    pub request: ProtocolRequest,
    /// Current step.
    pub step: Step,
    /// Start time.
    pub created_at: i64,
    /// The languages the request asked for (`ui_locales`, an invitation's language).
    #[serde(default)]
    pub ui_locales: Option<String>,
    /// What the next page load must tell the person (the outcome of the form just posted:
    /// Post/Redirect/Get, so a reload never posts again).
    #[serde(default)]
    pub notice: Option<Notice>,
}

impl Transaction {
    fn key(id: &str) -> String {
        format!("tx:{id}")
    }

    /// Loads a transaction; `None` if it expired or never existed.
    pub async fn load(state: &Services, id: &str) -> Result<Option<Self>> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        Ok(Json(state.ephemeral.as_ref()).get(&Self::key(id)).await?)
    }

    /// Saves the transaction for the rest of its lifetime.
    pub async fn save(&self, state: &Services) -> Result<()> {
        let ttl = state.config.tokens.transaction_ttl as i64 - (unix_now() - self.created_at);
        let ttl = Duration::from_secs(ttl.max(1) as u64);
        Ok(Json(state.ephemeral.as_ref())
            .put(&Self::key(&self.id), self, ttl)
            .await?)
    }

    /// Ends the transaction.
    pub async fn delete(&self, state: &Services) -> Result<()> {
        Ok(state.ephemeral.delete(&Self::key(&self.id)).await?)
    }

    /// The language of this transaction's pages, for `user` when known: the request's
    /// `ui_locales`, the user's remembered language, then the browser's `Accept-Language`.
    pub fn locale_for(&self, accept_language: Option<&str>, user: Option<&User>) -> Locale {
        Locale::negotiate(
            self.ui_locales.as_deref(),
            user.and_then(|u| u.preferred_language.as_deref()),
            accept_language,
        )
    }

    /// Whether `binding` (the value of the browser's binding cookie) is the one of the browser
    /// that started the transaction.
    pub fn is_bound_to_binding(&self, binding: Option<&str>) -> bool {
        binding.is_some_and(|value| {
            secrets::constant_time_eq(&secrets::hash_secret(value), &self.browser)
        })
    }
}
