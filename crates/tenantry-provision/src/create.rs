//! Creating a tenant: reserve → role → database → migrate → seed → activate, each step recorded
//! in the operation row, each idempotent. Any failure rolls back at once; a crash is rolled back
//! by `reconcile`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::vault::random_password;
use tenantry_core::{DbServerId, Email, PlanId, ServerName, Subdomain, TenantId};
use tenantry_registry::{
    NewTenant, OperationKind, OperationState, Origin, RegistryError, Server, ServerState, Tenant,
    TenantStatus,
};
use uuid::Uuid;

use crate::backend::{DbIdent, TenantDatabase};
use crate::heartbeat::{HEARTBEAT_INTERVAL, Heartbeat};
use crate::spares::ClaimedSpare;
use crate::{ProvisionError, Provisioner};

/// Sessions a tenant role may open beyond its plan's `max_connections` (the connection
/// manager's per-tenant maximum): room for Tenantry's own short sessions as the tenant — fleet
/// migration, `reconcile`'s schema check, a reactivation catch-up — so they never take the
/// serving pool's last connection and turn a busy tenant's requests into 503s.
pub const RESERVED_ROLE_CONNECTIONS: i32 = 2;

/// Test-only hook beside the failpoint: `TENANTRY_TEST_PAUSE_AFTER=<step>` makes `create` print
/// [`PAUSE_MARKER`]` <step>` to stderr right after that step and then sleep, so a crash test can
/// `kill -9` the process at that exact point (the failpoint returns instead, and so never shows
/// what a dead process leaves: open server sessions, a half-sent statement).
const PAUSE_ENV: &str = "TENANTRY_TEST_PAUSE_AFTER";
const PAUSE_MARKER: &str = "tenantry-test: paused after step";
const PAUSE_FOR: Duration = Duration::from_secs(60);

/// The steps of a tenant creation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Reserve,
    Role,
    Database,
    Migrate,
    Seed,
    Activate,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Reserve,
        Step::Role,
        Step::Database,
        Step::Migrate,
        Step::Seed,
        Step::Activate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Reserve => "reserve",
            Step::Role => "role",
            Step::Database => "database",
            Step::Migrate => "migrate",
            Step::Seed => "seed",
            Step::Activate => "activate",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .into_iter()
            .find(|step| step.as_str() == s)
            .ok_or_else(|| format!("unknown step {s:?} (expected one of reserve, role, database, migrate, seed, activate)"))
    }
}

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
        let plan = self
            .registry
            .plan_by_id(req.plan)
            .await
            .map_err(|e| match e {
                RegistryError::NotFound { .. } => ProvisionError::UnknownPlan(req.plan.to_string()),
                e => e.into(),
            })?;
        if self
            .registry
            .live_tenant_by_subdomain(req.subdomain)
            .await?
            .is_some()
        {
            return Err(RegistryError::Conflict {
                what: format!("tenant {}", req.subdomain),
            }
            .into());
        }
        let server = self.place(req.server).await?;

        let id = TenantId::new();
        // A fresh tenant on a server takes a warm spare when there is one (not a clone: its
        // database comes from a backup).
        let spare = match (&server, &content) {
            (Some(server), Content::Seed { .. }) => self.claim_spare(server.id, id).await?,
            _ => None,
        };
        let name = DbIdent::derive(req.subdomain.as_str(), id);
        let role = server.as_ref().map(|_| name.clone());
        let password = server.as_ref().map(|_| random_password());
        let params = CreateParams {
            tenant_id: id.as_uuid(),
            subdomain: req.subdomain.to_string(),
            server_id: server.as_ref().map(|s| s.id.as_uuid()),
            db_name: name.to_string(),
            role: role.as_ref().map(ToString::to_string),
            spare,
        };
        // One commit: a conflicting subdomain (a concurrent create won) leaves no operation.
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
                json!(params),
                Some(&req.origin.actor),
            )
            .await;
        let (tenant, op) = match reserved {
            Ok(reserved) => reserved,
            Err(e) => {
                if let Some(spare) = &params.spare {
                    // Claimed for nothing: dropped now rather than by `reconcile` later.
                    self.release_claimed_spare(params.server_id.map(DbServerId::from), spare)
                        .await
                        .ok();
                }
                return Err(e.into());
            }
        };
        crate::operation_started(op.id);
        let mut timings = vec![(Step::Reserve, started.elapsed())];
        self.failpoint(Step::Reserve).await?;
        // Until this function returns: a slow step must not look abandoned to `reconcile`.
        let _heartbeat = Heartbeat::start(self.registry.clone(), op.id, HEARTBEAT_INTERVAL);

        let db = TenantDatabase { name, role };
        match self
            .run_steps(
                &req,
                &content,
                &tenant,
                &db,
                params.spare.as_ref(),
                password.as_ref(),
                i32::try_from(plan.max_connections)
                    .unwrap_or(i32::MAX)
                    .saturating_add(RESERVED_ROLE_CONNECTIONS),
                op.id,
                &mut timings,
            )
            .await
        {
            Ok(()) => {}
            Err(e @ ProvisionError::Failpoint(_)) => return Err(e),
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
                return Err(e);
            }
        }
        // The tenant is active: from here on a failure must never roll it back. If closing the
        // operation fails, `reconcile` finds the tenant active and closes it as completed.
        self.registry
            .finish_operation(op.id, OperationState::Succeeded, None)
            .await?;
        if let Some(spare) = &params.spare
            && let Err(e) = self.registry.remove_spare(spare.id).await
        {
            // `reconcile` forgets it later: its tenant is active.
            tracing::warn!(tenant = %req.subdomain, error = %e, "could not forget the claimed spare");
        }
        let tenant = self.registry.find_tenant(&id.into()).await?;
        Ok(Created { tenant, timings })
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_steps(
        &self,
        req: &Spec<'_>,
        content: &Content<'_>,
        tenant: &Tenant,
        db: &TenantDatabase,
        spare: Option<&ClaimedSpare>,
        password: Option<&secrecy::SecretString>,
        connection_limit: i32,
        op: Uuid,
        timings: &mut Vec<(Step, Duration)>,
    ) -> Result<(), ProvisionError> {
        let backend = self.backend(tenant.server).await?;
        let id = tenant.id;

        let t = Instant::now();
        // `ensure_role` also restores LOGIN on an existing role. It is only ever called here, for
        // a role derived from a fresh tenant id whose row is still `provisioning`: a rolled-back
        // creation is never resumed (reconcile only undoes it) and a re-create gets a new id, so
        // it can never re-open the login of a suspended tenant. Any future caller for an existing
        // tenant (password reset, `move`) must re-apply `set_login(Refused)` for a suspended one
        // inside the same recorded operation, so `reconcile` restores it after a crash.
        debug_assert_eq!(tenant.status, TenantStatus::Provisioning);
        if let Some(password) = password {
            if let (Some(spare), Some(server)) = (spare, tenant.server) {
                self.take_spare(server, spare, db).await?;
            }
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
        if let Content::Seed {
            admin_email,
            admin_password_hash,
        } = content
        {
            let seeded = tenantry_app::seed(
                &conn,
                &tenantry_app::TenantAdmin {
                    email: admin_email.as_str(),
                    name: "Administrator",
                    password_hash: admin_password_hash,
                },
            )
            .await;
            if let Err(e) = seeded {
                conn.close().await.ok();
                return Err(e.into());
            }
        }
        self.close_new_tenant(tenant, conn).await?;
        self.step_done(op, Step::Seed, t, timings).await?;

        let t = Instant::now();
        // Version, audit row and status in one transaction: an active tenant always has its
        // audit row and its schema version.
        self.registry
            .activate_tenant(
                id,
                report.current_version,
                req.origin.entry(
                    OperationKind::TenantCreate.as_str(),
                    Some(id),
                    json!({
                        "subdomain": tenant.subdomain,
                        "plan": tenant.plan,
                        "db_name": tenant.db_name,
                        "operation": op,
                        "from_backup": match content {
                            Content::Backup(backup) => Some(backup.id),
                            Content::Seed { .. } => None,
                        },
                    }),
                ),
            )
            .await?;
        self.step_done(op, Step::Activate, t, timings).await
    }

    async fn step_done(
        &self,
        op: Uuid,
        step: Step,
        started: Instant,
        timings: &mut Vec<(Step, Duration)>,
    ) -> Result<(), ProvisionError> {
        timings.push((step, started.elapsed()));
        if step != Step::Activate {
            self.registry.advance_operation(op, step.as_str()).await?;
        }
        self.failpoint(step).await
    }

    async fn failpoint(&self, step: Step) -> Result<(), ProvisionError> {
        if std::env::var(PAUSE_ENV).is_ok_and(|at| at == step.as_str()) {
            eprintln!("{PAUSE_MARKER} {step}");
            tokio::time::sleep(PAUSE_FOR).await;
        }
        match self.failpoint {
            Some(at) if at == step => Err(ProvisionError::Failpoint(step)),
            _ => Ok(()),
        }
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

    /// Chooses where a new tenant's database goes: `requested`, else the active server with the
    /// most free capacity (by share), else (none registered) SQLite.
    pub async fn place(
        &self,
        requested: Option<&ServerName>,
    ) -> Result<Option<Server>, ProvisionError> {
        if let Some(name) = requested {
            let server = self.registry.server_by_name(name).await?;
            if server.state != ServerState::Active {
                return Err(ProvisionError::NoCapacity {
                    server: name.to_string(),
                    reason: format!("it is {:?}", server.state).to_lowercase(),
                });
            }
            let used = self.registry.count_tenants_on_server(server.id).await?;
            if used >= u64::try_from(server.capacity).unwrap_or(0) {
                return Err(ProvisionError::NoCapacity {
                    server: name.to_string(),
                    reason: format!("it holds {used} of {} tenants", server.capacity),
                });
            }
            return Ok(Some(server));
        }
        let servers = self.registry.list_servers().await?;
        let registered = !servers.is_empty();
        let mut best: Option<(f64, Server)> = None;
        for server in servers {
            if server.state != ServerState::Active {
                continue;
            }
            let used = self.registry.count_tenants_on_server(server.id).await? as f64;
            let load = used / f64::from(server.capacity.max(1));
            if load < 1.0 && best.as_ref().is_none_or(|(l, _)| load < *l) {
                best = Some((load, server));
            }
        }
        match best {
            Some((_, server)) => Ok(Some(server)),
            None if !registered => Ok(None),
            None => Err(ProvisionError::NoCapacity {
                server: "any".into(),
                reason: "every registered server is full or draining".into(),
            }),
        }
    }
}
