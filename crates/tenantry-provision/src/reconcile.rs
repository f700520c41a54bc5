//! `reconcile`: finish or roll back operations a crash interrupted, then report drift between
//! the registry and what the servers actually hold.
//!
//! It never stalls on one operation: each is resolved on its own, a failure is reported in its
//! [`Outcome::Failed`] and leaves the operation `running` for the next run, and the others go on.
//! Transient catalog errors are retried inside the backend (`backend/contention.rs`); a rollback
//! first ends the sessions the crashed process left, so none of them commits after the drops.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tenantry_core::DbServerId;
use tenantry_registry::{
    Actor, Operation, OperationKind, OperationState, Origin, Tenant, TenantStatus,
};
use uuid::Uuid;

use crate::backend::Login;
use crate::create::CreateParams;
use crate::heartbeat::{HEARTBEAT_INTERVAL, Heartbeat};
use crate::{ProvisionError, Provisioner};

#[derive(Debug, Default, Serialize)]
pub struct ReconcileReport {
    /// Interrupted operations, and what was done about each.
    pub operations: Vec<Resolution>,
    /// Warm spares a dead process left half-built or half-claimed, dropped or forgotten.
    pub spares: usize,
    pub drift: Vec<Drift>,
}

#[derive(Debug, Serialize)]
pub struct Resolution {
    pub operation: Uuid,
    pub kind: OperationKind,
    pub subdomain: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum Outcome {
    RolledBack,
    Completed,
    /// Stopped part way, with what was done kept: ended as failed, to be run again.
    Interrupted,
    /// Could not be resolved now (e.g. server unreachable); left running for the next attempt.
    Failed(String),
}

/// A disagreement between the registry and a backend.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Drift {
    /// A tenant-named database no live registry row owns.
    OrphanDatabase { server: String, database: String },
    /// A tenant-named role no live registry row owns.
    OrphanRole { server: String, role: String },
    /// A live tenant whose database does not exist.
    MissingDatabase { tenant: String, database: String },
    /// The registry's schema_version differs from the database's migration history.
    SchemaVersion {
        tenant: String,
        registry: Option<i32>,
        database: Option<i32>,
    },
    /// A live tenant's database could not be opened with its own credentials.
    TenantUnreachable { tenant: String, error: String },
    /// The server could not be inspected.
    Unreachable { server: String, error: String },
}

/// How deep `reconcile` looks for drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftScope {
    /// Server catalogs and the tenant directory only: orphan databases and roles, missing
    /// databases. A few queries per server, whatever the number of tenants (`serve` at start).
    Catalog,
    /// Also opens each active tenant's database, as the tenant, to compare its migration history
    /// with the registry's `schema_version`: one connection per tenant (`tenantry reconcile`).
    Schema,
}

impl Provisioner {
    /// Resolves every operation that has not moved for `stale_after` (a live operation in
    /// another process moves at every step), then inspects every backend for drift.
    pub async fn reconcile(
        &self,
        stale_after: Duration,
        scope: DriftScope,
    ) -> Result<ReconcileReport, ProvisionError> {
        Ok(ReconcileReport {
            operations: self.resolve_interrupted(stale_after).await?,
            spares: self.resolve_spares().await?,
            drift: self.drift(scope).await?,
        })
    }

    /// Finishes or rolls back every operation idle for `stale_after`: abandoned by a process
    /// that died (a live one beats every few seconds). Cheap when there is none (one indexed
    /// query), so `serve` runs it every few seconds. Each operation is claimed first, so
    /// processes running this at once never resolve the same one twice.
    pub async fn resolve_interrupted(
        &self,
        stale_after: Duration,
    ) -> Result<Vec<Resolution>, ProvisionError> {
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::zero());
        let mut resolved = Vec::new();
        for op in self.registry.stale_operations(cutoff).await? {
            if !self.registry.claim_stale_operation(op.id, cutoff).await? {
                continue;
            }
            let _heartbeat = Heartbeat::start(self.registry.clone(), op.id, HEARTBEAT_INTERVAL);
            let subdomain = op
                .params
                .get("subdomain")
                .and_then(|s| s.as_str())
                .map(str::to_owned);
            let outcome = match self.resolve(&op).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    // Only a counter: failing to bump it must not keep the others waiting.
                    if let Err(bump) = self.registry.bump_operation_attempts(op.id).await {
                        tracing::warn!(operation = %op.id, error = %bump, "cannot count the failed attempt");
                    }
                    Outcome::Failed(e.to_string())
                }
            };
            tracing::info!(operation = %op.id, kind = %op.kind, ?outcome, "reconciled interrupted operation");
            resolved.push(Resolution {
                operation: op.id,
                kind: op.kind,
                subdomain,
                outcome,
            });
        }
        Ok(resolved)
    }

    async fn resolve(&self, op: &Operation) -> Result<Outcome, ProvisionError> {
        let tenant = match op.tenant {
            Some(id) => self.registry.tenant(id).await?,
            None => None,
        };
        let outcome = match op.kind {
            OperationKind::TenantCreate => {
                if tenant
                    .as_ref()
                    .is_some_and(|t| t.status != TenantStatus::Provisioning)
                {
                    // Crashed after activation, before the operation was closed. The tenant may
                    // have been suspended (or even deleted) since: it is no longer ours to undo.
                    Outcome::Completed
                } else {
                    let params: CreateParams =
                        serde_json::from_value(op.params.clone()).map_err(|e| {
                            ProvisionError::Registry(tenantry_registry::RegistryError::Invalid {
                                what: format!("params of operation {}: {e}", op.id),
                            })
                        })?;
                    self.roll_back_create(&params).await?;
                    Outcome::RolledBack
                }
            }
            OperationKind::TenantDelete => {
                if let Some(tenant) = tenant
                    .as_ref()
                    .filter(|t| t.status != TenantStatus::Deleted)
                {
                    // The interrupted delete wrote no audit row (it is written with the
                    // tombstone), so this one records who asked and that reconcile finished it.
                    let mut detail = crate::lifecycle::deletion_detail(tenant);
                    detail["operation"] = json!(op.id);
                    detail["requested_by"] = json!(op.actor);
                    let audit = Origin::from(Actor::System).entry(
                        OperationKind::TenantDelete.as_str(),
                        Some(tenant.id),
                        detail,
                    );
                    self.ensure_final_backup(op, tenant).await?;
                    self.finish_delete(tenant, audit).await?;
                }
                Outcome::Completed
            }
            OperationKind::TenantBackup => self.resolve_backup(op, tenant.as_ref()).await?,
            OperationKind::TenantRestore => self.resolve_restore(op, tenant.as_ref()).await?,
            OperationKind::TenantMove => self.resolve_move(op).await?,
            OperationKind::TenantSuspend | OperationKind::TenantReactivate => {
                // The status is the truth: make the role's login agree with it.
                if let Some(tenant) = tenant.as_ref() {
                    let login = match tenant.status {
                        TenantStatus::Active => Some(Login::Allowed),
                        TenantStatus::Suspended => Some(Login::Refused),
                        _ => None,
                    };
                    if let Some(login) = login {
                        self.apply_login(tenant, login).await?;
                    }
                }
                Outcome::Completed
            }
            // Each migration runs in its own transaction: the interrupted one rolled back with
            // its session. The registry's version is refreshed by the next migrate; until then
            // the schema drift check reports any difference.
            OperationKind::TenantMigrate => Outcome::RolledBack,
            // Each tenant migrated in its own operation; what was done stays done, and running
            // the fleet migration again resumes with the rest.
            OperationKind::FleetMigrate => Outcome::Interrupted,
        };
        let state = match &outcome {
            Outcome::RolledBack => OperationState::RolledBack,
            Outcome::Completed => OperationState::Succeeded,
            Outcome::Interrupted => OperationState::Failed,
            Outcome::Failed(_) => return Ok(outcome),
        };
        let note = match outcome {
            Outcome::Interrupted => "interrupted by a crash; run it again to finish",
            _ => "resolved by reconcile",
        };
        self.registry
            .finish_operation(op.id, state, Some(note.into()))
            .await?;
        Ok(outcome)
    }

    /// Compares every backend's tenant databases and roles with the registry.
    async fn drift(&self, scope: DriftScope) -> Result<Vec<Drift>, ProvisionError> {
        let tenants = self.registry.list_tenants(None).await?;
        let mut drift = Vec::new();
        let mut places: Vec<(Option<DbServerId>, String)> = vec![(None, "sqlite".into())];
        for server in self.registry.list_servers().await? {
            places.push((Some(server.id), server.name.to_string()));
        }
        for (server_id, server_name) in places {
            let here: Vec<&Tenant> = tenants.iter().filter(|t| t.server == server_id).collect();
            if let Err(e) = self
                .drift_on(server_id, &server_name, &here, scope, &mut drift)
                .await
            {
                drift.push(Drift::Unreachable {
                    server: server_name,
                    error: e.to_string(),
                });
            }
        }
        Ok(drift)
    }

    async fn drift_on(
        &self,
        server_id: Option<DbServerId>,
        server: &str,
        tenants: &[&Tenant],
        scope: DriftScope,
        drift: &mut Vec<Drift>,
    ) -> Result<(), ProvisionError> {
        let backend = self.backend(server_id).await?;
        let databases: HashSet<String> = backend.list_databases().await?.into_iter().collect();
        let roles: HashSet<String> = backend.list_roles().await?.into_iter().collect();
        // Warm spares are the registry's too (recorded before they exist on the server).
        let spares = match server_id {
            Some(id) => self.registry.spares(Some(id)).await?,
            None => Vec::new(),
        };
        let owned_dbs: HashSet<&str> = tenants
            .iter()
            .map(|t| t.db_name.as_str())
            .chain(spares.iter().map(|s| s.db_name.as_str()))
            .collect();
        let owned_roles: HashSet<&str> = tenants
            .iter()
            .filter_map(|t| t.db_user.as_deref())
            .chain(spares.iter().map(|s| s.db_user.as_str()))
            .collect();
        let mut orphans: Vec<&String> = databases
            .iter()
            .filter(|d| !owned_dbs.contains(d.as_str()))
            .collect();
        orphans.sort();
        drift.extend(orphans.into_iter().map(|d| Drift::OrphanDatabase {
            server: server.to_owned(),
            database: d.clone(),
        }));
        let mut orphan_roles: Vec<&String> = roles
            .iter()
            .filter(|r| !owned_roles.contains(r.as_str()))
            .collect();
        orphan_roles.sort();
        drift.extend(orphan_roles.into_iter().map(|r| Drift::OrphanRole {
            server: server.to_owned(),
            role: r.clone(),
        }));
        for tenant in tenants {
            if !matches!(
                tenant.status,
                TenantStatus::Active | TenantStatus::Suspended
            ) {
                continue;
            }
            if !databases.contains(&tenant.db_name) {
                drift.push(Drift::MissingDatabase {
                    tenant: tenant.subdomain.to_string(),
                    database: tenant.db_name.clone(),
                });
                continue;
            }
            if scope == DriftScope::Catalog || tenant.status == TenantStatus::Suspended {
                continue; // a suspended role cannot log in; its version was checked when active
            }
            let applied = match self.connect_tenant(tenant).await {
                Ok(conn) => {
                    let applied = tenantry_migrate::applied_versions(&conn).await;
                    conn.close().await.ok();
                    applied.map_err(ProvisionError::from)
                }
                Err(e) => Err(e),
            };
            let actual = match applied {
                Ok(versions) => versions.last().copied(),
                Err(e) => {
                    drift.push(Drift::TenantUnreachable {
                        tenant: tenant.subdomain.to_string(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            if actual != tenant.schema_version {
                drift.push(Drift::SchemaVersion {
                    tenant: tenant.subdomain.to_string(),
                    registry: tenant.schema_version,
                    database: actual,
                });
            }
        }
        Ok(())
    }
}
