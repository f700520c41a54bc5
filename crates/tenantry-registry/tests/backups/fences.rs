//! The fence restore and move set, shown in the directory, and the database swap that lifts it.

use secrecy::{ExposeSecret, SecretString};
use tenantry_registry::{ChangeKind, DatabaseLocation, Fence, RegistryError, TenantStatus};
use tenantry_test_utils::{Dialect, TestDb};

use super::support::{audit, changes_after, registry, tenant};

#[tokio::test]
async fn a_fence_shows_in_the_directory_and_a_swap_lifts_it() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let acme = tenant(&registry, "acme", TenantStatus::Active).await;
        let mut last = registry.latest_change_id().await.unwrap();

        registry
            .set_tenant_fence(acme, Some(Fence::Restore))
            .await
            .unwrap();
        let entry = registry.directory_entry(acme).await.unwrap().unwrap();
        assert_eq!(entry.fence, Some(Fence::Restore), "{dialect:?}");
        let entries = registry.directory_entries().await.unwrap();
        assert_eq!(entries[0].fence, Some(Fence::Restore), "{dialect:?}");
        assert_eq!(
            changes_after(&registry, last).await,
            [(acme, ChangeKind::Status)]
        );
        last = registry.latest_change_id().await.unwrap();

        let to = DatabaseLocation {
            server: None,
            db_name: "t_acme_restored".into(),
            db_user: Some("acme_restored".into()),
            password: Some(SecretString::from("n3w-secret")),
        };
        let swapped = registry
            .swap_tenant_database(acme, to, Some(2), audit("tenant.restore", acme))
            .await
            .unwrap();
        assert_eq!(swapped.fence, None, "{dialect:?}");
        assert_eq!(swapped.db_name, "t_acme_restored");
        assert_eq!(swapped.db_user.as_deref(), Some("acme_restored"));
        let password = registry.tenant_db_password(&swapped).unwrap().unwrap();
        assert_eq!(password.expose_secret(), "n3w-secret", "{dialect:?}");
        assert_eq!(registry.tenant(acme).await.unwrap().unwrap(), swapped);
        assert_eq!(
            changes_after(&registry, last).await,
            [(acme, ChangeKind::Database)]
        );
        let newest = registry.recent_audit(1).await.unwrap();
        assert_eq!(newest[0].action, "tenant.restore", "{dialect:?}");
        assert_eq!(newest[0].tenant, Some(acme), "{dialect:?}");

        // Keeping the password keeps the sealed one.
        let keep = DatabaseLocation {
            server: None,
            db_name: "t_acme_moved".into(),
            db_user: Some("acme_restored".into()),
            password: None,
        };
        let moved = registry
            .swap_tenant_database(acme, keep, Some(2), audit("tenant.move", acme))
            .await
            .unwrap();
        let password = registry.tenant_db_password(&moved).unwrap().unwrap();
        assert_eq!(password.expose_secret(), "n3w-secret", "{dialect:?}");

        let gone = tenant(&registry, "gone", TenantStatus::Deleted).await;
        let to = location_of(&moved);
        assert!(matches!(
            registry
                .swap_tenant_database(gone, to, Some(2), audit("tenant.move", gone))
                .await,
            Err(RegistryError::NotFound { .. })
        ));
        assert!(matches!(
            registry.set_tenant_fence(gone, Some(Fence::Move)).await,
            Err(RegistryError::NotFound { .. })
        ));
    }
}

fn location_of(tenant: &tenantry_registry::Tenant) -> DatabaseLocation {
    DatabaseLocation {
        server: tenant.server,
        db_name: tenant.db_name.clone(),
        db_user: tenant.db_user.clone(),
        password: None,
    }
}
