//! Feature flags and limits: operators set a tenant's own flags with `PATCH
//! /admin/v1/tenants/{id}` (validated, audited); the tenant's users read their plan, limits and
//! effective flags (the plan's, overridden by the tenant's) at `GET /api/v1/tenant`, at once.

mod common;

use common::admin::APEX;
use common::{TestApp, assert_error, unique};
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

async fn account(app: &TestApp, host: &str, token: &str) -> Value {
    let res = app
        .get(host, "/api/v1/tenant")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn flags_and_limits(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let operator = app.admin_token("operator").await;
    let subdomain = unique("flags");
    app.create(&subdomain).await;
    let host = format!("{subdomain}.localhost");
    let user = app.login(&subdomain).await;

    // The plan's flags, as an operator would set them in the master.
    let master = app.master.connect().await;
    let sql = "UPDATE plans SET features = '{\"invoices\": true, \"exports\": false, \"tier\": 2}' \
               WHERE id = 'standard'";
    let backend = master.get_database_backend();
    master
        .execute_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();

    let seen = account(&app, &host, &user).await;
    assert_eq!(seen["plan"], "standard", "{seen}");
    assert_eq!(seen["max_users"], 50, "{seen}");
    assert_eq!(
        seen["features"],
        json!({ "exports": false, "invoices": true }),
        "{seen}"
    );

    let path = format!("/admin/v1/tenants/{subdomain}");
    let patch = |body: Value| {
        app.admin_patch(&path)
            .bearer_auth(&operator)
            .json(&body)
            .send()
    };
    let res = patch(json!({ "features": { "exports": true, "beta_reports": true } }));
    let view: Value = res.await.unwrap().json().await.unwrap();
    assert_eq!(
        view["features"],
        json!({ "beta_reports": true, "exports": true }),
        "{view}"
    );
    let seen = account(&app, &host, &user).await;
    let effective = json!({ "beta_reports": true, "exports": true, "invoices": true });
    assert_eq!(
        seen["features"], effective,
        "the tenant's override wins: {seen}"
    );

    for bad in [
        json!({ "Exports": true }),
        json!({ "9lives": true }),
        json!({ "": true }),
    ] {
        let res = patch(json!({ "features": bad })).await.unwrap();
        assert_error(res, 422, "validation_failed").await;
    }
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("f{i}"), json!(true))).collect();
    let res = patch(json!({ "features": many })).await.unwrap();
    assert_error(res, 422, "validation_failed").await;
    let res = patch(json!({ "features": { "exports": "yes" } }))
        .await
        .unwrap();
    assert_error(res, 422, "validation_failed").await;

    // A plan change shows at once; the flags the tenant carries stay.
    let res = patch(json!({ "plan": "free" })).await.unwrap();
    assert_eq!(res.status(), 200);
    let seen = account(&app, &host, &user).await;
    assert_eq!(
        (seen["plan"].clone(), seen["max_users"].clone()),
        (json!("free"), json!(5))
    );
    assert_eq!(
        seen["features"],
        json!({ "beta_reports": true, "exports": true }),
        "{seen}"
    );

    let audit = app.get(APEX, "/admin/v1/audit?action=tenant.update");
    let body: Value = audit
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        2,
        "one row per accepted change: {body}"
    );

    let res = app.get(&host, "/api/v1/tenant").send().await.unwrap();
    assert_error(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn flags_and_limits_sqlite() {
    flags_and_limits(Dialect::Sqlite).await;
}

#[tokio::test]
async fn flags_and_limits_postgres() {
    flags_and_limits(Dialect::Postgres).await;
}
