//! Moving a tenant to another PostgreSQL server while it serves. Its database is created on the
//! target (same name, its role with a new password), the schema copied, and the rows copied and
//! then streamed by logical replication while the tenant goes on reading and writing. Then the
//! short part, the **write pause**: a fence (every `serve` answers 503 with Retry-After), up to
//! 200 ms for statements already running to finish, the tenant role's login refused on the
//! source and its sessions ended (no write can land there any more), a marker row written on the source and awaited on the target (every acknowledged write
//! is there), sequences copied, the replication ended, and the registry pointer swapped, which
//! lifts the fence and drops pooled connections everywhere. Finally the source database and role
//! are dropped.
//!
//! A failure before the swap undoes the move (target dropped, source allowed to log in again,
//! fence lifted); `reconcile` does the same after a crash, or finishes the cleanup when the swap
//! was done.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::vault::random_password;
use tenantry_core::{DbServerId, ServerName, TenantRef};
use tenantry_registry::{DatabaseLocation, Fence, OperationKind, Origin, Tenant, TenantStatus};
use uuid::Uuid;

use crate::backend::postgres::PostgresBackend;
use crate::backend::{DatabaseBackend as _, Login, TenantDatabase};
use crate::create::RESERVED_ROLE_CONNECTIONS;
use crate::restore::restore_database;
use crate::{ProvisionError, Provisioner};

/// How long the initial copy may take.
const COPY_WITHIN: Duration = Duration::from_secs(30 * 60);
/// How long statements already running when the fence goes up may take to finish before their
/// sessions are ended (their work is then rolled back, never acknowledged).
const FINISH_WITHIN: Duration = Duration::from_millis(200);
/// How long the target may take to catch up once writes have stopped.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(30);

/// A moved tenant and how long the parts took.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    pub tenant: Tenant,
    pub from: String,
    pub to: String,
    /// Schema, rows and streaming until caught up: the tenant served meanwhile.
    pub copy_ms: u64,
    /// Fence to swap: the tenant's requests were answered 503 (and no write was accepted).
    pub write_pause_ms: u64,
}

/// What `reconcile` needs to undo or finish a move, kept in the operation's params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MoveParams {
    pub tenant_id: Uuid,
    pub subdomain: String,
    pub db: String,
    pub role: Option<String>,
    pub from: Uuid,
    pub to: Uuid,
}

impl Provisioner {
    /// Moves an active PostgreSQL tenant to server `to` without stopping it.
    pub async fn move_tenant(
        &self,
        reference: &TenantRef,
        to: &ServerName,
        origin: &Origin,
    ) -> Result<Moved, ProvisionError> {
        let tenant = self.registry.find_tenant(reference).await?;
        let target = self.registry.server_by_name(to).await?;
        let cannot = |reason: String| ProvisionError::CannotMove {
            subdomain: tenant.subdomain.to_string(),
            reason,
        };
        let Some(from) = tenant.server else {
            return Err(cannot(
                "it is a SQLite tenant; only PostgreSQL tenants move between servers".into(),
            ));
        };
        if from == target.id {
            return Err(cannot(format!("it is on server {to} already")));
        }
        // As for a new tenant: the target must be active and have room.
        self.place(Some(to)).await?;
        let db = Self::tenant_database(&tenant)?;
        let params = MoveParams {
            tenant_id: tenant.id.as_uuid(),
            subdomain: tenant.subdomain.to_string(),
            db: db.name.to_string(),
            role: db.role.as_ref().map(ToString::to_string),
            from: from.as_uuid(),
            to: target.id.as_uuid(),
        };
        let mut moved = None;
        self.exclusively_with(
            OperationKind::TenantMove,
            &tenant,
            &[TenantStatus::Active],
            json!(params),
            origin,
            async |tenant, op| {
                let (source, dest) = (
                    self.pg_backend(from).await?,
                    self.pg_backend(target.id).await?,
                );
                let result = self
                    .move_steps(tenant, &db, (&source, &dest, target.id), origin, op)
                    .await;
                match result {
                    Ok(done) => {
                        moved = Some(done);
                        Ok(())
                    }
                    Err(e) => {
                        self.undo_move(&params).await.ok();
                        Err(e)
                    }
                }
            },
        )
        .await?;
        Ok(moved.expect("a successful move operation moved"))
    }

    async fn move_steps(
        &self,
        tenant: &Tenant,
        db: &TenantDatabase,
        (source, dest, dest_id): (&PostgresBackend, &PostgresBackend, DbServerId),
        origin: &Origin,
        op: Uuid,
    ) -> Result<Moved, ProvisionError> {
        let started = Instant::now();
        source.check_superuser().await?;
        dest.check_superuser().await?;
        source.check_replicable(db).await?;
        if dest.database_exists(db).await? {
            return Err(ProvisionError::CannotMove {
                subdomain: tenant.subdomain.to_string(),
                reason: format!("the target server already has a database {}", db.name),
            });
        }
        self.registry.advance_operation(op, "copy").await?;
        let password = random_password();
        let plan = self.registry.plan_by_id(&tenant.plan).await?;
        let limit = i32::try_from(plan.max_connections)
            .unwrap_or(i32::MAX)
            .saturating_add(RESERVED_ROLE_CONNECTIONS);
        dest.ensure_role(db, &password, limit).await?;
        dest.ensure_database(db).await?;
        source.copy_schema_to(dest, db).await?;
        dest.subscribe_to(source, db).await?;
        dest.wait_copied(db, COPY_WITHIN).await?;
        let copied = started.elapsed();

        self.registry.advance_operation(op, "switch").await?;
        let pause = Instant::now();
        self.registry
            .set_tenant_fence(tenant.id, Some(Fence::Move))
            .await?;
        // Requests already running get a moment to finish; then no write lands on the source:
        // its role cannot log in, its sessions are ended.
        source.wait_idle(db, FINISH_WITHIN).await?;
        source.set_login(db, Login::Refused).await?;
        let token = source.write_marker(db).await?;
        dest.wait_for_marker(db, token, CATCH_UP_WITHIN).await?;
        dest.set_sequences(db, &source.sequences(db).await?).await?;
        dest.end_subscription(db).await?;
        let audit = origin.entry(
            OperationKind::TenantMove.as_str(),
            Some(tenant.id),
            json!({
                "subdomain": tenant.subdomain,
                "from": source.server_name(),
                "to": dest.server_name(),
                "operation": op,
            }),
        );
        let location = DatabaseLocation {
            server: Some(dest_id),
            db_name: db.name.to_string(),
            db_user: tenant.db_user.clone(),
            password: Some(password),
        };
        let moved = self
            .registry
            .swap_tenant_database(tenant.id, location, tenant.schema_version, audit)
            .await?;
        let paused = pause.elapsed();

        self.registry.advance_operation(op, "drop_source").await?;
        // The swap is done: a failure from here on must not undo it; reconcile finishes.
        if let Err(e) = drop_source(source, db).await {
            tracing::warn!(tenant = %tenant.subdomain, error = %e, "cannot drop the moved-from database yet");
        }
        Ok(Moved {
            tenant: moved,
            from: source.server_name().to_owned(),
            to: dest.server_name().to_owned(),
            copy_ms: millis(copied),
            write_pause_ms: millis(paused),
        })
    }

    /// A server's backend of its own (moves are rare; its pool closes when dropped).
    pub(crate) async fn pg_backend(
        &self,
        id: DbServerId,
    ) -> Result<PostgresBackend, ProvisionError> {
        let server = self.registry.server(id).await?;
        let url = self.registry.server_connect_url(&server)?;
        Ok(PostgresBackend::with_pg_bin(
            server.name.as_str(),
            &url,
            self.backups.pg_bin.clone(),
        )?)
    }

    /// After a crash: a move that swapped is finished (the source dropped), one that did not is
    /// undone.
    pub(crate) async fn resolve_move(
        &self,
        op: &tenantry_registry::Operation,
    ) -> Result<crate::reconcile::Outcome, ProvisionError> {
        let params: MoveParams = serde_json::from_value(op.params.clone()).map_err(|e| {
            ProvisionError::Registry(tenantry_registry::RegistryError::Invalid {
                what: format!("params of operation {}: {e}", op.id),
            })
        })?;
        let tenant = self.registry.tenant(params.tenant_id.into()).await?;
        let swapped = tenant.is_some_and(|t| t.server == Some(params.to.into()));
        self.undo_move(&params).await?;
        Ok(if swapped {
            crate::reconcile::Outcome::Completed
        } else {
            crate::reconcile::Outcome::RolledBack
        })
    }

    /// Undoes a move that was not swapped (the tenant still points at the source), or finishes
    /// one that was. Idempotent.
    pub(crate) async fn undo_move(&self, params: &MoveParams) -> Result<(), ProvisionError> {
        let db = restore_database(&params.db, params.role.as_deref())?;
        let (source, dest) = (
            self.pg_backend(params.from.into()).await?,
            self.pg_backend(params.to.into()).await?,
        );
        let tenant = self.registry.tenant(params.tenant_id.into()).await?;
        let swapped = tenant
            .as_ref()
            .is_some_and(|t| t.server == Some(params.to.into()));
        // A session the interrupted move left (a CREATE SUBSCRIPTION still running) goes first.
        dest.end_sessions(&db).await?;
        dest.end_subscription(&db).await?;
        if swapped {
            return drop_source(&source, &db).await;
        }
        dest.drop_database(&db).await?;
        dest.drop_role(&db).await?;
        source.end_publication(&db).await?;
        if let Some(tenant) = tenant.filter(Tenant::is_live) {
            if tenant.status == TenantStatus::Active {
                source.set_login(&db, Login::Allowed).await?;
            }
            self.registry.set_tenant_fence(tenant.id, None).await?;
        }
        Ok(())
    }
}

async fn drop_source(source: &PostgresBackend, db: &TenantDatabase) -> Result<(), ProvisionError> {
    source.end_publication(db).await?;
    source.drop_database(db).await?;
    source.drop_role(db).await?;
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
