//! Signing and verifying the JWTs Gatehouse issues (ID tokens, RFC 9068 access tokens), with
//! josekit and the key ring. Claim checks that depend on the protocol (issuer, audience,
//! expiry, token type) belong to the callers; this module guarantees only that a token was
//! signed by a key in our ring with the algorithm that key was made for.

pub mod claims;

use std::sync::Arc;

use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

use crate::domain::app::SigningAlg;
use crate::keys::KeyRing;

/// Longest compact JWT we are willing to parse.
pub const MAX_JWT_LEN: usize = 8 * 1024;

/// `typ` of ID tokens.
pub const TYP_JWT: &str = "JWT";
/// `typ` of access tokens (RFC 9068 §2.1).
pub const TYP_ACCESS_TOKEN: &str = "at+jwt";

/// Why a token could not be signed or verified.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The ring has no active key for the algorithm (it cannot happen after start-up).
    #[error("no active signing key for {0}")]
    NoKey(SigningAlg),
    /// Signing failed inside josekit.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The token is not one of ours or was altered.
    #[error("token rejected: {0}")]
    Invalid(&'static str),
}

/// A token whose signature checked out.
#[derive(Debug)]
pub struct Verified {
    /// The `typ` header, if any.
    pub typ: Option<String>,
    /// The claims.
    pub claims: Map<String, Value>,
}

impl Verified {
    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// An integer claim (e.g. `exp`).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }
}

/// Signs and verifies with the node's key ring.
#[derive(Debug, Clone)]
pub struct Tokens {
    keys: Arc<KeyRing>,
}

impl Tokens {
    /// Wraps the key ring.
    pub fn new(keys: Arc<KeyRing>) -> Self {
        Self { keys }
    }

    /// Signs `claims` with the active `alg` key, as a compact JWS with `typ` and `kid`.
    pub fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: Map<String, Value>,
        now: i64,
    ) -> Result<String, TokenError> {
        let payload =
            JwtPayload::from_map(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        self.keys
            .with_signer(alg, now, |active| {
                let mut header = JwsHeader::new();
                header.set_token_type(typ);
                header.set_key_id(active.kid);
                jwt::encode_with_signer(&payload, &header, active.signer)
                    .map_err(|e| TokenError::Signing(e.to_string()))
            })
            .ok_or(TokenError::NoKey(alg))?
    }

    /// Verifies the signature of a token we issued. `alg: none`, unknown `kid`s, an `alg`
    /// that differs from the key's, and oversized input are all refused.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        if token.len() > MAX_JWT_LEN || token.bytes().filter(|b| *b == b'.').count() != 2 {
            return Err(TokenError::Invalid("not a compact JWS"));
        }
        let header = jwt::decode_header(token).map_err(|_| TokenError::Invalid("bad header"))?;
        let kid = header
            .claim("kid")
            .and_then(Value::as_str)
            .ok_or(TokenError::Invalid("no kid"))?;
        let (payload, header) = self
            .keys
            .with_verifier(kid, |verifier| jwt::decode_with_verifier(token, verifier))
            .ok_or(TokenError::Invalid("unknown kid"))?
            .map_err(|_| TokenError::Invalid("bad signature"))?;
        Ok(Verified {
            typ: header.token_type().map(str::to_owned),
            claims: payload.into(),
        })
    }
}
