//! `gatehouse invite`: invite guests in bulk from Entra's CSV template or JSON Lines, with the
//! API's bulk engine run as the operator.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::common::{Admin, RowsFailed};
use crate::services::AppState;
use crate::services::admin;
use crate::services::invitations::bulk::{self, CSV_HEADER, Format, Summary};

#[derive(Debug, Args)]
pub(super) struct InviteArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Entra's bulk-invite CSV template.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "jsonl",
        required_unless_present = "jsonl"
    )]
    csv: Option<PathBuf>,
    /// One invitation object per line.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    /// Print results as JSON Lines instead of CSV.
    #[arg(long)]
    json: bool,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

/// Runs `gatehouse invite`: the database was checked by [`Admin::open`]; the bulk engine needs
/// the node's services (mail included), so they are connected in its place.
pub(super) async fn run(admin: Admin, args: InviteArgs) -> anyhow::Result<()> {
    let Admin { config, store } = admin;
    drop(store);
    let services = std::sync::Arc::new(crate::services::Services::connect(config).await?);
    let state = AppState(services);
    let tenant =
        std::sync::Arc::new(admin::tenant_by_slug(state.store.as_ref(), &args.tenant).await?);
    let caller = crate::services::actor::Caller::operator(tenant);
    let rows = open_rows(&args).await?;
    let (results, receiver) = tokio::sync::mpsc::channel(256);
    let worker_state = state.clone();
    let worker =
        tokio::spawn(async move { bulk::run(&worker_state, &caller, rows, results).await });
    if !args.json {
        print!("{CSV_HEADER}");
    }
    // Progress is one line rewritten in place, for a person at a terminal; a log or a pipe
    // gets only the summary.
    let progress = args.progress || std::io::stderr().is_terminal();
    print_results(receiver, args.json, progress).await?;
    let summary = worker.await??;
    report(&summary, progress);
    deliver_mail(&state).await?;
    if summary.failed > 0 {
        return Err(RowsFailed(summary.failed).into());
    }
    Ok(())
}

/// The rows of the file named, its header checked.
async fn open_rows(args: &InviteArgs) -> anyhow::Result<bulk::Rows> {
    let (path, format) = match (&args.csv, &args.jsonl) {
        (Some(path), _) => (path.clone(), Format::Csv),
        (None, Some(path)) => (path.clone(), Format::JsonLines),
        (None, None) => anyhow::bail!("give --csv FILE or --jsonl FILE"),
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    bulk::read_rows(Box::pin(file), format)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Prints each row's result on stdout as it comes (CSV, or JSON Lines with `json`), and the
/// count every 100 rows on stderr with `progress`.
async fn print_results(
    mut receiver: tokio::sync::mpsc::Receiver<bulk::RowResult>,
    json: bool,
    progress: bool,
) -> anyhow::Result<()> {
    let mut rows = 0usize;
    while let Some(result) = receiver.recv().await {
        rows += 1;
        if json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            print!("{}", result.csv_line());
        }
        if progress && rows.is_multiple_of(100) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{rows} rows processed");
            let _ = err.flush();
        }
    }
    Ok(())
}

/// The summary line on stderr.
fn report(summary: &Summary, progress: bool) {
    if progress {
        eprint!("\r");
    }
    eprintln!(
        "done: {} rows, {} invited, {} already known, {} failed",
        summary.rows, summary.invited, summary.skipped, summary.failed
    );
}

/// Delivers what can be delivered within a minute; a running server sends the rest.
async fn deliver_mail(state: &AppState) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if state.mailer.send_due(state.store.as_ref()).await? == 0 {
            break;
        }
    }
    Ok(())
}
