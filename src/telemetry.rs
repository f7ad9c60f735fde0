//! Structured logging with `tracing`, to stderr (stdout belongs to the CLI's JSON output).
//! The filter comes from `GATEHOUSE_LOG` or `RUST_LOG` (default `info`); the format from the
//! configuration. Nothing logged anywhere carries a password, code, token or secret: handlers
//! log ids and outcomes only, and request spans name the route template, not the URI.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter of the server when none is configured.
pub const SERVER_FILTER: &str = "info,sqlx=warn,tower_http=warn";
/// The filter of the administration commands when none is configured: their output is on
/// stdout, and stderr stays quiet but for warnings (no log line per invited row).
pub const COMMAND_FILTER: &str = "warn";

/// Installs the global subscriber (once; later calls are ignored, which tests rely on), with
/// `default` as the filter unless `GATEHOUSE_LOG` or `RUST_LOG` names one.
pub fn init(format: LogFormat, default: &str) {
    let filter = std::env::var("GATEHOUSE_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // Colour only for a person at a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Compact => builder.compact().try_init(),
    };
}
