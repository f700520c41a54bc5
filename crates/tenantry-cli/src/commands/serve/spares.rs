//! Warm spares inside `serve` (`[provision] spares`): every `spare_check_every_secs`, spares a
//! dead process abandoned are resolved, then each active PostgreSQL server is brought back to
//! its target (missing ones built, ones at an older schema rebuilt, surplus dropped). Several
//! `serve` processes may run this at once: the master never records more than the target.

use std::sync::Arc;
use std::time::Duration;

use tenantry_core::settings::ProvisionSettings;
use tenantry_provision::Provisioner;

pub(super) async fn run(provisioner: Arc<Provisioner>, settings: ProvisionSettings) {
    let mut tick = tokio::time::interval(Duration::from_secs(settings.spare_check_every_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let concurrency = settings.spare_concurrency as usize;
    loop {
        tick.tick().await;
        if let Err(e) = provisioner.resolve_spares().await {
            tracing::warn!(error = %tenantry_core::error_chain(&e), "resolving abandoned spares failed");
        }
        match provisioner
            .refill_spares(u64::from(settings.spares), concurrency)
            .await
        {
            Ok(pass) if pass.built > 0 || pass.dropped > 0 || pass.failed > 0 => {
                tracing::info!(?pass, "warm spares refilled")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %tenantry_core::error_chain(&e), "refilling warm spares failed")
            }
        }
    }
}
