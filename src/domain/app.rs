//! Applications: OIDC clients registered by a tenant, their redirect-URI rules and grants.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use super::Invalid;

/// Whether the client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Holds a client secret.
    Confidential,
    /// Native or browser app without a secret (PKCE only).
    Public,
}

impl ClientType {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

impl FromStr for ClientType {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            other => Err(Invalid::new(format!("unknown client type {other:?}"))),
        }
    }
}

/// OAuth grant types an app may use (the implicit and password grants are never offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1 with PKCE.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
}

impl GrantType {
    /// The `grant_type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            "client_credentials" => Ok(Self::ClientCredentials),
            other => Err(Invalid::new(format!(
                "unsupported grant type {other:?}; expected authorization_code, refresh_token or client_credentials"
            ))),
        }
    }
}

/// JWS algorithm an app's tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, the OIDC default.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

impl SigningAlg {
    /// Every algorithm the key ring keeps a key for.
    pub const ALL: [SigningAlg; 2] = [Self::RS256, Self::ES256];

    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Self::RS256),
            "ES256" => Ok(Self::ES256),
            other => Err(Invalid::new(format!(
                "unsupported signing algorithm {other:?}; expected RS256 or ES256"
            ))),
        }
    }
}

/// A stored client secret (only its SHA-256 is kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppSecret {
    /// Secret id.
    pub id: String,
    /// base64url(SHA-256(secret)).
    pub secret_hash: String,
    /// First characters of the secret, to tell secrets apart in listings.
    pub hint: String,
    /// What the administrator called it (Graph `passwordCredential.displayName`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry, if any.
    pub expires_at: Option<i64>,
}

/// An application registered in a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct App {
    /// Object id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// OAuth `client_id` (globally unique).
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Confidential or public.
    pub client_type: ClientType,
    /// Registered redirect URIs, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs, compared exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants the app may use.
    pub grant_types: Vec<GrantType>,
    /// Algorithm for its ID and access tokens.
    pub signing_alg: SigningAlg,
    /// Disabled apps cannot sign anyone in nor get tokens.
    pub enabled: bool,
    /// Client secrets (confidential apps).
    pub secrets: Vec<AppSecret>,
    /// The app's SAML service-provider side, if it speaks SAML.
    pub saml: Option<super::saml::SamlSp>,
    /// Admin-API permissions granted to the app (delegated and application), e.g.
    /// `User.Invite.All`.
    pub permissions: Vec<String>,
    /// Users who own the app (they may invite guests to it).
    pub owners: Vec<String>,
    /// Where the app starts (My Apps links here; invitations may redirect here).
    pub home_url: Option<String>,
    /// Whether only assigned users (directly or through a group) may sign in to it.
    pub assignment_required: bool,
    /// App roles, claims configuration, logout URIs, client keys, token lifetimes, logo.
    pub profile: super::app_profile::AppProfile,
    /// Creation time.
    pub created_at: i64,
}

impl App {
    /// Whether a user whose assignments (to this and other apps, directly or through their
    /// groups) are `assigned` (app ids) may sign in: always, unless the app requires
    /// assignment, and then only when it is among them.
    pub fn admits(&self, assigned: &[String]) -> bool {
        !self.assignment_required || assigned.iter().any(|id| id == &self.id)
    }

    /// Whether the app may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Finds the registered redirect URI that `requested` matches (RFC 9700 §2.1: exact
    /// string comparison, except that the port of a loopback IP literal may vary, RFC 8252 §7.3).
    pub fn match_redirect_uri(&self, requested: &str) -> Option<&str> {
        self.redirect_uris
            .iter()
            .find(|registered| redirect_uri_matches(registered, requested))
            .map(String::as_str)
    }

    /// The origins the app has registered (redirect, post-logout, SAML ACS, home page): an
    /// invitation may send a guest to a URL on one of them.
    pub fn registered_origins(&self) -> Vec<String> {
        let saml = self
            .saml
            .iter()
            .flat_map(|sp| sp.acs.iter().map(|a| a.url.as_str()));
        self.redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
            .map(String::as_str)
            .chain(saml)
            .chain(self.home_url.as_deref())
            .filter_map(|uri| url::Url::parse(uri).ok())
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .map(|url| url.origin().ascii_serialization())
            .collect()
    }

    /// Whether `requested` is exactly one of the registered post-logout redirect URIs.
    pub fn has_post_logout_redirect_uri(&self, requested: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|registered| registered == requested)
    }
}

/// Compares a requested redirect URI with a registered one.
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (split_loopback(registered), split_loopback(requested)) {
        (Some((host_a, rest_a)), Some((host_b, rest_b))) => host_a == host_b && rest_a == rest_b,
        _ => false,
    }
}

/// Splits `http://127.0.0.1[:port]/rest` or `http://[::1][:port]/rest` into the host prefix
/// and the part after the port, without any normalisation.
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    for prefix in ["http://127.0.0.1", "http://[::1]"] {
        let Some(after) = uri.strip_prefix(prefix) else {
            continue;
        };
        let rest = match after.strip_prefix(':') {
            Some(port_and_rest) => {
                let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
                let port: u32 = port_and_rest.get(..digits)?.parse().ok()?;
                if digits == 0 || digits > 5 || port > 65535 {
                    return None;
                }
                &port_and_rest[digits..]
            }
            None => after,
        };
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            return Some((prefix, rest));
        }
        return None;
    }
    None
}

/// Validates a redirect or post-logout redirect URI at registration (RFC 9700 §2.1, §2.6;
/// RFC 8252 §7): absolute, no fragment, no credentials, no wildcards; `https`, or `http` only
/// on a loopback host, or a private-use scheme in reverse-domain form for native apps.
pub fn parse_redirect_uri(raw: &str) -> Result<String, Invalid> {
    let refuse = |why: &str| Err(Invalid::new(format!("redirect URI {raw:?} {why}")));
    if raw.len() > 2000 {
        return refuse("is longer than 2000 characters");
    }
    if raw.contains('#') {
        return refuse("must not contain a fragment");
    }
    if raw.contains('*') {
        return refuse("must not contain wildcards");
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("must not contain whitespace");
    }
    let Ok(url) = Url::parse(raw) else {
        return refuse("is not an absolute URI");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not contain credentials");
    }
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(raw.to_owned()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                Some(url::Host::Domain(name)) => name == "localhost",
                None => false,
            };
            if loopback {
                Ok(raw.to_owned())
            } else {
                refuse("uses http:// on a host that is not loopback; use https://")
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            refuse("uses a forbidden scheme")
        }
        scheme if scheme.contains('.') => Ok(raw.to_owned()),
        _ => refuse(
            "must use https://, http:// on loopback, or a private-use scheme such as com.example.app:/cb",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_matching_is_exact() {
        let registered = "https://rp.example/cb";
        assert!(redirect_uri_matches(registered, "https://rp.example/cb"));
        for near_miss in [
            "https://rp.example/cb/",
            "https://rp.example/CB",
            "https://RP.example/cb",
            "https://rp.example/cb?x=1",
            "https://rp.example/cb#frag",
            "https://user@rp.example/cb",
            "https://rp.example/%63b",
            "https://rp.example:443/cb",
            "https://rp.example/c",
            "http://rp.example/cb",
        ] {
            assert!(!redirect_uri_matches(registered, near_miss), "{near_miss}");
        }
    }

    #[test]
    fn a_registered_query_must_be_sent_exactly() {
        assert!(redirect_uri_matches(
            "https://rp/cb?x=1",
            "https://rp/cb?x=1"
        ));
        assert!(!redirect_uri_matches(
            "https://rp/cb?x=1",
            "https://rp/cb?x=1&y=2"
        ));
    }

    #[test]
    fn loopback_ip_literals_match_on_any_port() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51234/cb"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:8000/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]:1/cb",
            "http://[::1]:2/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/cb2"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1.evil.example/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:99999/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:8080/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1@evil.example/cb"
        ));
    }

    #[test]
    fn registration_refuses_unsafe_uris() {
        for ok in [
            "https://rp.example/cb",
            "https://rp.example/cb?x=1",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(parse_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://rp.example/cb",
            "https://rp.example/cb#x",
            "https://*.rp.example/cb",
            "https://user:pw@rp.example/cb",
            "/relative",
            "javascript:alert(1)",
            "myapp:/cb",
            "https://rp.example/c b",
        ] {
            assert!(parse_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
