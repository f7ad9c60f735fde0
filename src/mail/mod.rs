//! Sending mail: every node runs an outbox worker that claims due messages, hands them to the
//! transport and records the outcome, retrying with a growing delay, so nothing is lost while
//! the SMTP server is down. The transport is SMTP (lettre) when `GATEHOUSE_MAIL__SMTP_URL` is
//! set; otherwise messages are written as `.eml` files under `{data_dir}/outbox`, and the log
//! names the file (never its content: links in it are credentials, SECURITY.md H.57).
//!
//! For the same reason the bodies are sealed under the master key before they are stored, and
//! cleared once the message is delivered: a dump of the database never shows a redeem link or
//! a one-time code.

pub mod compose;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use crate::config::MailSettings;
use crate::domain::unix_now;
use crate::keys::MasterKey;
use crate::store::mail::Role;
use crate::store::{OutboxMessage, Store};

/// How long a node holds a claimed message before another may try it.
const LEASE: i64 = 120;
/// Messages claimed per round, per message delivered at once.
const BATCH_PER_SENDER: i64 = 4;
/// The longest wait between attempts.
const MAX_BACKOFF: i64 = 3600;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// The mail sender of a node.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    master: MasterKey,
    retry_after: i64,
    concurrency: usize,
    wake: Notify,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for the configured transport; `master` seals the bodies in the outbox.
    pub fn new(
        settings: &MailSettings,
        data_dir: &std::path::Path,
        master: MasterKey,
    ) -> anyhow::Result<Self> {
        let concurrency = settings.concurrency.clamp(1, 64);
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("GATEHOUSE_MAIL__FROM is not an address: {e}"))?;
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("GATEHOUSE_MAIL__SMTP_URL is not usable: {e}"))?
                    .timeout(Some(Duration::from_secs(10)))
                    .pool_config(PoolConfig::new().max_size(concurrency as u32))
                    .build(),
            ),
            None => {
                let dir = data_dir.join("outbox");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                Transport::Files(AsyncFileTransport::new(&dir), dir)
            }
        };
        Ok(Self {
            transport,
            from,
            master,
            retry_after: settings.retry_after.clamp(1, MAX_BACKOFF as u64) as i64,
            concurrency,
            wake: Notify::new(),
        })
    }

    /// Asks the worker to look at the outbox now (a message was queued).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Seals the bodies of a composed message, ready for the outbox.
    pub fn seal(&self, mut message: OutboxMessage) -> anyhow::Result<OutboxMessage> {
        message.body_text = self.master.seal(message.body_text.as_bytes())?;
        message.body_html = self.master.seal(message.body_html.as_bytes())?;
        Ok(message)
    }

    fn open(&self, sealed: &str) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.master.open(sealed)?)?)
    }

    fn build(&self, message: &OutboxMessage) -> anyhow::Result<Message> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(&message.subject);
        for addressee in &message.recipients {
            let mailbox = Mailbox::new(addressee.name.clone(), addressee.address.parse()?);
            builder = match addressee.role {
                Role::To => builder.to(mailbox),
                Role::Cc => builder.cc(mailbox),
                Role::ReplyTo => builder.reply_to(mailbox),
            };
        }
        Ok(builder.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(self.open(&message.body_text)?),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(self.open(&message.body_html)?),
                ),
        )?)
    }

    #[tracing::instrument(level = "debug", skip_all,
        fields(otel.name = "mail.deliver", otel.kind = "client", message = %message.id))]
    async fn deliver(&self, message: &OutboxMessage) -> anyhow::Result<()> {
        let email = self.build(message)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(email).await?;
            }
            Transport::Files(files, dir) => {
                let id = files.send(email).await?;
                let to: Vec<&str> = message
                    .recipients
                    .iter()
                    .filter(|r| r.role == Role::To)
                    .map(|r| r.address.as_str())
                    .collect();
                tracing::info!(
                    to = ?to,
                    file = %dir.join(format!("{id}.eml")).display(),
                    "e-mail written to the outbox directory (no SMTP server configured)"
                );
            }
        }
        Ok(())
    }

    /// Sends what is due once, several messages at a time; returns how many were sent. The
    /// round's deliveries are recorded together (a node that dies in between sends them again
    /// after the lease: at least once, never lost).
    pub async fn send_due(&self, store: &dyn Store) -> anyhow::Result<usize> {
        let now = unix_now();
        let claimed = store
            .claim_mail(now, LEASE, BATCH_PER_SENDER * self.concurrency as i64)
            .await?;
        let outcomes: Vec<anyhow::Result<Option<String>>> = futures_util::stream::iter(claimed)
            .map(|message| self.attempt(store, message))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut sent = Vec::new();
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok(Some(id)) => sent.push(id),
                Ok(None) => {}
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        store.mails_sent(&sent, unix_now()).await?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(sent.len()),
        }
    }

    /// Delivers one claimed message; its id when it went out. A failure is recorded with the
    /// time of the next attempt.
    #[tracing::instrument(level = "debug", skip_all,
        fields(otel.name = "mail.attempt", message = %message.id, attempt = message.attempts))]
    async fn attempt(
        &self,
        store: &dyn Store,
        message: OutboxMessage,
    ) -> anyhow::Result<Option<String>> {
        match self.deliver(&message).await {
            Ok(()) => {
                metrics::counter!(crate::monitoring::MAIL_SENT).increment(1);
                Ok(Some(message.id))
            }
            Err(e) => {
                metrics::counter!(crate::monitoring::MAIL_FAILURES).increment(1);
                let backoff =
                    (self.retry_after << (message.attempts - 1).clamp(0, 16)).min(MAX_BACKOFF);
                tracing::warn!(
                    message = %message.id,
                    attempts = message.attempts,
                    retry_in = backoff,
                    error = %e,
                    "e-mail delivery failed; will retry"
                );
                store
                    .mail_failed(&message.id, unix_now() + backoff, &e.to_string())
                    .await?;
                Ok(None)
            }
        }
    }

    /// The outbox worker: runs until the task is aborted.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>) {
        loop {
            match self.send_due(store.as_ref()).await {
                // Something was due: there may be more right away.
                Ok(sent) if sent > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not process the mail outbox"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }
}
