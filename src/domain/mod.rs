//! Pure types and rules of the domain (tenants, users, applications, scopes, e-mail
//! addresses). Nothing here does I/O; parsing at the edge turns strings into these types.

pub mod app;
pub mod app_profile;
pub mod assignment;
pub mod branding;
pub mod email;
pub mod group;
pub mod invitation;
pub mod partner;
pub mod permission;
pub mod policy;
pub mod saml;
pub mod scope;
pub mod signin;
pub mod tenant;
pub mod user;

/// Seconds since the Unix epoch: every timestamp Gatehouse stores or signs uses this unit.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix seconds as an RFC 3339 date and time in UTC (Graph's `DateTimeOffset`); empty for a
/// time out of range.
pub fn date_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
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
