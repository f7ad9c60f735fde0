//! Members and owners of groups (Graph's `$ref` relationships), and the groups a user belongs
//! to (`memberOf`, `transitiveMemberOf`).
//!
//! A member is a user or a group of the same tenant (nesting); an owner is a user. Adding what
//! is already there is a 400 like Graph's ("One or more added object references already
//! exist"); what is unknown, or of another tenant, is a 404. A group may not contain itself,
//! directly or through others, and no chain of nested groups may be longer than
//! [`MAX_NESTING`] levels. Owners may add and remove the members of their groups with a
//! delegated token, whatever Group permissions it carries.

use super::{audit, group, party, require_read};
use crate::domain::group::{Group, MAX_NESTING, MemberKind};
use crate::domain::permission::{
    GROUP_MEMBER_READWRITE_ALL, GROUP_READ_ALL, GROUP_READWRITE_ALL, USER_READ_ALL,
};
use crate::domain::user::User;
use crate::services::actor::{Caller, Principal};
use crate::services::{Error, Result, Services};
use crate::store::{Party, StoreError};

/// Graph's words for adding a reference that exists already.
pub const ALREADY_THERE: &str = "One or more added object references already exist for the following modified properties: 'members'.";

/// A directory object a group holds.
#[derive(Debug, Clone)]
pub enum DirectoryObject {
    /// A user.
    User(Box<User>),
    /// A group.
    Group(Group),
}

/// What an `@odata.id` names: an object id, and its kind when the URL said (`…/users/{id}`,
/// `…/groups/{id}`; `…/directoryObjects/{id}` says nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The object id.
    pub id: String,
    /// The kind, when named.
    pub kind: Option<MemberKind>,
}

/// Whether the caller may change the members of `group`: the Group permissions, or a
/// delegated caller who owns it.
async fn may_change_members(services: &Services, caller: &Caller, group: &Group) -> Result<()> {
    if caller.holds(GROUP_MEMBER_READWRITE_ALL) || caller.holds(GROUP_READWRITE_ALL) {
        return Ok(());
    }
    if let Principal::User { user, .. } = &caller.principal {
        let owns = services
            .store
            .is_group_owner(&group.id, &user.id)
            .await
            .map_err(Error::unexpected)?;
        if owns {
            return Ok(());
        }
    }
    Err(Error::forbidden(
        "the caller needs GroupMember.ReadWrite.All or Group.ReadWrite.All, or must own the group",
    ))
}

/// Reading a group's members: the Group read permissions, or its owner.
async fn may_read_members(services: &Services, caller: &Caller, group: &Group) -> Result<()> {
    if require_read(caller).is_ok() {
        return Ok(());
    }
    may_change_members(services, caller, group).await
}

/// A user of the caller's tenant, or 404.
async fn user(services: &Services, caller: &Caller, id: &str) -> Result<Option<User>> {
    match services.store.user_by_id(&caller.tenant.id, id).await {
        Ok(user) => Ok(Some(user)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(Error::unexpected(e)),
    }
}

/// The object a reference names in the caller's tenant.
async fn resolve(
    services: &Services,
    caller: &Caller,
    reference: &Reference,
) -> Result<DirectoryObject> {
    let missing = || {
        Error::not_found(format!(
            "there is no user or group {} in this tenant",
            reference.id
        ))
    };
    if reference.kind != Some(MemberKind::Group)
        && let Some(user) = user(services, caller, &reference.id).await?
    {
        return Ok(DirectoryObject::User(Box::new(user)));
    }
    if reference.kind != Some(MemberKind::User) {
        match services
            .store
            .group_by_id(&caller.tenant.id, &reference.id)
            .await
        {
            Ok(group) => return Ok(DirectoryObject::Group(group)),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(Error::unexpected(e)),
        }
    }
    Err(missing())
}

fn user_party(user: &User) -> Party {
    Party {
        id: user.id.clone(),
        kind: "user".to_owned(),
        display: user.email.clone(),
    }
}

/// Refuses nesting `member` in `group` when it would make a cycle or a chain longer than
/// [`MAX_NESTING`].
async fn check_nesting(services: &Services, group: &Group, member: &Group) -> Result<()> {
    if group.id == member.id {
        return Err(Error::invalid("a group cannot be a member of itself"));
    }
    let above = services
        .store
        .groups_above(&group.id)
        .await
        .map_err(Error::unexpected)?;
    if above.iter().any(|(id, _)| *id == member.id) {
        return Err(Error::invalid(format!(
            "group {} already contains group {} (directly or through other groups): nesting it would make a cycle",
            member.id, group.id
        )));
    }
    let up = above.iter().map(|(_, depth)| *depth).max().unwrap_or(0);
    let down = services
        .store
        .depth_below(&member.id)
        .await
        .map_err(Error::unexpected)?;
    if up + down + 2 > MAX_NESTING as i64 {
        return Err(Error::invalid(format!(
            "groups may be nested at most {MAX_NESTING} levels deep; this would make {} levels",
            up + down + 2
        )));
    }
    Ok(())
}

/// Adds a user or a group to a group; "Add member to group".
pub async fn add_member(
    services: &Services,
    caller: &Caller,
    group_id: &str,
    reference: &Reference,
) -> Result<()> {
    let group = group(services, caller, group_id).await?;
    may_change_members(services, caller, &group).await?;
    let member = resolve(services, caller, reference).await?;
    let (kind, id, target) = match &member {
        DirectoryObject::User(user) => (MemberKind::User, user.id.clone(), user_party(user)),
        DirectoryObject::Group(nested) => {
            check_nesting(services, &group, nested).await?;
            (MemberKind::Group, nested.id.clone(), party(nested))
        }
    };
    match services.store.add_member(&group.id, &id, kind).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(Error::invalid(ALREADY_THERE)),
        Err(e) => return Err(Error::unexpected(e)),
    }
    audit(
        services,
        caller,
        "Add member to group",
        vec![party(&group), target],
        serde_json::Value::Null,
    )
    .await
}

/// Removes a member; "Remove member from group".
pub async fn remove_member(
    services: &Services,
    caller: &Caller,
    group_id: &str,
    member_id: &str,
) -> Result<()> {
    let group = group(services, caller, group_id).await?;
    may_change_members(services, caller, &group).await?;
    match services.store.remove_member(&group.id, member_id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(Error::not_found(format!(
                "{member_id} is not a member of group {group_id}"
            )));
        }
        Err(e) => return Err(Error::unexpected(e)),
    }
    let target = Party {
        id: member_id.to_owned(),
        kind: "directoryObject".to_owned(),
        display: String::new(),
    };
    audit(
        services,
        caller,
        "Remove member from group",
        vec![party(&group), target],
        serde_json::Value::Null,
    )
    .await
}

/// One page of a group's direct members.
pub async fn members(
    services: &Services,
    caller: &Caller,
    group_id: &str,
    (limit, offset): (i64, i64),
) -> Result<Vec<DirectoryObject>> {
    let group = group(services, caller, group_id).await?;
    may_read_members(services, caller, &group).await?;
    let page = services
        .store
        .members(&group.id, limit, offset)
        .await
        .map_err(Error::unexpected)?;
    let mut objects = Vec::with_capacity(page.len());
    for (kind, id) in page {
        let object = resolve(
            services,
            caller,
            &Reference {
                id,
                kind: Some(kind),
            },
        )
        .await;
        // A member deleted meanwhile is left out.
        if let Ok(object) = object {
            objects.push(object);
        }
    }
    Ok(objects)
}

/// Adds an owner (a user of the tenant); "Add owner to group".
pub async fn add_owner(
    services: &Services,
    caller: &Caller,
    group_id: &str,
    reference: &Reference,
) -> Result<()> {
    caller.require(GROUP_READWRITE_ALL)?;
    let group = group(services, caller, group_id).await?;
    if reference.kind == Some(MemberKind::Group) {
        return Err(Error::invalid("an owner must be a user"));
    }
    let owner = user(services, caller, &reference.id)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!("there is no user {} in this tenant", reference.id))
        })?;
    match services.store.add_owner(&group.id, &owner.id).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Error::invalid(
                ALREADY_THERE.replace("'members'", "'owners'"),
            ));
        }
        Err(e) => return Err(Error::unexpected(e)),
    }
    audit(
        services,
        caller,
        "Add owner to group",
        vec![party(&group), user_party(&owner)],
        serde_json::Value::Null,
    )
    .await
}

/// Removes an owner; "Remove owner from group".
pub async fn remove_owner(
    services: &Services,
    caller: &Caller,
    group_id: &str,
    owner_id: &str,
) -> Result<()> {
    caller.require(GROUP_READWRITE_ALL)?;
    let group = group(services, caller, group_id).await?;
    match services.store.remove_owner(&group.id, owner_id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(Error::not_found(format!(
                "{owner_id} is not an owner of group {group_id}"
            )));
        }
        Err(e) => return Err(Error::unexpected(e)),
    }
    let target = Party {
        id: owner_id.to_owned(),
        kind: "user".to_owned(),
        display: String::new(),
    };
    audit(
        services,
        caller,
        "Remove owner from group",
        vec![party(&group), target],
        serde_json::Value::Null,
    )
    .await
}

/// One page of a group's owners.
pub async fn owners(
    services: &Services,
    caller: &Caller,
    group_id: &str,
    (limit, offset): (i64, i64),
) -> Result<Vec<User>> {
    let group = group(services, caller, group_id).await?;
    may_read_members(services, caller, &group).await?;
    let ids = services
        .store
        .owners(&group.id, limit, offset)
        .await
        .map_err(Error::unexpected)?;
    let mut owners = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(owner) = user(services, caller, &id).await? {
            owners.push(owner);
        }
    }
    Ok(owners)
}

/// One page of the groups user `user_id` belongs to: directly, or also through nesting
/// (`transitive`). The user themself may ask; anyone else needs User.Read.All or
/// Group.Read.All.
pub async fn member_of(
    services: &Services,
    caller: &Caller,
    user_id: &str,
    transitive: bool,
    (limit, offset): (i64, i64),
) -> Result<Vec<Group>> {
    if caller.user().is_none_or(|u| u.id != user_id)
        && !caller.holds(USER_READ_ALL)
        && !caller.holds(GROUP_READ_ALL)
    {
        caller.require(GROUP_READWRITE_ALL)?;
    }
    let subject = user(services, caller, user_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("there is no user {user_id}")))?;
    let store = &services.store;
    let groups = if transitive {
        store.transitive_member_of(&subject.id, limit, offset).await
    } else {
        store.member_of(&subject.id, limit, offset).await
    };
    groups.map_err(Error::unexpected)
}
