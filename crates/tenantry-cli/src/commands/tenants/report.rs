//! What `tenants migrate` and `tenants reactivate` print: per-tenant outcomes, a summary, and an
//! exit code that says whether every tenant reached the latest schema.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tenantry_core::TenantRef;
use tenantry_ops::{Caller, Operator, OpsError, TenantView};
use tenantry_provision::Reactivated;
use tenantry_provision::fleet::{FleetOptions, FleetOutcome, FleetReport, TenantMigration};

use crate::cli::JsonFlag;
use crate::error::CliError;
use crate::output::{self, or_dash};

/// Migrates one tenant or every live one, with a progress bar on a terminal.
pub(super) async fn migrate(
    ops: &Operator,
    caller: &Caller,
    tenant: Option<&TenantRef>,
    options: FleetOptions,
    flags: &JsonFlag,
) -> Result<(), CliError> {
    let bar = if !flags.json && std::io::stderr().is_terminal() {
        let total = match tenant {
            Some(_) => 1,
            None => ops.list_all_tenants(caller, None).await?.len(),
        };
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} tenants {msg} [{elapsed}]")
                .expect("static template"),
        );
        Some(bar)
    } else {
        None
    };
    let log_line = |m: &TenantMigration| {
        if let Some(bar) = &bar {
            bar.inc(1);
            if let FleetOutcome::Failed(e) = &m.outcome {
                bar.println(format!("FAIL {}: {e}", m.tenant));
            }
        } else if !flags.json && !matches!(m.outcome, FleetOutcome::UpToDate) {
            eprintln!("{}: {}", m.tenant, describe(m));
        }
    };
    let report = ops
        .migrate_tenants(caller, tenant, options, &log_line)
        .await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = Summary::of(&report);
    if flags.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a FleetReport,
            summary: &'a Summary,
        }
        output::json(&Out {
            report: &report,
            summary: &summary,
        });
    } else {
        let rows: Vec<Vec<String>> = report
            .tenants
            .iter()
            .filter(|m| !matches!(m.outcome, FleetOutcome::UpToDate))
            .map(|m| {
                vec![
                    m.tenant.clone(),
                    or_dash(m.from),
                    or_dash(m.to),
                    describe(m),
                ]
            })
            .collect();
        if !rows.is_empty() {
            output::table(&["TENANT", "FROM", "TO", "OUTCOME"], &rows);
        }
        println!(
            "{} tenants: {} migrated, {} up to date, {} would migrate, {} skipped, {} failed, {} not attempted, {} busy",
            summary.tenants,
            summary.migrated,
            summary.up_to_date,
            summary.would_migrate,
            summary.skipped,
            summary.failed,
            summary.not_attempted,
            summary.busy,
        );
    }
    match (summary.failed, summary.busy) {
        (0, 0) => Ok(()),
        (0, n) => Err(CliError::Ops(OpsError::Busy {
            what: format!("the migration of {n} tenant(s)"),
        })),
        (n, _) => Err(CliError::Failed(format!(
            "{n} tenant(s) failed to migrate; re-run to resume"
        ))),
    }
}

/// Prints the reactivated tenant and its schema catch-up. Exit 1 if the catch-up failed: the
/// tenant is active again, but on an older schema than the application expects.
pub(super) fn reactivated(
    view: &TenantView,
    r: &Reactivated,
    flags: &JsonFlag,
) -> Result<(), CliError> {
    if flags.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            tenant: &'a TenantView,
            /// The schema catch-up, `null` when the tenant was up to date.
            migration: Option<&'a TenantMigration>,
        }
        output::json(&Out {
            tenant: view,
            migration: r.migration.as_ref(),
        });
    } else {
        super::print_view(view);
        if let Some(m) = r.migration.as_ref().filter(|_| !r.migration_failed()) {
            println!("schema caught up: {}", describe(m));
        }
    }
    match &r.migration {
        Some(m) if r.migration_failed() => Err(CliError::Failed(format!(
            "tenant {} is active again, but its schema catch-up to version {} failed ({}); \
             fix the cause, then run `tenantry tenants migrate {}`",
            view.subdomain,
            or_dash(m.latest),
            describe(m),
            view.subdomain
        ))),
        _ => Ok(()),
    }
}

/// Counts per outcome, as the summary line prints them.
#[derive(Serialize)]
struct Summary {
    tenants: usize,
    migrated: usize,
    up_to_date: usize,
    would_migrate: usize,
    skipped: usize,
    failed: usize,
    not_attempted: usize,
    busy: usize,
}

impl Summary {
    fn of(report: &FleetReport) -> Self {
        Self {
            tenants: report.tenants.len(),
            migrated: report.count(|o| matches!(o, FleetOutcome::Migrated)),
            up_to_date: report.count(|o| matches!(o, FleetOutcome::UpToDate)),
            would_migrate: report.count(|o| matches!(o, FleetOutcome::WouldMigrate)),
            skipped: report.count(|o| matches!(o, FleetOutcome::Skipped(_))),
            failed: report.failed(),
            not_attempted: report.count(|o| matches!(o, FleetOutcome::NotAttempted)),
            busy: report.count(|o| matches!(o, FleetOutcome::Busy)),
        }
    }
}

fn describe(m: &TenantMigration) -> String {
    match &m.outcome {
        FleetOutcome::UpToDate => "up to date".into(),
        FleetOutcome::Migrated => format!("migrated to {}", or_dash(m.to)),
        FleetOutcome::WouldMigrate => format!("would migrate to {}", or_dash(m.latest)),
        FleetOutcome::Skipped(why) => format!("skipped ({why})"),
        FleetOutcome::Failed(e) => format!("FAILED at {}: {e}", or_dash(m.to)),
        FleetOutcome::NotAttempted => "not attempted".into(),
        FleetOutcome::Busy => "busy (another operation on it is running; re-run)".into(),
    }
}
