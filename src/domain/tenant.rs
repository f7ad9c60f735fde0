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
    /// External-collaboration settings.
    pub settings: TenantSettings,
    /// Company branding (accent colour, logo) on its pages and mail.
    #[serde(default)]
    pub branding: super::branding::Branding,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

/// Who may invite guests (B2B-REFERENCE.md B.5, Entra's `allowInvitesFrom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum InvitePolicy {
    /// Anyone, guests included.
    Everyone,
    /// Members and the admin roles (guests cannot).
    #[default]
    AdminsGuestInvitersAndAllMembers,
    /// Only Global/User Administrators and Guest Inviters.
    AdminsAndGuestInviters,
    /// No one.
    None,
}

/// The routes a redemption can take, in the tenant's order (B.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RedemptionRoute {
    /// The guest's own organisation when it is a tenant on this Gatehouse (it verified the
    /// address's domain): the guest signs in there, as a member, and comes back.
    HomeTenant,
    /// A partner identity provider the tenant bound the address's domain to.
    PartnerIdp,
    /// The identity providers the tenant offers to every guest: the guest chooses (or takes
    /// the passcode).
    OfferedIdps,
    /// A one-time passcode mailed to the invited address (the lightweight account): the
    /// fallback that always stays on.
    EmailOneTimePasscode,
}

impl RedemptionRoute {
    /// The Graph-style name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HomeTenant => "homeTenant",
            Self::PartnerIdp => "partnerIdp",
            Self::OfferedIdps => "offeredIdps",
            Self::EmailOneTimePasscode => "emailOneTimePasscode",
        }
    }

    /// Whether the route is a fallback (taken when nothing before it applies).
    pub fn is_fallback(self) -> bool {
        matches!(self, Self::EmailOneTimePasscode)
    }
}

/// What is known about an address when choosing its redemption route.
#[derive(Debug, Clone, Default)]
pub struct RouteFacts {
    /// The tenant on this Gatehouse that verified the address's domain (slug), if any.
    pub home_tenant: Option<String>,
    /// The partner IdP the tenant bound the address's domain to (display name), if any.
    pub partner: Option<String>,
    /// The identity providers offered to every guest (display names).
    pub offered: Vec<String>,
}

/// One route as considered by [`choose_route`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsideredRoute {
    /// The route.
    pub route: RedemptionRoute,
    /// Whether it applies to the address.
    pub applies: bool,
    /// Why (not).
    pub reason: String,
}

/// The first route of `order` that applies to an address, and every route as considered
/// (the dry run's answer). The order always ends in a fallback, which always applies.
pub fn choose_route(
    order: &[RedemptionRoute],
    facts: &RouteFacts,
) -> (RedemptionRoute, Vec<ConsideredRoute>) {
    let mut considered = Vec::new();
    let mut chosen = None;
    for route in order {
        let (applies, reason) = match route {
            RedemptionRoute::HomeTenant => match &facts.home_tenant {
                Some(slug) => (
                    true,
                    format!("the domain is a verified domain of tenant {slug} on this Gatehouse"),
                ),
                None => (
                    false,
                    "no tenant on this Gatehouse verified the domain".to_owned(),
                ),
            },
            RedemptionRoute::PartnerIdp => match &facts.partner {
                Some(name) => (
                    true,
                    format!("the domain is bound to the partner identity provider {name}"),
                ),
                None => (
                    false,
                    "no partner identity provider serves the domain".to_owned(),
                ),
            },
            RedemptionRoute::OfferedIdps => {
                if facts.offered.is_empty() {
                    (
                        false,
                        "the tenant offers no identity provider to every guest".to_owned(),
                    )
                } else {
                    (
                        true,
                        format!(
                            "the guest chooses among {} (or a one-time passcode)",
                            facts.offered.join(", ")
                        ),
                    )
                }
            }
            RedemptionRoute::EmailOneTimePasscode => (
                true,
                "the fallback: a one-time passcode to the invited address".to_owned(),
            ),
        };
        if applies && chosen.is_none() {
            chosen = Some(*route);
        }
        considered.push(ConsideredRoute {
            route: *route,
            applies,
            reason,
        });
    }
    (
        chosen.unwrap_or(RedemptionRoute::EmailOneTimePasscode),
        considered,
    )
}

/// A tenant's external-collaboration settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TenantSettings {
    /// Who may invite.
    pub allow_invites_from: InvitePolicy,
    /// If non-empty, only these domains may be invited.
    pub allowed_domains: Vec<String>,
    /// These domains may not be invited (only when no allow-list is set).
    pub blocked_domains: Vec<String>,
    /// Default lifetime of an invitation, in days.
    pub invitation_lifetime_days: u32,
    /// The organisation's privacy statement, shown in invitations and at consent.
    pub privacy_statement_url: Option<String>,
    /// Redemption routes in order; at least one fallback stays on.
    pub redemption_order: Vec<RedemptionRoute>,
    /// Slugs of tenants on this Gatehouse whose MFA this tenant accepts from their members
    /// signing in here as guests (otherwise Gatehouse runs its own TOTP challenge).
    pub mfa_trusted_tenants: Vec<String>,
    /// Default language of invitation e-mails.
    pub default_message_language: String,
    /// What happens when a guest redeems through a home IdP that does not assert the invited
    /// address as verified: refused, or held until an administrator approves the identity.
    pub unverified_address_redemption: UnverifiedAddressRedemption,
}

/// What a redemption becomes when the home IdP does not assert the invited address as
/// verified (a different address, or one it did not verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum UnverifiedAddressRedemption {
    /// The guest is told the invitation cannot be accepted with that account.
    #[default]
    Refuse,
    /// The identity is recorded and waits for an administrator to approve or deny it
    /// (`/{tenant}/v1.0/heldRedemptions`); nothing is bound until then.
    HoldForApproval,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            allow_invites_from: InvitePolicy::default(),
            allowed_domains: Vec::new(),
            blocked_domains: Vec::new(),
            invitation_lifetime_days: 30,
            privacy_statement_url: None,
            redemption_order: vec![
                RedemptionRoute::HomeTenant,
                RedemptionRoute::PartnerIdp,
                RedemptionRoute::OfferedIdps,
                RedemptionRoute::EmailOneTimePasscode,
            ],
            mfa_trusted_tenants: Vec::new(),
            default_message_language: "en-US".to_owned(),
            unverified_address_redemption: UnverifiedAddressRedemption::Refuse,
        }
    }
}

impl TenantSettings {
    /// Checks the rules between fields and normalises domains.
    pub fn validated(mut self) -> Result<Self, Invalid> {
        if !self.allowed_domains.is_empty() && !self.blocked_domains.is_empty() {
            return Err(Invalid::new(
                "use an allow-list or a deny-list of domains, not both",
            ));
        }
        self.allowed_domains = self
            .allowed_domains
            .iter()
            .map(|d| parse_domain(d))
            .collect::<Result<_, _>>()?;
        self.blocked_domains = self
            .blocked_domains
            .iter()
            .map(|d| parse_domain(d))
            .collect::<Result<_, _>>()?;
        let listed: usize = self
            .allowed_domains
            .iter()
            .chain(&self.blocked_domains)
            .map(|d| d.len() + 1)
            .sum();
        if listed > 25_000 {
            return Err(Invalid::new("the domain list exceeds 25,000 characters"));
        }
        if !(1..=365).contains(&self.invitation_lifetime_days) {
            return Err(Invalid::new(
                "invitationLifetimeDays must be between 1 and 365",
            ));
        }
        if !self.redemption_order.iter().any(|r| r.is_fallback()) {
            return Err(Invalid::new(
                "the redemption order needs at least one fallback route (emailOneTimePasscode)",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = self.redemption_order.iter().find(|r| !seen.insert(**r)) {
            return Err(Invalid::new(format!(
                "the redemption order names {} twice",
                twice.as_str()
            )));
        }
        if let Some(url) = &self.privacy_statement_url {
            let parsed = url::Url::parse(url)
                .map_err(|_| Invalid::new("privacyStatementUrl must be an absolute URL"))?;
            if parsed.scheme() != "https" && parsed.scheme() != "http" {
                return Err(Invalid::new("privacyStatementUrl must be an http(s) URL"));
            }
        }
        Ok(self)
    }

    /// Whether an address's domain may be invited now.
    pub fn domain_allowed(&self, domain: &str) -> bool {
        let matches = |listed: &String| domain == listed || domain.ends_with(&format!(".{listed}"));
        if !self.allowed_domains.is_empty() {
            return self.allowed_domains.iter().any(matches);
        }
        !self.blocked_domains.iter().any(matches)
    }
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
    fn domain_lists_match_subdomains_and_cannot_both_be_set() {
        let settings = TenantSettings {
            blocked_domains: vec!["Evil.example".into()],
            ..TenantSettings::default()
        }
        .validated()
        .unwrap();
        assert!(!settings.domain_allowed("evil.example"));
        assert!(!settings.domain_allowed("mail.evil.example"));
        assert!(settings.domain_allowed("notevil.example"));
        let allow = TenantSettings {
            allowed_domains: vec!["partner.example".into()],
            ..TenantSettings::default()
        };
        assert!(allow.domain_allowed("partner.example") && !allow.domain_allowed("other.example"));
        let both = TenantSettings {
            allowed_domains: vec!["a.example".into()],
            blocked_domains: vec!["b.example".into()],
            ..TenantSettings::default()
        };
        assert!(both.validated().is_err());
    }

    #[test]
    fn primary_domain_falls_back_to_the_initial_domain() {
        let mut tenant = Tenant {
            id: "t".into(),
            slug: "contoso".into(),
            name: "Contoso".into(),
            domains: vec![],
            settings: TenantSettings::default(),
            branding: crate::domain::branding::Branding::default(),
            created_at: 0,
        };
        assert_eq!(tenant.primary_domain(), "contoso.gatehouse.internal");
        tenant.domains.push("contoso.example".into());
        assert_eq!(tenant.primary_domain(), "contoso.example");
        assert_eq!(tenant.issuer("https://idp"), "https://idp/contoso");
    }
}
