//! Creating a tenant: reserve → role → database → migrate → seed → activate, each step recorded
//! in the operation row, each idempotent. Any failure rolls back at once; a crash is rolled back
//! by `reconcile`. A creation that claims a warm spare runs the shorter `spares/claim.rs` steps
//! instead of `run_steps`.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::vault::random_password;
use tenantry_core::{DbServerId, Email, PlanId, ServerName, Subdomain, TenantId};
use tenantry_registry::{
    NewTenant, OperationKind, OperationState, Origin, RegistryError, Tenant, TenantStatus,
};
use uuid::Uuid;

use crate::backend::{DbIdent, TenantDatabase};
use crate::heartbeat::{HEARTBEAT_INTERVAL, Heartbeat};
use crate::spares::{ClaimedSpare, SpareClaim};
use crate::{ProvisionError, Provisioner};

mod place;
mod step;

pub(crate) use step::Seeding;
pub use step::Step;

/// Sessions a tenant role may open beyond its plan's `max_connections` (the connection
/// manager's per-tenant maximum): room for Tenantry's own short sessions as the tenant — fleet
/// migration, `reconcile`'s schema check, a reactivation catch-up — so they never take the
/// serving pool's last connection and turn a busy tenant's requests into 503s.
pub const RESERVED_ROLE_CONNECTIONS: i32 = 2;

/// A request to create a tenant.
#[derive(Debug, Clone)]
pub struct CreateTenant {
    pub subdomain: Subdomain,
    pub name: String,
    pub plan: PlanId,
    pub admin_email: Email,
    /// Argon2id PHC string of the tenant admin's password (hashed by the caller, off the
    /// async executor; never a plaintext).
    pub admin_password_hash: String,
    /// A registered PostgreSQL server; `None` = the least loaded active server, or the local
    /// SQLite directory when no server is registered.
    pub server: Option<ServerName>,
    /// Who asks (and from where), for the operation and the `tenant.create` audit row.
    pub origin: Origin,
}

/// A created tenant and how long each step took.
#[derive(Debug, Clone)]
pub struct Created {
    pub tenant: Tenant,
    pub timings: Vec<(Step, Duration)>,
}

/// What `reconcile` needs to roll a creation back, stored in the operation's params. No secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CreateParams {
    pub tenant_id: Uuid,
    pub subdomain: String,
    pub server_id: Option<Uuid>,
    pub db_name: String,
    pub role: Option<String>,
    /// The warm spare the creation took, if any (dropped with the rest on a rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spare: Option<ClaimedSpare>,
}

impl CreateParams {
    pub(crate) fn database(&self) -> Result<TenantDatabase, ProvisionError> {
        let parse = |name: &str| {
            DbIdent::parse(name).map_err(|e| {
                ProvisionError::Registry(RegistryError::Invalid {
                    what: format!("operation params: {e}"),
                })
            })
        };
        Ok(TenantDatabase {
            name: parse(&self.db_name)?,
            role: self.role.as_deref().map(parse).transpose()?,
        })
    }
}

/// What a new tenant's database starts with.
pub(crate) enum Content<'a> {
    /// The latest schema and the seed data, with this administrator.
    Seed {
        admin_email: &'a Email,
        admin_password_hash: &'a str,
    },
    /// A copy of a (verified) backup, migrated up to the latest schema: a clone.
    Backup(&'a tenantry_registry::Backup),
}

/// The parts of a creation request every kind of creation has.
pub(crate) struct Spec<'a> {
    pub subdomain: &'a Subdomain,
    pub name: &'a str,
    pub plan: &'a PlanId,
    pub server: Option<&'a ServerName>,
    pub origin: &'a Origin,
}

impl Provisioner {
    pub async fn create(&self, req: CreateTenant) -> Result<Created, ProvisionError> {
        let spec = Spec {
            subdomain: &req.subdomain,
            name: &req.name,
            plan: &req.plan,
            server: req.server.as_ref(),
            origin: &req.origin,
        };
        let content = Content::Seed {
            admin_email: &req.admin_email,
            admin_password_hash: &req.admin_password_hash,
        };
        self.create_with(spec, content).await
    }

    pub(crate) async fn create_with(
        &self,
        req: Spec<'_>,
        content: Content<'_>,
    ) -> Result<Created, ProvisionError> {
        let started = Instant::now();
        // Independent reads, at once; their errors are still reported in this order.
        let (plan, existing, server) = tokio::join!(
            self.registry.plan_by_id(req.plan),
            self.registry.live_tenant_by_subdomain(req.subdomain),
            self.place(req.server),
        );
        let plan = plan.map_err(|e| match e {
            RegistryError::NotFound { .. } => ProvisionError::UnknownPlan(req.plan.to_string()),
            e => e.into(),
        })?;
        if existing?.is_some() {
            return Err(RegistryError::Conflict {
                what: format!("tenant {}", req.subdomain),
            }
            .into());
        }
        let server = server?;

        let id = TenantId::new();
        // A fresh tenant on a server takes a warm spare when there is one (not a clone: its
        // database comes from a backup), claimed in the reservation's transaction.
        let seed = tenantry_app::chart_fingerprint();
        let spare = match (&server, &content) {
            (Some(server), Content::Seed { .. }) => Some(self.spare_wanted(server.id, &seed)?),
            _ => None,
        };
        let name = DbIdent::derive(req.subdomain.as_str(), id);
        let role = server.as_ref().map(|_| name.clone());
        let password = server.as_ref().map(|_| random_password());
        let mut params = CreateParams {
            tenant_id: id.as_uuid(),
            subdomain: req.subdomain.to_string(),
            server_id: server.as_ref().map(|s| s.id.as_uuid()),
            db_name: name.to_string(),
            role: role.as_ref().map(ToString::to_string),
            spare: None,
        };
        // One commit: a conflicting subdomain (a concurrent create won) leaves no operation, and
        // no claimed spare.
        let reserved = self
            .registry
            .reserve_tenant_with_operation(
                NewTenant {
                    id,
                    subdomain: req.subdomain.clone(),
                    name: req.name.to_owned(),
                    plan: plan.id.clone(),
                    server: params.server_id.map(DbServerId::from),
                    db_name: name.to_string(),
                    db_user: params.role.clone(),
                    db_password: password.clone(),
                    storage_limit_mb: Some(plan.storage_limit_mb),
                },
                OperationKind::TenantCreate,
                Step::Reserve.as_str(),
                |claimed| {
                    params.spare = claimed.map(ClaimedSpare::from);
                    json!(params)
                },
                Some(&req.origin.actor),
                spare,
            )
            .await?;
        let (tenant, op) = (reserved.tenant, reserved.operation);
        crate::operation_started(op.id);
        let mut timings = vec![(Step::Reserve, started.elapsed())];
        self.failpoint(Step::Reserve).await?;
        // Until this function returns: a slow step must not look abandoned to `reconcile`.
        let _heartbeat = Heartbeat::start(self.registry.clone(), op.id, HEARTBEAT_INTERVAL);

        let db = TenantDatabase { name, role };
        let connection_limit = i32::try_from(plan.max_connections)
            .unwrap_or(i32::MAX)
            .saturating_add(RESERVED_ROLE_CONNECTIONS);
        let steps = match (&params.spare, password.as_ref(), &content) {
            (Some(spare), Some(password), Content::Seed { .. }) => {
                let claim = SpareClaim {
                    spare,
                    password,
                    connection_limit,
                };
                self.run_spare_steps(&req, &content, &tenant, &db, &claim, op.id, &mut timings)
                    .await
            }
            _ => {
                self.run_steps(
                    &req,
                    &content,
                    &tenant,
                    &db,
                    password.as_ref(),
                    connection_limit,
                    op.id,
                    &mut timings,
                )
                .await
            }
        };
        match steps {
            // Active, and the operation closed with it (one commit).
            Ok(tenant) => Ok(Created { tenant, timings }),
            Err(e @ ProvisionError::Failpoint(_)) => Err(e),
            Err(e) => {
                tracing::warn!(tenant = %req.subdomain, error = %e, "provisioning failed; rolling back");
                if let Err(rollback) = self.roll_back_create(&params).await {
                    // The operation stays running for `reconcile`; the caller needs the cause
                    // (often the same: the server went away), not the failed cleanup.
                    tracing::error!(tenant = %req.subdomain, error = %rollback, "rollback failed; reconcile will finish it");
                    return Err(e);
                }
                self.registry
                    .finish_operation(op.id, OperationState::RolledBack, Some(e.to_string()))
                    .await?;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_steps(
        &self,
        req: &Spec<'_>,
        content: &Content<'_>,
        tenant: &Tenant,
        db: &TenantDatabase,
        password: Option<&secrecy::SecretString>,
        connection_limit: i32,
        op: Uuid,
        timings: &mut Vec<(Step, Duration)>,
    ) -> Result<Tenant, ProvisionError> {
        let backend = self.backend(tenant.server).await?;

        let t = Instant::now();
        // `ensure_role` also restores LOGIN on an existing role. It is only ever called here, for
        // a role derived from a fresh tenant id whose row is still `provisioning`: a rolled-back
        // creation is never resumed (reconcile only undoes it) and a re-create gets a new id, so
        // it can never re-open the login of a suspended tenant. Any future caller for an existing
        // tenant (password reset, `move`) must re-apply `set_login(Refused)` for a suspended one
        // inside the same recorded operation, so `reconcile` restores it after a crash.
        debug_assert_eq!(tenant.status, TenantStatus::Provisioning);
        if let Some(password) = password {
            backend.ensure_role(db, password, connection_limit).await?;
            self.step_done(op, Step::Role, t, timings).await?;
        } else {
            // No roles on this backend: nothing happened worth a master write.
            timings.push((Step::Role, t.elapsed()));
            self.failpoint(Step::Role).await?;
        }

        let t = Instant::now();
        if let Content::Backup(backup) = content {
            self.load_backup(backend.as_ref(), backup, db).await?;
        } else {
            backend.ensure_database(db).await?;
        }
        self.step_done(op, Step::Database, t, timings).await?;

        let t = Instant::now();
        let conn = self.connect_new_tenant(tenant).await?;
        let report = tenantry_migrate::migrate(&conn, self.migrations).await;
        let report = match report {
            Ok(report) => report,
            Err(e) => {
                conn.close().await.ok();
                return Err(e.into());
            }
        };
        self.step_done(op, Step::Migrate, t, timings).await?;

        let t = Instant::now();
        self.seed_and_close(tenant, conn, content, Seeding::Whole)
            .await?;
        self.step_done(op, Step::Seed, t, timings).await?;

        let t = Instant::now();
        let active = self
            .activate(req, content, tenant, report.current_version, op)
            .await?;
        self.step_done(op, Step::Activate, t, timings).await?;
        Ok(active)
    }

    /// Undoes a creation, whatever step it reached: end the sessions a crashed process left on
    /// the server (one may still be running its last statement), drop the database, drop the
    /// role, remove the registry row. Each part is idempotent and the backend retries transient
    /// catalog errors; a rollback that still fails is left to the next `reconcile`. Refuses once
    /// the row has left `provisioning`: the tenant then exists (active, suspended, ...) and its
    /// database must never be dropped here.
    pub(crate) async fn roll_back_create(
        &self,
        params: &CreateParams,
    ) -> Result<(), ProvisionError> {
        if let Some(tenant) = self.registry.tenant(params.tenant_id.into()).await?
            && tenant.status != TenantStatus::Provisioning
        {
            return Err(ProvisionError::InvalidState {
                subdomain: tenant.subdomain.to_string(),
                status: format!("{:?}", tenant.status).to_lowercase(),
                action: "roll back its creation",
            });
        }
        let backend = self.backend(params.server_id.map(DbServerId::from)).await?;
        let db = params.database()?;
        backend.end_sessions(&db).await?;
        backend.drop_database(&db).await?;
        backend.drop_role(&db).await?;
        if let Some(spare) = &params.spare {
            self.release_claimed_spare(params.server_id.map(DbServerId::from), spare)
                .await?;
        }
        self.registry
            .remove_unprovisioned_tenant(params.tenant_id.into())
            .await?;
        Ok(())
    }
}
