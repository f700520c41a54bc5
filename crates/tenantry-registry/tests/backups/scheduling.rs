//! Scheduled backups: which tenants are due, each claimed exactly once by concurrent claimers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tenantry_core::TenantId;
use tenantry_registry::{BackupKind, DueBackups, Fence, Registry, TenantStatus};
use tenantry_test_utils::{Dialect, TestDb};
use uuid::Uuid;

use super::support::{completed, done, registry, registry_on, start, tenant};

const HOUR: Duration = Duration::from_secs(3600);

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
