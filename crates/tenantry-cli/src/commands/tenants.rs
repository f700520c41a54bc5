use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::ActiveEnum;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;
use tenantry_core::vault::random_password;
use tenantry_core::{Email, ServerName, Subdomain};
use tenantry_provision::fleet::{FleetOptions, FleetOutcome, FleetReport, TenantMigration};
use tenantry_provision::{CreateTenant, Provisioner, Reactivated};
use tenantry_registry::RegistryError;
use tenantry_registry::entity::tenant;

use crate::cli::{JsonFlag, TenantsCommand};
use crate::context::Context;
use crate::error::CliError;
use crate::output;

pub async fn run(ctx: &Context, cmd: TenantsCommand) -> Result<(), CliError> {
    match cmd {
        TenantsCommand::Create {
            subdomain,
            name,
            plan,
            admin_email,
            admin_password_stdin,
            server,
            output,
        } => {
            create(
                ctx,
                subdomain,
                name,
                plan,
                admin_email,
                admin_password_stdin,
                server,
                output,
            )
            .await
        }
        TenantsCommand::List {
            status,
            output: flags,
        } => {
            let p = ctx.provisioner().await?;
            let tenants = p.registry().list_tenants(status.map(Into::into)).await?;
            let views = views(&p, &tenants).await?;
            if flags.json {
                output::json(&views);
            } else {
                let rows: Vec<Vec<String>> = views
                    .iter()
                    .map(|t| {
                        vec![
                            t.subdomain.clone(),
                            t.status.clone(),
                            t.plan.clone(),
                            t.server.clone(),
                            t.schema_version
                                .map_or_else(|| "-".into(), |v| v.to_string()),
                            t.name.clone(),
                        ]
                    })
                    .collect();
                output::table(
                    &["SUBDOMAIN", "STATUS", "PLAN", "SERVER", "SCHEMA", "NAME"],
                    &rows,
                );
            }
            Ok(())
        }
        TenantsCommand::Show { tenant, output } => {
            let p = ctx.provisioner().await?;
            let tenant = p.registry().find_tenant(&tenant).await?;
            print_tenant(&p, &tenant, &output).await
        }
        TenantsCommand::Suspend {
            tenant,
            reason,
            output,
        } => {
            if reason.trim().is_empty() {
                return Err(CliError::usage("--reason", "must not be empty"));
            }
            let p = ctx.provisioner().await?;
            let tenant = p
                .suspend(&tenant, reason.trim(), &output::cli_actor())
                .await?;
            print_tenant(&p, &tenant, &output).await
        }
        TenantsCommand::Reactivate { tenant, output } => {
            let p = ctx.provisioner().await?;
            let reactivated = p.reactivate(&tenant, &output::cli_actor()).await?;
            reactivate_report(&p, &reactivated, &output).await
        }
        TenantsCommand::Delete {
            tenant,
            confirm,
            output,
        } => {
            let p = ctx.provisioner().await?;
            let tenant = p.delete(&tenant, &confirm, &output::cli_actor()).await?;
            print_tenant(&p, &tenant, &output).await
        }
        TenantsCommand::Migrate {
            tenant,
            all,
            concurrency,
            continue_on_error,
            dry_run,
            output,
        } => {
            let p = ctx.provisioner().await?;
            let tenants = match (tenant, all) {
                (Some(t), _) => vec![p.registry().find_tenant(&t).await?],
                (None, _) => p.registry().list_tenants(None).await?,
            };
            let options = FleetOptions {
                concurrency: usize::from(concurrency),
                continue_on_error,
                dry_run,
            };
            migrate(&p, tenants, options, &output).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn create(
    ctx: &Context,
    subdomain: String,
    name: String,
    plan: String,
    admin_email: String,
    password_stdin: bool,
    server: Option<String>,
    flags: JsonFlag,
) -> Result<(), CliError> {
    let reserved = &ctx.settings.tenants.reserved_subdomains;
    let subdomain =
        Subdomain::parse(&subdomain, reserved).map_err(|e| CliError::usage("SUBDOMAIN", e))?;
    let admin_email =
        Email::parse(&admin_email).map_err(|e| CliError::usage("--admin-email", e))?;
    let server = server
        .map(|s| ServerName::parse(&s).map_err(|e| CliError::usage("--server", e)))
        .transpose()?;
    if name.trim().is_empty() {
        return Err(CliError::usage("--name", "must not be empty"));
    }
    let (password, generated) = if password_stdin {
        (
            output::password_from_stdin("--admin-password-stdin")?,
            false,
        )
    } else {
        (random_password(), true)
    };
    let p = ctx.provisioner().await?;
    let hash = output::hash_password(&password).await?;
    let created = p
        .create(CreateTenant {
            subdomain,
            name: name.trim().to_owned(),
            plan,
            admin_email: admin_email.clone(),
            admin_password_hash: hash,
            server,
            actor: output::cli_actor(),
        })
        .await?;
    let one_time = generated.then(|| password.expose_secret().to_owned());
    let view = TenantView::new(&created.tenant, server_name(&p, &created.tenant).await?);
    if flags.json {
        output::json(
            &json!({ "tenant": view, "admin_email": admin_email, "one_time_password": one_time }),
        );
    } else {
        println!(
            "created tenant {} ({}), database {} on {}",
            view.subdomain, view.name, view.db_name, view.server
        );
        println!("tenant admin: {admin_email}");
        if let Some(password) = one_time {
            println!("one-time password (shown once, change it at first login): {password}");
        }
    }
    Ok(())
}

async fn migrate(
    p: &Provisioner,
    tenants: Vec<tenant::Model>,
    options: FleetOptions,
    flags: &JsonFlag,
) -> Result<(), CliError> {
    let bar = (!flags.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(tenants.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} tenants {msg} [{elapsed}]")
                .expect("static template"),
        );
        bar
    });
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
    let report = p.migrate_tenants(tenants, options, &log_line).await?;
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
                    version(m.from),
                    version(m.to),
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
        (0, n) => Err(CliError::Registry(RegistryError::Busy {
            what: format!("the migration of {n} tenant(s)"),
        })),
        (n, _) => Err(CliError::Failed(format!(
            "{n} tenant(s) failed to migrate; re-run to resume"
        ))),
    }
}

/// Prints the reactivated tenant and its schema catch-up. Exit 1 if the catch-up failed: the
/// tenant is active again, but on an older schema than the application expects.
async fn reactivate_report(
    p: &Provisioner,
    r: &Reactivated,
    flags: &JsonFlag,
) -> Result<(), CliError> {
    let view = TenantView::new(&r.tenant, server_name(p, &r.tenant).await?);
    if flags.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            tenant: &'a TenantView,
            /// The schema catch-up, `null` when the tenant was up to date.
            migration: Option<&'a TenantMigration>,
        }
        output::json(&Out {
            tenant: &view,
            migration: r.migration.as_ref(),
        });
    } else {
        print_view(&view);
        if let Some(m) = r.migration.as_ref().filter(|_| !r.migration_failed()) {
            println!("schema caught up: {}", describe(m));
        }
    }
    match &r.migration {
        Some(m) if r.migration_failed() => Err(CliError::Failed(format!(
            "tenant {} is active again, but its schema catch-up to version {} failed ({}); \
             fix the cause, then run `tenantry tenants migrate {}`",
            r.tenant.subdomain,
            version(m.latest),
            describe(m),
            r.tenant.subdomain
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

fn version(v: Option<i32>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn describe(m: &TenantMigration) -> String {
    match &m.outcome {
        FleetOutcome::UpToDate => "up to date".into(),
        FleetOutcome::Migrated => format!("migrated to {}", version(m.to)),
        FleetOutcome::WouldMigrate => format!("would migrate to {}", version(m.latest)),
        FleetOutcome::Skipped(why) => format!("skipped ({why})"),
        FleetOutcome::Failed(e) => format!("FAILED at {}: {e}", version(m.to)),
        FleetOutcome::NotAttempted => "not attempted".into(),
        FleetOutcome::Busy => "busy (another operation on it is running; re-run)".into(),
    }
}

/// What operators see of a tenant: never its secret.
#[derive(Serialize)]
struct TenantView {
    id: String,
    subdomain: String,
    name: String,
    status: String,
    status_reason: Option<String>,
    plan: String,
    server: String,
    db_name: String,
    schema_version: Option<i32>,
    migration_error: Option<String>,
    created_at: String,
    deleted_at: Option<String>,
}

impl TenantView {
    fn new(t: &tenant::Model, server: String) -> Self {
        Self {
            id: t.id.to_string(),
            subdomain: t.subdomain.clone(),
            name: t.name.clone(),
            status: t.status.to_value(),
            status_reason: t.status_reason.clone(),
            plan: t.plan_id.clone(),
            server,
            db_name: t.db_name.clone(),
            schema_version: t.schema_version,
            migration_error: t.migration_error.clone(),
            created_at: t.created_at.to_rfc3339(),
            deleted_at: t.deleted_at.map(|d| d.to_rfc3339()),
        }
    }
}

async fn server_name(p: &Provisioner, t: &tenant::Model) -> Result<String, CliError> {
    Ok(match t.db_server_id {
        None => "sqlite".into(),
        Some(id) => p.registry().server(id.into()).await?.name,
    })
}

async fn views(p: &Provisioner, tenants: &[tenant::Model]) -> Result<Vec<TenantView>, CliError> {
    let servers = p.registry().list_servers().await?;
    Ok(tenants
        .iter()
        .map(|t| {
            let server = t
                .db_server_id
                .and_then(|id| servers.iter().find(|s| s.id == id))
                .map_or_else(|| "sqlite".into(), |s| s.name.clone());
            TenantView::new(t, server)
        })
        .collect())
}

async fn print_tenant(
    p: &Provisioner,
    t: &tenant::Model,
    flags: &JsonFlag,
) -> Result<(), CliError> {
    let view = TenantView::new(t, server_name(p, t).await?);
    if flags.json {
        output::json(&view);
    } else {
        print_view(&view);
    }
    Ok(())
}

fn print_view(view: &TenantView) {
    let reason = view
        .status_reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    println!("tenant     {} ({})", view.subdomain, view.id);
    println!("name       {}", view.name);
    println!("status     {}{reason}", view.status);
    println!("plan       {}", view.plan);
    println!("database   {} on {}", view.db_name, view.server);
    println!("schema     {}", version(view.schema_version));
    if let Some(e) = &view.migration_error {
        println!("last migration error: {e}");
    }
}
