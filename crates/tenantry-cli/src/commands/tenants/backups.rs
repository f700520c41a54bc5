//! `tenants backup | backups | restore | recover`: what they print, and an exit code that says
//! whether every backup asked for was taken.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tenantry_ops::{BackupView, Caller, FleetBackup, Operator};

use super::{print_tenant, tenant_ref};
use crate::cli::{JsonFlag, TenantsCommand};
use crate::error::CliError;
use crate::output::{self, or_dash};

pub(super) async fn run(
    ops: &Operator,
    caller: &Caller,
    cmd: TenantsCommand,
) -> Result<(), CliError> {
    match cmd {
        TenantsCommand::Backup {
            tenant: Some(tenant),
            output,
            ..
        } => {
            let backup = ops.backup_tenant(caller, &tenant_ref(&tenant)).await?;
            if output.json {
                output::json(&backup);
            } else {
                println!(
                    "backed up {tenant}: backup {} ({} bytes) at {}",
                    backup.id,
                    or_dash(backup.bytes),
                    backup.location
                );
            }
            Ok(())
        }
        TenantsCommand::Backup {
            tenant: None,
            concurrency,
            include_suspended,
            output,
            ..
        } => {
            fleet(
                ops,
                caller,
                usize::from(concurrency),
                include_suspended,
                &output,
            )
            .await
        }
        TenantsCommand::Backups { tenant, output } => {
            let backups = ops.list_backups(caller, &tenant_ref(&tenant)).await?;
            if output.json {
                output::json(&backups);
            } else {
                let rows: Vec<Vec<String>> = backups.iter().map(row).collect();
                output::table(
                    &[
                        "ID", "KIND", "STATE", "BYTES", "SCHEMA", "CREATED", "LOCATION",
                    ],
                    &rows,
                );
            }
            Ok(())
        }
        TenantsCommand::Restore {
            tenant,
            backup,
            into: Some(into),
            name,
            server,
            output,
        } => {
            let view = ops
                .clone_tenant(caller, backup, &into, name.as_deref(), server.as_deref())
                .await?;
            if !output.json {
                println!("cloned backup {backup} of {tenant} into a new tenant:");
            }
            print_tenant(&view, &output);
            Ok(())
        }
        TenantsCommand::Restore {
            tenant,
            backup,
            into: None,
            output,
            ..
        } => {
            let restored = ops
                .restore_tenant(caller, &tenant_ref(&tenant), backup)
                .await?;
            if output.json {
                output::json(&restored);
            } else {
                println!(
                    "restored backup {backup} into {tenant} (schema {} → {}): prepared in {} ms, \
                     switched in {} ms",
                    or_dash(restored.from_version),
                    or_dash(restored.to_version),
                    restored.prepare_ms,
                    restored.switch_ms
                );
            }
            Ok(())
        }
        TenantsCommand::Recover { subdomain, output } => {
            let view = ops.recover_tenant(caller, &subdomain).await?;
            print_tenant(&view, &output);
            Ok(())
        }
        _ => unreachable!("only backup commands are routed here"),
    }
}

/// Backs up the fleet with a progress bar on a terminal (a line per failure otherwise), then a
/// summary; fails (exit 1) if any tenant's backup failed.
async fn fleet(
    ops: &Operator,
    caller: &Caller,
    concurrency: usize,
    include_suspended: bool,
    flags: &JsonFlag,
) -> Result<(), CliError> {
    let bar = (!flags.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} tenants backed up {msg} [{elapsed}]")
                .expect("static template"),
        );
        bar
    });
    let progress = |b: &FleetBackup| {
        let line = match &b.error {
            Some(e) => format!("FAIL {}: {e}", b.tenant),
            None => format!("ok   {}", b.tenant),
        };
        match &bar {
            Some(bar) => {
                bar.inc(1);
                if b.error.is_some() {
                    bar.println(line);
                }
            }
            None if !flags.json => eprintln!("{line}"),
            None => {}
        }
    };
    let outcomes = ops
        .backup_fleet(caller, concurrency, include_suspended, &progress)
        .await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let bytes: u64 = outcomes
        .iter()
        .filter_map(|o| o.backup.as_ref()?.bytes)
        .sum();
    if flags.json {
        output::json(&json!({
            "tenants": outcomes,
            "summary": { "backed_up": outcomes.len() - failed, "failed": failed, "bytes": bytes },
        }));
    } else {
        println!(
            "{} tenant(s) backed up ({bytes} bytes), {failed} failed",
            outcomes.len() - failed
        );
    }
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "{failed} of {} backups failed",
            outcomes.len()
        )));
    }
    Ok(())
}

fn row(b: &BackupView) -> Vec<String> {
    vec![
        b.id.to_string(),
        output::label(&b.kind),
        output::label(&b.state),
        or_dash(b.bytes),
        or_dash(b.schema_version),
        b.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        b.location.clone(),
    ]
}
