//! Sending mail: every node runs an outbox worker that claims due messages, hands them to the
//! transport and records the outcome, retrying with a growing delay, so nothing is lost while
//! the SMTP server is down. The transport is SMTP (lettre) when `GATEHOUSE_MAIL__SMTP_URL` is
//! set; otherwise messages are written as `.eml` files under `{data_dir}/outbox`, and the log
//! names the file (never its content: links in it are credentials, SECURITY.md H.57).

pub mod compose;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use crate::config::MailSettings;
use crate::domain::unix_now;
use crate::store::mail::Role;
use crate::store::{OutboxMessage, Store};

/// How long a node holds a claimed message before another may try it.
const LEASE: i64 = 120;
/// Messages claimed per round.
const BATCH: i64 = 50;
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
    /// A mailer for the configured transport.
    pub fn new(settings: &MailSettings, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("GATEHOUSE_MAIL__FROM is not an address: {e}"))?;
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("GATEHOUSE_MAIL__SMTP_URL is not usable: {e}"))?
                    .timeout(Some(Duration::from_secs(10)))
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
            wake: Notify::new(),
        })
    }

    /// Asks the worker to look at the outbox now (a message was queued).
    pub fn wake(&self) {
        self.wake.notify_one();
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
                        .body(message.body_text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(message.body_html.clone()),
                ),
        )?)
    }

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

    /// Sends what is due once; returns how many messages were sent.
    pub async fn send_due(&self, store: &dyn Store) -> anyhow::Result<usize> {
        let now = unix_now();
        let claimed = store.claim_mail(now, LEASE, BATCH).await?;
        let mut sent = 0;
        for message in claimed {
            match self.deliver(&message).await {
                Ok(()) => {
                    store.mail_sent(&message.id, unix_now()).await?;
                    sent += 1;
                }
                Err(e) => {
                    let backoff = (30i64 << (message.attempts - 1).clamp(0, 16)).min(MAX_BACKOFF);
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
                }
            }
        }
        Ok(sent)
    }

    /// The outbox worker: runs until the task is aborted.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>) {
        loop {
            match self.send_due(store.as_ref()).await {
                // A full batch: there may be more right away.
                Ok(sent) if sent as i64 >= BATCH => continue,
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
