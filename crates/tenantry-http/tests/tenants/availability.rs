//! Availability: a dead tenant database fails that tenant only; health and readiness.

use sea_orm::{ConnectionTrait, Statement};
use tenantry_test_utils::{Dialect, pg_admin};

use super::support::host;
use crate::common::{TestApp, assert_error, unique};

async fn dead_database_is_503_for_that_tenant_only(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let (dead, alive) = (unique("dead"), unique("live"));
    let dead_row = app.create(&dead).await;
    let alive_row = app.create(&alive).await;
    let (dead_token, alive_token) = (app.token(&dead_row), app.token(&alive_row));
    match dialect {
        Dialect::Sqlite => {
            // Removed by another process: this one may hold the file open (never read it here).
            let file = app
                .master
                .dir()
                .join("tenants")
                .join(format!("{}.db", dead_row.db_name));
            let status = std::process::Command::new("rm")
                .arg("-f")
                .arg(&file)
                .arg(format!("{}-wal", file.display()))
                .arg(format!("{}-shm", file.display()))
                .status()
                .unwrap();
            assert!(status.success());
        }
        Dialect::Postgres => {
            let admin = pg_admin().await;
            admin
                .execute_raw(Statement::from_string(
                    admin.get_database_backend(),
                    format!("DROP DATABASE \"{}\" WITH (FORCE)", dead_row.db_name),
                ))
                .await
                .unwrap();
        }
    }
    for _ in 0..3 {
        let res = app
            .get(&host(&dead), "/api/v1/ledgers")
            .bearer_auth(&dead_token)
            .send()
            .await
            .unwrap();
        assert!(res.headers().contains_key("retry-after"));
        assert_error(res, 503, "database_unavailable").await;
        let res = app
            .get(&host(&alive), "/api/v1/ledgers")
            .bearer_auth(&alive_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_database_is_503_for_that_tenant_only_sqlite() {
    dead_database_is_503_for_that_tenant_only(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_database_is_503_for_that_tenant_only_postgres() {
    dead_database_is_503_for_that_tenant_only(Dialect::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness() {
    let app = TestApp::spawn_with(Dialect::Sqlite, |s| s.registry.max_stale_secs = 3).await;
    for host in ["localhost", "anything.localhost", "127.0.0.1"] {
        let res = app.get(host, "/healthz").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key("x-request-id"));
        assert_eq!(app.get(host, "/readyz").send().await.unwrap().status(), 200);
    }
    // The master goes away: degraded (known tenants are still served), then, past
    // `registry.max_stale_secs`, not ready.
    app.registry.connection().clone().close().await.unwrap();
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    loop {
        let res = app.get("localhost", "/readyz").send().await.unwrap();
        if res.status() == 503 {
            assert_error(res, 503, "registry_unavailable").await;
            break;
        }
        let body: serde_json::Value = res.json().await.unwrap();
        let status = body["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "{seen:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("degraded"),
        "{seen:?}"
    );
    assert_eq!(
        app.get("localhost", "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
