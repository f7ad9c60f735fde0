//! Enveloped XML-DSig signing with a parsed key that outlives the signature.
//!
//! # Why not `samael::crypto::Crypto::sign_xml`
//!
//! samael 0.0.22 (the newest release) signs through a private copy of the xmlsec1 wrapper
//! whose only entry point, `sign_xml(xml, private_key_der)`, parses the DER key for every
//! signature: xmlsec's `xmlSecOpenSSLAppKeyLoadMemory` runs OpenSSL 3's decoder chain, and
//! every fresh RSA key object builds its blinding and Montgomery state again before its
//! first signature. Measured, that was two fifths of the CPU of a signed SAML Response,
//! more than the RSA signature itself. samael exposes no loaded-key API and its key type is
//! private; a change to samael cannot be released from this repository, and copying its
//! wrapper in is not allowed. So Gatehouse signs with the released safe binding that
//! samael's wrapper was derived from, the [`xmlsec`] crate (0.2.3: the newest that shares
//! samael's `libxml =0.3.3`, so both work on the same libxml2 documents). The signing itself
//! is still entirely xmlsec1's (`xmlSecDSigCtxSign`): the templates written by
//! [`super::response`] (exclusive c14n, RSA-SHA256, SHA-256 digest, enveloped) are filled in
//! exactly as samael filled them — a test checks the output is byte-identical to samael's.
//! Verification (AuthnRequests, partner IdPs' responses) stays with samael.
//!
//! # The key cache
//!
//! An [`xmlsec::XmlSecKey`] owns a raw `xmlSecKey*`, so it is neither `Send` nor `Sync`: each
//! thread that signs (the blocking-pool threads bounded by `response::signers`) keeps its own
//! parsed keys in a thread-local list of at most [`KEYS_PER_THREAD`], found by the SHA-256 of
//! the private key's DER (exact identity, without keeping another copy of the secret). A
//! signature takes a clone of the cached key: `xmlSecKeyDuplicate`, whose OpenSSL key data
//! copy in xmlsec1 1.2.37 is `EVP_PKEY_up_ref` (`src/openssl/evp.c`,
//! `xmlSecOpenSSLEvpKeyDup`), so the clone shares the parsed `EVP_PKEY` and its blinding. The
//! signature context owns and frees the clone; the cached key lives until its thread ends.
//!
//! # Initialising xmlsec1 twice, safely
//!
//! samael and the xmlsec crate each initialise xmlsec1 once, each behind its own lazy
//! `Mutex<Option<Context>>` in a `static` (never dropped, so neither ever calls
//! `xmlSecShutdown`): `xmlSecInit`, `xmlSecOpenSSLAppInit(NULL)`, `xmlSecOpenSSLInit` (samael
//! also calls `xmlInitParser` and `xmlSecCheckVersionExt` first). Both link the same shared
//! `libxmlsec1`/`libxmlsec1-openssl` (this build is not `XMLSEC_CRYPTO_DYNAMIC_LOADING`, both
//! build scripts link `-lxmlsec1-openssl`), so the second initialisation runs on the state of
//! the first. In xmlsec1 1.2.37 that second run:
//! - `xmlSecInit` → `xmlSecIOInit`, `xmlSecKeyDataIdsInit`, `xmlSecTransformIdsInit`: each
//!   `xmlSecPtrListInitialize`s (memsets) its global list — the old array is leaked, not freed
//!   (a few hundred bytes, once) — and registers the defaults again; `xmlNanoHTTPInit` is
//!   idempotent; the XXE-safe entity loader is guarded (`if (!xmlSecDefaultExternalEntityLoader)`),
//!   so it keeps libxml2's original loader as its fallback rather than itself;
//!   `xmlSecTransformXsltInitialize` asserts that its security preferences are not yet made,
//!   and on the second run its `xmlSecAssert` prints one line to stderr
//!   (`func=xmlSecTransformXsltInitialize:…:subj=g_xslt_default_security_prefs == NULL:…:assertion`)
//!   and returns early, leaving the first run's preferences (every XSLT file and network
//!   access forbidden) in place — that line at start-up is expected and harmless;
//! - `xmlSecOpenSSLAppInit` is `OPENSSL_init_crypto(...)`, idempotent by OpenSSL's contract;
//! - `xmlSecOpenSSLInit` checks the version, sets the error callback (OpenSSL 3: no error
//!   strings are loaded) and registers the OpenSSL key-data and transform klasses into the
//!   freshly reset lists.
//!
//! The end state is therefore the same as after one initialisation. What is not safe is the
//! window in the middle: while the second `xmlSecInit` has emptied the lists, a signature or a
//! verification on another thread would find no transforms. [`init`] closes that window: it
//! runs both initialisations once, in a fixed order (samael, then the xmlsec crate), under a
//! `OnceLock`, and it is called by the start-up of every node before anything is served
//! (`startup::Application`) and again, as a cheap check, before every signature and every
//! samael verification of a request. It then proves the result in the running process: a
//! document signed through this module with a throwaway P-256 key must verify with samael.
//! Tests check, each order in its own process, that signing here and verifying with samael
//! (including a signed AuthnRequest) work whichever crate initialised first.

use std::cell::RefCell;
use std::sync::OnceLock;

use libxml::parser::Parser;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use sha2::{Digest, Sha256};
use xmlsec::{XmlSecDocumentExt, XmlSecKey, XmlSecKeyFormat, XmlSecSignatureContext};

/// Parsed keys kept per signing thread: the active key and the next one during a rotation,
/// with room to spare.
pub const KEYS_PER_THREAD: usize = 4;

/// Why a document could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum DsigError {
    /// xmlsec1 could not be initialised, or failed its start-up self-test.
    #[error("xmlsec1 initialisation: {0}")]
    Init(String),
    /// The document to sign is not well-formed XML.
    #[error("the document to sign does not parse: {0:?}")]
    Parse(libxml::parser::XmlParseError),
    /// The private key does not load.
    #[error("the signing key does not load: {0}")]
    Key(xmlsec::XmlSecError),
    /// The root element has no `ID` for the signature's reference.
    #[error("the document's root has no usable ID: {0}")]
    Id(xmlsec::XmlSecError),
    /// xmlsec1 refused to sign (no template, unknown algorithm, …).
    #[error("xmlsec1 signing: {0}")]
    Sign(xmlsec::XmlSecError),
}

thread_local! {
    /// This thread's parsed signing keys, by SHA-256 of their private DER, oldest first.
    static KEYS: RefCell<Vec<([u8; 32], XmlSecKey)>> = const { RefCell::new(Vec::new()) };
}

/// Initialises xmlsec1 for samael and for the xmlsec crate, once per process and in a fixed
/// order, then checks that a signature made here verifies with samael (see the module
/// documentation). Cheap after the first call.
pub fn init() -> Result<(), DsigError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        init_samael();
        init_xmlsec();
        self_test()
    })
    .clone()
    .map_err(DsigError::Init)
}

/// samael's initialisation: a verification of a document without a signature loads a
/// certificate (`XmlSecKey::from_memory`, which initialises) and then fails to find the
/// signature, quietly.
fn init_samael() {
    if let Ok((_, certificate)) = throwaway_key() {
        let _ = Crypto::verify_signed_xml("<a ID=\"_a\"/>", &certificate, Some("ID"));
    }
}

/// The xmlsec crate's initialisation (its context constructor initialises).
fn init_xmlsec() {
    drop(XmlSecSignatureContext::new());
}

/// A fresh P-256 key (DER) and a self-signed certificate for it.
fn throwaway_key() -> Result<(Vec<u8>, CertificateDer), openssl::error::ErrorStack> {
    use openssl::{asn1, bn, ec, hash, nid, pkey, x509};
    let group = ec::EcGroup::from_curve_name(nid::Nid::X9_62_PRIME256V1)?;
    let key = pkey::PKey::from_ec_key(ec::EcKey::generate(&group)?)?;
    let mut name = x509::X509NameBuilder::new()?;
    name.append_entry_by_text("CN", "gatehouse xmlsec self-test")?;
    let name = name.build();
    let mut builder = x509::X509Builder::new()?;
    builder.set_version(2)?;
    let serial = bn::BigNum::from_u32(1)?.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (
        asn1::Asn1Time::days_from_now(0)?,
        asn1::Asn1Time::days_from_now(1)?,
    );
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(&key, hash::MessageDigest::sha256())?;
    let certificate = builder.build().to_der()?;
    Ok((key.private_key_to_der()?, CertificateDer::from(certificate)))
}

/// Signs a small document here with a throwaway key and verifies it with samael.
fn self_test() -> Result<(), String> {
    let (private, certificate) = throwaway_key().map_err(|e| format!("test key: {e}"))?;
    let template = "<t:Test xmlns:t=\"urn:gatehouse:self-test\" ID=\"_self\">\
        <ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
        <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
        <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"/>\
        <ds:Reference URI=\"#_self\"><ds:Transforms>\
        <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
        <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
        <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>\
        <ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>\
        </t:Test>";
    let key = XmlSecKey::from_memory(&private, XmlSecKeyFormat::Der, None)
        .map_err(|e| format!("self-test key: {e}"))?;
    let signed = sign_with(template, key).map_err(|e| format!("self-test signature: {e}"))?;
    Crypto::verify_signed_xml(&signed, &certificate, Some("ID"))
        .map_err(|e| format!("samael does not verify the self-test signature: {e:?}"))
}

/// Fills in the enveloped signature template of `xml` (the first `ds:Signature`, depth-first,
/// whose reference is the root element's `ID`) with the RSA key `private_der` (PKCS#1 or
/// PKCS#8 DER), parsed once per thread and kept; returns the signed document as libxml2
/// writes it (with an XML declaration), as samael did.
pub fn sign_enveloped(xml: &str, private_der: &[u8]) -> Result<String, DsigError> {
    init()?;
    sign_with(xml, cached_key(private_der)?)
}

/// A clone (sharing the parsed OpenSSL key) of this thread's parsed `private_der`, parsing
/// and caching it the first time.
fn cached_key(private_der: &[u8]) -> Result<XmlSecKey, DsigError> {
    let fingerprint: [u8; 32] = Sha256::digest(private_der).into();
    KEYS.with_borrow_mut(|keys| {
        if let Some((_, key)) = keys.iter().find(|(f, _)| *f == fingerprint) {
            return Ok(key.clone());
        }
        let key = XmlSecKey::from_memory(private_der, XmlSecKeyFormat::Der, None)
            .map_err(DsigError::Key)?;
        if keys.len() >= KEYS_PER_THREAD {
            keys.remove(0);
        }
        let clone = key.clone();
        keys.push((fingerprint, key));
        Ok(clone)
    })
}

/// How many parsed keys this thread holds.
pub fn cached_keys() -> usize {
    KEYS.with_borrow(Vec::len)
}

fn sign_with(xml: &str, key: XmlSecKey) -> Result<String, DsigError> {
    let document = Parser::default()
        .parse_string(xml)
        .map_err(DsigError::Parse)?;
    // The reference is `#<root ID>`: tell libxml2 that the root's `ID` is an ID attribute.
    document
        .specify_idattr("/*", "ID", None)
        .map_err(DsigError::Id)?;
    let mut context = XmlSecSignatureContext::new();
    context.insert_key(key);
    context.sign_document(&document).map_err(DsigError::Sign)?;
    Ok(document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use samael::crypto::ReduceMode;

    const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

    fn template(root: &str, id: &str, inner: &str) -> String {
        format!(
            r##"<{root} xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="{id}" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>https://sp.example</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{RSA_SHA256}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>{inner}</{root}>"##
        )
    }

    /// An RSA key (PKCS#1 DER, as `SamlKey::private_der`) and its self-signed certificate.
    fn rsa_key() -> (Vec<u8>, CertificateDer) {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let der = rsa.private_key_to_der().unwrap();
        let certificate = crate::keys::certificate::self_signed(&der, "test", 0).unwrap();
        (der, CertificateDer::from(certificate))
    }

    fn reduced(xml: &str, certificate: &CertificateDer) -> Result<String, String> {
        Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            std::slice::from_ref(certificate),
            ReduceMode::ValidateAndMarkNoAncestors,
            Some(&[samael::crypto::AllowedSignatureAlgorithm::RsaSha256]),
        )
        .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn output_is_samaels_byte_for_byte_and_verifies() {
        init().unwrap();
        let (der, certificate) = rsa_key();
        let xml = template(
            "saml:Assertion",
            "_a1",
            "<saml:Subject><saml:NameID>a@b</saml:NameID></saml:Subject>",
        );
        let ours = sign_enveloped(&xml, &der).unwrap();
        // RSA PKCS#1 v1.5 is deterministic: the same key and template give the same bytes.
        let samaels = Crypto::sign_xml(&xml, &der).unwrap();
        assert_eq!(ours, samaels);
        assert!(!ours.contains("<ds:SignatureValue></ds:SignatureValue>"));
        assert!(reduced(&ours, &certificate).unwrap().contains("a@b"));
        // Once more with the cached key: same bytes again.
        assert_eq!(sign_enveloped(&xml, &der).unwrap(), samaels);
        // Tampering is caught by samael's verification.
        let tampered = ours.replace("a@b", "x@b");
        assert!(reduced(&tampered, &certificate).is_err());
        // Another key's certificate does not verify it.
        let (_, other) = rsa_key();
        assert!(reduced(&ours, &other).is_err());
    }

    #[test]
    fn keys_are_parsed_once_per_thread_and_bounded() {
        std::thread::spawn(|| {
            init().unwrap();
            let keys: Vec<_> = (0..KEYS_PER_THREAD + 1).map(|_| rsa_key()).collect();
            let xml = template("saml:Assertion", "_k", "");
            sign_enveloped(&xml, &keys[0].0).unwrap();
            sign_enveloped(&xml, &keys[0].0).unwrap();
            assert_eq!(cached_keys(), 1);
            for (der, certificate) in &keys {
                let signed = sign_enveloped(&xml, der).unwrap();
                reduced(&signed, certificate).unwrap();
            }
            assert_eq!(cached_keys(), KEYS_PER_THREAD);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        init().unwrap();
        let (der, _) = rsa_key();
        // libxml2 recovers `<a` into `<a/>`, which has no signature template.
        assert!(sign_enveloped("<a", &der).is_err());
        assert!(matches!(sign_enveloped("", &der), Err(DsigError::Parse(_))));
        assert!(matches!(
            sign_enveloped(&template("saml:Assertion", "_b", ""), b"not a key"),
            Err(DsigError::Key(_))
        ));
        assert!(matches!(
            sign_enveloped("<a ID=\"_c\"/>", &der),
            Err(DsigError::Sign(_))
        ));
    }

    /// Runs `name` (an ignored test of this module) alone in a fresh process, so that it is
    /// the first to touch xmlsec1 there; fails unless it ran and passed.
    fn in_own_process(name: &str) {
        crate::testing::run_ignored_in_own_process(&format!("saml::dsig::tests::{name}"));
    }

    #[test]
    fn signing_and_samael_verification_work_whichever_initialises_first() {
        in_own_process("child_xmlsec_crate_first");
        in_own_process("child_samael_first");
    }

    /// A signed AuthnRequest (signed by samael, as an SP would), checked the way
    /// `request::signature` checks one.
    fn check_signed_authn_request(der: &[u8], certificate: &CertificateDer) {
        let request = template(
            "samlp:AuthnRequest",
            "_req",
            "<samlp:NameIDPolicy AllowCreate=\"true\"/>",
        );
        let signed = Crypto::sign_xml(&request, der).unwrap();
        assert!(
            reduced(&signed, certificate)
                .unwrap()
                .contains("NameIDPolicy")
        );
        assert!(reduced(&signed.replace("true", "false"), certificate).is_err());
    }

    /// Signs through `cached_key` without [`init`], so the xmlsec crate's own lazy
    /// initialisation is what runs.
    fn sign_uninitialised(xml: &str, der: &[u8]) -> String {
        sign_with(xml, cached_key(der).unwrap()).unwrap()
    }

    #[test]
    #[ignore = "run in its own process by signing_and_samael_verification_work_whichever_initialises_first"]
    fn child_xmlsec_crate_first() {
        let (der, certificate) = rsa_key();
        let xml = template("saml:Assertion", "_x1", "");
        let first = sign_uninitialised(&xml, &der);
        // samael initialises now, resetting xmlsec1's lists, and verifies.
        reduced(&first, &certificate).unwrap();
        check_signed_authn_request(&der, &certificate);
        // The cached key still signs after samael's initialisation, and samael verifies it.
        let second = sign_uninitialised(&xml, &der);
        assert_eq!(first, second);
        reduced(&second, &certificate).unwrap();
        init().unwrap();
    }

    #[test]
    #[ignore = "run in its own process by signing_and_samael_verification_work_whichever_initialises_first"]
    fn child_samael_first() {
        let (der, certificate) = rsa_key();
        check_signed_authn_request(&der, &certificate);
        let xml = template("saml:Assertion", "_s1", "");
        // The xmlsec crate initialises now, resetting xmlsec1's lists, and signs.
        let signed = sign_uninitialised(&xml, &der);
        reduced(&signed, &certificate).unwrap();
        // samael still verifies a signed AuthnRequest afterwards.
        check_signed_authn_request(&der, &certificate);
        init().unwrap();
    }
}
