//! Isolation: each tenant sees only its own ledgers; its token opens nothing elsewhere.

use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

use super::support::host;
use crate::common::{TestApp, assert_error, unique};

async fn tenants_see_only_their_own_ledgers(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let (a, b) = (unique("a"), unique("b"));
    app.create(&a).await;
    app.create(&b).await;
    let (token_a, token_b) = (app.login(&a).await, app.login(&b).await);
    let token = |sub: &str| {
        if sub == a {
            token_a.clone()
        } else {
            token_b.clone()
        }
    };

    let res = app
        .post(&host(&a), "/api/v1/ledgers")
        .bearer_auth(&token_a)
        .json(&json!({"code": "9100", "name": "Only A", "type": "expense"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().contains_key("x-request-id"));
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["code"], "9100");
    assert_eq!(created["type"], "expense");

    let list = |sub: String| {
        let req = app
            .get(&host(&sub), "/api/v1/ledgers?limit=100")
            .bearer_auth(token(&sub));
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let on_a = list(a.clone()).await;
    let on_b = list(b.clone()).await;
    let codes = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(codes(&on_a).contains(&"9100".to_owned()));
    assert!(!codes(&on_b).contains(&"9100".to_owned()));
    assert_eq!(on_a["total"], on_b["total"].as_u64().unwrap() + 1);
    assert_eq!(on_a["page"], 1);
    assert_eq!(on_a["limit"], 100);

    // Uppercase and a trailing dot name the same tenant.
    let res = app
        .get(
            &format!("{}.LOCALHOST.", a.to_uppercase()),
            "/api/v1/ledgers?limit=1&page=2",
        )
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], on_a["total"]);

    // The same code on B is B's own business; a duplicate on A is a conflict.
    let post = |sub: &str, body: Value| {
        app.post(&host(sub), "/api/v1/ledgers")
            .bearer_auth(token(sub))
            .json(&body)
            .send()
    };
    let ledger = json!({"code": "9100", "name": "B's own", "type": "asset"});
    assert_eq!(post(&b, ledger.clone()).await.unwrap().status(), 201);
    assert_error(post(&a, ledger).await.unwrap(), 409, "conflict").await;

    let body = assert_error(
        post(&a, json!({"code": "9200", "name": "X", "type": "bogus"}))
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "type");
    let body = assert_error(
        app.get(&host(&a), "/api/v1/ledgers?limit=1000&page=0")
            .bearer_auth(&token_a)
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["page", "limit"]);

    // A's token is no key to B; no token, a forged one or a wrong password gets nothing.
    let res = app
        .get(&host(&b), "/api/v1/ledgers")
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "wrong_tenant").await;
    let res = app.get(&host(&b), "/api/v1/ledgers").send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_error(res, 401, "unauthorized").await;
    let forged = format!("{}x", &token_b[..token_b.len() - 1]);
    let res = app
        .get(&host(&b), "/api/v1/ledgers")
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
    for (email, password) in [
        (format!("admin@{a}.example"), "wrong"),
        ("nobody@x.example".into(), "tenant-admin-pw"),
    ] {
        let res = app
            .post(&host(&a), "/api/v1/auth/login")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_error(res, 401, "invalid_credentials").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_see_only_their_own_ledgers_sqlite() {
    tenants_see_only_their_own_ledgers(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_see_only_their_own_ledgers_postgres() {
    tenants_see_only_their_own_ledgers(Dialect::Postgres).await;
}
