//! What groups hold and who owns them: user members (`group_members`), group members (nesting,
//! `group_nesting`), owners (`group_owners`), and a user's groups, direct and transitive.
//!
//! Transitive membership is one recursive query (SQLite and Postgres alike) that climbs at most
//! [`crate::domain::group::MAX_NESTING`] levels, so a cycle or an over-deep chain that slipped past the checks of
//! `services::admin::groups` still ends. Nothing here is cached: the next token sees a change.

use async_trait::async_trait;

use super::StoreResult;
use super::groups::{GroupRow, group_columns};
use super::sql::{RowsAffected, for_sql_backends};
use crate::domain::group::{Group, GroupKind, MemberKind};

/// Storage of group membership and ownership.
#[async_trait]
pub trait MembershipStore {
    /// Adds a user or a group as a direct member; one already there gives
    /// [`super::StoreError::Conflict`].
    async fn add_member(
        &self,
        group_id: &str,
        member_id: &str,
        kind: MemberKind,
    ) -> StoreResult<()>;
    /// Removes a direct member (user or group); [`super::StoreError::NotFound`] when it was not
    /// one.
    async fn remove_member(&self, group_id: &str, member_id: &str) -> StoreResult<()>;
    /// The direct members of a group, users and groups, ordered by display name.
    async fn members(
        &self,
        group_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<(MemberKind, String)>>;
    /// Adds an owner (a user); one already there gives [`super::StoreError::Conflict`].
    async fn add_owner(&self, group_id: &str, user_id: &str) -> StoreResult<()>;
    /// Removes an owner; [`super::StoreError::NotFound`] when it was not one.
    async fn remove_owner(&self, group_id: &str, user_id: &str) -> StoreResult<()>;
    /// The ids of a group's owners, ordered by display name.
    async fn owners(&self, group_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<String>>;
    /// The groups a user is a direct member of, ordered by display name.
    async fn member_of(&self, user_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<Group>>;
    /// The groups a user belongs to directly or through nesting, ordered by display name.
    async fn transitive_member_of(
        &self,
        user_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Group>>;
    /// Every group a user belongs to directly or through nesting, with its kind, by id.
    async fn transitive_groups(&self, user_id: &str) -> StoreResult<Vec<GroupKind>>;
    /// The groups that hold `group_id` directly or through nesting, each with the longest
    /// chain to it (1: a direct parent); climbs one level past [`crate::domain::group::MAX_NESTING`], no further.
    async fn groups_above(&self, group_id: &str) -> StoreResult<Vec<(String, i64)>>;
    /// The longest chain of groups nested inside `group_id` (0: none); counts one level past
    /// [`crate::domain::group::MAX_NESTING`], no further.
    async fn depth_below(&self, group_id: &str) -> StoreResult<i64>;
}

/// The groups a user (`$1`) belongs to with the level they are reached at: direct ones are 1,
/// each level of nesting one more, up to [`crate::domain::group::MAX_NESTING`] (the number in the text; a unit test
/// keeps them equal).
macro_rules! reach {
    () => {
        "WITH RECURSIVE reach (id, depth) AS ( \
         SELECT group_id, 1 FROM group_members WHERE user_id = $1 \
         UNION SELECT n.group_id, r.depth + 1 FROM group_nesting n \
         JOIN reach r ON n.member_id = r.id WHERE r.depth < 8) "
    };
}

/// The groups above a group (`$1`), one level past the limit so an over-deep chain shows.
const ABOVE: &str = "WITH RECURSIVE up (id, depth) AS ( \
     SELECT group_id, 1 FROM group_nesting WHERE member_id = $1 \
     UNION SELECT n.group_id, u.depth + 1 FROM group_nesting n \
     JOIN up u ON n.member_id = u.id WHERE u.depth < 9) \
     SELECT id, CAST(MAX(depth) AS BIGINT) FROM up GROUP BY id ORDER BY id";

/// The deepest chain below a group (`$1`), one level past the limit.
const BELOW: &str = "WITH RECURSIVE down (id, depth) AS ( \
     SELECT member_id, 1 FROM group_nesting WHERE group_id = $1 \
     UNION SELECT n.member_id, d.depth + 1 FROM group_nesting n \
     JOIN down d ON n.group_id = d.id WHERE d.depth < 9) \
     SELECT CAST(COALESCE(MAX(depth), 0) AS BIGINT) FROM down";

const MEMBERS: &str = "SELECT kind, id FROM ( \
     SELECT 'user' AS kind, u.id AS id, u.display_name AS name FROM group_members m \
     JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 \
     UNION ALL SELECT 'group' AS kind, g.id AS id, g.display_name AS name FROM group_nesting n \
     JOIN groups g ON g.id = n.member_id WHERE n.group_id = $1) AS everyone \
     ORDER BY name, id LIMIT $2 OFFSET $3";

#[derive(sqlx::FromRow)]
struct KindRow {
    id: String,
    security_enabled: bool,
}

for_sql_backends! {
    impl MembershipStore {
        async fn add_member(&self, group_id: &str, member_id: &str, kind: MemberKind)
        -> StoreResult<()> {
            let sql = match kind {
                MemberKind::User => "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)",
                MemberKind::Group => "INSERT INTO group_nesting (group_id, member_id) VALUES ($1, $2)",
            };
            sqlx::query::<DB>(sql)
                .bind(group_id)
                .bind(member_id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn remove_member(&self, group_id: &str, member_id: &str) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            let users = sqlx::query::<DB>("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id)
                .bind(member_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let groups = sqlx::query::<DB>("DELETE FROM group_nesting WHERE group_id = $1 AND member_id = $2")
                .bind(group_id)
                .bind(member_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if users + groups == 0 {
                return Err(super::StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(())
        }

        async fn members(&self, group_id: &str, limit: i64, offset: i64)
        -> StoreResult<Vec<(MemberKind, String)>> {
            let rows = sqlx::query_as::<DB, (String, String)>(MEMBERS)
                .bind(group_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(kind, id)| {
                    let kind = if kind == "group" { MemberKind::Group } else { MemberKind::User };
                    (kind, id)
                })
                .collect())
        }

        async fn add_owner(&self, group_id: &str, user_id: &str) -> StoreResult<()> {
            sqlx::query::<DB>("INSERT INTO group_owners (group_id, user_id) VALUES ($1, $2)")
                .bind(group_id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn remove_owner(&self, group_id: &str, user_id: &str) -> StoreResult<()> {
            let done = sqlx::query::<DB>("DELETE FROM group_owners WHERE group_id = $1 AND user_id = $2")
                .bind(group_id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(super::StoreError::NotFound);
            }
            Ok(())
        }

        async fn owners(&self, group_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<String>> {
            Ok(sqlx::query_scalar::<DB, String>(
                "SELECT u.id FROM group_owners o JOIN users u ON u.id = o.user_id \
                 WHERE o.group_id = $1 ORDER BY u.display_name, u.id LIMIT $2 OFFSET $3",
            )
            .bind(group_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn member_of(&self, user_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<Group>> {
            let rows = sqlx::query_as::<DB, GroupRow>(concat!(
                "SELECT ", group_columns!(), " FROM groups g JOIN group_members m ON m.group_id = g.id \
                 WHERE m.user_id = $1 ORDER BY g.display_name, g.id LIMIT $2 OFFSET $3"
            ))
            .bind(user_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(GroupRow::into_group).collect())
        }

        async fn transitive_member_of(&self, user_id: &str, limit: i64, offset: i64)
        -> StoreResult<Vec<Group>> {
            let rows = sqlx::query_as::<DB, GroupRow>(concat!(
                reach!(), "SELECT ", group_columns!(), " FROM groups g \
                 WHERE g.id IN (SELECT id FROM reach) ORDER BY g.display_name, g.id LIMIT $2 OFFSET $3"
            ))
            .bind(user_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(GroupRow::into_group).collect())
        }

        async fn transitive_groups(&self, user_id: &str) -> StoreResult<Vec<GroupKind>> {
            let rows = sqlx::query_as::<DB, KindRow>(concat!(
                reach!(), "SELECT g.id, g.security_enabled FROM groups g \
                 WHERE g.id IN (SELECT id FROM reach) ORDER BY g.id"
            ))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| GroupKind { id: r.id, security_enabled: r.security_enabled })
                .collect())
        }

        async fn groups_above(&self, group_id: &str) -> StoreResult<Vec<(String, i64)>> {
            Ok(sqlx::query_as::<DB, (String, i64)>(ABOVE)
                .bind(group_id)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn depth_below(&self, group_id: &str) -> StoreResult<i64> {
            Ok(sqlx::query_scalar::<DB, i64>(BELOW)
                .bind(group_id)
                .fetch_one(&self.pool)
                .await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::group::MAX_NESTING;

    #[test]
    fn the_queries_climb_as_far_as_the_nesting_limit() {
        assert!(reach!().contains(&format!("depth < {MAX_NESTING})")));
        assert!(ABOVE.contains(&format!("depth < {})", MAX_NESTING + 1)));
        assert!(BELOW.contains(&format!("depth < {})", MAX_NESTING + 1)));
    }
}
