//! Admin-API permissions (Microsoft Graph names) and what directory roles grant.
//!
//! A caller's effective rights follow Entra's model: an app acting on its own holds the
//! application permissions granted to it; an app acting for a user holds the delegated
//! permissions in the token's scope, limited to what the user's roles allow.

use super::Invalid;
use super::user::Role;

/// Create, list, resend and revoke invitations.
pub const USER_INVITE_ALL: &str = "User.Invite.All";
/// Read users.
pub const USER_READ_ALL: &str = "User.Read.All";
/// Change and delete users, reset redemption.
pub const USER_READWRITE_ALL: &str = "User.ReadWrite.All";
/// Read the audit and sign-in logs.
pub const AUDITLOG_READ_ALL: &str = "AuditLog.Read.All";
/// Read policies and settings.
pub const POLICY_READ_ALL: &str = "Policy.Read.All";
/// Change conditional-access policies.
pub const POLICY_READWRITE: &str = "Policy.ReadWrite.ConditionalAccess";
/// Change the tenant's authorization policy: who may invite, the domain lists, invitation
/// defaults (Graph's permission for `authorizationPolicy`).
pub const POLICY_READWRITE_AUTHORIZATION: &str = "Policy.ReadWrite.Authorization";

/// List and remove users' sign-in methods (an administrator's MFA reset).
pub const USER_AUTH_METHODS: &str = "UserAuthenticationMethod.ReadWrite.All";

/// Register and remove partner identity providers.
pub const IDENTITY_PROVIDERS: &str = "IdentityProvider.ReadWrite.All";

/// Change the organisation's branding (accent colour, logo) on its pages and mail.
pub const ORGANIZATIONAL_BRANDING: &str = "OrganizationalBranding.ReadWrite.All";

/// Read applications, their roles and who is assigned to them.
pub const APPLICATION_READ_ALL: &str = "Application.Read.All";
/// Change and delete applications and their client secrets.
pub const APPLICATION_READWRITE_ALL: &str = "Application.ReadWrite.All";
/// Give users and groups app roles, and take them away.
pub const APP_ROLE_ASSIGNMENT_READWRITE_ALL: &str = "AppRoleAssignment.ReadWrite.All";
/// Read groups and their members and owners.
pub const GROUP_READ_ALL: &str = "Group.Read.All";
/// Create, change and delete groups, and change their members and owners.
pub const GROUP_READWRITE_ALL: &str = "Group.ReadWrite.All";
/// Change the members of groups (not the groups themselves).
pub const GROUP_MEMBER_READWRITE_ALL: &str = "GroupMember.ReadWrite.All";

/// Every permission, in documentation order.
pub const ALL: [&str; 16] = [
    USER_INVITE_ALL,
    USER_READ_ALL,
    USER_READWRITE_ALL,
    AUDITLOG_READ_ALL,
    POLICY_READ_ALL,
    POLICY_READWRITE,
    POLICY_READWRITE_AUTHORIZATION,
    USER_AUTH_METHODS,
    IDENTITY_PROVIDERS,
    ORGANIZATIONAL_BRANDING,
    APPLICATION_READ_ALL,
    APPLICATION_READWRITE_ALL,
    APP_ROLE_ASSIGNMENT_READWRITE_ALL,
    GROUP_READ_ALL,
    GROUP_READWRITE_ALL,
    GROUP_MEMBER_READWRITE_ALL,
];

/// Checks a permission name.
pub fn parse(name: &str) -> Result<String, Invalid> {
    ALL.iter()
        .find(|p| p.eq_ignore_ascii_case(name))
        .map(|p| (*p).to_owned())
        .ok_or_else(|| {
            Invalid::new(format!(
                "unknown permission {name:?}; expected one of: {}",
                ALL.join(", ")
            ))
        })
}

/// The permission that includes `permission` as Graph's do: `X.ReadWrite.All` reads too.
pub fn included_in(permission: &str) -> Option<&'static str> {
    match permission {
        USER_READ_ALL => Some(USER_READWRITE_ALL),
        APPLICATION_READ_ALL => Some(APPLICATION_READWRITE_ALL),
        GROUP_READ_ALL => Some(GROUP_READWRITE_ALL),
        _ => None,
    }
}

/// What a directory role allows.
pub fn granted_by(role: Role) -> &'static [&'static str] {
    match role {
        Role::GlobalAdministrator => &ALL,
        Role::UserAdministrator => &[
            USER_INVITE_ALL,
            USER_READ_ALL,
            USER_READWRITE_ALL,
            GROUP_READ_ALL,
            GROUP_READWRITE_ALL,
            GROUP_MEMBER_READWRITE_ALL,
            APPLICATION_READ_ALL,
        ],
        Role::GuestInviter => &[USER_INVITE_ALL],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_nested_rights_and_names_are_checked() {
        assert!(granted_by(Role::GlobalAdministrator).contains(&POLICY_READWRITE));
        assert!(!granted_by(Role::GuestInviter).contains(&USER_READ_ALL));
        assert_eq!(parse("user.invite.all").unwrap(), USER_INVITE_ALL);
        assert!(parse("Directory.ReadWrite.All").is_err());
    }

    #[test]
    fn read_write_permissions_include_reading() {
        assert_eq!(included_in(USER_READ_ALL), Some(USER_READWRITE_ALL));
        assert_eq!(included_in(GROUP_READ_ALL), Some(GROUP_READWRITE_ALL));
        assert_eq!(
            included_in(APPLICATION_READ_ALL),
            Some(APPLICATION_READWRITE_ALL)
        );
        assert_eq!(included_in(USER_INVITE_ALL), None);
    }
}
