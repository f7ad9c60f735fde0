//! Groups (members, owners). App-role assignments are in [`super::assignments`].

use async_trait::async_trait;

use super::StoreResult;
use super::sql::for_sql_backends;
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
    /// Adds members to a group (already present ones are kept).
    async fn add_group_members(&self, group_id: &str, user_ids: &[String]) -> StoreResult<()>;
    /// The ids of the groups a user belongs to.
    async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// Whether a user owns a group.
    async fn is_group_owner(&self, group_id: &str, user_id: &str) -> StoreResult<bool>;
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    tenant_id: String,
    display_name: String,
    created_at: i64,
}

const ADD_MEMBER: &str = "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
     ON CONFLICT (group_id, user_id) DO NOTHING";

for_sql_backends! {
    impl GroupStore {
        async fn create_group(&self, group: &Group, owners: &[String], members: &[String]) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "INSERT INTO groups (id, tenant_id, display_name, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(group.id.as_str())
            .bind(group.tenant_id.as_str())
            .bind(group.display_name.as_str())
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
            let row = sqlx::query_as::<DB, GroupRow>(
                "SELECT id, tenant_id, display_name, created_at FROM groups WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            Ok(Group {
                id: row.id,
                tenant_id: row.tenant_id,
                display_name: row.display_name,
                created_at: row.created_at,
            })
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
