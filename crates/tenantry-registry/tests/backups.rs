//! The master's side of backups: a backup row's life (running → completed or failed), scheduled
//! backups claimed exactly once by concurrent claimers, stale ones failed, deleted tenants
//! recoverable until their final backup expires, and the fence and database swap that restore
//! and move rely on. Both dialects.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{PlanId, Subdomain, TenantId};
use tenantry_registry::{
    Actor, AuditEntry, Backup, BackupDone, BackupKind, BackupState, ChangeKind, DatabaseLocation,
    DueBackups, Fence, NewBackup, NewTenant, Origin, Registry, RegistryError, TenantStatus,
};
use tenantry_test_utils::{Dialect, TestDb};
use uuid::Uuid;

const HOUR: Duration = Duration::from_secs(3600);

/// A migrated registry on `db`.
async fn registry(db: &TestDb) -> Registry {
    let registry = registry_on(db).await;
    registry.migrate().await.unwrap();
    registry
}

/// Another handle on `db` with its own pool, as another process would have.
async fn registry_on(db: &TestDb) -> Registry {
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    Registry::connect(&url, vault).await.unwrap()
}

fn audit(action: &'static str, tenant: TenantId) -> AuditEntry {
    Origin::from(Actor::System).entry(action, Some(tenant), json!({}))
}

/// A tenant in `status` (made active first, then moved there).
async fn tenant(registry: &Registry, subdomain: &str, status: TenantStatus) -> TenantId {
    let id = TenantId::new();
    registry
        .reserve_tenant(NewTenant {
            id,
            subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
            name: subdomain.to_owned(),
            plan: PlanId::parse("free").unwrap(),
            server: None,
            db_name: format!("t_{subdomain}_{}", &id.to_string()[..8]),
            db_user: None,
            db_password: None,
            storage_limit_mb: None,
        })
        .await
        .unwrap();
    let created = audit("tenant.create", id);
    registry
        .activate_tenant(id, Some(1), created, None)
        .await
        .unwrap();
    if status != TenantStatus::Active {
        let changed = audit("tenant.status", id);
        registry
            .set_tenant_status(id, status, None, changed)
            .await
            .unwrap();
    }
    id
}

async fn start(registry: &Registry, tenant: TenantId, kind: BackupKind) -> Backup {
    let id = Uuid::now_v7();
    let new = NewBackup {
        id,
        tenant,
        location: format!("file:///backups/{tenant}/{id}.tbk"),
        kind,
        engine: "sqlite".into(),
        operation: Some(Uuid::now_v7()),
    };
    registry.start_backup(new).await.unwrap()
}

fn done(expires_at: Option<DateTime<Utc>>) -> BackupDone {
    BackupDone {
        bytes: 4096,
        sha256: "ab".repeat(32),
        schema_version: Some(1),
        key_id: "k1".into(),
        format_version: 1,
        expires_at,
    }
}

async fn completed(registry: &Registry, tenant: TenantId, kind: BackupKind, ttl: i64) -> Backup {
    let backup = start(registry, tenant, kind).await;
    let expires = Some(Utc::now() + chrono::Duration::hours(ttl));
    registry
        .complete_backup(backup.id, done(expires))
        .await
        .unwrap()
}

fn due(now: DateTime<Utc>, include_suspended: bool) -> DueBackups {
    DueBackups {
        every: HOUR,
        now,
        limit: 50,
        include_suspended,
        retry_failed_after: Duration::ZERO,
    }
}

fn location(tenant: TenantId, id: Uuid) -> String {
    format!("s3://bucket/tenants/{tenant}/{id}.tbk")
}

/// The tenants `claim_due_backups` claims now, sorted.
async fn claim(registry: &Registry, due: DueBackups) -> Vec<TenantId> {
    let claimed = registry.claim_due_backups(due, location).await.unwrap();
    let mut tenants: Vec<TenantId> = claimed.iter().map(|(t, _)| t.id).collect();
    tenants.sort();
    tenants
}

/// The kinds of the changes recorded after `after`.
async fn changes_after(registry: &Registry, after: i64) -> Vec<(TenantId, ChangeKind)> {
    let batch = registry.changes_since(after, 100).await.unwrap();
    batch.changes.iter().map(|c| (c.tenant, c.kind)).collect()
}

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
async fn concurrent_claimers_claim_each_due_tenant_exactly_once() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let one = registry(&db).await;
        let other = registry_on(&db).await;
        let mut tenants = Vec::new();
        for i in 0..20 {
            tenants.push(tenant(&one, &format!("t{i:02}"), TenantStatus::Active).await);
        }
        tenants.sort();

        let now = Utc::now();
        let (a, b) = tokio::join!(claim(&one, due(now, false)), claim(&other, due(now, false)));
        let mut all: Vec<TenantId> = a.iter().chain(&b).copied().collect();
        all.sort();
        assert_eq!(
            all,
            tenants,
            "{dialect:?}: {} + {} claimed",
            a.len(),
            b.len()
        );

        // Running backups are not due again; neither are they once completed recently.
        assert!(claim(&one, due(now, false)).await.is_empty(), "{dialect:?}");
        let claimed = one.list_backups(tenants[0]).await.unwrap();
        assert_eq!(claimed.len(), 1, "{dialect:?}");
        assert_eq!(claimed[0].kind, BackupKind::Scheduled);
        assert_eq!(claimed[0].location, location(tenants[0], claimed[0].id));
        one.complete_backup(claimed[0].id, done(None))
            .await
            .unwrap();
        assert!(claim(&one, due(now, false)).await.is_empty(), "{dialect:?}");
    }
}

#[tokio::test]
async fn only_active_unfenced_tenants_without_a_recent_backup_are_due() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let recent = tenant(&registry, "recent", TenantStatus::Active).await;
        let failed = tenant(&registry, "failed", TenantStatus::Active).await;
        let paused = tenant(&registry, "paused", TenantStatus::Suspended).await;
        let fenced = tenant(&registry, "fenced", TenantStatus::Active).await;
        tenant(&registry, "gone", TenantStatus::Deleted).await;
        completed(&registry, recent, BackupKind::Manual, 24).await;
        let attempt = start(&registry, failed, BackupKind::Scheduled).await;
        registry.fail_backup(attempt.id, "timeout").await.unwrap();
        registry
            .set_tenant_fence(fenced, Some(Fence::Move))
            .await
            .unwrap();

        let now = Utc::now();
        assert_eq!(claim(&registry, due(now, false)).await, [failed]);
        assert_eq!(claim(&registry, due(now, true)).await, [paused]);
        // An hour later the recent backup is old enough.
        let later = now + chrono::Duration::hours(2);
        assert_eq!(claim(&registry, due(later, true)).await, [recent]);

        let limited = DueBackups {
            limit: 0,
            ..due(later, true)
        };
        registry.set_tenant_fence(fenced, None).await.unwrap();
        assert!(claim(&registry, limited).await.is_empty(), "{dialect:?}");
        assert_eq!(claim(&registry, due(now, true)).await, [fenced]);
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
