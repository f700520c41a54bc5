//! Storage quotas at the tenant API: a tenant measured over its limit has its writes refused
//! with 403 `storage_quota_exceeded` while reads, deletes and sign-ins go on, at every `serve`;
//! a higher limit lets it write again. The size is the database's own (`pg_database_size`, the
//! SQLite file).

mod common;

use chrono::Utc;
use common::admin::APEX;
use common::{TestApp, assert_error, time_until, unique};
use serde_json::{Value, json};
use tenantry_registry::StorageLevel;
use tenantry_test_utils::Dialect;

impl TestApp {
    /// `POST /api/v1/ledgers` on `sub` at the `serve` on `port`; the response.
    async fn post_ledger(
        &self,
        port: u16,
        sub: &str,
        token: &str,
        code: &str,
    ) -> reqwest::Response {
        self.client
            .post(format!("http://127.0.0.1:{port}/api/v1/ledgers"))
            .header("host", format!("{sub}.localhost:{port}"))
            .bearer_auth(token)
            .json(&json!({"code": code, "name": format!("Ledger {code}"), "type": "asset"}))
            .send()
            .await
            .unwrap()
    }

    async fn set_storage_limit(&self, admin: &str, sub: &str, limit_mb: i64) -> Value {
        let res = self
            .admin_patch(&format!("/admin/v1/tenants/{sub}"))
            .bearer_auth(admin)
            .json(&json!({ "storage_limit_mb": limit_mb }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

#[tokio::test]
async fn a_tenant_over_its_limit_reads_but_cannot_write_until_the_limit_is_raised() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let other = app.second_instance();
    let admin = app.admin_token("operator").await;
    let sub = unique("quota");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    let port = app.addr.port();
    let created = app.post_ledger(port, &sub, &token, "9001").await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_i64().expect("the new ledger's id");

    // An empty PostgreSQL database is several MB: a 1 MB limit is exceeded.
    app.set_storage_limit(&admin, &sub, 1).await;
    let level = app.provisioner.check_storage(&tenant, Utc::now()).await;
    assert_eq!(level.unwrap(), Some(StorageLevel::Exceeded));
    for port in [app.addr.port(), other.addr.port()] {
        time_until(403, || async {
            let code = format!("{}", 9100 + port % 100);
            app.post_ledger(port, &sub, &token, &code)
                .await
                .status()
                .as_u16()
        })
        .await;
    }
    let refused = app.post_ledger(port, &sub, &token, "9002").await;
    let body = assert_error(refused, 403, "storage_quota_exceeded").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("storage quota"),
        "{body}"
    );
    // Reads, deletes and signing in go on.
    let chart = app.ledger_codes(&sub, &token).await;
    assert!(chart.contains(&"9001".to_owned()), "{chart:?}");
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/ledgers/{id}")))
        .header("host", app.tenant_host(&sub))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    app.login(&sub).await;

    // Operators see where it stands, and the audit log says when it crossed.
    let shown = app
        .get(APEX, &format!("/admin/v1/tenants/{sub}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(shown["storage_level"], "exceeded", "{shown}");
    assert!(shown["storage_used_mb"].as_f64().unwrap() > 1.0, "{shown}");
    let audit = app.registry.recent_audit(20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "tenant.storage_exceeded" && a.tenant == Some(tenant.id)),
        "{audit:?}"
    );

    // A limit well above its size lets it write again, at both servers.
    let raised = app.set_storage_limit(&admin, &sub, 10_000).await;
    assert_eq!(raised["storage_level"], "ok", "{raised}");
    for port in [app.addr.port(), other.addr.port()] {
        time_until(201, || async {
            let code = format!("{}", 9200 + port % 100);
            app.post_ledger(port, &sub, &token, &code)
                .await
                .status()
                .as_u16()
        })
        .await;
    }
}

#[tokio::test]
async fn a_sqlite_tenant_is_measured_by_its_file() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let sub = unique("quota");
    let tenant = app.create(&sub).await;
    let used = app.provisioner.measure_storage(&tenant).await.unwrap();
    let file = app
        .master
        .dir()
        .join("tenants")
        .join(format!("{}.db", tenant.db_name));
    let on_disk = std::fs::metadata(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .len();
    assert!(used >= on_disk && on_disk > 0, "{used} vs {on_disk}");
    let level = app.provisioner.check_storage(&tenant, Utc::now()).await;
    assert_eq!(level.unwrap(), Some(StorageLevel::Ok));
    let recorded = app.registry.tenant(tenant.id).await.unwrap().unwrap();
    assert_eq!(recorded.storage_used_bytes, Some(used as i64));
}
