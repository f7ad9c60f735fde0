//! `gatehouse group …`: groups, their members (users and nested groups) and owners, through
//! the same services (rules and audit) as the admin API, acting as the operator. Output is the
//! admin API's JSON.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::common::{Admin, print};
use super::user::{operator, user_id};
use crate::services::AppState;
use crate::services::actor::Caller;
use crate::services::admin::groups::members::{self, DirectoryObject, Reference};
use crate::services::admin::groups::{self, GroupChanges};
use crate::services::admin::{self, GroupInput};

/// The `group` commands.
#[derive(Debug, Subcommand)]
pub(super) enum GroupCommand {
    /// Create a group; prints it.
    Create(CreateArgs),
    /// List the tenant's groups (every page); prints {value: [group]}.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Print a group.
    Show(GroupRef),
    /// Change a group's name, description or kind; prints it.
    Update(UpdateArgs),
    /// Delete a group (its memberships, owners and assignments go with it).
    Delete(GroupRef),
    /// List a group's direct members, users and groups; prints {value: [..]}.
    Members(GroupRef),
    /// Add or remove a member.
    #[command(subcommand)]
    Member(Relation),
    /// Add or remove an owner.
    #[command(subcommand)]
    Owner(Relation),
}

#[derive(Debug, Args)]
pub(super) struct CreateArgs {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Whether it is a security group (the `groups` claim can be limited to those).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    security_enabled: bool,
    /// E-mail address of an owner (repeatable); owners may invite guests into the group.
    #[arg(long = "owner", value_name = "EMAIL")]
    owners: Vec<String>,
    /// E-mail address of a member (repeatable).
    #[arg(long = "member", value_name = "EMAIL")]
    members: Vec<String>,
}

/// A group of a tenant.
#[derive(Debug, Args)]
pub(super) struct GroupRef {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// The group's object id.
    #[arg(long)]
    group: String,
}

#[derive(Debug, Args)]
pub(super) struct UpdateArgs {
    #[command(flatten)]
    target: GroupRef,
    /// New display name.
    #[arg(long)]
    name: Option<String>,
    /// New description ("" clears it).
    #[arg(long)]
    description: Option<String>,
    /// Whether it is a security group.
    #[arg(long, action = clap::ArgAction::Set)]
    security_enabled: Option<bool>,
}

/// `member add|remove` and `owner add|remove`.
#[derive(Debug, Subcommand)]
pub(super) enum Relation {
    /// Add one.
    Add(RelationArgs),
    /// Remove one.
    Remove(RelationArgs),
}

#[derive(Debug, Args)]
pub(super) struct RelationArgs {
    #[command(flatten)]
    target: GroupRef,
    /// A user (object id or e-mail address) or, for members, a group's object id.
    #[arg(long = "object", value_name = "ID_OR_EMAIL")]
    object: String,
}

/// Runs a `group` command.
pub(super) async fn run(admin: &Admin, command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create(args) => create(admin, args).await,
        GroupCommand::List { tenant } => list(admin, &tenant).await,
        GroupCommand::Show(target) => {
            let (state, caller) = operator(admin, &target.tenant).await?;
            let group = groups::get(&state, &caller, &target.group).await?;
            print(crate::graph::groups::group_json(&group))
        }
        GroupCommand::Update(args) => update(admin, args).await,
        GroupCommand::Delete(target) => {
            let (state, caller) = operator(admin, &target.tenant).await?;
            groups::delete(&state, &caller, &target.group).await?;
            print(json!({ "id": target.group, "deleted": true }))
        }
        GroupCommand::Members(target) => list_members(admin, target).await,
        GroupCommand::Member(relation) => relate(admin, relation, false).await,
        GroupCommand::Owner(relation) => relate(admin, relation, true).await,
    }
}

/// `group create`: prints the group.
async fn create(admin: &Admin, args: CreateArgs) -> anyhow::Result<()> {
    let group = admin::create_group(
        admin.store(),
        GroupInput {
            tenant: args.tenant,
            name: args.name,
            description: args.description,
            security_enabled: args.security_enabled,
            owners: args.owners,
            members: args.members,
        },
    )
    .await?;
    print(crate::graph::groups::group_json(&group))
}

/// Pages through `fetch` (`limit`, `offset`) until a short page.
const PAGE: i64 = 500;

/// `group list`: every page, as one list.
async fn list(admin: &Admin, slug: &str) -> anyhow::Result<()> {
    let tenant = admin.tenant(slug).await?;
    let mut values: Vec<Value> = Vec::new();
    let mut offset = 0;
    loop {
        let page = admin.store().list_groups(&tenant.id, PAGE, offset).await?;
        values.extend(page.iter().map(crate::graph::groups::group_json));
        if (page.len() as i64) < PAGE {
            break;
        }
        offset += PAGE;
    }
    print(json!({ "value": values }))
}

/// `group update`: prints the group.
async fn update(admin: &Admin, args: UpdateArgs) -> anyhow::Result<()> {
    let (state, caller) = operator(admin, &args.target.tenant).await?;
    let changes = GroupChanges {
        display_name: args.name,
        description: args
            .description
            .map(|d| (!d.trim().is_empty()).then_some(d)),
        security_enabled: args.security_enabled,
    };
    let group = groups::update(&state, &caller, &args.target.group, changes).await?;
    print(crate::graph::groups::group_json(&group))
}

/// `group members`: every page, as one list.
async fn list_members(admin: &Admin, target: GroupRef) -> anyhow::Result<()> {
    let (state, caller) = operator(admin, &target.tenant).await?;
    let mut values: Vec<Value> = Vec::new();
    let mut offset = 0;
    loop {
        let page = members::members(&state, &caller, &target.group, (PAGE, offset)).await?;
        for object in &page {
            values.push(member_json(&state, object).await?);
        }
        if (page.len() as i64) < PAGE {
            break;
        }
        offset += PAGE;
    }
    print(json!({ "value": values }))
}

/// A member in the admin API's shape, with its `@odata.type`.
async fn member_json(state: &AppState, object: &DirectoryObject) -> anyhow::Result<Value> {
    Ok(match object {
        DirectoryObject::User(user) => {
            let mut value =
                crate::graph::users::user_json(user, &state.store.identities(&user.id).await?);
            value["@odata.type"] = json!("#microsoft.graph.user");
            value
        }
        DirectoryObject::Group(group) => {
            let mut value = crate::graph::groups::group_json(group);
            value["@odata.type"] = json!("#microsoft.graph.group");
            value
        }
    })
}

/// `member add|remove`, `owner add|remove`.
async fn relate(admin: &Admin, relation: Relation, owner: bool) -> anyhow::Result<()> {
    let (adding, args) = match relation {
        Relation::Add(args) => (true, args),
        Relation::Remove(args) => (false, args),
    };
    let (state, caller) = operator(admin, &args.target.tenant).await?;
    let id = object_id(admin, &caller, &args.object).await?;
    let group = &args.target.group;
    let reference = Reference {
        id: id.clone(),
        kind: None,
    };
    match (owner, adding) {
        (false, true) => members::add_member(&state, &caller, group, &reference).await?,
        (false, false) => members::remove_member(&state, &caller, group, &id).await?,
        (true, true) => members::add_owner(&state, &caller, group, &reference).await?,
        (true, false) => members::remove_owner(&state, &caller, group, &id).await?,
    }
    let relation = if owner { "owner" } else { "member" };
    print(json!({ "group": group, relation: id, "added": adding, "removed": !adding }))
}

/// A user named by e-mail address, or any object id as given.
async fn object_id(admin: &Admin, caller: &Caller, object: &str) -> anyhow::Result<String> {
    user_id(admin, caller, object).await
}
