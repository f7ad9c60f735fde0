//! `gatehouse keys …`: the signing key ring.

use clap::Subcommand;
use serde_json::json;

use super::common::{Admin, print};
use crate::domain::unix_now;
use crate::keys::{KeyRing, KeyTimings};

/// The `keys` commands.
#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// Activate the published next key, retire the active one, publish a new next key.
    Rotate,
}

/// Runs a `keys` command.
pub(super) async fn run(admin: Admin, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate => rotate(admin).await,
    }
}

/// `keys rotate`: prints the rotation of every algorithm.
async fn rotate(admin: Admin) -> anyhow::Result<()> {
    let master = admin.master_key()?;
    let ring = KeyRing::load(
        admin.store,
        master,
        KeyTimings::from_config(&admin.config),
        None,
    )
    .await?;
    let reports = ring.rotate(unix_now()).await?;
    print(json!({ "rotations": reports }))
}
