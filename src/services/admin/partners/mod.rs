//! Registering partner identity providers for the CLI and the admin API: the protocol
//! fields, the client secret sealed with the master key, the IdP's discovery checked at once,
//! and the domain rules (SECURITY.md G.55): a domain is bound only when the IdP's host lies
//! inside it or an administrator attests ownership (recorded in the audit log); consumer mail
//! domains and domains a tenant on this Gatehouse verified are refused.

use crate::domain::Invalid;
use crate::domain::partner::{
    ClientAuth, DomainProof, PartnerDomain, PartnerIdp, PartnerKind, choose_client_auth,
    host_in_domain, is_consumer_domain,
};
use crate::domain::tenant::{Tenant, parse_domain};
use crate::domain::unix_now;
use crate::keys::MasterKey;
use crate::store::{AuditEvent, Party, Store, StoreError};

pub mod update;

pub use update::{PartnerChanges, update_partner};

use super::{AdminError, conflict_or};

/// What an administrator gives to register a partner OIDC provider.
#[derive(Debug, Clone, Default)]
pub struct OidcPartnerInput {
    /// Name shown to guests.
    pub display_name: String,
    /// The IdP's issuer (its discovery lives under it).
    pub issuer: String,
    /// Gatehouse's client id there.
    pub client_id: String,
    /// Gatehouse's client secret there (none: `private_key_jwt`, or a public client).
    pub client_secret: Option<String>,
    /// How Gatehouse authenticates at the partner's token endpoint; `None` chooses from the
    /// partner's discovery ([`choose_client_auth`]).
    pub client_auth: Option<ClientAuth>,
    /// Scopes beyond `openid` (default `email profile`).
    pub scopes: Vec<String>,
    /// The e-mail domains it serves.
    pub domains: Vec<String>,
    /// The administrator attests that the partner owns domains its host does not lie in.
    pub attest_domains: bool,
    /// Accept its MFA as ours.
    pub trust_mfa: bool,
    /// The upstream amr/acr values that mean MFA (default: mfa, REFEDS MFA, Entra's).
    pub mfa_values: Vec<String>,
    /// Offered to every guest at redemption (the guest chooses), not only by domain.
    pub offered_to_all: bool,
}

/// Checks and binds `domains` for a partner whose host is `host`.
pub(super) async fn bind_domains(
    store: &dyn Store,
    host: Option<&str>,
    domains: &[String],
    attest: bool,
) -> Result<Vec<PartnerDomain>, AdminError> {
    let mut bound = Vec::new();
    for raw in domains {
        let domain = parse_domain(raw)?;
        if is_consumer_domain(&domain) {
            return Err(Invalid::new(format!(
                "{domain} is a consumer mail domain: no organisation's identity provider can serve it"
            ))
            .into());
        }
        match store.tenant_slug_by_verified_domain(&domain).await {
            Ok(slug) => {
                return Err(Invalid::new(format!(
                    "{domain} is a verified domain of tenant {slug} on this Gatehouse; its users sign in there"
                ))
                .into());
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(AdminError::Store(e)),
        }
        let proof = if host.is_some_and(|h| host_in_domain(h, &domain)) {
            DomainProof::IdpHostInDomain
        } else if attest {
            DomainProof::AdminAttestation
        } else {
            return Err(Invalid::new(format!(
                "{domain} is not proven: the identity provider's host must lie inside it, or an administrator must attest that the partner owns it"
            ))
            .into());
        };
        if bound.iter().any(|b: &PartnerDomain| b.domain == domain) {
            continue;
        }
        bound.push(PartnerDomain { domain, proof });
    }
    Ok(bound)
}

/// The scopes asked of a partner: `openid`, then those given (or `email profile`), each once.
fn partner_scopes(given: Vec<String>) -> Vec<String> {
    let mut scopes = vec!["openid".to_owned()];
    let asked = if given.is_empty() {
        vec!["email".to_owned(), "profile".to_owned()]
    } else {
        given
    };
    for scope in asked {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

/// The partner's discovery document, fetched now so that a typo fails here rather than at a
/// guest; it must name the issuer it was fetched for.
async fn discover(
    federation: &crate::upstream::Federation,
    issuer: &str,
) -> Result<crate::upstream::PartnerMetadata, AdminError> {
    let metadata = federation
        .metadata(issuer, true)
        .await
        .map_err(|e| Invalid::new(e.0))?;
    if metadata.issuer().as_str() != issuer {
        return Err(Invalid::new(format!(
            "the discovery document names issuer {}, not {}",
            metadata.issuer().as_str(),
            issuer
        ))
        .into());
    }
    Ok(metadata)
}

/// Registers a partner OpenID Connect provider.
pub async fn create_oidc_partner(
    store: &dyn Store,
    master: &MasterKey,
    federation: &crate::upstream::Federation,
    tenant: &Tenant,
    input: OidcPartnerInput,
    by: Party,
) -> Result<PartnerIdp, AdminError> {
    let scopes = partner_scopes(input.scopes);
    let mut partner = PartnerIdp {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        kind: PartnerKind::Oidc,
        display_name: input.display_name.trim().to_owned(),
        issuer: input.issuer.trim().to_owned(),
        client_id: Some(input.client_id.trim().to_owned()),
        sealed_client_secret: input
            .client_secret
            .as_ref()
            .map(|s| master.seal(s.as_bytes()))
            .transpose()?,
        // Provisional until the discovery document says what the partner takes.
        client_auth: Some(
            input
                .client_auth
                .unwrap_or(if input.client_secret.is_some() {
                    ClientAuth::ClientSecretBasic
                } else {
                    ClientAuth::PrivateKeyJwt
                }),
        ),
        scopes,
        metadata_xml: None,
        metadata_url: None,
        trust_mfa: input.trust_mfa,
        mfa_values: input.mfa_values,
        offered_to_all: input.offered_to_all,
        domains: Vec::new(),
        created_at: unix_now(),
    };
    partner.validate()?;
    if input.domains.is_empty() && !partner.offered_to_all {
        return Err(Invalid::new(
            "a partner needs at least one domain it serves, or to be offered to every guest",
        )
        .into());
    }
    partner.domains = bind_domains(
        store,
        partner.issuer_host().as_deref(),
        &input.domains,
        input.attest_domains,
    )
    .await?;
    let metadata = discover(federation, &partner.issuer).await?;
    partner.client_auth = Some(choose_client_auth(
        input.client_auth,
        partner.sealed_client_secret.is_some(),
        crate::upstream::token_auth_methods(&metadata).as_deref(),
    )?);
    partner.validate()?;
    record_partner(store, tenant, partner, by).await
}

/// What an administrator gives to register a partner SAML 2.0 IdP.
#[derive(Debug, Clone, Default)]
pub struct SamlPartnerInput {
    /// Name shown to guests.
    pub display_name: String,
    /// The IdP's entityID; taken from the metadata when absent, and must match it.
    pub issuer: Option<String>,
    /// The IdP's metadata document.
    pub metadata_xml: Option<String>,
    /// Where its metadata is published (fetched now and again for certificate rollover).
    pub metadata_url: Option<String>,
    /// The e-mail domains it serves (and is authoritative for).
    pub domains: Vec<String>,
    /// The administrator attests that the partner owns domains its host does not lie in.
    pub attest_domains: bool,
    /// Accept its MFA (AuthnContextClassRef) as ours.
    pub trust_mfa: bool,
    /// The AuthnContextClassRef values that mean MFA.
    pub mfa_values: Vec<String>,
    /// Offered to every guest at redemption (the guest chooses), not only by domain.
    pub offered_to_all: bool,
}

/// Registers a partner SAML 2.0 IdP from its metadata (given, or fetched from its URL now).
pub async fn create_saml_partner(
    store: &dyn Store,
    federation: &crate::upstream::Federation,
    tenant: &Tenant,
    input: SamlPartnerInput,
    by: Party,
) -> Result<PartnerIdp, AdminError> {
    let metadata_url = input
        .metadata_url
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty());
    if let Some(url) = &metadata_url {
        let parsed = url::Url::parse(url)
            .map_err(|_| Invalid::new("metadataExchangeUri must be an absolute URL"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(Invalid::new("metadataExchangeUri must be an http(s) URL").into());
        }
    }
    let xml = match (input.metadata_xml, &metadata_url) {
        (Some(xml), _) if !xml.trim().is_empty() => xml,
        (_, Some(url)) => federation
            .fetch_document(url)
            .await
            .map_err(|e| Invalid::new(e.0))?,
        _ => {
            return Err(Invalid::new(
                "a SAML partner needs its metadata: metadataXml or metadataExchangeUri",
            )
            .into());
        }
    };
    let wanted = input
        .issuer
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty());
    let idp = crate::samlxml::metadata::IdpMetadata::parse(&xml, wanted)?;
    let mut partner = PartnerIdp {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        kind: PartnerKind::Saml,
        display_name: input.display_name.trim().to_owned(),
        issuer: idp.entity_id.clone(),
        client_id: None,
        sealed_client_secret: None,
        client_auth: None,
        scopes: Vec::new(),
        metadata_xml: Some(xml),
        metadata_url,
        trust_mfa: input.trust_mfa,
        mfa_values: input.mfa_values,
        offered_to_all: input.offered_to_all,
        domains: Vec::new(),
        created_at: unix_now(),
    };
    partner.validate()?;
    if input.domains.is_empty() && !partner.offered_to_all {
        return Err(Invalid::new(
            "a partner needs at least one domain it serves, or to be offered to every guest",
        )
        .into());
    }
    // The proof by host: the entityID's host, or the sign-in endpoint's, inside the domain.
    let sso_host = url::Url::parse(&idp.sso_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    let host = partner.issuer_host().or(sso_host);
    partner.domains =
        bind_domains(store, host.as_deref(), &input.domains, input.attest_domains).await?;
    record_partner(store, tenant, partner, by).await
}

/// Stores a new partner with the audit event of its registration.
async fn record_partner(
    store: &dyn Store,
    tenant: &Tenant,
    partner: PartnerIdp,
    by: Party,
) -> Result<PartnerIdp, AdminError> {
    let audit = AuditEvent::new(
        &tenant.id,
        "Policy",
        "Add identity provider",
        by,
        vec![Party {
            id: partner.id.clone(),
            kind: "identityProvider".to_owned(),
            display: partner.display_name.clone(),
        }],
    )
    .with_details(serde_json::json!({
        "protocol": partner.kind.as_str(),
        "issuer": partner.issuer,
        "domains": partner.domains,
        "attestedByAdministrator": partner.domains.iter().any(|d| d.proof == DomainProof::AdminAttestation),
        "trustMfa": partner.trust_mfa,
        "clientAuthentication": partner.client_auth.map(ClientAuth::as_str),
    }));
    store.create_partner(&partner, &audit).await.map_err(|e| {
        conflict_or(e, || {
            "that issuer is already registered, or a domain already routes to another partner"
                .to_owned()
        })
    })?;
    Ok(partner)
}

/// A partner as Graph-style JSON (never its secret).
pub fn partner_json(partner: &PartnerIdp) -> serde_json::Value {
    serde_json::json!({
        "@odata.type": match partner.kind {
            PartnerKind::Oidc => "#microsoft.graph.openIdConnectIdentityProvider",
            PartnerKind::Saml => "#microsoft.graph.samlOrWsFedExternalDomainFederation",
        },
        "id": partner.id,
        "displayName": partner.display_name,
        "issuer": partner.issuer,
        "clientId": partner.client_id,
        "clientAuthentication": partner.client_auth.map(ClientAuth::as_str),
        "scope": partner.scopes.join(" "),
        "metadataExchangeUri": partner.metadata_url,
        "domains": partner.domains.iter().map(|d| serde_json::json!({"id": d.domain, "proof": d.proof})).collect::<Vec<_>>(),
        "trustMfa": partner.trust_mfa,
        "mfaValues": partner.mfa_values(),
        "offeredToAll": partner.offered_to_all,
        "createdDateTime": crate::domain::date_time(partner.created_at),
    })
}
