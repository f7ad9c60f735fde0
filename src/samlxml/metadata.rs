//! SAML metadata (SAML 2.0 Metadata §2): the IdP document of a tenant, and reading an SP's
//! document into an application's SAML configuration.

use std::str::FromStr;

use samael::metadata::{EntityDescriptor, SpSsoDescriptor};
use samael::service_provider::ServiceProvider;

use crate::domain::Invalid;
use crate::domain::saml::{
    AcsEndpoint, NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT, NameIdFormat, SamlSp,
    parse_endpoint, parse_entity_id,
};
use crate::samlxml::xml::{InputError, XmlOut, refuse_doctype};

/// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST`.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect`.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// One `<md:KeyDescriptor use="signing">` per certificate (base64 DER), inside an IdP or SP
/// descriptor whose document declares the `md` and `ds` prefixes.
pub fn signing_key_descriptors(out: &mut XmlOut, certificates: &[String]) {
    for certificate in certificates {
        out.open("md:KeyDescriptor", &[("use", "signing")])
            .open("ds:KeyInfo", &[])
            .open("ds:X509Data", &[])
            .leaf("ds:X509Certificate", &[], certificate)
            .close("ds:X509Data")
            .close("ds:KeyInfo")
            .close("md:KeyDescriptor");
    }
}

/// The IdP metadata of a tenant: its entityID (the issuer), every published signing
/// certificate (the next key is listed before it signs), SSO for both bindings, SLO.
pub fn idp_metadata(issuer: &str, certificates: &[String]) -> String {
    let sso = format!("{issuer}/saml/sso");
    let slo = format!("{issuer}/saml/slo");
    let mut out = XmlOut::document();
    out.open(
        "md:EntityDescriptor",
        &[
            ("xmlns:md", NS_METADATA),
            ("xmlns:ds", NS_DSIG),
            ("entityID", issuer),
        ],
    )
    .open(
        "md:IDPSSODescriptor",
        &[
            ("protocolSupportEnumeration", PROTOCOL),
            ("WantAuthnRequestsSigned", "false"),
        ],
    );
    signing_key_descriptors(&mut out, certificates);
    out.empty(
        "md:SingleLogoutService",
        &[("Binding", BINDING_REDIRECT), ("Location", &slo)],
    )
    .leaf("md:NameIDFormat", &[], NAMEID_PERSISTENT)
    .leaf("md:NameIDFormat", &[], NAMEID_EMAIL)
    .leaf("md:NameIDFormat", &[], NAMEID_TRANSIENT)
    .empty(
        "md:SingleSignOnService",
        &[("Binding", BINDING_REDIRECT), ("Location", &sso)],
    )
    .empty(
        "md:SingleSignOnService",
        &[("Binding", BINDING_POST), ("Location", &sso)],
    )
    .close("md:IDPSSODescriptor")
    .close("md:EntityDescriptor");
    out.finish()
}

/// Why SP metadata could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Refused before parsing.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Not SAML metadata.
    #[error("the SP metadata cannot be parsed: {0}")]
    Parse(String),
    /// Parsed, but unusable.
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

/// Reads an SP's metadata: entityID, HTTP-POST ACS endpoints, HTTP-Redirect SLO endpoint,
/// signing certificates, whether its AuthnRequests are signed, and the NameID format it
/// receives: `nameid_format` when the administrator chose one, else from the `NameIDFormat`s
/// the metadata lists ([`NameIdFormat::from_metadata`]).
pub fn parse_sp_metadata(
    xml: &str,
    nameid_format: Option<NameIdFormat>,
) -> Result<SamlSp, MetadataError> {
    if xml.len() > super::xml::MAX_XML {
        return Err(InputError::TooLarge.into());
    }
    refuse_doctype(xml)?;
    let entity =
        EntityDescriptor::from_str(xml).map_err(|e| MetadataError::Parse(e.to_string()))?;
    let entity_id = parse_entity_id(entity.entity_id.as_deref().unwrap_or(""))?;
    let descriptor = entity
        .sp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or_else(|| Invalid::new("the metadata has no SPSSODescriptor"))?;
    let acs = post_acs(descriptor)?;
    let slo_url = descriptor
        .single_logout_services
        .iter()
        .flatten()
        .find(|e| e.binding == BINDING_REDIRECT)
        .map(|e| parse_endpoint(&e.location))
        .transpose()?;
    let certificates = signing_certificates(descriptor)?;
    let nameid_format = match nameid_format {
        Some(chosen) => chosen,
        None => {
            NameIdFormat::from_metadata(descriptor.name_id_formats.as_deref().unwrap_or_default())?
        }
    };
    let authn_requests_signed = descriptor.authn_requests_signed.unwrap_or(false);
    if authn_requests_signed && certificates.is_empty() {
        return Err(Invalid::new(
            "the SP signs its requests but its metadata has no signing certificate",
        )
        .into());
    }
    Ok(SamlSp {
        entity_id,
        acs,
        slo_url,
        certificates,
        authn_requests_signed,
        sign_response: false,
        nameid_format,
        metadata_url: None,
    })
}

/// The HTTP-POST AssertionConsumerService endpoints, exactly one of them the default; at least
/// one is required.
fn post_acs(descriptor: &SpSsoDescriptor) -> Result<Vec<AcsEndpoint>, MetadataError> {
    let post: Vec<_> = descriptor
        .assertion_consumer_services
        .iter()
        .filter(|e| e.binding == BINDING_POST)
        .collect();
    // The default endpoint (SAML Metadata §2.2.3): the first with isDefault="true", else the
    // first without an isDefault attribute, else the first in document order.
    let default = post
        .iter()
        .position(|e| e.is_default == Some(true))
        .or_else(|| post.iter().position(|e| e.is_default.is_none()))
        .unwrap_or(0);
    let mut acs = Vec::new();
    for (position, endpoint) in post.iter().enumerate() {
        acs.push(AcsEndpoint {
            url: parse_endpoint(&endpoint.location)?,
            index: endpoint.index as u32,
            is_default: position == default,
        });
    }
    if acs.is_empty() {
        return Err(Invalid::new("the metadata has no HTTP-POST AssertionConsumerService").into());
    }
    Ok(acs)
}

/// The SP's signing certificates (base64 DER, whitespace removed), each checked.
fn signing_certificates(descriptor: &SpSsoDescriptor) -> Result<Vec<String>, MetadataError> {
    let certificates: Vec<String> = descriptor
        .key_descriptors
        .iter()
        .flatten()
        .filter(|k| k.key_use.as_deref().is_none_or(|u| u == "signing"))
        .filter_map(|k| k.key_info.x509_data.as_ref())
        .flat_map(|data| data.certificates.iter())
        .map(|c| c.chars().filter(|ch| !ch.is_whitespace()).collect())
        .collect();
    for certificate in &certificates {
        check_certificate(certificate)?;
    }
    Ok(certificates)
}

/// Checks that a base64 string is an X.509 certificate.
pub fn check_certificate(base64_der: &str) -> Result<(), Invalid> {
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, base64_der)
        .map_err(|_| Invalid::new("an SP certificate is not base64"))?;
    openssl::x509::X509::from_der(&der)
        .map(|_| ())
        .map_err(|_| Invalid::new("an SP certificate is not an X.509 certificate"))
}

/// Reads a PEM or bare-base64 certificate file into base64 DER.
pub fn certificate_from_pem(text: &str) -> Result<String, Invalid> {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    check_certificate(&body)?;
    Ok(body)
}

/// A partner IdP's metadata, checked: its entityID, where AuthnRequests go (HTTP-Redirect)
/// and at least one signing certificate.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    /// The parsed document, as samael reads it.
    pub descriptor: EntityDescriptor,
    /// The IdP's entityID.
    pub entity_id: String,
    /// Its HTTP-Redirect SingleSignOnService.
    pub sso_url: String,
}

impl IdpMetadata {
    /// Parses and checks IdP metadata; `expected` is the entityID it must name, if known.
    pub fn parse(xml: &str, expected: Option<&str>) -> Result<Self, Invalid> {
        refuse_doctype(xml).map_err(|_| Invalid::new("the metadata declares a DOCTYPE"))?;
        if xml.len() > 1024 * 1024 {
            return Err(Invalid::new("the metadata is larger than 1 MiB"));
        }
        let descriptor: EntityDescriptor = xml.parse().map_err(|e| {
            Invalid::new(format!("the metadata is not a SAML EntityDescriptor: {e}"))
        })?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| Invalid::new("the metadata has no entityID"))?;
        if expected.is_some_and(|expected| expected != entity_id) {
            return Err(Invalid::new(format!(
                "the metadata names entityID {entity_id}, not the partner's"
            )));
        }
        let idp = descriptor
            .idp_sso_descriptors
            .as_ref()
            .and_then(|d| d.first())
            .ok_or_else(|| Invalid::new("the metadata has no IDPSSODescriptor"))?;
        let sso_url = idp
            .single_sign_on_services
            .iter()
            .find(|s| s.binding == BINDING_REDIRECT)
            .map(|s| s.location.clone())
            .ok_or_else(|| {
                Invalid::new("the IdP has no SingleSignOnService with the HTTP-Redirect binding")
            })?;
        let parsed = url::Url::parse(&sso_url)
            .map_err(|_| Invalid::new("the IdP's SingleSignOnService is not a URL"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(Invalid::new(
                "the IdP's SingleSignOnService must be an http(s) URL",
            ));
        }
        let probe = ServiceProvider {
            idp_metadata: descriptor.clone(),
            ..ServiceProvider::default()
        };
        match probe.idp_signing_certs() {
            Ok(Some(certs)) if !certs.is_empty() => {
                if certs
                    .iter()
                    .any(|c| openssl::x509::X509::from_der(c.der_data()).is_err())
                {
                    return Err(Invalid::new(
                        "a signing certificate in the metadata is not an X.509 certificate",
                    ));
                }
            }
            Ok(_) => {
                return Err(Invalid::new(
                    "the metadata lists no signing certificate: responses could not be verified",
                ));
            }
            Err(_) => {
                return Err(Invalid::new(
                    "a signing certificate in the metadata cannot be read",
                ));
            }
        }
        Ok(Self {
            descriptor,
            entity_id,
            sso_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/metadata">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example/slo"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="1" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example/artifact" index="2"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

    #[test]
    fn sp_metadata_gives_post_endpoints_and_slo() {
        let sp = parse_sp_metadata(SP, None).unwrap();
        assert_eq!(sp.entity_id, "https://sp.example/metadata");
        assert_eq!(sp.acs.len(), 1);
        assert_eq!(sp.acs[0].url, "https://sp.example/acs");
        assert!(sp.acs[0].is_default);
        assert_eq!(sp.slo_url.as_deref(), Some("https://sp.example/slo"));
        assert!(!sp.authn_requests_signed);
        assert_eq!(sp.nameid_format, NameIdFormat::Persistent, "none listed");
    }

    #[test]
    fn the_nameid_format_comes_from_the_metadata_unless_chosen() {
        let listing = |formats: &[&str]| {
            let listed: String = formats
                .iter()
                .map(|f| format!("<md:NameIDFormat>{f}</md:NameIDFormat>"))
                .collect();
            SP.replace(
                "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\"",
                &format!("{listed}<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\""),
            )
        };
        let python3_saml = listing(&[NAMEID_EMAIL]);
        assert_eq!(
            parse_sp_metadata(&python3_saml, None)
                .unwrap()
                .nameid_format,
            NameIdFormat::EmailAddress
        );
        assert_eq!(
            parse_sp_metadata(&python3_saml, Some(NameIdFormat::Persistent))
                .unwrap()
                .nameid_format,
            NameIdFormat::Persistent,
            "the administrator's choice stands"
        );
        let several = listing(&[NAMEID_TRANSIENT, NAMEID_PERSISTENT, NAMEID_EMAIL]);
        assert_eq!(
            parse_sp_metadata(&several, None).unwrap().nameid_format,
            NameIdFormat::Persistent
        );
    }

    #[test]
    fn the_default_endpoint_follows_the_metadata_rules() {
        let endpoints = |attrs: [&str; 3]| {
            let services: String = attrs
                .iter()
                .enumerate()
                .map(|(i, attr)| {
                    format!(
                        r#"<md:AssertionConsumerService Binding="{BINDING_POST}" Location="https://sp.example/acs{i}" index="{}" {attr}/>"#,
                        9 - i
                    )
                })
                .collect();
            let xml = format!(
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/m"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{services}</md:SPSSODescriptor></md:EntityDescriptor>"#
            );
            let sp = parse_sp_metadata(&xml, None).unwrap();
            sp.acs_for(None, None).unwrap().url.clone()
        };
        let explicit = endpoints([r#"isDefault="false""#, "", r#"isDefault="true""#]);
        assert_eq!(explicit, "https://sp.example/acs2");
        let unmarked = endpoints([r#"isDefault="false""#, "", ""]);
        assert_eq!(unmarked, "https://sp.example/acs1");
        let all_false = endpoints([r#"isDefault="false""#; 3]);
        assert_eq!(
            all_false, "https://sp.example/acs0",
            "document order, not lowest index"
        );
    }

    #[test]
    fn hostile_metadata_is_refused() {
        let doctype = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{SP}");
        assert!(matches!(
            parse_sp_metadata(&doctype, None),
            Err(MetadataError::Input(InputError::Doctype))
        ));
        let http_acs = SP.replace("https://sp.example/acs", "http://sp.example/acs");
        assert!(parse_sp_metadata(&http_acs, None).is_err());
        assert!(parse_sp_metadata("<x/>", None).is_err());
    }

    #[test]
    fn idp_metadata_lists_every_certificate_and_both_bindings() {
        let xml = idp_metadata("https://idp.example/contoso", &["AAA".into(), "BBB".into()]);
        assert!(xml.contains("entityID=\"https://idp.example/contoso\""));
        assert_eq!(xml.matches("<md:KeyDescriptor use=\"signing\">").count(), 2);
        assert!(xml.contains(BINDING_POST) && xml.contains(BINDING_REDIRECT));
        let parsed = EntityDescriptor::from_str(&xml).unwrap();
        assert_eq!(
            parsed.entity_id.as_deref(),
            Some("https://idp.example/contoso")
        );
    }
}

#[cfg(test)]
mod idp_metadata_tests {
    use super::*;

    const METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.contoso.example/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>CERT</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.contoso.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;

    fn certificate() -> String {
        let key = openssl::rsa::Rsa::generate(2048).unwrap();
        let der = key.private_key_to_der().unwrap();
        let cert = crate::keys::certificate::self_signed(&der, "test", 0).unwrap();
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cert)
    }

    #[test]
    fn metadata_needs_entity_id_redirect_sso_and_a_signing_certificate() {
        let good = METADATA.replace("CERT", &certificate());
        let idp = IdpMetadata::parse(&good, Some("https://idp.contoso.example/saml")).unwrap();
        assert_eq!(idp.entity_id, "https://idp.contoso.example/saml");
        assert_eq!(idp.sso_url, "https://idp.contoso.example/sso");
        assert!(
            IdpMetadata::parse(&good, Some("https://other.example"))
                .unwrap_err()
                .0
                .contains("entityID")
        );
        let no_cert = METADATA.replace(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>CERT</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            "",
        );
        assert!(
            IdpMetadata::parse(&no_cert, None)
                .unwrap_err()
                .0
                .contains("signing certificate")
        );
        let post_only = good.replace("HTTP-Redirect", "HTTP-POST");
        assert!(
            IdpMetadata::parse(&post_only, None)
                .unwrap_err()
                .0
                .contains("HTTP-Redirect")
        );
        let doctype = format!("<!DOCTYPE x [<!ENTITY a 'b'>]>{good}");
        assert!(
            IdpMetadata::parse(&doctype, None)
                .unwrap_err()
                .0
                .contains("DOCTYPE")
        );
        assert!(IdpMetadata::parse("<html/>", None).is_err());
    }
}
