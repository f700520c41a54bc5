use std::io::IsTerminal;

use tenantry_core::LogFormat;
use tenantry_core::settings::LogSettings;
use tracing_subscriber::EnvFilter;

/// Logs go to stderr so that stdout stays clean for command output (`--json`). `RUST_LOG`, if
/// set, overrides `log.level`. From `log.level`, refinery's own narration ("no migrations to
/// apply", ...) is kept to warnings: Tenantry logs each migration it applies itself.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{},refinery_core=warn", settings.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.with_target(false).try_init(),
    };
}
