//! Users: members of a tenant and guests invited into it (B2B-REFERENCE.md B.4).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Relationship of a user to the tenant (not how they sign in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserType {
    /// A member of the organisation.
    Member,
    /// An external user invited into the organisation.
    Guest,
}

impl UserType {
    /// The name stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Guest => "Guest",
        }
    }

    /// The `acct` claim: 0 for members, 1 for guests (Entra optional claim).
    pub fn acct(self) -> u8 {
        match self {
            Self::Member => 0,
            Self::Guest => 1,
        }
    }
}

impl FromStr for UserType {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Member" => Ok(Self::Member),
            "Guest" => Ok(Self::Guest),
            other => Err(Invalid::new(format!("unknown userType {other:?}"))),
        }
    }
}

/// Directory roles that carry administrative rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Everything in the tenant.
    #[serde(rename = "Global Administrator")]
    GlobalAdministrator,
    /// Users, guests and invitations.
    #[serde(rename = "User Administrator")]
    UserAdministrator,
    /// Invitations only.
    #[serde(rename = "Guest Inviter")]
    GuestInviter,
}

impl Role {
    /// Every role, in the order they are documented.
    pub const ALL: [Role; 3] = [
        Self::GlobalAdministrator,
        Self::UserAdministrator,
        Self::GuestInviter,
    ];

    /// The display name (also the stored and CLI form).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GlobalAdministrator => "Global Administrator",
            Self::UserAdministrator => "User Administrator",
            Self::GuestInviter => "Guest Inviter",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted: String = s.chars().filter(|c| c.is_alphanumeric()).collect();
        Self::ALL
            .into_iter()
            .find(|role| {
                role.as_str()
                    .chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
                    .eq_ignore_ascii_case(&wanted)
            })
            .ok_or_else(|| {
                Invalid::new(format!(
                    "unknown role {s:?}; expected one of: Global Administrator, User Administrator, Guest Inviter"
                ))
            })
    }
}

/// Where a guest is in redemption (B.4 `externalUserState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExternalUserState {
    /// Invited, not yet redeemed.
    PendingAcceptance,
    /// Redeemed.
    Accepted,
}

impl ExternalUserState {
    /// Stored and API form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAcceptance => "PendingAcceptance",
            Self::Accepted => "Accepted",
        }
    }
}

impl FromStr for ExternalUserState {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PendingAcceptance" => Ok(Self::PendingAcceptance),
            "Accepted" => Ok(Self::Accepted),
            other => Err(Invalid::new(format!("unknown externalUserState {other:?}"))),
        }
    }
}

/// `signInType` of identities bound to a home identity provider (a tenant here or a partner).
pub const SIGN_IN_FEDERATED: &str = "federated";

/// How a user signs in: an (issuer, subject) pair, never an e-mail address alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `userPrincipalName`, `emailAddress`, `federated`.
    pub sign_in_type: String,
    /// Who vouches for the subject: the tenant's domain, `mail` (e-mail one-time passcode), or
    /// an upstream issuer.
    pub issuer: String,
    /// The subject at that issuer.
    pub issuer_assigned_id: String,
}

/// A user as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Object id (`oid` claim).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Member or guest.
    pub user_type: UserType,
    /// Sign-in e-mail address as given (domain lowercased).
    pub email: String,
    /// Whether Gatehouse has verified that the user controls `email`.
    pub email_verified: bool,
    /// Display name.
    pub display_name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// User principal name.
    pub upn: String,
    /// Argon2id PHC string, for members and lightweight guest accounts.
    pub password_hash: Option<String>,
    /// Directory roles.
    pub roles: Vec<Role>,
    /// Disabled users cannot sign in and their refresh tokens stop working.
    pub account_enabled: bool,
    /// Changes whenever credentials change; grants remember it, so a password reset ends
    /// every refresh-token family of the user.
    pub security_stamp: String,
    /// Redemption state of an invited user.
    pub external_user_state: Option<ExternalUserState>,
    /// When `external_user_state` last changed.
    pub external_user_state_changed_at: Option<i64>,
    /// `Invitation` for invited users, `None` for members created by an administrator.
    pub creation_type: Option<String>,
    /// Sponsors (the inviter by default).
    pub sponsors: Vec<String>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
    /// The language the user reads (Graph's `preferredLanguage`): for a guest, the
    /// invitation's `messageLanguage`; pages and mail use it when a request names none.
    #[serde(default)]
    pub preferred_language: Option<String>,
    /// Job title (Graph's `jobTitle`).
    #[serde(default)]
    pub job_title: Option<String>,
    /// Where the user works, an ISO 3166-1 alpha-2 code (Graph's `usageLocation`).
    #[serde(default)]
    pub usage_location: Option<String>,
}

/// A usage location: two ASCII letters (ISO 3166-1 alpha-2, as Graph takes it), upper-cased.
/// Only the form is checked, not that the code is assigned.
pub fn usage_location(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.len() == 2 && value.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(value.to_ascii_uppercase())
    } else {
        Err(Invalid::new(format!(
            "usageLocation must be a two-letter ISO 3166 country code (such as \"FR\"), not {value:?}"
        )))
    }
}

/// The UPN of a guest: `alice_partner.example#EXT#@<tenant primary domain>` (B.4).
pub fn guest_upn(email: &str, primary_domain: &str) -> String {
    format!("{}#EXT#@{primary_domain}", email.replace('@', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_loosely_and_print_exactly() {
        assert_eq!(
            "global-administrator".parse::<Role>().unwrap(),
            Role::GlobalAdministrator
        );
        assert_eq!("Guest Inviter".parse::<Role>().unwrap(), Role::GuestInviter);
        assert!("root".parse::<Role>().is_err());
        assert_eq!(Role::UserAdministrator.to_string(), "User Administrator");
    }

    #[test]
    fn usage_locations_are_two_letters() {
        assert_eq!(usage_location(" fr ").unwrap(), "FR");
        assert!(usage_location("FRA").is_err());
        assert!(usage_location("F1").is_err());
        assert!(usage_location("").is_err());
    }
}
