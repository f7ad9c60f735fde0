//! `gatehouse migrate`: create the database, or bring it up to date, and exit.

use serde_json::json;

use super::common::print;
use crate::config::Config;
use crate::store;

/// Runs the migrations on the configured database; prints where and that it is done.
pub(super) async fn run(config: Config) -> anyhow::Result<()> {
    let url = config.resolved_database_url();
    store::sql::connect(&url, 1).await?;
    print(json!({ "database": crate::config::redact_url(&url), "migrated": true }))
}
