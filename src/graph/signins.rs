//! `/{tenant}/v1.0/auditLogs/signIns`: the sign-in log, newest first, in Graph's `signIn`
//! shape with each conditional-access policy's result. Needs `AuditLog.Read.All`.
//! `$filter` takes `userId eq '…'`, `appId eq '…'` and `status eq 'success|failure|interrupted'`,
//! joined by `and`.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::auth::authenticate;
use super::{ApiError, Paging};
use crate::domain::permission::AUDITLOG_READ_ALL;
use crate::services::AppState;
use crate::store::SignInFilter;
use crate::web::error::AppError;

/// Parses the supported `$filter` clauses.
fn parse_filter(filter: &str) -> Result<SignInFilter, ApiError> {
    let unsupported = || {
        ApiError::bad_request(
            "supported filters: userId eq '<id>', appId eq '<id>', status eq '<success|failure|interrupted>', joined by and",
        )
    };
    let mut parsed = SignInFilter::default();
    for clause in filter.split(" and ") {
        let mut parts = clause.trim().splitn(3, ' ');
        let (Some(field), Some("eq"), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(unsupported());
        };
        let value = value
            .trim()
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .filter(|v| !v.contains('\'') && v.len() <= 128)
            .ok_or_else(unsupported)?
            .to_owned();
        match field {
            "userId" => parsed.user_id = Some(value),
            "appId" => parsed.app_id = Some(value),
            "status" if ["success", "failure", "interrupted"].contains(&value.as_str()) => {
                parsed.status = Some(value)
            }
            _ => return Err(unsupported()),
        }
    }
    Ok(parsed)
}

/// `GET …/auditLogs/signIns`.
#[utoipa::path(get, path = "/{tenant}/v1.0/auditLogs/signIns", tag = "auditLogs",
    params(("tenant" = String, Path), ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged"),
    ("$filter" = Option<String>, Query, description = "userId eq '…', appId eq '…', status eq 'success|failure|interrupted', joined by and")),
    responses((status = 200, description = "{ value: [..], @odata.nextLink while more exist }: [signIn] }, newest first, with appliedConditionalAccessPolicies")),
    security(("bearer" = [])))]
pub async fn list_sign_ins(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let caller = authenticate(&state, tenant, &headers).await?;
    caller.require(AUDITLOG_READ_ALL).map_err(ApiError::from)?;
    let filter = match paging.filter.as_deref().map(str::trim) {
        None | Some("") => SignInFilter::default(),
        Some(filter) => parse_filter(filter)?,
    };
    let (limit, offset) = paging.window()?;
    let sign_ins =
        crate::services::access::sign_ins(&state, &caller.tenant.id, &filter, limit + 1, offset)
            .await?;
    Ok(super::page(
        &state,
        &uri,
        (limit, offset),
        sign_ins.into_iter().map(|s| s.details).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_anything_else_is_refused() {
        let f = parse_filter("userId eq 'u1' and status eq 'failure'").unwrap();
        assert_eq!(f.user_id.as_deref(), Some("u1"));
        assert_eq!(f.status.as_deref(), Some("failure"));
        assert!(parse_filter("appId eq 'a' or userId eq 'b'").is_err());
        assert!(parse_filter("status eq 'maybe'").is_err());
        assert!(parse_filter("userId eq u1").is_err());
        assert!(parse_filter("userId eq 'x'' or 1=1 --'").is_err());
    }
}
