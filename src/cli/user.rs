//! `gatehouse user …`: member users.

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{Admin, print, read_password};
use crate::passwords::Passwords;
use crate::services::admin::{self, UserInput};

/// The `user` commands.
#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Create a member user; prints the user.
    Create(UserCreate),
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

/// Runs a `user` command.
pub(super) async fn run(admin: &Admin, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create(args) => create(admin, args).await,
    }
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
