//! Reading a bulk upload: Entra's CSV template (a `version:v1.0` row, a header row checked
//! before any row is read, then one invitee per row) or JSON Lines, as a stream of rows.

use std::pin::Pin;

use csv_async::{AsyncReaderBuilder, Trim};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

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
pub(super) struct Row {
    #[serde(alias = "inviteeEmail")]
    pub(super) invited_user_email_address: String,
    #[serde(alias = "inviteRedirectURL")]
    pub(super) invite_redirect_url: String,
    #[serde(default, alias = "sendEmail")]
    pub(super) send_invitation_message: Option<bool>,
    #[serde(default)]
    pub(super) customized_message_body: Option<String>,
    #[serde(default)]
    pub(super) invited_user_display_name: Option<String>,
}

/// Maps Entra's template headers (`Email address to invite [inviteeEmail] Required`) to the
/// property in brackets; plain property names pass through.
fn header_name(raw: &str) -> String {
    match (raw.find('['), raw.find(']')) {
        (Some(open), Some(close)) if close > open => raw[open + 1..close].trim().to_owned(),
        _ => raw.trim().to_owned(),
    }
}

/// A row as read: an invitee, or why the row could not be read.
pub(super) enum Parsed {
    Row(Row),
    Unreadable(String),
}

impl Parsed {
    pub(super) fn is_blank(&self) -> bool {
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
pub struct Rows(pub(super) Pin<Box<dyn futures_util::Stream<Item = Parsed> + Send>>);

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
}
