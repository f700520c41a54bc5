//! Deleted tenants: recoverable until their final backup expires, revived while the subdomain is free.

use chrono::Utc;
use tenantry_core::{Subdomain, TenantId};
use tenantry_registry::{BackupKind, ChangeKind, DatabaseLocation, RegistryError, TenantStatus};
use tenantry_test_utils::{Dialect, TestDb};

use super::support::{audit, changes_after, completed, registry, tenant};

#[tokio::test]
async fn the_newest_deleted_tenant_is_recoverable_until_its_final_backup_expires() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let acme = Subdomain::parse("acme", &[]).unwrap();
        let older = tenant(&registry, "acme", TenantStatus::Active).await;
        completed(&registry, older, BackupKind::Final, 24).await;
        let older_newest = completed(&registry, older, BackupKind::Final, 24).await;
        completed(&registry, older, BackupKind::Manual, 24).await;
        let audit_delete = audit("tenant.delete", older);
        registry
            .set_tenant_status(older, TenantStatus::Deleted, None, audit_delete)
            .await
            .unwrap();
        assert_eq!(
            registry
                .recoverable_tenant(&acme, Utc::now())
                .await
                .unwrap(),
            Some((registry.tenant(older).await.unwrap().unwrap(), older_newest)),
            "{dialect:?}"
        );

        let newer = tenant(&registry, "acme", TenantStatus::Active).await;
        let newer_final = completed(&registry, newer, BackupKind::Final, 1).await;
        let audit_delete = audit("tenant.delete", newer);
        registry
            .set_tenant_status(newer, TenantStatus::Deleted, None, audit_delete)
            .await
            .unwrap();
        let found = registry
            .recoverable_tenant(&acme, Utc::now())
            .await
            .unwrap();
        let (tenant, backup) = found.unwrap();
        assert_eq!(
            (tenant.id, backup.id),
            (newer, newer_final.id),
            "{dialect:?}"
        );

        // Two hours on, the newer one's final backup has expired: the older one is left.
        let later = Utc::now() + chrono::Duration::hours(2);
        let found = registry.recoverable_tenant(&acme, later).await.unwrap();
        assert_eq!(found.map(|(t, _)| t.id), Some(older), "{dialect:?}");
        let expired = registry.expired_final_backups(later).await.unwrap();
        assert_eq!(expired.len(), 1, "{dialect:?}");
        assert_eq!(expired[0].id, newer_final.id, "{dialect:?}");
        let much_later = Utc::now() + chrono::Duration::days(2);
        assert_eq!(
            registry
                .recoverable_tenant(&acme, much_later)
                .await
                .unwrap(),
            None
        );
        let other = Subdomain::parse("other", &[]).unwrap();
        assert_eq!(
            registry.recoverable_tenant(&other, later).await.unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn a_deleted_tenant_is_revived_only_while_its_subdomain_is_free() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let acme = tenant(&registry, "acme", TenantStatus::Deleted).await;
        let last = registry.latest_change_id().await.unwrap();
        let to = DatabaseLocation {
            server: None,
            db_name: "t_acme_recovered".into(),
            db_user: None,
            password: None,
        };

        let revived = registry
            .revive_tenant(acme, to.clone(), audit("tenant.recover", acme))
            .await
            .unwrap();
        assert_eq!(revived.status, TenantStatus::Provisioning, "{dialect:?}");
        assert_eq!(revived.deleted_at, None, "{dialect:?}");
        assert_eq!(revived.db_name, "t_acme_recovered");
        assert_eq!(
            changes_after(&registry, last).await,
            [(acme, ChangeKind::Created)]
        );
        let newest = registry.recent_audit(1).await.unwrap();
        assert_eq!(newest[0].action, "tenant.recover", "{dialect:?}");
        assert_eq!(newest[0].tenant, Some(acme));

        // A live tenant cannot be revived.
        let refused = registry
            .revive_tenant(acme, to.clone(), audit("tenant.recover", acme))
            .await;
        assert!(
            matches!(refused, Err(RegistryError::Refused { .. })),
            "{dialect:?}: {refused:?}"
        );

        // Deleted again, and its subdomain taken by a new tenant: no revival, nothing recorded.
        let deleted = audit("tenant.delete", acme);
        registry
            .set_tenant_status(acme, TenantStatus::Deleted, None, deleted)
            .await
            .unwrap();
        tenant(&registry, "acme", TenantStatus::Active).await;
        let last = registry.latest_change_id().await.unwrap();
        let refused = registry
            .revive_tenant(acme, to.clone(), audit("tenant.recover", acme))
            .await;
        assert!(
            matches!(refused, Err(RegistryError::Conflict { .. })),
            "{dialect:?}: {refused:?}"
        );
        let tombstone = registry.tenant(acme).await.unwrap().unwrap();
        assert_eq!(tombstone.status, TenantStatus::Deleted, "{dialect:?}");
        assert_eq!(registry.latest_change_id().await.unwrap(), last);

        let missing = TenantId::new();
        assert!(matches!(
            registry
                .revive_tenant(missing, to, audit("tenant.recover", missing))
                .await,
            Err(RegistryError::NotFound { .. })
        ));
    }
}
