//! `gatehouse app list|show|update|delete|refresh-saml-metadata` and `app secret add|remove`:
//! managing applications from the command line through the same services as the admin API,
//! printing the Graph `application` representation (JSON).

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::super::common::{Admin, print, read_text};
use crate::services::Error;
use crate::services::actor::Caller;
use crate::services::admin::apps::credentials::{self, NewPassword};
use crate::services::admin::apps::manage::{self, Access, AppKey};
use crate::services::admin::apps::shape::{application_json, password_credential};

/// Page size when listing every app.
const PAGE: i64 = 100;

/// Which app of which tenant.
#[derive(Debug, Args)]
pub(in crate::cli) struct AppRef {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// The application: its object id or its client id (appId).
    #[arg(long)]
    app: String,
}

/// `app update`: the common properties as flags, or any patch as a JSON file.
#[derive(Debug, Args)]
pub(in crate::cli) struct AppUpdate {
    #[command(flatten)]
    target: AppRef,
    /// A JSON patch in the admin API's `application` shape (any subset of its writable
    /// properties: displayName, web {redirectUris, homePageUrl, logoutUrl}, info {logoUrl},
    /// appRoles, groupMembershipClaims, optionalClaims, appRoleAssignmentRequired,
    /// accountEnabled, postLogoutRedirectUris, backchannelLogoutUri, grantTypes,
    /// idTokenSignedResponseAlg, jwks, jwksUri, accessTokenLifetimeSeconds,
    /// idTokenLifetimeSeconds, saml {...}); the flags below are applied on top of it.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// New display name.
    #[arg(long)]
    name: Option<String>,
    /// The whole new set of redirect URIs (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// The whole new set of post-logout redirect URIs (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Where the app starts ("" removes it).
    #[arg(long, value_name = "URL")]
    home_url: Option<String>,
    /// The app's logo, an https URL ("" removes it).
    #[arg(long, value_name = "URL")]
    logo_url: Option<String>,
    /// Only assigned users may sign in (true or false).
    #[arg(long, value_name = "BOOL")]
    assignment_required: Option<bool>,
    /// Whether the app may sign anyone in and get tokens (true or false).
    #[arg(long, value_name = "BOOL")]
    enabled: Option<bool>,
    /// Token signing algorithm: RS256 or ES256.
    #[arg(long, value_name = "ALG")]
    signing_alg: Option<String>,
    /// The app's public JWK Set for private_key_jwt (a JSON file).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    jwks_file: Option<PathBuf>,
    /// Where the app publishes its JWK Set for private_key_jwt ("" removes it).
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// OIDC back-channel logout URI ("" removes it).
    #[arg(long, value_name = "URL")]
    backchannel_logout_uri: Option<String>,
    /// OIDC front-channel logout URI ("" removes it).
    #[arg(long, value_name = "URL")]
    frontchannel_logout_uri: Option<String>,
}

/// The `app secret` commands.
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum SecretCommand {
    /// Add a client secret; prints it with its secretText, shown this once.
    Add {
        #[command(flatten)]
        target: AppRef,
        /// A name for the secret.
        #[arg(long)]
        name: Option<String>,
        /// When it stops working (RFC 3339; default and longest: two years).
        #[arg(long, value_name = "DATE_TIME")]
        end: Option<String>,
    },
    /// Remove a client secret: it stops working at once.
    Remove {
        #[command(flatten)]
        target: AppRef,
        /// The secret's keyId (`app show` lists them as passwordCredentials).
        #[arg(long)]
        key_id: String,
    },
}

/// The operator acting on the tenant with this slug.
async fn operator(admin: &Admin, slug: &str) -> anyhow::Result<Caller> {
    Ok(Caller::operator(Arc::new(admin.tenant(slug).await?)))
}

/// The app's object id, whether it was named by object id or by client id.
async fn resolve(admin: &Admin, caller: &Caller, app: &str) -> anyhow::Result<String> {
    match manage::find(admin.store(), caller, AppKey::Id(app), Access::Read).await {
        Ok(found) => Ok(found.id),
        Err(Error::NotFound(_)) => {
            Ok(
                manage::find(admin.store(), caller, AppKey::ClientId(app), Access::Read)
                    .await?
                    .id,
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// `app list`: every app of the tenant, page by page.
pub(super) async fn list(admin: &Admin, tenant: &str) -> anyhow::Result<()> {
    let caller = operator(admin, tenant).await?;
    let mut value = Vec::new();
    loop {
        let page = manage::list(admin.store(), &caller, PAGE, value.len() as i64).await?;
        let done = (page.len() as i64) < PAGE;
        value.extend(page.iter().map(application_json));
        if done {
            break;
        }
    }
    print(json!({ "value": value }))
}

/// `app show`.
pub(super) async fn show(admin: &Admin, target: AppRef) -> anyhow::Result<()> {
    let caller = operator(admin, &target.tenant).await?;
    let id = resolve(admin, &caller, &target.app).await?;
    let app = manage::find(admin.store(), &caller, AppKey::Id(&id), Access::Read).await?;
    print(application_json(&app))
}

impl AppUpdate {
    /// The patch: the JSON file's, with the flags on top.
    fn patch(&self) -> anyhow::Result<Value> {
        let mut patch: Map<String, Value> = match &self.json {
            Some(path) => serde_json::from_str(&read_text(path)?)
                .map_err(|e| anyhow::anyhow!("{} is not a JSON object: {e}", path.display()))?,
            None => Map::new(),
        };
        let mut set = |name: &str, value: Value| {
            patch.insert(name.to_owned(), value);
        };
        let text = |value: &Option<String>| value.as_deref().map(|v| json!(v));
        if let Some(name) = text(&self.name) {
            set("displayName", name);
        }
        if !self.post_logout_redirect_uris.is_empty() {
            set(
                "postLogoutRedirectUris",
                json!(self.post_logout_redirect_uris),
            );
        }
        for (name, value) in [
            ("appRoleAssignmentRequired", self.assignment_required),
            ("accountEnabled", self.enabled),
        ] {
            if let Some(value) = value {
                set(name, json!(value));
            }
        }
        for (name, value) in [
            ("idTokenSignedResponseAlg", &self.signing_alg),
            ("jwksUri", &self.jwks_uri),
            ("backchannelLogoutUri", &self.backchannel_logout_uri),
        ] {
            if let Some(value) = text(value) {
                set(name, value);
            }
        }
        if let Some(path) = &self.jwks_file {
            let jwks: Value = serde_json::from_str(&read_text(path)?)
                .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?;
            set("jwks", jwks);
        }
        if let Some(logo) = text(&self.logo_url) {
            set("info", json!({ "logoUrl": logo }));
        }
        let mut web = patch
            .get("web")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if !self.redirect_uris.is_empty() {
            web.insert("redirectUris".into(), json!(self.redirect_uris));
        }
        if let Some(home) = text(&self.home_url) {
            web.insert("homePageUrl".into(), home);
        }
        if let Some(logout) = text(&self.frontchannel_logout_uri) {
            web.insert("logoutUrl".into(), logout);
        }
        if !web.is_empty() {
            patch.insert("web".into(), Value::Object(web));
        }
        if patch.is_empty() {
            anyhow::bail!("nothing to change: give --json FILE or a property flag");
        }
        Ok(Value::Object(patch))
    }
}

/// `app update`: prints the changed app.
pub(super) async fn update(admin: &Admin, args: AppUpdate) -> anyhow::Result<()> {
    let patch = args.patch()?;
    let caller = operator(admin, &args.target.tenant).await?;
    let id = resolve(admin, &caller, &args.target.app).await?;
    let app = manage::update(admin.store(), &caller, AppKey::Id(&id), &patch).await?;
    print(application_json(&app))
}

/// `app delete`.
pub(super) async fn delete(admin: &Admin, target: AppRef) -> anyhow::Result<()> {
    let caller = operator(admin, &target.tenant).await?;
    let id = resolve(admin, &caller, &target.app).await?;
    let app = manage::delete(admin.store(), &caller, AppKey::Id(&id)).await?;
    print(json!({ "id": app.id, "appId": app.client_id, "deleted": true }))
}

/// `app refresh-saml-metadata`: prints the app with its SAML side as the SP's metadata now
/// says.
pub(super) async fn refresh_saml_metadata(admin: &Admin, target: AppRef) -> anyhow::Result<()> {
    let caller = operator(admin, &target.tenant).await?;
    let id = resolve(admin, &caller, &target.app).await?;
    let federation = admin.federation()?;
    let app =
        manage::refresh_saml_metadata(admin.store(), &federation, &caller, AppKey::Id(&id)).await?;
    print(application_json(&app))
}

/// `app secret add|remove`.
pub(super) async fn secret(admin: &Admin, command: SecretCommand) -> anyhow::Result<()> {
    match command {
        SecretCommand::Add { target, name, end } => {
            let caller = operator(admin, &target.tenant).await?;
            let id = resolve(admin, &caller, &target.app).await?;
            let input = NewPassword {
                display_name: name,
                end_date_time: end,
            };
            let (_, secret, text) =
                credentials::add_password(admin.store(), &caller, AppKey::Id(&id), input).await?;
            let mut out = password_credential(&secret);
            out["secretText"] = json!(text);
            print(out)
        }
        SecretCommand::Remove { target, key_id } => {
            let caller = operator(admin, &target.tenant).await?;
            let id = resolve(admin, &caller, &target.app).await?;
            credentials::remove_password(admin.store(), &caller, AppKey::Id(&id), &key_id).await?;
            print(json!({ "id": id, "keyId": key_id, "removed": true }))
        }
    }
}
