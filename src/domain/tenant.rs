//! Tenants: an organisation with its own issuer, users, apps and policies.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Path segments that can never be tenant slugs because the router uses them.
const RESERVED_SLUGS: &[&str] = &[
    "healthz",
    "readyz",
    "static",
    "well-known",
    "admin",
    "api",
    "oauth2",
    "saml",
    "v1",
    "v1-0",
];

/// A tenant as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tenant {
    /// Tenant id (`tid` claim), a UUID.
    pub id: String,
    /// URL segment, immutable.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Domains the tenant owns; the first is primary.
    pub domains: Vec<String>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

impl Tenant {
    /// The OIDC issuer / SAML entityID of this tenant.
    pub fn issuer(&self, base_url: &str) -> String {
        format!("{base_url}/{}", self.slug)
    }

    /// The domain used in guest UPNs: the first registered domain, else the initial
    /// `{slug}.gatehouse.internal` domain every tenant has (as Entra's `*.onmicrosoft.com`).
    pub fn primary_domain(&self) -> String {
        self.domains
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{}.gatehouse.internal", self.slug))
    }
}

/// Validates a tenant slug: 2–40 characters of `a-z`, `0-9` and inner `-`, not reserved.
pub fn parse_slug(raw: &str) -> Result<String, Invalid> {
    let slug = raw.trim();
    let valid_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(2..=40).contains(&slug.len())
        || !valid_chars
        || slug.starts_with('-')
        || slug.ends_with('-')
    {
        return Err(Invalid::new(format!(
            "tenant slug {raw:?} must be 2-40 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(Invalid::new(format!("tenant slug {slug:?} is reserved")));
    }
    Ok(slug.to_owned())
}

/// Validates a DNS domain name (ASCII; internationalised names must be given in punycode).
pub fn parse_domain(raw: &str) -> Result<String, Invalid> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
        return Err(Invalid::new(format!(
            "{raw:?} is not a domain name (ASCII labels separated by dots; use punycode for IDNs)"
        )));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Invalid::new(format!(
            "{raw:?} is an address, not a domain name"
        )));
    }
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_url_segment_rules() {
        assert_eq!(parse_slug("contoso").unwrap(), "contoso");
        assert_eq!(parse_slug("fabrikam-eu").unwrap(), "fabrikam-eu");
        for bad in [
            "",
            "a",
            "Contoso",
            "-x",
            "x-",
            "a/b",
            "healthz",
            "with space",
        ] {
            assert!(parse_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains_are_lowercased_and_checked() {
        assert_eq!(parse_domain("Contoso.COM").unwrap(), "contoso.com");
        for bad in [
            "localhost",
            "a..b",
            "-a.com",
            "1.2.3.4",
            "exämple.com",
            "a_b.com",
        ] {
            assert!(parse_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn primary_domain_falls_back_to_the_initial_domain() {
        let mut tenant = Tenant {
            id: "t".into(),
            slug: "contoso".into(),
            name: "Contoso".into(),
            domains: vec![],
            created_at: 0,
        };
        assert_eq!(tenant.primary_domain(), "contoso.gatehouse.internal");
        tenant.domains.push("contoso.example".into());
        assert_eq!(tenant.primary_domain(), "contoso.example");
        assert_eq!(tenant.issuer("https://idp"), "https://idp/contoso");
    }
}
