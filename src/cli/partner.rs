//! `gatehouse partner …`: partner identity providers, the guests' home IdPs (OpenID Connect
//! or SAML 2.0).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{Admin, operator, print, read_optional_text, read_password};
use crate::domain::partner::{ClientAuth, PartnerIdp};
use crate::domain::tenant::Tenant;
use crate::services::admin::partners::{self, OidcPartnerInput, PartnerChanges, SamlPartnerInput};

/// The `partner` commands.
#[derive(Debug, Subcommand)]
pub(super) enum PartnerCommand {
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
pub(super) struct PartnerUpdateArgs {
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
    saml_metadata_file: Option<PathBuf>,
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
pub(super) struct PartnerArgs {
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
    saml_metadata_file: Option<PathBuf>,
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

/// Runs a `partner` command.
pub(super) async fn run(admin: &Admin, command: PartnerCommand) -> anyhow::Result<()> {
    match command {
        PartnerCommand::List { tenant } => {
            let tenant = admin.tenant(&tenant).await?;
            let list = admin.store().partners(&tenant.id).await?;
            print(json!({ "value": list.iter().map(partners::partner_json).collect::<Vec<_>>() }))
        }
        PartnerCommand::Create(args) => create(admin, args).await,
        PartnerCommand::Update(args) => update(admin, args).await,
    }
}

/// `partner create`: a SAML IdP when metadata is given, else an OpenID provider; prints it.
async fn create(admin: &Admin, args: PartnerArgs) -> anyhow::Result<()> {
    let tenant = admin.tenant(&args.tenant).await?;
    let partner = if args.saml_metadata_file.is_some() || args.saml_metadata_url.is_some() {
        create_saml(admin, &tenant, args).await?
    } else {
        create_oidc(admin, &tenant, args).await?
    };
    print(partners::partner_json(&partner))
}

/// `partner create` of a SAML 2.0 IdP.
async fn create_saml(
    admin: &Admin,
    tenant: &Tenant,
    args: PartnerArgs,
) -> anyhow::Result<PartnerIdp> {
    let federation = admin.federation()?;
    let metadata_xml = read_optional_text(args.saml_metadata_file.as_deref())?;
    let input = SamlPartnerInput {
        display_name: args.name,
        issuer: args.issuer,
        metadata_xml,
        metadata_url: args.saml_metadata_url,
        domains: args.domains,
        attest_domains: args.attest_domains,
        trust_mfa: args.trust_mfa,
        mfa_values: args.mfa_values,
        offered_to_all: args.offer_to_all,
    };
    Ok(
        partners::create_saml_partner(admin.store(), &federation, tenant, input, operator())
            .await?,
    )
}

/// `partner create` of an OpenID provider (its discovery must answer).
async fn create_oidc(
    admin: &Admin,
    tenant: &Tenant,
    args: PartnerArgs,
) -> anyhow::Result<PartnerIdp> {
    let federation = admin.federation()?;
    let secret = if args.client_secret_stdin {
        Some(read_password()?)
    } else {
        None
    };
    let master = admin.master_key()?;
    let input = OidcPartnerInput {
        display_name: args.name,
        issuer: args.issuer.unwrap_or_default(),
        client_id: args.client_id.unwrap_or_default(),
        client_secret: secret,
        client_auth: args
            .client_auth
            .as_deref()
            .map(ClientAuth::parse)
            .transpose()?,
        scopes: Vec::new(),
        domains: args.domains,
        attest_domains: args.attest_domains,
        trust_mfa: args.trust_mfa,
        mfa_values: args.mfa_values,
        offered_to_all: args.offer_to_all,
    };
    let created = partners::create_oidc_partner(
        admin.store(),
        &master,
        &federation,
        tenant,
        input,
        operator(),
    );
    Ok(created.await?)
}

/// `partner update`: applies the named changes; prints the partner.
async fn update(admin: &Admin, args: PartnerUpdateArgs) -> anyhow::Result<()> {
    let tenant = admin.tenant(&args.tenant).await?;
    let federation = admin.federation()?;
    let master = admin.master_key()?;
    let metadata_xml = read_optional_text(args.saml_metadata_file.as_deref())?;
    let changes = PartnerChanges {
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
            .map(ClientAuth::parse)
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
    let partner = partners::update_partner(
        admin.store(),
        &master,
        &federation,
        &tenant,
        &args.id,
        changes,
        operator(),
    )
    .await?;
    print(partners::partner_json(&partner))
}
