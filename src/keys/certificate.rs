//! X.509 certificates for RSA signing keys. SAML publishes keys as certificates (SAML 2.0
//! Metadata §2.4.1.1); ours are self-signed wrappers around the key ring's public keys, made
//! with OpenSSL. SPs pin them from metadata, so validity dates are informative only.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509NameBuilder};

/// How long the certificates claim to be valid.
const VALIDITY_DAYS: i64 = 20 * 365;

/// A self-signed certificate (DER) for the RSA private key `private_der` (PKCS#1 or PKCS#8).
pub fn self_signed(private_der: &[u8], kid: &str, issued_at: i64) -> anyhow::Result<Vec<u8>> {
    let key = PKey::private_key_from_der(private_der)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, &format!("Gatehouse signing key {kid}"))?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let not_before = Asn1Time::from_unix(issued_at - 86_400)?;
    let not_after = Asn1Time::from_unix(issued_at + VALIDITY_DAYS * 86_400)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.append_extension(BasicConstraints::new().critical().build()?)?;
    builder.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    builder.sign(&key, MessageDigest::sha256())?;
    Ok(builder.build().to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_carries_the_keys_public_half() {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let der = rsa.private_key_to_der().unwrap();
        let cert = X509::from_der(&self_signed(&der, "k1", 1_800_000_000).unwrap()).unwrap();
        let public = cert.public_key().unwrap().rsa().unwrap();
        assert_eq!(public.n(), rsa.n());
        assert!(cert.verify(&cert.public_key().unwrap()).unwrap());
    }
}
