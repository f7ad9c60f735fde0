//! The claims an application authorises on, computed at each token or assertion (a refresh
//! included, so a membership or assignment change shows in the next token): the values of
//! the app roles the user holds directly or through groups (`roles`), the groups its
//! `groupMembershipClaims` asks for (`groups`), its optional claims, and its token lifetimes.
//! Group membership (with each group's kind) is always read through
//! [`super::membership::groups_with_kinds`].

use super::{Result, Services};
use crate::domain::app::App;
use crate::domain::app_profile::GroupMembershipClaims;
use crate::domain::assignment::role_values;
use crate::domain::user::User;
use crate::store::Store;
use crate::tokens::claims::AppClaims;

/// The roles and groups of `user` for `app`: (role values, group ids when the app asks for
/// a `groups` claim).
pub async fn roles_and_groups(
    store: &dyn Store,
    app: &App,
    user: &User,
) -> Result<(Vec<String>, Option<Vec<String>>)> {
    let setting = app.profile.group_membership_claims;
    let needs_assignments =
        !app.profile.app_roles.is_empty() || setting == GroupMembershipClaims::ApplicationGroup;
    if !needs_assignments && setting == GroupMembershipClaims::None {
        return Ok((Vec::new(), None));
    }
    let kinds = super::membership::groups_with_kinds(store, &user.id)
        .await
        .map_err(super::Error::unexpected)?;
    let security: Vec<String> = kinds
        .iter()
        .filter(|g| g.security_enabled)
        .map(|g| g.id.clone())
        .collect();
    let groups: Vec<String> = kinds.into_iter().map(|g| g.id).collect();
    let assignments = if needs_assignments {
        store
            .assignments_to_app(&app.id)
            .await
            .map_err(super::Error::unexpected)?
    } else {
        Vec::new()
    };
    let holds = |principal: &str| principal == user.id || groups.iter().any(|g| g == principal);
    let roles = role_values(
        &app.profile,
        assignments
            .iter()
            .filter(|a| holds(&a.principal_id))
            .map(|a| a.app_role_id.as_str()),
    );
    let listed = match setting {
        GroupMembershipClaims::None => None,
        GroupMembershipClaims::All => Some(groups),
        GroupMembershipClaims::SecurityGroup => Some(security),
        GroupMembershipClaims::ApplicationGroup => Some(
            groups
                .into_iter()
                .filter(|g| {
                    assignments
                        .iter()
                        .any(|a| a.principal_type == "Group" && &a.principal_id == g)
                })
                .collect(),
        ),
    };
    Ok((roles, listed))
}

/// What `app`'s configuration adds to `user`'s ID and access tokens; `ip` is the address the
/// user signed in from, kept with the grant.
pub async fn app_claims(
    services: &Services,
    app: &App,
    user: &User,
    ip: Option<String>,
) -> Result<AppClaims> {
    let (roles, groups) = roles_and_groups(services.store.as_ref(), app, user).await?;
    let optional = &app.profile.optional_claims;
    Ok(AppClaims {
        roles,
        groups,
        id_token: optional.id_token.clone(),
        access_token: optional.access_token.clone(),
        ip,
    })
}

/// The lifetimes of `app`'s (access, ID) tokens, in seconds: its own, else the node's.
pub fn lifetimes(services: &Services, app: &App) -> (u64, u64) {
    let own = app.profile.token_lifetimes;
    let node = &services.config.tokens;
    (
        own.access_token_secs
            .map_or(node.access_token_ttl, u64::from),
        own.id_token_secs.map_or(node.id_token_ttl, u64::from),
    )
}
