//! App-role assignments (Graph `appRoleAssignment`): who may hold which role of an app.

use super::Invalid;
use super::app_profile::{AppProfile, RoleMemberType};

/// The role id of default access: an assignment to an app that defines no roles.
pub const DEFAULT_ACCESS: &str = "00000000-0000-0000-0000-000000000000";

/// Who holds an assignment (Graph `principalType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    /// A user.
    User,
    /// A group: its members (transitively) hold the role.
    Group,
    /// Another app, acting on its own (client credentials).
    ServicePrincipal,
}

impl PrincipalType {
    /// Graph's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
            Self::ServicePrincipal => "ServicePrincipal",
        }
    }

    /// The member type a role must allow for this principal.
    fn member_type(self) -> RoleMemberType {
        match self {
            Self::User | Self::Group => RoleMemberType::User,
            Self::ServicePrincipal => RoleMemberType::Application,
        }
    }
}

/// Checks that `role_id` may be given to a principal of `kind`: an enabled role of the app
/// that allows the principal's member type, or default access when the app defines no roles
/// (users and groups only).
pub fn check_role(profile: &AppProfile, kind: PrincipalType, role_id: &str) -> Result<(), Invalid> {
    if role_id == DEFAULT_ACCESS {
        if profile.app_roles.is_empty() && kind != PrincipalType::ServicePrincipal {
            return Ok(());
        }
        return Err(Invalid::new(
            "default access (appRoleId 00000000-0000-0000-0000-000000000000) is only for apps that define no app roles; give one of the app's roles",
        ));
    }
    match profile.role(role_id) {
        Some(role) if role.allowed_member_types.contains(&kind.member_type()) => Ok(()),
        Some(role) => Err(Invalid::new(format!(
            "app role {:?} cannot be given to a {}",
            role.value,
            kind.as_str()
        ))),
        None => Err(Invalid::new(format!(
            "appRoleId {role_id} is not an enabled role of the app"
        ))),
    }
}

/// The values of the enabled roles among `role_ids` (sorted, without repeats): the `roles`
/// claim.
pub fn role_values<'a>(
    profile: &AppProfile,
    role_ids: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut values: Vec<String> = role_ids
        .filter_map(|id| profile.role(id))
        .map(|role| role.value.clone())
        .collect();
    values.sort();
    values.dedup();
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::app_profile::AppRole;

    fn profile() -> AppProfile {
        let role = |id: &str, value: &str, types: Vec<RoleMemberType>, enabled: bool| AppRole {
            id: id.to_owned(),
            value: value.to_owned(),
            display_name: value.to_owned(),
            description: String::new(),
            allowed_member_types: types,
            is_enabled: enabled,
        };
        AppProfile {
            app_roles: vec![
                role(
                    "11111111-1111-4111-8111-111111111111",
                    "Approver",
                    vec![RoleMemberType::User],
                    true,
                ),
                role(
                    "22222222-2222-4222-8222-222222222222",
                    "Daemon",
                    vec![RoleMemberType::Application],
                    true,
                ),
                role(
                    "33333333-3333-4333-8333-333333333333",
                    "Old",
                    vec![RoleMemberType::User],
                    false,
                ),
            ],
            ..AppProfile::default()
        }
    }

    #[test]
    fn roles_must_be_enabled_and_allow_the_principal() {
        let p = profile();
        assert!(
            check_role(
                &p,
                PrincipalType::User,
                "11111111-1111-4111-8111-111111111111"
            )
            .is_ok()
        );
        assert!(
            check_role(
                &p,
                PrincipalType::Group,
                "11111111-1111-4111-8111-111111111111"
            )
            .is_ok()
        );
        assert!(
            check_role(
                &p,
                PrincipalType::User,
                "22222222-2222-4222-8222-222222222222"
            )
            .is_err()
        );
        assert!(
            check_role(
                &p,
                PrincipalType::ServicePrincipal,
                "22222222-2222-4222-8222-222222222222"
            )
            .is_ok()
        );
        assert!(
            check_role(
                &p,
                PrincipalType::User,
                "33333333-3333-4333-8333-333333333333"
            )
            .is_err()
        );
        assert!(check_role(&p, PrincipalType::User, DEFAULT_ACCESS).is_err());
        assert!(check_role(&AppProfile::default(), PrincipalType::User, DEFAULT_ACCESS).is_ok());
        assert!(
            check_role(
                &AppProfile::default(),
                PrincipalType::ServicePrincipal,
                DEFAULT_ACCESS
            )
            .is_err()
        );
    }

    #[test]
    fn role_values_skip_disabled_and_default_access() {
        let p = profile();
        let ids = [
            "33333333-3333-4333-8333-333333333333",
            "11111111-1111-4111-8111-111111111111",
            DEFAULT_ACCESS,
            "11111111-1111-4111-8111-111111111111",
        ];
        assert_eq!(
            role_values(&p, ids.into_iter()),
            vec!["Approver".to_owned()]
        );
    }
}
