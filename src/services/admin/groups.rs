//! Creating groups.

use super::{AdminError, bounded_text, tenant_by_slug, user_by_email};
use crate::domain::group::Group;
use crate::domain::unix_now;
use crate::store::Store;

/// Input for a new group.
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    /// Tenant slug.
    pub tenant: String,
    /// Display name.
    pub name: String,
    /// E-mail addresses of the owners.
    pub owners: Vec<String>,
    /// E-mail addresses of the members.
    pub members: Vec<String>,
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
        created_at: unix_now(),
    };
    store
        .create_group(&group, &owners, &members)
        .await
        .map_err(AdminError::Store)?;
    Ok(group)
}
