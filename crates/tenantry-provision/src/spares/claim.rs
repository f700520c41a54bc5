//! A creation that claimed a warm spare: the steps of `create.rs` for a database that exists
//! already, at the latest schema, under the spare's names.
//!
//! What it leaves out, and why that is safe: `database` (ownership and grants follow the
//! database's and role's ids, so the spare's are the tenant's once renamed), the chart of
//! accounts (written when the spare was built; only a spare with this build's chart is
//! claimed), `migrate` (only a spare migrated to this build's latest schema is claimed, and
//! nothing migrates a spare after it is ready: one at an older schema is rebuilt), and the
//! master writes of the steps between
//! the claim and the activation (rolling a creation back never depends on its step, and the
//! one kept overlaps the connect). Every step keeps its failpoint.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use sqlx::sqlite::SqliteSynchronous;
use tenantry_registry::Tenant;
use uuid::Uuid;

use super::ClaimedSpare;
use crate::backend::TenantDatabase;
use crate::create::{Content, Seeding, Spec};
use crate::{ProvisionError, Provisioner, Step};

/// What a creation needs to take over a spare it claimed.
pub(crate) struct SpareClaim<'a> {
    pub spare: &'a ClaimedSpare,
    /// The tenant role's new password.
    pub password: &'a SecretString,
    pub connection_limit: i32,
}

impl Provisioner {
    /// `role`: the spare's role and database take the tenant's names, password and connection
    /// limit (one server transaction); `migrate`: the tenant's first connection, while the step
    /// is recorded and the spare's row (its names are gone) is forgotten; `seed`; `activate`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_spare_steps(
        &self,
        req: &Spec<'_>,
        content: &Content<'_>,
        tenant: &Tenant,
        db: &TenantDatabase,
        claim: &SpareClaim<'_>,
        op: Uuid,
        timings: &mut Vec<(Step, Duration)>,
    ) -> Result<Tenant, ProvisionError> {
        let backend = self.backend(tenant.server).await?;

        let t = Instant::now();
        backend
            .claim_spare(
                &claim.spare.database()?,
                db,
                claim.password,
                claim.connection_limit,
            )
            .await?;
        timings.push((Step::Role, t.elapsed()));
        self.failpoint(Step::Role).await?;
        self.failpoint(Step::Database).await?;

        let t = Instant::now();
        let url = backend.tenant_url(db, Some(claim.password));
        let (recorded, forgotten, conn) = tokio::join!(
            self.registry.advance_operation(op, Step::Database.as_str()),
            self.registry.remove_spare(claim.spare.id),
            self.open_url(&url, db.name.as_str(), SqliteSynchronous::Normal),
        );
        if let Err(e) = forgotten {
            // `reconcile` forgets it later (its tenant exists), or the rollback does.
            tracing::warn!(tenant = %req.subdomain, error = %e, "could not forget the claimed spare");
        }
        let conn = conn?;
        if let Err(e) = recorded {
            conn.close().await.ok();
            return Err(e.into());
        }
        timings.push((Step::Migrate, t.elapsed()));
        self.failpoint(Step::Migrate).await?;

        let t = Instant::now();
        // The spare holds this build's chart (it is claimed only then): the admin is what is left.
        self.seed_and_close(tenant, conn, content, Seeding::AdminOnly)
            .await?;
        timings.push((Step::Seed, t.elapsed()));
        self.failpoint(Step::Seed).await?;

        let t = Instant::now();
        let version = Some(self.latest_schema()?);
        let active = self.activate(req, content, tenant, version, op).await?;
        self.step_done(op, Step::Activate, t, timings).await?;
        Ok(active)
    }
}
