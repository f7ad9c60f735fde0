//! `/{tenant}/v1.0/auditLogs/directoryAudits` (also at `/auditLogs`): the audit log.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::auth::authenticate;
use super::{ApiError, Paging, date_time};
use crate::domain::permission::AUDITLOG_READ_ALL;
use crate::services::AppState;
use crate::web::error::AppError;

/// `GET …/auditLogs/directoryAudits`, newest first.
#[utoipa::path(get, path = "/{tenant}/v1.0/auditLogs/directoryAudits", tag = "auditLogs",
    params(("tenant" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [..], @odata.nextLink while more exist }: [directoryAudit] }, newest first")), security(("bearer" = [])))]
pub async fn list_directory_audits(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller.require(AUDITLOG_READ_ALL).map_err(ApiError::from)?;
    let (limit, offset) = paging.window()?;
    let events = state
        .store
        .list_audit(&caller.tenant.id, limit + 1, offset)
        .await?;
    Ok(super::page(
        &state,
        &uri,
        (limit, offset),
        events
            .into_iter()
            .map(|e| {
                json!({
                    "id": e.id,
                    "activityDateTime": date_time(e.occurred_at),
                    "category": e.category,
                    "activityDisplayName": e.activity,
                    "result": e.result,
                    "initiatedBy": e.initiated_by,
                    "targetResources": e.targets,
                    "additionalDetails": e.details,
                })
            })
            .collect(),
    ))
}
