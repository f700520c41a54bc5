//! The steps of a creation, and what each kind of creation shares: seeding, activating,
//! recording a step, and the test hooks that stop a creation after one.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_registry::{OperationKind, Tenant};
use uuid::Uuid;

use super::{Content, Spec};
use crate::{ProvisionError, Provisioner};

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

/// What a new tenant's database still needs of its seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seeding {
    /// The chart of accounts and the admin: a database made for this tenant.
    Whole,
    /// The admin only: a warm spare, built with this build's chart.
    AdminOnly,
}

impl Provisioner {
    /// Seeds a new tenant's database (what `seeding` says is missing) unless it came from a
    /// backup, then closes the connection (on SQLite with the checkpoint that makes it durable).
    pub(crate) async fn seed_and_close(
        &self,
        tenant: &Tenant,
        conn: sea_orm::DatabaseConnection,
        content: &Content<'_>,
        seeding: Seeding,
    ) -> Result<(), ProvisionError> {
        if let Content::Seed {
            admin_email,
            admin_password_hash,
        } = content
        {
            let admin = tenantry_app::TenantAdmin {
                email: admin_email.as_str(),
                name: "Administrator",
                password_hash: admin_password_hash,
            };
            let seeded = match seeding {
                Seeding::Whole => tenantry_app::seed(&conn, &admin).await.map(drop),
                Seeding::AdminOnly => tenantry_app::seed_admin(&conn, &admin).await.map(drop),
            };
            if let Err(e) = seeded {
                conn.close().await.ok();
                return Err(e.into());
            }
        }
        self.close_new_tenant(tenant, conn).await
    }

    /// Version, audit row, status and the end of the creation's operation in one transaction:
    /// an active tenant always has its audit row and its schema version, and its creation is
    /// never left open once it is active. Returns the active tenant.
    pub(crate) async fn activate(
        &self,
        req: &Spec<'_>,
        content: &Content<'_>,
        tenant: &Tenant,
        schema_version: Option<i32>,
        op: Uuid,
    ) -> Result<Tenant, ProvisionError> {
        let id = tenant.id;
        Ok(self
            .registry
            .activate_tenant(
                id,
                schema_version,
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
                Some(op),
            )
            .await?)
    }

    pub(crate) async fn step_done(
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

    pub(crate) async fn failpoint(&self, step: Step) -> Result<(), ProvisionError> {
        if std::env::var(PAUSE_ENV).is_ok_and(|at| at == step.as_str()) {
            eprintln!("{PAUSE_MARKER} {step}");
            tokio::time::sleep(PAUSE_FOR).await;
        }
        match self.failpoint {
            Some(at) if at == step => Err(ProvisionError::Failpoint(step)),
            _ => Ok(()),
        }
    }
}
