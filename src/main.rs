//! The `gatehouse` binary: parses the command line and hands over to [`gatehouse::cli`].

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    gatehouse::cli::main().await
}
