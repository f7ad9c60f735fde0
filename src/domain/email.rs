//! E-mail addresses as sign-in names.
//!
//! Rules (SECURITY.md H.61): the ASCII domain is lowercased, the local part is kept exactly as
//! given, and non-ASCII addresses are refused outright (no IDN homoglyphs or mixed scripts).
//! Lookups compare the case-folded [`EmailAddress::key`], so `Alice@Contoso.com` and
//! `alice@contoso.com` are one sign-in name, as people expect.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;
use super::tenant::parse_domain;

/// A syntactically valid e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress {
    local: String,
    domain: String,
}

impl EmailAddress {
    /// Parses and normalises an address.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let invalid = || Invalid::new(format!("{raw:?} is not a valid e-mail address"));
        if raw.len() > 254 || !raw.is_ascii() {
            return Err(invalid());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"@<>()[]\\,;:\"".contains(&b));
        if !local_ok {
            return Err(invalid());
        }
        let domain = parse_domain(domain).map_err(|_| invalid())?;
        Ok(Self {
            local: local.to_owned(),
            domain,
        })
    }

    /// The local part, exactly as given.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The lowercased domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The case-folded form used for uniqueness and lookups.
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_lowercased_and_local_part_kept() {
        let email = EmailAddress::parse(" Alice.Smith@Contoso.COM ").unwrap();
        assert_eq!(email.to_string(), "Alice.Smith@contoso.com");
        assert_eq!(email.key(), "alice.smith@contoso.com");
    }

    #[test]
    fn refuses_malformed_and_non_ascii_addresses() {
        for bad in [
            "",
            "alice",
            "@contoso.com",
            "alice@",
            "al ice@contoso.com",
            ".alice@contoso.com",
            "a..b@contoso.com",
            "alice@localhost",
            "аlice@contoso.com",
            "alice@exаmple.com",
            "a<b>@contoso.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
