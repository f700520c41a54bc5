//! `reconcile` under contention, on PostgreSQL: two runs at once over the same crashed creates
//! (their `DROP ROLE`s collide on the catalog: `tuple concurrently deleted`), and an operation on
//! an unreachable server next to one on a healthy server.

mod common;

use std::net::TcpListener;
use std::time::Duration;
use tenantry_core::Subdomain;

use common::{Env, SERVER, request};
use tenantry_core::ServerName;
use tenantry_provision::reconcile::{Drift, DriftScope, Outcome, ReconcileReport};
use tenantry_provision::{Provisioner, Step};
use tenantry_registry::{NewServer, ServerDialect};
use tenantry_test_utils::{Dialect, pg_admin_url};
use tokio::net::TcpStream;

const ROUNDS: usize = 3;
const STEPS: [Step; 4] = [Step::Role, Step::Database, Step::Migrate, Step::Seed];

fn on(server: &str, subdomain: &str) -> tenantry_provision::CreateTenant {
    let mut req = request(subdomain);
    req.server = Some(ServerName::parse(server).unwrap());
    req
}

fn outcome_of<'a>(report: &'a ReconcileReport, subdomain: &str) -> &'a Outcome {
    &report
        .operations
        .iter()
        .find(|r| r.subdomain.as_deref() == Some(subdomain))
        .unwrap_or_else(|| panic!("no operation of {subdomain}: {report:?}"))
        .outcome
}

#[tokio::test]
async fn two_reconciles_at_once_both_resolve_every_crashed_create() {
    let env = Env::new(Dialect::Postgres).await;
    for round in 0..ROUNDS {
        let mut db_names = Vec::new();
        for (i, step) in STEPS.into_iter().enumerate() {
            let crashing = env.provisioner().with_failpoint(Some(step));
            crashing
                .create(request(&format!("race-{round}-{i}")))
                .await
                .unwrap_err();
        }
        for op in env
            .registry
            .stale_operations(chrono::Utc::now())
            .await
            .unwrap()
        {
            db_names.push(op.params["db_name"].as_str().unwrap().to_owned());
        }
        assert_eq!(db_names.len(), STEPS.len());

        // Two processes' worth: separate admin pools, the same operations, the same moment.
        let (a, b) = (env.provisioner(), env.provisioner());
        let (ra, rb) = tokio::join!(
            a.reconcile(Duration::ZERO, DriftScope::Catalog),
            b.reconcile(Duration::ZERO, DriftScope::Catalog),
        );
        for report in [ra.unwrap(), rb.unwrap()] {
            let failed: Vec<_> = report
                .operations
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
                .collect();
            assert!(failed.is_empty(), "round {round}: {failed:?}");
        }
        assert!(
            env.registry
                .stale_operations(chrono::Utc::now())
                .await
                .unwrap()
                .is_empty(),
            "round {round}: every operation closed"
        );
        for db in &db_names {
            assert_eq!(env.leftovers(db).await, Vec::<String>::new(), "{db}");
        }
    }
}

/// Forwards `port` on loopback to the test server: a server that comes up where nothing
/// listened.
async fn bring_up(port: u16) -> tokio::task::JoinHandle<()> {
    let target = url::Url::parse(&pg_admin_url()).unwrap();
    let target = format!(
        "{}:{}",
        target.host_str().unwrap(),
        target.port().unwrap_or(5432)
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let mut outbound = TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    })
}

#[tokio::test]
async fn an_unreachable_server_fails_its_operation_alone_and_a_rerun_resolves_it() {
    let env = Env::new(Dialect::Postgres).await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.registry
        .add_server(
            NewServer {
                name: ServerName::parse("pg-later").unwrap(),
                dialect: ServerDialect::Postgres,
                url: format!("postgres://postgres@127.0.0.1:{port}"),
                admin_password: None,
                capacity: 10,
            },
            tenantry_registry::Origin::from(tenantry_registry::Actor::System).entry(
                "server.add",
                None,
                serde_json::json!({}),
            ),
        )
        .await
        .unwrap();

    // Its first step fails and so does its rollback: the operation stays running, and the
    // caller is told the cause, not that the cleanup failed.
    let err = env
        .provisioner()
        .create(on("pg-later", "stuck"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("connection refused"), "{err}");
    env.provisioner()
        .with_failpoint(Some(Step::Database))
        .create(on(SERVER, "healthy"))
        .await
        .unwrap_err();

    let p: Provisioner = env.provisioner();
    let report = p
        .reconcile(Duration::ZERO, DriftScope::Catalog)
        .await
        .unwrap();
    assert_eq!(outcome_of(&report, "healthy"), &Outcome::RolledBack);
    assert!(
        matches!(outcome_of(&report, "stuck"), Outcome::Failed(e) if e.contains("connection refused")),
        "{report:?}"
    );
    assert!(
        report.drift.iter().any(|d| matches!(d,
            Drift::Unreachable { server, error }
                if server == "pg-later" && error.contains("connection refused"))),
        "{:?}",
        report.drift
    );

    let server = bring_up(port).await;
    let again = p
        .reconcile(Duration::ZERO, DriftScope::Catalog)
        .await
        .unwrap();
    server.abort();
    assert_eq!(again.operations.len(), 1, "{again:?}");
    assert_eq!(outcome_of(&again, "stuck"), &Outcome::RolledBack);
    assert!(
        env.registry
            .live_tenant_by_subdomain(&Subdomain::parse("stuck", &[]).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.registry
            .stale_operations(chrono::Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
}
