//! Plans and their limits, as seeded by the master migrations. Both dialects.

use std::sync::Arc;

use tenantry_core::ids::PlanId;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_registry::{Registry, RegistryError};
use tenantry_test_utils::{Dialect, TestDb};

#[tokio::test]
async fn the_seeded_plans_have_their_limits() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let url = DatabaseUrl::parse(db.url()).unwrap();
        let vault = Arc::new(Vault::new(KeyRing::from_keys(
            KeyRing::generate_key(),
            vec![],
        )));
        let registry = Registry::connect(&url, vault).await.unwrap();
        registry.migrate().await.unwrap();

        let plans = registry.plans().await.unwrap();
        let limits: Vec<_> = plans
            .iter()
            .map(|p| {
                (
                    p.id.as_str(),
                    p.name.as_str(),
                    p.max_connections,
                    p.storage_limit_mb,
                    p.max_users,
                    p.requests_per_minute,
                )
            })
            .collect();
        assert_eq!(
            limits,
            [
                ("free", "Free", 2, 512, 5, 600),
                ("premium", "Premium", 10, 51200, 500, 12000),
                ("standard", "Standard", 5, 5120, 50, 3000),
            ],
            "{dialect:?}"
        );
        assert!(plans.iter().all(|p| p.features == serde_json::json!({})));

        let standard = PlanId::parse("standard").unwrap();
        let plan = registry.plan_by_id(&standard).await.unwrap();
        assert_eq!(plan, plans[2], "{dialect:?}");
        let gold = registry.plan_by_id(&PlanId::parse("gold").unwrap()).await;
        assert!(
            matches!(gold, Err(RegistryError::NotFound { .. })),
            "{dialect:?}: {gold:?}"
        );
    }
}
