//! `/{tenant}/v1.0/invitations`: create (Graph's `POST /invitations`), list and filter by
//! status, read, resend, revoke, and bulk upload.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::auth::{Caller, authenticate};
use super::{ApiError, Paging, date_time, entity, read_json};
use crate::domain::invitation::{Invitation, InvitationStatus};
use crate::domain::permission::USER_INVITE_ALL;
use crate::domain::unix_now;
use crate::services::AppState;
use crate::services::invitations::bulk::{self, CSV_HEADER, Format};
use crate::services::invitations::{self, InviteRequest, Invited};
use crate::web::error::AppError;

/// The Graph representation of an invitation.
pub fn invitation_json(invitation: &Invitation, redeem_url: Option<&str>) -> Value {
    let now = unix_now();
    json!({
        "id": invitation.id,
        "invitedUserEmailAddress": invitation.email,
        "invitedUserDisplayName": invitation.display_name,
        "inviteRedirectUrl": invitation.redirect_url,
        "inviteRedeemUrl": redeem_url,
        "sendInvitationMessage": invitation.send_message,
        "invitedUserMessageInfo": {
            "ccRecipients": invitation.message_info.cc_recipients.iter().map(|cc| json!({
                "emailAddress": { "address": cc.address, "name": cc.name }
            })).collect::<Vec<_>>(),
            "customizedMessageBody": invitation.message_info.customized_message_body,
            "messageLanguage": invitation.message_info.message_language,
        },
        "invitedUserType": invitation.invited_user_type,
        "resetRedemption": invitation.reset_redemption,
        "status": invitation.status(now).as_str(),
        "invitedUser": { "id": invitation.user_id },
        "invitedBy": { "id": invitation.inviter.id, "type": invitation.inviter.kind, "displayName": invitation.inviter.name },
        "createdDateTime": date_time(invitation.created_at),
        "expirationDateTime": date_time(invitation.expires_at),
        "redeemedDateTime": invitation.redeemed_at.map(date_time),
        "revokedDateTime": invitation.revoked_at.map(date_time),
    })
}

fn created(invited: &Invited) -> Value {
    let mut body = invitation_json(&invited.invitation, Some(&invited.redeem_url));
    body["invitedUser"] = super::users::user_json(&invited.user, &[]);
    body
}

async fn caller(state: &AppState, slug: &str, headers: &HeaderMap) -> Result<Caller, AppError> {
    let tenant = super::tenant(state, slug).await?;
    authenticate(state, tenant, headers).await
}

/// `POST /{tenant}/v1.0/invitations`.
#[utoipa::path(post, path = "/{tenant}/v1.0/invitations", tag = "invitations",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = crate::services::invitations::InviteRequest,
    responses(
    (status = 201, description = "The invitation, with inviteRedeemUrl and the guest user"),
    (status = 400, description = "Invalid input (Request_BadRequest)"),
    (status = 401, description = "No valid bearer token"),
    (status = 403, description = "The caller may not invite, or the domain is not allowed"),
    (status = 409, description = "The address belongs to a member or a redeemed guest"),
    ),
    security(("bearer" = [])))]
pub async fn post_invitation(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let request: InviteRequest = read_json(&headers, &body)?;
    let invited = invitations::invite(&state, &caller, request)
        .await
        .map_err(ApiError::from)?;
    Ok(entity(StatusCode::CREATED, created(&invited)))
}

/// `GET /{tenant}/v1.0/invitations?$filter=status eq 'PendingAcceptance'`.
#[utoipa::path(get, path = "/{tenant}/v1.0/invitations", tag = "invitations",
    params(("tenant" = String, Path), ("$filter" = Option<String>, Query, description = "status eq 'PendingAcceptance'|'Completed'|'Revoked'|'Expired'"),
    ("$top" = Option<i64>, Query, description = "page size, 1 to 999 (100)"), ("$skiptoken" = Option<String>, Query, description = "from @odata.nextLink; follow the link unchanged")),
    responses((status = 200, description = "{ value: [..], @odata.nextLink while more exist }: [invitation] }")), security(("bearer" = [])))]
pub async fn list_invitations(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    caller.require(USER_INVITE_ALL).map_err(ApiError::from)?;
    let status = match paging.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(filter) => Some(parse_status_filter(filter)?),
    };
    let (limit, offset) = paging.window()?;
    let list = state
        .store
        .list_invitations(&caller.tenant.id, status, unix_now(), limit + 1, offset)
        .await?;
    Ok(super::page(
        &state,
        &uri,
        (limit, offset),
        list.iter().map(|i| invitation_json(i, None)).collect(),
    ))
}

/// `status eq 'X'`, the one filter invitations support.
fn parse_status_filter(filter: &str) -> Result<InvitationStatus, ApiError> {
    let value = filter
        .strip_prefix("status eq ")
        .map(|v| v.trim().trim_matches('\''))
        .ok_or_else(|| ApiError::bad_request("only $filter=status eq '<status>' is supported"))?;
    match value {
        "PendingAcceptance" => Ok(InvitationStatus::PendingAcceptance),
        "Completed" => Ok(InvitationStatus::Completed),
        "Revoked" => Ok(InvitationStatus::Revoked),
        "Expired" => Ok(InvitationStatus::Expired),
        other => Err(ApiError::bad_request(format!(
            "unknown status {other:?}; expected PendingAcceptance, Completed, Revoked or Expired"
        ))),
    }
}

/// `GET /{tenant}/v1.0/invitations/{id}`.
#[utoipa::path(get, path = "/{tenant}/v1.0/invitations/{id}", tag = "invitations",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The invitation"), (status = 404, description = "No such invitation")),
    security(("bearer" = [])))]
pub async fn get_invitation(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    caller.require(USER_INVITE_ALL).map_err(ApiError::from)?;
    let invitation = state
        .store
        .invitation_by_id(&caller.tenant.id, &id)
        .await
        .map_err(|_| ApiError::not_found(format!("there is no invitation {id}")))?;
    Ok(entity(StatusCode::OK, invitation_json(&invitation, None)))
}

/// `POST /{tenant}/v1.0/invitations/{id}/resend`: a new link and e-mail; the old link dies.
#[utoipa::path(post, path = "/{tenant}/v1.0/invitations/{id}/resend", tag = "invitations",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 201, description = "A new invitation replacing the old one (whose link dies)")),
    security(("bearer" = [])))]
pub async fn post_resend(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let invited = invitations::resend(&state, &caller, &id)
        .await
        .map_err(ApiError::from)?;
    Ok(entity(StatusCode::CREATED, created(&invited)))
}

/// `POST /{tenant}/v1.0/invitations/{id}/revoke`.
#[utoipa::path(post, path = "/{tenant}/v1.0/invitations/{id}/revoke", tag = "invitations",
    params(("tenant" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The revoked invitation"), (status = 409, description = "Not pending")),
    security(("bearer" = [])))]
pub async fn post_revoke(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    let invitation = invitations::revoke(&state, &caller, &id)
        .await
        .map_err(ApiError::from)?;
    Ok(entity(StatusCode::OK, invitation_json(&invitation, None)))
}

/// Largest bulk upload.
const MAX_BULK_BYTES: u64 = 64 * 1024 * 1024;

/// The format of a bulk upload, from its Content-Type: CSV or JSON Lines.
fn upload_format(headers: &HeaderMap) -> Result<Format, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(if content_type.starts_with("text/csv") {
        Format::Csv
    } else if content_type.starts_with("application/x-ndjson")
        || content_type.starts_with("application/jsonl")
    {
        Format::JsonLines
    } else {
        return Err(ApiError::bad_request(
            "send text/csv (Entra's template) or application/x-ndjson",
        )
        .into());
    })
}

/// The streamed response of a bulk upload: one line per row result, as CSV under its header
/// or as JSON Lines.
fn results_response(receiver: mpsc::Receiver<bulk::RowResult>, json_out: bool) -> Response {
    let lines = ReceiverStream::new(receiver).map(move |result| {
        let line = if json_out {
            format!("{}\n", serde_json::to_string(&result).unwrap_or_default())
        } else {
            result.csv_line()
        };
        Ok::<_, std::io::Error>(Bytes::from(line))
    });
    let (body, content_type) = if json_out {
        (Body::from_stream(lines), "application/x-ndjson")
    } else {
        let header =
            futures_util::stream::once(async { Ok::<_, std::io::Error>(Bytes::from(CSV_HEADER)) });
        (
            Body::from_stream(header.chain(lines)),
            "text/csv; charset=utf-8",
        )
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `POST /{tenant}/v1.0/invitations/bulk`: a CSV (Entra's template) or JSON Lines body,
/// streamed; the results stream back, one per row, as CSV or JSON Lines (`Accept`).
#[utoipa::path(post, path = "/{tenant}/v1.0/invitations/bulk", tag = "invitations",
    params(("tenant" = String, Path)),
    request_body(content = String, description = "Entra's CSV template (text/csv) or JSON Lines (application/x-ndjson), streamed"),
    responses((status = 200, description = "One result per row, streamed: CSV, or JSON Lines with Accept: application/x-ndjson")),
    security(("bearer" = [])))]
pub async fn post_bulk(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let caller = caller(&state, &slug, &headers).await?;
    // Each row is authorised again as it is invited; refuse early callers who cannot invite.
    if !caller.delegates(USER_INVITE_ALL) {
        return Err(ApiError::forbidden("the caller may not invite").into());
    }
    let format = upload_format(&headers)?;
    let json_out = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let mut read = 0u64;
    let stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .and_then(move |chunk| {
            read += chunk.len() as u64;
            let result = if read > MAX_BULK_BYTES {
                Err(std::io::Error::other("the upload is larger than 64 MiB"))
            } else {
                Ok(chunk)
            };
            async move { result }
        });
    let input = Box::pin(tokio_util::io::StreamReader::new(stream));
    // A file that is not the template is refused as a whole, before any row.
    let rows = bulk::read_rows(input, format)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (results, receiver) = mpsc::channel(64);
    let worker_state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = bulk::run(&worker_state, &caller, rows, results).await {
            tracing::error!(error = %e, "bulk invitation stopped");
        }
    });
    Ok(results_response(receiver, json_out))
}

use futures_util::StreamExt as _;
