//! Creating applications: OIDC clients and SAML service providers. Managing them afterwards
//! (read, list, PATCH, delete, SAML metadata refresh) is [`manage`], their client secrets
//! [`credentials`], and their Graph representation [`shape`]. Assignments are in
//! [`super::assignments`].

pub mod credentials;
pub mod manage;
pub mod shape;

use super::{AdminError, bounded_text, conflict_or, tenant_by_slug, user_by_email};
use crate::domain::Invalid;
use crate::domain::app::{App, AppSecret, ClientType, GrantType, SigningAlg, parse_redirect_uri};
use crate::domain::permission;
use crate::domain::saml::{AcsEndpoint, NameIdFormat, SamlSp, parse_endpoint, parse_entity_id};
use crate::domain::unix_now;
use crate::samlxml::metadata::{certificate_from_pem, parse_sp_metadata};
use crate::secrets;
use crate::store::Store;

/// Input for a new application.
#[derive(Debug, Clone, Default)]
pub struct AppInput {
    /// Tenant slug.
    pub tenant: String,
    /// Display name.
    pub name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Public (no secret) instead of confidential.
    pub public: bool,
    /// Grants; empty means authorization_code + refresh_token.
    pub grants: Vec<String>,
    /// Signing algorithm; default RS256.
    pub signing_alg: Option<String>,
    /// The app's SAML service-provider side, if any.
    pub saml: Option<SamlInput>,
    /// Admin-API permissions granted to the app (e.g. `User.Invite.All`).
    pub permissions: Vec<String>,
    /// E-mail addresses of the users who own the app.
    pub owners: Vec<String>,
    /// Where the app starts (shown in My Apps).
    pub home_url: Option<String>,
    /// Only assigned users may sign in.
    pub assignment_required: bool,
    /// App roles, claims configuration, logout URIs, client keys, token lifetimes, logo.
    pub profile: crate::domain::app_profile::AppProfile,
}

/// The SAML side of a new application: from the SP's metadata, or given field by field.
#[derive(Debug, Clone, Default)]
pub struct SamlInput {
    /// The SP's metadata document (takes precedence over the fields below).
    pub metadata: Option<String>,
    /// SP entityID.
    pub entity_id: Option<String>,
    /// HTTP-POST ACS URLs; the first is the default.
    pub acs_urls: Vec<String>,
    /// HTTP-Redirect single-logout URL.
    pub slo_url: Option<String>,
    /// The SP's signing certificate (PEM or base64 DER).
    pub certificate: Option<String>,
    /// Whether every AuthnRequest must be signed.
    pub requests_signed: bool,
    /// NameID format: persistent, emailAddress or transient. Default: from the metadata's
    /// `NameIDFormat`s ([`NameIdFormat::from_metadata`]), else persistent.
    pub nameid_format: Option<String>,
    /// Sign the Response as well as the Assertion.
    pub sign_response: bool,
}

fn saml_sp(input: SamlInput) -> Result<SamlSp, AdminError> {
    let nameid_format = input
        .nameid_format
        .as_deref()
        .map(NameIdFormat::parse)
        .transpose()?;
    let mut sp = match input.metadata {
        Some(xml) => {
            parse_sp_metadata(&xml, nameid_format).map_err(|e| Invalid::new(e.to_string()))?
        }
        None => {
            let entity_id = input.entity_id.ok_or_else(|| {
                Invalid::new("a SAML app needs --saml-metadata or --saml-entity-id")
            })?;
            if input.acs_urls.is_empty() {
                return Err(Invalid::new("a SAML app needs at least one --saml-acs-url").into());
            }
            let acs = input
                .acs_urls
                .iter()
                .enumerate()
                .map(|(index, url)| {
                    Ok(AcsEndpoint {
                        url: parse_endpoint(url)?,
                        index: index as u32,
                        is_default: index == 0,
                    })
                })
                .collect::<Result<Vec<_>, Invalid>>()?;
            SamlSp {
                entity_id: parse_entity_id(&entity_id)?,
                acs,
                slo_url: input.slo_url.as_deref().map(parse_endpoint).transpose()?,
                certificates: Vec::new(),
                authn_requests_signed: false,
                sign_response: false,
                nameid_format: nameid_format.unwrap_or(NameIdFormat::Persistent),
                metadata_url: None,
            }
        }
    };
    if let Some(certificate) = &input.certificate {
        sp.certificates.push(certificate_from_pem(certificate)?);
    }
    sp.authn_requests_signed |= input.requests_signed;
    if sp.authn_requests_signed && sp.certificates.is_empty() {
        return Err(
            Invalid::new("signed requests need the SP's certificate (--saml-certificate)").into(),
        );
    }
    sp.sign_response = input.sign_response;
    Ok(sp)
}

/// The app's grant types: as asked, or else the OIDC web app's; adjacent repeats dropped.
fn grant_types(
    grants: &[String],
    saml: bool,
    redirect_uris: &[String],
) -> Result<Vec<GrantType>, AdminError> {
    let mut grant_types = grants
        .iter()
        .map(|g| g.parse::<GrantType>())
        .collect::<Result<Vec<_>, _>>()?;
    // An app without grants is an OIDC web app, unless it is only a SAML SP.
    if grant_types.is_empty() && (!saml || !redirect_uris.is_empty()) {
        grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    }
    grant_types.dedup();
    Ok(grant_types)
}

/// Parses each redirect URI, refusing the first that is not acceptable.
fn parse_redirect_uris(raw: &[String]) -> Result<Vec<String>, Invalid> {
    raw.iter().map(|u| parse_redirect_uri(u)).collect()
}

/// The stored form of a new app's client secret, when it has one: its digest and hint.
fn app_secrets(secret: Option<&String>, now: i64) -> Vec<AppSecret> {
    secret
        .iter()
        .map(|s| AppSecret {
            id: uuid::Uuid::new_v4().to_string(),
            secret_hash: secrets::hash_secret(s),
            hint: s.chars().take(3).collect(),
            display_name: None,
            created_at: now,
            expires_at: None,
        })
        .collect()
}

/// Creates an application; returns it with its client secret (confidential apps only — the
/// secret is shown once and only its digest is stored).
pub async fn create_app(
    store: &dyn Store,
    input: AppInput,
) -> Result<(App, Option<String>), AdminError> {
    let tenant = tenant_by_slug(store, &input.tenant).await?;
    let saml = input.saml.map(saml_sp).transpose()?;
    let grant_types = grant_types(&input.grants, saml.is_some(), &input.redirect_uris)?;
    let client_type = if input.public {
        ClientType::Public
    } else {
        ClientType::Confidential
    };
    if client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(Invalid::new("a public app cannot use client_credentials").into());
    }
    let redirect_uris = parse_redirect_uris(&input.redirect_uris)?;
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(Invalid::new(
            "an app using authorization_code needs at least one --redirect-uri",
        )
        .into());
    }
    let post_logout_redirect_uris = parse_redirect_uris(&input.post_logout_redirect_uris)?;
    let signing_alg = match input.signing_alg.as_deref() {
        Some(alg) => alg.parse::<SigningAlg>()?,
        None => SigningAlg::RS256,
    };
    let permissions = input
        .permissions
        .iter()
        .map(|p| permission::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut owners = Vec::new();
    for email in &input.owners {
        owners.push(user_by_email(store, &tenant, email).await?.id);
    }
    let home_url = input
        .home_url
        .as_deref()
        .map(crate::domain::saml::parse_endpoint)
        .transpose()?;
    input.profile.validate()?;
    if let Some(jwks) = &input.profile.keys.jwks {
        crate::services::client_assertion::check_jwks(jwks)?;
    }
    let now = unix_now();
    // A confidential app that registered keys authenticates with them (private_key_jwt) and
    // gets no shared secret; it may add one later (addPassword).
    let has_keys = input.profile.keys.jwks.is_some() || input.profile.keys.jwks_uri.is_some();
    let secret = (client_type == ClientType::Confidential && !grant_types.is_empty() && !has_keys)
        .then(secrets::new_secret);
    let app = App {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id,
        client_id: uuid::Uuid::new_v4().to_string(),
        name: bounded_text("name", &input.name, 256)?,
        client_type,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        signing_alg,
        enabled: true,
        saml,
        permissions,
        owners,
        home_url,
        assignment_required: input.assignment_required,
        profile: input.profile,
        secrets: app_secrets(secret.as_ref(), now),
        created_at: now,
    };
    store.create_app(&app).await.map_err(|e| {
        conflict_or(e, || {
            "an app with that client id or SAML entity id already exists in this tenant".to_owned()
        })
    })?;
    Ok((app, secret))
}
