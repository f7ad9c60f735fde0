//! Managing applications for a caller: reading, listing, changing (a Graph-shaped PATCH,
//! checked whole by the rules an app is created with), refreshing an SP's SAML metadata and
//! deleting. Administrators act with Application.Read.All / Application.ReadWrite.All; an
//! app's owners may read and change their own app as delegated callers (with the delegated
//! permission in their token). Every change is audited in the store call that makes it, which
//! also bumps the configuration generation so every node drops its cached copy.

use serde_json::Value;

use super::shape::apply_patch;
use crate::domain::Invalid;
use crate::domain::app::{App, ClientType, GrantType, parse_redirect_uri};
use crate::domain::permission::{APPLICATION_READ_ALL, APPLICATION_READWRITE_ALL};
use crate::domain::unix_now;
use crate::services::actor::{Caller, Principal};
use crate::services::admin::bounded_text;
use crate::services::{Error, Result};
use crate::store::{AuditEvent, Party, Store, StoreError};

/// What a caller wants to do with an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read it.
    Read,
    /// Change or delete it, or its secrets.
    Write,
}

/// How an app is named in a request: its object id, or its `client_id` (Graph's
/// `applications(appId='…')`).
#[derive(Debug, Clone, Copy)]
pub enum AppKey<'a> {
    /// `App.id`.
    Id(&'a str),
    /// `App.client_id`.
    ClientId(&'a str),
}

/// Whether the caller may do `access` to `app` (to any app of the tenant when `None`).
pub fn authorize(caller: &Caller, app: Option<&App>, access: Access) -> Result<()> {
    let permissions: &[&str] = match access {
        Access::Read => &[APPLICATION_READ_ALL, APPLICATION_READWRITE_ALL],
        Access::Write => &[APPLICATION_READWRITE_ALL],
    };
    if permissions.iter().any(|p| caller.holds(p)) {
        return Ok(());
    }
    let owner = match (&caller.principal, app) {
        (Principal::User { user, .. }, Some(app)) => app.owners.contains(&user.id),
        _ => false,
    };
    if owner && permissions.iter().any(|p| caller.delegates(p)) {
        return Ok(());
    }
    Err(Error::forbidden(format!(
        "the caller does not hold the permission {}",
        permissions[permissions.len() - 1]
    )))
}

/// The tenant's app named by `key`, if the caller may `access` it (404 when there is none).
pub async fn find(
    store: &dyn Store,
    caller: &Caller,
    key: AppKey<'_>,
    access: Access,
) -> Result<App> {
    let tenant_id = &caller.tenant.id;
    let found = match key {
        AppKey::Id(id) => store.app_by_id(tenant_id, id).await,
        AppKey::ClientId(client_id) => store.app_by_client_id(client_id).await.and_then(|app| {
            if &app.tenant_id == tenant_id {
                Ok(app)
            } else {
                Err(StoreError::NotFound)
            }
        }),
    };
    let app = match found {
        Ok(app) => app,
        Err(StoreError::NotFound) => {
            // Only a caller who could see every app learns that this one does not exist.
            authorize(caller, None, access)?;
            return Err(Error::not_found("there is no such application"));
        }
        Err(e) => return Err(Error::unexpected(e)),
    };
    authorize(caller, Some(&app), access)?;
    Ok(app)
}

/// A window of the tenant's apps (Application.Read.All).
pub async fn list(store: &dyn Store, caller: &Caller, limit: i64, offset: i64) -> Result<Vec<App>> {
    authorize(caller, None, Access::Read)?;
    store
        .list_apps(&caller.tenant.id, limit, offset)
        .await
        .map_err(Error::unexpected)
}

/// The app as an audit event's target.
pub fn target(app: &App) -> Vec<Party> {
    vec![Party {
        id: app.id.clone(),
        kind: "application".to_owned(),
        display: app.name.clone(),
    }]
}

/// Checks a whole app against the rules it is created with: a name, redirect and
/// post-logout URIs that are safe, grants its client type may use (a redirect URI for the
/// code grant, no client credentials for a public client, some grant unless it is only a SAML
/// SP), registered client keys that are public keys, and the profile's own rules.
pub fn check_registration(app: &mut App) -> std::result::Result<(), Invalid> {
    app.name = bounded_text("displayName", &app.name, 256)?;
    for uri in app
        .redirect_uris
        .iter()
        .chain(&app.post_logout_redirect_uris)
    {
        parse_redirect_uri(uri)?;
    }
    if app.client_type == ClientType::Public && app.allows(GrantType::ClientCredentials) {
        return Err(Invalid::new("a public app cannot use client_credentials"));
    }
    if app.allows(GrantType::AuthorizationCode) && app.redirect_uris.is_empty() {
        return Err(Invalid::new(
            "an app using authorization_code needs at least one redirect URI",
        ));
    }
    if app.grant_types.is_empty() && app.saml.is_none() {
        return Err(Invalid::new(
            "an app needs at least one grant type unless it is a SAML service provider",
        ));
    }
    app.profile.validate()?;
    if let Some(jwks) = &app.profile.keys.jwks {
        crate::services::client_assertion::check_jwks(jwks)?;
    }
    Ok(())
}

/// Applies a Graph-shaped `patch` to the app, checks the whole result, stores it with its
/// audit event ("Update application") and returns it.
pub async fn update(
    store: &dyn Store,
    caller: &Caller,
    key: AppKey<'_>,
    patch: &Value,
) -> Result<App> {
    let fields = patch
        .as_object()
        .ok_or_else(|| Error::invalid("the body must be a JSON object"))?;
    let mut app = find(store, caller, key, Access::Write).await?;
    apply_patch(&mut app, fields)?;
    check_registration(&mut app)?;
    let audit = AuditEvent::new(
        &caller.tenant.id,
        "ApplicationManagement",
        "Update application",
        caller.party(),
        target(&app),
    )
    .with_details(serde_json::json!({ "modifiedProperties": fields.keys().collect::<Vec<_>>() }));
    save(store, &app, &audit).await?;
    tracing::info!(tenant = %caller.tenant.slug, app = %app.id, "application updated");
    Ok(app)
}

/// Stores a changed app; a SAML entity id taken by another app is a conflict.
async fn save(store: &dyn Store, app: &App, audit: &AuditEvent) -> Result<()> {
    match store.update_app(app, audit).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(Error::conflict(
            "another app of this tenant has that SAML entity id",
        )),
        Err(StoreError::NotFound) => Err(Error::not_found("there is no such application")),
        Err(e) => Err(Error::unexpected(e)),
    }
}

/// Re-reads an SP's metadata from its `saml.metadataUrl` through the guarded upstream client
/// (no redirects, public addresses only, 1 MiB) and takes its entity id, endpoints and
/// certificates; the administrator's choices (NameID format, response signing) stay.
pub async fn refresh_saml_metadata(
    store: &dyn Store,
    federation: &crate::upstream::Federation,
    caller: &Caller,
    key: AppKey<'_>,
) -> Result<App> {
    let mut app = find(store, caller, key, Access::Write).await?;
    let Some(current) = app.saml.clone() else {
        return Err(Error::invalid("the application has no SAML side"));
    };
    let Some(url) = current.metadata_url.clone() else {
        return Err(Error::invalid(
            "the application has no saml.metadataUrl to refresh from",
        ));
    };
    let xml = federation
        .fetch_document(&url)
        .await
        .map_err(|e| Error::invalid(format!("the SP metadata cannot be read: {e}")))?;
    let mut sp = crate::samlxml::metadata::parse_sp_metadata(&xml, Some(current.nameid_format))
        .map_err(|e| Error::invalid(format!("the SP metadata is not usable: {e}")))?;
    sp.sign_response = current.sign_response;
    sp.authn_requests_signed |= current.authn_requests_signed;
    if sp.authn_requests_signed && sp.certificates.is_empty() {
        return Err(Error::invalid(
            "the SP signs its requests but its metadata has no signing certificate",
        ));
    }
    sp.metadata_url = Some(url);
    app.saml = Some(sp);
    let audit = AuditEvent::new(
        &caller.tenant.id,
        "ApplicationManagement",
        "Update application",
        caller.party(),
        target(&app),
    )
    .with_details(serde_json::json!({ "modifiedProperties": ["saml"], "source": "metadataUrl" }));
    save(store, &app, &audit).await?;
    Ok(app)
}

/// Deletes an app with its secrets, SAML side and assignments; every grant issued to it is
/// revoked in the same transaction, so its refresh tokens and access tokens stop working.
pub async fn delete(store: &dyn Store, caller: &Caller, key: AppKey<'_>) -> Result<App> {
    let app = find(store, caller, key, Access::Write).await?;
    let audit = AuditEvent::new(
        &caller.tenant.id,
        "ApplicationManagement",
        "Delete application",
        caller.party(),
        target(&app),
    )
    .with_details(serde_json::json!({ "appId": app.client_id }));
    match store.delete_app(&app, unix_now(), &audit).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(Error::not_found("there is no such application")),
        Err(e) => return Err(Error::unexpected(e)),
    }
    tracing::info!(tenant = %caller.tenant.slug, app = %app.id, "application deleted");
    Ok(app)
}
