//! Storage quotas in the master: a measured size placed against the tenant's limit (its own,
//! else its plan's), audited when its level changes, a `storage` change when it crosses the
//! limit, a new limit placing the last measurement anew, and measurements claimed once by
//! concurrent claimers. Both dialects.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{PlanId, Subdomain, TenantId};
use tenantry_registry::{
    Actor, ChangeKind, NewTenant, Origin, Registry, StorageLevel, TenantPatch, TenantStatus,
};
use tenantry_test_utils::{Dialect, TestDb};

const MB: u64 = 1024 * 1024;
/// The free plan's limit (V1).
const FREE_LIMIT_MB: u64 = 512;

async fn registry_on(db: &TestDb) -> Registry {
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    Registry::connect(&url, vault).await.unwrap()
}

async fn active_tenant(registry: &Registry, subdomain: &str) -> TenantId {
    let id = TenantId::new();
    registry
        .reserve_tenant(NewTenant {
            id,
            subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
            name: subdomain.to_owned(),
            plan: PlanId::parse("free").unwrap(),
            server: None,
            db_name: format!("t_{subdomain}"),
            db_user: None,
            db_password: None,
            storage_limit_mb: None,
        })
        .await
        .unwrap();
    let created = Origin::from(Actor::System).entry("tenant.create", Some(id), json!({}));
    registry
        .activate_tenant(id, Some(1), created, None)
        .await
        .unwrap();
    id
}

/// The storage audit actions written for `tenant`, oldest first.
async fn storage_audit(registry: &Registry, tenant: TenantId) -> Vec<String> {
    let mut actions: Vec<String> = registry
        .recent_audit(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.tenant == Some(tenant) && a.action.starts_with("tenant.storage_"))
        .map(|a| a.action)
        .collect();
    actions.reverse();
    actions
}

async fn storage_changes(registry: &Registry, after: i64) -> usize {
    let batch = registry.changes_since(after, 100).await.unwrap();
    batch
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Storage)
        .count()
}

#[tokio::test]
async fn levels_are_audited_and_crossing_the_limit_is_a_change() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry_on(&db).await;
        registry.migrate().await.unwrap();
        let acme = active_tenant(&registry, "acme").await;
        let now = Utc::now();
        let start = registry.latest_change_id().await.unwrap();

        let record = |mb: u64| registry.record_storage(acme, mb * MB, now);
        assert_eq!(record(100).await.unwrap(), Some(StorageLevel::Ok));
        assert!(
            storage_audit(&registry, acme).await.is_empty(),
            "{dialect:?}"
        );
        // 80 % of 512 MB.
        let warn = (FREE_LIMIT_MB * 4).div_ceil(5);
        assert_eq!(record(warn).await.unwrap(), Some(StorageLevel::Warning));
        assert_eq!(storage_changes(&registry, start).await, 0, "{dialect:?}");
        assert_eq!(
            record(FREE_LIMIT_MB).await.unwrap(),
            Some(StorageLevel::Exceeded)
        );
        assert_eq!(storage_changes(&registry, start).await, 1, "{dialect:?}");
        // Measured again at the same level: nothing new.
        assert_eq!(record(600).await.unwrap(), Some(StorageLevel::Exceeded));
        assert_eq!(
            storage_audit(&registry, acme).await,
            ["tenant.storage_warning", "tenant.storage_exceeded"],
            "{dialect:?}"
        );
        let exceeded = registry.directory_entry(acme).await.unwrap().unwrap();
        assert!(exceeded.storage_exceeded, "{dialect:?}");
        let tenant = registry.tenant(acme).await.unwrap().unwrap();
        assert_eq!(tenant.storage_used_bytes, Some((600 * MB) as i64));
        assert_eq!(tenant.storage_level, StorageLevel::Exceeded);

        // A higher limit of its own places 600 MB under 80 % again, and lifts the refusal.
        let raised = TenantPatch {
            storage_limit_mb: Some(Some(1000)),
            ..TenantPatch::default()
        };
        let audit = Origin::from(Actor::System).entry("tenant.update", Some(acme), json!({}));
        let updated = registry.update_tenant(acme, raised, audit).await.unwrap();
        assert_eq!(updated.storage_level, StorageLevel::Ok, "{dialect:?}");
        let entry = registry.directory_entry(acme).await.unwrap().unwrap();
        assert!(!entry.storage_exceeded, "{dialect:?}");
        assert_eq!(record(900).await.unwrap(), Some(StorageLevel::Warning));
        assert_eq!(record(10).await.unwrap(), Some(StorageLevel::Ok));
        assert_eq!(
            storage_audit(&registry, acme).await,
            [
                "tenant.storage_warning",
                "tenant.storage_exceeded",
                "tenant.storage_warning",
                "tenant.storage_ok",
            ],
            "{dialect:?}"
        );

        // A deleted tenant is not recorded.
        let gone = Origin::from(Actor::System).entry("tenant.delete", Some(acme), json!({}));
        registry
            .set_tenant_status(acme, TenantStatus::Deleted, None, gone)
            .await
            .unwrap();
        assert_eq!(record(1).await.unwrap(), None, "{dialect:?}");
    }
}

#[tokio::test]
async fn each_tenant_is_claimed_once_per_interval_by_concurrent_claimers() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let first = registry_on(&db).await;
        first.migrate().await.unwrap();
        let second = registry_on(&db).await;
        let mut all = BTreeSet::new();
        for i in 0..12 {
            all.insert(active_tenant(&first, &format!("shop{i:02}")).await);
        }
        let now = Utc::now();
        let older_than = now - Duration::minutes(5);

        let claim = |r: &Registry| {
            let r = r.clone();
            async move {
                let mut got = Vec::new();
                loop {
                    let batch = r.claim_storage_checks(older_than, now, 3).await.unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch.into_iter().map(|t| t.id));
                }
            }
        };
        let (a, b) = tokio::join!(claim(&first), claim(&second));
        let claimed: BTreeSet<TenantId> = a.iter().chain(&b).copied().collect();
        assert_eq!(a.len() + b.len(), all.len(), "{dialect:?}: claimed twice");
        assert_eq!(claimed, all, "{dialect:?}");

        // Within the interval nothing is due; after it, everything is again.
        let again = first.claim_storage_checks(older_than, now, 100).await;
        assert!(again.unwrap().is_empty(), "{dialect:?}");
        let later = now + Duration::minutes(6);
        let due = first
            .claim_storage_checks(later - Duration::minutes(5), later, 100)
            .await
            .unwrap();
        assert_eq!(due.len(), all.len(), "{dialect:?}");
    }
}
