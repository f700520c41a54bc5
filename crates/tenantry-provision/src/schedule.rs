//! Scheduled backups, as `serve` runs them: each pass claims the backups that are due through
//! the master (so with several `serve` processes each is taken once), takes them with bounded
//! concurrency, then applies the retention policy and purges deleted tenants' final backups
//! whose retention has ended. Pruning removes the file first, then the row, so a row never
//! points at nothing.

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::Serialize;
use tenantry_backup::retention::{self, Policy};
use tenantry_backup::store::BackupStore;
use tenantry_registry::{Actor, Backup, DueBackups, Origin};

use crate::{ProvisionError, Provisioner};

/// How long a tenant whose scheduled backup failed waits before the next attempt.
pub const RETRY_FAILED_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How scheduled backups run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// How old a tenant's newest backup may get.
    pub every: std::time::Duration,
    pub keep: Policy,
    /// Backups running at once (also the most claimed per pass).
    pub concurrency: usize,
    pub include_suspended: bool,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct SchedulePass {
    pub taken: usize,
    pub failed: usize,
    pub pruned: usize,
    pub purged: usize,
}

impl Provisioner {
    /// One scheduler pass at `now` (tests pass a fake clock).
    pub async fn run_backup_schedule(
        &self,
        schedule: &Schedule,
        now: DateTime<Utc>,
    ) -> Result<SchedulePass, ProvisionError> {
        let mut pass = SchedulePass::default();
        let store = self.backup_store()?;
        // Claims `concurrency` at a time until nothing is due: a failed backup is not due again
        // before RETRY_FAILED_AFTER, so the pass ends.
        loop {
            let due = DueBackups {
                every: schedule.every,
                now,
                limit: u64::try_from(schedule.concurrency).unwrap_or(1),
                include_suspended: schedule.include_suspended,
                retry_failed_after: RETRY_FAILED_AFTER,
            };
            let claimed = self
                .registry
                .claim_due_backups(due, |tenant, backup| {
                    store.location(&crate::backup::backup_key(tenant, backup))
                })
                .await?;
            if claimed.is_empty() {
                break;
            }
            self.take_claimed(claimed, schedule, now, &mut pass).await?;
        }
        pass.purged = self.purge_expired_backups(now).await?;
        Ok(pass)
    }

    async fn take_claimed(
        &self,
        claimed: Vec<(tenantry_registry::Tenant, Backup)>,
        schedule: &Schedule,
        now: DateTime<Utc>,
        pass: &mut SchedulePass,
    ) -> Result<(), ProvisionError> {
        let origin = Origin::from(Actor::System);
        let results: Vec<_> = futures::stream::iter(claimed)
            .map(|(tenant, row)| {
                let origin = &origin;
                async move {
                    let taken = self.backup_claimed(&tenant, row, origin).await;
                    (tenant, taken)
                }
            })
            .buffer_unordered(schedule.concurrency.max(1))
            .collect()
            .await;
        for (tenant, taken) in results {
            match taken {
                Ok(_) => {
                    pass.taken += 1;
                    pass.pruned += self.prune_backups(&tenant, &schedule.keep, now).await?;
                }
                Err(e) => {
                    pass.failed += 1;
                    tracing::warn!(tenant = %tenant.subdomain, error = %crate::error_chain(&e), "scheduled backup failed");
                }
            }
        }
        Ok(())
    }

    /// Removes the tenant's manual and scheduled backups that `policy` does not keep. Returns
    /// how many went.
    pub async fn prune_backups(
        &self,
        tenant: &tenantry_registry::Tenant,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<usize, ProvisionError> {
        let backups = self.registry.backups_for_retention(tenant.id).await?;
        let dated: Vec<(usize, DateTime<Utc>)> = backups
            .iter()
            .enumerate()
            .map(|(i, b)| (i, b.created_at))
            .collect();
        let mut pruned = 0;
        for index in retention::to_prune(&dated, policy, now) {
            self.remove_backup(&backups[index]).await?;
            pruned += 1;
        }
        Ok(pruned)
    }

    /// Deleted tenants' final backups past their retention: the tenant can no longer be
    /// recovered.
    pub async fn purge_expired_backups(&self, now: DateTime<Utc>) -> Result<usize, ProvisionError> {
        let expired = self.registry.expired_final_backups(now).await?;
        for backup in &expired {
            self.remove_backup(backup).await?;
        }
        Ok(expired.len())
    }

    async fn remove_backup(&self, backup: &Backup) -> Result<(), ProvisionError> {
        let (store, key) = BackupStore::for_location(&backup.location, &self.backups.s3)?;
        store.delete(&key).await?;
        self.registry.remove_backup(backup.id).await?;
        Ok(())
    }
}
