//! Warm spares: PostgreSQL databases created and migrated ahead of demand, each owned by a role of
//! its own (what stancl/tenancy calls pending tenants, for whole databases). A creation on a
//! server with a ready spare at the latest schema claims it instead of creating a database: in
//! one server transaction the role and database are renamed to the tenant's names and the role
//! gets the tenant's new password and connection limit; then only the tenant's admin is written
//! (`claim.rs`): a spare is built with the chart of accounts every tenant starts with, and
//! claimed only by a build whose chart has the same fingerprint.
//!
//! Crash safety: a spare is recorded (`building`) before anything exists on the server, so a
//! crash mid-build leaves a row that `reconcile` uses to drop what was made; a claimed spare's
//! names are in the creation's operation params, so rolling the creation back drops them too
//! (and the server-side claim is one transaction, so a spare is never half renamed). A spare is
//! claimed in the transaction that reserves its tenant, so a claim never outlives a refused
//! reservation; one claimed for a tenant that was never recorded (as a release that claimed
//! first could leave) is dropped by `reconcile` once stale. A spare's role password is only known while it is built: nobody can log in to a spare.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteSynchronous;
use tenantry_core::vault::random_password;
use tenantry_core::{DbServerId, TenantId};
use tenantry_migrate::Dialect;
use tenantry_registry::{
    RegistryError, Server, ServerDialect, ServerState, Spare, SpareState, SpareWanted, TenantStatus,
};
use uuid::Uuid;

use crate::backend::{DbIdent, TenantDatabase};
use crate::{ProvisionError, Provisioner};

mod claim;

pub(crate) use claim::SpareClaim;

/// A spare's role connection limit while it is built (migrations use one session).
const BUILD_CONNECTION_LIMIT: i32 = 2;

/// How long a spare may stay `building`, or `claimed` without its tenant's row, before
/// `reconcile` takes it for abandoned by a dead process and drops it.
pub const SPARE_STALE_AFTER: Duration = Duration::from_secs(120);

/// The spare a creation took, as recorded in its operation params (names only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClaimedSpare {
    pub id: Uuid,
    pub db_name: String,
    pub role: String,
}

impl From<&Spare> for ClaimedSpare {
    fn from(s: &Spare) -> Self {
        Self {
            id: s.id,
            db_name: s.db_name.clone(),
            role: s.db_user.clone(),
        }
    }
}

impl ClaimedSpare {
    pub(crate) fn database(&self) -> Result<TenantDatabase, ProvisionError> {
        spare_database(&self.db_name, &self.role)
    }
}

/// What one refill pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpareRefill {
    /// Spares built and ready.
    pub built: usize,
    /// Ready spares dropped: at an older schema (rebuilt instead of migrated) or with another
    /// build's chart, or beyond the target.
    pub dropped: usize,
    /// Builds or drops that failed (each is logged; a failed build's leftovers are dropped).
    pub failed: usize,
}

fn spare_database(db_name: &str, role: &str) -> Result<TenantDatabase, ProvisionError> {
    let parse = |name: &str| {
        DbIdent::parse(name).map_err(|e| {
            ProvisionError::Registry(RegistryError::Invalid {
                what: format!("spare name: {e}"),
            })
        })
    };
    Ok(TenantDatabase {
        name: parse(db_name)?,
        role: Some(parse(role)?),
    })
}

impl Provisioner {
    fn latest_schema(&self) -> Result<i32, ProvisionError> {
        Ok(self
            .migrations
            .latest_version(Dialect::Postgres)?
            .unwrap_or_default())
    }

    /// Brings every active PostgreSQL server to `target` spares at the latest schema: ready
    /// spares at an older schema (or beyond the target) are dropped, missing ones are built, at
    /// most `concurrency` at a time. `target` 0 drops every ready spare, and so does a server
    /// that is no longer active (draining, retired). Safe to run from
    /// several processes at once: the registry never records more than `target` per server.
    pub async fn refill_spares(
        &self,
        target: u64,
        concurrency: usize,
    ) -> Result<SpareRefill, ProvisionError> {
        let latest = self.latest_schema()?;
        let seed = tenantry_app::chart_fingerprint();
        let mut outcome = SpareRefill::default();
        let servers: Vec<Server> = self
            .registry
            .list_servers()
            .await?
            .into_iter()
            .filter(|s| s.dialect == ServerDialect::Postgres)
            .collect();
        let mut wanted = Vec::new();
        for server in &servers {
            let target = if server.state == ServerState::Active {
                target
            } else {
                0
            };
            let mut held = 0;
            for spare in self.registry.spares(Some(server.id)).await? {
                let ready = spare.state == SpareState::Ready;
                let current = spare.schema_version == Some(latest)
                    && spare.seed.as_deref() == Some(seed.as_str());
                if ready && (!current || held >= target) {
                    match self.drop_spare(&spare).await {
                        Ok(()) => outcome.dropped += 1,
                        // This server is left as it is this time; the others are not.
                        Err(e) => {
                            tracing::warn!(spare = %spare.db_name, error = %e, "dropping a warm spare failed");
                            outcome.failed += 1;
                        }
                    }
                } else if spare.state != SpareState::Claimed {
                    held += 1;
                }
            }
            wanted.extend((held..target).map(|_| server.id));
        }
        let builds = futures::stream::iter(wanted)
            .map(|server| self.build_spare(server, target, latest))
            .buffer_unordered(concurrency.max(1));
        let results: Vec<_> = builds.collect().await;
        for result in results {
            match result {
                Ok(true) => outcome.built += 1,
                Ok(false) => {} // another process filled the server meanwhile
                Err(e) => {
                    tracing::warn!(error = %e, "building a warm spare failed");
                    outcome.failed += 1;
                }
            }
        }
        Ok(outcome)
    }

    /// Records, creates and migrates one spare on `server` (unless it already has `target`).
    /// A failure drops what was made.
    async fn build_spare(
        &self,
        server: DbServerId,
        target: u64,
        latest: i32,
    ) -> Result<bool, ProvisionError> {
        let id = Uuid::new_v4();
        let name = DbIdent::derive("spare", TenantId::from(id));
        let db = TenantDatabase {
            name: name.clone(),
            role: Some(name.clone()),
        };
        if !self
            .registry
            .add_spare(server, id, name.as_str(), name.as_str(), target)
            .await?
        {
            return Ok(false);
        }
        let built = self.create_spare(server, &db, latest).await;
        match built {
            Ok(version) => {
                let seed = tenantry_app::chart_fingerprint();
                self.registry.spare_ready(id, version, &seed).await?;
                Ok(true)
            }
            Err(e) => {
                let spare = self.registry.spares(Some(server)).await?;
                if let Some(spare) = spare.iter().find(|s| s.id == id) {
                    self.drop_spare(spare).await?;
                }
                Err(e)
            }
        }
    }

    async fn create_spare(
        &self,
        server: DbServerId,
        db: &TenantDatabase,
        latest: i32,
    ) -> Result<i32, ProvisionError> {
        let backend = self.backend(Some(server)).await?;
        let password = random_password();
        backend
            .ensure_role(db, &password, BUILD_CONNECTION_LIMIT)
            .await?;
        backend.ensure_database(db).await?;
        let url = backend.tenant_url(db, Some(&password));
        let conn = self
            .open_url(&url, db.name.as_str(), SqliteSynchronous::Normal)
            .await?;
        let built = async {
            let version = tenantry_migrate::migrate(&conn, self.migrations)
                .await?
                .current_version
                .unwrap_or_default();
            if version != latest {
                return Err(ProvisionError::Registry(RegistryError::Invalid {
                    what: format!("spare {} migrated to {version}, not {latest}", db.name),
                }));
            }
            // The seed data every tenant shares; a claim only adds the tenant's admin.
            tenantry_app::seed_chart(&conn).await?;
            Ok(version)
        }
        .await;
        conn.close().await.ok();
        built
    }

    /// Drops a spare's database and role, then its row.
    pub(crate) async fn drop_spare(&self, spare: &Spare) -> Result<(), ProvisionError> {
        let db = spare_database(&spare.db_name, &spare.db_user)?;
        self.drop_spare_names(Some(spare.server), &db, spare.id)
            .await
    }

    /// Drops whatever on `server` still has a spare's names, then forgets the spare.
    async fn drop_spare_names(
        &self,
        server: Option<DbServerId>,
        db: &TenantDatabase,
        id: Uuid,
    ) -> Result<(), ProvisionError> {
        let backend = self.backend(server).await?;
        backend.end_sessions(db).await?;
        backend.drop_database(db).await?;
        backend.drop_role(db).await?;
        self.registry.remove_spare(id).await?;
        Ok(())
    }

    /// The spare a creation on `server` may claim (in its reservation): at the latest schema,
    /// holding this build's chart, whose fingerprint is `seed`.
    pub(crate) fn spare_wanted<'a>(
        &self,
        server: DbServerId,
        seed: &'a str,
    ) -> Result<SpareWanted<'a>, ProvisionError> {
        Ok(SpareWanted {
            server,
            schema_version: self.latest_schema()?,
            seed,
        })
    }

    /// Rolls back the spare side of a creation: whatever still has the spare's names is
    /// dropped, and the row goes.
    pub(crate) async fn release_claimed_spare(
        &self,
        server: Option<DbServerId>,
        spare: &ClaimedSpare,
    ) -> Result<(), ProvisionError> {
        self.drop_spare_names(server, &spare.database()?, spare.id)
            .await
    }

    /// `reconcile`'s part (and `serve`'s, before each refill): drops spares a dead process left
    /// `building`, or `claimed` by a creation that never recorded its tenant; forgets claimed
    /// spares whose tenant exists past provisioning (the creation ended; only removing the row
    /// was left). A claim whose tenant is still provisioning is its creation's to resolve.
    /// Returns how many it resolved; one that fails (server unreachable) is logged and left.
    pub async fn resolve_spares(&self) -> Result<usize, ProvisionError> {
        let stale_before = Utc::now()
            - chrono::Duration::from_std(SPARE_STALE_AFTER).unwrap_or(chrono::Duration::zero());
        let mut resolved = 0;
        for spare in self.registry.spares(None).await? {
            let stale = spare.updated_at < stale_before;
            let done = match (spare.state, spare.claimed_by) {
                (SpareState::Building, _) if stale => self.drop_spare(&spare).await,
                (SpareState::Claimed, Some(tenant)) => match self.registry.tenant(tenant).await? {
                    Some(t) if t.status == TenantStatus::Provisioning => continue,
                    Some(_) => self
                        .registry
                        .remove_spare(spare.id)
                        .await
                        .map_err(Into::into),
                    None if stale => self.drop_spare(&spare).await,
                    None => continue,
                },
                _ => continue,
            };
            match done {
                Ok(()) => resolved += 1,
                Err(e) => {
                    tracing::warn!(spare = %spare.db_name, error = %e, "could not resolve an abandoned warm spare");
                }
            }
        }
        Ok(resolved)
    }
}
