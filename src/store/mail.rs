//! The durable mail outbox: a message is stored with the change that causes it, and sent
//! later by whichever node claims it first, with retries.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use super::sql::{for_sql_backends, from_json};

/// Which header an addressee goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// To.
    To,
    /// Cc.
    Cc,
    /// Reply-To.
    ReplyTo,
}

/// An addressee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addressee {
    /// Address.
    pub address: String,
    /// Display name.
    pub name: Option<String>,
    /// Header.
    pub role: Role,
}

impl Addressee {
    fn new(address: &str, name: Option<&str>, role: Role) -> Self {
        Self {
            address: address.to_owned(),
            name: name.map(str::to_owned),
            role,
        }
    }

    /// A To addressee.
    pub fn to(address: &str, name: Option<&str>) -> Self {
        Self::new(address, name, Role::To)
    }

    /// A Cc addressee.
    pub fn cc(address: &str, name: Option<&str>) -> Self {
        Self::new(address, name, Role::Cc)
    }

    /// A Reply-To address.
    pub fn reply_to(address: &str, name: Option<&str>) -> Self {
        Self::new(address, name, Role::ReplyTo)
    }
}

/// A message in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Id.
    pub id: String,
    /// Tenant it concerns.
    pub tenant_id: Option<String>,
    /// Addressees.
    pub recipients: Vec<Addressee>,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body_text: String,
    /// HTML body.
    pub body_html: String,
    /// When it was queued.
    pub created_at: i64,
    /// Delivery attempts so far.
    pub attempts: i64,
}

/// Storage of the outbox.
#[async_trait]
pub trait MailStore {
    /// Queues a message.
    async fn enqueue_mail(&self, message: &OutboxMessage) -> StoreResult<()>;
    /// Claims up to `limit` due messages for `lease` seconds: no other node takes them until
    /// they are sent, failed or the lease runs out (a node that died mid-send).
    async fn claim_mail(&self, now: i64, lease: i64, limit: i64)
    -> StoreResult<Vec<OutboxMessage>>;
    /// Marks messages sent and clears their bodies (they may hold links and codes).
    async fn mails_sent(&self, ids: &[String], now: i64) -> StoreResult<()>;
    /// Records a failed attempt and when to try again.
    async fn mail_failed(&self, id: &str, next_attempt_at: i64, error: &str) -> StoreResult<()>;
    /// Messages not yet sent (for operations and tests).
    async fn unsent_mail_count(&self) -> StoreResult<i64>;
}

/// Inserts a message (shared with stores that queue one inside their transaction).
pub(crate) const INSERT_MAIL: &str = "INSERT INTO mail_outbox (id, tenant_id, recipients, subject, \
     body_text, body_html, created_at, next_attempt_at, attempts) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 0)";

/// Binds an [`OutboxMessage`] to [`INSERT_MAIL`].
macro_rules! bind_mail {
    ($query:expr, $message:expr) => {{
        let message = $message;
        $query
            .bind(message.id.as_str())
            .bind(message.tenant_id.as_deref())
            .bind($crate::store::sql::to_json(&message.recipients)?)
            .bind(message.subject.as_str())
            .bind(message.body_text.as_str())
            .bind(message.body_html.as_str())
            .bind(message.created_at)
    }};
}
pub(crate) use bind_mail;

#[derive(sqlx::FromRow)]
struct MailRow {
    id: String,
    tenant_id: Option<String>,
    recipients: String,
    subject: String,
    body_text: String,
    body_html: String,
    created_at: i64,
    attempts: i64,
}

for_sql_backends! {
    impl MailStore {
        async fn enqueue_mail(&self, message: &OutboxMessage) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            bind_mail!(sqlx::query::<DB>(INSERT_MAIL), message).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn claim_mail(&self, now: i64, lease: i64, limit: i64) -> StoreResult<Vec<OutboxMessage>> {
            // The outer WHERE repeats the claim condition, so of two nodes racing for a row
            // only one updates it (Postgres re-checks it on the locked row; SQLite has one
            // writer at a time, and its writers take turns: see `begin_write`).
            let mut tx = self.begin_write().await?;
            let rows = sqlx::query_as::<DB, MailRow>(
                "UPDATE mail_outbox SET claimed_until = $1 + $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL \
                   AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) \
                   ORDER BY next_attempt_at, created_at LIMIT $3) \
                 AND sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < $1) \
                 RETURNING id, tenant_id, recipients, subject, body_text, body_html, created_at, attempts",
            )
            .bind(now)
            .bind(lease)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows.into_iter()
                .map(|r| {
                    Ok(OutboxMessage {
                        recipients: from_json(&r.recipients)?,
                        id: r.id,
                        tenant_id: r.tenant_id,
                        subject: r.subject,
                        body_text: r.body_text,
                        body_html: r.body_html,
                        created_at: r.created_at,
                        attempts: r.attempts,
                    })
                })
                .collect()
        }

        async fn mails_sent(&self, ids: &[String], now: i64) -> StoreResult<()> {
            if ids.is_empty() {
                return Ok(());
            }
            let mut tx = self.begin_write().await?;
            for chunk in ids.chunks(super::sql::ROWS_PER_STATEMENT) {
                let sql = format!(
                    "UPDATE mail_outbox SET sent_at = $1, claimed_until = NULL, last_error = NULL, \
                     body_text = '', body_html = '' WHERE id IN ({})",
                    super::sql::placeholder_list(2, chunk.len())
                );
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(sql))
                    .persistent(super::sql::cacheable(chunk.len()))
                    .bind(now);
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn mail_failed(&self, id: &str, next_attempt_at: i64, error: &str) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "UPDATE mail_outbox SET next_attempt_at = $1, claimed_until = NULL, last_error = $2 WHERE id = $3",
            )
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn unsent_mail_count(&self) -> StoreResult<i64> {
            Ok(sqlx::query_scalar::<DB, i64>("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
                .fetch_one(&self.pool)
                .await?)
        }
    }
}
