//! Create → suspend → reactivate → delete → reuse, on PostgreSQL and SQLite, and cross-tenant
//! isolation by real connection attempts.

mod common;

use common::{Env, count};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use secrecy::ExposeSecret;
use tenantry_provision::ProvisionError;
use tenantry_registry::{Actor, TenantStatus};
use tenantry_test_utils::{Dialect, pg_admin, pg_admin_url};

#[tokio::test]
async fn full_lifecycle_leaves_nothing_behind() {
    for backend in Dialect::ALL {
        let env = Env::new(backend).await;
        let p = env.provisioner();
        let acme = env.create(&p, "acme").await;
        assert_eq!(acme.status, TenantStatus::Active, "{backend:?}");
        assert_eq!(
            acme.schema_version,
            tenantry_app::MIGRATIONS
                .latest_version(common::dialect(backend))
                .unwrap()
        );
        assert_eq!(acme.server.is_some(), backend == Dialect::Postgres);
        assert!(acme.db_name.starts_with("t_acme_"), "{}", acme.db_name);

        let conn = p.connect_tenant(&acme).await.unwrap();
        assert!(
            count(&conn, "SELECT COUNT(*) FROM ledgers").await >= 10,
            "chart of accounts seeded"
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM users WHERE email = 'admin@acme.example'"
            )
            .await,
            1
        );
        conn.close().await.unwrap();

        let created: Vec<_> = env
            .registry
            .recent_audit(10)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.action == "tenant.create")
            .collect();
        assert_eq!(created.len(), 1, "{backend:?}: {created:?}");
        assert_eq!(
            (
                created[0].actor.as_str(),
                created[0].tenant,
                &created[0].detail["subdomain"]
            ),
            ("cli:test", Some(acme.id), &serde_json::json!("acme")),
            "{backend:?}"
        );

        if let Some(role) = &acme.db_user {
            // The plan's maximum for the serving pool, plus room for Tenantry's own sessions.
            let limit = count(
                &pg_admin().await,
                &format!("SELECT rolconnlimit::bigint FROM pg_roles WHERE rolname = '{role}'"),
            )
            .await;
            let plan = env.registry.plan_by_id(&acme.plan).await.unwrap();
            assert_eq!(
                limit,
                i64::from(plan.max_connections)
                    + i64::from(tenantry_provision::RESERVED_ROLE_CONNECTIONS)
            );
        }

        let suspended = p
            .suspend(&"acme".into(), "unpaid invoice", &Actor::System.into())
            .await
            .unwrap();
        assert_eq!(suspended.status, TenantStatus::Suspended);
        assert_eq!(suspended.status_reason.as_deref(), Some("unpaid invoice"));
        if backend == Dialect::Postgres {
            let refused = p.connect_tenant(&suspended).await;
            assert!(
                matches!(refused, Err(ProvisionError::TenantConnect { .. })),
                "suspended role still logs in"
            );
        }
        let reactivated = p
            .reactivate(&"acme".into(), &Actor::System.into())
            .await
            .unwrap();
        assert!(
            reactivated.migration.is_none(),
            "already at the latest schema"
        );
        let active = reactivated.tenant;
        assert_eq!(active.status, TenantStatus::Active);
        assert_eq!(active.status_reason, None);
        p.connect_tenant(&active)
            .await
            .expect("reactivated role logs in")
            .close()
            .await
            .unwrap();

        let wrong = p
            .delete(&"acme".into(), "acme-typo", &Actor::System.into())
            .await;
        assert!(
            matches!(wrong, Err(ProvisionError::Confirmation { .. })),
            "{wrong:?}"
        );
        assert!(
            !env.leftovers(&acme.db_name).await.is_empty(),
            "a refused delete must not touch the database"
        );

        let deleted = p
            .delete(&"acme".into(), "acme", &Actor::System.into())
            .await
            .unwrap();
        assert_eq!(deleted.status, TenantStatus::Deleted);
        assert!(deleted.deleted_at.is_some());
        assert_eq!(
            env.leftovers(&acme.db_name).await,
            Vec::<String>::new(),
            "{backend:?}"
        );
        assert!(matches!(
            p.suspend(&"acme".into(), "x", &Actor::System.into()).await,
            Err(ProvisionError::Registry(_))
        ));

        let again = env.create(&p, "acme").await;
        assert_ne!(again.id, acme.id);
        assert_ne!(again.db_name, acme.db_name);
        let audit: Vec<String> = env
            .registry
            .recent_audit(10)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert!(
            audit.contains(&"tenant.suspend".to_owned())
                && audit.contains(&"tenant.delete".to_owned()),
            "{audit:?}"
        );
        p.delete(&"acme".into(), "acme", &Actor::System.into())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_tenant_role_reaches_only_its_own_database() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    let a = env.create(&p, "alpha").await;
    let b = env.create(&p, "bravo").await;
    let a_password = env.registry.tenant_db_password(&a).unwrap().unwrap();

    let server = url::Url::parse(&pg_admin_url()).unwrap();
    let as_a = |database: &str| {
        let mut url = server.clone();
        url.set_username(a.db_user.as_deref().unwrap()).unwrap();
        url.set_password(Some(a_password.expose_secret())).unwrap();
        url.set_path(database);
        let mut options = ConnectOptions::new(url.to_string());
        options.max_connections(1).sqlx_logging(false);
        options
    };
    let own = Database::connect(as_a(&a.db_name))
        .await
        .expect("alpha reaches its own database");
    own.close().await.unwrap();

    let master_name = env.master.url().rsplit_once('/').unwrap().1.to_owned();
    for other in [b.db_name.as_str(), master_name.as_str()] {
        let err = Database::connect(as_a(other))
            .await
            .expect_err("cross-database connection must fail");
        assert!(
            err.to_string().contains("permission denied"),
            "{other}: {err}"
        );
    }
    for t in ["alpha", "bravo"] {
        p.delete(&t.into(), t, &Actor::System.into()).await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_subdomain_let_exactly_one_win() {
    for backend in Dialect::ALL {
        let env = Env::new(backend).await;
        let (p1, p2) = (env.provisioner(), env.provisioner());
        let (r1, r2) = tokio::join!(
            p1.create(common::request("race")),
            p2.create(common::request("race"))
        );
        let (ok, err) = match (r1, r2) {
            (Ok(ok), Err(err)) | (Err(err), Ok(ok)) => (ok, err),
            (a, b) => panic!(
                "{backend:?}: expected one winner, got {:?} and {:?}",
                a.map(|c| c.tenant.id),
                b.map(|c| c.tenant.id)
            ),
        };
        assert!(err.is_conflict(), "{backend:?}: loser got {err}");
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(ok.tenant.status, TenantStatus::Active);
        let live = env.registry.list_tenants(None).await.unwrap();
        assert_eq!(live.len(), 1, "{backend:?}: {live:?}");
        p1.delete(&"race".into(), "race", &Actor::System.into())
            .await
            .unwrap();
    }
}

/// A deletion that stopped after dropping the role (a crash before the status was written, or a
/// second `delete` racing the first) is finished by running it again, not stuck on the missing
/// role.
#[tokio::test]
async fn a_delete_interrupted_after_dropping_the_role_can_be_finished() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    let t = env.create(&p, "halfgone").await;
    let admin = pg_admin().await;
    // What a crash right after `drop_role` leaves: no database, no role, a live registry row.
    for sql in [
        format!(r#"DROP DATABASE "{}" WITH (FORCE)"#, t.db_name),
        format!(r#"DROP ROLE "{}""#, t.db_name),
    ] {
        admin.execute_unprepared(&sql).await.unwrap();
    }

    let deleted = p
        .delete(&"halfgone".into(), "halfgone", &Actor::System.into())
        .await
        .unwrap();
    assert_eq!(deleted.status, TenantStatus::Deleted);
    assert_eq!(env.leftovers(&t.db_name).await, Vec::<String>::new());
}

/// Creation commits with `synchronous = NORMAL` on SQLite and makes everything durable with one
/// checkpoint before activating: by then the file holds the schema and the seed, the WAL is
/// empty, and the journal mode every opener sets is WAL.
#[tokio::test]
async fn a_created_sqlite_tenant_is_checkpointed_into_its_file_before_activation() {
    let env = Env::new(Dialect::Sqlite).await;
    let p = env.provisioner();
    let acme = env.create(&p, "acme").await;
    let path = env
        .master
        .dir()
        .join("tenants")
        .join(format!("{}.db", acme.db_name));
    // stat only: opening and closing the file here would drop SQLite's POSIX locks.
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size >= 4096 * 8,
        "schema and seed are in the file: {size} bytes"
    );
    let wal = std::fs::metadata(format!("{}-wal", path.display())).map(|m| m.len());
    assert!(
        matches!(wal, Err(_) | Ok(0)),
        "nothing left only in the WAL: {wal:?}"
    );

    let conn = p.connect_tenant(&acme).await.unwrap();
    let mode = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<String>(0)
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(count(&conn, "SELECT COUNT(*) FROM ledgers").await >= 10);
    conn.close().await.unwrap();
}

/// One running operation per tenant: while one runs (here: left running as by a crash), the
/// others are refused as busy, and nothing about the tenant changes; racing deletes leave one
/// winner, and the loser sees "busy", "already deleted" or (when the winner finished first) "not
/// found".
#[tokio::test]
async fn operations_on_one_tenant_exclude_each_other() {
    for backend in Dialect::ALL {
        let env = Env::new(backend).await;
        let p = env.provisioner();
        let acme = env.create(&p, "acme").await;
        let id = acme.id;
        let running = env
            .registry
            .start_operation(
                tenantry_registry::OperationKind::TenantSuspend,
                Some(id),
                "status",
                serde_json::json!({}),
                None,
            )
            .await
            .unwrap();
        let busy = |r: Result<_, ProvisionError>| {
            matches!(
                r,
                Err(ProvisionError::Registry(
                    tenantry_registry::RegistryError::Busy { .. }
                ))
            )
        };
        assert!(
            busy(
                p.suspend(&"acme".into(), "unpaid", &Actor::System.into())
                    .await
            ),
            "{backend:?}"
        );
        assert!(busy(
            p.reactivate(&"acme".into(), &Actor::System.into())
                .await
                .map(|r| r.tenant)
        ));
        assert!(busy(
            p.delete(&"acme".into(), "acme", &Actor::System.into())
                .await
        ));
        let unchanged = env.registry.find_tenant(&"acme".into()).await.unwrap();
        assert_eq!(unchanged.status, TenantStatus::Active, "{backend:?}");

        // `reconcile` closes what a crash left running; then the tenant is free again.
        env.registry
            .finish_operation(running.id, tenantry_registry::OperationState::Failed, None)
            .await
            .unwrap();
        let suspended = p
            .suspend(&"acme".into(), "unpaid", &Actor::System.into())
            .await
            .unwrap();
        assert_eq!(suspended.status, TenantStatus::Suspended);

        let (acme_ref, origin) = ("acme".into(), Actor::System.into());
        let (one, two) = tokio::join!(
            p.delete(&acme_ref, "acme", &origin),
            p.delete(&acme_ref, "acme", &origin)
        );
        let won = [&one, &two].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{backend:?}: {one:?} {two:?}");
        for lost in [one, two].into_iter().filter_map(Result::err) {
            assert!(
                matches!(
                    lost,
                    ProvisionError::Registry(
                        tenantry_registry::RegistryError::Busy { .. }
                            | tenantry_registry::RegistryError::NotFound { .. }
                    ) | ProvisionError::InvalidState { .. }
                ),
                "{backend:?}: {lost}"
            );
        }
        assert!(env.leftovers(&acme.db_name).await.is_empty(), "{backend:?}");
        let running: Vec<_> = env
            .registry
            .stale_operations(chrono::Utc::now())
            .await
            .unwrap();
        assert!(running.is_empty(), "{backend:?}: {running:?}");
    }
}
