//! `gatehouse policy …`: conditional-access policies.

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{Admin, operator, print};
use crate::domain::policy::{
    ApplicationConditions, Conditions, Control, GrantControls, PolicyState, UserConditions,
};
use crate::domain::tenant::Tenant;
use crate::services::admin::policies::{self, PolicyInput};

/// The `policy` commands.
#[derive(Debug, Subcommand)]
pub(super) enum PolicyCommand {
    /// Create a conditional-access policy; prints it in Graph's shape.
    Create(PolicyArgs),
    /// List the tenant's policies.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Delete a policy.
    Delete {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Policy id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Args)]
pub(super) struct PolicyArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// enabled, disabled or report-only.
    #[arg(long, default_value = "enabled")]
    state: String,
    /// Users targeted (repeatable): All, GuestsOrExternalUsers, Members, a user id or an
    /// e-mail address.
    #[arg(long = "user", value_name = "USER")]
    users: Vec<String>,
    /// Users left out (repeatable): GuestsOrExternalUsers, Members, an id or an address.
    #[arg(long = "exclude-user", value_name = "USER")]
    exclude_users: Vec<String>,
    /// Group ids targeted (repeatable).
    #[arg(long = "group", value_name = "ID")]
    groups: Vec<String>,
    /// Group ids left out (repeatable).
    #[arg(long = "exclude-group", value_name = "ID")]
    exclude_groups: Vec<String>,
    /// Applications targeted (repeatable): All or a client_id. Default: All.
    #[arg(long = "app", value_name = "CLIENT_ID")]
    apps: Vec<String>,
    /// Applications left out (repeatable).
    #[arg(long = "exclude-app", value_name = "CLIENT_ID")]
    exclude_apps: Vec<String>,
    /// mfa or block.
    #[arg(long)]
    grant: String,
}

/// Runs a `policy` command.
pub(super) async fn run(admin: &Admin, command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Create(args) => create(admin, args).await,
        PolicyCommand::List { tenant } => {
            let tenant = admin.tenant(&tenant).await?;
            let list = admin.store().policies(&tenant.id).await?;
            print(json!({ "value": list.iter().map(|p| p.to_graph()).collect::<Vec<_>>() }))
        }
        PolicyCommand::Delete { tenant, id } => {
            let tenant = admin.tenant(&tenant).await?;
            policies::delete_policy(admin.store(), &tenant, &id, operator()).await?;
            print(json!({ "deleted": id }))
        }
    }
}

/// `policy create`: prints the policy in Graph's shape.
async fn create(admin: &Admin, args: PolicyArgs) -> anyhow::Result<()> {
    let tenant = admin.tenant(&args.tenant).await?;
    let include_users = user_ids(admin, &tenant, &args.users).await?;
    let exclude_users = user_ids(admin, &tenant, &args.exclude_users).await?;
    let control = match args.grant.as_str() {
        "mfa" => Control::Mfa,
        "block" => Control::Block,
        other => anyhow::bail!("--grant must be mfa or block, not {other:?}"),
    };
    let input = PolicyInput {
        display_name: args.name,
        state: PolicyState::parse(&args.state).map_err(|e| anyhow::anyhow!("--state: {e}"))?,
        conditions: Conditions {
            users: UserConditions {
                include_users,
                exclude_users,
                include_groups: args.groups,
                exclude_groups: args.exclude_groups,
            },
            applications: ApplicationConditions {
                include_applications: if args.apps.is_empty() {
                    vec!["All".to_owned()]
                } else {
                    args.apps
                },
                exclude_applications: args.exclude_apps,
            },
        },
        grant: GrantControls {
            operator: "OR".to_owned(),
            built_in_controls: vec![control],
        },
    };
    let policy = policies::create_policy(admin.store(), &tenant, input, operator()).await?;
    print(policy.to_graph())
}

/// The object ids of users named on the command line: addresses are a convenience of the
/// CLI, the policy stores ids.
async fn user_ids(admin: &Admin, tenant: &Tenant, users: &[String]) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for user in users {
        if user.contains('@') {
            ids.push(
                crate::services::admin::user_by_email(admin.store(), tenant, user)
                    .await?
                    .id,
            );
        } else {
            ids.push(user.clone());
        }
    }
    Ok(ids)
}
