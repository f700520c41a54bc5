//! The admin API's registry queries: tenant search (substring, case-insensitive, wildcards taken
//! literally, filters, page totals, keyset cursor), audit and operation listings, tenant edits.
//! Both dialects.

use std::collections::BTreeSet;
use std::sync::Arc;

use sea_orm::ConnectionTrait;
use serde_json::json;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{Email, PlanId, Subdomain, TenantId, TenantRef};
use tenantry_registry::{
    Actor, AuditEntry, AuditQuery, ChangeKind, NewTenant, OperationKind, OperationQuery,
    OperationState, Registry, RegistryError, Tenant, TenantCursor, TenantPatch, TenantQuery,
    TenantStatus,
};
use tenantry_test_utils::{Dialect, TestDb};

async fn registry(db: &TestDb) -> Registry {
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let registry = Registry::connect(&url, vault).await.unwrap();
    registry.migrate().await.unwrap();
    registry
}

fn plan(id: &str) -> PlanId {
    PlanId::parse(id).unwrap()
}

async fn add(registry: &Registry, subdomain: &str, name: &str, plan_id: &str) -> Tenant {
    registry
        .reserve_tenant(NewTenant {
            id: TenantId::new(),
            subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
            name: name.to_owned(),
            plan: plan(plan_id),
            server: None,
            db_name: format!("t_{subdomain}"),
            db_user: None,
            db_password: None,
            storage_limit_mb: None,
        })
        .await
        .unwrap()
}

fn search(text: &str) -> TenantQuery {
    TenantQuery {
        search: Some(text.to_owned()),
        page: 1,
        limit: 100,
        ..TenantQuery::default()
    }
}

async fn subdomains(registry: &Registry, query: &TenantQuery) -> Vec<String> {
    let page = registry.search_tenants(query).await.unwrap();
    page.tenants
        .iter()
        .map(|t| t.subdomain.to_string())
        .collect()
}

fn cli() -> Actor {
    Actor::Cli {
        user: "root".into(),
    }
}

fn entry(actor: Actor, action: &'static str, tenant: Option<TenantId>) -> AuditEntry {
    AuditEntry {
        actor,
        action,
        tenant_id: tenant,
        ip: Some("192.0.2.1".into()),
        request_id: None,
        detail: json!({}),
    }
}

#[tokio::test]
async fn search_matches_substrings_case_insensitively_and_takes_wildcards_literally() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        add(&registry, "acme", "Acme Corp", "free").await;
        add(&registry, "acme-two", "Second", "standard").await;
        add(&registry, "beta", "Beta 50% Off", "free").await;
        add(&registry, "x50y", "Plain", "free").await;
        add(&registry, "gamma", "Gamma_Rays", "premium").await;
        add(&registry, "delta", "Back\\slash", "premium").await;

        let found = |q: &'static str| {
            let registry = registry.clone();
            async move { subdomains(&registry, &search(q)).await }
        };
        assert_eq!(found("ACME").await, ["acme", "acme-two"], "{dialect:?}");
        assert_eq!(found("corp").await, ["acme"], "{dialect:?}");
        assert_eq!(found("cme-T").await, ["acme-two"], "{dialect:?}");
        assert_eq!(found("50%").await, ["beta"], "{dialect:?}: '%' is literal");
        assert_eq!(found("_").await, ["gamma"], "{dialect:?}: '_' is literal");
        assert_eq!(found("a_r").await, ["gamma"], "{dialect:?}");
        assert_eq!(
            found("k\\s").await,
            ["delta"],
            "{dialect:?}: '\\' is literal"
        );
        assert!(found("%").await.contains(&"beta".to_owned()));
        assert_eq!(found("%").await.len(), 1, "{dialect:?}");
        assert!(found("nothing").await.is_empty(), "{dialect:?}");
        // An empty search is no filter.
        assert_eq!(found("").await.len(), 6, "{dialect:?}");
    }
}

#[tokio::test]
async fn search_filters_by_status_and_plan() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let a = add(&registry, "acme", "Acme", "free").await;
        let b = add(&registry, "beta", "Beta", "premium").await;
        add(&registry, "gamma", "Gamma", "premium").await;
        registry
            .set_tenant_status(
                a.id,
                TenantStatus::Suspended,
                Some("unpaid".into()),
                entry(cli(), "tenant.suspend", Some(a.id)),
            )
            .await
            .unwrap();
        registry
            .set_tenant_status(
                b.id,
                TenantStatus::Deleted,
                None,
                entry(cli(), "tenant.delete", Some(b.id)),
            )
            .await
            .unwrap();

        let all = |status, plan| TenantQuery {
            status,
            plan,
            page: 1,
            limit: 10,
            ..TenantQuery::default()
        };
        assert_eq!(
            subdomains(&registry, &all(None, None)).await,
            ["acme", "gamma"],
            "{dialect:?}: live only by default"
        );
        let deleted = all(Some(TenantStatus::Deleted), None);
        assert_eq!(subdomains(&registry, &deleted).await, ["beta"]);
        let suspended = all(Some(TenantStatus::Suspended), None);
        assert_eq!(subdomains(&registry, &suspended).await, ["acme"]);
        let premium = all(None, Some(plan("premium")));
        assert_eq!(subdomains(&registry, &premium).await, ["gamma"]);
        let none = all(Some(TenantStatus::Active), Some(plan("free")));
        assert!(subdomains(&registry, &none).await.is_empty());

        let counts = registry.tenant_counts().await.unwrap();
        let mut expected = vec![
            (TenantStatus::Deleted, plan("premium"), 1),
            (TenantStatus::Provisioning, plan("premium"), 1),
            (TenantStatus::Suspended, plan("free"), 1),
        ];
        let key = |c: &(TenantStatus, PlanId, u64)| format!("{:?} {}", c.0, c.1);
        expected.sort_by_key(key);
        let mut counts_sorted = counts.clone();
        counts_sorted.sort_by_key(key);
        assert_eq!(counts_sorted, expected, "{dialect:?}");
    }
}

#[tokio::test]
async fn pages_count_every_match_and_a_cursor_walk_visits_each_tenant_once() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let mut ids = BTreeSet::new();
        for i in 0..7 {
            ids.insert(add(&registry, &format!("t-{i}"), "Same", "free").await.id);
        }
        // Ties on created_at: the id breaks them.
        let conn = registry.connection();
        conn.execute_unprepared(
            "UPDATE tenants SET created_at = (SELECT MIN(created_at) FROM tenants) \
             WHERE subdomain IN ('t-2', 't-3', 't-4')",
        )
        .await
        .unwrap();

        let page = |page| TenantQuery {
            page,
            limit: 3,
            ..TenantQuery::default()
        };
        let first = registry.search_tenants(&page(1)).await.unwrap();
        assert_eq!((first.tenants.len(), first.total), (3, 7), "{dialect:?}");
        assert!(first.next.is_some());
        let third = registry.search_tenants(&page(3)).await.unwrap();
        assert_eq!((third.tenants.len(), third.total), (1, 7), "{dialect:?}");
        assert!(
            third.next.is_none(),
            "{dialect:?}: the last page has no next"
        );
        let beyond = registry.search_tenants(&page(4)).await.unwrap();
        assert_eq!((beyond.tenants.len(), beyond.total), (0, 7));

        // Page by page, and by cursor, give the same order.
        let mut by_page = Vec::new();
        for n in 1..=3 {
            let got = registry.search_tenants(&page(n)).await.unwrap();
            by_page.extend(got.tenants.into_iter().map(|t| t.id));
        }
        let mut walked = Vec::new();
        let mut query = TenantQuery {
            limit: 2,
            page: 1,
            ..TenantQuery::default()
        };
        loop {
            let got = registry.search_tenants(&query).await.unwrap();
            assert_eq!(got.total, 7, "{dialect:?}: total ignores the cursor");
            walked.extend(got.tenants.iter().map(|t| t.id));
            match got.next {
                // Clients hold the cursor as text.
                Some(next) => query.after = Some(next.to_string().parse().unwrap()),
                None => break,
            }
            assert!(walked.len() <= 7, "{dialect:?}: the walk does not end");
        }
        assert_eq!(walked, by_page, "{dialect:?}");
        assert_eq!(walked.len(), 7, "{dialect:?}");
        assert_eq!(walked.iter().copied().collect::<BTreeSet<_>>(), ids);

        assert!(matches!(
            "not-a-cursor".parse::<TenantCursor>(),
            Err(RegistryError::Invalid { .. })
        ));
        assert!(matches!(
            registry.search_tenants(&page(0)).await,
            Err(RegistryError::Invalid { .. })
        ));
    }
}

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

#[tokio::test]
async fn operations_are_listed_with_their_kind_actor_and_progress() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let t1 = TenantId::new();
        let t2 = TenantId::new();
        let create = registry
            .start_operation(
                OperationKind::TenantCreate,
                Some(t1),
                "reserve",
                json!({}),
                Some(&cli()),
            )
            .await
            .unwrap();
        registry
            .finish_operation(create.id, OperationState::Succeeded, None)
            .await
            .unwrap();
        let migrate = registry
            .start_operation(
                OperationKind::TenantMigrate,
                Some(t1),
                "migrate",
                json!({}),
                None,
            )
            .await
            .unwrap();
        let fleet = registry
            .start_operation(
                OperationKind::FleetMigrate,
                None,
                "start",
                json!({}),
                Some(&Actor::System),
            )
            .await
            .unwrap();
        registry
            .set_operation_progress(fleet.id, 3, 10)
            .await
            .unwrap();
        let busy = registry
            .start_operation(
                OperationKind::TenantSuspend,
                Some(t1),
                "suspend",
                json!({}),
                None,
            )
            .await;
        assert!(
            matches!(busy, Err(RegistryError::Busy { .. })),
            "{dialect:?}"
        );
        registry
            .start_operation(
                OperationKind::TenantDelete,
                Some(t2),
                "delete",
                json!({}),
                None,
            )
            .await
            .unwrap();

        let list = |q: OperationQuery| {
            let registry = registry.clone();
            async move {
                let (ops, total) = registry
                    .list_operations(&OperationQuery {
                        page: 1,
                        limit: 50,
                        ..q
                    })
                    .await
                    .unwrap();
                (ops.iter().map(|o| o.kind).collect::<Vec<_>>(), total, ops)
            }
        };
        let (kinds, total, ops) = list(OperationQuery::default()).await;
        use OperationKind::*;
        assert_eq!(
            kinds,
            [TenantDelete, FleetMigrate, TenantMigrate, TenantCreate],
            "{dialect:?}: newest first"
        );
        assert_eq!(total, 4);
        let fleet_row = &ops[1];
        assert_eq!(
            (fleet_row.progress_done, fleet_row.progress_total),
            (Some(3), Some(10))
        );
        assert_eq!(fleet_row.actor.as_deref(), Some("system"));
        assert_eq!(ops[3].actor.as_deref(), Some("cli:root"), "{dialect:?}");
        assert_eq!(ops[2].actor, None);

        let of_t1 = OperationQuery {
            tenant: Some(t1),
            ..OperationQuery::default()
        };
        assert_eq!(
            list(of_t1).await.0,
            [TenantMigrate, TenantCreate],
            "{dialect:?}"
        );
        let running = OperationQuery {
            state: Some(OperationState::Running),
            ..OperationQuery::default()
        };
        assert_eq!(list(running).await.1, 3, "{dialect:?}");
        let migrations = OperationQuery {
            kind: Some(TenantMigrate),
            ..OperationQuery::default()
        };
        let (_, total, ops) = list(migrations).await;
        assert_eq!((total, ops[0].id), (1, migrate.id), "{dialect:?}");
        let paged = OperationQuery {
            page: 2,
            limit: 3,
            ..OperationQuery::default()
        };
        let (ops, total) = registry.list_operations(&paged).await.unwrap();
        assert_eq!((ops.len(), total), (1, 4), "{dialect:?}");

        let unknown = registry
            .set_operation_progress(uuid::Uuid::now_v7(), 1, 2)
            .await;
        assert!(matches!(unknown, Err(RegistryError::NotFound { .. })));
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
