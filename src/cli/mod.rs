//! The command line. `gatehouse` alone (or `gatehouse serve`) runs the server; the other
//! commands work against the configured database and print one JSON object on stdout.
//! Errors go to stderr with a non-zero exit status (2 for bad arguments, 1 otherwise).
//!
//! This file is the clap root and the dispatch; each command group lives in a file of its own
//! with its clap definitions and its `run`, and what they share is in `common`. Running the
//! server is not this front door's work: [`start`] answers [`Invocation::Serve`] and the
//! binary starts the application, so the CLI never imports the tier above it.

mod app;
mod assignment;
mod common;
mod group;
mod invite;
mod keys;
mod migrate;
mod openapi;
mod partner;
mod policy;
mod tenant;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::telemetry;

pub use common::EXIT_ROWS_FAILED;

/// Gatehouse: a multi-tenant OpenID Connect and SAML identity provider for B2B collaboration.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// Configuration file (default: gatehouse.toml if present, or $GATEHOUSE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the identity provider (the default).
    Serve,
    /// Create the database (or bring it up to date) and exit; `serve` does the same at start.
    Migrate,
    /// Print the admin API's OpenAPI document (the one served at /openapi.json).
    Openapi,
    #[command(flatten)]
    Admin(Box<AdminCommand>),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage applications.
    #[command(subcommand)]
    App(app::AppCommand),
    /// Manage groups.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Manage app-role assignments of users and groups.
    #[command(subcommand)]
    Assignment(assignment::AssignmentCommand),
    /// Invite guests in bulk from Entra's CSV template or JSON Lines; prints one result per
    /// row on stdout (CSV, or JSON Lines with --json), a progress line on stderr when it is a
    /// terminal (or with --progress), and a summary. Exit status: 0 when every row was invited
    /// or already known, 3 when any row failed (stdout says which), 1 when the file cannot be
    /// used at all (not the template, unreadable), 2 for bad arguments.
    Invite(invite::InviteArgs),
    /// Manage conditional-access policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Manage partner identity providers (guests' home IdPs).
    #[command(subcommand)]
    Partner(partner::PartnerCommand),
    /// Manage the signing key ring.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

/// What the command line asks for, with its configuration loaded.
pub enum Invocation {
    /// `gatehouse` or `gatehouse serve`: the binary runs the server with this configuration.
    Serve(Config),
    /// Any other command, for [`run`].
    Command(Config, Task),
}

/// A command other than `serve`, ready for [`run`].
#[derive(Debug)]
pub struct Task(Work);

#[derive(Debug)]
enum Work {
    Migrate,
    Openapi,
    Admin(Box<AdminCommand>),
}

/// The process's logging and traces, from [`start`] to [`Session::finish`].
pub struct Session {
    telemetry: telemetry::Telemetry,
}

/// Parses the command line (exiting with status 2 on bad arguments), loads the configuration
/// and starts logging: the server's filter and traces for `serve`, warnings only for a command.
/// On failure the error is printed and the exit status returned.
pub fn start() -> Result<(Invocation, Session), ExitCode> {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let serve = matches!(command, Command::Serve);
    let default_filter = if serve {
        telemetry::SERVER_FILTER
    } else {
        telemetry::COMMAND_FILTER
    };
    // Traces are for the server; an administration command is one short process.
    let otlp = if serve {
        config.otlp.clone()
    } else {
        crate::config::OtlpSettings::default()
    };
    let telemetry = match telemetry::init(config.log_format, default_filter, &otlp) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Err(ExitCode::FAILURE);
        }
    };
    let invocation = match command {
        Command::Serve => Invocation::Serve(config),
        Command::Migrate => Invocation::Command(config, Task(Work::Migrate)),
        Command::Openapi => Invocation::Command(config, Task(Work::Openapi)),
        Command::Admin(command) => Invocation::Command(config, Task(Work::Admin(command))),
    };
    Ok((invocation, Session { telemetry }))
}

/// Runs a command other than `serve`.
pub async fn run(config: Config, task: Task) -> anyhow::Result<()> {
    match task.0 {
        Work::Migrate => migrate::run(config).await,
        Work::Openapi => openapi::run(),
        Work::Admin(command) => run_admin(config, *command).await,
    }
}

impl Session {
    /// Stops logging and turns the result into the exit status, printing an error on stderr.
    pub fn finish(self, result: anyhow::Result<()>) -> ExitCode {
        self.telemetry.shutdown();
        common::exit_code(result)
    }
}

/// An administration command: it opens the server's database, which must exist.
async fn run_admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let admin = common::Admin::open(config).await?;
    match command {
        AdminCommand::Tenant(command) => tenant::run(&admin, command).await,
        AdminCommand::User(command) => user::run(&admin, command).await,
        AdminCommand::App(command) => app::run(&admin, command).await,
        AdminCommand::Group(command) => group::run(&admin, command).await,
        AdminCommand::Assignment(command) => assignment::run(&admin, command).await,
        AdminCommand::Invite(args) => invite::run(admin, args).await,
        AdminCommand::Policy(command) => policy::run(&admin, command).await,
        AdminCommand::Partner(command) => partner::run(&admin, command).await,
        AdminCommand::Keys(command) => keys::run(admin, command).await,
    }
}
