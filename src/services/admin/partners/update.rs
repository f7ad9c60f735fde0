//! Changing a registered partner identity provider: each protocol's fields, the metadata or
//! discovery checked again, the domains re-bound under the rules of registration, and an
//! audit event naming what changed (never a secret).

use super::bind_domains;
use crate::domain::Invalid;
use crate::domain::partner::{
    ClientAuth, DomainProof, PartnerDomain, PartnerIdp, PartnerKind, choose_client_auth,
};
use crate::domain::tenant::Tenant;
use crate::keys::MasterKey;
use crate::services::admin::{AdminError, conflict_or};
use crate::store::{AuditEvent, Party, Store, StoreError};

/// What an administrator changes on a registered partner; `None` leaves a field as it is.
/// The issuer (entityID) and the protocol never change: register another partner for that.
#[derive(Debug, Clone, Default)]
pub struct PartnerChanges {
    /// Name shown to guests.
    pub display_name: Option<String>,
    /// OIDC: Gatehouse's client id at the partner.
    pub client_id: Option<String>,
    /// OIDC: a new client secret (rotation); the old one is forgotten.
    pub client_secret: Option<String>,
    /// OIDC: another way to authenticate at the token endpoint. A method that sends no
    /// secret forgets the stored one; a new secret for a partner using such a method chooses
    /// again from the partner's discovery.
    pub client_auth: Option<ClientAuth>,
    /// OIDC: scopes beyond `openid`.
    pub scopes: Option<Vec<String>>,
    /// SAML: a new metadata document (its entityID must stay the partner's).
    pub metadata_xml: Option<String>,
    /// SAML: a new metadata URL (fetched now); an empty string removes it.
    pub metadata_url: Option<String>,
    /// The whole new set of e-mail domains, under the same rules as at registration.
    pub domains: Option<Vec<String>>,
    /// The administrator attests ownership of the new domains the partner's host is not in.
    pub attest_domains: bool,
    /// Accept its MFA as ours.
    pub trust_mfa: Option<bool>,
    /// The upstream values that mean MFA.
    pub mfa_values: Option<Vec<String>>,
    /// Offered to every guest at redemption.
    pub offered_to_all: Option<bool>,
}

/// Applies `changes` to a partner, checks the result as registration would, stores it with
/// an audit event naming the changed fields (never a secret), and returns it.
pub async fn update_partner(
    store: &dyn Store,
    master: &MasterKey,
    federation: &crate::upstream::Federation,
    tenant: &Tenant,
    id: &str,
    mut changes: PartnerChanges,
    by: Party,
) -> Result<PartnerIdp, AdminError> {
    let mut partner = match store.partner(&tenant.id, id).await {
        Ok(partner) => partner,
        Err(StoreError::NotFound) => {
            return Err(AdminError::NotFound("no such identity provider".to_owned()));
        }
        Err(e) => return Err(AdminError::Store(e)),
    };
    check_protocol(&partner, &changes)?;
    let mut changed: Vec<&'static str> = Vec::new();
    if let Some(name) = changes.display_name.take() {
        partner.display_name = name.trim().to_owned();
        changed.push("displayName");
    }
    change_oidc(&mut partner, &mut changes, master, federation, &mut changed).await?;
    change_saml(&mut partner, &mut changes, federation, &mut changed).await?;
    if let Some(trust) = changes.trust_mfa {
        partner.trust_mfa = trust;
        changed.push("trustMfa");
    }
    if let Some(values) = changes.mfa_values.take() {
        partner.mfa_values = values;
        changed.push("mfaValues");
    }
    if let Some(offered) = changes.offered_to_all {
        partner.offered_to_all = offered;
        changed.push("offeredToAll");
    }
    partner.validate()?;
    let host = partner_host(&partner)?;
    let replace_domains = changes.domains.is_some();
    if let Some(domains) = changes.domains.take() {
        partner.domains = rebind_domains(
            store,
            &partner,
            host.as_deref(),
            domains,
            changes.attest_domains,
        )
        .await?;
        changed.push("domains");
    }
    if partner.domains.is_empty() && !partner.offered_to_all {
        return Err(Invalid::new(
            "a partner needs at least one domain it serves, or to be offered to every guest",
        )
        .into());
    }
    if changed.is_empty() {
        return Ok(partner);
    }
    record_update(store, tenant, &partner, &changed, replace_domains, by).await?;
    federation.forget(&partner.id);
    Ok(partner)
}

/// Refuses the changes that belong to the other protocol.
fn check_protocol(partner: &PartnerIdp, changes: &PartnerChanges) -> Result<(), AdminError> {
    let oidc_only = changes.client_id.is_some()
        || changes.client_secret.is_some()
        || changes.client_auth.is_some()
        || changes.scopes.is_some();
    let saml_only = changes.metadata_xml.is_some() || changes.metadata_url.is_some();
    match partner.kind {
        PartnerKind::Saml if oidc_only => Err(Invalid::new(
            "clientId, clientSecret, clientAuthentication and scope belong to OpenID Connect partners",
        )
        .into()),
        PartnerKind::Oidc if saml_only => Err(Invalid::new(
            "metadataXml and metadataExchangeUri belong to SAML partners",
        )
        .into()),
        _ => Ok(()),
    }
}

/// Applies the OpenID Connect changes: client id, secret, token-endpoint authentication, scopes.
async fn change_oidc(
    partner: &mut PartnerIdp,
    changes: &mut PartnerChanges,
    master: &MasterKey,
    federation: &crate::upstream::Federation,
    changed: &mut Vec<&'static str>,
) -> Result<(), AdminError> {
    if let Some(client_id) = changes.client_id.take() {
        partner.client_id = Some(client_id.trim().to_owned());
        changed.push("clientId");
    }
    if let Some(secret) = &changes.client_secret {
        partner.sealed_client_secret = Some(master.seal(secret.as_bytes())?);
        changed.push("clientSecret");
    }
    if partner.kind == PartnerKind::Oidc
        && (changes.client_auth.is_some() || changes.client_secret.is_some())
    {
        let current = partner.client_auth;
        let method = match changes.client_auth {
            Some(method) => {
                if !method.uses_secret() && changes.client_secret.is_none() {
                    // No secret is sent any more: none is kept.
                    partner.sealed_client_secret = None;
                }
                choose_client_auth(Some(method), partner.sealed_client_secret.is_some(), None)?
            }
            // A new secret for a partner that used none: choose again from its discovery.
            None if current.is_none_or(|m| !m.uses_secret()) => {
                let metadata = federation
                    .metadata(&partner.issuer, true)
                    .await
                    .map_err(|e| Invalid::new(e.0))?;
                choose_client_auth(
                    None,
                    true,
                    crate::upstream::token_auth_methods(&metadata).as_deref(),
                )?
            }
            None => current.unwrap_or(ClientAuth::ClientSecretBasic),
        };
        if Some(method) != current {
            partner.client_auth = Some(method);
            changed.push("clientAuthentication");
        }
    }
    if let Some(asked) = changes.scopes.take() {
        let mut scopes = vec!["openid".to_owned()];
        for scope in asked {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        partner.scopes = scopes;
        changed.push("scope");
    }
    Ok(())
}

/// Applies the SAML changes: the metadata URL (fetched now unless a document comes along) and
/// the metadata document.
async fn change_saml(
    partner: &mut PartnerIdp,
    changes: &mut PartnerChanges,
    federation: &crate::upstream::Federation,
    changed: &mut Vec<&'static str>,
) -> Result<(), AdminError> {
    if let Some(url) = changes.metadata_url.take() {
        let url = url.trim().to_owned();
        if url.is_empty() {
            partner.metadata_url = None;
        } else {
            let parsed = url::Url::parse(&url)
                .map_err(|_| Invalid::new("metadataExchangeUri must be an absolute URL"))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(Invalid::new("metadataExchangeUri must be an http(s) URL").into());
            }
            if changes.metadata_xml.is_none() {
                partner.metadata_xml = Some(
                    federation
                        .fetch_document(&url)
                        .await
                        .map_err(|e| Invalid::new(e.0))?,
                );
            }
            partner.metadata_url = Some(url);
        }
        changed.push("metadataExchangeUri");
    }
    if let Some(xml) = changes.metadata_xml.take() {
        partner.metadata_xml = Some(xml);
        changed.push("metadataXml");
    }
    Ok(())
}

/// The host a partner's domains are proven against: its issuer's, or — for SAML — its SSO
/// URL's, once the metadata in force is checked to be still this partner's and usable.
fn partner_host(partner: &PartnerIdp) -> Result<Option<String>, AdminError> {
    let host = partner.issuer_host();
    if partner.kind != PartnerKind::Saml {
        return Ok(host);
    }
    let xml = partner.metadata_xml.as_deref().unwrap_or_default();
    let idp = crate::samlxml::metadata::IdpMetadata::parse(xml, Some(&partner.issuer))?;
    let sso_host = url::Url::parse(&idp.sso_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    Ok(host.or(sso_host))
}

/// The partner's new set of domains: those already bound keep their proof; new ones need
/// proof or attestation.
async fn rebind_domains(
    store: &dyn Store,
    partner: &PartnerIdp,
    host: Option<&str>,
    domains: Vec<String>,
    attest: bool,
) -> Result<Vec<PartnerDomain>, AdminError> {
    let kept: Vec<PartnerDomain> = partner
        .domains
        .iter()
        .filter(|d| {
            domains
                .iter()
                .any(|raw| raw.trim().eq_ignore_ascii_case(&d.domain))
        })
        .cloned()
        .collect();
    let added: Vec<String> = domains
        .into_iter()
        .filter(|raw| {
            !kept
                .iter()
                .any(|d| raw.trim().eq_ignore_ascii_case(&d.domain))
        })
        .collect();
    let mut bound = kept;
    bound.extend(bind_domains(store, host, &added, attest).await?);
    Ok(bound)
}

/// Stores an updated partner with the audit event naming the changed fields.
async fn record_update(
    store: &dyn Store,
    tenant: &Tenant,
    partner: &PartnerIdp,
    changed: &[&str],
    replace_domains: bool,
    by: Party,
) -> Result<(), AdminError> {
    let audit = AuditEvent::new(
        &tenant.id,
        "Policy",
        "Update identity provider",
        by,
        vec![Party {
            id: partner.id.clone(),
            kind: "identityProvider".to_owned(),
            display: partner.display_name.clone(),
        }],
    )
    .with_details(serde_json::json!({
        "changed": changed,
        "domains": partner.domains,
        "attestedByAdministrator": partner.domains.iter().any(|d| d.proof == DomainProof::AdminAttestation),
        "trustMfa": partner.trust_mfa,
        "clientAuthentication": partner.client_auth.map(ClientAuth::as_str),
    }));
    store
        .update_partner(partner, replace_domains, &audit)
        .await
        .map_err(|e| {
            conflict_or(e, || {
                "a domain already routes to another partner".to_owned()
            })
        })
}
