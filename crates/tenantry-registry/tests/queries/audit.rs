//! Audit listings: newest first, filtered by actor, action, tenant and time, paged.

use tenantry_core::{Email, TenantId};
use tenantry_registry::{Actor, AuditEntry, AuditQuery};
use tenantry_test_utils::{Dialect, TestDb};

use super::support::{cli, entry, registry};

#[tokio::test]
async fn audit_rows_are_listed_newest_first_by_actor_action_tenant_and_time() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let t1 = TenantId::new();
        let t2 = TenantId::new();
        let ops = Actor::Admin {
            email: Email::parse("ops@example.com").unwrap(),
        };
        registry
            .audit(entry(cli(), "tenant.create", Some(t1)))
            .await
            .unwrap();
        let before_second = chrono::Utc::now();
        registry
            .audit(AuditEntry {
                request_id: Some("req-42".into()),
                ..entry(ops.clone(), "tenant.suspend", Some(t1))
            })
            .await
            .unwrap();
        registry
            .audit(entry(ops.clone(), "tenant.create", Some(t2)))
            .await
            .unwrap();
        registry
            .audit(entry(Actor::System, "admin.create", None))
            .await
            .unwrap();

        let list = |q: AuditQuery| {
            let registry = registry.clone();
            async move {
                let page = registry
                    .list_audit(&AuditQuery {
                        page: q.page.max(1),
                        limit: if q.limit == 0 { 50 } else { q.limit },
                        ..q
                    })
                    .await
                    .unwrap();
                let actions: Vec<String> = page.entries.iter().map(|e| e.action.clone()).collect();
                (actions, page.total, page.entries)
            }
        };
        let (all, total, entries) = list(AuditQuery::default()).await;
        assert_eq!(
            all,
            [
                "admin.create",
                "tenant.create",
                "tenant.suspend",
                "tenant.create"
            ],
            "{dialect:?}: newest first"
        );
        assert_eq!(total, 4);
        let suspend = &entries[2];
        assert_eq!(suspend.actor, "admin:ops@example.com");
        assert_eq!(suspend.request_id.as_deref(), Some("req-42"), "{dialect:?}");
        assert_eq!(suspend.ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(suspend.tenant, Some(t1));

        let by_actor = AuditQuery {
            actor: Some(ops.to_string()),
            ..AuditQuery::default()
        };
        assert_eq!(list(by_actor).await.1, 2, "{dialect:?}");
        let by_action = AuditQuery {
            action: Some("tenant.create".into()),
            ..AuditQuery::default()
        };
        assert_eq!(list(by_action).await.1, 2, "{dialect:?}");
        let by_tenant = AuditQuery {
            tenant: Some(t1),
            ..AuditQuery::default()
        };
        let (actions, _, _) = list(by_tenant).await;
        assert_eq!(actions, ["tenant.suspend", "tenant.create"], "{dialect:?}");
        let since = AuditQuery {
            from: Some(before_second),
            ..AuditQuery::default()
        };
        assert_eq!(list(since).await.1, 3, "{dialect:?}");
        let until = AuditQuery {
            to: Some(before_second),
            ..AuditQuery::default()
        };
        assert_eq!(list(until).await.0, ["tenant.create"], "{dialect:?}");
        let second_page = AuditQuery {
            page: 2,
            limit: 3,
            ..AuditQuery::default()
        };
        let (actions, total, _) = list(second_page).await;
        assert_eq!((actions.len(), total), (1, 4), "{dialect:?}");
    }
}
