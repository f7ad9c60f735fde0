//! Invitations (B2B-REFERENCE.md B.1): who was invited, by whom, to where, and their state.

use serde::{Deserialize, Serialize};

use super::Invalid;
use super::email::EmailAddress;

/// Characters Entra refuses in `invitedUserEmailAddress`.
const DISALLOWED: &str = "~!#$%^&*()+=[]{}\\/|;:\"<>?,";

/// Parses `invitedUserEmailAddress` with Entra's character rules (B.1): none of
/// `~ ! # $ % ^ & * ( ) + = [ ] { } \ / | ; : " < > ? ,`; `.` and `-` anywhere in the local
/// part but not first or last; `_` anywhere.
pub fn parse_invited_email(raw: &str) -> Result<EmailAddress, Invalid> {
    let email = EmailAddress::parse(raw)?;
    let local = email.local();
    if local.chars().any(|c| DISALLOWED.contains(c)) {
        return Err(Invalid::new(format!(
            "{raw:?} contains a character invitations do not allow (~!#$%^&*()+=[]{{}}\\/|;:\"<>?,)"
        )));
    }
    if local.starts_with(['.', '-']) || local.ends_with(['.', '-']) {
        return Err(Invalid::new(format!(
            "{raw:?}: '.' and '-' may not start or end the local part"
        )));
    }
    Ok(email)
}

/// Who sent an invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inviter {
    /// User or app id.
    pub id: String,
    /// `user` or `app`.
    pub kind: String,
    /// Display name shown in the e-mail.
    pub name: String,
}

/// The one cc recipient of an invitation e-mail; in JSON it has Graph's `recipient` shape,
/// `{"emailAddress": {"address": …, "name": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "GraphRecipient", into = "GraphRecipient")]
pub struct Recipient {
    /// Address.
    pub address: String,
    /// Display name.
    pub name: Option<String>,
}

/// Graph's `recipient` resource.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphRecipient {
    /// The address and name.
    pub email_address: GraphEmailAddress,
}

/// Graph's `emailAddress` resource.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GraphEmailAddress {
    /// Address.
    pub address: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl From<GraphRecipient> for Recipient {
    fn from(graph: GraphRecipient) -> Self {
        Self {
            address: graph.email_address.address,
            name: graph.email_address.name,
        }
    }
}

impl From<Recipient> for GraphRecipient {
    fn from(recipient: Recipient) -> Self {
        Self {
            email_address: GraphEmailAddress {
                address: recipient.address,
                name: recipient.name,
            },
        }
    }
}

/// `invitedUserMessageInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageInfo {
    /// At most one cc recipient.
    #[schema(value_type = Vec<GraphRecipient>)]
    pub cc_recipients: Vec<Recipient>,
    /// Replaces the default body (plain text, no links).
    pub customized_message_body: Option<String>,
    /// Language of the default message.
    pub message_language: Option<String>,
}

/// The longest customised message.
pub const MAX_MESSAGE: usize = 2000;

impl MessageInfo {
    /// Validates the rules of B.1 and SECURITY.md H.65: one cc, a bounded plain-text message
    /// without links.
    pub fn validated(mut self) -> Result<Self, Invalid> {
        if self.cc_recipients.len() > 1 {
            return Err(Invalid::new("only one ccRecipient is supported"));
        }
        for cc in &mut self.cc_recipients {
            cc.address = EmailAddress::parse(&cc.address)?.to_string();
        }
        if let Some(body) = &self.customized_message_body {
            if body.chars().count() > MAX_MESSAGE {
                return Err(Invalid::new(format!(
                    "customizedMessageBody is longer than {MAX_MESSAGE} characters"
                )));
            }
            let lower = body.to_ascii_lowercase();
            if lower.contains("://") || lower.contains("www.") || lower.contains("href") {
                return Err(Invalid::new(
                    "customizedMessageBody must be plain text without links",
                ));
            }
            if body
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
            {
                return Err(Invalid::new(
                    "customizedMessageBody contains control characters",
                ));
            }
        }
        Ok(self)
    }
}

/// An invitation's state (B.1 `status`, plus what Entra lacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvitationStatus {
    /// Waiting for the guest.
    PendingAcceptance,
    /// Redeemed.
    Completed,
    /// Revoked by an administrator (or superseded by a newer invitation).
    Revoked,
    /// Past its expiry.
    Expired,
}

impl InvitationStatus {
    /// API form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAcceptance => "PendingAcceptance",
            Self::Completed => "Completed",
            Self::Revoked => "Revoked",
            Self::Expired => "Expired",
        }
    }
}

/// An invitation as stored (its token only as a digest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invitation {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The guest user it created or re-invites.
    pub user_id: String,
    /// Invited address.
    pub email: String,
    /// `invitedUserDisplayName`.
    pub display_name: Option<String>,
    /// `inviteRedirectUrl`.
    pub redirect_url: String,
    /// Who invited.
    pub inviter: Inviter,
    /// Whether an e-mail is sent.
    pub send_message: bool,
    /// E-mail customisation.
    pub message_info: MessageInfo,
    /// `invitedUserType`.
    pub invited_user_type: String,
    /// Whether this invitation reset an earlier redemption.
    pub reset_redemption: bool,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Redemption time.
    pub redeemed_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

impl Invitation {
    /// The status at `now`.
    pub fn status(&self, now: i64) -> InvitationStatus {
        if self.redeemed_at.is_some() {
            InvitationStatus::Completed
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::PendingAcceptance
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entras_character_rules_apply_to_invited_addresses() {
        for ok in [
            "alice@partner.example",
            "a.b-c_d@partner.example",
            "_x_@partner.example",
        ] {
            assert!(parse_invited_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "alice+tag@partner.example",
            "a!b@partner.example",
            "-alice@partner.example",
            "alice-@partner.example",
            "a/b@partner.example",
            "a%b@partner.example",
        ] {
            assert!(parse_invited_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_are_plain_text_with_one_cc() {
        let link = MessageInfo {
            customized_message_body: Some("see https://evil.example now".into()),
            ..MessageInfo::default()
        };
        assert!(link.validated().is_err());
        let markup = MessageInfo {
            customized_message_body: Some("<a href=x>hi</a>".into()),
            ..MessageInfo::default()
        };
        assert!(markup.validated().is_err());
        let two = MessageInfo {
            cc_recipients: vec![
                Recipient {
                    address: "a@b.example".into(),
                    name: None,
                },
                Recipient {
                    address: "c@d.example".into(),
                    name: None,
                },
            ],
            ..MessageInfo::default()
        };
        assert!(two.validated().is_err());
        let fine = MessageInfo {
            customized_message_body: Some("Welcome <b>aboard</b>!".into()),
            ..MessageInfo::default()
        };
        assert!(
            fine.validated().is_ok(),
            "markup without links is escaped, not refused"
        );
    }
}

/// Where a held redemption stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum HeldStatus {
    /// Waiting for an administrator.
    Pending,
    /// Approved: the identity was bound and the invitation redeemed.
    Approved,
    /// Denied: the identity stays unbound; the invitation stays as it was.
    Denied,
    /// Closed because the invitation was redeemed another way, revoked or expired.
    Closed,
}

impl HeldStatus {
    /// The stored and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Closed => "closed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "denied" => Ok(Self::Denied),
            "closed" => Ok(Self::Closed),
            other => Err(Invalid::new(format!(
                "unknown held-redemption status {other:?}"
            ))),
        }
    }
}

/// A redemption through a home IdP that did not assert the invited address as verified, held
/// for an administrator (tenant setting `unverifiedAddressRedemption: holdForApproval`).
/// Approving binds (issuer, subject) to the invited guest exactly as a redemption would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeldRedemption {
    /// Id.
    pub id: String,
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// The invitation it would redeem.
    pub invitation_id: String,
    /// The guest user the identity would be bound to.
    pub invited_user_id: String,
    /// The invited address.
    pub invited_user_email_address: String,
    /// The partner IdP the guest signed in with.
    pub identity_provider_id: Option<String>,
    /// The home issuer (OIDC `iss`, SAML entityID).
    pub issuer: String,
    /// The subject there (`sub`, persistent NameID).
    pub issuer_assigned_id: String,
    /// The address the home IdP asserted, if any, and whether it said it was verified.
    pub asserted_email_address: Option<String>,
    /// Whether the home IdP marked that address as verified.
    pub asserted_email_verified: bool,
    /// Where it stands.
    pub status: HeldStatus,
    /// When the guest asked (Unix seconds).
    pub created_at: i64,
    /// When an administrator decided.
    pub decided_at: Option<i64>,
    /// Who decided (user or app id).
    pub decided_by: Option<String>,
}
