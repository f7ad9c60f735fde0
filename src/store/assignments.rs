//! App-role assignments (Graph `appRoleAssignment`): a user, a group or another app holds a
//! role of an app (the nil role id is default access). A deleted user, group or app takes its
//! assignments with it (triggers of migration 0014), so no query here needs to filter them.

use async_trait::async_trait;

use super::StoreResult;
use super::sql::{ROWS_PER_STATEMENT, RowsAffected, cacheable, for_sql_backends, placeholder_list};

/// A new assignment.
#[derive(Debug, Clone)]
pub struct NewAssignment<'a> {
    /// Assignment id.
    pub id: &'a str,
    /// Tenant.
    pub tenant_id: &'a str,
    /// The app (resource) whose role is given, by object id.
    pub app_id: &'a str,
    /// Who holds it.
    pub principal_id: &'a str,
    /// `User`, `Group` or `ServicePrincipal`.
    pub principal_type: &'a str,
    /// The role (the nil UUID for default access).
    pub app_role_id: &'a str,
    /// Creation time.
    pub created_at: i64,
}

/// An assignment as stored, with the names Graph shows beside it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppRoleAssignment {
    /// Assignment id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The app (resource), by object id.
    pub app_id: String,
    /// Who holds it.
    pub principal_id: String,
    /// `User`, `Group` or `ServicePrincipal`.
    pub principal_type: String,
    /// The role (the nil UUID for default access).
    pub app_role_id: String,
    /// Creation time.
    pub created_at: i64,
    /// The principal's display name.
    pub principal_name: Option<String>,
    /// The app's display name.
    pub resource_name: String,
}

/// Storage of app-role assignments.
#[async_trait]
pub trait AssignmentStore {
    /// Adds an assignment; [`super::StoreError::Conflict`] when the principal already holds
    /// that role of that app.
    async fn add_assignment(&self, new: &NewAssignment<'_>) -> StoreResult<()>;
    /// An assignment of a tenant.
    async fn assignment(&self, tenant_id: &str, id: &str) -> StoreResult<AppRoleAssignment>;
    /// Deletes an assignment; [`super::StoreError::NotFound`] when there was none.
    async fn delete_assignment(&self, tenant_id: &str, id: &str) -> StoreResult<()>;
    /// The assignments a principal holds (to any app), oldest first.
    async fn assignments_of_principal(
        &self,
        tenant_id: &str,
        principal_id: &str,
    ) -> StoreResult<Vec<AppRoleAssignment>>;
    /// The assignments to an app, oldest first.
    async fn assignments_to_app(&self, app_id: &str) -> StoreResult<Vec<AppRoleAssignment>>;
    /// Removes every assignment of an app to a principal; [`super::StoreError::NotFound`]
    /// when there was none.
    async fn unassign_app(&self, app_id: &str, principal_id: &str) -> StoreResult<()>;
    /// The ids of the apps assigned (any role) to any of `principal_ids` (a user and its
    /// groups).
    async fn assigned_apps(&self, principal_ids: &[String]) -> StoreResult<Vec<String>>;
}

/// The columns of [`AppRoleAssignment`], over `a` (assignments) joined to `r` (the app).
const SELECT: &str = "SELECT a.id, a.tenant_id, a.app_id, a.principal_id, a.principal_type, \
     a.app_role_id, a.created_at, COALESCE(u.display_name, g.display_name, p.name) AS principal_name, \
     r.name AS resource_name \
     FROM app_role_assignments a JOIN apps r ON r.id = a.app_id \
     LEFT JOIN users u ON a.principal_type = 'User' AND u.id = a.principal_id \
     LEFT JOIN groups g ON a.principal_type = 'Group' AND g.id = a.principal_id \
     LEFT JOIN apps p ON a.principal_type = 'ServicePrincipal' AND p.id = a.principal_id";

for_sql_backends! {
    impl AssignmentStore {
        async fn add_assignment(&self, new: &NewAssignment<'_>) -> StoreResult<()> {
            sqlx::query::<DB>(
                "INSERT INTO app_role_assignments (id, tenant_id, app_id, principal_id, principal_type, \
                 app_role_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(new.id)
            .bind(new.tenant_id)
            .bind(new.app_id)
            .bind(new.principal_id)
            .bind(new.principal_type)
            .bind(new.app_role_id)
            .bind(new.created_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn assignment(&self, tenant_id: &str, id: &str) -> StoreResult<AppRoleAssignment> {
            Ok(sqlx::query_as::<DB, AppRoleAssignment>(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE a.tenant_id = $1 AND a.id = $2"
            )))
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&self.pool)
            .await?)
        }

        async fn delete_assignment(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
            let done = sqlx::query::<DB>(
                "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(super::StoreError::NotFound);
            }
            Ok(())
        }

        async fn assignments_of_principal(&self, tenant_id: &str, principal_id: &str)
        -> StoreResult<Vec<AppRoleAssignment>> {
            Ok(sqlx::query_as::<DB, AppRoleAssignment>(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE a.tenant_id = $1 AND a.principal_id = $2 ORDER BY a.created_at, a.id"
            )))
            .bind(tenant_id)
            .bind(principal_id)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn assignments_to_app(&self, app_id: &str) -> StoreResult<Vec<AppRoleAssignment>> {
            Ok(sqlx::query_as::<DB, AppRoleAssignment>(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE a.app_id = $1 ORDER BY a.created_at, a.id"
            )))
            .bind(app_id)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn unassign_app(&self, app_id: &str, principal_id: &str) -> StoreResult<()> {
            let done = sqlx::query::<DB>(
                "DELETE FROM app_role_assignments WHERE app_id = $1 AND principal_id = $2",
            )
            .bind(app_id)
            .bind(principal_id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(super::StoreError::NotFound);
            }
            Ok(())
        }

        async fn assigned_apps(&self, principal_ids: &[String]) -> StoreResult<Vec<String>> {
            let mut apps = Vec::new();
            for chunk in principal_ids.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "SELECT DISTINCT app_id FROM app_role_assignments WHERE principal_id IN ({})",
                    placeholder_list(1, chunk.len())
                );
                let mut query = sqlx::query_scalar::<DB, String>(sqlx::AssertSqlSafe(sql))
                    .persistent(cacheable(chunk.len()));
                for principal in chunk {
                    query = query.bind(principal.as_str());
                }
                apps.extend(query.fetch_all(&self.pool).await?);
            }
            apps.sort();
            apps.dedup();
            Ok(apps)
        }
    }
}
