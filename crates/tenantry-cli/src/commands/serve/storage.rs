//! Storage quotas inside `serve` (`[tenants] storage_check_every_secs > 0`): every tenant database
//! is measured once per interval (claimed through the master, so several `serve` processes share
//! the work), and its level recorded: an audit event from 80 % of its limit, its writes refused
//! from 100 % by every `serve` (the change feed carries the flip).

use std::sync::Arc;
use std::time::Duration;

use tenantry_provision::Provisioner;

/// Tenants measured at once.
const CONCURRENCY: usize = 4;

/// How often a pass looks for tenants due a measurement (at most the interval itself).
const PASS_EVERY: Duration = Duration::from_secs(30);

pub(super) async fn run(provisioner: Arc<Provisioner>, every: Duration) {
    let mut tick = tokio::time::interval(PASS_EVERY.min(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match provisioner
            .run_storage_checks(every, CONCURRENCY, chrono::Utc::now())
            .await
        {
            Ok(pass) if pass.exceeded > 0 || pass.warning > 0 || pass.failed > 0 => {
                tracing::info!(?pass, "storage measured")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %tenantry_core::error_chain(&e), "storage measurement pass failed")
            }
        }
    }
}
