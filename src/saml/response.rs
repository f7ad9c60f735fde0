//! Building and signing SAML Responses (SAML 2.0 Core §3.3.3, Profiles §4.1.4.2).
//!
//! The Assertion is written as its own document with an XML-DSig template (exclusive c14n,
//! RSA-SHA256, SHA-256 digest — never SHA-1) and signed by xmlsec1 with a key parsed once per
//! signing thread ([`super::dsig`], which says why not through samael). The signed
//! Assertion is then embedded in the Response, which gets its own template and signature
//! when the SP wants one. Exclusive canonicalisation makes the Assertion's signature
//! independent of where it is embedded.

use sha2::{Digest, Sha256};

use crate::keys::SamlKey;
use crate::samlxml::xml::{XmlOut, without_declaration};

/// `urn:oasis:names:tc:SAML:2.0:protocol`.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// `urn:oasis:names:tc:SAML:2.0:assertion`.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_XS: &str = "http://www.w3.org/2001/XMLSchema";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ATTR_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

/// Status codes (SAML 2.0 Core §3.2.2.2).
pub mod status {
    /// Success.
    pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
    /// The request could not be performed due to an error on the part of the requester.
    pub const REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
    /// The request could not be performed due to an error on the part of the responder.
    pub const RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
    /// The requested authentication context cannot be satisfied.
    pub const NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";
    /// IsPassive was set and the user would have to interact.
    pub const NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
    /// The NameIDPolicy cannot be honoured.
    pub const INVALID_NAMEID_POLICY: &str =
        "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
    /// The user declined or is not allowed.
    pub const REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
    /// The requested binding is not supported.
    pub const UNSUPPORTED_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding";
    /// Authentication failed.
    pub const AUTHN_FAILED: &str = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed";
    /// The request's SAML version is not spoken here (top level).
    pub const VERSION_MISMATCH: &str = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch";
    /// The request's major version is higher than ours.
    pub const REQUEST_VERSION_TOO_HIGH: &str =
        "urn:oasis:names:tc:SAML:2.0:status:RequestVersionTooHigh";
    /// The request's major version is lower than ours.
    pub const REQUEST_VERSION_TOO_LOW: &str =
        "urn:oasis:names:tc:SAML:2.0:status:RequestVersionTooLow";
    /// The principal the request names is not known here.
    pub const UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";
}

/// A (possibly two-level) status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Top-level code (Success, Requester, Responder, VersionMismatch).
    pub code: &'static str,
    /// Second-level code.
    pub detail: Option<&'static str>,
    /// Message for the SP's logs.
    pub message: Option<String>,
}

impl Status {
    /// Success.
    pub fn success() -> Self {
        Self {
            code: status::SUCCESS,
            detail: None,
            message: None,
        }
    }

    /// An error with a second-level code.
    pub fn error(code: &'static str, detail: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            detail: Some(detail),
            message: Some(message.into()),
        }
    }
}

/// A SAML time (UTC, seconds).
pub fn instant(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A new message id: `_` and 160 random bits (SECURITY.md I.4).
pub fn new_id() -> String {
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes[..]);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("_{hex}")
}

/// A persistent NameID: opaque, stable, different for every SP (SAML Core §8.3.7).
pub fn persistent_name_id(tenant_id: &str, sp_entity_id: &str, user_id: &str) -> String {
    let digest = Sha256::digest(format!(
        "saml\u{1f}{tenant_id}\u{1f}{sp_entity_id}\u{1f}{user_id}"
    ));
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest)
}

/// Writes an enveloped-signature template for the element with id `reference`.
fn signature_template(out: &mut XmlOut, reference: &str, certificate: &str) {
    out.open("ds:Signature", &[("xmlns:ds", NS_DSIG)])
        .open("ds:SignedInfo", &[])
        .empty("ds:CanonicalizationMethod", &[("Algorithm", EXC_C14N)])
        .empty("ds:SignatureMethod", &[("Algorithm", RSA_SHA256)])
        .open("ds:Reference", &[("URI", &format!("#{reference}"))])
        .open("ds:Transforms", &[])
        .empty("ds:Transform", &[("Algorithm", ENVELOPED)])
        .empty("ds:Transform", &[("Algorithm", EXC_C14N)])
        .close("ds:Transforms")
        .empty("ds:DigestMethod", &[("Algorithm", SHA256)])
        .leaf("ds:DigestValue", &[], "")
        .close("ds:Reference")
        .close("ds:SignedInfo")
        .leaf("ds:SignatureValue", &[], "")
        .open("ds:KeyInfo", &[])
        .open("ds:X509Data", &[])
        .leaf("ds:X509Certificate", &[], certificate)
        .close("ds:X509Data")
        .close("ds:KeyInfo")
        .close("ds:Signature");
}

/// Everything an assertion states (owned, so that signing can move to a blocking thread).
#[derive(Debug, Clone)]
pub struct AssertionFacts {
    /// IdP entityID.
    pub issuer: String,
    /// ACS URL (Recipient, Destination).
    pub acs: String,
    /// The AuthnRequest answered, if SP-initiated.
    pub in_response_to: Option<String>,
    /// SP entityID (Audience).
    pub audience: String,
    /// NameID value and format.
    pub name_id: (String, &'static str),
    /// SessionIndex.
    pub session_index: String,
    /// When the user authenticated.
    pub authn_instant: i64,
    /// AuthnContextClassRef.
    pub authn_context: &'static str,
    /// Attributes: name and values.
    pub attributes: Vec<(&'static str, Vec<String>)>,
    /// Issue time.
    pub now: i64,
    /// Validity of the assertion and of the bearer confirmation, in seconds (≤ 300).
    pub lifetime: i64,
}

/// Writes the Assertion with its signature template; returns (id, xml).
fn assertion_document(facts: &AssertionFacts, certificate: &str) -> (String, String) {
    let id = new_id();
    let now = instant(facts.now);
    let not_before = instant(facts.now - 60);
    let not_after = instant(facts.now + facts.lifetime);
    let mut out = XmlOut::document();
    out.open(
        "saml:Assertion",
        &[
            ("xmlns:saml", NS_ASSERTION),
            ("xmlns:xs", NS_XS),
            ("xmlns:xsi", NS_XSI),
            ("ID", &id),
            ("Version", "2.0"),
            ("IssueInstant", &now),
        ],
    )
    .leaf("saml:Issuer", &[("Format", ENTITY)], &facts.issuer);
    signature_template(&mut out, &id, certificate);
    out.open("saml:Subject", &[]);
    let (name_id, format) = (&facts.name_id.0, facts.name_id.1);
    let mut name_attributes = vec![("Format", format)];
    if format == crate::domain::saml::NAMEID_PERSISTENT {
        name_attributes.push(("NameQualifier", facts.issuer.as_str()));
        name_attributes.push(("SPNameQualifier", facts.audience.as_str()));
    }
    out.leaf("saml:NameID", &name_attributes, name_id)
        .open("saml:SubjectConfirmation", &[("Method", BEARER)]);
    let mut confirmation = vec![
        ("NotOnOrAfter", not_after.as_str()),
        ("Recipient", facts.acs.as_str()),
    ];
    if let Some(request) = facts.in_response_to.as_deref() {
        confirmation.push(("InResponseTo", request));
    }
    out.empty("saml:SubjectConfirmationData", &confirmation)
        .close("saml:SubjectConfirmation")
        .close("saml:Subject")
        .open(
            "saml:Conditions",
            &[("NotBefore", &not_before), ("NotOnOrAfter", &not_after)],
        )
        .open("saml:AudienceRestriction", &[])
        .leaf("saml:Audience", &[], &facts.audience)
        .close("saml:AudienceRestriction")
        .close("saml:Conditions")
        .open(
            "saml:AuthnStatement",
            &[
                ("AuthnInstant", &instant(facts.authn_instant)),
                ("SessionIndex", facts.session_index.as_str()),
            ],
        )
        .open("saml:AuthnContext", &[])
        .leaf("saml:AuthnContextClassRef", &[], facts.authn_context)
        .close("saml:AuthnContext")
        .close("saml:AuthnStatement");
    if !facts.attributes.is_empty() {
        out.open("saml:AttributeStatement", &[]);
        for (name, values) in &facts.attributes {
            out.open(
                "saml:Attribute",
                &[("Name", name), ("NameFormat", ATTR_URI)],
            );
            for value in values {
                out.leaf("saml:AttributeValue", &[("xsi:type", "xs:string")], value);
            }
            out.close("saml:Attribute");
        }
        out.close("saml:AttributeStatement");
    }
    out.close("saml:Assertion");
    (id, out.finish())
}

/// Why a response could not be produced.
#[derive(Debug, thiserror::Error)]
#[error("SAML signing failed: {0}")]
pub struct SigningError(String);

fn sign(xml: &str, key: &SamlKey) -> Result<String, SigningError> {
    super::dsig::sign_enveloped(xml, &key.private_der).map_err(|e| SigningError(e.to_string()))
}

/// The envelope of a Response.
#[derive(Debug, Clone)]
pub struct ResponseParts {
    /// IdP entityID.
    pub issuer: String,
    /// ACS URL.
    pub destination: String,
    /// The AuthnRequest answered, if SP-initiated.
    pub in_response_to: Option<String>,
    /// Outcome.
    pub status: Status,
    /// The assertion, on success.
    pub assertion: Option<AssertionFacts>,
    /// Whether the SP wants the Response signed too.
    pub sign_response: bool,
    /// Issue time.
    pub now: i64,
}

/// At most two signing threads per core: enough to keep every core busy while a request
/// waits on I/O, few enough that the blocking pool does not grow a thread (and its XML and
/// parsed-key state, [`super::dsig`]) per concurrent sign-in.
fn signers() -> &'static tokio::sync::Semaphore {
    static SIGNERS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SIGNERS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        tokio::sync::Semaphore::new(2 * cores)
    })
}

/// [`response`] on the blocking pool: an XML-DSig signature costs a few tenths of a millisecond
/// of CPU (an RSA-2048 signature, c14n and digest, the XML parse), which must not stall the
/// async workers.
pub async fn signed_response(
    parts: ResponseParts,
    key: std::sync::Arc<SamlKey>,
) -> Result<String, SigningError> {
    let _permit = signers()
        .acquire()
        .await
        .map_err(|e| SigningError(format!("signer pool closed: {e}")))?;
    tokio::task::spawn_blocking(move || response(&parts, &key))
        .await
        .map_err(|e| SigningError(format!("signing task failed: {e}")))?
}

/// A complete Response, ready for the HTTP-POST binding (not yet base64).
pub fn response(parts: &ResponseParts, key: &SamlKey) -> Result<String, SigningError> {
    let ResponseParts {
        ref issuer,
        ref destination,
        ref in_response_to,
        ref status,
        ref assertion,
        sign_response,
        now,
    } = *parts;
    let signed_assertion = match assertion {
        Some(facts) => {
            let (_, document) = assertion_document(facts, &key.certificate);
            Some(sign(&document, key)?)
        }
        None => None,
    };
    let id = new_id();
    let issue_instant = instant(now);
    let mut attributes = vec![
        ("xmlns:samlp", NS_PROTOCOL),
        ("xmlns:saml", NS_ASSERTION),
        ("ID", id.as_str()),
        ("Version", "2.0"),
        ("IssueInstant", issue_instant.as_str()),
        ("Destination", destination.as_str()),
    ];
    if let Some(request) = in_response_to.as_deref() {
        attributes.push(("InResponseTo", request));
    }
    let mut out = XmlOut::document();
    out.open("samlp:Response", &attributes)
        .leaf("saml:Issuer", &[("Format", ENTITY)], issuer);
    // Error responses are always signed, so an SP can trust the failure it is told about.
    let signed = sign_response || signed_assertion.is_none();
    if signed {
        signature_template(&mut out, &id, &key.certificate);
    }
    out.open("samlp:Status", &[])
        .open("samlp:StatusCode", &[("Value", status.code)]);
    if let Some(detail) = status.detail {
        out.empty("samlp:StatusCode", &[("Value", detail)]);
    }
    out.close("samlp:StatusCode");
    if let Some(message) = &status.message {
        out.leaf("samlp:StatusMessage", &[], message);
    }
    out.close("samlp:Status");
    if let Some(assertion) = &signed_assertion {
        out.raw(without_declaration(assertion));
    }
    out.close("samlp:Response");
    let xml = out.finish();
    if signed { sign(&xml, key) } else { Ok(xml) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_160_bits_and_times_are_utc() {
        let id = new_id();
        assert_eq!(id.len(), 41);
        assert!(id.starts_with('_'));
        assert_ne!(new_id(), id);
        assert_eq!(instant(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn persistent_ids_are_pairwise() {
        let a = persistent_name_id("t", "https://a.example", "u");
        assert_ne!(a, persistent_name_id("t", "https://b.example", "u"));
        assert_eq!(a, persistent_name_id("t", "https://a.example", "u"));
    }
}
