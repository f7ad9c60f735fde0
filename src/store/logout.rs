//! What ending a session needs to remember and to send: the apps each browser session
//! answered (so that its end reaches them), and the durable outbox of back-channel logout
//! notifications, claimed with a lease by whichever node comes first (as the mail outbox is).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use super::grants::{GRANT_PARAMETERS, Grant, INSERT_GRANT};
use super::sql::for_sql_backends;

/// An app that a browser session signed in to (an OIDC code or a SAML assertion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionApp {
    /// The session's public id (`sid`, SAML `SessionIndex`).
    pub session_id: String,
    /// The app's object id.
    pub app_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The app's `client_id`.
    pub client_id: String,
    /// The session's user.
    pub user_id: String,
    /// SAML: the NameID the SP last received in this session.
    pub name_id: Option<String>,
    /// SAML: that NameID's format URI.
    pub name_id_format: Option<String>,
    /// SAML: the `SessionIndex` the SP received.
    pub session_index: Option<String>,
    /// When the session last answered the app.
    pub at: i64,
}

#[derive(sqlx::FromRow)]
struct SessionAppRow {
    session_id: String,
    app_id: String,
    tenant_id: String,
    client_id: String,
    user_id: String,
    name_id: Option<String>,
    name_id_format: Option<String>,
    session_index: Option<String>,
    last_at: i64,
}

impl From<SessionAppRow> for SessionApp {
    fn from(row: SessionAppRow) -> Self {
        Self {
            session_id: row.session_id,
            app_id: row.app_id,
            tenant_id: row.tenant_id,
            client_id: row.client_id,
            user_id: row.user_id,
            name_id: row.name_id,
            name_id_format: row.name_id_format,
            session_index: row.session_index,
            at: row.last_at,
        }
    }
}

/// One back-channel logout notification to deliver: everything its logout token needs, so
/// that it does not depend on the user (who may be deleted meanwhile).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogoutNotice {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The tenant's issuer (`iss`).
    pub issuer: String,
    /// The app (`aud`).
    pub client_id: String,
    /// Its `backchannel_logout_uri`.
    pub uri: String,
    /// The user as the app knows them (`sub`).
    pub sub: String,
    /// The ended session (`sid`).
    pub sid: String,
    /// When it was queued.
    pub created_at: i64,
    /// Delivery attempts so far (counting the one just claimed).
    pub attempts: i64,
}

/// Sessions to end together, with what goes with them, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct EndSessions<'a> {
    /// Tenant.
    pub tenant_id: &'a str,
    /// Session ids to end.
    pub session_ids: &'a [String],
    /// When set, also every live session and every grant (refresh-token family) of this user.
    pub user_id: Option<&'a str>,
    /// Notifications to queue.
    pub notices: &'a [LogoutNotice],
    /// Now.
    pub now: i64,
}

/// Storage of session apps and of the logout outbox.
#[async_trait]
pub trait LogoutStore {
    /// Records (or refreshes) that session `app.session_id` answered `app.app_id`.
    async fn record_session_app(&self, app: &SessionApp) -> StoreResult<()>;
    /// Creates a user grant issued in a browser session and records the session app it went
    /// to ([`LogoutStore::record_session_app`]), in one call to the database.
    async fn create_grant_in_session(&self, grant: &Grant, app: &SessionApp) -> StoreResult<()>;
    /// The apps a session answered, oldest first.
    async fn session_apps(&self, session_id: &str) -> StoreResult<Vec<SessionApp>>;
    /// The ids of a user's live sessions.
    async fn live_sessions_of_user(
        &self,
        tenant_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<String>>;
    /// Ends sessions (and, for a user, revokes their grants) and queues the notifications,
    /// all or nothing.
    async fn end_sessions(&self, end: &EndSessions<'_>) -> StoreResult<()>;
    /// Claims up to `limit` due notifications for `lease` seconds.
    async fn claim_logouts(
        &self,
        now: i64,
        lease: i64,
        limit: i64,
    ) -> StoreResult<Vec<LogoutNotice>>;
    /// A notification was delivered, or given up (with the last error).
    async fn logout_done(&self, id: &str, now: i64, gave_up: Option<&str>) -> StoreResult<()>;
    /// A failed attempt and when to try again.
    async fn logout_failed(&self, id: &str, next_attempt_at: i64, error: &str) -> StoreResult<()>;
    /// Notifications not yet delivered nor given up.
    async fn pending_logouts(&self) -> StoreResult<i64>;
}

const SESSION_APP_COLUMNS: &str = "session_id, app_id, tenant_id, client_id, user_id, name_id, \
     name_id_format, session_index, last_at";

/// Records (or refreshes) a session app, its parameters numbered from `$first` (nine of them,
/// bound by `bind_session_app`); a NameID or SessionIndex not given keeps the recorded one.
fn upsert_session_app(first: usize) -> String {
    let [
        session,
        app,
        tenant,
        client,
        user,
        name_id,
        format,
        index,
        at,
    ] = std::array::from_fn(|i| format!("${}", first + i));
    format!(
        "INSERT INTO session_apps (session_id, app_id, tenant_id, client_id, user_id, name_id, \
         name_id_format, session_index, first_at, last_at) \
         VALUES ({session}, {app}, {tenant}, {client}, {user}, {name_id}, {format}, {index}, {at}, {at}) \
         ON CONFLICT (session_id, app_id) DO UPDATE SET last_at = {at}, \
         name_id = COALESCE({name_id}, session_apps.name_id), \
         name_id_format = COALESCE({format}, session_apps.name_id_format), \
         session_index = COALESCE({index}, session_apps.session_index)"
    )
}

for_sql_backends! {
    helpers {
        /// Binds `app` to the parameters of an `upsert_session_app`, after those `query` has.
        fn bind_session_app<'q>(
            query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
            app: &'q SessionApp,
        ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments> {
            query
                .bind(app.session_id.as_str())
                .bind(app.app_id.as_str())
                .bind(app.tenant_id.as_str())
                .bind(app.client_id.as_str())
                .bind(app.user_id.as_str())
                .bind(app.name_id.as_deref())
                .bind(app.name_id_format.as_deref())
                .bind(app.session_index.as_deref())
                .bind(app.at)
        }
    }
}

for_sql_backends! {
    impl LogoutStore {
        async fn record_session_app(&self, app: &SessionApp) -> StoreResult<()> {
            // One statement: atomic on its own, so no BEGIN/COMMIT, only the writer's turn.
            let _turn = self.writer_turn().await?;
            let sql = upsert_session_app(1);
            Self::bind_session_app(sqlx::query::<DB>(sqlx::AssertSqlSafe(sql)), app)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn create_grant_in_session(&self, grant: &Grant, app: &SessionApp) -> StoreResult<()> {
            // Both rows in one call. SQLite runs a list of statements sharing the parameters
            // in one visit to its worker thread (each statement commits on its own, as two
            // calls would); Postgres writes both in one statement, the grant in a `WITH`.
            let upsert = upsert_session_app(GRANT_PARAMETERS + 1);
            let sql = if DB::STATEMENT_LISTS {
                format!("{INSERT_GRANT}; {upsert}")
            } else {
                format!("WITH grant_row AS ({INSERT_GRANT}) {upsert}")
            };
            let _turn = self.writer_turn().await?;
            let query = Self::bind_grant(sqlx::query::<DB>(sqlx::AssertSqlSafe(sql)), grant)?;
            Self::bind_session_app(query, app).execute(&self.pool).await?;
            Ok(())
        }

        async fn session_apps(&self, session_id: &str) -> StoreResult<Vec<SessionApp>> {
            let sql = format!(
                "SELECT {SESSION_APP_COLUMNS} FROM session_apps WHERE session_id = $1 \
                 ORDER BY first_at, app_id"
            );
            let rows = sqlx::query_as::<DB, SessionAppRow>(sqlx::AssertSqlSafe(sql))
                .bind(session_id)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.into_iter().map(SessionApp::from).collect())
        }

        async fn live_sessions_of_user(
            &self,
            tenant_id: &str,
            user_id: &str,
            now: i64,
        ) -> StoreResult<Vec<String>> {
            Ok(sqlx::query_scalar::<DB, String>(
                "SELECT id FROM sessions WHERE tenant_id = $1 AND user_id = $2 \
                 AND ended_at IS NULL AND expires_at > $3 ORDER BY created_at",
            )
            .bind(tenant_id)
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn end_sessions(&self, end: &EndSessions<'_>) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            for id in end.session_ids {
                sqlx::query::<DB>(
                    "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND tenant_id = $3 \
                     AND ended_at IS NULL",
                )
                .bind(end.now)
                .bind(id.as_str())
                .bind(end.tenant_id)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(user_id) = end.user_id {
                for sql in [
                    "UPDATE sessions SET ended_at = $1 WHERE tenant_id = $2 AND user_id = $3 \
                     AND ended_at IS NULL",
                    "UPDATE grants SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 \
                     AND revoked_at IS NULL",
                ] {
                    sqlx::query::<DB>(sql)
                        .bind(end.now)
                        .bind(end.tenant_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            for notice in end.notices {
                sqlx::query::<DB>(
                    "INSERT INTO logout_outbox (id, tenant_id, issuer, client_id, uri, sub, sid, \
                     created_at, next_attempt_at, attempts) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 0)",
                )
                .bind(notice.id.as_str())
                .bind(notice.tenant_id.as_str())
                .bind(notice.issuer.as_str())
                .bind(notice.client_id.as_str())
                .bind(notice.uri.as_str())
                .bind(notice.sub.as_str())
                .bind(notice.sid.as_str())
                .bind(notice.created_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn claim_logouts(&self, now: i64, lease: i64, limit: i64) -> StoreResult<Vec<LogoutNotice>> {
            // As the mail outbox: the outer WHERE repeats the claim condition, so of two
            // nodes racing for a row only one updates it.
            let mut tx = self.begin_write().await?;
            let rows = sqlx::query_as::<DB, LogoutNotice>(
                "UPDATE logout_outbox SET claimed_until = $1 + $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM logout_outbox WHERE done_at IS NULL \
                   AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) \
                   ORDER BY next_attempt_at, created_at LIMIT $3) \
                 AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until < $1) \
                 RETURNING id, tenant_id, issuer, client_id, uri, sub, sid, created_at, attempts",
            )
            .bind(now)
            .bind(lease)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows)
        }

        async fn logout_done(&self, id: &str, now: i64, gave_up: Option<&str>) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "UPDATE logout_outbox SET done_at = $1, claimed_until = NULL, gave_up = $2, \
                 last_error = $3 WHERE id = $4",
            )
            .bind(now)
            .bind(gave_up.is_some())
            .bind(gave_up)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn logout_failed(&self, id: &str, next_attempt_at: i64, error: &str) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "UPDATE logout_outbox SET next_attempt_at = $1, claimed_until = NULL, \
                 last_error = $2 WHERE id = $3",
            )
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn pending_logouts(&self) -> StoreResult<i64> {
            Ok(sqlx::query_scalar::<DB, i64>(
                "SELECT COUNT(*) FROM logout_outbox WHERE done_at IS NULL",
            )
            .fetch_one(&self.pool)
            .await?)
        }
    }
}
