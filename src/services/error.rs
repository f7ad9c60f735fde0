//! [`Error`]: the one error of the services tier. It says what kind of failure happened and
//! carries a [`Problem`] for the reader; it never says how to answer. Each front door turns it
//! into its own envelope (`From<services::Error>`): OAuth JSON, a SAML status, Graph JSON, an
//! HTML page, a CLI message with its exit code.

use crate::ephemeral::EphemeralError;
use crate::i18n::{Locale, Text};
use crate::store::StoreError;
use crate::tokens::TokenError;

/// What a service returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule (400).
    #[error("invalid: {0}")]
    Invalid(Problem),
    /// What was named does not exist, or the caller may not know it does (404).
    #[error("not found: {0}")]
    NotFound(Problem),
    /// The change conflicts with the current state (409).
    #[error("conflict: {0}")]
    Conflict(Problem),
    /// The actor may not do this (403).
    #[error("forbidden: {0}")]
    Forbidden(Problem),
    /// A dependency (database, ephemeral store, a partner) cannot be reached now (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data (500): logged once by the front door, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What went wrong, for whoever reads the answer.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The heading of the page that shows it (a catalogue id), when people read it.
    pub title: Option<&'static str>,
    /// What to say.
    pub message: Message,
    /// Technical detail for an application's owner (a protocol error), shown as is.
    pub detail: Option<String>,
}

/// The words of a [`Problem`].
#[derive(Debug, Clone)]
pub enum Message {
    /// A catalogue message: pages put it into the reader's language.
    Text(Text),
    /// Plain English for an API caller or an operator.
    Plain(String),
}

impl Message {
    /// The message in `locale` (plain text).
    pub fn in_locale(&self, locale: Locale) -> String {
        match self {
            Self::Text(text) => text.in_locale(locale),
            Self::Plain(plain) => plain.clone(),
        }
    }

    /// The catalogue message, when it is one.
    pub fn text(&self) -> Option<&Text> {
        match self {
            Self::Text(text) => Some(text),
            Self::Plain(_) => None,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Message::Text(text) => write!(f, "{}", text.key)?,
            Message::Plain(plain) => write!(f, "{plain}")?,
        }
        match &self.detail {
            Some(detail) => write!(f, " ({detail})"),
            None => Ok(()),
        }
    }
}

impl Problem {
    /// A problem an API caller reads.
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            title: None,
            message: Message::Plain(message.into()),
            detail: None,
        }
    }

    /// A problem a person reads on a page headed `title` (catalogue ids).
    pub fn page(title: &'static str, message: Text) -> Self {
        Self {
            title: Some(title),
            message: Message::Text(message),
            detail: None,
        }
    }

    /// Adds technical detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl Error {
    /// 400 with a plain message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(Problem::plain(message))
    }

    /// 404 with a plain message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(Problem::plain(message))
    }

    /// 409 with a plain message.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(Problem::plain(message))
    }

    /// 403 with a plain message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(Problem::plain(message))
    }

    /// The problem, for the kinds that carry one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Invalid(p) | Self::NotFound(p) | Self::Conflict(p) | Self::Forbidden(p) => {
                Some(p)
            }
            Self::Unavailable(_) | Self::Internal(_) => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::not_found("the resource does not exist"),
            StoreError::Conflict(why) => Self::conflict(why),
            StoreError::Unavailable(why) => Self::Unavailable(why),
            StoreError::Invalid(why) => Self::Invalid(
                Problem::page("error-bad-request-title", Text::new("error-bad-form"))
                    .with_detail(why),
            ),
            other => Self::Internal(anyhow::Error::new(other).context("database call failed")),
        }
    }
}

impl Error {
    /// A store failure where the caller expects none (a row it just read, a write that cannot
    /// conflict): `NotFound` and `Conflict` are then bugs or corrupt data (500), as they are
    /// when a front door's own store call fails; unavailability and bad input keep their kinds.
    pub fn unexpected(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::Invalid(_) => Self::from(error),
            other => Self::Internal(anyhow::Error::new(other).context("database call failed")),
        }
    }
}

impl From<EphemeralError> for Error {
    fn from(error: EphemeralError) -> Self {
        match error {
            EphemeralError::Unavailable(why) => Self::Unavailable(why),
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<TokenError> for Error {
    fn from(error: TokenError) -> Self {
        Self::Internal(anyhow::Error::new(error).context("token signing failed"))
    }
}

impl From<crate::domain::Invalid> for Error {
    fn from(error: crate::domain::Invalid) -> Self {
        Self::invalid(error.0)
    }
}
