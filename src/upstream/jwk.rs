//! The partner's signing keys as Gatehouse verifies them: [`PartnerJwk`], a JSON Web Key of a
//! partner IdP's JWKS whose signatures are checked by OpenSSL (through josekit) instead of the
//! RustCrypto code behind openidconnect's `CoreJsonWebKey` (an RS256 ID token: ≈0.02 ms
//! instead of ≈0.2 ms).
//!
//! openidconnect's ID-token verifier is generic over its `JsonWebKey` trait: it picks the key
//! (by `kid` and by what the key allows), checks issuer, audience, `azp`, expiry, issue time,
//! nonce and the algorithm allow-list itself, and asks the chosen key only to verify the
//! signature over `header.payload` and to hash for `at_hash`. So [`PartnerJwk`] is a drop-in
//! key type: it reads the JWK twice from the same JSON — as openidconnect's `CoreJsonWebKey`
//! (for `kid`, `kty`, `use`, `alg` and the `at_hash` digest, exactly as before) and as
//! josekit's `Jwk` — and verifies with a josekit verifier built once per (key, algorithm) and
//! kept with the key (the discovery cache in [`super::Federation`] keeps keys ten minutes).
//!
//! What verifies: RS256/384/512, PS256/384/512, ES256/384/512 (the curve must match) and
//! EdDSA with Ed25519 — the asymmetric algorithms `CoreJsonWebKey` verifies, plus ES512.
//! Refused here whatever the allow-list says: `none`, and the HMAC algorithms (a partner's ID
//! token signed with the client secret; Gatehouse's allow-list never admits them, and a key of
//! this type never verifies a MAC, so a public key can never be used as an HMAC secret).
//! josekit is stricter than `CoreJsonWebKey` in two ways: RSA keys must have at least 2048 bits,
//! and a `key_ops` member, when present, must list `verify`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JsonWebKeyUse as _, JwsSigningAlgorithm as _,
    SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The verifiers built so far for one key, by algorithm.
type Verifiers = HashMap<CoreJwsSigningAlgorithm, Arc<dyn JwsVerifier>>;

/// A partner IdP's public key, read from its JWKS, verified with OpenSSL (see the module doc).
/// Clones share the key and its verifiers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>", into = "CoreJsonWebKey")]
pub struct PartnerJwk {
    /// The key as openidconnect reads it: `kid`, `kty`, `use`, `alg`, `crv`.
    core: CoreJsonWebKey,
    /// The key as josekit reads it (`None` for a symmetric key, which never verifies here).
    jose: Option<Arc<Jwk>>,
    /// OpenSSL verifiers built from `jose`, by algorithm.
    verifiers: Arc<Mutex<Verifiers>>,
}

impl TryFrom<Map<String, Value>> for PartnerJwk {
    type Error = String;

    fn try_from(map: Map<String, Value>) -> Result<Self, Self::Error> {
        let core: CoreJsonWebKey =
            serde_json::from_value(Value::Object(map.clone())).map_err(|e| e.to_string())?;
        let jose = Jwk::from_map(map).map_err(|e| e.to_string())?;
        Ok(Self {
            core,
            jose: Some(Arc::new(jose)),
            verifiers: Arc::default(),
        })
    }
}

impl From<PartnerJwk> for CoreJsonWebKey {
    fn from(key: PartnerJwk) -> Self {
        key.core
    }
}

impl PartnerJwk {
    /// The OpenSSL verifier of this key for `alg`, built on first use and kept.
    fn verifier(
        &self,
        alg: &CoreJwsSigningAlgorithm,
    ) -> Result<Arc<dyn JwsVerifier>, SignatureVerificationError> {
        let mut verifiers = self.verifiers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(verifier) = verifiers.get(alg) {
            return Ok(verifier.clone());
        }
        let jwk = self.jose.as_deref().ok_or_else(|| {
            SignatureVerificationError::InvalidKey("a symmetric key verifies nothing here".into())
        })?;
        let invalid = |e: josekit::JoseError| SignatureVerificationError::InvalidKey(e.to_string());
        use CoreJwsSigningAlgorithm as A;
        let verifier: Arc<dyn JwsVerifier> = match alg {
            A::RsaSsaPkcs1V15Sha256 => Arc::new(
                josekit::jws::RS256
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::RsaSsaPkcs1V15Sha384 => Arc::new(
                josekit::jws::RS384
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::RsaSsaPkcs1V15Sha512 => Arc::new(
                josekit::jws::RS512
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::RsaSsaPssSha256 => Arc::new(
                josekit::jws::PS256
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::RsaSsaPssSha384 => Arc::new(
                josekit::jws::PS384
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::RsaSsaPssSha512 => Arc::new(
                josekit::jws::PS512
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::EcdsaP256Sha256 => Arc::new(
                josekit::jws::ES256
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::EcdsaP384Sha384 => Arc::new(
                josekit::jws::ES384
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::EcdsaP521Sha512 => Arc::new(
                josekit::jws::ES512
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            A::EdDsa => Arc::new(
                josekit::jws::EdDSA
                    .verifier_from_jwk(jwk)
                    .map_err(invalid)?,
            ),
            other => {
                return Err(SignatureVerificationError::UnsupportedAlg(
                    alg_name(other).to_owned(),
                ));
            }
        };
        verifiers.insert(alg.clone(), verifier.clone());
        Ok(verifier)
    }

    /// Whether this key may verify `alg`: signature use (or none said), the algorithm's key
    /// type, the key's own `alg` when it names one, and for ECDSA and EdDSA the curve.
    fn check_compatible(&self, alg: &CoreJwsSigningAlgorithm) -> Result<(), String> {
        if self.key_use().is_some_and(|u| !u.allows_signature()) {
            return Err("the key is not for signatures".to_owned());
        }
        if alg.key_type().as_ref() != Some(self.key_type()) {
            return Err(format!("{} needs another type of key", alg_name(alg)));
        }
        match self.signing_alg() {
            JsonWebKeyAlgorithm::Unspecified => {}
            JsonWebKeyAlgorithm::Algorithm(own) if own == alg => {}
            JsonWebKeyAlgorithm::Algorithm(_) | JsonWebKeyAlgorithm::Unsupported => {
                return Err(format!("the key is not for {}", alg_name(alg)));
            }
        }
        let curve = match alg {
            CoreJwsSigningAlgorithm::EcdsaP256Sha256 => Some("P-256"),
            CoreJwsSigningAlgorithm::EcdsaP384Sha384 => Some("P-384"),
            CoreJwsSigningAlgorithm::EcdsaP521Sha512 => Some("P-521"),
            CoreJwsSigningAlgorithm::EdDsa => Some("Ed25519"),
            _ => None,
        };
        if let Some(curve) = curve
            && self.curve() != Some(curve)
        {
            return Err(format!("{} needs curve {curve}", alg_name(alg)));
        }
        Ok(())
    }

    /// The key's `crv`, if it names one.
    fn curve(&self) -> Option<&str> {
        self.jose
            .as_deref()
            .and_then(|jwk| jwk.parameter("crv"))
            .and_then(Value::as_str)
    }
}

/// `alg` as the JOSE header spells it.
fn alg_name(alg: &CoreJwsSigningAlgorithm) -> &'static str {
    use CoreJwsSigningAlgorithm as A;
    match alg {
        A::HmacSha256 => "HS256",
        A::HmacSha384 => "HS384",
        A::HmacSha512 => "HS512",
        A::RsaSsaPkcs1V15Sha256 => "RS256",
        A::RsaSsaPkcs1V15Sha384 => "RS384",
        A::RsaSsaPkcs1V15Sha512 => "RS512",
        A::RsaSsaPssSha256 => "PS256",
        A::RsaSsaPssSha384 => "PS384",
        A::RsaSsaPssSha512 => "PS512",
        A::EcdsaP256Sha256 => "ES256",
        A::EcdsaP384Sha384 => "ES384",
        A::EcdsaP521Sha512 => "ES512",
        A::EdDsa => "EdDSA",
        A::None => "none",
        _ => "an unknown algorithm",
    }
}

impl JsonWebKey for PartnerJwk {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.core.key_id()
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        self.core.key_type()
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.core.key_use()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.core.signing_alg()
    }

    /// A shared-secret key, which openidconnect makes from the client secret for HS* tokens:
    /// it verifies nothing here (see the module doc).
    fn new_symmetric(key: Vec<u8>) -> Self {
        Self {
            core: CoreJsonWebKey::new_symmetric(key),
            jose: None,
            verifiers: Arc::default(),
        }
    }

    fn verify_signature(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        if signature_alg.uses_shared_secret() || *signature_alg == CoreJwsSigningAlgorithm::None {
            return Err(SignatureVerificationError::DisallowedAlg(
                alg_name(signature_alg).to_owned(),
            ));
        }
        self.check_compatible(signature_alg)
            .map_err(SignatureVerificationError::InvalidKey)?;
        self.verifier(signature_alg)?
            .verify(message, signature)
            .map_err(|e| SignatureVerificationError::CryptoError(e.to_string()))
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        self.core.hash_bytes(bytes, alg)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use josekit::jwk::KeyPair as _;
    use josekit::jws::{JwsHeader, JwsSigner};
    use josekit::jwt::JwtPayload;
    use openidconnect::core::CoreIdToken;
    use openidconnect::{ClientId, ClientSecret, IdTokenVerifier, IssuerUrl, JsonWebKeySet, Nonce};

    use super::*;

    const ISSUER: &str = "https://partner.example";
    const CLIENT: &str = "gatehouse-client";
    const NONCE: &str = "n-0S6_WzA2Mj";

    /// The partner's RSA key pair (2048 bits: generated once for all tests).
    fn rsa() -> &'static josekit::jwk::alg::rsa::RsaKeyPair {
        static KEY: OnceLock<josekit::jwk::alg::rsa::RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| josekit::jws::RS256.generate_key_pair(2048).unwrap())
    }

    /// Another RSA key pair, the partner's JWKS does not have.
    fn other_rsa() -> &'static josekit::jwk::alg::rsa::RsaKeyPair {
        static KEY: OnceLock<josekit::jwk::alg::rsa::RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| josekit::jws::RS256.generate_key_pair(2048).unwrap())
    }

    fn ec() -> &'static josekit::jwk::alg::ec::EcKeyPair {
        static KEY: OnceLock<josekit::jwk::alg::ec::EcKeyPair> = OnceLock::new();
        KEY.get_or_init(|| josekit::jws::ES256.generate_key_pair().unwrap())
    }

    /// The partner's JWKS as discovery reads it: the RSA key `rsa-1`, the EC key `ec-1` and an
    /// encryption key of a type nobody verifies with (skipped, as openidconnect skips keys it
    /// cannot read).
    fn jwks() -> JsonWebKeySet<PartnerJwk> {
        // The RSA key says no `alg`: it verifies RS256 and PS256 alike.
        let mut rsa = without_alg(rsa().to_jwk_public_key());
        rsa.set_key_id("rsa-1");
        let mut ec = ec().to_jwk_public_key();
        ec.set_key_id("ec-1");
        let document = serde_json::json!({
            "keys": [
                rsa.as_ref(),
                ec.as_ref(),
                {"kty": "oct", "use": "enc", "kid": "sym", "k": "c2VjcmV0"},
                {"kty": 7},
            ]
        });
        serde_json::from_value(document).unwrap()
    }

    fn claims() -> JwtPayload {
        let now = SystemTime::now();
        let mut payload = JwtPayload::new();
        payload.set_issuer(ISSUER);
        payload.set_subject("partner-user-1");
        payload.set_audience(vec![CLIENT]);
        payload.set_issued_at(&now);
        payload.set_expires_at(&(now + Duration::from_secs(300)));
        payload
            .set_claim("nonce", Some(Value::String(NONCE.to_owned())))
            .unwrap();
        payload
    }

    fn sign(signer: &dyn JwsSigner, kid: &str, payload: &JwtPayload) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(kid);
        josekit::jwt::encode_with_signer(payload, &header, signer).unwrap()
    }

    /// openidconnect's own ID-token checks, with the partner's keys as [`PartnerJwk`]s and
    /// Gatehouse's allow-list (`allowed`), for a confidential client with `secret`.
    fn verify_with(
        token: &str,
        allowed: &[CoreJwsSigningAlgorithm],
        secret: &str,
    ) -> Result<(), String> {
        let id_token = CoreIdToken::from_str(token).map_err(|e| e.to_string())?;
        let verifier = IdTokenVerifier::<PartnerJwk>::new_confidential_client(
            ClientId::new(CLIENT.to_owned()),
            ClientSecret::new(secret.to_owned()),
            IssuerUrl::new(ISSUER.to_owned()).unwrap(),
            jwks(),
        )
        .set_allowed_algs(allowed.iter().cloned());
        id_token
            .claims(&verifier, &Nonce::new(NONCE.to_owned()))
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    /// `jwk` without its `alg` (josekit writes one; many IdPs publish none).
    fn without_alg(jwk: josekit::jwk::Jwk) -> josekit::jwk::Jwk {
        let mut map = jwk.as_ref().clone();
        map.remove("alg");
        josekit::jwk::Jwk::from_map(map).unwrap()
    }

    fn verify(token: &str) -> Result<(), String> {
        verify_with(
            token,
            &[
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::RsaSsaPssSha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            ],
            "client-secret",
        )
    }

    fn rs256() -> Box<dyn JwsSigner> {
        Box::new(
            josekit::jws::RS256
                .signer_from_jwk(&rsa().to_jwk_private_key())
                .unwrap(),
        )
    }

    #[test]
    fn the_jwks_reads_the_keys_it_understands() {
        let keys = jwks();
        let kids: Vec<_> = keys
            .keys()
            .iter()
            .map(|k| k.key_id().map(|kid| kid.as_str().to_owned()))
            .collect();
        assert_eq!(
            kids,
            [
                Some("rsa-1".into()),
                Some("ec-1".into()),
                Some("sym".into())
            ]
        );
        // Serialized again, a key is the JWK it was read from.
        let again: PartnerJwk =
            serde_json::from_value(serde_json::to_value(&keys.keys()[0]).unwrap()).unwrap();
        assert_eq!(again.key_id().unwrap().as_str(), "rsa-1");
    }

    #[test]
    fn josekit_signed_tokens_verify() {
        verify(&sign(rs256().as_ref(), "rsa-1", &claims())).unwrap();
        let ps256 = josekit::jws::PS256
            .signer_from_jwk(&without_alg(rsa().to_jwk_private_key()))
            .unwrap();
        verify(&sign(&ps256, "rsa-1", &claims())).unwrap();
        let es256 = josekit::jws::ES256
            .signer_from_jwk(&ec().to_jwk_private_key())
            .unwrap();
        verify(&sign(&es256, "ec-1", &claims())).unwrap();
        // Twice through the same key: the verifier built the first time is reused.
        let keys = jwks();
        let key = &keys.keys()[0];
        let token = sign(rs256().as_ref(), "rsa-1", &claims());
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        for _ in 0..2 {
            key.verify_signature(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                signed.as_bytes(),
                &signature,
            )
            .unwrap();
        }
        assert_eq!(key.verifiers.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_tampered_payload_fails() {
        let token = sign(rs256().as_ref(), "rsa-1", &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged.set_subject("someone-else");
        let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        let error = verify(&tampered).unwrap_err();
        assert!(error.contains("CryptoError"), "{error}");
    }

    #[test]
    fn a_signature_by_another_key_fails() {
        let signer = josekit::jws::RS256
            .signer_from_jwk(&other_rsa().to_jwk_private_key())
            .unwrap();
        let error = verify(&sign(&signer, "rsa-1", &claims())).unwrap_err();
        assert!(error.contains("CryptoError"), "{error}");
        // An EC token naming the RSA key's kid finds no key of its type.
        let es256 = josekit::jws::ES256
            .signer_from_jwk(&ec().to_jwk_private_key())
            .unwrap();
        assert!(verify(&sign(&es256, "rsa-1", &claims())).is_err());
    }

    #[test]
    fn an_unsigned_token_fails() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"rsa-1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        let unsigned = format!("{header}.{payload}.");
        assert!(verify(&unsigned).is_err());
        // Even asked directly, a key verifies no "none".
        let keys = jwks();
        let error = keys.keys()[0]
            .verify_signature(&CoreJwsSigningAlgorithm::None, b"a.b", b"")
            .unwrap_err();
        assert!(matches!(
            error,
            SignatureVerificationError::DisallowedAlg(_)
        ));
    }

    #[test]
    fn hs256_with_the_public_key_as_secret_fails() {
        let public_pem = String::from_utf8(rsa().to_pem_public_key()).unwrap();
        let hs256 = josekit::jws::HS256
            .signer_from_bytes(public_pem.as_bytes())
            .unwrap();
        let token = sign(&hs256, "rsa-1", &claims());
        // Not on the allow-list.
        assert!(verify(&token).unwrap_err().contains("DisallowedAlg"));
        // Allowed, and the client secret is that very PEM: a key of this type still verifies
        // no MAC.
        let allowed = [
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::HmacSha256,
        ];
        let error = verify_with(&token, &allowed, &public_pem).unwrap_err();
        assert!(error.contains(r#"DisallowedAlg("HS256")"#), "{error}");
        // The RSA key asked directly for HS256.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let keys = jwks();
        assert!(
            keys.keys()[0]
                .verify_signature(
                    &CoreJwsSigningAlgorithm::HmacSha256,
                    signed.as_bytes(),
                    &signature
                )
                .is_err()
        );
    }

    #[test]
    fn an_unknown_kid_fails() {
        let error = verify(&sign(rs256().as_ref(), "rotated-away", &claims())).unwrap_err();
        assert!(error.contains("NoMatchingKey"), "{error}");
    }

    #[test]
    fn the_claims_are_still_checked() {
        let mut wrong_audience = claims();
        wrong_audience.set_audience(vec!["another-client"]);
        assert!(verify(&sign(rs256().as_ref(), "rsa-1", &wrong_audience)).is_err());
        let mut wrong_issuer = claims();
        wrong_issuer.set_issuer("https://evil.example");
        assert!(verify(&sign(rs256().as_ref(), "rsa-1", &wrong_issuer)).is_err());
        let mut expired = claims();
        expired.set_expires_at(&(SystemTime::now() - Duration::from_secs(3600)));
        assert!(verify(&sign(rs256().as_ref(), "rsa-1", &expired)).is_err());
        let mut other_nonce = claims();
        other_nonce
            .set_claim("nonce", Some(Value::String("replayed".to_owned())))
            .unwrap();
        assert!(verify(&sign(rs256().as_ref(), "rsa-1", &other_nonce)).is_err());
    }

    #[test]
    fn a_key_verifies_only_its_own_curve_and_use() {
        let keys = jwks();
        let ec_key = &keys.keys()[1];
        // ES384 with a P-256 key.
        assert!(matches!(
            ec_key.verify_signature(&CoreJwsSigningAlgorithm::EcdsaP384Sha384, b"a.b", &[0; 96]),
            Err(SignatureVerificationError::InvalidKey(_))
        ));
        // RS256 with an EC key.
        assert!(matches!(
            ec_key.verify_signature(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                b"a.b",
                &[0; 256]
            ),
            Err(SignatureVerificationError::InvalidKey(_))
        ));
        // The encryption key verifies nothing.
        assert!(
            keys.keys()[2]
                .verify_signature(&CoreJwsSigningAlgorithm::HmacSha256, b"a.b", &[0; 32])
                .is_err()
        );
    }
}
