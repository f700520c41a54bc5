//! A backup row's lifecycle: recorded `running`, then `completed` or `failed` (or failed as stale).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, SqlErr, TransactionTrait,
};
use uuid::Uuid;

use super::{Backup, BackupDone, NewBackup};
use crate::entity::backup;
use crate::{BackupState, Registry, RegistryError};

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
}

/// The `running` row of a backup about to be written.
pub(super) fn running_row(new: NewBackup, now: DateTime<Utc>) -> backup::Model {
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
