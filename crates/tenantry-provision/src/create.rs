//! Creating a tenant: reserve → role → database → migrate → seed → activate, each step recorded
//! in the operation row, each idempotent. Any failure rolls back at once; a crash is rolled back
//! by `reconcile`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::vault::random_password;
use tenantry_core::{DbServerId, Email, ServerName, Subdomain, TenantId};
use tenantry_registry::entity::{db_server, tenant};
use tenantry_registry::{NewTenant, OperationState, RegistryError, ServerState, TenantStatus};
use uuid::Uuid;

use crate::backend::{DbIdent, TenantDatabase};
use crate::{ProvisionError, Provisioner};

/// Operation kind recorded for tenant creation.
pub const CREATE_KIND: &str = "tenant.create";

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
    pub plan: String,
    pub admin_email: Email,
    /// Argon2id PHC string of the tenant admin's password (hashed by the caller, off the
    /// async executor; never a plaintext).
    pub admin_password_hash: String,
    /// A registered PostgreSQL server; `None` = the least loaded active server, or the local
    /// SQLite directory when no server is registered.
    pub server: Option<ServerName>,
}

/// A created tenant and how long each step took.
#[derive(Debug, Clone)]
pub struct Created {
    pub tenant: tenant::Model,
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

impl Provisioner {
    pub async fn create(&self, req: CreateTenant) -> Result<Created, ProvisionError> {
        let started = Instant::now();
        let plan = self.registry.plan(&req.plan).await.map_err(|e| match e {
            RegistryError::NotFound { .. } => ProvisionError::UnknownPlan(req.plan.clone()),
            e => e.into(),
        })?;
        if self
            .registry
            .live_tenant_by_subdomain(req.subdomain.as_str())
            .await?
            .is_some()
        {
            return Err(RegistryError::Conflict {
                what: format!("tenant {}", req.subdomain),
            }
            .into());
        }
        let server = self.place(req.server.as_ref()).await?;

        let id = TenantId::new();
        let name = DbIdent::derive(req.subdomain.as_str(), id);
        let role = server.as_ref().map(|_| name.clone());
        let password = server.as_ref().map(|_| random_password());
        let params = CreateParams {
            tenant_id: id.as_uuid(),
            subdomain: req.subdomain.to_string(),
            server_id: server.as_ref().map(|s| s.id),
            db_name: name.to_string(),
            role: role.as_ref().map(ToString::to_string),
        };
        let op = self
            .registry
            .start_operation(CREATE_KIND, Some(id), Step::Reserve.as_str(), json!(params))
            .await?;

        let reserved = self
            .registry
            .reserve_tenant(NewTenant {
                id,
                subdomain: req.subdomain.clone(),
                name: req.name.clone(),
                plan_id: plan.id.clone(),
                db_server_id: params.server_id.map(DbServerId::from),
                db_name: name.to_string(),
                db_user: params.role.clone(),
                db_password: password.clone(),
                storage_limit_mb: Some(plan.storage_limit_mb),
            })
            .await;
        let tenant = match reserved {
            Ok(tenant) => tenant,
            Err(e) => {
                self.registry
                    .finish_operation(op.id, OperationState::Failed, Some(e.to_string()))
                    .await?;
                return Err(e.into());
            }
        };
        let mut timings = vec![(Step::Reserve, started.elapsed())];
        self.failpoint(Step::Reserve)?;

        let db = TenantDatabase { name, role };
        match self
            .run_steps(
                &req,
                &tenant,
                &db,
                password.as_ref(),
                plan.max_connections,
                op.id,
                &mut timings,
            )
            .await
        {
            Ok(tenant) => Ok(Created { tenant, timings }),
            Err(e @ ProvisionError::Failpoint(_)) => Err(e),
            Err(e) => {
                tracing::warn!(tenant = %req.subdomain, error = %e, "provisioning failed; rolling back");
                self.roll_back_create(&params).await?;
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
        req: &CreateTenant,
        tenant: &tenant::Model,
        db: &TenantDatabase,
        password: Option<&secrecy::SecretString>,
        connection_limit: i32,
        op: Uuid,
        timings: &mut Vec<(Step, Duration)>,
    ) -> Result<tenant::Model, ProvisionError> {
        let backend = self.backend(tenant.db_server_id).await?;
        let id = TenantId::from(tenant.id);

        let t = Instant::now();
        if let Some(password) = password {
            backend.ensure_role(db, password, connection_limit).await?;
        }
        self.step_done(op, Step::Role, t, timings).await?;

        let t = Instant::now();
        backend.ensure_database(db).await?;
        self.step_done(op, Step::Database, t, timings).await?;

        let t = Instant::now();
        let conn = self.connect_tenant(tenant).await?;
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
        let seeded = tenantry_app::seed(
            &conn,
            &tenantry_app::TenantAdmin {
                email: req.admin_email.as_str(),
                name: "Administrator",
                password_hash: &req.admin_password_hash,
            },
        )
        .await;
        conn.close().await.ok();
        seeded?;
        self.step_done(op, Step::Seed, t, timings).await?;

        let t = Instant::now();
        self.registry
            .record_schema_version(id, report.current_version, None)
            .await?;
        self.registry
            .set_tenant_status(id, TenantStatus::Active, None)
            .await?;
        self.step_done(op, Step::Activate, t, timings).await?;
        self.registry
            .finish_operation(op, OperationState::Succeeded, None)
            .await?;
        Ok(self.registry.find_tenant(&id.to_string()).await?)
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
        self.failpoint(step)
    }

    fn failpoint(&self, step: Step) -> Result<(), ProvisionError> {
        match self.failpoint {
            Some(at) if at == step => Err(ProvisionError::Failpoint(step)),
            _ => Ok(()),
        }
    }

    /// Undoes a creation, whatever step it reached: drop the database, drop the role, remove the
    /// registry row (only while it is still `provisioning`). Each part is idempotent.
    pub(crate) async fn roll_back_create(
        &self,
        params: &CreateParams,
    ) -> Result<(), ProvisionError> {
        let backend = self.backend(params.server_id).await?;
        let db = params.database()?;
        backend.drop_database(&db).await?;
        backend.drop_role(&db).await?;
        self.registry
            .remove_unprovisioned_tenant(params.tenant_id.into())
            .await?;
        Ok(())
    }

    /// Chooses where a new tenant's database goes.
    async fn place(
        &self,
        requested: Option<&ServerName>,
    ) -> Result<Option<db_server::Model>, ProvisionError> {
        if let Some(name) = requested {
            let server = self.registry.server_by_name(name).await?;
            if server.state != ServerState::Active {
                return Err(ProvisionError::NoCapacity {
                    server: name.to_string(),
                    reason: format!("it is {:?}", server.state).to_lowercase(),
                });
            }
            let used = self
                .registry
                .count_tenants_on_server(server.id.into())
                .await?;
            if used >= u64::try_from(server.capacity).unwrap_or(0) {
                return Err(ProvisionError::NoCapacity {
                    server: name.to_string(),
                    reason: format!("it holds {used} of {} tenants", server.capacity),
                });
            }
            return Ok(Some(server));
        }
        let mut best: Option<(f64, db_server::Model)> = None;
        for server in self.registry.list_servers().await? {
            if server.state != ServerState::Active {
                continue;
            }
            let used = self
                .registry
                .count_tenants_on_server(server.id.into())
                .await? as f64;
            let load = used / f64::from(server.capacity.max(1));
            if load < 1.0 && best.as_ref().is_none_or(|(l, _)| load < *l) {
                best = Some((load, server));
            }
        }
        match best {
            Some((_, server)) => Ok(Some(server)),
            None if self.registry.list_servers().await?.is_empty() => Ok(None),
            None => Err(ProvisionError::NoCapacity {
                server: "any".into(),
                reason: "every registered server is full or draining".into(),
            }),
        }
    }
}
