//! The sign-in log's write path: a small in-process queue in front of the database.
//!
//! Every sign-in appends one row. Written one at a time, each append was a statement of its
//! own on the request's path (on SQLite a hand-off to the driver's thread and a WAL commit).
//! Here [`SignInLog::append`] hands the row to one writer task and returns; the writer takes
//! whatever has queued up meanwhile (up to [`BATCH`] rows) and writes it in one transaction
//! of multi-row `INSERT`s. Under load the batches grow by themselves; when the node is quiet
//! each row is written at once, alone. There is no timer.
//!
//! Durability:
//! - The queue is bounded ([`QUEUE`] rows): when the database is slower than the sign-ins,
//!   appends wait for room (back-pressure) rather than dropping rows or growing memory.
//! - A batch that fails is retried whole while the database is unreachable (back-off from
//!   100 ms to 5 s, one WARN per failure, never a row's contents); a batch the database
//!   refuses for another reason is written row by row, and only a row refused on its own
//!   (its tenant deleted meanwhile) is dropped, with a WARN naming its id.
//! - On SIGTERM the node drains its requests, then [`SignInLog::flush`] writes every queued
//!   row before the process ends (`startup::Application::run_until`).
//! - On SIGKILL (or a crash) the rows still queued are lost: at most the sign-ins of the last
//!   moments, a few milliseconds' worth while the database keeps up. The sign-ins themselves
//!   completed; only their log lines are missing.
//! - [`SignInLog::flush`] also gives read-your-writes to the log's readers on this node
//!   ([`crate::services::access::sign_ins`]); another node's rows appear once its writer
//!   has written them, normally within milliseconds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::{SignIn, Store, StoreError};

/// Rows that may wait in the queue before appends wait for room.
pub const QUEUE: usize = 4096;
/// Rows written in one transaction at most.
pub const BATCH: usize = 500;

/// What the writer is asked to do.
enum Command {
    /// Write this row.
    Append(SignIn),
    /// Answer once every row queued before this command is written.
    Flush(oneshot::Sender<()>),
}

/// The node's sign-in log writer.
#[derive(Clone)]
pub struct SignInLog {
    sender: mpsc::Sender<Command>,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for SignInLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInLog")
            .field("queued", &(QUEUE - self.sender.capacity()))
            .finish_non_exhaustive()
    }
}

impl SignInLog {
    /// Starts the writer task (on the current Tokio runtime).
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store.clone(), receiver));
        Self { sender, store }
    }

    /// Queues one row. Waits only when [`QUEUE`] rows are already waiting; if the writer has
    /// stopped (its runtime is shutting down), writes the row itself.
    pub async fn append(&self, sign_in: SignIn) -> Result<(), StoreError> {
        match self.sender.send(Command::Append(sign_in)).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError(Command::Append(sign_in))) => {
                self.store.record_sign_in(&sign_in).await
            }
            Err(mpsc::error::SendError(Command::Flush(_))) => Ok(()),
        }
    }

    /// Returns once every row appended before the call is in the database.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.sender.send(Command::Flush(done)).await.is_ok() {
            // An error means the writer stopped: nothing more can be written through it.
            let _ = written.await;
        }
    }
}

/// Takes rows off the queue in batches until every sender is gone.
async fn writer(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(sign_in) => batch.push(sign_in),
                Command::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH {
                next = receiver.try_recv().ok();
            }
        }
        write(store.as_ref(), &mut batch).await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes a batch: whole while the database answers, retried while it is unreachable, row by
/// row when it refuses the batch.
async fn write(store: &dyn Store, batch: &mut Vec<SignIn>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match store.record_sign_ins(batch).await {
            Ok(()) => break,
            Err(StoreError::Unavailable(error)) => {
                tracing::warn!(rows = batch.len(), %error, "could not write the sign-in log; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(error) if batch.len() > 1 => {
                tracing::warn!(rows = batch.len(), %error, "the sign-in log refused a batch; writing its rows one by one");
                for sign_in in batch.iter() {
                    write_one(store, sign_in).await;
                }
                break;
            }
            Err(error) => {
                if let Some(sign_in) = batch.first() {
                    tracing::warn!(id = %sign_in.id, %error, "the sign-in log refused a row; dropped");
                }
                break;
            }
        }
    }
    batch.clear();
}

/// Writes one row, retrying while the database is unreachable.
async fn write_one(store: &dyn Store, sign_in: &SignIn) {
    let mut pause = Duration::from_millis(100);
    loop {
        match store.record_sign_in(sign_in).await {
            Ok(()) => return,
            Err(StoreError::Unavailable(error)) => {
                tracing::warn!(%error, "could not write the sign-in log; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                tracing::warn!(id = %sign_in.id, %error, "the sign-in log refused a row; dropped");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testing::{services, world};

    fn row(tenant_id: &str, n: usize) -> SignIn {
        SignIn {
            id: format!("sign-in-{n:05}"),
            tenant_id: tenant_id.to_owned(),
            occurred_at: 1_700_000_000 + n as i64,
            user_id: None,
            app_id: None,
            status: "success".to_owned(),
            details: serde_json::json!({ "n": n }),
        }
    }

    /// Many concurrent appends end up in the database, in batches, and a flush waits for
    /// them; a row whose tenant does not exist is dropped without holding up the others.
    #[tokio::test]
    async fn appends_are_written_in_batches_and_flush_waits_for_them() {
        let node = services().await;
        let tenant = world(&node.services).await.tenant;
        let log = SignInLog::start(node.services.store.clone());
        let mut tasks = Vec::new();
        for n in 0..1200 {
            let log = log.clone();
            let sign_in = row(if n == 7 { "no-such-tenant" } else { &tenant.id }, n);
            tasks.push(tokio::spawn(async move { log.append(sign_in).await }));
        }
        for task in tasks {
            task.await.expect("join").expect("append");
        }
        log.flush().await;
        let written = node
            .services
            .store
            .sign_ins(&tenant.id, &Default::default(), 2000, 0)
            .await
            .expect("read");
        assert_eq!(written.len(), 1199);
        assert!(written.iter().all(|s| s.id != "sign-in-00007"));
    }
}
