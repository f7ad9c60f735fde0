//! Grants: what the token, revocation and introspection endpoints decide, free of HTTP.
//!
//! - [`exchange_code`]: the authorization-code grant (RFC 6749 §4.1.3) with PKCE
//!   (RFC 7636 §4.6); a code works once, and a replay by its client revokes what it issued.
//! - [`refresh`]: the refresh-token grant with rotation (RFC 9700 §4.14.2); a spent token
//!   presented again revokes its whole family.
//! - [`client_credentials`]: an application acting on its own behalf (RFC 6749 §4.4).
//! - [`revoke`] (RFC 7009) and [`introspect`] (RFC 7662).
//!
//! A grant given to a user stays good only while the user does: every code exchange and
//! refresh checks the user is present, enabled and unchanged, and runs the assignment rule
//! and conditional access again against the evidence the grant was issued on.
//!
//! Each rule answers what to mint ([`Issued`]) or a typed [`Refusal`] that the OAuth door
//! words as its error code, with the description as is.

mod checks;
mod code;
mod issue;
mod refresh;
mod revocation;
#[cfg(test)]
mod tests;

pub use code::{CodeExchange, exchange_code};
pub use issue::{Issued, client_credentials};
pub use refresh::{RefreshRequest, refresh};
pub use revocation::{Introspection, introspect, live_access_token, revoke};

use crate::ephemeral::EphemeralError;
use crate::store::StoreError;
use crate::tokens::TokenError;

/// The sign-in log's reason for a user the application does not admit (Entra's 50105).
pub const NOT_ASSIGNED_REASON: &str =
    "The signed in user is not assigned to a role for the application.";

/// Why a grant rule refuses a request, in the terms of OAuth 2.0 (RFC 6749 §5.2,
/// RFC 7009 §2.2.1): the kind is the error code, the text its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `invalid_request`: a parameter is missing or malformed.
    InvalidRequest(String),
    /// `invalid_client`: the client may not use this endpoint.
    InvalidClient(String),
    /// `invalid_grant`: the code, refresh token or grant is not good (any more).
    InvalidGrant(String),
    /// `unauthorized_client`: the client may not use this grant or touch this token.
    UnauthorizedClient(String),
    /// `invalid_scope`: the requested scope is malformed or more than was granted.
    InvalidScope(String),
}

/// A grant rule's answer when it gives nothing.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The request breaks a rule: the client gets an OAuth error.
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// Something failed on the way (storage, signing).
    #[error(transparent)]
    Failed(#[from] super::Error),
}

/// What a grant rule returns.
pub type GrantResult<T> = Result<T, GrantError>;

impl From<Refusal> for GrantError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<StoreError> for GrantError {
    /// Store calls the rules make expect their rows: a missing one is a failure (500).
    fn from(error: StoreError) -> Self {
        Self::Failed(super::Error::unexpected(error))
    }
}

impl From<EphemeralError> for GrantError {
    fn from(error: EphemeralError) -> Self {
        Self::Failed(error.into())
    }
}

impl From<TokenError> for GrantError {
    fn from(error: TokenError) -> Self {
        Self::Failed(error.into())
    }
}

/// `invalid_grant` with `description`.
fn invalid_grant(description: &str) -> GrantError {
    Refusal::InvalidGrant(description.to_owned()).into()
}
