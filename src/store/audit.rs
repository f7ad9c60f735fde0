//! The audit log: append-only records of administrative actions and the invitation
//! lifecycle (B2B-REFERENCE.md B.8).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use super::sql::{for_sql_backends, from_json};

/// Who or what an audit event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Object id.
    pub id: String,
    /// `user`, `app`, `invitation`, `group`, `system`.
    pub kind: String,
    /// Display name.
    pub display: String,
}

/// One audit event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// When it happened.
    pub occurred_at: i64,
    /// Category (`UserManagement`, `Other`, …).
    pub category: String,
    /// Activity, in Entra's words ("Invite external user", …).
    pub activity: String,
    /// `success` or `failure`.
    pub result: String,
    /// Who did it.
    pub initiated_by: Party,
    /// What it was done to.
    pub targets: Vec<Party>,
    /// Anything else worth keeping (never secrets).
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// A successful event happening now.
    pub fn new(
        tenant_id: &str,
        category: &str,
        activity: &str,
        initiated_by: Party,
        targets: Vec<Party>,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant_id.to_owned(),
            occurred_at: crate::domain::unix_now(),
            category: category.to_owned(),
            activity: activity.to_owned(),
            result: "success".to_owned(),
            initiated_by,
            targets,
            details: serde_json::Value::Null,
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    tenant_id: String,
    occurred_at: i64,
    category: String,
    activity: String,
    result: String,
    initiated_by: String,
    targets: String,
    details: String,
}

/// Storage of audit events.
#[async_trait]
pub trait AuditStore {
    /// Appends an event.
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// The tenant's events, newest first.
    async fn list_audit(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<AuditEvent>>;
}

/// Inserts an audit event (shared with stores that record one inside their transaction).
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_events (id, tenant_id, occurred_at, \
     category, activity, result, initiated_by, targets, details) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Binds an [`AuditEvent`] to [`INSERT_AUDIT`].
macro_rules! bind_audit {
    ($query:expr, $event:expr) => {{
        let event = $event;
        $query
            .bind(event.id.as_str())
            .bind(event.tenant_id.as_str())
            .bind(event.occurred_at)
            .bind(event.category.as_str())
            .bind(event.activity.as_str())
            .bind(event.result.as_str())
            .bind($crate::store::sql::to_json(&event.initiated_by)?)
            .bind($crate::store::sql::to_json(&event.targets)?)
            .bind($crate::store::sql::to_json(&event.details)?)
    }};
}
pub(crate) use bind_audit;

for_sql_backends! {
    impl AuditStore {
        async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), event).execute(&self.pool).await?;
            Ok(())
        }

        async fn list_audit(&self, tenant_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<AuditEvent>> {
            let rows = sqlx::query_as::<DB, AuditRow>(
                "SELECT id, tenant_id, occurred_at, category, activity, result, initiated_by, targets, \
                 details FROM audit_events WHERE tenant_id = $1 ORDER BY occurred_at DESC, id \
                 LIMIT $2 OFFSET $3",
            )
            .bind(tenant_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(AuditEvent {
                        initiated_by: from_json(&r.initiated_by)?,
                        targets: from_json(&r.targets)?,
                        details: from_json(&r.details)?,
                        id: r.id,
                        tenant_id: r.tenant_id,
                        occurred_at: r.occurred_at,
                        category: r.category,
                        activity: r.activity,
                        result: r.result,
                    })
                })
                .collect()
        }
    }
}
