//! Random identifiers and credential hashing shared by every module that mints or checks
//! secrets: authorization codes, refresh tokens, session cookies, client secrets, CSRF tokens.
//!
//! Values are drawn from the operating system's CSPRNG (through `rand`'s thread RNG, a
//! ChaCha generator reseeded from the OS) and are 256 bits unless stated. Stored forms are
//! SHA-256 digests: these secrets are high-entropy, so a fast hash is the right tool (a slow
//! password hash would only bound the token endpoint by hashing, see BENCH.md).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Returns `bytes` random bytes encoded as base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A 256-bit random token, the default for every credential Gatehouse issues.
pub fn new_secret() -> String {
    random_token(32)
}

/// The stored form of a high-entropy secret: base64url(SHA-256(secret)).
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// base64url(SHA-256(input)), used for PKCE S256 and `at_hash`-style digests.
pub fn sha256_b64url(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks a presented secret against its stored hash in constant time.
pub fn verify_secret(presented: &str, stored_hash: &str) -> bool {
    constant_time_eq(&hash_secret(presented), stored_hash)
}

/// A 32-byte key written as base64url (or standard base64), as operators give the master
/// key; the error says what is wrong with it.
pub fn decode_key(text: &str) -> Result<[u8; 32], String> {
    use base64::Engine as _;
    let text = text.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
        .map_err(|_| "it is not base64".to_owned())?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("it is {} bytes long; 32 are needed", b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn secrets_carry_256_bits_and_do_not_repeat() {
        let mut seen = HashSet::new();
        for _ in 0..1_000_000 {
            let token = new_secret();
            assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
            assert!(seen.insert(token));
        }
    }

    #[test]
    fn verify_secret_accepts_only_the_original() {
        let secret = new_secret();
        let stored = hash_secret(&secret);
        assert!(verify_secret(&secret, &stored));
        assert!(!verify_secret(&new_secret(), &stored));
        assert!(!verify_secret("", &stored));
    }

    #[test]
    fn pkce_s256_matches_an_independent_implementation() {
        // Expected value computed with Python's hashlib + base64.urlsafe_b64encode.
        assert_eq!(
            sha256_b64url(b"dBjftJeZ4CVP-mJ92K9qfUNQ9Ihr5mRUqwTEkvsfM7c"),
            "18GZFpqm59VUdHJ9xIT3jQx1tlHPfrlqgmTqjXnmRNk"
        );
    }
}
