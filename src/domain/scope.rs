//! OAuth scopes (RFC 6749 §3.3) and the OpenID Connect scopes Gatehouse grants to users.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// `openid`: the request is an OpenID Connect request.
pub const OPENID: &str = "openid";
/// `profile`: name claims.
pub const PROFILE: &str = "profile";
/// `email`: e-mail claims.
pub const EMAIL: &str = "email";
/// `offline_access`: a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Scopes a user sign-in can grant; others are ignored, as RFC 6749 §3.3 allows.
pub const USER_SCOPES: [&str; 4] = [OPENID, PROFILE, EMAIL, OFFLINE_ACCESS];

/// A set of scope tokens, without duplicates, in the order first given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a space-delimited `scope` parameter.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut scopes = Vec::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            let valid = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return Err(Invalid::new(
                    "scope contains characters RFC 6749 §3.3 does not allow",
                ));
            }
            if !scopes.iter().any(|s| s == token) {
                scopes.push(token.to_owned());
            }
        }
        Ok(Self(scopes))
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// Whether every scope in `self` is also in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    /// The scopes a user sign-in grants from this request: the OIDC scopes and the admin-API
    /// permissions the app holds (delegated; admin-consented); others are ignored.
    pub fn grantable_to_user(&self, app_permissions: &[String]) -> Scopes {
        Self(
            self.0
                .iter()
                .filter(|s| USER_SCOPES.contains(&s.as_str()) || app_permissions.contains(s))
                .cloned()
                .collect(),
        )
    }

    /// The individual scope tokens.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl From<Scopes> for String {
    fn from(value: Scopes) -> Self {
        value.to_string()
    }
}

impl TryFrom<String> for Scopes {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// Whether `value` is a PKCE verifier or S256 challenge: 43–128 characters of
/// `[A-Za-z0-9-._~]` (RFC 7636 §4.1, §4.2).
pub fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedups_and_filters_to_user_scopes() {
        let scopes = Scopes::parse("email openid  openid address offline_access").unwrap();
        assert_eq!(scopes.to_string(), "email openid address offline_access");
        assert_eq!(
            scopes.grantable_to_user(&[]).to_string(),
            "email openid offline_access"
        );
        let with_permission = Scopes::parse("openid User.Invite.All User.Read.All").unwrap();
        assert_eq!(
            with_permission
                .grantable_to_user(&["User.Invite.All".to_owned()])
                .to_string(),
            "openid User.Invite.All"
        );
        assert!(Scopes::parse("openid").unwrap().is_subset_of(&scopes));
        assert!(!Scopes::parse("profile").unwrap().is_subset_of(&scopes));
    }

    #[test]
    fn refuses_quotes_and_backslashes() {
        assert!(Scopes::parse("open\"id").is_err());
        assert!(Scopes::parse("a\\b").is_err());
    }
}
