//! Tenant backups as the master records them, and what restore and move need of the tenant row:
//! a fence that holds its requests off, and a swap to another database.
//!
//! A backup row is written `running` before the archive is, and becomes `completed` (with its
//! size, digest and key) or `failed`; a process that dies midway leaves it running until
//! [`Registry::fail_stale_backups`]. The archive lives at the row's location URL; pruning
//! deletes the file first, then the row, so a row never names a file that is known to be gone.
//! Scheduled backups are claimed in one transaction ([`Registry::claim_due_backups`]), so with
//! several `serve` processes each due backup is taken once.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, IsolationLevel, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use secrecy::SecretString;
use serde::Serialize;
use tenantry_core::ids::{DbServerId, Subdomain, TenantId};
use tenantry_core::vault::SealedSecret;
use uuid::Uuid;

use crate::changes::{ChangeKind, record};
use crate::entity::{backup, tenant};
use crate::tenants::db_secret_context;
use crate::{
    AuditEntry, BackupKind, BackupState, Fence, Registry, RegistryError, Tenant, TenantStatus,
};

/// A backup as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backup {
    pub id: Uuid,
    pub tenant: TenantId,
    /// Where the archive is: `s3://bucket/prefix/<tenant>/<id>.tbk`, `file:///dir/...`.
    pub location: String,
    pub kind: BackupKind,
    pub state: BackupState,
    /// `postgres` or `sqlite`: the backend that wrote the archive.
    pub engine: Option<String>,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    /// The tenant's schema version when it was taken.
    pub schema_version: Option<i32>,
    /// The vault key the archive is encrypted with (not secret).
    pub key_id: Option<String>,
    pub format_version: Option<i32>,
    pub error: Option<String>,
    /// The operation that took it.
    pub operation: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// A final backup of a deleted tenant: the tenant can be recovered until then.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<backup::Model> for Backup {
    fn from(row: backup::Model) -> Self {
        Self {
            id: row.id,
            tenant: row.tenant_id.into(),
            location: row.path,
            kind: row.kind,
            state: row.state,
            engine: row.engine,
            bytes: row.bytes.and_then(|b| u64::try_from(b).ok()),
            sha256: row.sha256,
            schema_version: row.schema_version,
            key_id: row.key_id,
            format_version: row.format_version,
            error: row.error,
            operation: row.operation_id,
            created_at: row.created_at,
            completed_at: row.completed_at,
            expires_at: row.expires_at,
        }
    }
}

/// A backup about to be written, recorded as `running`.
#[derive(Debug, Clone)]
pub struct NewBackup {
    pub id: Uuid,
    pub tenant: TenantId,
    pub location: String,
    pub kind: BackupKind,
    /// `postgres` or `sqlite`.
    pub engine: String,
    pub operation: Option<Uuid>,
}

/// What a finished archive is.
#[derive(Debug, Clone)]
pub struct BackupDone {
    pub bytes: u64,
    pub sha256: String,
    pub schema_version: Option<i32>,
    pub key_id: String,
    pub format_version: i32,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Which scheduled backups are due: a tenant is due when it has no running backup and no
/// completed one taken after `now - every`.
#[derive(Debug, Clone)]
pub struct DueBackups {
    pub every: Duration,
    pub now: DateTime<Utc>,
    /// The most backups to claim in one call.
    pub limit: u64,
    /// Back up suspended tenants too (their data still changes through operators).
    pub include_suspended: bool,
    /// A tenant whose backup failed less than this long ago is not due yet, so one scheduler
    /// pass never retries the same broken tenant over and over.
    pub retry_failed_after: Duration,
}

/// Where a tenant's database is: on a PostgreSQL server, or a local SQLite file (`server: None`).
#[derive(Debug, Clone)]
pub struct DatabaseLocation {
    pub server: Option<DbServerId>,
    pub db_name: String,
    pub db_user: Option<String>,
    /// The role's new password, sealed before it is written; `None` keeps the sealed one.
    pub password: Option<SecretString>,
}

/// The backend a tenant's backups are taken with.
fn engine_of(tenant: &Tenant) -> &'static str {
    if tenant.server.is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// Backups that make a tenant not due: running, completed after `since`, or failed after
/// `failed_since`.
fn recent_or_running(since: DateTime<Utc>, failed_since: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(backup::Column::State.eq(BackupState::Running))
        .add(
            Condition::all()
                .add(backup::Column::State.eq(BackupState::Failed))
                .add(backup::Column::CreatedAt.gt(failed_since)),
        )
        .add(
            Condition::all()
                .add(backup::Column::State.eq(BackupState::Completed))
                .add(backup::Column::CreatedAt.gt(since)),
        )
}

impl Registry {
    /// Records a backup about to be written, `running`. Unknown tenant → `NotFound`.
    pub async fn start_backup(&self, new: NewBackup) -> Result<Backup, RegistryError> {
        let tenant = new.tenant;
        let row = backup::ActiveModel::from(running_row(new, Utc::now())).reset_all();
        let row = row.insert(&self.db).await.map_err(|e| match e.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => RegistryError::NotFound {
                what: format!("tenant {tenant}"),
            },
            _ => e.into(),
        })?;
        Ok(row.into())
    }

    /// Records a running backup's archive as complete. Unknown → `NotFound`; not running →
    /// `Refused` (a backup failed as stale stays failed even if its process turns up).
    pub async fn complete_backup(
        &self,
        id: Uuid,
        done: BackupDone,
    ) -> Result<Backup, RegistryError> {
        let bytes = i64::try_from(done.bytes).map_err(|_| RegistryError::Invalid {
            what: format!("backup size {} bytes", done.bytes),
        })?;
        let txn = self.db.begin().await?;
        let updated = backup::Entity::update_many()
            .col_expr(backup::Column::State, Expr::value(BackupState::Completed))
            .col_expr(backup::Column::Bytes, Expr::value(bytes))
            .col_expr(backup::Column::Sha256, Expr::value(done.sha256))
            .col_expr(
                backup::Column::SchemaVersion,
                Expr::value(done.schema_version),
            )
            .col_expr(backup::Column::KeyId, Expr::value(done.key_id))
            .col_expr(
                backup::Column::FormatVersion,
                Expr::value(done.format_version),
            )
            .col_expr(backup::Column::ExpiresAt, Expr::value(done.expires_at))
            .col_expr(backup::Column::CompletedAt, Expr::value(Utc::now()))
            .filter(backup::Column::Id.eq(id))
            .filter(backup::Column::State.eq(BackupState::Running))
            .exec(&txn)
            .await?
            .rows_affected;
        let row = backup::Entity::find_by_id(id).one(&txn).await?;
        txn.commit().await?;
        match row {
            Some(row) if updated == 1 => Ok(row.into()),
            row => Err(not_running(id, row)),
        }
    }

    /// Records that a running backup failed. Unknown → `NotFound`; not running → `Refused`.
    pub async fn fail_backup(&self, id: Uuid, error: &str) -> Result<(), RegistryError> {
        let updated = backup::Entity::update_many()
            .col_expr(backup::Column::State, Expr::value(BackupState::Failed))
            .col_expr(backup::Column::Error, Expr::value(error))
            .filter(backup::Column::Id.eq(id))
            .filter(backup::Column::State.eq(BackupState::Running))
            .exec(&self.db)
            .await?
            .rows_affected;
        if updated == 1 {
            return Ok(());
        }
        Err(not_running(
            id,
            backup::Entity::find_by_id(id).one(&self.db).await?,
        ))
    }

    pub async fn backup(&self, id: Uuid) -> Result<Option<Backup>, RegistryError> {
        Ok(backup::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(Backup::from))
    }

    /// A tenant's backups in every state but `deleted`, newest first.
    pub async fn list_backups(&self, tenant: TenantId) -> Result<Vec<Backup>, RegistryError> {
        let rows = backup::Entity::find()
            .filter(backup::Column::TenantId.eq(tenant.as_uuid()))
            .filter(backup::Column::State.ne(BackupState::Deleted))
            .order_by_desc(backup::Column::CreatedAt)
            .order_by_desc(backup::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Backup::from).collect())
    }

    /// Deletes the row, once its archive is gone. `false` → there was no such row.
    pub async fn remove_backup(&self, id: Uuid) -> Result<bool, RegistryError> {
        let deleted = backup::Entity::delete_by_id(id).exec(&self.db).await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Sets (or clears) until when a backup is kept. Unknown → `NotFound`.
    pub async fn set_backup_expiry(
        &self,
        id: Uuid,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), RegistryError> {
        let updated = backup::Entity::update_many()
            .col_expr(backup::Column::ExpiresAt, Expr::value(expires_at))
            .filter(backup::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("backup {id}"),
            });
        }
        Ok(())
    }

    /// Claims up to `due.limit` due scheduled backups: for each due tenant (active, or suspended
    /// when asked; not fenced), a `running` backup of kind `scheduled` at `location(tenant,
    /// backup id)`, all in one transaction, so concurrent claimers never claim a tenant twice.
    pub async fn claim_due_backups(
        &self,
        due: DueBackups,
        location: impl Fn(TenantId, Uuid) -> String,
    ) -> Result<Vec<(Tenant, Backup)>, RegistryError> {
        let every = chrono::Duration::from_std(due.every).map_err(|_| RegistryError::Invalid {
            what: format!("backup interval {:?}", due.every),
        })?;
        let since = due.now - every;
        let failed_since = due.now
            - chrono::Duration::from_std(due.retry_failed_after).map_err(|_| {
                RegistryError::Invalid {
                    what: format!("backup retry interval {:?}", due.retry_failed_after),
                }
            })?;
        let mut statuses = vec![TenantStatus::Active];
        if due.include_suspended {
            statuses.push(TenantStatus::Suspended);
        }
        let txn = self.begin_claim().await?;
        let postgres = self.db.get_database_backend() == DbBackend::Postgres;
        let mut candidates = tenant::Entity::find()
            .filter(tenant::Column::Status.is_in(statuses))
            .filter(tenant::Column::Fence.is_null())
            .filter(
                tenant::Column::Id.not_in_subquery(
                    Query::select()
                        .column(backup::Column::TenantId)
                        .from(backup::Entity)
                        .cond_where(recent_or_running(since, failed_since))
                        .to_owned(),
                ),
            )
            .order_by_asc(tenant::Column::CreatedAt)
            .order_by_asc(tenant::Column::Id)
            .limit(due.limit);
        if postgres {
            // Another claimer's tenants are skipped, not waited for.
            candidates = candidates.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let mut candidates = candidates.all(&txn).await?;
        if postgres && !candidates.is_empty() {
            // The filter above read a snapshot from before the rows were locked: a claimer that
            // committed in between had its backups hidden from it. This statement's snapshot
            // is newer than every lock held, so it sees them.
            let ids: Vec<Uuid> = candidates.iter().map(|t| t.id).collect();
            let taken: HashSet<Uuid> = backup::Entity::find()
                .select_only()
                .column(backup::Column::TenantId)
                .filter(backup::Column::TenantId.is_in(ids))
                .filter(recent_or_running(since, failed_since))
                .into_tuple()
                .all(&txn)
                .await?
                .into_iter()
                .collect();
            candidates.retain(|t| !taken.contains(&t.id));
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // Dated by the scheduler's clock, so that under a fake one the pass's own claims count
        // as recent and the pass ends.
        let now = due.now;
        let claimed: Vec<(Tenant, backup::Model)> = candidates
            .into_iter()
            .map(|row| {
                let tenant = Tenant::from(row);
                let id = Uuid::now_v7();
                let new = NewBackup {
                    id,
                    tenant: tenant.id,
                    location: location(tenant.id, id),
                    kind: BackupKind::Scheduled,
                    engine: engine_of(&tenant).to_owned(),
                    operation: None,
                };
                (tenant, running_row(new, now))
            })
            .collect();
        backup::Entity::insert_many(
            claimed
                .iter()
                .map(|(_, row)| backup::ActiveModel::from(row.clone()).reset_all()),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(claimed
            .into_iter()
            .map(|(tenant, row)| (tenant, row.into()))
            .collect())
    }

    /// A transaction that holds the write lock from its first read on SQLite (so the claim's
    /// read cannot go stale before its write), and reads each statement afresh on PostgreSQL.
    pub(crate) async fn begin_claim(&self) -> Result<DatabaseTransaction, DbErr> {
        let options = match self.db.get_database_backend() {
            DbBackend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            },
            _ => TransactionOptions {
                isolation_level: Some(IsolationLevel::ReadCommitted),
                ..TransactionOptions::default()
            },
        };
        self.db.begin_with_options(options).await
    }

    /// Marks backups still running since before `older_than` failed: their process died. Returns
    /// how many.
    pub async fn fail_stale_backups(
        &self,
        older_than: DateTime<Utc>,
    ) -> Result<u64, RegistryError> {
        let failed = backup::Entity::update_many()
            .col_expr(backup::Column::State, Expr::value(BackupState::Failed))
            .col_expr(
                backup::Column::Error,
                Expr::value("abandoned: the process taking it stopped before it finished"),
            )
            .filter(backup::Column::State.eq(BackupState::Running))
            .filter(backup::Column::CreatedAt.lt(older_than))
            .exec(&self.db)
            .await?;
        Ok(failed.rows_affected)
    }

    /// A tenant's completed manual and scheduled backups, newest first: what retention prunes.
    pub async fn backups_for_retention(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<Backup>, RegistryError> {
        let rows = backup::Entity::find()
            .filter(backup::Column::TenantId.eq(tenant.as_uuid()))
            .filter(backup::Column::State.eq(BackupState::Completed))
            .filter(backup::Column::Kind.is_in([BackupKind::Manual, BackupKind::Scheduled]))
            .order_by_desc(backup::Column::CreatedAt)
            .order_by_desc(backup::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Backup::from).collect())
    }

    /// Completed final backups that expired before `now`, oldest expiry first: to purge.
    pub async fn expired_final_backups(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<Backup>, RegistryError> {
        let rows = backup::Entity::find()
            .filter(backup::Column::Kind.eq(BackupKind::Final))
            .filter(backup::Column::State.eq(BackupState::Completed))
            .filter(backup::Column::ExpiresAt.lt(now))
            .order_by_asc(backup::Column::ExpiresAt)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Backup::from).collect())
    }

    /// The most recently deleted tenant with this subdomain that can still be recovered, with its
    /// newest completed final backup that expires after `now`.
    pub async fn recoverable_tenant(
        &self,
        subdomain: &Subdomain,
        now: DateTime<Utc>,
    ) -> Result<Option<(Tenant, Backup)>, RegistryError> {
        let tombstones = tenant::Entity::find()
            .filter(tenant::Column::Subdomain.eq(subdomain.as_str()))
            .filter(tenant::Column::Status.eq(TenantStatus::Deleted))
            .order_by_desc(tenant::Column::DeletedAt)
            .order_by_desc(tenant::Column::Id)
            .all(&self.db)
            .await?;
        if tombstones.is_empty() {
            return Ok(None);
        }
        let finals = backup::Entity::find()
            .filter(backup::Column::TenantId.is_in(tombstones.iter().map(|t| t.id)))
            .filter(backup::Column::Kind.eq(BackupKind::Final))
            .filter(backup::Column::State.eq(BackupState::Completed))
            .filter(backup::Column::ExpiresAt.gt(now))
            .order_by_desc(backup::Column::CreatedAt)
            .order_by_desc(backup::Column::Id)
            .all(&self.db)
            .await?;
        // Tombstones newest first; for each, its backups newest first.
        Ok(tombstones.into_iter().find_map(|t| {
            let backup = finals.iter().find(|b| b.tenant_id == t.id)?;
            Some((Tenant::from(t), Backup::from(backup.clone())))
        }))
    }

    /// Sets (`Some`) or lifts (`None`) a live tenant's fence; every `serve` sees it through the
    /// change feed. The restore or move it is part of writes the audit row. Unknown or deleted
    /// tenant → `NotFound`.
    pub async fn set_tenant_fence(
        &self,
        id: TenantId,
        fence: Option<Fence>,
    ) -> Result<(), RegistryError> {
        let txn = self.db.begin().await?;
        let updated = tenant::Entity::update_many()
            .col_expr(tenant::Column::Fence, Expr::value(fence))
            .col_expr(tenant::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(tenant::Column::Id.eq(id.as_uuid()))
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("tenant {id}"),
            });
        }
        record(&txn, id, None, ChangeKind::Status).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Points a live tenant at another database (a restore into a new database, a move to
    /// another server) at `schema_version` and lifts its fence, with its audit row; caches drop the tenant's
    /// connections on the `database` change. Unknown or deleted tenant → `NotFound`.
    pub async fn swap_tenant_database(
        &self,
        id: TenantId,
        to: DatabaseLocation,
        schema_version: Option<i32>,
        audit: AuditEntry,
    ) -> Result<Tenant, RegistryError> {
        let update = self
            .relocate(id, to)?
            .col_expr(tenant::Column::Fence, Expr::value(Option::<Fence>::None))
            .col_expr(tenant::Column::SchemaVersion, Expr::value(schema_version))
            .col_expr(
                tenant::Column::MigrationError,
                Expr::value(Option::<String>::None),
            )
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted));
        let txn = self.db.begin().await?;
        if update.exec(&txn).await?.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("tenant {id}"),
            });
        }
        let tenant = read_back(&txn, id).await?;
        crate::audit::insert(&txn, audit).await?;
        record(&txn, id, None, ChangeKind::Database).await?;
        txn.commit().await?;
        Ok(tenant)
    }

    /// Brings a deleted tenant back, in status `provisioning`, on the database its final backup
    /// is restored into, with its audit row. Its subdomain taken by a live tenant meanwhile →
    /// `Conflict`; unknown → `NotFound`; not deleted → `Refused`. Its released domains stay
    /// released.
    pub async fn revive_tenant(
        &self,
        id: TenantId,
        to: DatabaseLocation,
        audit: AuditEntry,
    ) -> Result<Tenant, RegistryError> {
        let Some(tombstone) = self.tenant(id).await? else {
            return Err(RegistryError::NotFound {
                what: format!("tenant {id}"),
            });
        };
        let update = self
            .relocate(id, to)?
            .col_expr(
                tenant::Column::Status,
                Expr::value(TenantStatus::Provisioning),
            )
            .col_expr(
                tenant::Column::StatusReason,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                tenant::Column::DeletedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(tenant::Column::Fence, Expr::value(Option::<Fence>::None))
            .filter(tenant::Column::Status.eq(TenantStatus::Deleted));
        let txn = self.db.begin().await?;
        // The partial unique index on live subdomains decides, so a concurrent create loses or
        // this does.
        let updated = update.exec(&txn).await.map_err(|e| {
            RegistryError::conflict_or_db(e, || format!("tenant {}", tombstone.subdomain))
        })?;
        if updated.rows_affected == 0 {
            return Err(RegistryError::Refused {
                reason: format!("tenant {id} is not deleted"),
            });
        }
        let tenant = read_back(&txn, id).await?;
        crate::audit::insert(&txn, audit).await?;
        record(&txn, id, None, ChangeKind::Created).await?;
        txn.commit().await?;
        Ok(tenant)
    }

    /// The update that points tenant `id` at `to` (its password sealed here), not yet run.
    fn relocate(
        &self,
        id: TenantId,
        to: DatabaseLocation,
    ) -> Result<sea_orm::UpdateMany<tenant::Entity>, RegistryError> {
        let mut update = tenant::Entity::update_many()
            .col_expr(
                tenant::Column::DbServerId,
                Expr::value(to.server.map(|s| s.as_uuid())),
            )
            .col_expr(tenant::Column::DbName, Expr::value(to.db_name))
            .col_expr(tenant::Column::DbUser, Expr::value(to.db_user))
            .col_expr(tenant::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(tenant::Column::Id.eq(id.as_uuid()));
        if let Some(password) = &to.password {
            let sealed: SealedSecret = self.vault.seal(password, &db_secret_context(id))?;
            update = update
                .col_expr(
                    tenant::Column::DbSecretKeyId,
                    Expr::value(sealed.key_id().to_string()),
                )
                .col_expr(tenant::Column::DbSecret, Expr::value(sealed.into_string()));
        }
        Ok(update)
    }
}

/// The `running` row of a backup about to be written.
fn running_row(new: NewBackup, now: DateTime<Utc>) -> backup::Model {
    backup::Model {
        id: new.id,
        tenant_id: new.tenant.as_uuid(),
        path: new.location,
        bytes: None,
        sha256: None,
        schema_version: None,
        state: BackupState::Running,
        error: None,
        created_at: now,
        completed_at: None,
        kind: new.kind,
        engine: Some(new.engine),
        key_id: None,
        format_version: None,
        expires_at: None,
        operation_id: new.operation,
    }
}

/// Why a backup could not leave `running`: it does not exist, or it already left.
fn not_running(id: Uuid, row: Option<backup::Model>) -> RegistryError {
    match row {
        None => RegistryError::NotFound {
            what: format!("backup {id}"),
        },
        Some(row) => RegistryError::Refused {
            reason: format!("backup {id} is {}, not running", row.state.to_value()),
        },
    }
}

async fn read_back(txn: &DatabaseTransaction, id: TenantId) -> Result<Tenant, RegistryError> {
    tenant::Entity::find_by_id(id.as_uuid())
        .one(txn)
        .await?
        .map(Tenant::from)
        .ok_or_else(|| RegistryError::NotFound {
            what: format!("tenant {id}"),
        })
}
