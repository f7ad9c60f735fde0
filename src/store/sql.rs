//! [`SqlStore`]: the [`Store`](super::Store) for SQLite and Postgres.
//!
//! One source serves both backends: `SqlStore<Sqlite>` and `SqlStore<Postgres>` are the two
//! implementations, instantiated from the same runtime queries (`$n` placeholders work on
//! both). The few places where the engines differ are constants of the [`Dialect`] trait; there
//! are no backend `if`s. Each backend has its own migrations folder
//! (`migrations/sqlite`, `migrations/postgres`), run at connect time.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Postgres, Sqlite};

use super::{Store, StoreError, StoreResult};

/// What differs between the SQL engines.
pub trait Dialect: sqlx::Database + sqlx::database::HasStatementCache {
    /// Statement that opens a transaction which will write. SQLite needs `BEGIN IMMEDIATE` so
    /// that concurrent writers queue on the busy timeout instead of failing with
    /// `SQLITE_BUSY` when a read lock is upgraded.
    const BEGIN_WRITE: &'static str;
    /// Write transactions one process runs at once. SQLite has one writer per database: a
    /// second one would only sleep in SQLite's busy handler (1, 2, 5, 10… ms), so a node queues
    /// its writers itself and hands the lock over without sleeping. Postgres takes many.
    const WRITERS: usize;
    /// Whether one query may be a list of statements sharing its parameters, run in one call
    /// (SQLite). Otherwise (Postgres) several writes in one call take one statement, with
    /// data-modifying `WITH` clauses.
    const STATEMENT_LISTS: bool;
    /// A query counting sqlx's migrations table (`_sqlx_migrations`) in the connection's
    /// database: 0 when no migration has ever run there.
    const MIGRATIONS_TABLES: &'static str;
    /// Whether the engine is a server of its own (whose work, such as a new database's DDL,
    /// runs in its processes, perhaps on this machine's cores) rather than a library running
    /// in this process.
    const SERVER: bool;

    /// Runs this engine's migrations (`migrations/sqlite` or `migrations/postgres`).
    fn migrate(pool: Pool<Self>) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>>;

    /// A feed of "the configuration changed" signals pushed by the engine, if it can push
    /// them; `None` means the node polls.
    fn config_changes(_pool: &Pool<Self>) -> Option<tokio::sync::mpsc::Receiver<()>> {
        None
    }

    /// Opens a write transaction on `conn` ([`Dialect::BEGIN_WRITE`]).
    fn begin(
        conn: &mut sqlx::pool::PoolConnection<Self>,
    ) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::Error>>;

    /// Rolls `conn` back ([`recover`]).
    fn recover(
        conn: sqlx::pool::PoolConnection<Self>,
    ) -> futures_util::future::BoxFuture<'static, ()>;
}

/// The dialect functions that need the engine's concrete executor.
macro_rules! transactions {
    () => {
        fn begin(
            conn: &mut sqlx::pool::PoolConnection<Self>,
        ) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::Error>> {
            Box::pin(async move {
                sqlx::Executor::execute(&mut **conn, Self::BEGIN_WRITE).await?;
                Ok(())
            })
        }

        fn recover(
            conn: sqlx::pool::PoolConnection<Self>,
        ) -> futures_util::future::BoxFuture<'static, ()> {
            Box::pin(recover(conn))
        }
    };
}

impl Dialect for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const WRITERS: usize = 1;
    const STATEMENT_LISTS: bool = true;
    const MIGRATIONS_TABLES: &'static str =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
    const SERVER: bool = false;
    transactions!();

    fn migrate(pool: Pool<Self>) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::migrate!("migrations/sqlite")
                .run(&pool)
                .await
                .map_err(|e| anyhow::anyhow!("SQLite migrations failed: {e}"))
        })
    }
}

/// The channel Postgres notifies on when the configuration generation moves (migration 0009).
const CONFIG_CHANNEL: &str = "gatehouse_config";

impl Dialect for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const WRITERS: usize = tokio::sync::Semaphore::MAX_PERMITS;
    const STATEMENT_LISTS: bool = false;
    const MIGRATIONS_TABLES: &'static str = "SELECT COUNT(*) FROM pg_catalog.pg_tables \
         WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'";
    const SERVER: bool = true;
    transactions!();

    fn migrate(pool: Pool<Self>) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .map_err(|e| anyhow::anyhow!("Postgres migrations failed: {e}"))
        })
    }

    /// `LISTEN gatehouse_config` on a connection of its own, reconnecting after a loss; a
    /// (re)connection signals too, since notifications sent while it was down are lost.
    fn config_changes(pool: &Pool<Self>) -> Option<tokio::sync::mpsc::Receiver<()>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        let pool = pool.clone();
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(CONFIG_CHANNEL).await {
                        Ok(()) => {
                            if sender.send(()).await.is_err() {
                                return;
                            }
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(_)) => {
                                        // Several changes in a burst need one reload.
                                        if sender.try_send(()).is_err() && sender.is_closed() {
                                            return;
                                        }
                                    }
                                    Ok(None) | Err(_) => {
                                        tracing::warn!(
                                            "lost the configuration notifications; reconnecting (polling meanwhile)"
                                        );
                                        break;
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot LISTEN for configuration changes")
                        }
                    },
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot open the notification connection")
                    }
                }
                if sender.is_closed() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        Some(receiver)
    }
}

/// A write transaction on a pooled connection, and its turn among the process's writers.
///
/// The transaction is opened and ended with plain `BEGIN`/`COMMIT`/`ROLLBACK` on a connection
/// this value owns, so that a failure cannot leave a half-open transaction in the pool: when
/// a commit fails or the transaction is dropped unfinished (an error on the way), the
/// connection is rolled back, and closed instead of being returned if even that fails (a full
/// disk, an I/O error). sqlx's own transaction bookkeeping, which a failed commit on a full
/// SQLite disk left stuck ("begin_with at non-zero transaction depth" on every later write
/// until a restart), is never involved.
pub(crate) struct WriteTx<DB: Dialect> {
    conn: Option<sqlx::pool::PoolConnection<DB>>,
    _turn: tokio::sync::OwnedSemaphorePermit,
}

impl<DB: Dialect> WriteTx<DB>
where
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
{
    /// Commits, then lets the next writer in. A failed commit rolls back (or discards the
    /// connection) before it returns the error.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let Some(mut conn) = self.conn.take() else {
            return Err(sqlx::Error::PoolClosed);
        };
        match sqlx::Executor::execute(&mut *conn, "COMMIT").await {
            Ok(_) => Ok(()),
            Err(e) => {
                recover(conn).await;
                Err(e)
            }
        }
    }
}

/// Ends whatever transaction `conn` is in; a connection that cannot even roll back is closed
/// rather than handed to the next caller.
async fn recover<DB: Dialect>(mut conn: sqlx::pool::PoolConnection<DB>)
where
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
{
    match sqlx::Executor::execute(&mut *conn, "ROLLBACK").await {
        Ok(_) => {}
        // SQLite may already have rolled the transaction back itself (an I/O error).
        Err(e) if e.to_string().contains("no transaction is active") => {}
        Err(e) => {
            tracing::warn!(error = %e, "a connection could not roll back and is closed");
            drop(conn.detach());
        }
    }
}

impl<DB: Dialect> Drop for WriteTx<DB> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Dropped unfinished: roll back before the connection goes back to the pool.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(DB::recover(conn));
            }
            Err(_) => drop(conn.detach()),
        }
    }
}

impl<DB: Dialect> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &Self::Target {
        self.conn
            .as_deref()
            .expect("a write transaction holds its connection until it ends")
    }
}

impl<DB: Dialect> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn
            .as_deref_mut()
            .expect("a write transaction holds its connection until it ends")
    }
}

/// Implements one part of the store for every SQL backend. Rust does not carry `where`
/// clauses from a trait to its users, so the bounds sqlx needs (executors, argument and
/// column types) are written once here instead of on every `impl` block. Every `async fn`
/// becomes a `store.<name>` trace span (a `debug` span: free unless traces are exported).
///
/// `for_sql_backends! { helpers { … } }` writes private steps of those methods (a
/// transaction's parts) as inherent functions of [`SqlStore`] under the same bounds, without
/// spans of their own.
macro_rules! for_sql_backends {
    (helpers { $($body:tt)* }) => {
        $crate::store::sql::for_sql_backends!(@impl [impl<DB> $crate::store::sql::SqlStore<DB>] $($body)*);
    };
    (impl $part:path { $($body:tt)* }) => {
        $crate::store::sql::for_sql_backends!(@traced $part [] $($body)*);
    };
    (@traced $part:path [$($done:tt)*]
        $(#[$meta:meta])* async fn $name:ident ($($args:tt)*) -> $ret:ty $code:block
        $($rest:tt)*
    ) => {
        $crate::store::sql::for_sql_backends!(@traced $part [$($done)*
            $(#[$meta])*
            #[tracing::instrument(level = "debug", skip_all,
                fields(otel.name = concat!("store.", stringify!($name)), otel.kind = "client"))]
            async fn $name($($args)*) -> $ret $code
        ] $($rest)*);
    };
    (@traced $part:path [$($done:tt)*]
        $(#[$meta:meta])* fn $name:ident ($($args:tt)*) -> $ret:ty $code:block
        $($rest:tt)*
    ) => {
        $crate::store::sql::for_sql_backends!(@traced $part [$($done)*
            $(#[$meta])* fn $name($($args)*) -> $ret $code
        ] $($rest)*);
    };
    (@traced $part:path [$($body:tt)*]) => {
        $crate::store::sql::for_sql_backends!(@impl [
            #[async_trait::async_trait]
            impl<DB> $part for $crate::store::sql::SqlStore<DB>
        ] $($body)*);
    };
    (@impl [$($head:tt)*] $($body:tt)*) => {
        $($head)*
        where
            DB: $crate::store::sql::Dialect,
            for<'c> &'c mut <DB as sqlx::Database>::Connection:
                sqlx::Executor<'c, Database = DB>,
            <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
            for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<bool>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'a> &'a str: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
            usize: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
            <DB as sqlx::Database>::QueryResult: $crate::store::sql::RowsAffected,
        {
            $($body)*
        }
    };
}
pub(crate) use for_sql_backends;

/// The SQL store over a connection pool of backend `DB`.
#[derive(Debug, Clone)]
pub struct SqlStore<DB: sqlx::Database> {
    pub(crate) pool: Pool<DB>,
    writers: Arc<tokio::sync::Semaphore>,
}

impl<DB: Dialect> SqlStore<DB> {
    fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            writers: Arc::new(tokio::sync::Semaphore::new(DB::WRITERS)),
        }
    }

    /// This writer's turn among the process's writers ([`Dialect::WRITERS`]), for a write of
    /// one statement run on the pool while the turn is held: a single statement is atomic on
    /// its own, so it needs no `BEGIN`/`COMMIT` (two round trips, on SQLite two hand-offs to
    /// the connection's thread) — only its place in the queue.
    pub(crate) async fn writer_turn(
        &self,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, sqlx::Error> {
        self.writers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)
    }

    /// Opens a write transaction once it is this writer's turn.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx<DB>, sqlx::Error> {
        let turn = self.writer_turn().await?;
        let mut conn = self.pool.acquire().await?;
        if let Err(e) = DB::begin(&mut conn).await {
            DB::recover(conn).await;
            return Err(e);
        }
        Ok(WriteTx {
            conn: Some(conn),
            _turn: turn,
        })
    }
}

/// The file of a SQLite database URL (`None` for Postgres and in-memory SQLite).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (!file.as_os_str().is_empty() && file != Path::new(":memory:")).then(|| file.to_path_buf())
}

/// Opens the database named by `url` (`sqlite:` or `postgres://`), runs its migrations and
/// returns it as a [`Store`].
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Arc<dyn Store>> {
    open(url, max_connections).await?.migrate().await
}

/// Opens the database named by `url` (`sqlite:` or `postgres://`) without running its
/// migrations yet, so that the caller can start what a new database will need (its first
/// signing keys) while they run.
pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Opened> {
    if url.starts_with("sqlite:") {
        SqlStore::<Sqlite>::open(url, max_connections)
            .await?
            .opened()
            .await
    } else {
        SqlStore::<Postgres>::open(url, max_connections)
            .await?
            .opened()
            .await
    }
}

/// A database connected to, whose migrations have not run yet ([`open`]).
pub struct Opened {
    store: Arc<dyn Store>,
    migrations: futures_util::future::BoxFuture<'static, anyhow::Result<()>>,
    new: bool,
    server: bool,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("new", &self.new)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// Whether no migration had ever run on this database: it is new, and holds no keys.
    pub fn is_new(&self) -> bool {
        self.new
    }

    /// Whether the database is a server of its own ([`Dialect::SERVER`]): its migrations run
    /// in the server's processes, not in this one.
    pub fn is_server(&self) -> bool {
        self.server
    }

    /// Runs the migrations and returns the database as a [`Store`].
    pub async fn migrate(self) -> anyhow::Result<Arc<dyn Store>> {
        self.migrations.await?;
        Ok(self.store)
    }
}

for_sql_backends! {
    helpers {
        /// This store, its migrations not yet run, and whether any ever ran on its database.
        async fn opened(self) -> anyhow::Result<Opened> {
            let tables: i64 = sqlx::query_scalar::<DB, i64>(DB::MIGRATIONS_TABLES)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the database: {e}"))?;
            Ok(Opened {
                migrations: DB::migrate(self.pool.clone()),
                store: Arc::new(self),
                new: tables == 0,
                server: DB::SERVER,
            })
        }
    }
}

impl SqlStore<Sqlite> {
    /// Opens (creating if missing) a SQLite database in WAL mode with a 5 s busy timeout.
    /// Its migrations are [`Dialect::migrate`].
    async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| anyhow::anyhow!("GATEHOUSE_DATABASE_URL is not a SQLite URL: {e}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        if let Some(parent) = Path::new(options.get_filename()).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create the database directory {}: {e}",
                    parent.display()
                )
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // The database is a file in this process: a connection cannot go stale while it
            // sits in the pool, so none is pinged on the way out of it (the ping is a hand-off
            // to the connection's thread and back, as dear as a short statement).
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the SQLite database: {e}"))?;
        Ok(Self::new(pool))
    }
}

impl SqlStore<Postgres> {
    /// Connects to Postgres with a short acquire timeout, so an outage turns into 503s fast.
    /// Its migrations are [`Dialect::migrate`].
    async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings each connection it takes out of the pool (a round trip before the
            // statement). Kept on Postgres: a connection the server closed while it sat idle (a
            // restart) is replaced before use, and one whose peer went silent (a network cut)
            // fails within the acquire timeout, where its statement would hang instead.
            .connect(url)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot connect to Postgres at {}: {e}",
                    crate::config::redact_url(url)
                )
            })?;
        Ok(Self::new(pool))
    }
}

/// SQL shared by the parts of the store.
pub(crate) mod q {
    /// Bumps the configuration generation; run inside every transaction that changes cached
    /// configuration.
    pub const BUMP_GENERATION: &str = "UPDATE config_generation SET value = value + 1 WHERE id = 1";
}

for_sql_backends! {
    impl Store {
        async fn ping(&self) -> StoreResult<()> {
            sqlx::query_scalar::<DB, i64>("SELECT CAST(1 AS BIGINT)").fetch_one(&self.pool).await?;
            Ok(())
        }

        fn pool_stats(&self) -> (u32, usize) {
            (self.pool.size(), self.pool.num_idle())
        }

        async fn outbox_depth(&self) -> StoreResult<i64> {
            crate::store::mail::MailStore::unsent_mail_count(self).await
        }

        async fn write_check(&self, now: i64) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>("UPDATE node_health SET checked_at = $1 WHERE id = 1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        fn config_changes(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
            DB::config_changes(&self.pool)
        }

        async fn generation(&self) -> StoreResult<i64> {
            Ok(sqlx::query_scalar::<DB, i64>("SELECT value FROM config_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await?)
        }

        async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
            let mut purged = 0;
            for sql in [
                "DELETE FROM sessions WHERE expires_at < $1",
                "DELETE FROM refresh_tokens WHERE expires_at < $1",
                "DELETE FROM revoked_tokens WHERE expires_at < $1",
                "DELETE FROM grants WHERE expires_at < $1",
                "DELETE FROM session_apps WHERE last_at < $1 AND session_id NOT IN (SELECT id FROM sessions)",
                "DELETE FROM logout_outbox WHERE done_at < $1 - 604800",
            ] {
                let done = sqlx::query::<DB>(sql).bind(now).execute(&self.pool).await?;
                purged += done.rows_affected();
            }
            Ok(purged)
        }
    }
}

/// Uniform access to the affected-row count of each backend's query result.
pub trait RowsAffected {
    /// Rows inserted, updated or deleted.
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

/// Decodes a JSON text column.
/// `single`, an `INSERT … VALUES (…)` of one row, made into one statement for `rows` rows:
/// the value tuple repeats with its placeholders renumbered (`$n` of row `r` becomes
/// `$n + r·max`, repeats and literals kept), so each row binds exactly as the one-row statement.
/// Multi-row `VALUES` works on both engines and turns a batch into one round trip.
pub(crate) fn repeat_values(single: &str, rows: usize) -> String {
    let at = single
        .find(" VALUES ")
        .expect("an INSERT … VALUES statement")
        + " VALUES ".len();
    let (head, rest) = single.split_at(at);
    let mut depth = 0usize;
    let close = rest
        .char_indices()
        .find_map(|(i, c)| {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            None
        })
        .expect("a VALUES tuple");
    let (tuple, tail) = rest.split_at(close);
    let max = placeholders(tuple).max().unwrap_or(0);
    let mut sql = String::with_capacity(head.len() + rows * (tuple.len() + 8) + tail.len());
    sql.push_str(head);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let mut chars = tuple.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            if c != '$' {
                sql.push(c);
                continue;
            }
            let mut number = 0usize;
            while let Some(&(_, d)) = chars.peek() {
                let Some(digit) = d.to_digit(10) else { break };
                number = number * 10 + digit as usize;
                chars.next();
            }
            sql.push('$');
            sql.push_str(&(number + row * max).to_string());
        }
    }
    sql.push_str(tail);
    sql
}

fn placeholders(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.split('$').skip(1).filter_map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// Rows one multi-row statement carries (well under both engines' parameter limits).
pub(crate) const ROWS_PER_STATEMENT: usize = 100;

/// Whether a statement built for `rows` rows is worth keeping prepared: full chunks and single
/// rows recur; the odd sizes of a last chunk would only fill every connection's cache.
pub(crate) fn cacheable(rows: usize) -> bool {
    rows == 1 || rows == ROWS_PER_STATEMENT
}

/// `$first, $first+1, …` for an `IN (…)` list of `count` values.
pub(crate) fn placeholder_list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(StoreError::from)
}

/// Encodes a value for a JSON text column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_repeat_with_renumbered_placeholders() {
        let single =
            "INSERT INTO t (a, b, c, d) VALUES ($1, $2, $2, 0) ON CONFLICT (a, b) DO NOTHING";
        assert_eq!(repeat_values(single, 1), single);
        assert_eq!(
            repeat_values(single, 3),
            "INSERT INTO t (a, b, c, d) VALUES ($1, $2, $2, 0), ($3, $4, $4, 0), ($5, $6, $6, 0) \
             ON CONFLICT (a, b) DO NOTHING"
        );
        let wide = "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        assert!(
            repeat_values(wide, 2)
                .ends_with("($12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)")
        );
        assert_eq!(placeholder_list(3, 3), "$3, $4, $5");
    }
}
