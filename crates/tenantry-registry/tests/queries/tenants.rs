//! Single tenants: lookup by id or live subdomain, and edits writing one audit row and one change.

use tenantry_core::{TenantId, TenantRef};
use tenantry_registry::{ChangeKind, RegistryError, TenantPatch, TenantStatus};
use tenantry_test_utils::{Dialect, TestDb};

use super::support::{add, cli, entry, plan, registry};

#[tokio::test]
async fn tenants_are_found_by_id_or_live_subdomain() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let acme = add(&registry, "acme", "Acme", "free").await;
        let by_id = registry.find_tenant(&acme.id.into()).await.unwrap();
        let by_name = registry
            .find_tenant(&"acme".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(by_id, by_name);
        assert_eq!(by_id.plan, plan("free"));
        registry
            .set_tenant_status(
                acme.id,
                TenantStatus::Deleted,
                None,
                entry(cli(), "tenant.delete", Some(acme.id)),
            )
            .await
            .unwrap();
        let gone = registry
            .find_tenant(&TenantRef::Subdomain("acme".into()))
            .await;
        assert!(
            matches!(gone, Err(RegistryError::NotFound { .. })),
            "{dialect:?}"
        );
        // By id, a tombstone is still found.
        let tombstone = registry.find_tenant(&TenantRef::Id(acme.id)).await.unwrap();
        assert_eq!(tombstone.status, TenantStatus::Deleted);
    }
}

#[tokio::test]
async fn update_tenant_writes_one_audit_row_and_one_change() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let acme = add(&registry, "acme", "Acme", "free").await;
        let audit_rows = || {
            let registry = registry.clone();
            async move { registry.recent_audit(100).await.unwrap().len() }
        };
        let mut last = registry.latest_change_id().await.unwrap();
        let changes_since = async |last: &mut i64| {
            let batch = registry.changes_since(*last, 100).await.unwrap();
            if let Some(c) = batch.changes.last() {
                *last = c.id;
            }
            batch
                .changes
                .iter()
                .map(|c| (c.tenant, c.kind))
                .collect::<Vec<_>>()
        };

        let patch = TenantPatch {
            name: Some("Acme Inc".into()),
            plan: Some(plan("premium")),
            storage_limit_mb: Some(Some(2048)),
            features: None,
        };
        let updated = registry
            .update_tenant(acme.id, patch, entry(cli(), "tenant.update", Some(acme.id)))
            .await
            .unwrap();
        assert_eq!(
            (
                updated.name.as_str(),
                &updated.plan,
                updated.storage_limit_mb
            ),
            ("Acme Inc", &plan("premium"), Some(2048)),
            "{dialect:?}"
        );
        assert!(updated.updated_at >= acme.updated_at);
        assert_eq!(
            registry.find_tenant(&acme.id.into()).await.unwrap(),
            updated
        );
        assert_eq!(audit_rows().await, 1, "{dialect:?}");
        assert_eq!(
            changes_since(&mut last).await,
            [(acme.id, ChangeKind::Plan)],
            "{dialect:?}"
        );

        // Same plan, limit removed: one `status` change (a refresh), one more audit row.
        let patch = TenantPatch {
            plan: Some(plan("premium")),
            storage_limit_mb: Some(None),
            ..TenantPatch::default()
        };
        let updated = registry
            .update_tenant(acme.id, patch, entry(cli(), "tenant.update", Some(acme.id)))
            .await
            .unwrap();
        assert_eq!(updated.storage_limit_mb, None);
        assert_eq!(audit_rows().await, 2, "{dialect:?}");
        assert_eq!(
            changes_since(&mut last).await,
            [(acme.id, ChangeKind::Status)]
        );

        // Refused edits leave nothing behind.
        let unknown_plan = TenantPatch {
            plan: Some(plan("gold")),
            ..TenantPatch::default()
        };
        let refused = registry
            .update_tenant(acme.id, unknown_plan, entry(cli(), "tenant.update", None))
            .await;
        assert!(
            matches!(&refused, Err(RegistryError::NotFound { what }) if what == "plan gold"),
            "{dialect:?}: {refused:?}"
        );
        let empty_name = TenantPatch {
            name: Some("  ".into()),
            ..TenantPatch::default()
        };
        let refused = registry
            .update_tenant(acme.id, empty_name, entry(cli(), "tenant.update", None))
            .await;
        assert!(matches!(refused, Err(RegistryError::Invalid { .. })));
        let nobody = registry
            .update_tenant(
                TenantId::new(),
                TenantPatch::default(),
                entry(cli(), "x", None),
            )
            .await;
        assert!(matches!(nobody, Err(RegistryError::NotFound { .. })));
        registry
            .set_tenant_status(
                acme.id,
                TenantStatus::Deleted,
                None,
                entry(cli(), "tenant.delete", Some(acme.id)),
            )
            .await
            .unwrap();
        changes_since(&mut last).await;
        let deleted = registry
            .update_tenant(acme.id, TenantPatch::default(), entry(cli(), "x", None))
            .await;
        assert!(
            matches!(deleted, Err(RegistryError::NotFound { .. })),
            "{dialect:?}"
        );
        // The deletion's own row, and none for the refused edit.
        assert_eq!(audit_rows().await, 3, "{dialect:?}");
        assert!(changes_since(&mut last).await.is_empty(), "{dialect:?}");
        let row = registry.tenant(acme.id).await.unwrap().unwrap();
        assert_eq!(row.plan, plan("premium"));
    }
}
