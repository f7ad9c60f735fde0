//! The Graph `application` representation of an [`App`] (the contract in
//! `/work/notes/brief-contract.md`, served by the admin API and printed by the CLI) and a
//! PATCH in that shape applied to an app. Gatehouse has no separate service principal: the
//! properties Entra keeps there (`appRoleAssignmentRequired`, `accountEnabled`) and the OIDC
//! registration fields Graph has no names for are top-level properties.
//!
//! A patch names any subset of the writable properties; an unknown property, a read-only one
//! or a value of the wrong type is refused with a message that names it. The whole result is
//! checked afterwards by [`super::manage`] (the create rules and the profile's own).

use serde_json::{Map, Value, json};

use crate::domain::Invalid;
use crate::domain::app::{App, ClientType, GrantType, SigningAlg};
use crate::domain::app_profile::{AppRole, GroupMembershipClaims, RoleMemberType};
use crate::domain::date_time;
use crate::domain::saml::{AcsEndpoint, NameIdFormat, SamlSp, parse_endpoint, parse_entity_id};

/// Properties a client may read but never write.
pub const READ_ONLY: [&str; 5] = [
    "id",
    "appId",
    "createdDateTime",
    "isFallbackPublicClient",
    "passwordCredentials",
];

/// The only `signInAudience` Gatehouse has: the tenant's own directory.
pub const SIGN_IN_AUDIENCE: &str = "AzureADMyOrg";

/// One client secret as a Graph `passwordCredential` (never its text).
pub fn password_credential(secret: &crate::domain::app::AppSecret) -> Value {
    json!({
        "keyId": secret.id,
        "displayName": secret.display_name,
        "hint": secret.hint,
        "startDateTime": date_time(secret.created_at),
        "endDateTime": secret.expires_at.map(date_time),
        "secretText": null,
    })
}

fn claims_json(names: &[String]) -> Vec<Value> {
    names
        .iter()
        .map(|name| json!({"name": name, "source": null, "essential": false, "additionalProperties": []}))
        .collect()
}

fn role_json(role: &AppRole) -> Value {
    json!({
        "id": role.id,
        "value": role.value,
        "displayName": role.display_name,
        "description": role.description,
        "allowedMemberTypes": role.allowed_member_types,
        "isEnabled": role.is_enabled,
    })
}

/// The SAML side in the contract's shape.
fn saml_json(sp: &SamlSp) -> Value {
    json!({
        "entityId": sp.entity_id,
        "acsUrls": sp.acs.iter().map(|a| a.url.as_str()).collect::<Vec<_>>(),
        "sloUrl": sp.slo_url,
        "nameIdFormat": sp.nameid_format.as_str(),
        "signResponse": sp.sign_response,
        "authnRequestsSigned": sp.authn_requests_signed,
        "metadataUrl": sp.metadata_url,
        "certificates": sp.certificates,
    })
}

/// The Graph `application` representation of `app`.
pub fn application_json(app: &App) -> Value {
    let profile = &app.profile;
    json!({
        "id": app.id,
        "appId": app.client_id,
        "displayName": app.name,
        "createdDateTime": date_time(app.created_at),
        "signInAudience": SIGN_IN_AUDIENCE,
        "isFallbackPublicClient": app.client_type == ClientType::Public,
        "accountEnabled": app.enabled,
        "web": {
            "redirectUris": app.redirect_uris,
            "homePageUrl": app.home_url,
            "logoutUrl": profile.logout.frontchannel_uri,
        },
        "info": { "logoUrl": profile.logo_url },
        "appRoles": profile.app_roles.iter().map(role_json).collect::<Vec<_>>(),
        "groupMembershipClaims": profile.group_membership_claims.as_str(),
        "optionalClaims": {
            "idToken": claims_json(&profile.optional_claims.id_token),
            "accessToken": claims_json(&profile.optional_claims.access_token),
            "saml2Token": claims_json(&profile.optional_claims.saml2_token),
        },
        "passwordCredentials": app.secrets.iter().map(password_credential).collect::<Vec<_>>(),
        "appRoleAssignmentRequired": app.assignment_required,
        "postLogoutRedirectUris": app.post_logout_redirect_uris,
        "backchannelLogoutUri": profile.logout.backchannel_uri,
        "backchannelLogoutSessionRequired": profile.logout.backchannel_session_required,
        "frontchannelLogoutSessionRequired": profile.logout.frontchannel_session_required,
        "grantTypes": app.grant_types,
        "idTokenSignedResponseAlg": app.signing_alg.as_str(),
        "jwks": profile.keys.jwks,
        "jwksUri": profile.keys.jwks_uri,
        "accessTokenLifetimeSeconds": profile.token_lifetimes.access_token_secs,
        "idTokenLifetimeSeconds": profile.token_lifetimes.id_token_secs,
        "saml": app.saml.as_ref().map(saml_json),
    })
}

fn wrong(name: &str, what: &str) -> Invalid {
    Invalid::new(format!("property {name} must be {what}"))
}

fn text(name: &str, value: &Value) -> Result<String, Invalid> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| wrong(name, "a string"))
}

fn optional_text(name: &str, value: &Value) -> Result<Option<String>, Invalid> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(wrong(name, "a string or null")),
    }
}

fn flag(name: &str, value: &Value) -> Result<bool, Invalid> {
    value.as_bool().ok_or_else(|| wrong(name, "true or false"))
}

fn texts(name: &str, value: &Value) -> Result<Vec<String>, Invalid> {
    let wrong = || wrong(name, "an array of strings");
    value
        .as_array()
        .ok_or_else(wrong)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong))
        .collect()
}

fn seconds(name: &str, value: &Value) -> Result<Option<u32>, Invalid> {
    match value {
        Value::Null => Ok(None),
        other => other
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong(name, "a whole number of seconds or null")),
    }
}

fn object<'a>(name: &str, value: &'a Value) -> Result<&'a Map<String, Value>, Invalid> {
    value.as_object().ok_or_else(|| wrong(name, "an object"))
}

/// Refuses any key of `fields` that is not in `known` (the message names it).
fn only(name: &str, fields: &Map<String, Value>, known: &[&str]) -> Result<(), Invalid> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(Invalid::new(format!(
            "{name} has no property {key}; expected {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Applies `patch` (a Graph `application` with any subset of the writable properties) to
/// `app`. The values are parsed here; the rules over the whole app are checked by the caller.
pub fn apply_patch(app: &mut App, patch: &Map<String, Value>) -> Result<(), Invalid> {
    for (name, value) in patch {
        if READ_ONLY.contains(&name.as_str()) {
            return Err(Invalid::new(format!("property {name} is read-only")));
        }
        apply_property(app, name, value)?;
    }
    Ok(())
}

fn apply_property(app: &mut App, name: &str, value: &Value) -> Result<(), Invalid> {
    let profile = &mut app.profile;
    match name {
        "displayName" => app.name = text(name, value)?,
        "signInAudience" => {
            if value.as_str() != Some(SIGN_IN_AUDIENCE) {
                return Err(wrong(name, "\"AzureADMyOrg\" (the tenant's own directory)"));
            }
        }
        "accountEnabled" => app.enabled = flag(name, value)?,
        "web" => apply_web(app, object(name, value)?)?,
        "info" => {
            let info = object(name, value)?;
            only("info", info, &["logoUrl"])?;
            if let Some(logo) = info.get("logoUrl") {
                profile.logo_url = optional_text("info.logoUrl", logo)?;
            }
        }
        "appRoles" => profile.app_roles = app_roles(value)?,
        "groupMembershipClaims" => {
            profile.group_membership_claims = match value {
                Value::Null => GroupMembershipClaims::None,
                other => GroupMembershipClaims::parse(&text(name, other)?)?,
            }
        }
        "optionalClaims" => apply_optional_claims(app, value)?,
        "appRoleAssignmentRequired" => app.assignment_required = flag(name, value)?,
        "postLogoutRedirectUris" => app.post_logout_redirect_uris = texts(name, value)?,
        "backchannelLogoutUri" => profile.logout.backchannel_uri = optional_text(name, value)?,
        "backchannelLogoutSessionRequired" => {
            profile.logout.backchannel_session_required = flag(name, value)?
        }
        "frontchannelLogoutSessionRequired" => {
            profile.logout.frontchannel_session_required = flag(name, value)?
        }
        "grantTypes" => {
            app.grant_types = texts(name, value)?
                .iter()
                .map(|g| g.parse::<GrantType>())
                .collect::<Result<_, _>>()?;
            app.grant_types.dedup();
        }
        "idTokenSignedResponseAlg" => app.signing_alg = text(name, value)?.parse::<SigningAlg>()?,
        "jwks" => {
            profile.keys.jwks = match value {
                Value::Null => None,
                Value::Object(_) => Some(value.clone()),
                _ => {
                    return Err(wrong(
                        name,
                        "a JWK Set (an object with a keys array) or null",
                    ));
                }
            }
        }
        "jwksUri" => profile.keys.jwks_uri = optional_text(name, value)?,
        "accessTokenLifetimeSeconds" => {
            profile.token_lifetimes.access_token_secs = seconds(name, value)?
        }
        "idTokenLifetimeSeconds" => profile.token_lifetimes.id_token_secs = seconds(name, value)?,
        "saml" => app.saml = saml(app.saml.take(), value)?,
        other => {
            return Err(Invalid::new(format!("application has no property {other}")));
        }
    }
    Ok(())
}

fn apply_web(app: &mut App, web: &Map<String, Value>) -> Result<(), Invalid> {
    only("web", web, &["redirectUris", "homePageUrl", "logoutUrl"])?;
    if let Some(uris) = web.get("redirectUris") {
        app.redirect_uris = texts("web.redirectUris", uris)?;
    }
    if let Some(home) = web.get("homePageUrl") {
        app.home_url = optional_text("web.homePageUrl", home)?
            .map(|url| parse_endpoint(&url))
            .transpose()?;
    }
    if let Some(logout) = web.get("logoutUrl") {
        app.profile.logout.frontchannel_uri = optional_text("web.logoutUrl", logout)?;
    }
    Ok(())
}

fn apply_optional_claims(app: &mut App, value: &Value) -> Result<(), Invalid> {
    let claims = &mut app.profile.optional_claims;
    if value.is_null() {
        *claims = Default::default();
        return Ok(());
    }
    let fields = object("optionalClaims", value)?;
    only(
        "optionalClaims",
        fields,
        &["idToken", "accessToken", "saml2Token"],
    )?;
    for (kind, list) in fields {
        let name = format!("optionalClaims.{kind}");
        let items = list.as_array().ok_or_else(|| wrong(&name, "an array"))?;
        let mut names = Vec::with_capacity(items.len());
        for item in items {
            let claim = object(&name, item)?;
            only(
                &name,
                claim,
                &["name", "source", "essential", "additionalProperties"],
            )?;
            names.push(text(
                &format!("{name}[].name"),
                claim.get("name").unwrap_or(&Value::Null),
            )?);
        }
        match kind.as_str() {
            "idToken" => claims.id_token = names,
            "accessToken" => claims.access_token = names,
            _ => claims.saml2_token = names,
        }
    }
    Ok(())
}

fn app_roles(value: &Value) -> Result<Vec<AppRole>, Invalid> {
    let items = value
        .as_array()
        .ok_or_else(|| wrong("appRoles", "an array"))?;
    let mut roles = Vec::with_capacity(items.len());
    for item in items {
        let role = object("appRoles", item)?;
        only(
            "appRoles[]",
            role,
            &[
                "id",
                "value",
                "displayName",
                "description",
                "allowedMemberTypes",
                "isEnabled",
                "origin",
            ],
        )?;
        let field = |key: &str| role.get(key).unwrap_or(&Value::Null);
        let member_types = texts("appRoles[].allowedMemberTypes", field("allowedMemberTypes"))?
            .iter()
            .map(|t| match t.as_str() {
                "User" => Ok(RoleMemberType::User),
                "Application" => Ok(RoleMemberType::Application),
                other => Err(Invalid::new(format!(
                    "allowedMemberTypes {other:?} is not User or Application"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        roles.push(AppRole {
            id: text("appRoles[].id", field("id"))?,
            value: text("appRoles[].value", field("value"))?,
            display_name: text("appRoles[].displayName", field("displayName"))?,
            description: optional_text("appRoles[].description", field("description"))?
                .unwrap_or_default(),
            allowed_member_types: member_types,
            is_enabled: match field("isEnabled") {
                Value::Null => true,
                other => flag("appRoles[].isEnabled", other)?,
            },
        });
    }
    Ok(roles)
}

/// The SAML side after a patch: `null` removes it; an object changes the fields it names
/// (a new SAML side needs `entityId` and `acsUrls`).
fn saml(current: Option<SamlSp>, value: &Value) -> Result<Option<SamlSp>, Invalid> {
    let fields = match value {
        Value::Null => return Ok(None),
        other => object("saml", other)?,
    };
    only(
        "saml",
        fields,
        &[
            "entityId",
            "acsUrls",
            "sloUrl",
            "nameIdFormat",
            "signResponse",
            "authnRequestsSigned",
            "metadataUrl",
            "certificates",
        ],
    )?;
    let mut sp = match current {
        Some(sp) => sp,
        None if fields.contains_key("entityId") && fields.contains_key("acsUrls") => SamlSp {
            entity_id: String::new(),
            acs: Vec::new(),
            slo_url: None,
            certificates: Vec::new(),
            authn_requests_signed: false,
            sign_response: false,
            nameid_format: NameIdFormat::Persistent,
            metadata_url: None,
        },
        None => {
            return Err(Invalid::new(
                "a new SAML side needs saml.entityId and saml.acsUrls",
            ));
        }
    };
    for (key, value) in fields {
        apply_saml_field(&mut sp, key, value)?;
    }
    if sp.acs.is_empty() {
        return Err(Invalid::new("saml.acsUrls needs at least one URL"));
    }
    if sp.authn_requests_signed && sp.certificates.is_empty() {
        return Err(Invalid::new(
            "saml.authnRequestsSigned needs the SP's certificate (saml.certificates)",
        ));
    }
    Ok(Some(sp))
}

/// Sets one field of a SAML side from a patch.
fn apply_saml_field(sp: &mut SamlSp, key: &str, value: &Value) -> Result<(), Invalid> {
    let name = format!("saml.{key}");
    match key {
        "entityId" => sp.entity_id = parse_entity_id(&text(&name, value)?)?,
        "acsUrls" => {
            sp.acs = texts(&name, value)?
                .iter()
                .enumerate()
                .map(|(index, url)| {
                    Ok(AcsEndpoint {
                        url: parse_endpoint(url)?,
                        index: index as u32,
                        is_default: index == 0,
                    })
                })
                .collect::<Result<_, Invalid>>()?
        }
        "sloUrl" => {
            sp.slo_url = optional_text(&name, value)?
                .map(|u| parse_endpoint(&u))
                .transpose()?
        }
        "nameIdFormat" => sp.nameid_format = NameIdFormat::parse(&text(&name, value)?)?,
        "signResponse" => sp.sign_response = flag(&name, value)?,
        "authnRequestsSigned" => sp.authn_requests_signed = flag(&name, value)?,
        "metadataUrl" => {
            sp.metadata_url = optional_text(&name, value)?
                .map(|u| parse_endpoint(&u))
                .transpose()?
        }
        _ => {
            sp.certificates = texts(&name, value)?
                .iter()
                .map(|c| crate::samlxml::metadata::certificate_from_pem(c))
                .collect::<Result<_, _>>()?
        }
    }
    Ok(())
}

/// A client secret's end: `endDateTime` (RFC 3339) when given, else two years from `now`;
/// never in the past nor more than two years away.
pub fn secret_end(end: Option<&str>, now: i64) -> Result<i64, Invalid> {
    const TWO_YEARS: i64 = 2 * 365 * 86_400 + 86_400;
    let Some(end) = end else {
        return Ok(now + 2 * 365 * 86_400);
    };
    let parsed = chrono::DateTime::parse_from_rfc3339(end)
        .map_err(|_| {
            Invalid::new(format!(
                "endDateTime {end:?} is not an RFC 3339 date and time"
            ))
        })?
        .timestamp();
    if parsed <= now {
        return Err(Invalid::new("endDateTime must be in the future"));
    }
    if parsed > now + TWO_YEARS {
        return Err(Invalid::new(
            "endDateTime must be at most two years from now",
        ));
    }
    Ok(parsed)
}
