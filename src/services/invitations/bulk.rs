//! Bulk invitations (B2B-REFERENCE.md B.5), as an API and a CLI: Entra's CSV template
//! (a `version:v1.0` row, a header row, then one invitee per row) or JSON Lines, read as a
//! stream, validated row by row, idempotent (an address already known is reported, not
//! invited twice), with one result per row streamed back. Memory stays flat in the number of
//! rows.

use std::pin::Pin;

use csv_async::{AsyncReaderBuilder, Trim};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use std::collections::{HashMap, HashSet};

use super::{InviteRequest, Known, OnKnown, Plan, Planned, finish, plan, reason, write};
use crate::domain::invitation::{MessageInfo, parse_invited_email};
use crate::domain::user::User;
use crate::services::actor::Caller;
use crate::services::{AppState, Error};
use crate::store::{AuditEvent, StoreError};

/// Most rows one upload may hold.
pub const MAX_ROWS: usize = 100_000;

/// The input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Entra's CSV template.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

/// One row of input, whatever the format.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    #[serde(alias = "inviteeEmail")]
    invited_user_email_address: String,
    #[serde(alias = "inviteRedirectURL")]
    invite_redirect_url: String,
    #[serde(default, alias = "sendEmail")]
    send_invitation_message: Option<bool>,
    #[serde(default)]
    customized_message_body: Option<String>,
    #[serde(default)]
    invited_user_display_name: Option<String>,
}

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

/// Maps Entra's template headers (`Email address to invite [inviteeEmail] Required`) to the
/// property in brackets; plain property names pass through.
fn header_name(raw: &str) -> String {
    match (raw.find('['), raw.find(']')) {
        (Some(open), Some(close)) if close > open => raw[open + 1..close].trim().to_owned(),
        _ => raw.trim().to_owned(),
    }
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

/// Plans a chunk of rows against one lookup of what the directory knows about their
/// addresses, and writes the invitations in one transaction (row by row if that fails, so
/// each row gets its own answer).
async fn process_chunk(
    state: &AppState,
    caller: &Caller,
    apps: &[crate::domain::app::App],
    rows: Vec<(usize, Parsed)>,
) -> Vec<RowResult> {
    let tenant_id = caller.tenant.id.as_str();
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
    let keys: Vec<String> = requests
        .iter()
        .map(|(_, _, email, _)| email.key())
        .collect();
    let looked_up = match (
        state.store.users_by_email_keys(tenant_id, &keys).await,
        state.store.blocked_among(tenant_id, &keys).await,
    ) {
        (Ok(users), Ok(blocked)) => Ok((users, blocked)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let (users, blocked) = match looked_up {
        Ok(found) => found,
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
    let users: HashMap<String, User> = users
        .into_iter()
        .map(|u| (u.email.to_ascii_lowercase(), u))
        .collect();
    let blocked: HashSet<String> = blocked.into_iter().collect();
    let mut planned = Vec::new();
    let mut planned_rows = Vec::new();
    // An address that appears twice in a chunk is invited once.
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
            user: users.get(&key).cloned(),
            blocked: blocked.contains(&key),
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
    // One transaction for the chunk; if it fails, each row on its own.
    let written: Vec<bool> = if write(state, &planned).await.is_ok() {
        vec![true; planned.len()]
    } else {
        let mut each = Vec::with_capacity(planned.len());
        for (one, (slot, number, address)) in planned.iter().zip(&planned_rows) {
            match write(state, std::slice::from_ref(one)).await {
                Ok(()) => each.push(true),
                Err(e) => {
                    let status = if matches!(e, Error::Conflict(_)) {
                        "AlreadyExists"
                    } else {
                        "Failed"
                    };
                    results[*slot] =
                        Some(RowResult::new(*number, address, status, Some(reason(&e))));
                    each.push(false);
                }
            }
        }
        each
    };
    let (done, done_rows): (Vec<Planned>, Vec<(usize, usize, String)>) = planned
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
    results.into_iter().flatten().collect()
}

/// A row as read: an invitee, or why the row could not be read.
enum Parsed {
    Row(Row),
    Unreadable(String),
}

impl Parsed {
    fn is_blank(&self) -> bool {
        matches!(self, Parsed::Row(row) if row.invited_user_email_address.is_empty()
            && row.invite_redirect_url.is_empty())
    }
}

/// The header row of Entra's bulk-invite template, as an error message shows it.
pub const TEMPLATE_HEADER: &str = "version:v1.0\nEmail address to invite [inviteeEmail] Required,\
Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],\
Customized invitation message [customizedMessageBody]";

/// Why an upload cannot be read at all (no row is processed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The CSV does not start with the template's header row.
    #[error(
        "the CSV file does not have the header row of Entra's bulk-invite template \
         (it needs the columns inviteeEmail and inviteRedirectURL); found {found:?}. \
         The file must start like this:\n{TEMPLATE_HEADER}"
    )]
    Header {
        /// The first line found (or the second, after a version row).
        found: String,
    },
    /// The input ended or failed before a header row.
    #[error("the file cannot be read: {0}")]
    Unreadable(String),
}

/// The rows of an upload whose header was read and checked.
pub struct Rows(Pin<Box<dyn futures_util::Stream<Item = Parsed> + Send>>);

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows").finish_non_exhaustive()
    }
}

/// Opens an upload: for CSV, reads and checks the header row (after the optional
/// `version:v1.0` row) before any row is processed, so a file that is not the template is
/// refused as a whole instead of being read as zero rows.
pub async fn read_rows(
    input: Pin<Box<dyn AsyncRead + Send>>,
    format: Format,
) -> Result<Rows, InputError> {
    let reader = BufReader::new(input);
    Ok(Rows(match format {
        Format::Csv => csv_rows(reader).await?,
        Format::JsonLines => json_rows(reader),
    }))
}

/// The CSV rows after the (optional) version row and the header row.
async fn csv_rows(
    mut reader: BufReader<Pin<Box<dyn AsyncRead + Send>>>,
) -> Result<Pin<Box<dyn futures_util::Stream<Item = Parsed> + Send>>, InputError> {
    let unreadable = |e: std::io::Error| InputError::Unreadable(e.to_string());
    // Entra's template starts with a `version:v1.0` row; skip it when present.
    let mut first = String::new();
    reader.read_line(&mut first).await.map_err(unreadable)?;
    let header_line = if first
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase()
        .starts_with("version:")
    {
        let mut header = String::new();
        reader.read_line(&mut header).await.map_err(unreadable)?;
        header
    } else {
        first
    };
    let headers: Vec<String> = header_line
        .trim_start_matches('\u{feff}')
        .trim_end()
        .split(',')
        .map(header_name)
        .collect();
    let has = |names: &[&str]| headers.iter().any(|h| names.contains(&h.as_str()));
    if !has(&["inviteeEmail", "invitedUserEmailAddress"])
        || !has(&["inviteRedirectURL", "inviteRedirectUrl"])
    {
        let found: String = header_line.trim().chars().take(200).collect();
        return Err(InputError::Header { found });
    }
    let records = AsyncReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .create_reader(reader)
        .into_records();
    Ok(Box::pin(records.map(move |record| match record {
        Ok(record) if record.iter().any(|field| field.contains('\0')) => {
            Parsed::Unreadable("the row contains a NUL character".to_owned())
        }
        Ok(record) => {
            let mut row = Row::default();
            for (name, value) in headers.iter().zip(record.iter()) {
                match name.as_str() {
                    "inviteeEmail" | "invitedUserEmailAddress" => {
                        row.invited_user_email_address = value.to_owned()
                    }
                    "inviteRedirectURL" | "inviteRedirectUrl" => {
                        row.invite_redirect_url = value.to_owned()
                    }
                    "sendEmail" | "sendInvitationMessage" => {
                        row.send_invitation_message = Some(!value.eq_ignore_ascii_case("false"));
                    }
                    "customizedMessageBody" => row.customized_message_body = Some(value.to_owned()),
                    "invitedUserDisplayName" | "displayName" => {
                        row.invited_user_display_name = Some(value.to_owned())
                    }
                    _ => {}
                }
            }
            Parsed::Row(row)
        }
        Err(e) => Parsed::Unreadable(format!("the row cannot be read: {e}")),
    })))
}

/// The JSON Lines rows (blank lines skipped).
fn json_rows(
    reader: BufReader<Pin<Box<dyn AsyncRead + Send>>>,
) -> Pin<Box<dyn futures_util::Stream<Item = Parsed> + Send>> {
    let lines = tokio_stream::wrappers::LinesStream::new(reader.lines());
    Box::pin(
        lines
            .take_while(|line| std::future::ready(line.is_ok()))
            .filter_map(|line| std::future::ready(line.ok().filter(|l| !l.trim().is_empty())))
            .map(|line| match serde_json::from_str::<Row>(&line) {
                Ok(_) if line.contains('\0') || line.contains("\\u0000") => {
                    Parsed::Unreadable("the line contains a NUL character".to_owned())
                }
                Ok(row) => Parsed::Row(row),
                Err(e) => Parsed::Unreadable(format!("the line is not an invitation object: {e}")),
            }),
    )
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
    fn entra_template_headers_map_to_properties() {
        assert_eq!(
            header_name("Email address to invite [inviteeEmail] Required"),
            "inviteeEmail"
        );
        assert_eq!(
            header_name("Redirection url [inviteRedirectURL] Required"),
            "inviteRedirectURL"
        );
        assert_eq!(header_name("sendEmail"), "sendEmail");
    }

    #[tokio::test]
    async fn a_file_without_the_templates_header_is_refused_as_a_whole() {
        let read = |text: &'static str| read_rows(Box::pin(text.as_bytes()), Format::Csv);
        for good in [
            "version:v1.0\nEmail address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required\na@b.example,https://x/\n",
            "invitedUserEmailAddress,inviteRedirectUrl\na@b.example,https://x/\n",
        ] {
            assert!(read(good).await.is_ok(), "{good}");
        }
        for bad in [
            "email,redirect\na@b.example,https://x/\n",
            "version:v1.0\nEmail,Redirect\n",
            "a@b.example,https://x/\n",
            "",
        ] {
            let error = read(bad).await.unwrap_err().to_string();
            assert!(
                error.contains("inviteeEmail") && error.contains("version:v1.0"),
                "{error}"
            );
        }
    }

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
