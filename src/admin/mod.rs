//! Administrative operations on the directory — creating tenants, users and applications —
//! shared by the CLI today and the Graph-shaped admin API later. Input is validated here into
//! domain types; storage conflicts become clear messages.

use crate::domain::Invalid;
use crate::domain::app::{App, AppSecret, ClientType, GrantType, SigningAlg, parse_redirect_uri};
use crate::domain::email::EmailAddress;
use crate::domain::saml::{AcsEndpoint, NameIdFormat, SamlSp, parse_endpoint, parse_entity_id};
use crate::domain::tenant::{Tenant, parse_domain, parse_slug};
use crate::domain::unix_now;
use crate::domain::user::{Role, User, UserType};
use crate::journey::password::{Passwords, check_policy};
use crate::saml::metadata::{certificate_from_pem, parse_sp_metadata};
use crate::secrets;
use crate::store::{SecurityChange, Store, StoreError};

/// Why an administrative operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input broke a rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Something with that name already exists.
    #[error("{0}")]
    Conflict(String),
    /// The named tenant does not exist.
    #[error("tenant {0:?} does not exist")]
    NoTenant(String),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// Anything else (hashing).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn conflict_or(error: StoreError, message: impl FnOnce() -> String) -> AdminError {
    match error {
        StoreError::Conflict(_) => AdminError::Conflict(message()),
        other => AdminError::Store(other),
    }
}

fn bounded_text(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Invalid::new(format!(
            "{field} must be 1-{max} characters without control characters"
        )));
    }
    Ok(value.to_owned())
}

/// Input for a new tenant.
#[derive(Debug, Clone)]
pub struct TenantInput {
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Domains, the first is primary (recorded as verified by the operator).
    pub domains: Vec<String>,
}

/// Creates a tenant.
pub async fn create_tenant(store: &dyn Store, input: TenantInput) -> Result<Tenant, AdminError> {
    let slug = parse_slug(&input.slug)?;
    let mut domains: Vec<String> = Vec::new();
    for raw in &input.domains {
        let domain = parse_domain(raw)?;
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    let tenant = Tenant {
        id: uuid::Uuid::new_v4().to_string(),
        name: bounded_text("name", &input.name, 256)?,
        slug,
        domains,
        created_at: unix_now(),
    };
    store.create_tenant(&tenant).await.map_err(|e| {
        conflict_or(e, || {
            format!(
                "tenant slug {:?} or one of its domains is already taken",
                tenant.slug
            )
        })
    })?;
    Ok(tenant)
}

/// Input for a new member user.
#[derive(Debug, Clone)]
pub struct UserInput {
    /// Tenant slug.
    pub tenant: String,
    /// Sign-in e-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Initial password, if any.
    pub password: Option<String>,
    /// Directory roles.
    pub roles: Vec<String>,
}

/// Creates a member user (argon2id on the blocking pool for the password).
pub async fn create_user(
    store: &dyn Store,
    passwords: &Passwords,
    input: UserInput,
) -> Result<User, AdminError> {
    let tenant = tenant_by_slug(store, &input.tenant).await?;
    let email = EmailAddress::parse(&input.email)?;
    let roles = input
        .roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()?;
    let password_hash = match input.password {
        Some(password) => {
            check_policy(&password)?;
            Some(passwords.hash(password).await?)
        }
        None => None,
    };
    let optional = |field: &str, value: Option<String>| -> Result<Option<String>, Invalid> {
        value.map(|v| bounded_text(field, &v, 128)).transpose()
    };
    let now = unix_now();
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id,
        user_type: UserType::Member,
        upn: email.to_string(),
        email: email.to_string(),
        email_verified: false,
        display_name: bounded_text("name", &input.name, 256)?,
        given_name: optional("given name", input.given_name)?,
        family_name: optional("family name", input.family_name)?,
        password_hash,
        roles,
        account_enabled: true,
        security_stamp: secrets::random_token(16),
        created_at: now,
        updated_at: now,
    };
    store.create_user(&user).await.map_err(|e| {
        conflict_or(e, || {
            format!(
                "a user with the address {} already exists in this tenant",
                user.email
            )
        })
    })?;
    Ok(user)
}

/// Input for a new OIDC application.
#[derive(Debug, Clone)]
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
    /// NameID format: persistent (default) or emailAddress.
    pub nameid_format: Option<String>,
    /// Sign the Response as well as the Assertion.
    pub sign_response: bool,
}

fn saml_sp(input: SamlInput) -> Result<SamlSp, AdminError> {
    let nameid_format = match input.nameid_format.as_deref() {
        Some(format) => NameIdFormat::parse(format)?,
        None => NameIdFormat::Persistent,
    };
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
                nameid_format,
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

/// Creates an application; returns it with its client secret (confidential apps only — the
/// secret is shown once and only its digest is stored).
pub async fn create_app(
    store: &dyn Store,
    input: AppInput,
) -> Result<(App, Option<String>), AdminError> {
    let tenant = tenant_by_slug(store, &input.tenant).await?;
    let saml = input.saml.map(saml_sp).transpose()?;
    let mut grant_types = input
        .grants
        .iter()
        .map(|g| g.parse::<GrantType>())
        .collect::<Result<Vec<_>, _>>()?;
    // An app without grants is an OIDC web app, unless it is only a SAML SP.
    if grant_types.is_empty() && (saml.is_none() || !input.redirect_uris.is_empty()) {
        grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    }
    grant_types.dedup();
    let client_type = if input.public {
        ClientType::Public
    } else {
        ClientType::Confidential
    };
    if client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(Invalid::new("a public app cannot use client_credentials").into());
    }
    let redirect_uris = input
        .redirect_uris
        .iter()
        .map(|u| parse_redirect_uri(u))
        .collect::<Result<Vec<_>, _>>()?;
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(Invalid::new(
            "an app using authorization_code needs at least one --redirect-uri",
        )
        .into());
    }
    let post_logout_redirect_uris = input
        .post_logout_redirect_uris
        .iter()
        .map(|u| parse_redirect_uri(u))
        .collect::<Result<Vec<_>, _>>()?;
    let signing_alg = match input.signing_alg.as_deref() {
        Some(alg) => alg.parse::<SigningAlg>()?,
        None => SigningAlg::RS256,
    };
    let now = unix_now();
    let secret = (client_type == ClientType::Confidential && !grant_types.is_empty())
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
        secrets: secret
            .iter()
            .map(|s| AppSecret {
                id: uuid::Uuid::new_v4().to_string(),
                secret_hash: secrets::hash_secret(s),
                hint: s.chars().take(3).collect(),
                created_at: now,
                expires_at: None,
            })
            .collect(),
        created_at: now,
    };
    store.create_app(&app).await.map_err(|e| {
        conflict_or(e, || {
            "an app with that client id or SAML entity id already exists in this tenant".to_owned()
        })
    })?;
    Ok((app, secret))
}

/// Disables or re-enables a user; either ends every refresh-token family of the user.
pub async fn set_user_enabled(
    store: &dyn Store,
    tenant_id: &str,
    user_id: &str,
    enabled: bool,
) -> Result<(), AdminError> {
    update_security(store, tenant_id, user_id, Some(enabled), None).await
}

/// Sets a new password (policy-checked, argon2id); ends every refresh-token family.
pub async fn reset_password(
    store: &dyn Store,
    passwords: &Passwords,
    tenant_id: &str,
    user_id: &str,
    password: String,
) -> Result<(), AdminError> {
    check_policy(&password)?;
    let hash = passwords.hash(password).await?;
    update_security(store, tenant_id, user_id, None, Some(&hash)).await
}

async fn update_security(
    store: &dyn Store,
    tenant_id: &str,
    user_id: &str,
    enabled: Option<bool>,
    password_hash: Option<&str>,
) -> Result<(), AdminError> {
    store
        .update_user_security(&SecurityChange {
            tenant_id,
            user_id,
            enabled,
            password_hash,
            stamp: &secrets::random_token(16),
            now: unix_now(),
        })
        .await
        .map_err(AdminError::Store)
}

async fn tenant_by_slug(store: &dyn Store, slug: &str) -> Result<Tenant, AdminError> {
    match store.tenant_by_slug(slug).await {
        Ok(tenant) => Ok(tenant),
        Err(StoreError::NotFound) => Err(AdminError::NoTenant(slug.to_owned())),
        Err(e) => Err(AdminError::Store(e)),
    }
}
