//! `gatehouse tenant …`: create a tenant, change its external-collaboration settings and its
//! branding.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{Admin, print};
use crate::domain::tenant::TenantSettings;
use crate::services::admin::{self, TenantInput};

/// The `tenant` commands.
#[derive(Debug, Subcommand)]
pub(super) enum TenantCommand {
    /// Create a tenant; prints {id, slug, issuer}.
    Create(CreateArgs),
    /// Change external-collaboration settings; prints the settings. Unnamed ones are kept.
    Settings(SettingsArgs),
    /// Change the organisation's branding on its pages and mail; prints the branding.
    Branding(BrandingArgs),
}

#[derive(Debug, Args)]
pub(super) struct CreateArgs {
    /// URL segment (a-z, 0-9, '-').
    #[arg(long)]
    slug: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// A domain the tenant owns (repeatable; the first is primary).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct SettingsArgs {
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
}

#[derive(Debug, Args)]
pub(super) struct BrandingArgs {
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
}

/// Runs a `tenant` command.
pub(super) async fn run(admin: &Admin, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create(args) => create(admin, args).await,
        TenantCommand::Branding(args) => branding(admin, args).await,
        TenantCommand::Settings(args) => settings(admin, args).await,
    }
}

/// `tenant create`: prints the tenant with its issuer.
async fn create(admin: &Admin, args: CreateArgs) -> anyhow::Result<()> {
    let tenant = admin::create_tenant(
        admin.store(),
        TenantInput {
            slug: args.slug,
            name: args.name,
            domains: args.domains,
        },
    )
    .await?;
    print(json!({
        "id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "issuer": admin.issuer(&tenant.slug),
        "domains": tenant.domains,
    }))
}

/// `tenant branding`: prints the branding after the change.
async fn branding(admin: &Admin, args: BrandingArgs) -> anyhow::Result<()> {
    let tenant = admin.tenant(&args.tenant).await?;
    let logo = match (args.logo, args.remove_logo) {
        (Some(path), _) => {
            Some(Some(std::fs::read(&path).map_err(|e| {
                anyhow::anyhow!("cannot read the logo {}: {e}", path.display())
            })?))
        }
        (None, true) => Some(None),
        (None, false) => None,
    };
    let change = admin::tenants::BrandingChange {
        accent_color: match (args.accent_color, args.no_accent_color) {
            (Some(colour), _) => Some(Some(colour)),
            (None, true) => Some(None),
            (None, false) => None,
        },
        logo,
    };
    let branding = admin::tenants::update_branding(admin.store(), &tenant, change).await?;
    print(json!({
        "tenant": tenant.slug,
        "accentColor": branding.accent_color,
        "bannerLogo": branding.logo,
    }))
}

/// `tenant settings`: applies the named settings, keeps the others, prints them all.
async fn settings(admin: &Admin, args: SettingsArgs) -> anyhow::Result<()> {
    let mut settings = admin.tenant(&args.tenant).await?.settings;
    let tenant = args.tenant.clone();
    apply_settings(&mut settings, args)?;
    let settings = admin::update_settings(admin.store(), &tenant, settings).await?;
    print(serde_json::to_value(settings)?)
}

/// Writes the settings named on the command line over the tenant's.
fn apply_settings(settings: &mut TenantSettings, args: SettingsArgs) -> anyhow::Result<()> {
    if let Some(policy) = args.allow_invites_from {
        settings.allow_invites_from = serde_json::from_value(json!(policy)).map_err(|_| {
            anyhow::anyhow!(
                "--allow-invites-from must be everyone, adminsGuestInvitersAndAllMembers, \
                 adminsAndGuestInviters or none"
            )
        })?;
    }
    if args.clear_domain_lists {
        settings.allowed_domains.clear();
        settings.blocked_domains.clear();
    }
    if !args.allowed_domains.is_empty() {
        settings.allowed_domains = args.allowed_domains;
    }
    if !args.blocked_domains.is_empty() {
        settings.blocked_domains = args.blocked_domains;
    }
    if let Some(days) = args.invitation_lifetime_days {
        settings.invitation_lifetime_days = days;
    }
    if let Some(url) = args.privacy_statement_url {
        settings.privacy_statement_url = Some(url);
    }
    if !args.redemption_routes.is_empty() {
        settings.redemption_order = args
            .redemption_routes
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
    if !args.trust_mfa_from.is_empty() {
        settings.mfa_trusted_tenants = args.trust_mfa_from;
    }
    if let Some(action) = args.unverified_address_redemption {
        settings.unverified_address_redemption = serde_json::from_value(json!(action))
            .map_err(|_| {
                anyhow::anyhow!(
                    "--unverified-address-redemption must be refuse or holdForApproval, not {action:?}"
                )
            })?;
    }
    Ok(())
}
