//! `gatehouse app …`: applications (OpenID Connect clients and SAML service providers) and
//! their assignments to users and groups. Managing them after creation is in [`manage`].

mod manage;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{Admin, print, read_optional_text};
use crate::services::admin::{self, AppInput, SamlInput};

/// The `app` commands.
#[derive(Debug, Subcommand)]
pub(super) enum AppCommand {
    /// Create an OIDC application; prints {client_id, client_secret (confidential only), ...}.
    Create(Box<AppCreate>),
    /// Assign an application to a user or a group (needed when it requires assignment).
    Assign(AssignArgs),
    /// Remove an application's assignment to a user or a group.
    Unassign(AssignArgs),
    /// List the tenant's applications: {"value": [application]} (the admin API's shape).
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Show one application (the admin API's shape; secrets as passwordCredentials, never
    /// their text).
    Show(manage::AppRef),
    /// Change an application: flags for the common properties, or --json FILE with a patch in
    /// the admin API's `application` shape (PATCH /applications/{id}); the whole result is
    /// checked as at creation. Prints the application.
    Update(Box<manage::AppUpdate>),
    /// Delete an application with its secrets, SAML side and assignments; its grants are
    /// revoked.
    Delete(manage::AppRef),
    /// Read an SP's SAML metadata again from its saml.metadataUrl; prints the application.
    RefreshSamlMetadata(manage::AppRef),
    /// Manage client secrets (add shows the secret once; several may be alive for rotation).
    #[command(subcommand)]
    Secret(manage::SecretCommand),
}

#[derive(Debug, Args)]
pub(super) struct AssignArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// The application's client_id.
    #[arg(long)]
    app: String,
    /// The user, by e-mail address.
    #[arg(
        long,
        value_name = "EMAIL",
        conflicts_with = "group",
        required_unless_present = "group"
    )]
    user: Option<String>,
    /// The group, by id.
    #[arg(long, value_name = "ID")]
    group: Option<String>,
}

impl AssignArgs {
    /// The user or group named.
    fn assignee(&self) -> admin::assignments::Assignee {
        match (&self.user, &self.group) {
            (Some(email), _) => admin::assignments::Assignee::User(email.clone()),
            (None, Some(id)) => admin::assignments::Assignee::Group(id.clone()),
            (None, None) => admin::assignments::Assignee::User(String::new()),
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct AppCreate {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// Redirect URI (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE only).
    #[arg(long)]
    public: bool,
    /// Grant type (repeatable): authorization_code, refresh_token, client_credentials.
    #[arg(long = "grant", value_name = "GRANT")]
    grants: Vec<String>,
    /// Token signing algorithm: RS256 (default) or ES256.
    #[arg(long, value_name = "ALG")]
    signing_alg: Option<String>,
    /// A SAML SP: its metadata XML file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["saml_entity_id", "saml_acs_urls", "saml_slo_url"])]
    saml_metadata: Option<PathBuf>,
    /// A SAML SP: its entity id (with --saml-acs-url).
    #[arg(long, value_name = "ENTITY_ID", requires = "saml_acs_urls")]
    saml_entity_id: Option<String>,
    /// A SAML SP: an assertion consumer service URL (HTTP-POST; repeatable; first is default).
    #[arg(long = "saml-acs-url", value_name = "URL", requires = "saml_entity_id")]
    saml_acs_urls: Vec<String>,
    /// A SAML SP: its single-logout URL (HTTP-Redirect).
    #[arg(long, value_name = "URL")]
    saml_slo_url: Option<String>,
    /// A SAML SP: its signing certificate file (PEM).
    #[arg(long, value_name = "FILE")]
    saml_certificate: Option<PathBuf>,
    /// A SAML SP: require every AuthnRequest to be signed.
    #[arg(long)]
    saml_requests_signed: bool,
    /// A SAML SP: NameID format, persistent, emailAddress or transient (default: from the
    /// metadata's NameIDFormat — the one listed, persistent when it is among several — else
    /// persistent).
    #[arg(long, value_name = "FORMAT")]
    saml_nameid_format: Option<String>,
    /// A SAML SP: sign the Response as well as the Assertion.
    #[arg(long)]
    saml_sign_response: bool,
    /// An admin-API permission granted to the app (repeatable), e.g. User.Invite.All.
    #[arg(long = "permission", value_name = "PERMISSION")]
    permissions: Vec<String>,
    /// E-mail address of a user who owns the app (repeatable); owners may invite to it.
    #[arg(long = "owner", value_name = "EMAIL")]
    owners: Vec<String>,
    /// Where the app starts (shown in My Apps).
    #[arg(long, value_name = "URL")]
    home_url: Option<String>,
    /// Only assigned users (directly or through a group) may sign in.
    #[arg(long)]
    assignment_required: bool,
    /// The app's public JWK Set (a JSON file) for private_key_jwt: the app gets no secret.
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    jwks_file: Option<PathBuf>,
    /// Where the app publishes its JWK Set for private_key_jwt: the app gets no secret.
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
}

impl AppCreate {
    /// The SAML service provider described, when the app is one.
    fn saml(&self) -> anyhow::Result<Option<SamlInput>> {
        if self.saml_metadata.is_none() && self.saml_entity_id.is_none() {
            return Ok(None);
        }
        Ok(Some(SamlInput {
            metadata: read_optional_text(self.saml_metadata.as_deref())?,
            entity_id: self.saml_entity_id.clone(),
            acs_urls: self.saml_acs_urls.clone(),
            slo_url: self.saml_slo_url.clone(),
            certificate: read_optional_text(self.saml_certificate.as_deref())?,
            requests_signed: self.saml_requests_signed,
            nameid_format: self.saml_nameid_format.clone(),
            sign_response: self.saml_sign_response,
        }))
    }
}

/// Runs an `app` command.
pub(super) async fn run(admin: &Admin, command: AppCommand) -> anyhow::Result<()> {
    match command {
        AppCommand::Assign(args) => assign(admin, args, true).await,
        AppCommand::Unassign(args) => assign(admin, args, false).await,
        AppCommand::Create(args) => create(admin, *args).await,
        AppCommand::List { tenant } => manage::list(admin, &tenant).await,
        AppCommand::Show(target) => manage::show(admin, target).await,
        AppCommand::Update(args) => manage::update(admin, *args).await,
        AppCommand::Delete(target) => manage::delete(admin, target).await,
        AppCommand::RefreshSamlMetadata(target) => {
            manage::refresh_saml_metadata(admin, target).await
        }
        AppCommand::Secret(command) => manage::secret(admin, command).await,
    }
}

/// `app assign` (`assigned`) and `app unassign`: prints the assignment.
async fn assign(admin: &Admin, args: AssignArgs, assigned: bool) -> anyhow::Result<()> {
    let assignee = args.assignee();
    let (app, principal, kind) = if assigned {
        admin::assignments::assign(admin.store(), &args.tenant, &args.app, &assignee).await?
    } else {
        admin::assignments::unassign(admin.store(), &args.tenant, &args.app, &assignee).await?
    };
    print(json!({
        "appId": app.client_id,
        "principalId": principal,
        "principalType": kind,
        "assigned": assigned,
    }))
}

/// `app create`: prints the application, its secret once (confidential clients) and, for a
/// SAML service provider, where Gatehouse's IdP metadata is.
async fn create(admin: &Admin, args: AppCreate) -> anyhow::Result<()> {
    let saml = args.saml()?;
    let issuer = admin.issuer(&args.tenant);
    let mut profile = crate::domain::app_profile::AppProfile::default();
    if let Some(path) = &args.jwks_file {
        let text = super::common::read_text(path)?;
        profile.keys.jwks = Some(
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?,
        );
    }
    profile.keys.jwks_uri = args.jwks_uri.clone();
    let input = AppInput {
        tenant: args.tenant,
        name: args.name,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        public: args.public,
        grants: args.grants,
        signing_alg: args.signing_alg,
        saml,
        permissions: args.permissions,
        owners: args.owners,
        home_url: args.home_url,
        assignment_required: args.assignment_required,
        profile,
    };
    let (app, secret) = admin::create_app(admin.store(), input).await?;
    let mut out = json!({
        "id": app.id,
        "client_id": app.client_id,
        "name": app.name,
        "client_type": app.client_type.as_str(),
        "redirect_uris": app.redirect_uris,
        "post_logout_redirect_uris": app.post_logout_redirect_uris,
        "grant_types": app.grant_types,
        "signing_alg": app.signing_alg,
        "permissions": app.permissions,
        "home_url": app.home_url,
        "assignment_required": app.assignment_required,
    });
    if let Some(secret) = secret {
        out["client_secret"] = json!(secret);
    }
    if let Some(sp) = &app.saml {
        out["saml"] = json!({
            "entity_id": sp.entity_id,
            "acs": sp.acs,
            "slo_url": sp.slo_url,
            "nameid_format": sp.nameid_format.as_str(),
            "authn_requests_signed": sp.authn_requests_signed,
            "sign_response": sp.sign_response,
            "idp_metadata": format!("{issuer}/saml/metadata"),
        });
    }
    print(out)
}
