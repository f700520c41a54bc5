use std::io::IsTerminal;

use tenantry_core::LogFormat;
use tenantry_core::settings::LogSettings;
use tracing_subscriber::EnvFilter;

/// Targets held at `debug` whatever `log.level` or `RUST_LOG` ask: sea-orm's drivers open a
/// `trace` span on connect that records the connection options, URL and password included (the
/// master's, a tenant role's), and every event inside it prints them.
const SECRET_BEARING: [&str; 2] = [
    "sea_orm::driver::sqlx_postgres=debug",
    "sea_orm::driver::sqlx_sqlite=debug",
];

/// Logs go to stderr so that stdout stays clean for command output (`--json`). `RUST_LOG`, if
/// set, overrides `log.level`. From `log.level`, refinery's own narration ("no migrations to
/// apply", ...) is kept to warnings: Tenantry logs each migration it applies itself.
pub fn init(settings: &LogSettings) {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{},refinery_core=warn", settings.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Added last, so they replace a directive for the same target instead of yielding to it.
    for directive in SECRET_BEARING {
        filter = filter.add_directive(directive.parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.with_target(false).try_init(),
    };
}
