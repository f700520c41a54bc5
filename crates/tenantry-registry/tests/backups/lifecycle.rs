//! A backup row's life: running, then completed or failed exactly once, and stale ones failed.

use chrono::Utc;
use tenantry_core::TenantId;
use tenantry_registry::{BackupKind, BackupState, NewBackup, RegistryError, TenantStatus};
use tenantry_test_utils::{Dialect, TestDb};
use uuid::Uuid;

use super::support::{completed, done, registry, start, tenant};

#[tokio::test]
async fn a_backup_runs_then_completes_or_fails_once() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let acme = tenant(&registry, "acme", TenantStatus::Active).await;

        let first = start(&registry, acme, BackupKind::Manual).await;
        assert_eq!(first.state, BackupState::Running, "{dialect:?}");
        assert_eq!(first.engine.as_deref(), Some("sqlite"));
        let expires = Utc::now() + chrono::Duration::days(30);
        let finished = registry
            .complete_backup(first.id, done(Some(expires)))
            .await
            .unwrap();
        assert_eq!(finished.state, BackupState::Completed, "{dialect:?}");
        assert_eq!(finished.bytes, Some(4096));
        assert_eq!(finished.key_id.as_deref(), Some("k1"));
        assert_eq!(finished.format_version, Some(1));
        assert_eq!(finished.location, first.location);
        assert_eq!(finished.operation, first.operation);
        assert!(finished.completed_at.is_some());
        assert_eq!(registry.backup(first.id).await.unwrap(), Some(finished));

        let second = start(&registry, acme, BackupKind::PreRestore).await;
        registry.fail_backup(second.id, "disk full").await.unwrap();
        for refused in [
            registry.complete_backup(first.id, done(None)).await.err(),
            registry.complete_backup(second.id, done(None)).await.err(),
            registry.fail_backup(second.id, "again").await.err(),
        ] {
            assert!(
                matches!(refused, Some(RegistryError::Refused { .. })),
                "{dialect:?}: {refused:?}"
            );
        }
        let failed = registry.backup(second.id).await.unwrap().unwrap();
        assert_eq!(failed.state, BackupState::Failed, "{dialect:?}");
        assert_eq!(failed.error.as_deref(), Some("disk full"));

        let listed: Vec<Uuid> = registry
            .list_backups(acme)
            .await
            .unwrap()
            .iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(listed, [second.id, first.id], "{dialect:?}: newest first");
        let kept: Vec<Uuid> = registry
            .backups_for_retention(acme)
            .await
            .unwrap()
            .iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(kept, [first.id], "{dialect:?}: completed manual only");

        registry.set_backup_expiry(first.id, None).await.unwrap();
        let kept = registry.backup(first.id).await.unwrap().unwrap();
        assert_eq!(kept.expires_at, None, "{dialect:?}");
        assert!(registry.remove_backup(second.id).await.unwrap());
        assert!(!registry.remove_backup(second.id).await.unwrap());
        assert_eq!(registry.list_backups(acme).await.unwrap().len(), 1);

        let missing = Uuid::now_v7();
        assert!(matches!(
            registry.complete_backup(missing, done(None)).await,
            Err(RegistryError::NotFound { .. })
        ));
        assert!(matches!(
            registry.set_backup_expiry(missing, None).await,
            Err(RegistryError::NotFound { .. })
        ));
        let orphan = NewBackup {
            id: missing,
            tenant: TenantId::new(),
            location: "file:///nowhere.tbk".into(),
            kind: BackupKind::Manual,
            engine: "sqlite".into(),
            operation: None,
        };
        let orphan = registry.start_backup(orphan).await;
        assert!(
            matches!(orphan, Err(RegistryError::NotFound { .. })),
            "{dialect:?}: {orphan:?}"
        );
    }
}

#[tokio::test]
async fn backups_left_running_by_a_dead_process_are_failed() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let acme = tenant(&registry, "acme", TenantStatus::Active).await;
        let done = completed(&registry, acme, BackupKind::Manual, 1).await;
        let stuck = start(&registry, acme, BackupKind::Scheduled).await;

        let before = stuck.created_at - chrono::Duration::seconds(1);
        assert_eq!(registry.fail_stale_backups(before).await.unwrap(), 0);
        let after = Utc::now() + chrono::Duration::seconds(1);
        assert_eq!(registry.fail_stale_backups(after).await.unwrap(), 1);
        let stuck = registry.backup(stuck.id).await.unwrap().unwrap();
        assert_eq!(stuck.state, BackupState::Failed, "{dialect:?}");
        assert!(stuck.error.is_some(), "{dialect:?}");
        let done = registry.backup(done.id).await.unwrap().unwrap();
        assert_eq!(done.state, BackupState::Completed, "{dialect:?}");
    }
}
