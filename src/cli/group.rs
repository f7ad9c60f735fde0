//! `gatehouse group …`: groups.

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{Admin, print};
use crate::services::admin::{self, GroupInput};

/// The `group` commands.
#[derive(Debug, Subcommand)]
pub(super) enum GroupCommand {
    /// Create a group; prints {id, displayName}.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub(super) struct CreateArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// E-mail address of an owner (repeatable); owners may invite guests into the group.
    #[arg(long = "owner", value_name = "EMAIL")]
    owners: Vec<String>,
    /// E-mail address of a member (repeatable).
    #[arg(long = "member", value_name = "EMAIL")]
    members: Vec<String>,
}

/// Runs a `group` command.
pub(super) async fn run(admin: &Admin, command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create(args) => create(admin, args).await,
    }
}

/// `group create`: prints the group's id and name.
async fn create(admin: &Admin, args: CreateArgs) -> anyhow::Result<()> {
    let group = admin::create_group(
        admin.store(),
        GroupInput {
            tenant: args.tenant,
            name: args.name,
            owners: args.owners,
            members: args.members,
            ..Default::default()
        },
    )
    .await?;
    print(json!({ "id": group.id, "displayName": group.display_name }))
}
