//! Password hashing with argon2id (m = 19456 KiB, t = 2, p = 1: OWASP's baseline), always on
//! the blocking pool and never more hashes at once than there are cores, so logins neither
//! stall the async workers nor multiply memory (each hash holds 19 MiB).
//!
//! The 19 MiB are pooled ([`memory`]): kept while sign-ins keep coming, given back to the
//! system after a quiet second. [`phc`] runs the `argon2` crate in that memory and reads and
//! writes the usual PHC strings.
//!
//! Verification of an unknown user runs against a dummy hash with the same parameters, so
//! "no such user" and "wrong password" take the same time.

mod memory;
mod phc;

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use crate::domain::Invalid;
use memory::WorkMemory;

/// Shortest password accepted (NIST 800-63B §5.1.1.2).
pub const MIN_LEN: usize = 8;
/// Longest password accepted, to bound hashing work.
pub const MAX_LEN: usize = 256;

/// A hash of a random password with the production parameters, for unknown users (made on
/// the first such sign-in).
static DUMMY_HASH: OnceLock<String> = OnceLock::new();

/// The password hasher of one node.
#[derive(Debug, Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    memory: WorkMemory,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            permits: Arc::new(Semaphore::new(cores)),
            memory: WorkMemory::new(memory::QUIET, cores),
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
        let memory = self.memory.clone();
        tokio::task::spawn_blocking(move || phc::hash(&memory, password.as_bytes())).await?
    }

    /// Verifies a password against a stored PHC string, or against the dummy hash when
    /// there is none (unknown user, account without a password).
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.clone().acquire_owned().await?;
        let memory = self.memory.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(stored) => phc::verify(&memory, password.as_bytes(), &stored),
            None => {
                let dummy = DUMMY_HASH.get_or_init(|| {
                    let random = crate::secrets::new_secret();
                    phc::hash(&memory, random.as_bytes()).unwrap_or_default()
                });
                // Run the same work as a real check; nothing matches a missing password.
                let _ = phc::verify(&memory, password.as_bytes(), dummy);
                false
            }
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

    #[tokio::test]
    async fn the_work_memory_is_kept_between_hashes_and_released_when_quiet() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert_eq!(passwords.memory.held(), 1, "kept for the next sign-in");
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash))
                .await
                .unwrap()
        );
        assert_eq!(
            passwords.memory.held(),
            1,
            "the same buffer served the check"
        );
        tokio::time::sleep(memory::QUIET * 2).await;
        assert_eq!(passwords.memory.held(), 0, "released after a quiet second");
    }

    /// The resident set of this process, in KiB.
    #[cfg(target_os = "linux")]
    fn rss_kib() -> i64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "run in its own process by the_work_memory_leaves_the_resident_set_when_released"]
    fn child_resident_set_over_two_quiet_periods() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let passwords = Passwords::default();
            let stored = passwords.hash("correct horse".into()).await.unwrap();
            // Twice: after the first release glibc has raised its mapping threshold, and
            // the second buffer must still leave when released.
            for round in 1..=2 {
                tokio::time::sleep(memory::QUIET * 2).await;
                let before = rss_kib();
                let checks = (0..2).map(|_| {
                    let passwords = passwords.clone();
                    let stored = stored.clone();
                    tokio::spawn(async move {
                        passwords.verify("correct horse".into(), Some(stored)).await
                    })
                });
                for check in checks {
                    assert!(check.await.unwrap().unwrap());
                }
                let busy = rss_kib();
                tokio::time::sleep(memory::QUIET * 2).await;
                let quiet = rss_kib();
                println!("round {round}: {before} -> {busy} -> {quiet} KiB");
                assert!(
                    busy - before >= 15 * 1024,
                    "round {round}: a buffer was in use"
                );
                assert!(
                    busy - quiet >= 15 * 1024,
                    "round {round}: released to the system"
                );
                assert!(
                    quiet - before < 4 * 1024,
                    "round {round}: back to where it was"
                );
            }
        });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_work_memory_leaves_the_resident_set_when_released() {
        crate::testing::run_ignored_in_own_process(
            "passwords::tests::child_resident_set_over_two_quiet_periods",
        );
    }

    #[test]
    fn policy_is_length_only() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("        ").is_err());
        assert!(check_policy("long enough phrase").is_ok());
        assert!(check_policy(&"x".repeat(300)).is_err());
    }
}
