use std::time::Duration;

use tenantry_provision::reconcile::{Drift, DriftScope, Outcome};

use crate::cli::JsonFlag;
use crate::context::Context;
use crate::error::CliError;
use crate::output;

/// Resolves interrupted operations and reports drift. Exit 1 if an operation could not be
/// resolved or any drift was found, so cron jobs notice.
pub async fn run(
    ctx: &Context,
    stale_after: u64,
    catalog_only: bool,
    flags: JsonFlag,
) -> Result<(), CliError> {
    let p = ctx.provisioner().await?;
    let scope = if catalog_only {
        DriftScope::Catalog
    } else {
        DriftScope::Schema
    };
    let report = p.reconcile(Duration::from_secs(stale_after), scope).await?;
    if flags.json {
        output::json(&report);
    } else {
        for r in &report.operations {
            let what = r.subdomain.as_deref().unwrap_or("-");
            match &r.outcome {
                Outcome::RolledBack => {
                    println!("rolled back {} of {what} ({})", r.kind, r.operation)
                }
                Outcome::Completed => println!("completed {} of {what} ({})", r.kind, r.operation),
                Outcome::Interrupted => println!(
                    "ended interrupted {} ({}) as failed: run it again to finish",
                    r.kind, r.operation
                ),
                Outcome::Failed(e) => println!(
                    "FAILED to resolve {} of {what} ({}): {e}",
                    r.kind, r.operation
                ),
            }
        }
        for d in &report.drift {
            println!("drift: {}", describe(d));
        }
        if report.operations.is_empty() && report.drift.is_empty() {
            println!("nothing to reconcile; no drift");
        }
    }
    let unresolved = report
        .operations
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    if unresolved + report.drift.len() > 0 {
        return Err(CliError::Failed(format!(
            "{unresolved} operation(s) unresolved, {} drift finding(s)",
            report.drift.len()
        )));
    }
    Ok(())
}

fn describe(d: &Drift) -> String {
    match d {
        Drift::OrphanDatabase { server, database } => {
            format!("database {database} on {server} belongs to no tenant")
        }
        Drift::OrphanRole { server, role } => {
            format!("role {role} on {server} belongs to no tenant")
        }
        Drift::MissingDatabase { tenant, database } => {
            format!("tenant {tenant}: database {database} is missing")
        }
        Drift::SchemaVersion {
            tenant,
            registry,
            database,
        } => {
            format!(
                "tenant {tenant}: registry says schema {registry:?}, database says {database:?}"
            )
        }
        Drift::TenantUnreachable { tenant, error } => {
            format!("tenant {tenant}: cannot open its database: {error}")
        }
        Drift::Unreachable { server, error } => format!("cannot inspect {server}: {error}"),
    }
}
