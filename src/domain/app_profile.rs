//! What an application asks of the tokens it receives and how it is reached, beyond its OAuth
//! registration (Graph `application` properties): its app roles, the groups and optional claims
//! it wants, its logout URIs, the keys it authenticates with (`private_key_jwt`), its token
//! lifetimes and its logo.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Who may be given an app role (Graph `allowedMemberTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoleMemberType {
    /// Users and groups (delegated sign-ins).
    User,
    /// Other applications (client credentials).
    Application,
}

/// An app role (Graph `appRole`): a permission the app defines and authorises on; its `value`
/// is what the `roles` claim carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRole {
    /// Role id (a UUID).
    pub id: String,
    /// The value in the `roles` claim (no spaces).
    pub value: String,
    /// Name shown to administrators.
    pub display_name: String,
    /// What the role allows.
    #[serde(default)]
    pub description: String,
    /// Who may hold it.
    pub allowed_member_types: Vec<RoleMemberType>,
    /// Disabled roles can no longer be assigned and are left out of tokens.
    pub is_enabled: bool,
}

/// Which groups the `groups` claim lists (Graph `groupMembershipClaims`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GroupMembershipClaims {
    /// No `groups` claim.
    #[default]
    None,
    /// Every group the user belongs to, directly or through nesting.
    All,
    /// Security groups only.
    SecurityGroup,
    /// Only the groups assigned to the app.
    ApplicationGroup,
}

impl GroupMembershipClaims {
    /// Graph's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::All => "All",
            Self::SecurityGroup => "SecurityGroup",
            Self::ApplicationGroup => "ApplicationGroup",
        }
    }

    /// Parses Graph's spelling.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "None" => Ok(Self::None),
            "All" => Ok(Self::All),
            "SecurityGroup" => Ok(Self::SecurityGroup),
            "ApplicationGroup" => Ok(Self::ApplicationGroup),
            other => Err(Invalid::new(format!(
                "groupMembershipClaims {other:?} is not one of None, All, SecurityGroup, ApplicationGroup"
            ))),
        }
    }
}

/// The optional claims an app may ask for.
pub const OPTIONAL_CLAIMS: [&str; 7] = [
    "email",
    "upn",
    "given_name",
    "family_name",
    "ipaddr",
    "acct",
    "auth_time",
];

/// Optional claims per token kind (Graph `optionalClaims`, by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionalClaims {
    /// Added to ID tokens.
    #[serde(default)]
    pub id_token: Vec<String>,
    /// Added to access tokens.
    #[serde(default)]
    pub access_token: Vec<String>,
    /// Added to SAML assertions as attributes.
    #[serde(default)]
    pub saml2_token: Vec<String>,
}

/// How the app is told that a user signed out (OIDC Back-Channel and Front-Channel Logout).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLogout {
    /// Where a signed logout token is POSTed.
    #[serde(default)]
    pub backchannel_uri: Option<String>,
    /// Whether the logout token must carry `sid`.
    #[serde(default)]
    pub backchannel_session_required: bool,
    /// Loaded in an iframe by the sign-out page.
    #[serde(default)]
    pub frontchannel_uri: Option<String>,
    /// Whether `iss` and `sid` are added to the front-channel URI.
    #[serde(default)]
    pub frontchannel_session_required: bool,
}

/// Keys a confidential app signs its client assertions with (RFC 7523 `private_key_jwt`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientKeys {
    /// A registered public JWK Set.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Where the app publishes its JWK Set.
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

/// Token lifetimes that override the tenant's for this app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLifetimes {
    /// Access-token lifetime, seconds.
    #[serde(default)]
    pub access_token_secs: Option<u32>,
    /// ID-token lifetime, seconds.
    #[serde(default)]
    pub id_token_secs: Option<u32>,
}

/// Shortest and longest token lifetime an app may set (5 minutes to 1 day, as Entra).
pub const TOKEN_LIFETIME_RANGE: std::ops::RangeInclusive<u32> = 300..=86_400;

/// Everything an app configures beyond its OAuth registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppProfile {
    /// Roles the app defines.
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    /// Which groups the `groups` claim lists.
    #[serde(default)]
    pub group_membership_claims: GroupMembershipClaims,
    /// Optional claims per token kind.
    #[serde(default)]
    pub optional_claims: OptionalClaims,
    /// Logout notification URIs.
    #[serde(default)]
    pub logout: AppLogout,
    /// Client-assertion keys.
    #[serde(default)]
    pub keys: ClientKeys,
    /// Token lifetimes.
    #[serde(default)]
    pub token_lifetimes: TokenLifetimes,
    /// Logo shown on My Apps and consent (an https URL).
    #[serde(default)]
    pub logo_url: Option<String>,
}

impl AppProfile {
    /// Checks the profile's own rules: role ids are UUIDs and role values unique and without
    /// spaces, optional claims are known, URIs are absolute https (http only on loopback), a JWK
    /// Set has a `keys` array and is not combined with a `jwks_uri`, lifetimes are in range.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.validate_roles()?;
        let claims = &self.optional_claims;
        for name in claims
            .id_token
            .iter()
            .chain(&claims.access_token)
            .chain(&claims.saml2_token)
        {
            if !OPTIONAL_CLAIMS.contains(&name.as_str()) {
                return Err(Invalid::new(format!(
                    "optional claim {name:?} is not one of {}",
                    OPTIONAL_CLAIMS.join(", ")
                )));
            }
        }
        for (what, uri) in [
            ("backchannel logout URI", &self.logout.backchannel_uri),
            ("front-channel logout URI", &self.logout.frontchannel_uri),
            ("jwks_uri", &self.keys.jwks_uri),
            ("logo URL", &self.logo_url),
        ] {
            if let Some(uri) = uri {
                check_web_uri(what, uri)?;
            }
        }
        if let Some(jwks) = &self.keys.jwks {
            if self.keys.jwks_uri.is_some() {
                return Err(Invalid::new(
                    "give either a JWK Set or a jwks_uri, not both",
                ));
            }
            if !jwks.get("keys").is_some_and(serde_json::Value::is_array) {
                return Err(Invalid::new(
                    "the JWK Set must be an object with a keys array",
                ));
            }
        }
        let lifetimes = self.token_lifetimes;
        for secs in [lifetimes.access_token_secs, lifetimes.id_token_secs]
            .into_iter()
            .flatten()
        {
            if !TOKEN_LIFETIME_RANGE.contains(&secs) {
                return Err(Invalid::new(format!(
                    "token lifetimes must be between {} and {} seconds",
                    TOKEN_LIFETIME_RANGE.start(),
                    TOKEN_LIFETIME_RANGE.end()
                )));
            }
        }
        Ok(())
    }

    fn validate_roles(&self) -> Result<(), Invalid> {
        let mut ids = HashSet::new();
        let mut values = HashSet::new();
        for role in &self.app_roles {
            if uuid::Uuid::parse_str(&role.id).is_err() {
                return Err(Invalid::new(format!(
                    "app role id {:?} is not a UUID",
                    role.id
                )));
            }
            if role.value.is_empty()
                || role.value.len() > 120
                || role
                    .value
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(Invalid::new(format!(
                    "app role value {:?} must be 1 to 120 characters without spaces",
                    role.value
                )));
            }
            if role.display_name.trim().is_empty() || role.display_name.len() > 256 {
                return Err(Invalid::new(
                    "an app role needs a display name (at most 256 characters)",
                ));
            }
            if role.allowed_member_types.is_empty() {
                return Err(Invalid::new(format!(
                    "app role {:?} must allow User, Application or both",
                    role.value
                )));
            }
            if !ids.insert(role.id.to_ascii_lowercase()) {
                return Err(Invalid::new(format!("app role id {} is repeated", role.id)));
            }
            if !values.insert(role.value.as_str()) {
                return Err(Invalid::new(format!(
                    "app role value {:?} is repeated",
                    role.value
                )));
            }
        }
        Ok(())
    }

    /// The enabled role with id `id`.
    pub fn role(&self, id: &str) -> Option<&AppRole> {
        self.app_roles
            .iter()
            .find(|role| role.is_enabled && role.id.eq_ignore_ascii_case(id))
    }
}

/// An absolute https URI, or http on a loopback host (for development), without a fragment.
fn check_web_uri(what: &str, raw: &str) -> Result<(), Invalid> {
    let url =
        url::Url::parse(raw).map_err(|e| Invalid::new(format!("the {what} is not a URL: {e}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.fragment().is_some() || raw.len() > 2048 {
        return Err(Invalid::new(format!(
            "the {what} must be an https URL without a fragment (http only on localhost)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: &str, value: &str) -> AppRole {
        AppRole {
            id: id.to_owned(),
            value: value.to_owned(),
            display_name: value.to_owned(),
            description: String::new(),
            allowed_member_types: vec![RoleMemberType::User],
            is_enabled: true,
        }
    }

    #[test]
    fn roles_need_uuid_ids_and_unique_values() {
        let mut profile = AppProfile {
            app_roles: vec![role("not-a-uuid", "Reader")],
            ..AppProfile::default()
        };
        assert!(profile.validate().is_err());
        profile.app_roles = vec![
            role("7f9a1c3e-1111-4a4a-8b8b-000000000001", "Reader"),
            role("7f9a1c3e-1111-4a4a-8b8b-000000000002", "Reader"),
        ];
        assert!(profile.validate().is_err());
        profile.app_roles[1].value = "Has space".into();
        assert!(profile.validate().is_err());
        profile.app_roles[1].value = "Writer".into();
        assert!(profile.validate().is_ok());
        assert_eq!(
            profile
                .role("7F9A1C3E-1111-4A4A-8B8B-000000000002")
                .map(|r| r.value.as_str()),
            Some("Writer")
        );
    }

    #[test]
    fn uris_claims_keys_and_lifetimes_are_checked() {
        let mut profile = AppProfile::default();
        profile.logout.backchannel_uri = Some("http://rp.example/logout".into());
        assert!(profile.validate().is_err());
        profile.logout.backchannel_uri = Some("http://127.0.0.1:9000/logout".into());
        assert!(profile.validate().is_ok());
        profile.optional_claims.id_token = vec!["shoe_size".into()];
        assert!(profile.validate().is_err());
        profile.optional_claims.id_token = vec!["email".into()];
        profile.keys.jwks = Some(serde_json::json!({"kty": "RSA"}));
        assert!(profile.validate().is_err());
        profile.keys.jwks = Some(serde_json::json!({"keys": []}));
        assert!(profile.validate().is_ok());
        profile.keys.jwks_uri = Some("https://rp.example/jwks".into());
        assert!(profile.validate().is_err());
        profile.keys.jwks_uri = None;
        profile.token_lifetimes.access_token_secs = Some(60);
        assert!(profile.validate().is_err());
    }
}
