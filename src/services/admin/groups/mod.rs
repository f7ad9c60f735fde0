//! Groups: creating them (the CLI's seeding form, by e-mail addresses), and the Graph-shaped
//! operations a [`Caller`] performs — list, read, create, change, delete — each audited with
//! Entra's activity names ("Add group", "Update group", "Delete group"). Members and owners
//! are in [`members`].
//!
//! Rights: `Group.Read.All` (or `Group.ReadWrite.All`) to read, `Group.ReadWrite.All` to
//! create, change or delete; members need `GroupMember.ReadWrite.All` or
//! `Group.ReadWrite.All`, or a delegated caller who owns the group.

pub mod members;

use super::{AdminError, bounded_text, tenant_by_slug, user_by_email};
use crate::domain::group::Group;
use crate::domain::permission::{GROUP_READ_ALL, GROUP_READWRITE_ALL};
use crate::domain::unix_now;
use crate::services::actor::Caller;
use crate::services::{Error, Result, Services};
use crate::store::{AuditEvent, Party, Store, StoreError};

/// Input for a new group (the CLI's form: owners and members by e-mail address).
#[derive(Debug, Clone)]
pub struct GroupInput {
    /// Tenant slug.
    pub tenant: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Whether it is a security group.
    pub security_enabled: bool,
    /// E-mail addresses of the owners.
    pub owners: Vec<String>,
    /// E-mail addresses of the members.
    pub members: Vec<String>,
}

impl Default for GroupInput {
    fn default() -> Self {
        Self {
            tenant: String::new(),
            name: String::new(),
            description: None,
            security_enabled: true,
            owners: Vec::new(),
            members: Vec::new(),
        }
    }
}

/// Creates a group with its owners and members.
pub async fn create_group(store: &dyn Store, input: GroupInput) -> Result<Group, AdminError> {
    let tenant = tenant_by_slug(store, &input.tenant).await?;
    let mut owners = Vec::new();
    for email in &input.owners {
        owners.push(user_by_email(store, &tenant, email).await?.id);
    }
    let mut members = Vec::new();
    for email in &input.members {
        members.push(user_by_email(store, &tenant, email).await?.id);
    }
    let group = Group {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id,
        display_name: bounded_text("name", &input.name, 256)?,
        description: description(input.description.as_deref())?,
        security_enabled: input.security_enabled,
        created_at: unix_now(),
    };
    store
        .create_group(&group, &owners, &members)
        .await
        .map_err(AdminError::Store)?;
    Ok(group)
}

/// A description: trimmed, at most 1024 characters; empty is none.
fn description(value: Option<&str>) -> Result<Option<String>, crate::domain::Invalid> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => bounded_text("description", text, 1024).map(Some),
    }
}

/// The changes of a `PATCH /groups/{id}`: what is `Some` changes.
#[derive(Debug, Clone, Default)]
pub struct GroupChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New kind.
    pub security_enabled: Option<bool>,
}

/// Refuses a caller who may not read groups.
pub(crate) fn require_read(caller: &Caller) -> Result<()> {
    if caller.holds(GROUP_READ_ALL) {
        return Ok(());
    }
    caller.require(GROUP_READWRITE_ALL)
}

/// The group `id` of the caller's tenant (404 when there is none).
pub(crate) async fn group(services: &Services, caller: &Caller, id: &str) -> Result<Group> {
    match services.store.group_by_id(&caller.tenant.id, id).await {
        Ok(group) => Ok(group),
        Err(StoreError::NotFound) => Err(Error::not_found(format!("there is no group {id}"))),
        Err(e) => Err(Error::unexpected(e)),
    }
}

/// The group as an audit party.
pub(crate) fn party(group: &Group) -> Party {
    Party {
        id: group.id.clone(),
        kind: "group".to_owned(),
        display: group.display_name.clone(),
    }
}

/// Records an audit event of the group-management category.
pub(crate) async fn audit(
    services: &Services,
    caller: &Caller,
    activity: &str,
    targets: Vec<Party>,
    details: serde_json::Value,
) -> Result<()> {
    let event = AuditEvent::new(
        &caller.tenant.id,
        "GroupManagement",
        activity,
        caller.party(),
        targets,
    )
    .with_details(details);
    services
        .store
        .record_audit(&event)
        .await
        .map_err(Error::unexpected)
}

/// One page of the tenant's groups (`limit` from `offset`).
pub async fn list(
    services: &Services,
    caller: &Caller,
    limit: i64,
    offset: i64,
) -> Result<Vec<Group>> {
    require_read(caller)?;
    services
        .store
        .list_groups(&caller.tenant.id, limit, offset)
        .await
        .map_err(Error::unexpected)
}

/// The group `id`.
pub async fn get(services: &Services, caller: &Caller, id: &str) -> Result<Group> {
    require_read(caller)?;
    group(services, caller, id).await
}

/// Creates a group (no members or owners yet); "Add group".
pub async fn create(services: &Services, caller: &Caller, changes: GroupChanges) -> Result<Group> {
    caller.require(GROUP_READWRITE_ALL)?;
    let name = changes
        .display_name
        .ok_or_else(|| Error::invalid("displayName is required"))?;
    let group = Group {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: caller.tenant.id.clone(),
        display_name: bounded_text("displayName", &name, 256)?,
        description: description(changes.description.flatten().as_deref())?,
        security_enabled: changes.security_enabled.unwrap_or(true),
        created_at: unix_now(),
    };
    services
        .store
        .create_group(&group, &[], &[])
        .await
        .map_err(Error::unexpected)?;
    let details = serde_json::json!({ "displayName": group.display_name, "securityEnabled": group.security_enabled });
    audit(services, caller, "Add group", vec![party(&group)], details).await?;
    tracing::info!(tenant = %caller.tenant.slug, group = %group.id, "group created");
    Ok(group)
}

/// Changes a group's name, description or kind; "Update group".
pub async fn update(
    services: &Services,
    caller: &Caller,
    id: &str,
    changes: GroupChanges,
) -> Result<Group> {
    caller.require(GROUP_READWRITE_ALL)?;
    let mut group = group(services, caller, id).await?;
    let mut modified = Vec::new();
    if let Some(name) = changes.display_name {
        group.display_name = bounded_text("displayName", &name, 256)?;
        modified.push("displayName");
    }
    if let Some(text) = changes.description {
        group.description = description(text.as_deref())?;
        modified.push("description");
    }
    if let Some(security) = changes.security_enabled {
        group.security_enabled = security;
        modified.push("securityEnabled");
    }
    match services.store.update_group(&group).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(Error::not_found(format!("there is no group {id}")));
        }
        Err(e) => return Err(Error::unexpected(e)),
    }
    let details = serde_json::json!({ "modifiedProperties": modified });
    audit(
        services,
        caller,
        "Update group",
        vec![party(&group)],
        details,
    )
    .await?;
    Ok(group)
}

/// Deletes a group (its memberships, owners and app assignments go with it); "Delete group".
pub async fn delete(services: &Services, caller: &Caller, id: &str) -> Result<()> {
    caller.require(GROUP_READWRITE_ALL)?;
    let group = group(services, caller, id).await?;
    match services.store.delete_group(&caller.tenant.id, id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(Error::not_found(format!("there is no group {id}")));
        }
        Err(e) => return Err(Error::unexpected(e)),
    }
    audit(
        services,
        caller,
        "Delete group",
        vec![party(&group)],
        serde_json::Value::Null,
    )
    .await?;
    tracing::info!(tenant = %caller.tenant.slug, group = %group.id, "group deleted");
    Ok(())
}
