//! Verifying who sent a SAML message: the HTTP-Redirect query signature over the parameters
//! exactly as the SP encoded them (SAML Bindings §3.4.4.1), and the HTTP-POST XML-DSig
//! signature, reduced to the signed content — both with an allow-list of algorithms (no SHA-1).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use percent_encoding::percent_decode_str;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use samael::schema::AuthnRequest;

use super::{Binding, page, parse};
use crate::domain::saml::SamlSp;
use crate::web::error::AppError;

/// Signature algorithms accepted on requests: no SHA-1.
const ALLOWED: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

fn certificates(sp: &SamlSp) -> Vec<CertificateDer> {
    sp.certificates
        .iter()
        .filter_map(|c| STANDARD.decode(c).ok())
        .map(CertificateDer::from)
        .collect()
}

/// The request as verified: for a signed request only its signed content counts.
pub(super) fn verified(
    sp: &SamlSp,
    xml: &str,
    unsigned: &AuthnRequest,
    binding: Binding<'_>,
) -> Result<AuthnRequest, AppError> {
    let refused = |why: &str| {
        tracing::warn!(sp = %sp.entity_id, reason = why, "AuthnRequest signature refused");
        page("The application's SAML request is not correctly signed.")
    };
    match binding {
        Binding::Redirect { raw_query } => {
            let signed = query_value(raw_query, "Signature").is_some();
            if signed {
                verify_redirect_signature(raw_query, &sp.certificates).map_err(refused)?;
            } else if sp.authn_requests_signed {
                return Err(refused("missing signature"));
            }
            Ok(unsigned.clone())
        }
        Binding::Post => {
            let signed = unsigned.signature.is_some();
            if !signed {
                if sp.authn_requests_signed {
                    return Err(refused("missing signature"));
                }
                return Ok(unsigned.clone());
            }
            if sp.certificates.is_empty() {
                return Err(refused("the SP has no registered certificate"));
            }
            // A no-op after start-up, which initialised xmlsec1 for samael and the signer.
            crate::saml::dsig::init().map_err(|e| AppError::Internal(e.into()))?;
            let reduced = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
                xml,
                &certificates(sp),
                ReduceMode::ValidateAndMarkNoAncestors,
                Some(&ALLOWED),
            )
            .map_err(|_| refused("bad XML signature"))?;
            let request = parse(&reduced)?;
            if request.id != unsigned.id {
                return Err(refused("the signature does not cover the request"));
            }
            Ok(request)
        }
    }
}

/// The raw (URL-encoded) value of a query parameter; `None` if absent or repeated.
pub(super) fn query_value<'q>(raw_query: &'q str, name: &str) -> Option<&'q str> {
    let mut found = raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value);
    let first = found.next();
    if found.next().is_some() { None } else { first }
}

fn decoded(raw: &str) -> Option<String> {
    percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Verifies an HTTP-Redirect signature (SAML Bindings §3.4.4.1) over
/// `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as the SP encoded them, with an allow-list of
/// algorithms (no SHA-1), against any of the SP's certificates.
pub fn verify_redirect_signature(
    raw_query: &str,
    certificates: &[String],
) -> Result<(), &'static str> {
    let message = query_value(raw_query, "SAMLRequest")
        .map(|v| ("SAMLRequest", v))
        .or_else(|| query_value(raw_query, "SAMLResponse").map(|v| ("SAMLResponse", v)))
        .ok_or("no message")?;
    let sig_alg_raw = query_value(raw_query, "SigAlg").ok_or("no SigAlg")?;
    let signature_raw = query_value(raw_query, "Signature").ok_or("no Signature")?;
    let mut signed = format!("{}={}", message.0, message.1);
    if let Some(relay) = query_value(raw_query, "RelayState") {
        signed.push_str(&format!("&RelayState={relay}"));
    }
    signed.push_str(&format!("&SigAlg={sig_alg_raw}"));
    let sig_alg = decoded(sig_alg_raw).ok_or("bad SigAlg")?;
    let (digest, ecdsa) = match sig_alg.as_str() {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => (MessageDigest::sha256(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => (MessageDigest::sha384(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (MessageDigest::sha512(), false),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => (MessageDigest::sha256(), true),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => (MessageDigest::sha384(), true),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => (MessageDigest::sha512(), true),
        _ => return Err("signature algorithm not allowed"),
    };
    let signature = STANDARD
        .decode(
            decoded(signature_raw)
                .ok_or("bad Signature")?
                .replace(' ', "+"),
        )
        .map_err(|_| "Signature is not base64")?;
    let signature = if ecdsa {
        ecdsa_der(&signature).ok_or("bad ECDSA signature")?
    } else {
        signature
    };
    for certificate in certificates {
        let Some(key) = STANDARD
            .decode(certificate)
            .ok()
            .and_then(|der| openssl::x509::X509::from_der(&der).ok())
            .and_then(|cert| cert.public_key().ok())
        else {
            continue;
        };
        let valid = Verifier::new(digest, &key)
            .and_then(|mut verifier| verifier.verify_oneshot(&signature, signed.as_bytes()))
            .unwrap_or(false);
        if valid {
            return Ok(());
        }
    }
    Err("no certificate verifies the signature")
}

/// XML-DSig ECDSA signatures are `r || s` (RFC 4050); OpenSSL verifies DER.
fn ecdsa_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let r = openssl::bn::BigNum::from_slice(r).ok()?;
    let s = openssl::bn::BigNum::from_slice(s).ok()?;
    openssl::ecdsa::EcdsaSig::from_private_components(r, s)
        .ok()?
        .to_der()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_stay_encoded_and_repeats_are_refused() {
        assert_eq!(query_value("a=1%2B&b=2", "a"), Some("1%2B"));
        assert_eq!(query_value("a=1&a=2", "a"), None);
        assert_eq!(query_value("b=2", "a"), None);
    }

    #[test]
    fn sha1_and_unknown_signature_algorithms_are_refused() {
        let sha1 = "SAMLRequest=x&SigAlg=http%3A%2F%2Fwww.w3.org%2F2000%2F09%2Fxmldsig%23rsa-sha1&Signature=AAAA";
        assert_eq!(
            verify_redirect_signature(sha1, &[]),
            Err("signature algorithm not allowed")
        );
        let none = "SAMLRequest=x&SigAlg=none&Signature=AAAA";
        assert_eq!(
            verify_redirect_signature(none, &[]),
            Err("signature algorithm not allowed")
        );
    }

    #[test]
    fn a_redirect_signature_made_over_the_sent_encoding_verifies() {
        use openssl::pkey::PKey;
        use openssl::sign::Signer;
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let key = PKey::from_rsa(rsa).unwrap();
        let der = key.private_key_to_der().unwrap();
        let cert = crate::keys::certificate::self_signed(&der, "sp", 1_800_000_000).unwrap();
        let unsigned = "SAMLRequest=fZBBa%2Bb&RelayState=%2Fhome&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256";
        let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
        let signature = STANDARD.encode(signer.sign_oneshot_to_vec(unsigned.as_bytes()).unwrap());
        let encoded: String = url::form_urlencoded::byte_serialize(signature.as_bytes()).collect();
        let query = format!("{unsigned}&Signature={encoded}");
        let certs = vec![STANDARD.encode(&cert)];
        assert_eq!(verify_redirect_signature(&query, &certs), Ok(()));
        let tampered = query.replace("%2Fhome", "%2Fevil");
        assert!(verify_redirect_signature(&tampered, &certs).is_err());
    }
}
