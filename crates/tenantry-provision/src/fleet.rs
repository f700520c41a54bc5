//! Fleet migration: bring tenant databases to the latest schema, many at a time.
//!
//! Whether a tenant needs work is decided from the registry's `schema_version` alone, so a fleet
//! with nothing pending is checked without opening a single tenant connection. Each attempt's
//! outcome (version reached, error) is written back to the registry, so a re-run resumes where
//! the last one stopped. Each tenant's migration runs as its running operation
//! ([`OperationKind::TenantMigrate`]), so two processes never migrate one tenant at once, and a migration never
//! runs beside a suspend, reactivate or delete of the same tenant.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use tenantry_migrate::Dialect;
use tenantry_registry::{OperationKind, OperationState, RegistryError, Tenant, TenantStatus};

use crate::heartbeat::{HEARTBEAT_INTERVAL, Heartbeat};
use crate::{ProvisionError, Provisioner};

#[derive(Debug, Clone, Copy)]
pub struct FleetOptions {
    /// Tenants migrated at once (≥ 1).
    pub concurrency: usize,
    /// Go on after a tenant fails; otherwise no new tenant is started after the first failure.
    pub continue_on_error: bool,
    /// Report what would be migrated without connecting to anything.
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum FleetOutcome {
    UpToDate,
    Migrated,
    WouldMigrate,
    /// Not migrated: its status forbids it (suspended roles cannot log in).
    Skipped(String),
    Failed(String),
    /// Not started because an earlier tenant failed (without `--continue-on-error`).
    NotAttempted,
    /// Not migrated: another operation on the tenant was running (a migration from another
    /// process, a suspend, a delete…). A re-run migrates it.
    Busy,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantMigration {
    pub tenant: String,
    pub from: Option<i32>,
    pub to: Option<i32>,
    pub latest: Option<i32>,
    #[serde(flatten)]
    pub outcome: FleetOutcome,
}

#[derive(Debug, Default, Serialize)]
pub struct FleetReport {
    pub tenants: Vec<TenantMigration>,
    /// Tenant database connections opened by this run.
    pub connections_opened: usize,
}

impl FleetReport {
    pub fn count(&self, pred: impl Fn(&FleetOutcome) -> bool) -> usize {
        self.tenants.iter().filter(|t| pred(&t.outcome)).count()
    }

    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, FleetOutcome::Failed(_)))
    }
}

fn dialect_of(tenant: &Tenant) -> Dialect {
    if tenant.server.is_some() {
        Dialect::Postgres
    } else {
        Dialect::Sqlite
    }
}

impl Provisioner {
    /// Migrates `tenants`; `progress` is called once per tenant as each finishes.
    pub async fn migrate_tenants(
        &self,
        tenants: Vec<Tenant>,
        options: FleetOptions,
        progress: &(dyn Fn(&TenantMigration) + Sync),
    ) -> Result<FleetReport, ProvisionError> {
        let latest_pg = self.migrations.latest_version(Dialect::Postgres)?;
        let latest_sqlite = self.migrations.latest_version(Dialect::Sqlite)?;
        let stop = AtomicBool::new(false);
        let opened = AtomicUsize::new(0);
        let (stop, opened) = (&stop, &opened);

        let results: Vec<TenantMigration> = futures::stream::iter(tenants)
            .map(|tenant| async move {
                let latest = match dialect_of(&tenant) {
                    Dialect::Postgres => latest_pg,
                    Dialect::Sqlite => latest_sqlite,
                };
                let outcome = if tenant.schema_version == latest {
                    FleetOutcome::UpToDate
                } else if tenant.status != TenantStatus::Active {
                    FleetOutcome::Skipped(format!("{:?}", tenant.status).to_lowercase())
                } else if options.dry_run {
                    FleetOutcome::WouldMigrate
                } else if stop.load(Ordering::SeqCst) {
                    FleetOutcome::NotAttempted
                } else {
                    opened.fetch_add(1, Ordering::Relaxed);
                    let result = self.migrate_recorded(&tenant, latest).await;
                    if matches!(result.outcome, FleetOutcome::Failed(_))
                        && !options.continue_on_error
                    {
                        stop.store(true, Ordering::SeqCst);
                    }
                    progress(&result);
                    return result;
                };
                let result = TenantMigration {
                    tenant: tenant.subdomain.to_string(),
                    from: tenant.schema_version,
                    to: tenant.schema_version,
                    latest,
                    outcome,
                };
                progress(&result);
                result
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        let mut results = results;
        results.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Ok(FleetReport {
            tenants: results,
            connections_opened: opened.load(Ordering::Relaxed),
        })
    }

    /// The latest tenant schema version for the tenant's database engine.
    pub(crate) fn latest_version_for(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<i32>, ProvisionError> {
        Ok(self.migrations.latest_version(dialect_of(tenant))?)
    }

    /// Migrates one tenant (opening one connection as its own role), records the outcome in the
    /// registry and reports it as the fleet does.
    pub(crate) async fn migrate_recorded(
        &self,
        tenant: &Tenant,
        latest: Option<i32>,
    ) -> TenantMigration {
        let (to, outcome) = self.migrate_one(tenant, latest).await;
        TenantMigration {
            tenant: tenant.subdomain.to_string(),
            from: tenant.schema_version,
            to,
            latest,
            outcome,
        }
    }

    /// Migrates one tenant as its running operation and records the outcome (version reached,
    /// error) in the registry.
    async fn migrate_one(
        &self,
        tenant: &Tenant,
        latest: Option<i32>,
    ) -> (Option<i32>, FleetOutcome) {
        let from = json!({ "from": tenant.schema_version });
        let op = match self
            .registry
            .start_operation(
                OperationKind::TenantMigrate,
                Some(tenant.id),
                "migrate",
                from,
                None,
            )
            .await
        {
            Ok(op) => op,
            Err(RegistryError::Busy { .. }) => return (tenant.schema_version, FleetOutcome::Busy),
            Err(e) => {
                let failed = format!("could not record the operation: {e}");
                return (tenant.schema_version, FleetOutcome::Failed(failed));
            }
        };
        crate::operation_started(op.id);
        let heartbeat = Heartbeat::start(self.registry.clone(), op.id, HEARTBEAT_INTERVAL);
        let (version, outcome) = self.migrate_exclusively(tenant, latest).await;
        drop(heartbeat);
        let (state, error) = match &outcome {
            FleetOutcome::Failed(e) => (OperationState::Failed, Some(e.clone())),
            _ => (OperationState::Succeeded, None),
        };
        if let Err(e) = self.registry.finish_operation(op.id, state, error).await {
            tracing::warn!(tenant = %tenant.subdomain, error = %e, "could not close the migration's operation; `tenantry reconcile` will");
        }
        (version, outcome)
    }

    /// The body of [`Self::migrate_one`], under the tenant's operation: the tenant is read again
    /// (it may have been suspended, or migrated by another process, since the fleet was
    /// listed), then its database migrated.
    async fn migrate_exclusively(
        &self,
        listed: &Tenant,
        latest: Option<i32>,
    ) -> (Option<i32>, FleetOutcome) {
        let id = listed.id;
        let tenant = match self.registry.tenant(id).await {
            Ok(Some(t)) if t.schema_version == latest => {
                return (t.schema_version, FleetOutcome::UpToDate);
            }
            Ok(Some(t)) if t.status == TenantStatus::Active => t,
            Ok(Some(t)) => {
                let status = format!("{:?}", t.status).to_lowercase();
                return (t.schema_version, FleetOutcome::Skipped(status));
            }
            Ok(None) => return (listed.schema_version, FleetOutcome::Skipped("gone".into())),
            Err(e) => return (listed.schema_version, FleetOutcome::Failed(e.to_string())),
        };
        let (version, error) = match self.connect_tenant(&tenant).await {
            Err(e) => (tenant.schema_version, Some(e.to_string())),
            Ok(conn) => {
                let result = tenantry_migrate::migrate(&conn, self.migrations).await;
                let outcome = match result {
                    Ok(report) => (report.current_version, None),
                    Err(e) => {
                        let reached = tenantry_migrate::applied_versions(&conn)
                            .await
                            .ok()
                            .and_then(|v| v.last().copied())
                            .or(tenant.schema_version);
                        (reached, Some(crate::error_chain(&e)))
                    }
                };
                conn.close().await.ok();
                outcome
            }
        };
        if let Err(e) = self
            .registry
            .record_schema_version(id, version, error.clone())
            .await
        {
            return (
                version,
                FleetOutcome::Failed(format!("could not record the outcome: {e}")),
            );
        }
        match error {
            None => (version, FleetOutcome::Migrated),
            Some(e) => {
                tracing::warn!(tenant = %tenant.subdomain, error = %e, "tenant migration failed");
                (version, FleetOutcome::Failed(e))
            }
        }
    }
}
