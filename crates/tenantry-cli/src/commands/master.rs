use serde_json::json;

use crate::cli::MasterCommand;
use crate::context::{Context, KeyPolicy};
use crate::error::CliError;
use crate::output;

pub async fn run(ctx: &Context, cmd: MasterCommand) -> Result<(), CliError> {
    match cmd {
        MasterCommand::Migrate(flags) => {
            let registry = ctx.connect_registry(KeyPolicy::GenerateIfMissing).await?;
            let report = registry.migrate().await?;
            if flags.json {
                output::json(&json!({
                    "applied": report.applied.iter().map(|(v, n)| json!({"version": v, "name": n})).collect::<Vec<_>>(),
                    "version": report.current_version,
                }));
            } else if report.applied.is_empty() {
                println!(
                    "master is up to date (version {})",
                    version(report.current_version)
                );
            } else {
                for (v, name) in &report.applied {
                    println!("applied V{v}__{name}");
                }
                println!("master is at version {}", version(report.current_version));
            }
            Ok(())
        }
    }
}

fn version(v: Option<i32>) -> String {
    v.map_or_else(|| "none".into(), |v| v.to_string())
}
