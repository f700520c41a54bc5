//! Keeps a running operation's `updated_at` moving while its process works on it, so `reconcile`
//! elsewhere — which takes an operation idle for `--stale-after` (30 s by default) as abandoned —
//! never rolls back an operation that is alive but slow (a `CREATE DATABASE` on a busy server, a
//! long migration, a `DROP DATABASE` waiting for sessions to end).

use std::time::Duration;

use tenantry_registry::Registry;
use uuid::Uuid;

/// How often a running operation's row is touched: well under the 30 s default of
/// `--stale-after`, so a few missed beats (a slow master) still do not make it look abandoned.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// Touches the operation every `every` until dropped.
pub(crate) struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    pub(crate) fn start(registry: Registry, operation: Uuid, every: Duration) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is immediate; the row was just written
            loop {
                tick.tick().await;
                if let Err(e) = registry.touch_operation(operation).await {
                    tracing::warn!(%operation, error = %e, "could not record the operation's heartbeat");
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use tenantry_core::settings::DatabaseUrl;
    use tenantry_core::vault::{KeyRing, Vault};
    use tenantry_test_utils::{Dialect, TestDb};

    use super::*;

    #[tokio::test]
    async fn beats_while_held_and_stops_when_dropped() {
        let db = TestDb::new(Dialect::Sqlite).await;
        let vault = Vault::new(KeyRing::from_keys(KeyRing::generate_key(), vec![]));
        let registry = Registry::connect(&DatabaseUrl::parse(db.url()).unwrap(), Arc::new(vault))
            .await
            .unwrap();
        registry.migrate().await.unwrap();
        let op = registry
            .start_operation(
                tenantry_registry::OperationKind::FleetMigrate,
                None,
                "working",
                json!({}),
                None,
            )
            .await
            .unwrap();
        let updated_at = |registry: Registry| async move {
            registry.operation(op.id).await.unwrap().unwrap().updated_at
        };

        let heartbeat = Heartbeat::start(registry.clone(), op.id, Duration::from_millis(20));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let beaten = updated_at(registry.clone()).await;
        assert!(beaten > op.updated_at, "no beat in 200 ms at 20 ms");
        drop(heartbeat);
        tokio::time::sleep(Duration::from_millis(30)).await; // a beat in flight lands
        let stopped = updated_at(registry.clone()).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            updated_at(registry.clone()).await,
            stopped,
            "beats after drop"
        );
        let step = registry.operation(op.id).await.unwrap().unwrap().step;
        assert_eq!(step, "working", "a beat never changes the step");
    }
}
