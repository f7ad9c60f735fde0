//! Pure types and rules of the domain (tenants, users, applications, scopes, e-mail
//! addresses). Nothing here does I/O; parsing at the edge turns strings into these types.

pub mod app;
pub mod branding;
pub mod email;
pub mod group;
pub mod invitation;
pub mod partner;
pub mod permission;
pub mod saml;
pub mod scope;
pub mod tenant;
pub mod user;

/// Seconds since the Unix epoch: every timestamp Gatehouse stores or signs uses this unit.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A rule a value broke, phrased for the person who supplied it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// Builds the error from anything printable.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
