//! End to end over HTTP: tenant routing by Host, status gating, isolation, JSON errors.

mod common;

use common::{TestApp, assert_error, unique};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tenantry_provision::Step;
use tenantry_registry::Actor;
use tenantry_test_utils::{Dialect, pg_admin};

fn host(sub: &str) -> String {
    format!("{sub}.localhost")
}

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

#[tokio::test(flavor = "multi_thread")]
async fn status_gating_follows_the_design_table() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let active = unique("on");
    let suspended = unique("off");
    let provisioning = unique("new");
    let active_row = app.create(&active).await;
    app.create(&suspended).await;
    app.provisioner
        .suspend(&suspended.as_str().into(), "unpaid", &Actor::System.into())
        .await
        .unwrap();
    app.create_stopped_after(&provisioning, Step::Migrate).await;

    let token = app.token(&active_row);
    let get = |sub: &str| {
        app.get(&host(sub), "/api/v1/ledgers")
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get(&active).await.unwrap().status(), 200);
    let body = assert_error(get(&suspended).await.unwrap(), 403, "tenant_suspended").await;
    assert!(
        !body.to_string().contains("unpaid"),
        "reason leaked: {body}"
    );
    let res = get(&provisioning).await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 503, "tenant_provisioning").await;
    assert_error(get("nosuch").await.unwrap(), 404, "tenant_not_found").await;
    // The apex serves no tenant, and neither do nested or foreign hosts.
    for other in [
        "localhost",
        &format!("x.{active}.localhost"),
        "example.com",
        "127.0.0.1",
    ] {
        assert_error(
            app.get(other, "/api/v1/ledgers").send().await.unwrap(),
            404,
            "tenant_not_found",
        )
        .await;
    }
    // Gating comes before routing: an unknown route of a suspended tenant is still 403.
    assert_error(
        app.get(&host(&suspended), "/api/v1/nope")
            .send()
            .await
            .unwrap(),
        403,
        "tenant_suspended",
    )
    .await;
    assert_error(
        app.get(&host(&active), "/api/v1/nope")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_hosts_get_a_4xx_json_answer() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let long = "a".repeat(300);
    let corpus: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"127.0.0.1".to_vec(),
        b"[::1]:8080".to_vec(),
        b":8080".to_vec(),
        b"ACME.LOCALHOST".to_vec(),
        b"acme.localhost.".to_vec(),
        "acmé.localhost".as_bytes().to_vec(),
        b"\xff\xfe.localhost".to_vec(),
        long.as_bytes().to_vec(),
        format!("{long}.localhost").into_bytes(),
        b"..".to_vec(),
        b"acme..localhost".to_vec(),
        b"a.b.localhost".to_vec(),
        b"acme.localhost:99999".to_vec(),
        b"acme.localhost:port".to_vec(),
        b"-acme.localhost".to_vec(),
        b"a_b.localhost".to_vec(),
        b"user@acme.localhost".to_vec(),
    ];
    for host in corpus {
        let mut req = b"GET /api/v1/ledgers HTTP/1.1\r\nHost: ".to_vec();
        req.extend_from_slice(&host);
        req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let (status, body) = app.raw(&req).await;
        let shown = String::from_utf8_lossy(&host);
        assert!((400..500).contains(&status), "{shown:?} → {status}");
        let json: Value = serde_json::from_str(body.trim())
            .unwrap_or_else(|e| panic!("{shown:?} → {status} non-JSON body {body:?}: {e}"));
        assert!(json["error"]["code"].is_string(), "{shown:?} → {json}");
    }
    // No Host at all (HTTP/1.0).
    let (status, _) = app.raw(b"GET /api/v1/ledgers HTTP/1.0\r\n\r\n").await;
    assert!((400..500).contains(&status), "no Host → {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_and_routes_get_json_errors() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let t = unique("j");
    let row = app.create(&t).await;
    let token = app.token(&row);
    let post = || app.post(&host(&t), "/api/v1/ledgers").bearer_auth(&token);

    let res = post()
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_json").await;
    let res = post()
        .header("content-type", "application/json")
        .body(format!("{{\"code\":\"{}\"}}", "x".repeat(100 * 1024)))
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "payload_too_large").await;
    let res = post()
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
    let res = post().json(&json!({"code": "1"})).send().await.unwrap();
    assert_error(res, 422, "validation_failed").await;
    let res = app
        .client
        .delete(app.url("/api/v1/ledgers"))
        .header("host", host(&t))
        .send()
        .await
        .unwrap();
    assert_error(res, 405, "method_not_allowed").await;
    assert_error(
        app.get("localhost", "/nowhere").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let res = app
        .get(&host(&t), "/api/v1/ledgers?limit=%zz")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
}

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

#[tokio::test(flavor = "multi_thread")]
async fn status_changes_made_elsewhere_are_seen_within_a_second() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let sub = unique("re");
    let row = app.create(&sub).await;
    let token = app.token(&row);
    let get = || {
        app.get(&host(&sub), "/api/v1/ledgers")
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    app.provisioner
        .suspend(&sub.as_str().into(), "audit", &Actor::System.into())
        .await
        .unwrap();
    app.provisioner
        .reactivate(&sub.as_str().into(), &Actor::System.into())
        .await
        .unwrap();
    app.provisioner
        .suspend(&sub.as_str().into(), "audit", &Actor::System.into())
        .await
        .unwrap();
    // The status changed behind the server's back (as from the CLI): seen within the TTL.
    let wait_for = |want: u16| async move {
        // The registry change feed: every `serve` sees a change within a second.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let status = get().await.unwrap().status().as_u16();
            if status == want || std::time::Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    assert_eq!(wait_for(403).await, 403, "suspension not seen within 1 s");
    app.provisioner
        .reactivate(&sub.as_str().into(), &Actor::System.into())
        .await
        .unwrap();
    assert_eq!(wait_for(200).await, 200, "reactivation not seen within 1 s");
}

/// A verified custom domain serves its tenant like the subdomain does; an unverified or unknown
/// domain is nobody's; a token still only works on the tenant it names.
#[tokio::test(flavor = "multi_thread")]
async fn verified_custom_domains_route_to_their_tenant() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let (a, b) = (unique("dom-a"), unique("dom-b"));
    let tenant_a = app.create(&a).await;
    let tenant_b = app.create(&b).await;
    let (token_a, token_b) = (app.login(&a).await, app.login(&b).await);
    let verified = tenantry_core::DomainName::parse(&format!("Books.{a}.test")).unwrap();
    let pending = tenantry_core::DomainName::parse(&format!("books.{b}.test")).unwrap();
    app.registry
        .add_tenant_domain(tenant_a.id, &verified, true)
        .await
        .unwrap();
    app.registry
        .add_tenant_domain(tenant_b.id, &pending, false)
        .await
        .unwrap();

    let ledgers = |host: String, token: String| {
        app.get(&host, "/api/v1/ledgers?limit=1")
            .bearer_auth(token)
            .send()
    };
    let res = ledgers(format!("books.{a}.test"), token_a.clone())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let via_domain: Value = res.json().await.unwrap();
    let via_subdomain: Value = ledgers(host(&a), token_a.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_domain["total"], via_subdomain["total"]);

    // B's token on A's domain is B's token on A.
    assert_error(
        ledgers(format!("BOOKS.{a}.TEST."), token_b.clone())
            .await
            .unwrap(),
        403,
        "wrong_tenant",
    )
    .await;
    // Claimed but not verified: routes nowhere, even with the owner's token.
    assert_error(
        ledgers(format!("books.{b}.test"), token_b).await.unwrap(),
        404,
        "tenant_not_found",
    )
    .await;
    assert_error(
        ledgers("unknown.example.org".into(), token_a)
            .await
            .unwrap(),
        404,
        "tenant_not_found",
    )
    .await;
}
