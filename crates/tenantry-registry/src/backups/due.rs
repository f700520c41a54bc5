//! Scheduled backups: which tenants are due, claimed in one transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tenantry_core::ids::TenantId;
use uuid::Uuid;

use super::lifecycle::running_row;
use super::{Backup, DueBackups, NewBackup};
use crate::entity::{backup, tenant};
use crate::{BackupKind, BackupState, Registry, RegistryError, Tenant, TenantStatus};

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
}
