//! Password hashing with argon2id (m = 19456 KiB, t = 2, p = 1: OWASP's baseline), always on
//! the blocking pool and never more hashes at once than there are cores, so logins neither
//! stall the async workers nor multiply memory (each hash holds 19 MiB).
//!
//! Verification of an unknown user runs against a dummy hash with the same parameters, so
//! "no such user" and "wrong password" take the same time.

use std::sync::{Arc, LazyLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::domain::Invalid;

/// Shortest password accepted (NIST 800-63B §5.1.1.2).
pub const MIN_LEN: usize = 8;
/// Longest password accepted, to bound hashing work.
pub const MAX_LEN: usize = 256;

/// A hash of a random password with the production parameters, for unknown users.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random = crate::secrets::new_secret();
    Argon2::default()
        .hash_password(random.as_bytes())
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// The password hasher of one node.
#[derive(Debug, Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }
}

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Fewer than [`MIN_LEN`] characters.
    #[error("the password must have at least {MIN_LEN} characters")]
    TooShort,
    /// More than [`MAX_LEN`] bytes.
    #[error("the password must have at most {MAX_LEN} bytes")]
    TooLong,
    /// Only white space.
    #[error("the password must not be only spaces")]
    Blank,
}

impl PasswordProblem {
    /// The catalogue message that tells a person (`password-…`).
    pub fn message_key(self) -> &'static str {
        match self {
            Self::TooShort => "password-too-short",
            Self::TooLong => "password-too-long",
            Self::Blank => "password-blank",
        }
    }
}

impl From<PasswordProblem> for Invalid {
    fn from(problem: PasswordProblem) -> Self {
        Invalid::new(problem.to_string())
    }
}

/// Checks a new password against the policy (length only: no composition rules).
pub fn check_policy(password: &str) -> Result<(), PasswordProblem> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordProblem::TooShort);
    }
    if password.len() > MAX_LEN {
        return Err(PasswordProblem::TooLong);
    }
    if password.trim().is_empty() {
        return Err(PasswordProblem::Blank);
    }
    Ok(())
}

impl Passwords {
    /// Hashes a password (argon2id, random salt) into a PHC string.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.clone().acquire_owned().await?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 failed: {e}"))
        })
        .await?
    }

    /// Verifies a password against a stored PHC string, or against the dummy hash when
    /// there is none (unknown user, account without a password).
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.clone().acquire_owned().await?;
        tokio::task::spawn_blocking(move || {
            let real = stored.is_some();
            let phc = stored.unwrap_or_else(|| DUMMY_HASH.clone());
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            real && matches
        })
        .await
        .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_dummy_never_matches() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn policy_is_length_only() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("        ").is_err());
        assert!(check_policy("long enough phrase").is_ok());
        assert!(check_policy(&"x".repeat(300)).is_err());
    }
}
