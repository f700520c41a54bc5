//! `tenantry tenants domains list|add|verify|remove`: a tenant's custom domains, through the
//! operator service (the same calls as `/admin/v1/tenants/{tenant}/domains`).

use serde_json::json;
use tenantry_ops::{Caller, DomainView};

use super::tenant_ref;
use crate::cli::DomainsCommand;
use crate::context::Context;
use crate::error::{self, CliError};
use crate::output::{self, or_dash};

/// The arguments that set each field the operator service may refuse.
const ADD_FLAGS: &[(&str, &str)] = &[("domain", "DOMAIN")];

pub(super) async fn run(
    ctx: &Context,
    caller: &Caller,
    cmd: DomainsCommand,
) -> Result<(), CliError> {
    let ops = ctx.operator().await?;
    match cmd {
        DomainsCommand::List { tenant, output } => {
            let domains = ops.list_domains(caller, &tenant_ref(&tenant)).await?;
            if output.json {
                output::json(&domains);
            } else {
                print_table(&domains);
            }
        }
        DomainsCommand::Add {
            tenant,
            domain,
            output,
        } => {
            let added = ops
                .add_domain(caller, &tenant_ref(&tenant), &domain)
                .await
                .map_err(error::ops(ADD_FLAGS))?;
            if output.json {
                output::json(&added);
            } else {
                println!(
                    "added domain {} to tenant {tenant}, pending verification",
                    added.domain
                );
                if let Some(v) = &added.verification {
                    println!(
                        "publish this DNS record, then run `tenantry tenants domains verify {tenant} {}`:",
                        added.domain
                    );
                    println!("  {}  {}  \"{}\"", v.name, v.record_type, v.value);
                }
            }
        }
        DomainsCommand::Verify {
            tenant,
            domain,
            output,
        } => {
            let verified = ops
                .verify_domain(caller, &tenant_ref(&tenant), &domain)
                .await?;
            if output.json {
                output::json(&verified);
            } else {
                println!(
                    "domain {} verified: it routes to tenant {tenant}",
                    verified.domain
                );
            }
        }
        DomainsCommand::Remove {
            tenant,
            domain,
            output,
        } => {
            let owner = ops
                .remove_domain(caller, &tenant_ref(&tenant), &domain)
                .await?;
            if output.json {
                output::json(&json!({ "tenant": owner, "domain": domain, "removed": true }));
            } else {
                println!("removed domain {domain} from tenant {tenant}: it no longer routes");
            }
        }
    }
    Ok(())
}

fn print_table(domains: &[DomainView]) {
    let rows: Vec<Vec<String>> = domains
        .iter()
        .map(|d| {
            let status = if d.verified { "verified" } else { "pending" };
            let record = d.verification.as_ref();
            vec![
                d.domain.clone(),
                status.into(),
                d.created_at.to_rfc3339(),
                or_dash(record.map(|v| &v.name)),
                or_dash(record.map(|v| &v.value)),
            ]
        })
        .collect();
    output::table(
        &["DOMAIN", "STATUS", "ADDED", "TXT RECORD", "TXT VALUE"],
        &rows,
    );
}
