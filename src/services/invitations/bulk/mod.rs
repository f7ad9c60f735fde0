//! Bulk invitations (B2B-REFERENCE.md B.5), as an API and a CLI: Entra's CSV template
//! (a `version:v1.0` row, a header row, then one invitee per row) or JSON Lines, read as a
//! stream, validated row by row, idempotent (an address already known is reported, not
//! invited twice), with one result per row streamed back. Memory stays flat in the number of
//! rows.

mod read;

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

pub use read::{Format, InputError, Rows, TEMPLATE_HEADER, read_rows};
use read::{Parsed, Row};

use std::collections::{HashMap, HashSet};

use super::{InviteRequest, Known, OnKnown, Plan, Planned, finish, plan, reason, write};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{MessageInfo, parse_invited_email};
use crate::domain::user::User;
use crate::services::actor::Caller;
use crate::services::{AppState, Error};
use crate::store::{AuditEvent, StoreError};

/// Most rows one upload may hold.
pub const MAX_ROWS: usize = 100_000;

/// The outcome of one row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    /// 1-based row number among the invitees.
    pub row: usize,
    /// The address as given.
    pub email: String,
    /// `Invited`, `AlreadyInvited`, `AlreadyExists` or `Failed`.
    pub status: &'static str,
    /// The new invitation's id.
    pub invitation_id: Option<String>,
    /// The guest's object id.
    pub user_id: Option<String>,
    /// Why a row failed.
    pub reason: Option<String>,
}

impl RowResult {
    /// The CSV line of a result (no header).
    pub fn csv_line(&self) -> String {
        let field = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        format!(
            "{},{},{},{},{},{}\n",
            self.row,
            field(&self.email),
            self.status,
            self.invitation_id.as_deref().unwrap_or(""),
            self.user_id.as_deref().unwrap_or(""),
            field(self.reason.as_deref().unwrap_or(""))
        )
    }
}

/// The header of CSV results.
pub const CSV_HEADER: &str = "row,email,status,invitationId,userId,reason\n";

/// Totals of a run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Rows read.
    pub rows: usize,
    /// Invitations created.
    pub invited: usize,
    /// Rows skipped because the address was already known.
    pub skipped: usize,
    /// Rows that failed.
    pub failed: usize,
}

/// Rows planned together and written in one transaction.
const CHUNK: usize = 100;
/// Chunks in flight: one is written while the next is looked up and composed.
const CHUNKS_IN_FLIGHT: usize = 2;

impl RowResult {
    fn new(row: usize, email: &str, status: &'static str, reason: Option<String>) -> Self {
        Self {
            row,
            email: email.to_owned(),
            status,
            invitation_id: None,
            user_id: None,
            reason,
        }
    }

    fn known(row: usize, email: &str, user: &User) -> Self {
        let status = if user.creation_type.as_deref() == Some("Invitation") {
            "AlreadyInvited"
        } else {
            "AlreadyExists"
        };
        Self {
            user_id: Some(user.id.clone()),
            ..Self::new(row, email, status, None)
        }
    }
}

fn request_of(row: Row) -> InviteRequest {
    InviteRequest {
        invited_user_email_address: row.invited_user_email_address.trim().to_owned(),
        invited_user_display_name: row.invited_user_display_name,
        invite_redirect_url: row.invite_redirect_url.trim().to_owned(),
        send_invitation_message: row.send_invitation_message.unwrap_or(true),
        invited_user_message_info: row
            .customized_message_body
            .filter(|b| !b.trim().is_empty())
            .map(|body| MessageInfo {
                customized_message_body: Some(body),
                ..MessageInfo::default()
            }),
        ..InviteRequest::default()
    }
}

/// A readable row waiting for its plan: its slot among the chunk's results, its number, the
/// address and the request.
type Pending = (usize, usize, EmailAddress, InviteRequest);

/// A planned row: its slot, its number and the address as given.
type PlannedRow = (usize, usize, String);

/// Plans a chunk of rows against one lookup of what the directory knows about their
/// addresses, and writes the invitations in one transaction (row by row if that fails, so
/// each row gets its own answer).
async fn process_chunk(
    state: &AppState,
    caller: &Caller,
    apps: &[crate::domain::app::App],
    rows: Vec<(usize, Parsed)>,
) -> Vec<RowResult> {
    let (mut results, requests) = read_chunk(rows);
    let known = match look_up(state, &caller.tenant.id, &requests).await {
        Ok(known) => known,
        Err(e) => {
            for (slot, number, email, _) in requests {
                results[slot] = Some(RowResult::new(
                    number,
                    &email.to_string(),
                    "Failed",
                    Some(format!("the directory is unavailable: {e}")),
                ));
            }
            return results.into_iter().flatten().collect();
        }
    };
    let (planned, planned_rows, repeats) =
        plan_chunk(state, caller, apps, requests, known, &mut results).await;
    let written = write_chunk(state, &planned, &planned_rows, &mut results).await;
    let (done, done_rows): (Vec<Planned>, Vec<PlannedRow>) = planned
        .into_iter()
        .zip(planned_rows)
        .zip(written)
        .filter_map(|(pair, ok)| ok.then_some(pair))
        .unzip();
    match finish(state, done).await {
        Ok(invited) => {
            for (invited, (slot, number, address)) in invited.into_iter().zip(done_rows) {
                results[slot] = Some(RowResult {
                    invitation_id: Some(invited.invitation.id),
                    user_id: Some(invited.user.id),
                    ..RowResult::new(number, &address, "Invited", None)
                });
            }
        }
        Err(e) => {
            for (slot, number, address) in done_rows {
                results[slot] = Some(RowResult::new(number, &address, "Failed", Some(reason(&e))));
            }
        }
    }
    fill_repeats(&mut results, repeats);
    results.into_iter().flatten().collect()
}

/// The chunk's rows read: a result already for the unreadable ones and bad addresses, a
/// pending request for the others.
fn read_chunk(rows: Vec<(usize, Parsed)>) -> (Vec<Option<RowResult>>, Vec<Pending>) {
    let mut results: Vec<Option<RowResult>> = Vec::with_capacity(rows.len());
    let mut requests = Vec::new();
    for (index, parsed) in rows {
        let number = index + 1;
        match parsed {
            Parsed::Unreadable(reason) => {
                results.push(Some(RowResult::new(number, "", "Failed", Some(reason))))
            }
            Parsed::Row(row) => {
                let request = request_of(row);
                match parse_invited_email(&request.invited_user_email_address) {
                    Ok(email) => {
                        requests.push((results.len(), number, email, request));
                        results.push(None);
                    }
                    Err(e) => results.push(Some(RowResult::new(
                        number,
                        &request.invited_user_email_address,
                        "Failed",
                        Some(e.0),
                    ))),
                }
            }
        }
    }
    (results, requests)
}

/// What the directory knows about a chunk's addresses: their users, and the addresses that
/// asked for no more invitations.
struct KnownAddresses {
    users: HashMap<String, User>,
    blocked: HashSet<String>,
}

/// Looks the chunk's addresses up at once.
async fn look_up(
    state: &AppState,
    tenant_id: &str,
    requests: &[Pending],
) -> Result<KnownAddresses, StoreError> {
    let keys: Vec<String> = requests
        .iter()
        .map(|(_, _, email, _)| email.key())
        .collect();
    let (users, blocked) = match (
        state.store.users_by_email_keys(tenant_id, &keys).await,
        state.store.blocked_among(tenant_id, &keys).await,
    ) {
        (Ok(users), Ok(blocked)) => (users, blocked),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    Ok(KnownAddresses {
        users: users
            .into_iter()
            .map(|u| (u.email.to_ascii_lowercase(), u))
            .collect(),
        blocked: blocked.into_iter().collect(),
    })
}

/// Plans each pending row (an address that appears twice in a chunk is invited once: the
/// repeats are returned with the slot of the first).
async fn plan_chunk(
    state: &AppState,
    caller: &Caller,
    apps: &[crate::domain::app::App],
    requests: Vec<Pending>,
    known: KnownAddresses,
    results: &mut [Option<RowResult>],
) -> (Vec<Planned>, Vec<PlannedRow>, Vec<(usize, usize, usize)>) {
    let mut planned = Vec::new();
    let mut planned_rows = Vec::new();
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let mut repeats = Vec::new();
    for (slot, number, email, request) in requests {
        let key = email.key();
        if let Some(&first) = first_of.get(&key) {
            repeats.push((slot, number, first));
            continue;
        }
        first_of.insert(key.clone(), slot);
        let known = Known {
            user: known.users.get(&key).cloned(),
            blocked: known.blocked.contains(&key),
        };
        let address = request.invited_user_email_address.clone();
        results[slot] = match plan(state, caller, request, apps, OnKnown::Skip, known).await {
            Ok(Plan::Known(user)) => Some(RowResult::known(number, &address, &user)),
            Ok(Plan::Write(one)) => {
                planned.push(*one);
                planned_rows.push((slot, number, address));
                None
            }
            Err(e @ Error::Conflict(_)) => Some(RowResult::new(
                number,
                &address,
                "AlreadyExists",
                Some(reason(&e)),
            )),
            Err(e) => Some(RowResult::new(number, &address, "Failed", Some(reason(&e)))),
        };
    }
    (planned, planned_rows, repeats)
}

/// Writes the chunk's planned invitations in one transaction; if it fails, each row on its
/// own (a failed row gets its result). Returns which rows were written.
async fn write_chunk(
    state: &AppState,
    planned: &[Planned],
    planned_rows: &[PlannedRow],
    results: &mut [Option<RowResult>],
) -> Vec<bool> {
    if write(state, planned).await.is_ok() {
        return vec![true; planned.len()];
    }
    let mut each = Vec::with_capacity(planned.len());
    for (one, (slot, number, address)) in planned.iter().zip(planned_rows) {
        match write(state, std::slice::from_ref(one)).await {
            Ok(()) => each.push(true),
            Err(e) => {
                let status = if matches!(e, Error::Conflict(_)) {
                    "AlreadyExists"
                } else {
                    "Failed"
                };
                results[*slot] = Some(RowResult::new(*number, address, status, Some(reason(&e))));
                each.push(false);
            }
        }
    }
    each
}

/// The results of repeated addresses: the first row's guest, already invited.
fn fill_repeats(results: &mut [Option<RowResult>], repeats: Vec<(usize, usize, usize)>) {
    for (slot, number, first) in repeats {
        let first = results[first].clone();
        results[slot] = Some(match first {
            Some(first) if first.user_id.is_some() => RowResult {
                user_id: first.user_id,
                ..RowResult::new(number, &first.email, "AlreadyInvited", None)
            },
            Some(first) => RowResult::new(number, &first.email, first.status, first.reason),
            None => RowResult::new(number, "", "Failed", None),
        });
    }
}

/// Invites the invitees of `rows`, a few at a time, sending each result to `results` in
/// input order.
pub async fn run(
    state: &AppState,
    caller: &Caller,
    rows: Rows,
    results: mpsc::Sender<RowResult>,
) -> Result<Summary, StoreError> {
    let tenant_id = caller.tenant.id.clone();
    state
        .store
        .record_audit(&AuditEvent::new(
            &tenant_id,
            "Other",
            "Batch invites uploaded",
            caller.party(),
            vec![],
        ))
        .await?;
    let apps = state.store.apps_of_tenant(&tenant_id).await?;
    let mut summary = Summary::default();
    {
        let apps = &apps;
        let mut chunks = rows
            .0
            .filter(|parsed| std::future::ready(!parsed.is_blank()))
            .take(MAX_ROWS)
            .enumerate()
            .chunks(CHUNK)
            .map(|chunk| process_chunk(state, caller, apps, chunk))
            .buffered(CHUNKS_IN_FLIGHT);
        'rows: while let Some(chunk) = chunks.next().await {
            for result in chunk {
                summary.rows += 1;
                match result.status {
                    "Invited" => summary.invited += 1,
                    "Failed" => summary.failed += 1,
                    _ => summary.skipped += 1,
                }
                if results.send(result).await.is_err() {
                    break 'rows;
                }
            }
        }
    }
    state
        .store
        .record_audit(
            &AuditEvent::new(
                &tenant_id,
                "Other",
                "Batch invites processed",
                caller.party(),
                vec![],
            )
            .with_details(serde_json::json!({
                "rows": summary.rows,
                "invited": summary.invited,
                "skipped": summary.skipped,
                "failed": summary.failed,
            })),
        )
        .await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_quote_what_needs_quoting() {
        let line = RowResult {
            row: 3,
            email: "a@b.example".into(),
            status: "Failed",
            invitation_id: None,
            user_id: None,
            reason: Some("bad, \"very\"".into()),
        }
        .csv_line();
        assert_eq!(line, "3,a@b.example,Failed,,,\"bad, \"\"very\"\"\"\n");
    }
}
