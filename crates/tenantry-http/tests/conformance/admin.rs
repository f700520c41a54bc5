//! The admin API's document (`GET /admin/v1/openapi.json`): served on the apex host with no
//! token, complete (every route under `/admin/v1`), every error documented; and, with
//! `TENANTRY_CONFORMANCE=1`, schemathesis against it.

use std::collections::BTreeSet;
use std::path::Path;

use secrecy::ExposeSecret as _;
use serde_json::Value;
use tenantry_registry::AdminRole;
use tenantry_test_utils::Dialect;

use super::common::{TestApp, unique};
use super::{conformance_dialect, documented, run_conformance, scan};

const SPEC: &str = "/admin/v1/openapi.json";

/// `(METHOD, path)` of every route under `/admin/v1`: the scope's own (`admin/mod.rs`) and each
/// route module's.
fn registered_routes() -> BTreeSet<(String, String)> {
    let admin = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/admin");
    let mut files = vec![admin.join("mod.rs")];
    for entry in std::fs::read_dir(admin.join("routes")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut routes = BTreeSet::new();
    for file in files {
        scan(
            &std::fs::read_to_string(&file).unwrap(),
            "/admin/v1",
            &mut routes,
        );
    }
    routes
}

#[tokio::test(flavor = "multi_thread")]
async fn every_admin_route_is_documented_with_its_errors() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    // The admin API, its document included, exists on the apex host only.
    let res = app.get("nobody.localhost", SPEC).send().await.unwrap();
    assert_eq!(res.status(), 404);
    // No token needed.
    let res = app.get("localhost", SPEC).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let spec: Value = res.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let scheme = &spec["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    assert!(
        scheme["description"].as_str().unwrap().contains("tnty_"),
        "{scheme}"
    );

    let routes = registered_routes();
    assert!(routes.len() >= 24, "found only {routes:?}");
    let documented = documented(&spec);
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(missing.is_empty(), "routes not in {SPEC}: {missing:?}");
    let stale: Vec<_> = documented.difference(&routes).collect();
    assert!(
        stale.is_empty(),
        "operations in {SPEC} with no route: {stale:?}"
    );

    let mut operation_ids = BTreeSet::new();
    for (method, path) in &documented {
        let op = &spec["paths"][path][method.to_lowercase()];
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(operation_ids.insert(id), "{id} twice");
        let login = path == "/admin/v1/login";
        let responses = op["responses"].as_object().unwrap();
        let statuses: BTreeSet<&str> = responses.keys().map(String::as_str).collect();
        let mut expected = vec!["400", "404", "408", "413", "503"];
        if !login {
            expected.extend(["401", "403"]);
        }
        if op.get("requestBody").is_some() {
            expected.extend(["415", "422"]);
        }
        let headers: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "header")
            .filter_map(|p| p["name"].as_str())
            .collect();
        if (method == "POST" || method == "DELETE") && !login {
            expected.extend(["409", "422"]);
            assert!(
                headers.contains("Idempotency-Key"),
                "{method} {path}: Idempotency-Key"
            );
        }
        for status in expected {
            assert!(statuses.contains(status), "{method} {path}: no {status}");
        }
        let successes: Vec<&str> = statuses
            .iter()
            .copied()
            .filter(|s| s.starts_with('2'))
            .collect();
        assert!(!successes.is_empty(), "{method} {path}: no success");
        if successes.contains(&"202") {
            assert!(headers.contains("Prefer"), "{method} {path}: Prefer");
        }
        for (status, response) in responses {
            if status == "204" {
                // No Content: nothing to describe, and nothing may be.
                assert!(
                    response.get("content").is_none(),
                    "{method} {path} 204: a body"
                );
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{method} {path} {status}: no JSON body");
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(secured, !login, "{method} {path}: security");
    }
    // Every schema referred to is there.
    let text = spec.to_string();
    for name in text.split("#/components/schemas/").skip(1) {
        let name = &name[..name.find('"').unwrap()];
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "no schema {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_docs_page_is_served_offline() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(app.url("/admin/v1/docs"))
        .header("host", format!("localhost:{}", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/admin/v1/docs/");
    let page = app
        .get("localhost", "/admin/v1/docs/")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "{html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let path = format!("/admin/v1/docs/{asset}");
        let res = app.get("localhost", &path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        if asset == "swagger-initializer.js" {
            let js = res.text().await.unwrap();
            assert!(js.contains(SPEC), "{js}");
        }
        // Like the rest of the admin API: not on a tenant's host.
        let res = app.get("acme.localhost", &path).send().await.unwrap();
        assert_eq!(res.status(), 404, "{asset} on a tenant host");
    }
    // Only the description is public: the routes next to it still need a token.
    let res = app
        .get("localhost", "/admin/v1/docsx")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_schemathesis_finds_nothing() {
    let Some(dialect) = conformance_dialect() else {
        return;
    };
    // Domain checks ask a DNS server on loopback that knows no challenge: a run never sends a
    // question off this machine.
    let dns = tenantry_test_utils::dns::DnsServer::start("conformance.test", &[]);
    let app = TestApp::spawn_with(dialect, |s| s.domains.nameservers = vec![dns.addr()]).await;
    // A tenant to find, change, suspend, migrate or delete.
    app.create(&unique("confadm")).await;
    // The run never revokes a token (scripts/conformance-admin.toml): this one works throughout.
    let issued = app
        .state
        .ops
        .create_token(
            &tenantry_ops::Caller::cli(),
            "conformance",
            AdminRole::Owner,
            None,
        )
        .await
        .unwrap();
    let base = format!("http://{}", app.addr);
    let host = format!("localhost:{}", app.addr.port());
    run_conformance(&base, issued.secret.expose_secret(), &host, "admin").await;
}

/// What schemathesis found or would find, pinned: input that no tenant, field or query can hold
/// is a 4xx, never a 500 (on PostgreSQL, U+0000 in a query parameter reached the master and
/// failed there), and the shapes the document refuses are refused.
#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_not_a_server_error() {
    let dialect = match std::env::var_os("TENANTRY_TEST_PG_URL") {
        Some(_) => Dialect::Postgres,
        None => Dialect::Sqlite,
    };
    let app = TestApp::spawn(dialect).await;
    let sub = unique("badin");
    app.create(&sub).await;
    let token = app
        .state
        .ops
        .create_token(
            &tenantry_ops::Caller::cli(),
            "bad-input",
            AdminRole::Owner,
            None,
        )
        .await
        .unwrap()
        .secret;
    let bearer = format!("Bearer {}", token.expose_secret());
    let send = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("host", format!("localhost:{}", app.addr.port()))
            .header("authorization", &bearer)
    };
    use reqwest::Method;
    let cases = [
        (send(Method::GET, "/admin/v1/tenants?search=a%00b"), 422),
        (send(Method::GET, "/admin/v1/audit?actor=%00"), 422),
        (send(Method::GET, "/admin/v1/audit?action=%00"), 422),
        (send(Method::GET, "/admin/v1/tenants/a%00b"), 404),
        (send(Method::GET, "/admin/v1/tenants/a%00b/health"), 404),
        (send(Method::PUT, "/admin/v1/tenants"), 405),
        (
            send(Method::POST, "/admin/v1/tenants").json(&serde_json::json!([
                "abcd",
                "Name",
                "standard",
                "a@b.example"
            ])),
            422,
        ),
        (
            send(Method::POST, "/admin/v1/tenants").json(&serde_json::json!({
                "subdomain": "nulname", "name": "a\u{0}b", "admin_email": "a@b.example",
            })),
            422,
        ),
        (
            send(Method::POST, "/admin/v1/tenants")
                .header("content-type", "text/plain")
                .body(r#"{"subdomain":"plain","name":"x","admin_email":"a@b.example"}"#),
            415,
        ),
        (
            send(Method::PATCH, &format!("/admin/v1/tenants/{sub}"))
                .json(&serde_json::json!({ "name": "a\u{0}" })),
            422,
        ),
        (
            send(Method::POST, &format!("/admin/v1/tenants/{sub}/suspend"))
                .json(&serde_json::json!({ "reason": "\u{0}" })),
            422,
        ),
    ];
    let mut wrong = Vec::new();
    for (request, status) in cases {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url());
        let res = app.client.execute(request).await.unwrap();
        let got = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        if got != status || !body["error"]["code"].is_string() {
            wrong.push(format!("{what}: {got} (not {status}) {body}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
