//! `tenantry tenants ...`: a thin adapter over [`tenantry_ops::Operator`]. It parses arguments,
//! calls one operator method as [`Caller::cli`] and prints the answer; the lifecycle itself
//! (checks, audit rows, operations) lives in the operator service.

mod backups;
mod domains;
mod report;

use secrecy::ExposeSecret as _;
use serde_json::json;
use tenantry_core::TenantRef;
use tenantry_ops::{Caller, FinalBackup, NewTenantRequest, Operator, TenantView};
use tenantry_provision::fleet::FleetOptions;

use crate::cli::{JsonFlag, TenantsCommand};
use crate::context::Context;
use crate::error::{self, CliError};
use crate::output;

/// The arguments that set each field the operator service may refuse.
const CREATE_FLAGS: &[(&str, &str)] = &[
    ("subdomain", "SUBDOMAIN"),
    ("name", "--name"),
    ("plan", "--plan"),
    ("admin_email", "--admin-email"),
    ("admin_password", "--admin-password-stdin"),
    ("server", "--server"),
];
const SUSPEND_FLAGS: &[(&str, &str)] = &[("reason", "--reason")];

pub async fn run(ctx: &Context, cmd: TenantsCommand) -> Result<(), CliError> {
    let caller = Caller::cli();
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
            let admin_password = admin_password_stdin
                .then(|| output::secret_from_stdin("--admin-password-stdin"))
                .transpose()?;
            let request = NewTenantRequest {
                subdomain,
                name,
                plan,
                admin_email,
                admin_password,
                server,
            };
            create(&ctx.operator().await?, &caller, request, &output).await
        }
        TenantsCommand::List {
            status,
            output: flags,
        } => {
            let ops = ctx.operator().await?;
            let views = ops
                .list_all_tenants(&caller, status.map(Into::into))
                .await?;
            if flags.json {
                output::json(&views);
            } else {
                let rows: Vec<Vec<String>> = views
                    .iter()
                    .map(|t| {
                        vec![
                            t.subdomain.clone(),
                            output::label(&t.status),
                            t.plan.clone(),
                            t.server.clone(),
                            output::or_dash(t.schema_version),
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
            let ops = ctx.operator().await?;
            let view = ops.tenant(&caller, &tenant_ref(&tenant)).await?;
            print_tenant(&view, &output);
            Ok(())
        }
        TenantsCommand::Suspend {
            tenant,
            reason,
            output,
        } => {
            let ops = ctx.operator().await?;
            let view = ops
                .suspend_tenant(&caller, &tenant_ref(&tenant), &reason)
                .await
                .map_err(error::ops(SUSPEND_FLAGS))?;
            print_tenant(&view, &output);
            Ok(())
        }
        TenantsCommand::Reactivate { tenant, output } => {
            let ops = ctx.operator().await?;
            let reactivated = ops.reactivate_tenant(&caller, &tenant_ref(&tenant)).await?;
            let view = ops.view(&reactivated.tenant).await?;
            report::reactivated(&view, &reactivated, &output)
        }
        TenantsCommand::Delete {
            tenant,
            confirm,
            no_backup,
            output,
        } => {
            let ops = ctx.operator().await?;
            let final_backup = if no_backup {
                FinalBackup::Skip
            } else {
                FinalBackup::Take
            };
            let view = ops
                .delete_tenant(&caller, &tenant_ref(&tenant), &confirm, final_backup)
                .await?;
            print_tenant(&view, &output);
            Ok(())
        }
        TenantsCommand::Migrate {
            tenant,
            all: _,
            concurrency,
            continue_on_error,
            dry_run,
            output,
        } => {
            let options = FleetOptions {
                concurrency: usize::from(concurrency),
                continue_on_error,
                dry_run,
            };
            let tenant = tenant.as_deref().map(tenant_ref);
            report::migrate(
                &ctx.operator().await?,
                &caller,
                tenant.as_ref(),
                options,
                &output,
            )
            .await
        }
        TenantsCommand::Domains(cmd) => domains::run(ctx, &caller, cmd).await,
        TenantsCommand::Move { tenant, to, output } => {
            let moved = ctx
                .operator()
                .await?
                .move_tenant(&caller, &tenant_ref(&tenant), &to)
                .await?;
            if output.json {
                crate::output::json(&moved);
            } else {
                println!(
                    "moved {tenant} from {} to {}: copied in {} ms, writes paused {} ms",
                    moved.from, moved.to, moved.copy_ms, moved.write_pause_ms
                );
            }
            Ok(())
        }
        cmd @ (TenantsCommand::Backup { .. }
        | TenantsCommand::Backups { .. }
        | TenantsCommand::Restore { .. }
        | TenantsCommand::Recover { .. }) => {
            backups::run(&ctx.operator().await?, &caller, cmd).await
        }
    }
}

/// A tenant named on the command line: an id (UUID) or a subdomain.
fn tenant_ref(raw: &str) -> TenantRef {
    TenantRef::from(raw)
}

async fn create(
    ops: &Operator,
    caller: &Caller,
    request: NewTenantRequest,
    flags: &JsonFlag,
) -> Result<(), CliError> {
    let created = ops
        .create_tenant(caller, request)
        .await
        .map_err(error::ops(CREATE_FLAGS))?;
    let view = &created.tenant;
    let one_time = created
        .one_time_password
        .as_ref()
        .map(|p| p.expose_secret().to_owned());
    if flags.json {
        output::json(&json!({
            "tenant": view,
            "admin_email": created.admin_email,
            "one_time_password": one_time,
        }));
    } else {
        println!(
            "created tenant {} ({}), database {} on {}",
            view.subdomain, view.name, view.db_name, view.server
        );
        println!("tenant admin: {}", created.admin_email);
        if let Some(password) = one_time {
            println!("one-time password (shown once, change it at first login): {password}");
        }
    }
    Ok(())
}

pub(super) fn print_tenant(view: &TenantView, flags: &JsonFlag) {
    if flags.json {
        output::json(view);
    } else {
        print_view(view);
    }
}

fn print_view(view: &TenantView) {
    let reason = view
        .status_reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    println!("tenant     {} ({})", view.subdomain, view.id);
    println!("name       {}", view.name);
    println!("status     {}{reason}", output::label(&view.status));
    println!("plan       {}", view.plan);
    println!("database   {} on {}", view.db_name, view.server);
    println!("schema     {}", output::or_dash(view.schema_version));
    if let Some(e) = &view.migration_error {
        println!("last migration error: {e}");
    }
}
