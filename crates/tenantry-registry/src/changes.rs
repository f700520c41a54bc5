//! The registry change feed: how every `serve` process learns, within a second, that the CLI or
//! another process changed a tenant it has cached (Host → tenant, its pool, its users' status).
//!
//! Each registry mutation that a Host lookup, a tenant's pool or routing would see appends one
//! `registry_changes` row **in its own transaction** ([`record`]). Readers remember the last id
//! they applied and ask for [`Registry::changes_since`] it. For that to be safe, ids must become
//! visible in order: on PostgreSQL a sequence hands out ids at insert time, so a transaction that
//! took id 10 and commits after id 11 was read would be skipped forever. [`record`] therefore
//! takes a transaction-scoped advisory lock before the insert, which serialises change-recording
//! transactions from id assignment to commit (registry mutations are rare). SQLite serialises
//! writers already. On PostgreSQL the same transaction sends a `NOTIFY`, so a [`ChangeListener`]
//! wakes at commit instead of at the next poll.
//!
//! Old rows are pruned ([`Registry::prune_changes`]); the one-row `registry_change_floor` keeps the
//! highest pruned id, so a reader that fell behind it is told to reload ([`ChangeBatch::gap`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, RuntimeErr, Set, Statement, TransactionTrait, entity::prelude::*,
};
use sqlx::postgres::PgListener;
use tenantry_core::ids::TenantId;

use crate::entity::{registry_change, registry_change_floor, tenant, tenant_domain};
use crate::{Fence, Registry, RegistryError, StorageLevel, TenantStatus};

/// The PostgreSQL channel a committed change notifies.
pub const CHANGE_CHANNEL: &str = "tenantry_registry_changes";

/// The advisory lock that orders change-recording transactions ("tenantry" in ASCII). Every
/// writer of `registry_changes` must take it, or ids could commit out of order.
const CHANGE_LOCK: i64 = 0x7465_6e61_6e74_7279;

/// What changed about a tenant; tells a cache which of its entries to drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum ChangeKind {
    #[sea_orm(string_value = "created")]
    Created,
    #[sea_orm(string_value = "status")]
    Status,
    #[sea_orm(string_value = "deleted")]
    Deleted,
    #[sea_orm(string_value = "domains")]
    Domains,
    #[sea_orm(string_value = "plan")]
    Plan,
    /// A tenant user's credentials, role or status ([`Change::user`] names the user).
    #[sea_orm(string_value = "user_credentials")]
    UserCredentials,
    /// The tenant's database moved (restored into a new database, or moved to another server):
    /// drop its pooled connections, and its cached password with them.
    #[sea_orm(string_value = "database")]
    Database,
    /// The tenant's storage crossed its limit, either way: reload its entry only.
    #[sea_orm(string_value = "storage")]
    Storage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    pub tenant: TenantId,
    pub user: Option<i64>,
    pub kind: ChangeKind,
}

impl From<registry_change::Model> for Change {
    fn from(row: registry_change::Model) -> Self {
        Self {
            id: row.id,
            tenant: row.tenant_id.into(),
            user: row.user_id,
            kind: row.kind,
        }
    }
}

/// Changes after a given id, oldest first.
#[derive(Debug, Clone, Default)]
pub struct ChangeBatch {
    pub changes: Vec<Change>,
    /// Changes after `after` were pruned: the caller must reload everything. To resume, take
    /// [`Registry::latest_change_id`] *before* reloading and poll after it (a change recorded
    /// during the reload is then applied twice, which is harmless, rather than never).
    pub gap: bool,
}

/// A live tenant as the Host directory needs it (nothing secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub id: TenantId,
    pub subdomain: String,
    pub status: TenantStatus,
    /// Verified custom domains only, sorted.
    pub domains: Vec<String>,
    /// Set while a restore or move replaces its database: answer 503 with Retry-After.
    pub fence: Option<Fence>,
    /// At or over its storage limit: the tenant API refuses writes.
    pub storage_exceeded: bool,
}

/// Appends one change on `conn`, which **must be a transaction** (the one making the change):
/// the advisory lock it takes lasts until that transaction ends, and the change must commit, or
/// not, with what it describes. Call it last, just before the commit: the lock is then held for
/// one insert, and never while waiting for a row lock (so it cannot take part in a deadlock).
pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    tenant: TenantId,
    user: Option<i64>,
    kind: ChangeKind,
) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        // The NOTIFY is queued until commit and dropped on rollback, like the row.
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1), pg_notify($2, '')",
            [CHANGE_LOCK.into(), CHANGE_CHANNEL.into()],
        ))
        .await?;
    }
    registry_change::Entity::insert(registry_change::ActiveModel {
        id: NotSet,
        tenant_id: Set(tenant.as_uuid()),
        user_id: Set(user),
        kind: Set(kind),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

impl Registry {
    /// The id to poll after when starting from a fresh load: the newest change recorded, even if
    /// pruned since. 0 when no change was ever recorded.
    pub async fn latest_change_id(&self) -> Result<i64, RegistryError> {
        let newest: Option<i64> = registry_change::Entity::find()
            .select_only()
            .column_as(registry_change::Column::Id.max(), "newest")
            .into_tuple()
            .one(&self.db)
            .await?
            .flatten();
        Ok(newest.unwrap_or(0).max(self.change_floor().await?))
    }

    /// Up to `limit` changes with an id above `after`, oldest first. See [`ChangeBatch::gap`].
    pub async fn changes_since(
        &self,
        after: i64,
        limit: u64,
    ) -> Result<ChangeBatch, RegistryError> {
        let rows = registry_change::Entity::find()
            .filter(registry_change::Column::Id.gt(after))
            .order_by_asc(registry_change::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        // Read after the rows: a prune that removed rows this read missed committed before it
        // (the floor moves in the prune's transaction), so the gap cannot go unnoticed. At worst a
        // prune between the two reads reports a gap the rows did not have.
        let floor = self.change_floor().await?;
        Ok(ChangeBatch {
            changes: rows.into_iter().map(Change::from).collect(),
            gap: after < floor,
        })
    }

    /// Records that a tenant user's credentials, role or status changed, so every process drops
    /// what it cached about that user.
    pub async fn record_user_change(
        &self,
        tenant: TenantId,
        user_id: i64,
    ) -> Result<(), RegistryError> {
        self.record_alone(tenant, Some(user_id), ChangeKind::UserCredentials)
            .await
    }

    /// Records that a tenant's plan (and so its connection limit) changed.
    pub async fn record_plan_change(&self, tenant: TenantId) -> Result<(), RegistryError> {
        self.record_alone(tenant, None, ChangeKind::Plan).await
    }

    async fn record_alone(
        &self,
        tenant: TenantId,
        user: Option<i64>,
        kind: ChangeKind,
    ) -> Result<(), RegistryError> {
        let txn = self.db.begin().await?;
        record(&txn, tenant, user, kind).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes changes recorded more than `older_than` ago and moves the floor to the highest id
    /// deleted. Returns how many were deleted.
    pub async fn prune_changes(&self, older_than: Duration) -> Result<u64, RegistryError> {
        let age = chrono::Duration::from_std(older_than).map_err(|_| RegistryError::Invalid {
            what: format!("change retention {older_than:?}"),
        })?;
        let cutoff = Utc::now() - age;
        let txn = self.db.begin().await?;
        let highest: Option<i64> = registry_change::Entity::find()
            .select_only()
            .column_as(registry_change::Column::Id.max(), "highest")
            .filter(registry_change::Column::CreatedAt.lt(cutoff))
            .into_tuple()
            .one(&txn)
            .await?
            .flatten();
        let Some(highest) = highest else {
            return Ok(0);
        };
        // Bounded by `highest`, so the floor covers every row this deletes.
        let deleted = registry_change::Entity::delete_many()
            .filter(registry_change::Column::CreatedAt.lt(cutoff))
            .filter(registry_change::Column::Id.lte(highest))
            .exec(&txn)
            .await?
            .rows_affected;
        registry_change_floor::Entity::update_many()
            .col_expr(
                registry_change_floor::Column::PrunedThrough,
                Expr::value(highest),
            )
            .filter(registry_change_floor::Column::PrunedThrough.lt(highest))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(deleted)
    }

    async fn change_floor(&self) -> Result<i64, RegistryError> {
        Ok(registry_change_floor::Entity::find()
            .one(&self.db)
            .await?
            .map_or(0, |f| f.pruned_through))
    }

    /// Every live (not deleted) tenant with its verified domains, oldest first, in two queries.
    pub async fn directory_entries(&self) -> Result<Vec<DirectoryEntry>, RegistryError> {
        type Row = (Uuid, String, TenantStatus, Option<Fence>, StorageLevel);
        let tenants: Vec<Row> = tenant::Entity::find()
            .select_only()
            .columns([
                tenant::Column::Id,
                tenant::Column::Subdomain,
                tenant::Column::Status,
                tenant::Column::Fence,
                tenant::Column::StorageLevel,
            ])
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
            .order_by_asc(tenant::Column::CreatedAt)
            .into_tuple()
            .all(&self.db)
            .await?;
        // Deletion releases a tenant's domains, so no join is needed to leave dead ones out; a
        // domain whose tenant was deleted between the two queries finds no entry below.
        let mut domains: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (tenant_id, domain) in verified_domains(None).all(&self.db).await? {
            domains.entry(tenant_id).or_default().push(domain);
        }
        Ok(tenants
            .into_iter()
            .map(|(id, subdomain, status, fence, storage)| DirectoryEntry {
                id: id.into(),
                subdomain,
                status,
                domains: domains.remove(&id).unwrap_or_default(),
                fence,
                storage_exceeded: storage == StorageLevel::Exceeded,
            })
            .collect())
    }

    /// One tenant's directory entry; `None` if it does not exist or is deleted.
    pub async fn directory_entry(
        &self,
        id: TenantId,
    ) -> Result<Option<DirectoryEntry>, RegistryError> {
        let Some(row) = self
            .tenant(id)
            .await?
            .filter(|t| t.status != TenantStatus::Deleted)
        else {
            return Ok(None);
        };
        let domains = verified_domains(Some(id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|(_, domain)| domain)
            .collect();
        Ok(Some(DirectoryEntry {
            id,
            subdomain: row.subdomain.to_string(),
            status: row.status,
            domains,
            fence: row.fence,
            storage_exceeded: row.storage_level == StorageLevel::Exceeded,
        }))
    }

    /// PostgreSQL only (`None` on SQLite, where readers just poll): a listener that wakes when a
    /// change is committed. It holds one of the registry pool's connections while it lives.
    pub async fn change_listener(&self) -> Result<Option<ChangeListener>, RegistryError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect_with(self.db.get_postgres_connection_pool())
            .await
            .map_err(sqlx_error)?;
        // A lost connection is reported, not silently re-established: notifications sent
        // meanwhile are gone, so the caller must poll before trusting the listener again.
        listener.eager_reconnect(false);
        listener.listen(CHANGE_CHANNEL).await.map_err(sqlx_error)?;
        Ok(Some(ChangeListener { listener }))
    }
}

/// `(tenant id, domain)` of verified domains, sorted by domain; of one tenant or all.
fn verified_domains(
    tenant: Option<TenantId>,
) -> sea_orm::Selector<sea_orm::SelectGetableTuple<(Uuid, String)>> {
    let mut query = tenant_domain::Entity::find()
        .select_only()
        .columns([
            tenant_domain::Column::TenantId,
            tenant_domain::Column::Domain,
        ])
        .filter(tenant_domain::Column::VerifiedAt.is_not_null());
    if let Some(tenant) = tenant {
        query = query.filter(tenant_domain::Column::TenantId.eq(tenant.as_uuid()));
    }
    query
        .order_by_asc(tenant_domain::Column::Domain)
        .into_tuple()
}

/// Wakes when a registry change is committed (PostgreSQL `LISTEN`).
pub struct ChangeListener {
    listener: PgListener,
}

impl ChangeListener {
    /// Returns when at least one change was committed since the last call (a burst of changes is
    /// one wake-up). An error means the connection was lost and notifications may have been
    /// missed: poll, then call again (it reconnects) or open a new listener. Safe to race against
    /// a poll timer in `select!`: sqlx 0.9 consumes a message only once it has read all of it.
    pub async fn recv(&mut self) -> Result<(), RegistryError> {
        match self.listener.try_recv().await.map_err(sqlx_error)? {
            Some(_) => {
                while self.listener.next_buffered().is_some() {}
                Ok(())
            }
            None => Err(RegistryError::Db(DbErr::Conn(RuntimeErr::Internal(
                "the connection listening for registry changes was lost".into(),
            )))),
        }
    }
}

fn sqlx_error(e: sqlx::Error) -> RegistryError {
    RegistryError::Db(DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))
}
