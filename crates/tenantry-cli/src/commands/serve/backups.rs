//! Scheduled backups inside `serve` (`[backups] every_secs > 0`): a pass every minute (after up
//! to `jitter_secs` of random delay) claims the backups that are due through the master, so with
//! several `serve` processes each backup is taken once.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tenantry_backup::retention::Policy;
use tenantry_core::Settings;
use tenantry_provision::{Provisioner, Schedule};

/// How often a pass looks for due backups (a tenant is due `every_secs` after its last one).
const PASS_EVERY: Duration = Duration::from_secs(60);

/// The schedule from `[backups]` and its jitter; `None` when scheduled backups are off.
pub(super) fn schedule(settings: &Settings) -> Option<(Schedule, Duration)> {
    let b = &settings.backups;
    (b.every_secs > 0).then(|| {
        let schedule = Schedule {
            every: Duration::from_secs(b.every_secs),
            keep: Policy {
                daily: b.keep.daily,
                weekly: b.keep.weekly,
                monthly: b.keep.monthly,
                min_keep: b.keep.min,
            },
            concurrency: b.concurrency,
            include_suspended: b.include_suspended,
        };
        (schedule, Duration::from_secs(b.jitter_secs))
    })
}

pub(super) async fn run(provisioner: Arc<Provisioner>, schedule: Schedule, jitter: Duration) {
    loop {
        if !jitter.is_zero() {
            let delay = rand::rng().random_range(Duration::ZERO..jitter);
            tokio::time::sleep(delay).await;
        }
        match provisioner
            .run_backup_schedule(&schedule, chrono::Utc::now())
            .await
        {
            Ok(pass) if pass == Default::default() => {}
            Ok(pass) => tracing::info!(?pass, "scheduled backups"),
            Err(e) => {
                tracing::warn!(error = %tenantry_core::error_chain(&e), "scheduled backup pass failed")
            }
        }
        tokio::time::sleep(PASS_EVERY).await;
    }
}
