//! What Gatehouse's tokens say: ID token claims (OIDC Core §2), RFC 9068 access-token claims,
//! userinfo claims by scope (OIDC Core §5.4), the pairwise `sub`, and validation of our own
//! tokens when they come back (access tokens, `id_token_hint`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{TYP_ACCESS_TOKEN, TokenError, Tokens, Verified};
use crate::domain::scope::{EMAIL, OPENID, PROFILE, Scopes};
use crate::domain::user::User;

/// Most groups a JWT lists; beyond, the `groups` claim gives way to an overage indicator
/// pointing at the Graph endpoint that lists them (Entra's limit for JWTs).
pub const JWT_GROUPS_LIMIT: usize = 200;

/// What an application's configuration adds to a user's tokens, computed afresh at each
/// token (a refresh included): the app roles held, the groups listed, the optional claims
/// asked for per token kind, and the address the user signed in from.
#[derive(Debug, Clone, Default)]
pub struct AppClaims {
    /// Values of the enabled app roles the user holds, directly or through groups.
    pub roles: Vec<String>,
    /// Group object ids for the `groups` claim; `None` when the app asks for none.
    pub groups: Option<Vec<String>>,
    /// Optional claims of ID tokens.
    pub id_token: Vec<String>,
    /// Optional claims of access tokens.
    pub access_token: Vec<String>,
    /// The address the user signed in from (`ipaddr`), when known.
    pub ip: Option<String>,
}

/// Adds `roles`, `groups` (or the overage indicator: `_claim_names` and `_claim_sources`
/// pointing at the user's `transitiveMemberOf`, as Entra does beyond 200 groups) and the
/// optional claims `names` to a user's token.
fn add_app_claims(
    facts: &SignInFacts<'_>,
    user: &User,
    names: &[String],
    claims: &mut Map<String, Value>,
) {
    let app = facts.app;
    if !app.roles.is_empty() {
        claims.insert("roles".into(), json!(app.roles));
    }
    match &app.groups {
        Some(groups) if groups.len() > JWT_GROUPS_LIMIT => {
            claims.insert("_claim_names".into(), json!({"groups": "src1"}));
            claims.insert(
                "_claim_sources".into(),
                json!({"src1": {"endpoint": groups_link(facts.issuer, &user.id)}}),
            );
        }
        Some(groups) => {
            claims.insert("groups".into(), json!(groups));
        }
        None => {}
    }
    for name in names {
        let value = match name.as_str() {
            "email" => json!(user.email),
            "upn" => json!(user.upn),
            "given_name" => match &user.given_name {
                Some(given) => json!(given),
                None => continue,
            },
            "family_name" => match &user.family_name {
                Some(family) => json!(family),
                None => continue,
            },
            "ipaddr" => match &app.ip {
                Some(ip) => json!(ip),
                None => continue,
            },
            "acct" => json!(user.user_type.acct()),
            "auth_time" => json!(facts.auth_time),
            _ => continue,
        };
        claims.insert(name.clone(), value);
    }
}

/// Where the groups of a user too many to list are (the overage link).
pub fn groups_link(issuer: &str, user_id: &str) -> String {
    format!("{issuer}/v1.0/users/{user_id}/transitiveMemberOf")
}

/// The subject of a user as seen by one client: pairwise per application, like Entra, so two
/// apps cannot correlate users by `sub` (OIDC Core §8.1). `oid` stays the stable id.
pub fn pairwise_sub(tenant_id: &str, client_id: &str, user_id: &str) -> String {
    let digest = Sha256::digest(format!("{tenant_id}\u{1f}{client_id}\u{1f}{user_id}"));
    URL_SAFE_NO_PAD.encode(digest)
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of SHA-256 of the access token.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The user claims a set of scopes grants (profile, email), for ID tokens and userinfo.
pub fn user_claims(user: &User, scopes: &Scopes, claims: &mut Map<String, Value>) {
    if scopes.contains(PROFILE) {
        claims.insert("name".into(), json!(user.display_name));
        if let Some(given) = &user.given_name {
            claims.insert("given_name".into(), json!(given));
        }
        if let Some(family) = &user.family_name {
            claims.insert("family_name".into(), json!(family));
        }
        claims.insert("preferred_username".into(), json!(user.upn));
        claims.insert("updated_at".into(), json!(user.updated_at));
    }
    if scopes.contains(EMAIL) {
        claims.insert("email".into(), json!(user.email));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
}

/// Facts about one sign-in that tokens repeat.
#[derive(Debug, Clone)]
pub struct SignInFacts<'a> {
    /// Issuer.
    pub issuer: &'a str,
    /// Tenant id.
    pub tenant_id: &'a str,
    /// Client.
    pub client_id: &'a str,
    /// Grant id.
    pub grant_id: &'a str,
    /// Browser session.
    pub session_id: Option<&'a str>,
    /// Granted scopes.
    pub scopes: &'a Scopes,
    /// Authentication time.
    pub auth_time: i64,
    /// Methods.
    pub amr: &'a [String],
    /// Assurance level.
    pub acr: &'a str,
    /// Identity provider (absent for local credentials: the issuer itself).
    pub idp: Option<&'a str>,
    /// For a guest whose home is a tenant on this Gatehouse: (home tenant id, home object id).
    pub home: Option<(&'a str, &'a str)>,
    /// What the application's configuration adds.
    pub app: &'a AppClaims,
}

/// ID token claims.
pub fn id_token(
    facts: &SignInFacts<'_>,
    user: &User,
    nonce: Option<&str>,
    access_token: &str,
    now: i64,
    ttl: u64,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(facts.issuer));
    claims.insert(
        "sub".into(),
        json!(pairwise_sub(facts.tenant_id, facts.client_id, &user.id)),
    );
    claims.insert("aud".into(), json!(facts.client_id));
    claims.insert("exp".into(), json!(now + ttl as i64));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(facts.auth_time));
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert("amr".into(), json!(facts.amr));
    claims.insert("acr".into(), json!(facts.acr));
    claims.insert("at_hash".into(), json!(at_hash(access_token)));
    claims.insert("tid".into(), json!(facts.tenant_id));
    claims.insert("oid".into(), json!(user.id));
    claims.insert("acct".into(), json!(user.user_type.acct()));
    if let Some(sid) = facts.session_id {
        claims.insert("sid".into(), json!(sid));
    }
    guest_claims(user, facts, &mut claims);
    user_claims(user, facts.scopes, &mut claims);
    add_app_claims(facts, user, &facts.app.id_token, &mut claims);
    claims
}

/// What tokens say of how a user authenticated and, for guests, who they are (B.6): `idp`
/// when someone other than this tenant vouched, and for guests the `#EXT#` UPN and the e-mail
/// (emitted by default for guests), and `home_tid`/`home_oid` when the guest's home is a
/// tenant on this Gatehouse.
fn guest_claims(user: &User, facts: &SignInFacts<'_>, claims: &mut Map<String, Value>) {
    if let Some(idp) = facts.idp {
        claims.insert("idp".into(), json!(idp));
    }
    if let Some((home_tid, home_oid)) = facts.home {
        claims.insert("home_tid".into(), json!(home_tid));
        claims.insert("home_oid".into(), json!(home_oid));
    }
    if user.user_type == crate::domain::user::UserType::Guest
        || user.creation_type.as_deref() == Some("Invitation")
    {
        claims.insert("upn".into(), json!(user.upn));
        claims.insert("email".into(), json!(user.email));
    }
}

/// Access-token claims for a user (RFC 9068 §2.2).
pub fn user_access_token(
    facts: &SignInFacts<'_>,
    user: &User,
    now: i64,
    ttl: u64,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(facts.issuer));
    claims.insert("exp".into(), json!(now + ttl as i64));
    claims.insert("aud".into(), json!(facts.client_id));
    claims.insert(
        "sub".into(),
        json!(pairwise_sub(facts.tenant_id, facts.client_id, &user.id)),
    );
    claims.insert("client_id".into(), json!(facts.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("jti".into(), json!(crate::secrets::random_token(16)));
    claims.insert("scope".into(), json!(facts.scopes.to_string()));
    claims.insert("auth_time".into(), json!(facts.auth_time));
    claims.insert("acr".into(), json!(facts.acr));
    claims.insert("amr".into(), json!(facts.amr));
    claims.insert("tid".into(), json!(facts.tenant_id));
    claims.insert("oid".into(), json!(user.id));
    claims.insert("acct".into(), json!(user.user_type.acct()));
    claims.insert("gid".into(), json!(facts.grant_id));
    guest_claims(user, facts, &mut claims);
    if let Some(sid) = facts.session_id {
        claims.insert("sid".into(), json!(sid));
    }
    add_app_claims(facts, user, &facts.app.access_token, &mut claims);
    claims
}

/// Access-token claims for a client acting on its own behalf (client credentials). The
/// subject is the `client_id`, a UUID, which can never equal a user's pairwise `sub` (a
/// 43-character base64url digest): SECURITY.md C.30.
pub fn client_access_token(
    issuer: &str,
    tenant_id: &str,
    client_id: &str,
    roles: &[String],
    now: i64,
    ttl: u64,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("exp".into(), json!(now + ttl as i64));
    claims.insert("aud".into(), json!(client_id));
    claims.insert("sub".into(), json!(client_id));
    claims.insert("client_id".into(), json!(client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("jti".into(), json!(crate::secrets::random_token(16)));
    if !roles.is_empty() {
        // Application permissions, as Entra puts them in app-only tokens.
        claims.insert("roles".into(), json!(roles));
    }
    claims.insert("tid".into(), json!(tenant_id));
    claims
}

/// An access token of ours, checked: signature, `typ: at+jwt`, issuer of this tenant, not
/// expired. Revocation is checked by the caller against the store.
pub fn verify_access_token(
    tokens: &Tokens,
    issuer: &str,
    token: &str,
    now: i64,
) -> Result<Verified, TokenError> {
    let verified = tokens.verify(token)?;
    if verified.typ.as_deref() != Some(TYP_ACCESS_TOKEN) {
        return Err(TokenError::Invalid("not an access token"));
    }
    if verified.str("iss") != Some(issuer) {
        return Err(TokenError::Invalid("issued by another tenant"));
    }
    match verified.int("exp") {
        Some(exp) if exp > now => {}
        _ => return Err(TokenError::Invalid("expired")),
    }
    if verified.int("iat").is_some_and(|iat| iat > now + 300) {
        return Err(TokenError::Invalid("issued in the future"));
    }
    Ok(verified)
}

/// An `id_token_hint`: an ID token we issued for this tenant (it may have expired, OIDC Core
/// §3.1.2.1). Tokens of other issuers, altered tokens and `alg: none` are refused.
pub fn verify_id_token_hint(
    tokens: &Tokens,
    issuer: &str,
    hint: &str,
) -> Result<Verified, TokenError> {
    let verified = tokens.verify(hint)?;
    if verified.typ.as_deref() == Some(TYP_ACCESS_TOKEN) {
        return Err(TokenError::Invalid("an access token is not an ID token"));
    }
    if verified.str("iss") != Some(issuer) {
        return Err(TokenError::Invalid("issued by another tenant"));
    }
    Ok(verified)
}

/// Whether a scope set is an OpenID Connect one.
pub fn is_openid(scopes: &Scopes) -> bool {
    scopes.contains(OPENID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_subjects_differ_per_client_and_fit_the_limit() {
        let a = pairwise_sub("t", "app-a", "u");
        let b = pairwise_sub("t", "app-b", "u");
        assert_ne!(a, b);
        assert_eq!(a, pairwise_sub("t", "app-a", "u"));
        assert!(a.len() <= 255 && a.is_ascii());
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn at_hash_matches_the_oidc_example_construction() {
        // OIDC Core A.3: at_hash of "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" is
        // "77QmUPtjPfzWtF2AnpK9RQ" (RS256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
