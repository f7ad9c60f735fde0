//! The command line. `gatehouse` alone (or `gatehouse serve`) runs the server; the other
//! commands work against the configured database and print one JSON object on stdout.
//! Errors go to stderr with a non-zero exit status (2 for bad arguments, 1 otherwise).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::admin::{self, AppInput, GroupInput, SamlInput, TenantInput, UserInput};
use crate::config::Config;
use crate::domain::unix_now;
use crate::keys::{KeyRing, KeyTimings, MasterKey};
use crate::passwords::Passwords;
use crate::startup::Application;
use crate::store::{self, Store};
use crate::telemetry;

/// Gatehouse: a multi-tenant OpenID Connect and SAML identity provider for B2B collaboration.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// Configuration file (default: gatehouse.toml if present, or $GATEHOUSE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the identity provider (the default).
    Serve,
    /// Create the database (or bring it up to date) and exit; `serve` does the same at start.
    Migrate,
    /// Print the admin API's OpenAPI document (the one served at /openapi.json).
    Openapi,
    #[command(flatten)]
    Admin(Box<AdminCommand>),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Invite guests in bulk from Entra's CSV template or JSON Lines; prints one result per
    /// row on stdout (CSV, or JSON Lines with --json), a progress line on stderr when it is a
    /// terminal (or with --progress), and a summary. Exit status: 0 when every row was invited
    /// or already known, 3 when any row failed (stdout says which), 1 when the file cannot be
    /// used at all (not the template, unreadable), 2 for bad arguments.
    Invite(InviteArgs),
    /// Manage conditional-access policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Manage partner identity providers (guests' home IdPs).
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Manage the signing key ring.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Create a conditional-access policy; prints it in Graph's shape.
    Create(PolicyArgs),
    /// List the tenant's policies.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Delete a policy.
    Delete {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Policy id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum PartnerCommand {
    /// Register a partner OpenID Connect provider (its discovery must answer) or, with
    /// --saml-metadata-file/--saml-metadata-url, a SAML 2.0 IdP; prints it.
    Create(PartnerArgs),
    /// List the tenant's partner identity providers.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Change a partner: its name, client secret (rotation), SAML metadata, domains, MFA
    /// trust; prints it. The protocol and issuer never change.
    Update(PartnerUpdateArgs),
}

#[derive(Debug, Args)]
struct PartnerUpdateArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// The partner's id (`partner list`).
    #[arg(long)]
    id: String,
    /// New name shown to guests.
    #[arg(long)]
    name: Option<String>,
    /// OIDC: new client id at the partner.
    #[arg(long)]
    client_id: Option<String>,
    /// OIDC: read a new client secret from standard input (rotation).
    #[arg(long)]
    client_secret_stdin: bool,
    /// OIDC: another client authentication at the partner's token endpoint
    /// (client_secret_basic, client_secret_post, private_key_jwt or none); one that sends no
    /// secret forgets the stored secret.
    #[arg(long, value_name = "METHOD")]
    client_auth: Option<String>,
    /// SAML: a new metadata document (same entityID).
    #[arg(long, value_name = "FILE")]
    saml_metadata_file: Option<std::path::PathBuf>,
    /// SAML: a new metadata URL, fetched now ("" removes it).
    #[arg(long, value_name = "URL")]
    saml_metadata_url: Option<String>,
    /// The whole new set of e-mail domains (repeatable; replaces the set).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Attest, as administrator, that the partner owns the new domains its host is not in.
    #[arg(long)]
    attest_domains: bool,
    /// Accept the partner's MFA (true or false).
    #[arg(long, value_name = "BOOL")]
    trust_mfa: Option<bool>,
    /// Offer it to every guest at redemption (true or false).
    #[arg(long, value_name = "BOOL")]
    offer_to_all: Option<bool>,
}

#[derive(Debug, Args)]
struct PartnerArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Name shown to guests.
    #[arg(long)]
    name: String,
    /// The partner's OIDC issuer, or its SAML entityID (optional for SAML: read from the
    /// metadata, which must then name it).
    #[arg(long, required_unless_present_any = ["saml_metadata_file", "saml_metadata_url"])]
    issuer: Option<String>,
    /// Gatehouse's client id at the partner (OIDC).
    #[arg(long, required_unless_present_any = ["saml_metadata_file", "saml_metadata_url"])]
    client_id: Option<String>,
    /// A SAML IdP: its metadata document.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["client_id", "client_secret_stdin"])]
    saml_metadata_file: Option<std::path::PathBuf>,
    /// A SAML IdP: where its metadata is published (fetched now, and again for certificate
    /// rollover).
    #[arg(long, value_name = "URL", conflicts_with_all = ["client_id", "client_secret_stdin"])]
    saml_metadata_url: Option<String>,
    /// Read Gatehouse's client secret at the partner from standard input.
    #[arg(long)]
    client_secret_stdin: bool,
    /// OIDC: how Gatehouse authenticates at the partner's token endpoint
    /// (client_secret_basic, client_secret_post, private_key_jwt or none). Default: chosen
    /// from the partner's discovery — with a secret basic, else post; without one
    /// private_key_jwt (the partner registers `{issuer}/oauth2/jwks` as Gatehouse's keys).
    #[arg(long, value_name = "METHOD", conflicts_with_all = ["saml_metadata_file", "saml_metadata_url"])]
    client_auth: Option<String>,
    /// An e-mail domain the partner serves (repeatable).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Attest, as administrator, that the partner owns domains its host does not lie in
    /// (recorded in the audit log).
    #[arg(long)]
    attest_domains: bool,
    /// Accept the partner's MFA as this tenant's own.
    #[arg(long)]
    trust_mfa: bool,
    /// An upstream amr/acr value that means MFA (repeatable; default mfa, REFEDS MFA, Entra's).
    #[arg(long = "mfa-value", value_name = "VALUE")]
    mfa_values: Vec<String>,
    /// Offer this provider to every guest at redemption (the guest chooses).
    #[arg(long)]
    offer_to_all: bool,
}

#[derive(Debug, Args)]
struct PolicyArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// enabled, disabled or report-only.
    #[arg(long, default_value = "enabled")]
    state: String,
    /// Users targeted (repeatable): All, GuestsOrExternalUsers, Members, a user id or an
    /// e-mail address.
    #[arg(long = "user", value_name = "USER")]
    users: Vec<String>,
    /// Users left out (repeatable): GuestsOrExternalUsers, Members, an id or an address.
    #[arg(long = "exclude-user", value_name = "USER")]
    exclude_users: Vec<String>,
    /// Group ids targeted (repeatable).
    #[arg(long = "group", value_name = "ID")]
    groups: Vec<String>,
    /// Group ids left out (repeatable).
    #[arg(long = "exclude-group", value_name = "ID")]
    exclude_groups: Vec<String>,
    /// Applications targeted (repeatable): All or a client_id. Default: All.
    #[arg(long = "app", value_name = "CLIENT_ID")]
    apps: Vec<String>,
    /// Applications left out (repeatable).
    #[arg(long = "exclude-app", value_name = "CLIENT_ID")]
    exclude_apps: Vec<String>,
    /// mfa or block.
    #[arg(long)]
    grant: String,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant; prints {id, slug, issuer}.
    Create {
        /// URL segment (a-z, 0-9, '-').
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A domain the tenant owns (repeatable; the first is primary).
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// Change external-collaboration settings; prints the settings. Unnamed ones are kept.
    Settings {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Who may invite: everyone, adminsGuestInvitersAndAllMembers, adminsAndGuestInviters, none.
        #[arg(long, value_name = "POLICY")]
        allow_invites_from: Option<String>,
        /// A domain that may be invited (repeatable; replaces the allow-list).
        #[arg(long = "allowed-domain", value_name = "DOMAIN")]
        allowed_domains: Vec<String>,
        /// A domain that may not be invited (repeatable; replaces the deny-list).
        #[arg(long = "blocked-domain", value_name = "DOMAIN")]
        blocked_domains: Vec<String>,
        /// Clear both domain lists.
        #[arg(long)]
        clear_domain_lists: bool,
        /// Default invitation lifetime in days.
        #[arg(long, value_name = "DAYS")]
        invitation_lifetime_days: Option<u32>,
        /// The organisation's privacy statement URL.
        #[arg(long, value_name = "URL")]
        privacy_statement_url: Option<String>,
        /// A redemption route, in order (repeatable; replaces the order): homeTenant,
        /// partnerIdp, offeredIdps, emailOneTimePasscode. The passcode fallback must stay.
        #[arg(long = "redemption-route", value_name = "ROUTE")]
        redemption_routes: Vec<String>,
        /// Slug of a tenant on this Gatehouse whose MFA is accepted from its members signing
        /// in here as guests (repeatable; replaces the list).
        #[arg(long = "trust-mfa-from", value_name = "SLUG")]
        trust_mfa_from: Vec<String>,
        /// When a home IdP does not confirm the invited address: refuse, or
        /// holdForApproval (an administrator approves or denies the identity).
        #[arg(long, value_name = "ACTION")]
        unverified_address_redemption: Option<String>,
    },
    /// Change the organisation's branding on its pages and mail; prints the branding.
    Branding {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Accent colour of buttons, like #0b5cad.
        #[arg(long, value_name = "COLOUR", conflicts_with = "no_accent_color")]
        accent_color: Option<String>,
        /// Remove the accent colour.
        #[arg(long)]
        no_accent_color: bool,
        /// A PNG or JPEG logo (at most 100 KB, 1024 pixels a side).
        #[arg(long, value_name = "FILE", conflicts_with = "remove_logo")]
        logo: Option<PathBuf>,
        /// Remove the logo.
        #[arg(long)]
        remove_logo: bool,
    },
}

#[derive(Debug, Args)]
struct InviteArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Entra's bulk-invite CSV template.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "jsonl",
        required_unless_present = "jsonl"
    )]
    csv: Option<PathBuf>,
    /// One invitation object per line.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    /// Print results as JSON Lines instead of CSV.
    #[arg(long)]
    json: bool,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

/// Exit status of `gatehouse invite` when it ran but some rows failed.
pub const EXIT_ROWS_FAILED: u8 = 3;

/// The bulk invitation ran to the end but `0` rows failed (their results say why).
#[derive(Debug, thiserror::Error)]
#[error("{0} of the rows failed; their results on stdout say why")]
struct RowsFailed(usize);

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Create a group; prints {id, displayName}.
    Create {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// E-mail address of an owner (repeatable); owners may invite guests into the group.
        #[arg(long = "owner", value_name = "EMAIL")]
        owners: Vec<String>,
        /// E-mail address of a member (repeatable).
        #[arg(long = "member", value_name = "EMAIL")]
        members: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a member user; prints the user.
    Create(UserCreate),
}

#[derive(Debug, Args)]
struct UserCreate {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Sign-in e-mail address.
    #[arg(long)]
    email: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// Given name.
    #[arg(long)]
    given_name: Option<String>,
    /// Family name.
    #[arg(long)]
    family_name: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Directory role (repeatable): "Global Administrator", "User Administrator", "Guest Inviter".
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Create an OIDC application; prints {client_id, client_secret (confidential only), ...}.
    Create(Box<AppCreate>),
    /// Assign an application to a user or a group (needed when it requires assignment).
    Assign(AssignArgs),
    /// Remove an application's assignment to a user or a group.
    Unassign(AssignArgs),
}

#[derive(Debug, Args)]
struct AssignArgs {
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
    fn assignee(&self) -> admin::apps::Assignee {
        match (&self.user, &self.group) {
            (Some(email), _) => admin::apps::Assignee::User(email.clone()),
            (None, Some(id)) => admin::apps::Assignee::Group(id.clone()),
            (None, None) => admin::apps::Assignee::User(String::new()),
        }
    }
}

#[derive(Debug, Args)]
struct AppCreate {
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
}

impl AppCreate {
    fn saml(&self) -> anyhow::Result<Option<SamlInput>> {
        if self.saml_metadata.is_none() && self.saml_entity_id.is_none() {
            return Ok(None);
        }
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
        };
        Ok(Some(SamlInput {
            metadata: self.saml_metadata.as_ref().map(read).transpose()?,
            entity_id: self.saml_entity_id.clone(),
            acs_urls: self.saml_acs_urls.clone(),
            slo_url: self.saml_slo_url.clone(),
            certificate: self.saml_certificate.as_ref().map(read).transpose()?,
            requests_signed: self.saml_requests_signed,
            nameid_format: self.saml_nameid_format.clone(),
            sign_response: self.saml_sign_response,
        }))
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Activate the published next key, retire the active one, publish a new next key.
    Rotate,
}

/// Parses the command line and runs the command.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let default_filter = match command {
        Command::Serve => telemetry::SERVER_FILTER,
        Command::Migrate | Command::Openapi | Command::Admin(_) => telemetry::COMMAND_FILTER,
    };
    // Traces are for the server; an administration command is one short process.
    let otlp = match command {
        Command::Serve => config.otlp.clone(),
        _ => crate::config::OtlpSettings::default(),
    };
    let telemetry = match telemetry::init(config.log_format, default_filter, &otlp) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Openapi => serde_json::to_value(crate::graph::api().1)
            .map_err(anyhow::Error::from)
            .and_then(print),
        Command::Admin(command) => run_admin(config, *command).await,
    };
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<RowsFailed>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ROWS_FAILED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    Application::build(config).await?.run_until_stopped().await
}

fn print(value: serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let url = config.resolved_database_url();
    store::sql::connect(&url, 1).await?;
    print(json!({ "database": crate::config::redact_url(&url), "migrated": true }))
}

/// An administration command works on the server's database: a SQLite file that does not
/// exist means the wrong directory or settings, never a reason to create an empty one.
fn require_existing_database(url: &str) -> anyhow::Result<()> {
    if let Some(path) = store::sql::sqlite_file(url)
        && !path.exists()
    {
        anyhow::bail!(
            "there is no database at {} (GATEHOUSE_DATA_DIR / GATEHOUSE_DATABASE_URL). Run this \
             command where the server runs, or create it with `gatehouse migrate` (or by starting \
             `gatehouse serve` once)",
            path.display()
        );
    }
    Ok(())
}

async fn run_admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    require_existing_database(&config.resolved_database_url())?;
    let store: Arc<dyn Store> = store::sql::connect(
        &config.resolved_database_url(),
        config.database_max_connections.min(4),
    )
    .await?;
    let issuer = |slug: &str| format!("{}/{slug}", config.base_url());
    match command {
        AdminCommand::Tenant(TenantCommand::Create {
            slug,
            name,
            domains,
        }) => {
            let tenant = admin::create_tenant(
                store.as_ref(),
                TenantInput {
                    slug,
                    name,
                    domains,
                },
            )
            .await?;
            print(json!({
                "id": tenant.id,
                "slug": tenant.slug,
                "name": tenant.name,
                "issuer": issuer(&tenant.slug),
                "domains": tenant.domains,
            }))
        }
        AdminCommand::Tenant(TenantCommand::Branding {
            tenant,
            accent_color,
            no_accent_color,
            logo,
            remove_logo,
        }) => {
            let tenant = admin::tenant_by_slug(store.as_ref(), &tenant).await?;
            let logo = match (logo, remove_logo) {
                (Some(path), _) => Some(Some(std::fs::read(&path).map_err(|e| {
                    anyhow::anyhow!("cannot read the logo {}: {e}", path.display())
                })?)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let change = admin::tenants::BrandingChange {
                accent_color: match (accent_color, no_accent_color) {
                    (Some(colour), _) => Some(Some(colour)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                logo,
            };
            let branding = admin::tenants::update_branding(store.as_ref(), &tenant, change).await?;
            print(json!({
                "tenant": tenant.slug,
                "accentColor": branding.accent_color,
                "bannerLogo": branding.logo,
            }))
        }
        AdminCommand::Tenant(TenantCommand::Settings {
            tenant,
            allow_invites_from,
            allowed_domains,
            blocked_domains,
            clear_domain_lists,
            invitation_lifetime_days,
            privacy_statement_url,
            redemption_routes,
            trust_mfa_from,
            unverified_address_redemption,
        }) => {
            let mut settings = admin::tenant_by_slug(store.as_ref(), &tenant)
                .await?
                .settings;
            if let Some(policy) = allow_invites_from {
                settings.allow_invites_from = serde_json::from_value(json!(policy)).map_err(|_| {
                    anyhow::anyhow!(
                        "--allow-invites-from must be everyone, adminsGuestInvitersAndAllMembers, \
                         adminsAndGuestInviters or none"
                    )
                })?;
            }
            if clear_domain_lists {
                settings.allowed_domains.clear();
                settings.blocked_domains.clear();
            }
            if !allowed_domains.is_empty() {
                settings.allowed_domains = allowed_domains;
            }
            if !blocked_domains.is_empty() {
                settings.blocked_domains = blocked_domains;
            }
            if let Some(days) = invitation_lifetime_days {
                settings.invitation_lifetime_days = days;
            }
            if let Some(url) = privacy_statement_url {
                settings.privacy_statement_url = Some(url);
            }
            if !redemption_routes.is_empty() {
                settings.redemption_order = redemption_routes
                    .iter()
                    .map(|route| {
                        serde_json::from_value(json!(route)).map_err(|_| {
                            anyhow::anyhow!(
                                "--redemption-route must be homeTenant, partnerIdp, offeredIdps or emailOneTimePasscode, not {route:?}"
                            )
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            if !trust_mfa_from.is_empty() {
                settings.mfa_trusted_tenants = trust_mfa_from;
            }
            if let Some(action) = unverified_address_redemption {
                settings.unverified_address_redemption = serde_json::from_value(json!(action))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "--unverified-address-redemption must be refuse or holdForApproval, not {action:?}"
                        )
                    })?;
            }
            let settings = admin::update_settings(store.as_ref(), &tenant, settings).await?;
            print(serde_json::to_value(settings)?)
        }
        AdminCommand::Group(GroupCommand::Create {
            tenant,
            name,
            owners,
            members,
        }) => {
            let group = admin::create_group(
                store.as_ref(),
                GroupInput {
                    tenant,
                    name,
                    owners,
                    members,
                },
            )
            .await?;
            print(json!({ "id": group.id, "displayName": group.display_name }))
        }
        AdminCommand::Invite(args) => {
            drop(store);
            invite(config, args).await
        }
        AdminCommand::User(UserCommand::Create(args)) => {
            let password = if args.password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let input = UserInput {
                tenant: args.tenant,
                email: args.email,
                name: args.name,
                given_name: args.given_name,
                family_name: args.family_name,
                password,
                roles: args.roles,
            };
            let user = admin::create_user(store.as_ref(), &Passwords::default(), input).await?;
            print(json!({
                "id": user.id,
                "tenant_id": user.tenant_id,
                "email": user.email,
                "displayName": user.display_name,
                "userPrincipalName": user.upn,
                "userType": user.user_type.as_str(),
                "roles": user.roles,
                "has_password": user.password_hash.is_some(),
            }))
        }
        AdminCommand::App(AppCommand::Assign(args)) => {
            let (app, principal, kind) =
                admin::apps::assign(store.as_ref(), &args.tenant, &args.app, &args.assignee())
                    .await?;
            print(json!({
                "appId": app.client_id,
                "principalId": principal,
                "principalType": kind,
                "assigned": true,
            }))
        }
        AdminCommand::App(AppCommand::Unassign(args)) => {
            let (app, principal, kind) =
                admin::apps::unassign(store.as_ref(), &args.tenant, &args.app, &args.assignee())
                    .await?;
            print(json!({
                "appId": app.client_id,
                "principalId": principal,
                "principalType": kind,
                "assigned": false,
            }))
        }
        AdminCommand::App(AppCommand::Create(args)) => {
            let saml = args.saml()?;
            let input_tenant = args.tenant.clone();
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
            };
            let (app, secret) = admin::create_app(store.as_ref(), input).await?;
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
                    "idp_metadata": format!("{}/saml/metadata", issuer(&input_tenant)),
                });
            }
            print(out)
        }
        AdminCommand::Policy(command) => policy(store.as_ref(), command).await,
        AdminCommand::Partner(PartnerCommand::List { tenant }) => {
            let tenant = admin::tenant_by_slug(store.as_ref(), &tenant).await?;
            let list = store.partners(&tenant.id).await?;
            print(
                json!({ "value": list.iter().map(admin::partners::partner_json).collect::<Vec<_>>() }),
            )
        }
        AdminCommand::Partner(PartnerCommand::Create(args)) => {
            let tenant = admin::tenant_by_slug(store.as_ref(), &args.tenant).await?;
            let federation =
                crate::federation::Federation::new(config.federation.allow_private_networks)?;
            let by = crate::store::Party {
                id: "cli".to_owned(),
                kind: "system".to_owned(),
                display: "gatehouse CLI".to_owned(),
            };
            let partner = if args.saml_metadata_file.is_some() || args.saml_metadata_url.is_some() {
                let metadata_xml = match &args.saml_metadata_file {
                    Some(path) => Some(
                        std::fs::read_to_string(path)
                            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
                    ),
                    None => None,
                };
                admin::partners::create_saml_partner(
                    store.as_ref(),
                    &federation,
                    &tenant,
                    admin::partners::SamlPartnerInput {
                        display_name: args.name,
                        issuer: args.issuer,
                        metadata_xml,
                        metadata_url: args.saml_metadata_url,
                        domains: args.domains,
                        attest_domains: args.attest_domains,
                        trust_mfa: args.trust_mfa,
                        mfa_values: args.mfa_values,
                        offered_to_all: args.offer_to_all,
                    },
                    by,
                )
                .await?
            } else {
                let secret = if args.client_secret_stdin {
                    Some(read_password()?)
                } else {
                    None
                };
                let master =
                    MasterKey::load_or_create(config.master_key.as_deref(), &config.keys_dir)?;
                admin::partners::create_oidc_partner(
                    store.as_ref(),
                    &master,
                    &federation,
                    &tenant,
                    admin::partners::OidcPartnerInput {
                        display_name: args.name,
                        issuer: args.issuer.unwrap_or_default(),
                        client_id: args.client_id.unwrap_or_default(),
                        client_secret: secret,
                        client_auth: args
                            .client_auth
                            .as_deref()
                            .map(crate::domain::partner::ClientAuth::parse)
                            .transpose()?,
                        scopes: Vec::new(),
                        domains: args.domains,
                        attest_domains: args.attest_domains,
                        trust_mfa: args.trust_mfa,
                        mfa_values: args.mfa_values,
                        offered_to_all: args.offer_to_all,
                    },
                    by,
                )
                .await?
            };
            print(admin::partners::partner_json(&partner))
        }
        AdminCommand::Partner(PartnerCommand::Update(args)) => {
            let tenant = admin::tenant_by_slug(store.as_ref(), &args.tenant).await?;
            let federation =
                crate::federation::Federation::new(config.federation.allow_private_networks)?;
            let master = MasterKey::load_or_create(config.master_key.as_deref(), &config.keys_dir)?;
            let metadata_xml = match &args.saml_metadata_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let changes = admin::partners::PartnerChanges {
                display_name: args.name,
                client_id: args.client_id,
                client_secret: if args.client_secret_stdin {
                    Some(read_password()?)
                } else {
                    None
                },
                client_auth: args
                    .client_auth
                    .as_deref()
                    .map(crate::domain::partner::ClientAuth::parse)
                    .transpose()?,
                scopes: None,
                metadata_xml,
                metadata_url: args.saml_metadata_url,
                domains: (!args.domains.is_empty()).then_some(args.domains),
                attest_domains: args.attest_domains,
                trust_mfa: args.trust_mfa,
                mfa_values: None,
                offered_to_all: args.offer_to_all,
            };
            let by = crate::store::Party {
                id: "cli".to_owned(),
                kind: "system".to_owned(),
                display: "gatehouse CLI".to_owned(),
            };
            let partner = admin::partners::update_partner(
                store.as_ref(),
                &master,
                &federation,
                &tenant,
                &args.id,
                changes,
                by,
            )
            .await?;
            print(admin::partners::partner_json(&partner))
        }
        AdminCommand::Keys(KeysCommand::Rotate) => {
            let master = MasterKey::load_or_create(config.master_key.as_deref(), &config.keys_dir)?;
            let ring = KeyRing::load(store, master, KeyTimings::from_config(&config)).await?;
            let reports = ring.rotate(unix_now()).await?;
            print(json!({ "rotations": reports }))
        }
    }
}

/// `gatehouse policy …`.
async fn policy(store: &dyn Store, command: PolicyCommand) -> anyhow::Result<()> {
    use crate::admin::policies::{self, PolicyInput};
    use crate::domain::policy::{
        ApplicationConditions, Conditions, Control, GrantControls, PolicyState, UserConditions,
    };
    let operator = crate::store::Party {
        id: "cli".to_owned(),
        kind: "system".to_owned(),
        display: "gatehouse CLI".to_owned(),
    };
    match command {
        PolicyCommand::Create(args) => {
            let tenant = admin::tenant_by_slug(store, &args.tenant).await?;
            // Addresses are a convenience of the CLI: the policy stores object ids.
            let mut resolve = Vec::new();
            for list in [&args.users, &args.exclude_users] {
                let mut ids = Vec::new();
                for user in list {
                    if user.contains('@') {
                        ids.push(admin::user_by_email(store, &tenant, user).await?.id);
                    } else {
                        ids.push(user.clone());
                    }
                }
                resolve.push(ids);
            }
            let exclude_users = resolve.pop().unwrap_or_default();
            let include_users = resolve.pop().unwrap_or_default();
            let control = match args.grant.as_str() {
                "mfa" => Control::Mfa,
                "block" => Control::Block,
                other => anyhow::bail!("--grant must be mfa or block, not {other:?}"),
            };
            let input = PolicyInput {
                display_name: args.name,
                state: PolicyState::parse(&args.state)
                    .map_err(|e| anyhow::anyhow!("--state: {e}"))?,
                conditions: Conditions {
                    users: UserConditions {
                        include_users,
                        exclude_users,
                        include_groups: args.groups,
                        exclude_groups: args.exclude_groups,
                    },
                    applications: ApplicationConditions {
                        include_applications: if args.apps.is_empty() {
                            vec!["All".to_owned()]
                        } else {
                            args.apps
                        },
                        exclude_applications: args.exclude_apps,
                    },
                },
                grant: GrantControls {
                    operator: "OR".to_owned(),
                    built_in_controls: vec![control],
                },
            };
            let policy = policies::create_policy(store, &tenant, input, operator).await?;
            print(policy.to_graph())
        }
        PolicyCommand::List { tenant } => {
            let tenant = admin::tenant_by_slug(store, &tenant).await?;
            let list = store.policies(&tenant.id).await?;
            print(json!({ "value": list.iter().map(|p| p.to_graph()).collect::<Vec<_>>() }))
        }
        PolicyCommand::Delete { tenant, id } => {
            let tenant = admin::tenant_by_slug(store, &tenant).await?;
            policies::delete_policy(store, &tenant, &id, operator).await?;
            print(json!({ "deleted": id }))
        }
    }
}

/// `gatehouse invite`: the bulk engine of the API, run as the operator.
async fn invite(config: Config, args: InviteArgs) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};

    use crate::invitations::bulk::{self, CSV_HEADER, Format};
    let services = std::sync::Arc::new(crate::services::Services::connect(config).await?);
    let state = crate::services::AppState(services);
    let tenant =
        std::sync::Arc::new(admin::tenant_by_slug(state.store.as_ref(), &args.tenant).await?);
    let caller = crate::graph::auth::Caller::operator(tenant);
    let (path, format) = match (&args.csv, &args.jsonl) {
        (Some(path), _) => (path.clone(), Format::Csv),
        (None, Some(path)) => (path.clone(), Format::JsonLines),
        (None, None) => anyhow::bail!("give --csv FILE or --jsonl FILE"),
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let rows = bulk::read_rows(Box::pin(file), format)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let (results, mut receiver) = tokio::sync::mpsc::channel(256);
    let worker_state = state.clone();
    let worker =
        tokio::spawn(async move { bulk::run(&worker_state, &caller, rows, results).await });
    if !args.json {
        print!("{CSV_HEADER}");
    }
    // Progress is one line rewritten in place, for a person at a terminal; a log or a pipe
    // gets only the summary.
    let progress = args.progress || std::io::stderr().is_terminal();
    let mut rows = 0usize;
    while let Some(result) = receiver.recv().await {
        rows += 1;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            print!("{}", result.csv_line());
        }
        if progress && rows.is_multiple_of(100) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{rows} rows processed");
            let _ = err.flush();
        }
    }
    let summary = worker.await??;
    if progress {
        eprint!("\r");
    }
    eprintln!(
        "done: {} rows, {} invited, {} already known, {} failed",
        summary.rows, summary.invited, summary.skipped, summary.failed
    );
    // Deliver what can be delivered now; a running server sends the rest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if state.mailer.send_due(state.store.as_ref()).await? == 0 {
            break;
        }
    }
    if summary.failed > 0 {
        return Err(RowsFailed(summary.failed).into());
    }
    Ok(())
}
