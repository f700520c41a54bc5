//! `tenantry operations ...`: long operations as the operator service records them, whether
//! started here or over the admin API.

use serde_json::json;
use tenantry_core::TenantRef;
use tenantry_ops::{Caller, OperationView};
use tenantry_registry::OperationQuery;

use crate::cli::OperationsCommand;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, or_dash};

pub async fn run(ctx: &Context, cmd: OperationsCommand) -> Result<(), CliError> {
    let caller = Caller::cli();
    let ops = ctx.operator().await?;
    match cmd {
        OperationsCommand::List {
            tenant,
            state,
            kind,
            limit,
            output: flags,
        } => {
            let tenant = match tenant {
                Some(t) => Some(ops.tenant(&caller, &TenantRef::from(t.as_str())).await?.id),
                None => None,
            };
            let query = OperationQuery {
                tenant,
                state: state.map(Into::into),
                kind,
                page: 1,
                limit,
            };
            let (operations, total) = ops.list_operations(&caller, &query).await?;
            if flags.json {
                // The shape of `GET /admin/v1/operations`.
                output::json(&json!({
                    "data": operations, "page": 1, "limit": limit, "total": total,
                }));
            } else {
                print_table(&operations);
                if total > operations.len() as u64 {
                    println!("({} of {total} shown: raise --limit)", operations.len());
                }
            }
            Ok(())
        }
        OperationsCommand::Show { id, output: flags } => {
            let op = ops.show_operation(&caller, id).await?;
            if flags.json {
                output::json(&op);
            } else {
                print_operation(&op);
            }
            Ok(())
        }
    }
}

fn progress(op: &OperationView) -> String {
    match (op.progress.done, op.progress.total) {
        (Some(done), Some(total)) => format!("{done}/{total}"),
        _ => "-".into(),
    }
}

fn print_table(operations: &[OperationView]) {
    let rows: Vec<Vec<String>> = operations
        .iter()
        .map(|op| {
            vec![
                op.id.to_string(),
                op.kind.to_string(),
                or_dash(op.tenant),
                output::label(&op.state),
                op.step.clone(),
                progress(op),
                op.started_at.to_rfc3339(),
                or_dash(op.error.as_deref()),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "KIND", "TENANT", "STATE", "STEP", "PROGRESS", "STARTED", "ERROR",
        ],
        &rows,
    );
}

fn print_operation(op: &OperationView) {
    println!("operation  {}", op.id);
    println!("kind       {}", op.kind);
    println!("tenant     {}", or_dash(op.tenant));
    println!("state      {}", output::label(&op.state));
    println!("step       {}", op.step);
    println!("progress   {}", progress(op));
    println!("attempts   {}", op.attempts);
    println!("started    {}", op.started_at.to_rfc3339());
    println!("updated    {}", op.updated_at.to_rfc3339());
    println!(
        "finished   {}",
        or_dash(op.finished_at.map(|at| at.to_rfc3339()))
    );
    if let Some(e) = &op.error {
        println!("error      {e}");
    }
}
