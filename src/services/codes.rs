//! Authorization codes: what a code stands for while it waits for the token endpoint, and
//! what is remembered of it afterwards to recognise a replay. Both live in the ephemeral
//! store under the code's SHA-256, never the code itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secrets;

/// How long a redeemed code's grant is remembered, to revoke it if the code is replayed.
pub const CODE_REPLAY_MEMORY: Duration = Duration::from_secs(600);

/// What a code stands for, kept in the ephemeral store under `code:{sha256(code)}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The grant the code belongs to.
    pub grant_id: String,
    /// Client it was issued to.
    pub client_id: String,
    /// Redirect URI of the request (must be repeated at the token endpoint).
    pub redirect_uri: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// Issue time.
    pub issued_at: i64,
}

/// What is remembered of a code after it is redeemed, to recognise a replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedeemedCode {
    /// The grant to revoke on replay.
    pub grant_id: String,
    /// Client it was issued to.
    pub client_id: String,
    /// PKCE challenge (a replay must prove the verifier before anything is revoked).
    pub code_challenge: String,
}

/// `code:{hash}`.
pub fn code_key(code: &str) -> String {
    format!("code:{}", secrets::hash_secret(code))
}

/// `codegrant:{hash}`.
pub fn redeemed_key(code: &str) -> String {
    format!("codegrant:{}", secrets::hash_secret(code))
}
