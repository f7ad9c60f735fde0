//! An app's client secrets as Graph `passwordCredentials`: `addPassword` makes a random
//! 256-bit secret, shows it once and stores only its SHA-256; `removePassword` deletes one.
//! Several may be alive at once, so a client rotates without downtime (add, deploy, remove).
//! Each has an end (two years at most, the default); an expired secret no longer
//! authenticates. The secret never reaches a log, an audit event or a later answer.

use super::manage::{Access, AppKey, find, target};
use super::shape::secret_end;
use crate::domain::app::{App, AppSecret, ClientType};
use crate::domain::unix_now;
use crate::secrets;
use crate::services::actor::Caller;
use crate::services::admin::bounded_text;
use crate::services::{Error, Result};
use crate::store::{AuditEvent, Store, StoreError};

/// The audit activity of every change to an app's secrets (Entra's wording).
pub const SECRETS_ACTIVITY: &str = "Update application – Certificates and secrets management";

/// Most secrets one app may hold at once.
pub const MAX_SECRETS: usize = 10;

/// A new secret as asked for (Graph `passwordCredential`).
#[derive(Debug, Clone, Default)]
pub struct NewPassword {
    /// A name for it.
    pub display_name: Option<String>,
    /// Its end (RFC 3339); two years from now when absent.
    pub end_date_time: Option<String>,
}

/// Adds a client secret to a confidential app; returns the app (before the change), the
/// stored secret and its text, which is never shown again.
pub async fn add_password(
    store: &dyn Store,
    caller: &Caller,
    key: AppKey<'_>,
    input: NewPassword,
) -> Result<(App, AppSecret, String)> {
    let app = find(store, caller, key, Access::Write).await?;
    if app.client_type == ClientType::Public {
        return Err(Error::invalid("a public client has no client secrets"));
    }
    if app.secrets.len() >= MAX_SECRETS {
        return Err(Error::invalid(format!(
            "an application holds at most {MAX_SECRETS} secrets; remove one first"
        )));
    }
    let now = unix_now();
    let display_name = input
        .display_name
        .as_deref()
        .filter(|name| !name.trim().is_empty())
        .map(|name| bounded_text("displayName", name, 256))
        .transpose()?;
    let expires_at = secret_end(input.end_date_time.as_deref(), now)?;
    let text = secrets::new_secret();
    let secret = AppSecret {
        id: uuid::Uuid::new_v4().to_string(),
        secret_hash: secrets::hash_secret(&text),
        hint: text.chars().take(3).collect(),
        display_name,
        created_at: now,
        expires_at: Some(expires_at),
    };
    let audit = AuditEvent::new(
        &caller.tenant.id,
        "ApplicationManagement",
        SECRETS_ACTIVITY,
        caller.party(),
        target(&app),
    )
    .with_details(serde_json::json!({
        "action": "addPassword",
        "keyId": secret.id,
        "displayName": secret.display_name,
        "endDateTime": crate::domain::date_time(expires_at),
    }));
    store
        .add_app_secret(&app.id, &secret, &audit)
        .await
        .map_err(Error::unexpected)?;
    tracing::info!(tenant = %caller.tenant.slug, app = %app.id, key_id = %secret.id, "client secret added");
    Ok((app, secret, text))
}

/// Removes the app's secret `key_id` (404 when it has none by that id).
pub async fn remove_password(
    store: &dyn Store,
    caller: &Caller,
    key: AppKey<'_>,
    key_id: &str,
) -> Result<App> {
    let app = find(store, caller, key, Access::Write).await?;
    let audit = AuditEvent::new(
        &caller.tenant.id,
        "ApplicationManagement",
        SECRETS_ACTIVITY,
        caller.party(),
        target(&app),
    )
    .with_details(serde_json::json!({ "action": "removePassword", "keyId": key_id }));
    match store.remove_app_secret(&app.id, key_id, &audit).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(Error::not_found(format!(
                "the application has no password credential {key_id}"
            )));
        }
        Err(e) => return Err(Error::unexpected(e)),
    }
    tracing::info!(tenant = %caller.tenant.slug, app = %app.id, key_id, "client secret removed");
    Ok(app)
}
