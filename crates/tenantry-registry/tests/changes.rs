//! The registry change feed: each mutation a cache depends on records one change in its own
//! transaction, readers see ids in order exactly once (also under concurrent writers), pruning is
//! reported as a gap, and PostgreSQL wakes listeners at commit. Both dialects unless noted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sea_orm::ConnectionTrait;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{DomainName, Subdomain, TenantId};
use tenantry_registry::{
    AuditEntry, Change, ChangeKind, DirectoryEntry, NewTenant, Registry, RegistryError,
    TenantStatus,
};
use tenantry_test_utils::{Dialect, TestDb};

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

fn new_tenant(subdomain: &str) -> NewTenant {
    NewTenant {
        id: TenantId::new(),
        subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
        name: subdomain.to_owned(),
        plan: tenantry_core::PlanId::parse("free").unwrap(),
        server: None,
        db_name: format!("t_{subdomain}_00000000"),
        db_user: None,
        db_password: None,
        storage_limit_mb: None,
    }
}

async fn reserve(registry: &Registry, subdomain: &str) -> TenantId {
    let row = registry.reserve_tenant(new_tenant(subdomain)).await;
    row.unwrap().id
}

fn audit(tenant: TenantId) -> AuditEntry {
    AuditEntry {
        actor: tenantry_registry::Actor::System,
        action: "tenant.create",
        tenant_id: Some(tenant),
        ip: None,
        request_id: None,
        detail: serde_json::json!({}),
    }
}

/// Asserts the changes recorded after `*last` are exactly `expected`, in order, then moves
/// `*last` past them and returns them.
async fn expect(
    registry: &Registry,
    dialect: Dialect,
    last: &mut i64,
    expected: &[(TenantId, ChangeKind)],
) -> Vec<Change> {
    let batch = registry.changes_since(*last, 100).await.unwrap();
    assert!(!batch.gap, "{dialect:?}");
    let got: Vec<_> = batch.changes.iter().map(|c| (c.tenant, c.kind)).collect();
    assert_eq!(got, expected, "{dialect:?}: after change {last}");
    if let Some(newest) = batch.changes.last() {
        assert!(newest.id > *last);
        *last = newest.id;
    }
    let latest = registry.latest_change_id().await.unwrap();
    assert_eq!(latest, *last, "{dialect:?}");
    batch.changes
}

#[tokio::test]
async fn each_mutation_records_one_change_naming_its_tenant() {
    use ChangeKind::*;
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let mut last = 0;
        expect(&registry, dialect, &mut last, &[]).await;

        let a = reserve(&registry, "acme").await;
        expect(&registry, dialect, &mut last, &[(a, Created)]).await;
        let b = registry
            .reserve_tenant_with_operation(
                new_tenant("beta"),
                tenantry_registry::OperationKind::TenantCreate,
                "reserve",
                |_| serde_json::json!({}),
                None,
                None,
            )
            .await
            .unwrap()
            .tenant
            .id;
        expect(&registry, dialect, &mut last, &[(b, Created)]).await;
        // A refused mutation rolls its change back with it.
        assert!(matches!(
            registry.reserve_tenant(new_tenant("acme")).await,
            Err(RegistryError::Conflict { .. })
        ));
        let missing = TenantId::new();
        assert!(matches!(
            registry
                .set_tenant_status(missing, TenantStatus::Active, None, audit(missing))
                .await,
            Err(RegistryError::NotFound { .. })
        ));
        expect(&registry, dialect, &mut last, &[]).await;

        // The second activation finds the tenant active already: nothing changed or recorded.
        for recorded in [&[(a, Status)][..], &[]] {
            registry
                .activate_tenant(a, None, audit(a), None)
                .await
                .unwrap();
            expect(&registry, dialect, &mut last, recorded).await;
        }
        registry
            .set_tenant_status(a, TenantStatus::Suspended, Some("unpaid".into()), audit(a))
            .await
            .unwrap();
        expect(&registry, dialect, &mut last, &[(a, Status)]).await;

        let domain = DomainName::parse("books.acme.com").unwrap();
        registry.add_tenant_domain(a, &domain, false).await.unwrap();
        expect(&registry, dialect, &mut last, &[(a, Domains)]).await;
        registry.verify_tenant_domain(&domain).await.unwrap();
        expect(&registry, dialect, &mut last, &[(a, Domains)]).await;

        registry.record_user_change(a, 7).await.unwrap();
        let user = expect(&registry, dialect, &mut last, &[(a, UserCredentials)]).await;
        assert_eq!(user[0].user, Some(7), "{dialect:?}");
        registry.record_plan_change(a).await.unwrap();
        let plan = expect(&registry, dialect, &mut last, &[(a, Plan)]).await;
        assert_eq!(plan[0].user, None, "{dialect:?}");

        registry
            .set_tenant_status(a, TenantStatus::Deleted, None, audit(a))
            .await
            .unwrap();
        expect(&registry, dialect, &mut last, &[(a, Deleted)]).await;
        assert!(registry.remove_unprovisioned_tenant(b).await.unwrap());
        expect(&registry, dialect, &mut last, &[(b, Deleted)]).await;
        assert!(!registry.remove_unprovisioned_tenant(b).await.unwrap());
        expect(&registry, dialect, &mut last, &[]).await;
    }
}

#[tokio::test]
async fn changes_since_is_oldest_first_and_honours_limit() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let (a, b) = (TenantId::new(), TenantId::new());
        for tenant in [a, b, a, b, a] {
            registry.record_plan_change(tenant).await.unwrap();
        }
        let all = registry.changes_since(0, 100).await.unwrap().changes;
        let tenants: Vec<_> = all.iter().map(|c| c.tenant).collect();
        assert_eq!(tenants, [a, b, a, b, a], "{dialect:?}: oldest first");
        assert!(all.windows(2).all(|w| w[0].id < w[1].id), "{dialect:?}");

        let mut after = 0;
        for page in [&all[..2], &all[2..4], &all[4..]] {
            let got = registry.changes_since(after, 2).await.unwrap().changes;
            assert_eq!(got, page, "{dialect:?}: 2 changes after {after}");
            after = got[got.len() - 1].id;
        }
        assert_eq!(registry.latest_change_id().await.unwrap(), all[4].id);
    }
}

#[tokio::test]
async fn pruning_reports_a_gap_to_readers_behind_it() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let tenant = TenantId::new();
        for _ in 0..3 {
            registry.record_plan_change(tenant).await.unwrap();
        }
        let newest = registry.latest_change_id().await.unwrap();
        let young = registry.prune_changes(Duration::from_secs(3600)).await;
        assert_eq!(young.unwrap(), 0, "{dialect:?}");
        assert!(!registry.changes_since(0, 10).await.unwrap().gap);

        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(registry.prune_changes(Duration::ZERO).await.unwrap(), 3);
        let behind = registry.changes_since(0, 10).await.unwrap();
        assert!(behind.gap && behind.changes.is_empty(), "{dialect:?}");
        assert!(registry.changes_since(newest - 1, 10).await.unwrap().gap);
        let current = registry.changes_since(newest, 10).await.unwrap();
        assert!(!current.gap && current.changes.is_empty(), "{dialect:?}");
        assert_eq!(
            registry.latest_change_id().await.unwrap(),
            newest,
            "{dialect:?}: the newest id outlives its row, so a fresh reader starts after it"
        );

        registry.record_plan_change(tenant).await.unwrap();
        let after = registry.changes_since(newest, 10).await.unwrap();
        assert!(!after.gap, "{dialect:?}");
        let ids: Vec<_> = after.changes.iter().map(|c| c.id).collect();
        assert_eq!(ids, [newest + 1], "{dialect:?}: ids are never reused");
    }
}

#[tokio::test]
async fn the_directory_lists_live_tenants_with_verified_domains_only() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let a = reserve(&registry, "acme").await;
        let b = reserve(&registry, "beta").await;
        let gone = reserve(&registry, "gone").await;
        registry
            .activate_tenant(a, None, audit(a), None)
            .await
            .unwrap();
        for (tenant, domain, verified) in [
            (a, "books.acme.com", true),
            (a, "app.acme.com", true),
            (a, "pending.acme.com", false),
            (gone, "gone.example.com", true),
        ] {
            let domain = DomainName::parse(domain).unwrap();
            registry
                .add_tenant_domain(tenant, &domain, verified)
                .await
                .unwrap();
        }
        registry
            .set_tenant_status(gone, TenantStatus::Deleted, None, audit(gone))
            .await
            .unwrap();

        let entries = registry.directory_entries().await.unwrap();
        let acme = DirectoryEntry {
            id: a,
            subdomain: "acme".into(),
            status: TenantStatus::Active,
            domains: vec!["app.acme.com".into(), "books.acme.com".into()],
            fence: None,
            storage_exceeded: false,
        };
        let beta = DirectoryEntry {
            id: b,
            subdomain: "beta".into(),
            status: TenantStatus::Provisioning,
            domains: vec![],
            fence: None,
            storage_exceeded: false,
        };
        assert_eq!(entries, [acme.clone(), beta.clone()], "{dialect:?}");
        assert_eq!(registry.directory_entry(a).await.unwrap(), Some(acme));
        assert_eq!(registry.directory_entry(b).await.unwrap(), Some(beta));
        for missing in [gone, TenantId::new()] {
            assert_eq!(registry.directory_entry(missing).await.unwrap(), None);
        }
    }
}

/// PostgreSQL only: ids come from a sequence, so only the ordering lock keeps a late commit from
/// slipping in below an id a reader has already passed. A trigger stalls one writer between
/// taking its id and committing, which opens that window wide on every run.
#[tokio::test]
async fn concurrent_changes_are_seen_in_order_exactly_once() {
    const WRITERS: usize = 20;
    const ROUNDS: usize = 3;
    let db = TestDb::new(Dialect::Postgres).await;
    let registry = registry(&db).await;
    let mut tenants = Vec::new();
    for i in 0..WRITERS {
        tenants.push(reserve(&registry, &format!("tenant-{i}")).await);
    }
    let slow = tenants[0];
    registry
        .connection()
        .execute_unprepared(&format!(
            "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.tenant_id = '{slow}' THEN PERFORM pg_sleep(0.2); END IF; RETURN NEW; \
             END $$; \
             CREATE TRIGGER stall AFTER INSERT ON registry_changes \
                 FOR EACH ROW EXECUTE FUNCTION stall();"
        ))
        .await
        .unwrap();
    let start = registry.latest_change_id().await.unwrap();

    let writers: Vec<_> = tenants
        .iter()
        .map(|&tenant| {
            let registry = registry.clone();
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let status = [TenantStatus::Active, TenantStatus::Suspended][round % 2];
                    registry
                        .set_tenant_status(tenant, status, None, audit(tenant))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    // The poller runs until it reaches the newest id, known once every writer is done.
    let end = Arc::new(AtomicI64::new(i64::MAX));
    let poller = {
        let (registry, end) = (registry.clone(), end.clone());
        tokio::spawn(async move {
            let (mut last, mut seen) = (start, Vec::new());
            while last < end.load(Ordering::SeqCst) {
                let batch = registry.changes_since(last, 4).await.unwrap();
                assert!(!batch.gap);
                for change in batch.changes {
                    assert!(change.id > last, "{} seen after {last}", change.id);
                    last = change.id;
                    seen.push(change.id);
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    end.store(registry.latest_change_id().await.unwrap(), Ordering::SeqCst);
    let seen = poller.await.unwrap();
    let all = registry.changes_since(start, 1000).await.unwrap().changes;
    let all: Vec<i64> = all.iter().map(|c| c.id).collect();
    assert_eq!(seen, all, "every committed change, once, in order");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), WRITERS * ROUNDS);
}

#[tokio::test]
async fn a_listener_wakes_within_a_second_of_a_commit() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let Some(mut listener) = registry.change_listener().await.unwrap() else {
            assert_eq!(dialect, Dialect::Sqlite, "only SQLite has no listener");
            continue;
        };
        let tenant = reserve(&registry, "acme").await;
        tokio::time::timeout(Duration::from_secs(1), listener.recv())
            .await
            .expect("woken within 1 s")
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), listener.recv())
                .await
                .is_err(),
            "no wake-up without a change"
        );

        // Another process (its own pool) commits; this one wakes.
        let other = registry_on(&db).await;
        let commit = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            other.record_plan_change(tenant).await.unwrap();
        });
        tokio::time::timeout(Duration::from_secs(1), listener.recv())
            .await
            .expect("woken within 1 s of another process's commit")
            .unwrap();
        commit.await.unwrap();
        let newest = registry.changes_since(0, 10).await.unwrap().changes;
        assert_eq!(newest.last().map(|c| c.kind), Some(ChangeKind::Plan));
    }
}
