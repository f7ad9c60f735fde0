//! `gatehouse admin assignment …`: app-role assignments of users and groups, printed in
//! Graph's `appRoleAssignment` shape.

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{Admin, print};
use crate::services::admin::assignments::{self, Assignee, Listed};

/// The `assignment` commands.
#[derive(Debug, Subcommand)]
pub(super) enum AssignmentCommand {
    /// List the assignments of a user, of a group, or to an app; prints {value: [..]}.
    List(ListArgs),
    /// Give a user or group a role of an app (default access without --role); prints it.
    Add(ChangeArgs),
    /// Take a role of an app (every one without --role) from a user or group; prints what
    /// was removed.
    Remove(ChangeArgs),
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// The user's e-mail address.
    #[arg(long, conflicts_with_all = ["group", "app"], required_unless_present_any = ["group", "app"])]
    user: Option<String>,
    /// The group's id.
    #[arg(long, conflicts_with = "app")]
    group: Option<String>,
    /// The app's client id.
    #[arg(long)]
    app: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct ChangeArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// The app's client id.
    #[arg(long)]
    app: String,
    /// The user's e-mail address.
    #[arg(long, conflicts_with = "group", required_unless_present = "group")]
    user: Option<String>,
    /// The group's id.
    #[arg(long)]
    group: Option<String>,
    /// The role's value (e.g. Approver); default access when absent.
    #[arg(long)]
    role: Option<String>,
}

impl ChangeArgs {
    fn assignee(&self) -> Assignee {
        match (&self.user, &self.group) {
            (Some(email), _) => Assignee::User(email.clone()),
            (None, Some(id)) => Assignee::Group(id.clone()),
            (None, None) => Assignee::User(String::new()),
        }
    }
}

/// Runs an `assignment` command.
pub(super) async fn run(admin: &Admin, command: AssignmentCommand) -> anyhow::Result<()> {
    let store = admin.store();
    match command {
        AssignmentCommand::List(args) => {
            let what = match (args.user, args.group, args.app) {
                (Some(email), _, _) => Listed::User(email),
                (None, Some(id), _) => Listed::Group(id),
                (None, None, Some(client_id)) => Listed::App(client_id),
                (None, None, None) => Listed::User(String::new()),
            };
            let found = assignments::list_for(store, &args.tenant, &what).await?;
            let value: Vec<_> = found.iter().map(assignments::to_json).collect();
            print(json!({ "value": value }))
        }
        AssignmentCommand::Add(args) => {
            let assignee = args.assignee();
            let added = assignments::assign_role(
                store,
                &args.tenant,
                &args.app,
                &assignee,
                args.role.as_deref(),
            )
            .await?;
            print(assignments::to_json(&added))
        }
        AssignmentCommand::Remove(args) => {
            let assignee = args.assignee();
            let removed = assignments::remove_for(
                store,
                &args.tenant,
                &args.app,
                &assignee,
                args.role.as_deref(),
            )
            .await?;
            let value: Vec<_> = removed.iter().map(assignments::to_json).collect();
            print(json!({ "removed": value }))
        }
    }
}
