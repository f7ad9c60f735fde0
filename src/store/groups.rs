//! Groups (their own properties; members, owners and nesting are in [`super::memberships`],
//! app-role assignments in [`super::assignments`]).

use async_trait::async_trait;

use super::StoreResult;
use super::sql::{RowsAffected, for_sql_backends};
use crate::domain::group::Group;

/// Storage of groups.
#[async_trait]
pub trait GroupStore {
    /// Creates a group with its owners and members.
    async fn create_group(
        &self,
        group: &Group,
        owners: &[String],
        members: &[String],
    ) -> StoreResult<()>;
    /// A group of a tenant.
    async fn group_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<Group>;
    /// The groups of a tenant, ordered by display name.
    async fn list_groups(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Group>>;
    /// Writes a group's name, description and kind as `group` holds them.
    async fn update_group(&self, group: &Group) -> StoreResult<()>;
    /// Deletes a group: its memberships (as a group and in groups), owners and app assignments
    /// go with it.
    async fn delete_group(&self, tenant_id: &str, id: &str) -> StoreResult<()>;
    /// Adds members to a group (already present ones are kept).
    async fn add_group_members(&self, group_id: &str, user_ids: &[String]) -> StoreResult<()>;
    /// The ids of the groups a user belongs to.
    async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// Whether a user owns a group.
    async fn is_group_owner(&self, group_id: &str, user_id: &str) -> StoreResult<bool>;
}

/// A group's row.
#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    id: String,
    tenant_id: String,
    display_name: String,
    description: Option<String>,
    security_enabled: bool,
    created_at: i64,
}

impl GroupRow {
    /// The group the row holds.
    pub(crate) fn into_group(self) -> Group {
        Group {
            id: self.id,
            tenant_id: self.tenant_id,
            display_name: self.display_name,
            description: self.description,
            security_enabled: self.security_enabled,
            created_at: self.created_at,
        }
    }
}

/// The columns of a group, in [`GroupRow`] order (`g` is the table's alias).
macro_rules! group_columns {
    () => {
        "g.id, g.tenant_id, g.display_name, g.description, g.security_enabled, g.created_at"
    };
}
pub(crate) use group_columns;

const ADD_MEMBER: &str = "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
     ON CONFLICT (group_id, user_id) DO NOTHING";

for_sql_backends! {
    impl GroupStore {
        async fn create_group(&self, group: &Group, owners: &[String], members: &[String]) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "INSERT INTO groups (id, tenant_id, display_name, description, security_enabled, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(group.id.as_str())
            .bind(group.tenant_id.as_str())
            .bind(group.display_name.as_str())
            .bind(group.description.as_deref())
            .bind(group.security_enabled)
            .bind(group.created_at)
            .execute(&mut *tx)
            .await?;
            for owner in owners {
                sqlx::query::<DB>("INSERT INTO group_owners (group_id, user_id) VALUES ($1, $2)")
                    .bind(group.id.as_str())
                    .bind(owner.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            for member in members {
                sqlx::query::<DB>(ADD_MEMBER)
                    .bind(group.id.as_str())
                    .bind(member.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn group_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<Group> {
            let row = sqlx::query_as::<DB, GroupRow>(concat!(
                "SELECT ", group_columns!(), " FROM groups g WHERE g.tenant_id = $1 AND g.id = $2"
            ))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
            Ok(row.into_group())
        }

        async fn list_groups(&self, tenant_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<Group>> {
            let rows = sqlx::query_as::<DB, GroupRow>(concat!(
                "SELECT ", group_columns!(), " FROM groups g WHERE g.tenant_id = $1 \
                 ORDER BY g.display_name, g.id LIMIT $2 OFFSET $3"
            ))
                .bind(tenant_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.into_iter().map(GroupRow::into_group).collect())
        }

        async fn update_group(&self, group: &Group) -> StoreResult<()> {
            let done = sqlx::query::<DB>(
                "UPDATE groups SET display_name = $1, description = $2, security_enabled = $3 \
                 WHERE tenant_id = $4 AND id = $5",
            )
            .bind(group.display_name.as_str())
            .bind(group.description.as_deref())
            .bind(group.security_enabled)
            .bind(group.tenant_id.as_str())
            .bind(group.id.as_str())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(super::StoreError::NotFound);
            }
            Ok(())
        }

        async fn delete_group(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>("DELETE FROM groups WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(super::StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(())
        }

        async fn add_group_members(&self, group_id: &str, user_ids: &[String]) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            for user_id in user_ids {
                sqlx::query::<DB>(ADD_MEMBER)
                    .bind(group_id)
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
            Ok(sqlx::query_scalar::<DB, String>(
                "SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn is_group_owner(&self, group_id: &str, user_id: &str) -> StoreResult<bool> {
            let count = sqlx::query_scalar::<DB, i64>(
                "SELECT COUNT(*) FROM group_owners WHERE group_id = $1 AND user_id = $2",
            )
            .bind(group_id)
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
            Ok(count > 0)
        }
    }
}
