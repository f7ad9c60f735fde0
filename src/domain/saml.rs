//! SAML service providers: the SAML side of an application (SAML 2.0 Metadata §2.4.4).

use serde::{Deserialize, Serialize};

use super::Invalid;
use super::app::parse_redirect_uri;

/// The NameID format an SP receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NameIdFormat {
    /// Opaque, stable and different for every SP (the default: SECURITY.md I.4).
    Persistent,
    /// The user's e-mail address (only when the SP is configured for it).
    EmailAddress,
    /// Random, at least 128 bits, one per browser session and SP, never reused (SAML Core
    /// §8.3.8): what an SP gets when it asks for it, or when transient is all it takes.
    Transient,
}

/// `urn:oasis:names:tc:SAML:2.0:nameid-format:persistent`.
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`.
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
/// `urn:oasis:names:tc:SAML:2.0:nameid-format:transient`.
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
/// `urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified`.
pub const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

impl NameIdFormat {
    /// The format URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Persistent => NAMEID_PERSISTENT,
            Self::EmailAddress => NAMEID_EMAIL,
            Self::Transient => NAMEID_TRANSIENT,
        }
    }

    /// Stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Persistent => "persistent",
            Self::EmailAddress => "emailAddress",
            Self::Transient => "transient",
        }
    }

    /// Parses a CLI name or a format URI.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        match value {
            "persistent" | NAMEID_PERSISTENT => Ok(Self::Persistent),
            "emailAddress" | "email" | NAMEID_EMAIL => Ok(Self::EmailAddress),
            "transient" | NAMEID_TRANSIENT => Ok(Self::Transient),
            other => Err(Invalid::new(format!(
                "unsupported NameID format {other:?}; expected persistent, emailAddress or transient"
            ))),
        }
    }

    /// The format an SP is registered with, from the `NameIDFormat`s its metadata lists
    /// (SAML Metadata §2.4.1, in document order): persistent when none is listed, when
    /// persistent is one of them, or when only `unspecified` is; else the one listed; of
    /// several without persistent, emailAddress, then transient. A list of formats Gatehouse
    /// cannot issue at all (X.509 subject, Kerberos, …) is refused: the administrator chooses.
    pub fn from_metadata(listed: &[String]) -> Result<Self, Invalid> {
        let mut formats: Vec<&str> = Vec::new();
        for format in listed.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        if formats.is_empty() || formats.contains(&NAMEID_PERSISTENT) {
            return Ok(Self::Persistent);
        }
        if let [only] = formats[..] {
            return match only {
                NAMEID_UNSPECIFIED => Ok(Self::Persistent),
                other => Self::parse(other).map_err(|_| unsupported(&formats)),
            };
        }
        [Self::EmailAddress, Self::Transient]
            .into_iter()
            .find(|f| formats.contains(&f.uri()))
            .or(formats
                .contains(&NAMEID_UNSPECIFIED)
                .then_some(Self::Persistent))
            .ok_or_else(|| unsupported(&formats))
    }
}

fn unsupported(formats: &[&str]) -> Invalid {
    Invalid::new(format!(
        "the SP metadata lists only NameID formats Gatehouse does not issue ({}); choose \
         persistent, emailAddress or transient (--saml-nameid-format)",
        formats.join(", ")
    ))
}

/// An assertion consumer service endpoint (HTTP-POST binding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEndpoint {
    /// Location.
    pub url: String,
    /// Index, for requests that name the endpoint by index.
    pub index: u32,
    /// Whether it is the default endpoint.
    pub is_default: bool,
}

/// The SAML service-provider configuration of an application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamlSp {
    /// The SP's entityID (the audience of its assertions).
    pub entity_id: String,
    /// Where assertions may be posted.
    pub acs: Vec<AcsEndpoint>,
    /// Single-logout endpoint (HTTP-Redirect), if the SP has one.
    pub slo_url: Option<String>,
    /// The SP's signing certificates, base64 DER.
    pub certificates: Vec<String>,
    /// Whether every AuthnRequest must be signed.
    pub authn_requests_signed: bool,
    /// Whether the Response is signed as well as the Assertion.
    pub sign_response: bool,
    /// NameID format the SP receives.
    pub nameid_format: NameIdFormat,
    /// Where the SP publishes its metadata, for an administrator's refresh.
    #[serde(default)]
    pub metadata_url: Option<String>,
}

impl SamlSp {
    /// The endpoint a request asked for (by URL or index), or the default one (marked at
    /// registration, else the first registered). `None` when the request named a location or
    /// index the SP has not registered (SECURITY.md I.1), or both a location and an index,
    /// which SAML Core §3.4.1 makes mutually exclusive.
    pub fn acs_for(&self, url: Option<&str>, index: Option<u32>) -> Option<&AcsEndpoint> {
        match (url, index) {
            (Some(_), Some(_)) => None,
            (Some(url), None) => self.acs.iter().find(|a| a.url == url),
            (None, Some(index)) => self.acs.iter().find(|a| a.index == index),
            (None, None) => self
                .acs
                .iter()
                .find(|a| a.is_default)
                .or_else(|| self.acs.first()),
        }
    }
}

/// Validates an entityID: an absolute URI (URL or URN), at most 1024 characters.
pub fn parse_entity_id(raw: &str) -> Result<String, Invalid> {
    let value = raw.trim();
    if value.is_empty()
        || value.len() > 1024
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
        || url::Url::parse(value).is_err()
    {
        return Err(Invalid::new(format!(
            "SAML entity id {raw:?} must be an absolute URI of at most 1024 characters"
        )));
    }
    Ok(value.to_owned())
}

/// Validates an ACS or SLO URL with the redirect-URI rules (https, or http on loopback).
pub fn parse_endpoint(raw: &str) -> Result<String, Invalid> {
    let url = parse_redirect_uri(raw)?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Invalid::new(format!(
            "SAML endpoint {raw:?} must be an http(s) URL"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp() -> SamlSp {
        SamlSp {
            entity_id: "https://sp.example/metadata".into(),
            acs: vec![
                AcsEndpoint {
                    url: "https://sp.example/acs/1".into(),
                    index: 1,
                    is_default: false,
                },
                AcsEndpoint {
                    url: "https://sp.example/acs/0".into(),
                    index: 0,
                    is_default: true,
                },
            ],
            slo_url: None,
            certificates: vec![],
            authn_requests_signed: false,
            sign_response: false,
            nameid_format: NameIdFormat::Persistent,
            metadata_url: None,
        }
    }

    #[test]
    fn the_acs_must_be_registered() {
        let sp = sp();
        assert_eq!(sp.acs_for(None, None).unwrap().index, 0);
        assert_eq!(
            sp.acs_for(None, Some(1)).unwrap().url,
            "https://sp.example/acs/1"
        );
        assert!(sp.acs_for(Some("https://evil.example/acs"), None).is_none());
        assert!(
            sp.acs_for(Some("https://sp.example/acs/0/"), None)
                .is_none()
        );
        assert!(sp.acs_for(None, Some(7)).is_none());
    }

    #[test]
    fn the_registered_format_follows_the_metadata() {
        let from = |formats: &[&str]| {
            NameIdFormat::from_metadata(
                &formats.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(from(&[]), Ok(NameIdFormat::Persistent));
        assert_eq!(from(&[NAMEID_EMAIL]), Ok(NameIdFormat::EmailAddress));
        assert_eq!(from(&[NAMEID_TRANSIENT]), Ok(NameIdFormat::Transient));
        assert_eq!(from(&[NAMEID_UNSPECIFIED]), Ok(NameIdFormat::Persistent));
        assert_eq!(
            from(&[NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT]),
            Ok(NameIdFormat::Persistent)
        );
        assert_eq!(
            from(&[NAMEID_TRANSIENT, NAMEID_EMAIL]),
            Ok(NameIdFormat::EmailAddress)
        );
        assert_eq!(
            from(&[NAMEID_EMAIL, NAMEID_EMAIL]),
            Ok(NameIdFormat::EmailAddress),
            "one format listed twice is one format"
        );
        let x509 = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName";
        assert!(
            from(&[x509])
                .unwrap_err()
                .0
                .contains("--saml-nameid-format")
        );
        assert_eq!(
            from(&[x509, NAMEID_UNSPECIFIED]),
            Ok(NameIdFormat::Persistent)
        );
    }

    #[test]
    fn entity_ids_and_endpoints_are_checked() {
        assert!(parse_entity_id("urn:example:sp").is_ok());
        assert!(parse_entity_id("not a uri").is_err());
        assert!(parse_endpoint("http://sp.example/acs").is_err());
        assert!(parse_endpoint("com.example.app:/acs").is_err());
        assert!(parse_endpoint("https://sp.example/acs").is_ok());
    }
}
