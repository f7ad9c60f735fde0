//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core §9): a
//! confidential client proves who it is with a JWT it signed with a key it registered — a
//! JWK Set held with the app, or one it publishes at its `jwks_uri` (fetched through the
//! guarded upstream client, cached, and fetched again once when an unknown `kid` arrives).
//!
//! The rules (SECURITY.md C.28): `iss` and `sub` are the client id; `aud` names the token
//! endpoint, the endpoint called or the issuer; `exp` is required, not past and at most an hour
//! away; `jti` is required and works once until `exp` (the ephemeral store's replay cache,
//! which fails closed); only RS256, PS256 and ES256 are accepted (`none` and the HMAC
//! algorithms, which would turn a public key into a shared secret, never are), and only with a
//! registered key. Every JWS operation is josekit's. A refusal says only that the assertion
//! was not accepted; the reason goes to the log, never the assertion.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};

use crate::domain::Invalid;
use crate::domain::app::App;
use crate::ephemeral::EphemeralError;
use crate::services::Services;
use crate::tokens::MAX_JWT_LEN;

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The signing algorithms a client assertion may use.
pub const ALGORITHMS: [&str; 3] = ["RS256", "PS256", "ES256"];

/// The longest an assertion may be valid for, from now.
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: i64 = 30;

/// How long a JWK Set fetched from a `jwks_uri` is used.
const JWKS_TTL: Duration = Duration::from_secs(300);

/// The least time between two fetches of one `jwks_uri` forced by an unknown `kid`.
const FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(2);

/// Why an assertion was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    /// The assertion breaks a rule (the reason is for the log only).
    #[error("client assertion refused: {0}")]
    Refused(&'static str),
    /// The replay cache cannot be reached: fail closed.
    #[error(transparent)]
    Unavailable(#[from] EphemeralError),
}

/// JWK Sets fetched from clients' `jwks_uri`s, by URL.
#[derive(Debug, Default)]
pub struct ClientKeyCache {
    sets: RwLock<HashMap<String, (Value, Instant)>>,
}

impl ClientKeyCache {
    fn cached(&self, url: &str) -> Option<(Value, Instant)> {
        self.sets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(url)
            .cloned()
    }

    fn store(&self, url: &str, set: Value) {
        self.sets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(url.to_owned(), (set, Instant::now()));
    }
}

/// Checks a registered JWK Set: every key parses, is an RSA key or a P-256 EC key for
/// signatures, and is public (no private parameters).
pub fn check_jwks(jwks: &Value) -> Result<(), Invalid> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| Invalid::new("the JWK Set must be an object with a keys array"))?;
    for key in keys {
        let Some(map) = key.as_object() else {
            return Err(Invalid::new("each JWK must be an object"));
        };
        if ["d", "p", "q", "dp", "dq", "qi", "k", "oth"]
            .iter()
            .any(|private| map.contains_key(*private))
        {
            return Err(Invalid::new(
                "a JWK carries private key material; register public keys only",
            ));
        }
        let jwk = Jwk::from_map(map.clone())
            .map_err(|e| Invalid::new(format!("a JWK is not valid: {e}")))?;
        let usable = match jwk.key_type() {
            "RSA" => RS256.verifier_from_jwk(&jwk).is_ok(),
            "EC" => ES256.verifier_from_jwk(&jwk).is_ok(),
            _ => false,
        };
        if !usable {
            return Err(Invalid::new(
                "each JWK must be an RSA or P-256 EC public key for signatures",
            ));
        }
    }
    Ok(())
}

/// The client id an assertion claims to come from (`sub`, else `iss`), read without checking
/// anything: it only says which client's keys to check it with.
pub fn claimed_client(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_JWT_LEN {
        return None;
    }
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("sub")
        .or_else(|| claims.get("iss"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The verifier of `jwk` for `alg`, when the key suits it.
fn verifier(jwk: &Jwk, alg: &str) -> Option<Box<dyn JwsVerifier>> {
    if jwk.algorithm().is_some_and(|a| a != alg) {
        return None;
    }
    match alg {
        "RS256" => RS256
            .verifier_from_jwk(jwk)
            .ok()
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "PS256" => PS256
            .verifier_from_jwk(jwk)
            .ok()
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "ES256" => ES256
            .verifier_from_jwk(jwk)
            .ok()
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        _ => None,
    }
}

/// The keys of `set` that match `kid` (every key when the header names none).
fn candidates(set: &Value, kid: Option<&str>) -> Vec<Jwk> {
    set.get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_object().cloned())
        .filter_map(|map| Jwk::from_map(map).ok())
        .filter(|jwk| kid.is_none() || jwk.key_id() == kid)
        .collect()
}

/// The app's JWK Set: the registered one, or its `jwks_uri`'s (cached; fetched again when
/// `refresh` and the cached copy is not brand new).
async fn key_set(services: &Services, app: &App, refresh: bool) -> Option<Value> {
    if let Some(jwks) = &app.profile.keys.jwks {
        return Some(jwks.clone());
    }
    let url = app.profile.keys.jwks_uri.as_deref()?;
    let cache = &services.client_keys;
    let cached = cache.cached(url);
    if let Some((set, at)) = &cached {
        let fresh = at.elapsed() < JWKS_TTL;
        let may_refetch = at.elapsed() >= FORCED_REFETCH_INTERVAL;
        if fresh && !(refresh && may_refetch) {
            return Some(set.clone());
        }
    }
    let fetched = services
        .federation
        .fetch_document(url)
        .await
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .filter(|set| check_jwks(set).is_ok());
    match fetched {
        Some(set) => {
            cache.store(url, set.clone());
            Some(set)
        }
        None => {
            tracing::warn!(client_id = %app.client_id, "the client's jwks_uri gave no usable JWK Set");
            cached.map(|(set, _)| set)
        }
    }
}

/// Verifies the signature of `assertion` with one of the app's keys; returns its claims.
async fn verified_claims(
    services: &Services,
    app: &App,
    assertion: &str,
) -> Result<Map<String, Value>, AssertionError> {
    let refuse = AssertionError::Refused;
    if assertion.len() > MAX_JWT_LEN || assertion.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(refuse("not a compact JWS"));
    }
    let header = josekit::jwt::decode_header(assertion).map_err(|_| refuse("bad header"))?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .filter(|alg| ALGORITHMS.contains(alg))
        .ok_or(refuse("algorithm not allowed"))?
        .to_owned();
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .map(str::to_owned);
    for refresh in [false, true] {
        let Some(set) = key_set(services, app, refresh).await else {
            return Err(refuse("the client has no keys"));
        };
        let keys = candidates(&set, kid.as_deref());
        if keys.is_empty() && app.profile.keys.jwks_uri.is_some() && !refresh {
            continue;
        }
        for jwk in &keys {
            let Some(verifier) = verifier(jwk, &alg) else {
                continue;
            };
            if let Ok((payload, _)) = josekit::jwt::decode_with_verifier(assertion, &*verifier) {
                return Ok(payload.into());
            }
        }
        return Err(refuse("no registered key verifies the signature"));
    }
    Err(refuse("no registered key has that kid"))
}

/// Checks the claims of a verified assertion: issuer and subject, audience, lifetime, `jti`.
fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    audiences: &[String],
    now: i64,
) -> Result<(String, i64), AssertionError> {
    let refuse = AssertionError::Refused;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
        return Err(refuse("iss and sub must be the client id"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => audiences.contains(aud),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !aud_ok {
        return Err(refuse("aud is not this server"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(refuse("exp is required"))?;
    if exp + LEEWAY_SECS <= now {
        return Err(refuse("expired"));
    }
    if exp > now + MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(refuse("exp is more than an hour away"));
    }
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > now + LEEWAY_SECS)
        || claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat > now + LEEWAY_SECS)
    {
        return Err(refuse("not valid yet"));
    }
    let jti = text("jti")
        .filter(|jti| !jti.is_empty() && jti.len() <= 256)
        .ok_or(refuse("jti is required"))?;
    Ok((jti.to_owned(), exp))
}

/// Authenticates `app` by its client assertion. `audiences` are the values `aud` may take
/// (the issuer, the token endpoint, the endpoint called). The `jti` is claimed in the replay
/// cache only after the signature and claims check out, so nobody can burn another client's.
pub async fn verify(
    services: &Services,
    app: &App,
    assertion: &str,
    audiences: &[String],
    now: i64,
) -> Result<(), AssertionError> {
    let claims = verified_claims(services, app, assertion).await?;
    let (jti, exp) = check_claims(&claims, &app.client_id, audiences, now)?;
    let key = format!(
        "cajti:{}:{}",
        app.client_id,
        crate::secrets::sha256_b64url(jti.as_bytes())
    );
    let ttl = Duration::from_secs((exp - now + LEEWAY_SECS).max(1) as u64);
    if !services
        .ephemeral
        .put_if_absent(&key, "1".to_owned(), ttl)
        .await?
    {
        return Err(AssertionError::Refused("jti replayed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn claims_are_checked() {
        let now = 1_000_000;
        let aud = vec![
            "https://idp/t".to_owned(),
            "https://idp/t/oauth2/token".to_owned(),
        ];
        let good =
            json!({"iss": "c", "sub": "c", "aud": "https://idp/t", "exp": now + 60, "jti": "j"});
        assert!(check_claims(&claims(good.clone()), "c", &aud, now).is_ok());
        let mut list = good.clone();
        list["aud"] = json!(["x", "https://idp/t/oauth2/token"]);
        assert!(check_claims(&claims(list), "c", &aud, now).is_ok());
        for (field, value) in [
            ("aud", json!("https://elsewhere")),
            ("iss", json!("other")),
            ("sub", json!("other")),
            ("exp", json!(now - 120)),
            ("exp", json!(now + 7200)),
            ("jti", json!("")),
            ("nbf", json!(now + 600)),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            assert!(
                check_claims(&claims(bad), "c", &aud, now).is_err(),
                "{field}"
            );
        }
        for field in ["exp", "jti", "aud"] {
            let mut bad = good.clone();
            bad.as_object_mut().unwrap().remove(field);
            assert!(
                check_claims(&claims(bad), "c", &aud, now).is_err(),
                "{field}"
            );
        }
    }

    /// An ephemeral store that cannot be reached.
    struct Down;

    #[async_trait::async_trait]
    impl crate::ephemeral::Ephemeral for Down {
        async fn put(
            &self,
            _: &str,
            _: String,
            _: Duration,
        ) -> crate::ephemeral::EphemeralResult<()> {
            Err(EphemeralError::Unavailable("down".into()))
        }
        async fn put_if_absent(
            &self,
            _: &str,
            _: String,
            _: Duration,
        ) -> crate::ephemeral::EphemeralResult<bool> {
            Err(EphemeralError::Unavailable("down".into()))
        }
        async fn get(&self, _: &str) -> crate::ephemeral::EphemeralResult<Option<String>> {
            Err(EphemeralError::Unavailable("down".into()))
        }
        async fn take(&self, _: &str) -> crate::ephemeral::EphemeralResult<Option<String>> {
            Err(EphemeralError::Unavailable("down".into()))
        }
        async fn delete(&self, _: &str) -> crate::ephemeral::EphemeralResult<()> {
            Err(EphemeralError::Unavailable("down".into()))
        }
        async fn incr(&self, _: &str, _: Duration) -> crate::ephemeral::EphemeralResult<u64> {
            Err(EphemeralError::Unavailable("down".into()))
        }
        async fn ping(&self) -> crate::ephemeral::EphemeralResult<()> {
            Err(EphemeralError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn the_replay_cache_fails_closed() {
        let test = crate::services::testing::services().await;
        let mut app = crate::services::testing::world(&test.services).await.app;
        let mut private = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
        private.set_key_id("k");
        let mut public = private.to_public_key().unwrap();
        public.set_key_id("k");
        app.profile.keys.jwks = Some(json!({ "keys": [Value::Object(public.as_ref().clone())] }));
        let now = crate::domain::unix_now();
        let claims = json!({"iss": app.client_id, "sub": app.client_id, "aud": "https://idp/t",
            "exp": now + 60, "jti": "j-1"});
        let payload =
            josekit::jwt::JwtPayload::from_map(claims.as_object().cloned().unwrap()).unwrap();
        let mut header = josekit::jws::JwsHeader::new();
        header.set_key_id("k");
        let signer = ES256.signer_from_jwk(&private).unwrap();
        let assertion = josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        let audiences = vec!["https://idp/t".to_owned()];
        assert!(
            verify(&test.services, &app, &assertion, &audiences, now)
                .await
                .is_ok()
        );
        assert!(matches!(
            verify(&test.services, &app, &assertion, &audiences, now).await,
            Err(AssertionError::Refused(_))
        ));
        let services = std::sync::Arc::try_unwrap(test.services).expect("the only reference");
        let broken = Services {
            ephemeral: std::sync::Arc::new(Down),
            ..services
        };
        assert!(matches!(
            verify(&broken, &app, &assertion, &audiences, now).await,
            Err(AssertionError::Unavailable(_))
        ));
    }

    #[test]
    fn registered_keys_must_be_public_signature_keys() {
        assert!(check_jwks(&json!({"keys": []})).is_ok());
        assert!(check_jwks(&json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).is_err());
        assert!(check_jwks(&json!({"keys": [{"kty": "RSA"}]})).is_err());
        assert!(check_jwks(&json!({"nokeys": []})).is_err());
    }
}
