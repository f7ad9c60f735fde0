//! `gatehouse user …`: users — create members, and list, show, change, disable, enable,
//! delete any user or end their sign-ins, through the same services (rules and audit) as the
//! admin API, acting as the operator. Output is the admin API's JSON.

use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::common::{Admin, print, read_password};
use crate::passwords::Passwords;
use crate::services::actor::Caller;
use crate::services::admin::accounts::{self, PasswordProfile, UserChanges};
use crate::services::admin::{self, UserInput};
use crate::services::{AppState, Services};

/// The `user` commands.
#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Create a member user; prints the user.
    Create(UserCreate),
    /// List the tenant's users (every page); prints {value: [user]}.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Only this userType: Guest or Member.
        #[arg(long = "type", value_name = "TYPE")]
        user_type: Option<String>,
    },
    /// Print a user.
    Show(UserRef),
    /// Change a user's profile, type or password; prints the user.
    Update(UserUpdate),
    /// Disable a user: every sign-in, refresh token and session ends at once.
    Disable(UserRef),
    /// Enable a disabled user.
    Enable(UserRef),
    /// Delete a user (the apps holding their sessions are told first).
    Delete(UserRef),
    /// End every sign-in of a user (refresh tokens, grants, sessions).
    RevokeSessions(UserRef),
}

#[derive(Debug, Args)]
pub(super) struct UserCreate {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Sign-in e-mail address.
    #[arg(long)]
    email: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// Given name.
    #[arg(long)]
    given_name: Option<String>,
    /// Family name.
    #[arg(long)]
    family_name: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Directory role (repeatable): "Global Administrator", "User Administrator", "Guest Inviter".
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
}

/// A user of a tenant, by object id or e-mail address.
#[derive(Debug, Args)]
pub(super) struct UserRef {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// The user's object id or e-mail address.
    #[arg(long)]
    user: String,
}

#[derive(Debug, Args)]
pub(super) struct UserUpdate {
    #[command(flatten)]
    target: UserRef,
    /// New display name.
    #[arg(long)]
    display_name: Option<String>,
    /// New given name ("" clears it).
    #[arg(long)]
    given_name: Option<String>,
    /// New surname ("" clears it).
    #[arg(long)]
    surname: Option<String>,
    /// New job title ("" clears it).
    #[arg(long)]
    job_title: Option<String>,
    /// New usage location, ISO 3166 alpha-2 ("" clears it).
    #[arg(long)]
    usage_location: Option<String>,
    /// New userType: Guest or Member (the type only).
    #[arg(long = "type", value_name = "TYPE")]
    user_type: Option<String>,
    /// Read a new password from the first line of standard input (users who sign in here).
    #[arg(long)]
    password_stdin: bool,
}

/// The node's services and the operator acting on a tenant, for the commands that share the
/// admin API's rules.
pub(super) async fn operator(admin: &Admin, slug: &str) -> anyhow::Result<(AppState, Caller)> {
    let tenant = Arc::new(admin.tenant(slug).await?);
    let services = Services::connect(admin.config.clone()).await?;
    Ok((AppState(Arc::new(services)), Caller::operator(tenant)))
}

/// The object id of a user named by id or e-mail address.
pub(super) async fn user_id(admin: &Admin, caller: &Caller, user: &str) -> anyhow::Result<String> {
    if user.contains('@') {
        Ok(admin::user_by_email(admin.store(), &caller.tenant, user)
            .await?
            .id)
    } else {
        Ok(user.to_owned())
    }
}

/// Runs a `user` command.
pub(super) async fn run(admin: &Admin, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create(args) => create(admin, args).await,
        UserCommand::List { tenant, user_type } => list(admin, &tenant, user_type).await,
        UserCommand::Show(target) => {
            let (state, caller) = operator(admin, &target.tenant).await?;
            show(
                &state,
                &caller,
                &user_id(admin, &caller, &target.user).await?,
            )
            .await
        }
        UserCommand::Update(args) => update(admin, args).await,
        UserCommand::Disable(target) => set_enabled(admin, target, false).await,
        UserCommand::Enable(target) => set_enabled(admin, target, true).await,
        UserCommand::Delete(target) => {
            let (state, caller) = operator(admin, &target.tenant).await?;
            let id = user_id(admin, &caller, &target.user).await?;
            accounts::delete(&state, &caller, &id).await?;
            print(json!({ "id": id, "deleted": true }))
        }
        UserCommand::RevokeSessions(target) => {
            let (state, caller) = operator(admin, &target.tenant).await?;
            let id = user_id(admin, &caller, &target.user).await?;
            accounts::revoke_sign_in_sessions(&state, &caller, &id).await?;
            print(json!({ "id": id, "value": true }))
        }
    }
}

/// Prints a user in the admin API's shape.
async fn show(state: &AppState, caller: &Caller, id: &str) -> anyhow::Result<()> {
    let user = admin::lifecycle::user(state, &caller.tenant.id, id).await?;
    let identities = state.store.identities(&user.id).await?;
    print(crate::graph::users::user_json(&user, &identities))
}

/// `user list`: every page, as one list.
async fn list(admin: &Admin, slug: &str, user_type: Option<String>) -> anyhow::Result<()> {
    let tenant = admin.tenant(slug).await?;
    if let Some(kind) = &user_type {
        kind.parse::<crate::domain::user::UserType>()?;
    }
    const PAGE: i64 = 500;
    let mut values: Vec<Value> = Vec::new();
    let mut offset = 0;
    loop {
        let page = admin
            .store()
            .list_users(&tenant.id, user_type.as_deref(), PAGE, offset)
            .await?;
        for user in &page {
            let identities = admin.store().identities(&user.id).await?;
            values.push(crate::graph::users::user_json(user, &identities));
        }
        if (page.len() as i64) < PAGE {
            break;
        }
        offset += PAGE;
    }
    print(json!({ "value": values }))
}

/// "" clears an optional property.
fn clearable(value: Option<String>) -> Option<Option<String>> {
    value.map(|v| (!v.trim().is_empty()).then_some(v))
}

/// `user update`.
async fn update(admin: &Admin, args: UserUpdate) -> anyhow::Result<()> {
    let (state, caller) = operator(admin, &args.target.tenant).await?;
    let id = user_id(admin, &caller, &args.target.user).await?;
    let password = if args.password_stdin {
        Some(PasswordProfile {
            password: read_password()?,
            force_change: false,
        })
    } else {
        None
    };
    let changes = UserChanges {
        display_name: args.display_name,
        given_name: clearable(args.given_name),
        surname: clearable(args.surname),
        job_title: clearable(args.job_title),
        usage_location: clearable(args.usage_location),
        user_type: args.user_type.map(|t| t.parse()).transpose()?,
        password,
        ..Default::default()
    };
    accounts::update(&state, &caller, &id, changes).await?;
    show(&state, &caller, &id).await
}

/// `user disable` / `user enable`.
async fn set_enabled(admin: &Admin, target: UserRef, enabled: bool) -> anyhow::Result<()> {
    let (state, caller) = operator(admin, &target.tenant).await?;
    let id = user_id(admin, &caller, &target.user).await?;
    let changes = UserChanges {
        account_enabled: Some(enabled),
        ..Default::default()
    };
    accounts::update(&state, &caller, &id, changes).await?;
    show(&state, &caller, &id).await
}

/// `user create`: prints the user.
async fn create(admin: &Admin, args: UserCreate) -> anyhow::Result<()> {
    let password = if args.password_stdin {
        Some(read_password()?)
    } else {
        None
    };
    let input = UserInput {
        tenant: args.tenant,
        email: args.email,
        name: args.name,
        given_name: args.given_name,
        family_name: args.family_name,
        password,
        roles: args.roles,
    };
    let user = admin::create_user(admin.store(), &Passwords::default(), input).await?;
    print(json!({
        "id": user.id,
        "tenant_id": user.tenant_id,
        "email": user.email,
        "displayName": user.display_name,
        "userPrincipalName": user.upn,
        "userType": user.user_type.as_str(),
        "roles": user.roles,
        "has_password": user.password_hash.is_some(),
    }))
}
