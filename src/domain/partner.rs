//! Partner identity providers of a tenant — the home IdPs of its guests (OIDC or SAML) — and
//! the e-mail domains each one serves. A domain routes guests to an IdP only once it is
//! proven or attested by an administrator (SECURITY.md G.55); consumer mail domains and
//! other tenants' verified domains are never bound.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Mail domains that belong to no organisation: nobody may claim them for an IdP.
pub const CONSUMER_DOMAINS: [&str; 24] = [
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
];

/// Whether `domain` (lower case) is a consumer mail domain.
pub fn is_consumer_domain(domain: &str) -> bool {
    CONSUMER_DOMAINS.contains(&domain)
}

/// The protocol a partner IdP speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartnerKind {
    /// OpenID Connect: Gatehouse is the relying party.
    Oidc,
    /// SAML 2.0: Gatehouse is the service provider.
    Saml,
}

impl PartnerKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Saml => "saml",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match text {
            "oidc" => Ok(Self::Oidc),
            "saml" => Ok(Self::Saml),
            other => Err(Invalid::new(format!(
                "unknown partner kind {other:?}; expected oidc or saml"
            ))),
        }
    }
}

/// How a domain binding was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DomainProof {
    /// The IdP's issuer / sign-in endpoint host lies inside the domain (Entra's rule for
    /// direct federation).
    IdpHostInDomain,
    /// An administrator attested that the partner owns the domain (recorded in the audit log).
    AdminAttestation,
}

impl DomainProof {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdpHostInDomain => "idpHostInDomain",
            Self::AdminAttestation => "adminAttestation",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match text {
            "idpHostInDomain" => Ok(Self::IdpHostInDomain),
            "adminAttestation" => Ok(Self::AdminAttestation),
            other => Err(Invalid::new(format!("unknown domain proof {other:?}"))),
        }
    }
}

/// A domain bound to a partner IdP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerDomain {
    /// The domain, lower case.
    pub domain: String,
    /// How it was proven.
    pub proof: DomainProof,
}

/// A partner (home) identity provider of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerIdp {
    /// Id.
    pub id: String,
    /// Tenant that trusts it.
    pub tenant_id: String,
    /// Protocol.
    pub kind: PartnerKind,
    /// Name shown to guests.
    pub display_name: String,
    /// OIDC issuer, or SAML entityID.
    pub issuer: String,
    /// OIDC client id at the IdP.
    pub client_id: Option<String>,
    /// OIDC client secret, sealed with the master key.
    pub sealed_client_secret: Option<String>,
    /// OIDC scopes asked for.
    pub scopes: Vec<String>,
    /// SAML metadata (XML) as last fetched or uploaded.
    pub metadata_xml: Option<String>,
    /// SAML metadata URL, for certificate rollover.
    pub metadata_url: Option<String>,
    /// Whether the tenant accepts this IdP's MFA as its own (SECURITY.md G.56).
    pub trust_mfa: bool,
    /// The upstream `amr`/`acr`/AuthnContextClassRef values that count as MFA when trusted.
    pub mfa_values: Vec<String>,
    /// Offered to every guest as a sign-in choice (a "generic" provider), not only by domain.
    pub offered_to_all: bool,
    /// The domains it serves.
    pub domains: Vec<PartnerDomain>,
    /// Creation time.
    pub created_at: i64,
}

/// Default upstream values that mean "multi-factor" (RFC 8176 `mfa`, REFEDS MFA, Entra's
/// multipleauthn), used when a trusted IdP has no list of its own.
pub const DEFAULT_MFA_VALUES: [&str; 3] = [
    "mfa",
    "https://refeds.org/profile/mfa",
    "http://schemas.microsoft.com/claims/multipleauthn",
];

impl PartnerIdp {
    /// Checks the fields a partner needs for its protocol.
    pub fn validate(&self) -> Result<(), Invalid> {
        let name = self.display_name.trim();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(Invalid::new("displayName must have 1 to 128 characters"));
        }
        match self.kind {
            PartnerKind::Oidc => {
                let issuer = url::Url::parse(&self.issuer)
                    .map_err(|_| Invalid::new("issuer must be an absolute https URL"))?;
                if issuer.scheme() != "https" && !is_loopback(&issuer) {
                    return Err(Invalid::new(
                        "issuer must be an https URL (http only on loopback, for development)",
                    ));
                }
                if issuer.query().is_some() || issuer.fragment().is_some() {
                    return Err(Invalid::new("issuer must not have a query or fragment"));
                }
                if self.client_id.as_deref().is_none_or(str::is_empty) {
                    return Err(Invalid::new("an OIDC partner needs clientId"));
                }
                if !self.scopes.iter().any(|s| s == "openid") {
                    return Err(Invalid::new("scopes must include openid"));
                }
            }
            PartnerKind::Saml => {
                if self.issuer.trim().is_empty() || self.issuer.len() > 1024 {
                    return Err(Invalid::new("a SAML partner needs its entityID"));
                }
                if self.metadata_xml.is_none() {
                    return Err(Invalid::new(
                        "a SAML partner needs its metadata (metadataXml or metadataUrl)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The host of the IdP's issuer (OIDC) or entityID when it is a URL (SAML).
    pub fn issuer_host(&self) -> Option<String> {
        url::Url::parse(&self.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    }

    /// The values that count as upstream MFA.
    pub fn mfa_values(&self) -> Vec<String> {
        if self.mfa_values.is_empty() {
            DEFAULT_MFA_VALUES.iter().map(|v| (*v).to_owned()).collect()
        } else {
            self.mfa_values.clone()
        }
    }
}

fn is_loopback(url: &url::Url) -> bool {
    matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// Whether `host` lies inside `domain` (the domain itself or a subdomain of it).
pub fn host_in_domain(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc() -> PartnerIdp {
        PartnerIdp {
            id: "p".into(),
            tenant_id: "t".into(),
            kind: PartnerKind::Oidc,
            display_name: "Fabrikam".into(),
            issuer: "https://login.fabrikam.example/".into(),
            client_id: Some("gatehouse".into()),
            sealed_client_secret: None,
            scopes: vec!["openid".into(), "email".into()],
            metadata_xml: None,
            metadata_url: None,
            trust_mfa: false,
            mfa_values: vec![],
            offered_to_all: false,
            domains: vec![],
            created_at: 0,
        }
    }

    #[test]
    fn partners_need_their_protocol_fields() {
        assert!(oidc().validate().is_ok());
        let mut plain = oidc();
        plain.issuer = "http://login.fabrikam.example".into();
        assert!(plain.validate().unwrap_err().0.contains("https"));
        let mut local = oidc();
        local.issuer = "http://127.0.0.1:9000/idp".into();
        assert!(local.validate().is_ok(), "loopback http for development");
        let mut no_openid = oidc();
        no_openid.scopes = vec!["email".into()];
        assert!(no_openid.validate().unwrap_err().0.contains("openid"));
        let mut saml = oidc();
        saml.kind = PartnerKind::Saml;
        assert!(saml.validate().unwrap_err().0.contains("metadata"));
    }

    #[test]
    fn hosts_inside_domains_and_consumer_domains() {
        assert!(host_in_domain("login.fabrikam.example", "fabrikam.example"));
        assert!(host_in_domain("fabrikam.example", "fabrikam.example"));
        assert!(!host_in_domain("evilfabrikam.example", "fabrikam.example"));
        assert!(is_consumer_domain("gmail.com") && is_consumer_domain("outlook.com"));
        assert!(!is_consumer_domain("fabrikam.example"));
        assert_eq!(
            oidc().issuer_host().as_deref(),
            Some("login.fabrikam.example")
        );
    }
}
