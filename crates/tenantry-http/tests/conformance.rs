//! The OpenAPI documents of the tenant API (`GET /api/v1/openapi.json`) and of the admin API
//! (`GET /admin/v1/openapi.json`, in `conformance/admin.rs`) against the server.
//!
//! Always: the documents and the docs pages are served (the tenant API's on any host with no
//! tenant, the admin API's on the apex host with no token); every route each API registers has
//! its operation in its document, and every operation documents its errors. With
//! `TENANTRY_CONFORMANCE=1` (as `scripts/test` sets): `scripts/conformance` runs schemathesis
//! against a live tenant and a live admin API, one after the other, and must find nothing.

#[path = "conformance/admin.rs"]
mod admin;
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestApp, unique};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::Value;
use tenantry_test_utils::Dialect;

const SPEC: &str = "/api/v1/openapi.json";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `(METHOD, path)` of every route registered under `/api/v1`, read from `src/routes`: the
/// resources of each route module, and the routes of the `/api/v1` scope itself.
fn registered_routes() -> BTreeSet<(String, String)> {
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes")];
    let mut routes = BTreeSet::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let text = if path.ends_with("mod.rs") {
            // Only what the tenant scope registers itself (not /healthz, not the docs).
            let start = text
                .find("web::scope(\"/api/v1\")")
                .expect("the /api/v1 scope");
            let end = start + text[start..].find(".default_service(").unwrap();
            text[start..end].to_owned()
        } else {
            text
        };
        scan(&text, "/api/v1", &mut routes);
    }
    routes
}

/// `web::resource("/x").route(web::get()…)` and `route("/x", web::get()…)`, under `prefix`.
fn scan(text: &str, prefix: &str, routes: &mut BTreeSet<(String, String)>) {
    let mut resource: Option<String> = None;
    let mut rest = text;
    let quoted = |s: &str| s[..s.find('"').unwrap()].to_owned();
    let method = |s: &str| s[..s.find('(').unwrap()].to_uppercase();
    loop {
        let next = ["resource(\"", "route(\"", "route(web::"]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, *p)))
            .min();
        let Some((at, pattern)) = next else { break };
        rest = &rest[at + pattern.len()..];
        match pattern {
            "resource(\"" => resource = Some(quoted(rest)),
            "route(\"" => {
                let path = quoted(rest);
                let after = &rest[rest.find("web::").unwrap() + "web::".len()..];
                routes.insert((method(after), format!("{prefix}{path}")));
            }
            _ => {
                let path = resource.clone().expect("a route inside a resource");
                routes.insert((method(rest), format!("{prefix}{path}")));
            }
        }
    }
}

fn documented(spec: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_is_documented_with_its_errors() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    // No tenant at this host: the document needs none.
    let res = app.get("nobody.localhost", SPEC).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let spec: Value = res.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let scheme = &spec["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    for shared in ["ErrorBody", "ErrorDetail", "FieldError"] {
        assert!(
            spec["components"]["schemas"][shared].is_object(),
            "{shared}"
        );
    }

    let routes = registered_routes();
    assert!(routes.len() >= 15, "found only {routes:?}");
    let documented = documented(&spec);
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(missing.is_empty(), "routes not in {SPEC}: {missing:?}");
    let stale: Vec<_> = documented.difference(&routes).collect();
    assert!(
        stale.is_empty(),
        "operations in {SPEC} with no route: {stale:?}"
    );

    let operation_ids: BTreeSet<&str> = documented
        .iter()
        .filter_map(|(m, p)| spec["paths"][p][m.to_lowercase()]["operationId"].as_str())
        .collect();
    assert_eq!(
        operation_ids.len(),
        documented.len(),
        "operationIds are unique"
    );
    for (method, path) in &documented {
        let op = &spec["paths"][path][method.to_lowercase()];
        for response in op["responses"].as_object().unwrap().values() {
            let links = response["links"].as_object().into_iter().flatten();
            for (name, link) in links {
                let target = link["operationId"].as_str().unwrap_or_default();
                assert!(
                    operation_ids.contains(target),
                    "{method} {path}: link {name}: {link}"
                );
            }
        }
        let responses = op["responses"].as_object().unwrap();
        let statuses: BTreeSet<&str> = responses.keys().map(String::as_str).collect();
        for status in ["400", "401", "403", "404", "408", "413", "503"] {
            assert!(statuses.contains(status), "{method} {path}: no {status}");
        }
        if op.get("requestBody").is_some() {
            for status in ["415", "422"] {
                assert!(statuses.contains(status), "{method} {path}: no {status}");
            }
        }
        for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('4')) {
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                schema, "#/components/schemas/ErrorBody",
                "{method} {path} {status}"
            );
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(
            secured,
            path != "/api/v1/auth/login",
            "{method} {path}: security"
        );
        assert!(
            op["operationId"].is_string(),
            "{method} {path}: operationId"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_is_served_offline() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = app.url("/api/v1/docs");
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/api/v1/docs/");
    let page = app.get("localhost", "/api/v1/docs/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every asset comes from this server, none from the internet.
    assert!(!html.contains("https://"), "{html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let res = app
            .get("localhost", &format!("/api/v1/docs/{asset}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        if asset == "swagger-initializer.js" {
            let js = res.text().await.unwrap();
            assert!(js.contains(SPEC), "{js}");
        }
    }
}

/// A tenant admin the run will not guess: schemathesis may change or delete any user it finds
/// (the seeded admin is user 1), and this one's token must keep working throughout.
const CONFORMANCE_USER: i64 = 7_340_032_017;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing() {
    let Some(dialect) = conformance_dialect() else {
        return;
    };
    let app = TestApp::spawn(dialect).await;
    let sub = unique("conf");
    let tenant = app.create(&sub).await;
    let db = app.provisioner.connect_tenant(&tenant).await.unwrap();
    let backend = db.get_database_backend();
    let overriding = match backend {
        DbBackend::Postgres => "OVERRIDING SYSTEM VALUE",
        _ => "",
    };
    db.execute_raw(Statement::from_string(
        backend,
        format!(
            "INSERT INTO users (id, email, name, password_hash, role) {overriding} \
             VALUES ({CONFORMANCE_USER}, 'conformance@{sub}.example', 'Conformance', '{}', 'admin')",
            common::admin_hash()
        ),
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    let token = tenantry_http::auth::TokenKeys::from_vault(app.registry.vault())
        .issue(
            tenant.id,
            CONFORMANCE_USER,
            tenantry_app::UserRole::Admin,
            0,
        )
        .unwrap();

    let base = format!("http://{}", app.addr);
    let host = format!("{sub}.localhost:{}", app.addr.port());
    run_conformance(&base, &token, &host, "tenant").await;
}

/// One schemathesis run at a time: each takes both cores.
static SCHEMATHESIS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether `TENANTRY_CONFORMANCE=1`; and the dialect of the master to run against.
fn conformance_dialect() -> Option<Dialect> {
    if std::env::var("TENANTRY_CONFORMANCE").as_deref() != Ok("1") {
        eprintln!("skipped: set TENANTRY_CONFORMANCE=1 to run scripts/conformance");
        return None;
    }
    Some(if std::env::var_os("TENANTRY_TEST_PG_URL").is_some() {
        Dialect::Postgres
    } else {
        Dialect::Sqlite
    })
}

/// Runs `scripts/conformance BASE TOKEN HOST API`, which must find nothing.
async fn run_conformance(base: &str, token: &str, host: &str, api: &str) {
    let _one_at_a_time = SCHEMATHESIS.lock().await;
    let started = std::time::Instant::now();
    let run = tokio::process::Command::new("bash")
        .arg(workspace().join("scripts/conformance"))
        .args([base, token, host, api])
        .current_dir(workspace())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("scripts/conformance took over 10 minutes")
        .expect("run scripts/conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}\n{api} API run: {:?}", started.elapsed());
    assert!(
        out.status.success(),
        "scripts/conformance ({api}) failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
