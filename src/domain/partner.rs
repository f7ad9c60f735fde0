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

/// How Gatehouse authenticates at an OIDC partner's token endpoint (OIDC Core §9, RFC 7523).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientAuth {
    /// The client secret in HTTP Basic (`client_secret_basic`, the OAuth default).
    #[serde(rename = "client_secret_basic")]
    ClientSecretBasic,
    /// The client secret in the form body (`client_secret_post`).
    #[serde(rename = "client_secret_post")]
    ClientSecretPost,
    /// A JWT client assertion signed with a key of Gatehouse's JWKS (`private_key_jwt`,
    /// RFC 7523 §2.2): no shared secret at all.
    #[serde(rename = "private_key_jwt")]
    PrivateKeyJwt,
    /// A public client: only `client_id` (PKCE still binds the code).
    #[serde(rename = "none")]
    None,
}

impl ClientAuth {
    /// Every method, in the order Gatehouse prefers them when it has a secret.
    pub const ALL: [Self; 4] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::PrivateKeyJwt,
        Self::None,
    ];

    /// The registered name (RFC 7591 `token_endpoint_auth_method`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// Parses a registered name.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| {
                Invalid::new(format!(
                    "unknown client authentication {text:?}; expected client_secret_basic, \
                     client_secret_post, private_key_jwt or none"
                ))
            })
    }

    /// Whether the method sends a client secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// Chooses how to authenticate at a partner's token endpoint.
///
/// An administrator's `explicit` choice stands (the partner may support more than its
/// discovery says), provided a secret is given exactly when the method sends one. Otherwise
/// the choice follows the partner's `token_endpoint_auth_methods_supported` (`supported`;
/// when absent, `client_secret_basic` only, the default of OIDC Discovery §3 and RFC 8414
/// §2): with a secret, `client_secret_basic` if listed, else `client_secret_post`; without
/// one, `private_key_jwt` (also when the list is absent: no secret means no other way to
/// authenticate), else `none` when the partner lists only public clients.
pub fn choose_client_auth(
    explicit: Option<ClientAuth>,
    has_secret: bool,
    supported: Option<&[String]>,
) -> Result<ClientAuth, Invalid> {
    if let Some(method) = explicit {
        return match (method.uses_secret(), has_secret) {
            (true, false) => Err(Invalid::new(format!(
                "{} needs clientSecret",
                method.as_str()
            ))),
            (false, true) => Err(Invalid::new(format!(
                "{} sends no client secret: omit clientSecret",
                method.as_str()
            ))),
            _ => Ok(method),
        };
    }
    let listed = |method: ClientAuth| match supported {
        Some(list) => list.iter().any(|m| m == method.as_str()),
        None => method == ClientAuth::ClientSecretBasic,
    };
    let named = || {
        supported
            .map(|list| list.join(", "))
            .unwrap_or_else(|| "none, so client_secret_basic only".to_owned())
    };
    if has_secret {
        [ClientAuth::ClientSecretBasic, ClientAuth::ClientSecretPost]
            .into_iter()
            .find(|m| listed(*m))
            .ok_or_else(|| {
                Invalid::new(format!(
                    "the partner's token endpoint takes neither client_secret_basic nor \
                     client_secret_post (it lists {}): register it without a client secret to \
                     use private_key_jwt, or choose clientAuthentication",
                    named()
                ))
            })
    } else if supported.is_none() || listed(ClientAuth::PrivateKeyJwt) {
        Ok(ClientAuth::PrivateKeyJwt)
    } else if listed(ClientAuth::None) {
        Ok(ClientAuth::None)
    } else {
        Err(Invalid::new(format!(
            "without a client secret Gatehouse authenticates with private_key_jwt, which the \
             partner's token endpoint does not list (it lists {}): give clientSecret, or choose \
             clientAuthentication",
            named()
        )))
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
    /// OIDC: how Gatehouse authenticates at the partner's token endpoint (`None` for SAML).
    pub client_auth: Option<ClientAuth>,
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
                let method = self
                    .client_auth
                    .ok_or_else(|| Invalid::new("an OIDC partner needs clientAuthentication"))?;
                if method.uses_secret() != self.sealed_client_secret.is_some() {
                    return Err(Invalid::new(if method.uses_secret() {
                        format!("{} needs clientSecret", method.as_str())
                    } else {
                        format!("{} sends no client secret", method.as_str())
                    }));
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
            client_auth: Some(ClientAuth::PrivateKeyJwt),
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
        let mut basic_without_secret = oidc();
        basic_without_secret.client_auth = Some(ClientAuth::ClientSecretBasic);
        assert!(
            basic_without_secret
                .validate()
                .unwrap_err()
                .0
                .contains("needs clientSecret")
        );
    }

    #[test]
    fn client_authentication_follows_the_partners_discovery_unless_chosen() {
        let list = |methods: &[&str]| methods.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>();
        let choose = |explicit, secret, supported: Option<Vec<String>>| {
            choose_client_auth(explicit, secret, supported.as_deref())
        };
        // RFC 8414 §2: no list means client_secret_basic only.
        assert_eq!(choose(None, true, None), Ok(ClientAuth::ClientSecretBasic));
        let both = list(&["client_secret_post", "client_secret_basic"]);
        assert_eq!(
            choose(None, true, Some(both)),
            Ok(ClientAuth::ClientSecretBasic)
        );
        let okta = list(&["client_secret_post", "private_key_jwt"]);
        assert_eq!(
            choose(None, true, Some(okta.clone())),
            Ok(ClientAuth::ClientSecretPost)
        );
        assert_eq!(
            choose(None, false, Some(okta)),
            Ok(ClientAuth::PrivateKeyJwt)
        );
        assert_eq!(choose(None, false, None), Ok(ClientAuth::PrivateKeyJwt));
        assert_eq!(
            choose(None, false, Some(list(&["none", "client_secret_basic"]))),
            Ok(ClientAuth::None)
        );
        let jwt_only = list(&["private_key_jwt"]);
        assert!(
            choose(None, true, Some(jwt_only))
                .unwrap_err()
                .0
                .contains("without a client secret")
        );
        assert!(choose(None, false, Some(list(&["client_secret_basic"]))).is_err());
        // An administrator's choice stands, with a secret exactly when it sends one.
        assert_eq!(
            choose(
                Some(ClientAuth::ClientSecretPost),
                true,
                Some(list(&["client_secret_basic"]))
            ),
            Ok(ClientAuth::ClientSecretPost)
        );
        assert!(choose(Some(ClientAuth::ClientSecretPost), false, None).is_err());
        assert!(choose(Some(ClientAuth::PrivateKeyJwt), true, None).is_err());
        for method in ClientAuth::ALL {
            assert_eq!(ClientAuth::parse(method.as_str()), Ok(method));
        }
        assert!(ClientAuth::parse("client_secret_jwt").is_err());
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
