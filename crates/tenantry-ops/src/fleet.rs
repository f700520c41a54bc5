//! Migrating one tenant or the whole fleet as a recorded operation, with progress.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::json;
use tenantry_core::TenantRef;
use tenantry_provision::fleet::{FleetOptions, FleetReport};
use tenantry_registry::{OperationKind, OperationState};

use crate::{Caller, Operator, OpsError, Permission};

/// How often a fleet migration's progress is written to its operation row.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

impl Operator {
    /// One tenant (`Some`): its migration is recorded by the provisioner as a `tenant.migrate`
    /// operation (none when it is up to date). The fleet (`None`): one `fleet.migrate` operation
    /// with `progress` counting tenants done, and one audit row with the outcome.
    pub async fn migrate_recorded(
        &self,
        caller: &Caller,
        tenant: Option<&TenantRef>,
        options: FleetOptions,
    ) -> Result<FleetReport, OpsError> {
        caller.require(Permission::Tenants)?;
        if let Some(tenant) = tenant {
            return self
                .migrate_tenants(caller, Some(tenant), options, &|_| {})
                .await;
        }
        let registry = self.registry();
        let tenants = registry.list_tenants(None).await?;
        let total = u32::try_from(tenants.len()).unwrap_or(u32::MAX);
        let op = registry
            .start_operation(
                OperationKind::FleetMigrate,
                None,
                "migrate",
                json!({ "tenants": total, "dry_run": options.dry_run }),
                Some(&caller.origin.actor),
            )
            .await?;
        tenantry_provision::operation_started(op.id);
        registry.set_operation_progress(op.id, 0, total).await?;
        let done = AtomicU32::new(0);
        let count = |_: &tenantry_provision::fleet::TenantMigration| {
            done.fetch_add(1, Ordering::Relaxed);
        };
        let migrate = self.provisioner().migrate_tenants(tenants, options, &count);
        let mut migrate = std::pin::pin!(migrate);
        let result = loop {
            tokio::select! {
                result = &mut migrate => break result,
                () = tokio::time::sleep(PROGRESS_EVERY) => {
                    // Also the operation's heartbeat.
                    let n = done.load(Ordering::Relaxed);
                    if let Err(e) = registry.set_operation_progress(op.id, n, total).await {
                        tracing::warn!(error = %e, "could not record fleet migration progress");
                    }
                }
            }
        };
        let (state, error) = match &result {
            Ok(report) if report.failed() == 0 => (OperationState::Succeeded, None),
            Ok(report) => (
                OperationState::Failed,
                Some(format!(
                    "{} tenant(s) failed to migrate; re-run to resume",
                    report.failed()
                )),
            ),
            Err(e) => (OperationState::Failed, Some(e.to_string())),
        };
        let n = done.load(Ordering::Relaxed);
        registry.set_operation_progress(op.id, n, total).await?;
        registry.finish_operation(op.id, state, error).await?;
        let report = result?;
        let detail = json!({
            "operation": op.id,
            "tenants": report.tenants.len(),
            "failed": report.failed(),
            "dry_run": options.dry_run,
        });
        registry
            .audit(caller.audit("fleet.migrate", None, detail))
            .await?;
        Ok(report)
    }
}
