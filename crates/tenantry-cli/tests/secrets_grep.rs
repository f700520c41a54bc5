//! No password or token reaches a log line, an error body or the audit trail. The real
//! `tenantry serve` (PostgreSQL master and tenant server), logging at `trace` in JSON and in the
//! pretty format, is driven over HTTP with distinctive secrets — operator and tenant logins right
//! and wrong, a session and an API token used, revoked and used again, garbage bearers, each
//! kind of token on the other API, passwords set, reset and refused by validation — and then
//! everything it wrote is searched for them: its whole output, every 4xx/5xx body, the audit
//! trail (over the API, page by page, and the table) and every row of the master. Each admin
//! mutation wrote exactly one audit row naming its actor, the client's address and the request.
//! The tenant role's database password and the master key are searched for too (at `trace`,
//! sea-orm's connect span printed the role's password until `logging.rs` held it back).

mod common;

use std::sync::Arc;

use common::serve::{Reply, Serve};
use common::{Master, assert_exit};
use sea_orm::{ConnectionTrait, Statement};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_registry::Registry;
use tenantry_test_utils::{Dialect, pg_admin_url};

const OWNER: &str = "owner@leak.test";
const OWNER_PASSWORD: &str = "Owner-Right-Pw-Q7x9k2";
const OWNER_WRONG: &str = "Owner-Wrong-Pw-Z3m8p5";
const BOSS: &str = "boss@leak.test";
const BOSS_PASSWORD: &str = "Tenant-Right-Pw-H4n6w1";
const BOSS_WRONG: &str = "Tenant-Wrong-Pw-J8b2r7";
const CLERK_PASSWORD: &str = "Clerk-New-Pw-K5c9t3";
const CLERK_RESET: &str = "Clerk-Reset-Pw-L2v6y8";
/// Too short (under 12 characters): refused by validation with 422.
const SHORT_USER: &str = "ShUs-M4x7";
const SHORT_ADMIN: &str = "ShAd-N7q2";
const SHORT_TENANT: &str = "ShTn-P1z5";
const GARBAGE: &str = "Garbage-Bearer-R9d3s6";
const LOGIN: &str = "/api/v1/auth/login";

/// What the scenario saw: the error answers, and the admin mutations that succeeded (request
/// id, expected actor, expected action).
#[derive(Default)]
struct Seen {
    errors: Vec<(String, Reply)>,
    mutations: Vec<(String, String, &'static str)>,
}

impl Seen {
    /// Checks the status; an error answer is kept for the search.
    #[track_caller]
    fn expect(&mut self, what: &str, reply: Reply, status: u16) -> Value {
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        let body = reply.json();
        if status >= 400 {
            self.errors.push((what.to_owned(), reply));
        }
        body
    }

    #[track_caller]
    fn mutation(&mut self, reply: Reply, status: u16, actor: &str, action: &'static str) -> Value {
        let id = reply.request_id.clone();
        let body = self.expect(action, reply, status);
        self.mutations.push((id, actor.to_owned(), action));
        body
    }
}

/// Every row of every table of the master, as text: `<table>: <row>` lines.
async fn master_rows(master: &Master) -> String {
    let conn = master.db.connect().await;
    let query = |sql: String| {
        let conn = &conn;
        async move {
            let stmt = Statement::from_string(conn.get_database_backend(), sql);
            let rows = conn.query_all_raw(stmt).await.unwrap();
            let text: Vec<String> = rows.iter().map(|r| r.try_get("", "row").unwrap()).collect();
            text
        }
    };
    let tables = query(
        "SELECT table_name::text AS row FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            .into(),
    )
    .await;
    assert!(tables.iter().any(|t| t == "audit_log"), "{tables:?}");
    let mut all = String::new();
    for table in &tables {
        for row in query(format!(r#"SELECT t::text AS row FROM "{table}" t"#)).await {
            all.push_str(&format!("{table}: {row}\n"));
        }
    }
    conn.close().await.unwrap();
    all
}

/// The tenant role's database password, opened as `serve` opens it.
async fn tenant_role_password(master: &Master, subdomain: &str) -> SecretString {
    let keys = KeyRing::parse(&SecretString::from(master.key.clone())).unwrap();
    let url = DatabaseUrl::parse(master.db.url()).unwrap();
    let registry = Registry::connect(&url, Arc::new(Vault::new(keys)))
        .await
        .unwrap();
    let tenant = registry.find_tenant(&subdomain.into()).await.unwrap();
    registry.tenant_db_password(&tenant).unwrap().unwrap()
}

/// A string field of a JSON answer.
fn text(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field}: {body}"))
        .to_owned()
}

/// Runs the scenario against `serve` started with `log` (asking for `trace`) in its environment.
async fn no_secret_leaves_serve(log: &[(&str, &str)]) {
    let master = Master::new(Dialect::Postgres).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    let server = pg_admin_url().rsplit_once('/').unwrap().0.to_owned();
    let add = ["servers", "add", "pg-leak", "--url", &server];
    assert_exit(&master.run(&add), 0);
    let owner = ["admins", "create", "--password-stdin", "--role", "owner"];
    let args = [&owner[..], &["--email", OWNER]].concat();
    assert_exit(&master.run_stdin(&args, &format!("{OWNER_PASSWORD}\n")), 0);
    let sub = format!("leak-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let tenant_host = format!("{sub}.localhost");
    let serve = Serve::start(&master, log);
    let admin = |method: &str, path: &str, bearer: Option<&str>, body: Option<Value>| {
        serve.call(method, "localhost", path, bearer, body)
    };
    let tenant = |method: &str, path: &str, bearer: Option<&str>, body: Option<Value>| {
        serve.call(method, &tenant_host, path, bearer, body)
    };
    let mut seen = Seen::default();
    let mut secrets: Vec<(&str, String)> = [
        ("owner password", OWNER_PASSWORD),
        ("wrong owner password", OWNER_WRONG),
        ("tenant admin password", BOSS_PASSWORD),
        ("wrong tenant password", BOSS_WRONG),
        ("new user password", CLERK_PASSWORD),
        ("reset password", CLERK_RESET),
        ("short user password", SHORT_USER),
        ("short operator password", SHORT_ADMIN),
        ("short tenant password", SHORT_TENANT),
        ("garbage bearer", GARBAGE),
        ("master key", master.key.as_str()),
    ]
    .map(|(what, s)| (what, s.to_owned()))
    .into();
    let me = format!("admin:{OWNER}");

    // Operators: a wrong password, a right one, garbage bearers.
    let login = |email, password| Some(json!({ "email": email, "password": password }));
    let r = admin("POST", "/admin/v1/login", None, login(OWNER, OWNER_WRONG));
    seen.expect("wrong operator password", r, 401);
    let r = admin(
        "POST",
        "/admin/v1/login",
        None,
        login(OWNER, OWNER_PASSWORD),
    );
    let session = text(&seen.expect("operator login", r, 200), "token");
    secrets.push(("operator session", session.clone()));
    let s = Some(session.as_str());
    for garbage in [GARBAGE.to_owned(), format!("tnty_{GARBAGE}")] {
        let r = admin("GET", "/admin/v1/tenants", Some(&garbage), None);
        seen.expect("garbage bearer on the admin API", r, 401);
    }

    // An API token, shown once, creates the tenant (once refused by validation).
    let body = json!({ "name": "leak-bot", "role": "owner" });
    let r = admin("POST", "/admin/v1/tokens", s, Some(body));
    let created = seen.mutation(r, 201, &me, "token.create");
    let (token, token_id) = (text(&created, "secret"), text(&created, "id"));
    secrets.push(("API token", token.clone()));
    let t = Some(token.as_str());
    let new_tenant = |password| {
        let body = json!({ "subdomain": sub, "name": "Leak", "admin_email": BOSS,
                           "admin_password": password });
        admin("POST", "/admin/v1/tenants", t, Some(body))
    };
    seen.expect("short tenant password", new_tenant(SHORT_TENANT), 422);
    let op = seen.mutation(
        new_tenant(BOSS_PASSWORD),
        200,
        "token:leak-bot",
        "tenant.create",
    );
    assert_eq!(op["state"], "succeeded", "{op}");

    // Operators: one refused by validation, one given a one-time password.
    let body = json!({ "email": "short@leak.test", "password": SHORT_ADMIN, "role": "viewer" });
    let r = admin("POST", "/admin/v1/admins", s, Some(body));
    seen.expect("short operator password", r, 422);
    let body = json!({ "email": "second@leak.test", "role": "viewer" });
    let r = admin("POST", "/admin/v1/admins", s, Some(body));
    let second = seen.mutation(r, 201, &me, "admin.create");
    secrets.push(("one-time password", text(&second, "one_time_password")));

    // Tenant users: wrong, malformed and right logins; each token on the other API.
    let r = tenant("POST", LOGIN, None, login(BOSS, BOSS_WRONG));
    seen.expect("wrong tenant password", r, 401);
    let odd = json!({ "email": [BOSS], "password": BOSS_WRONG });
    let r = tenant("POST", LOGIN, None, Some(odd));
    seen.expect("malformed tenant login", r, 422);
    let r = tenant("POST", LOGIN, None, login(BOSS, BOSS_PASSWORD));
    let user_jwt = text(&seen.expect("tenant login", r, 200), "token");
    secrets.push(("tenant session", user_jwt.clone()));
    let u = Some(user_jwt.as_str());
    let r = admin("GET", "/admin/v1/tenants", u, None);
    seen.expect("tenant session on the admin API", r, 401);
    for (what, bearer) in [("session", s), ("API token", t), ("garbage", Some(GARBAGE))] {
        let r = tenant("GET", "/api/v1/users", bearer, None);
        seen.expect(&format!("operator {what} on the tenant API"), r, 401);
    }

    // A user created and their password reset (each once refused), then used.
    let clerk = |password| {
        json!({ "email": "clerk@leak.test", "name": "Clerk", "password": password,
                "role": "accountant" })
    };
    let r = tenant("POST", "/api/v1/users", u, Some(clerk(SHORT_USER)));
    seen.expect("short user password", r, 422);
    let r = tenant("POST", "/api/v1/users", u, Some(clerk(CLERK_PASSWORD)));
    let clerk_id = seen.expect("user created", r, 201)["id"].as_i64().unwrap();
    let path = format!("/api/v1/users/{clerk_id}");
    let r = tenant("PATCH", &path, u, Some(json!({ "password": SHORT_USER })));
    seen.expect("short reset password", r, 422);
    let r = tenant("PATCH", &path, u, Some(json!({ "password": CLERK_RESET })));
    seen.expect("password reset", r, 200);
    let r = tenant(
        "POST",
        LOGIN,
        None,
        login("clerk@leak.test", CLERK_PASSWORD),
    );
    seen.expect("the password before the reset", r, 401);
    let r = tenant("POST", LOGIN, None, login("clerk@leak.test", CLERK_RESET));
    let clerk_jwt = text(&seen.expect("login after the reset", r, 200), "token");
    secrets.push(("reset user's session", clerk_jwt));

    // Lifecycle, revocation, a revoked token used.
    let path = format!("/admin/v1/tenants/{sub}");
    let body = json!({ "reason": "leak check" });
    let r = admin("POST", &format!("{path}/suspend"), s, Some(body));
    seen.mutation(r, 200, &me, "tenant.suspend");
    let r = admin("POST", &format!("{path}/reactivate"), s, None);
    seen.mutation(r, 200, &me, "tenant.reactivate");
    let r = admin("DELETE", &format!("/admin/v1/tokens/{token_id}"), s, None);
    seen.mutation(r, 200, &me, "token.revoke");
    let r = admin("GET", "/admin/v1/tenants", t, None);
    seen.expect("revoked API token", r, 401);
    let role_password = tenant_role_password(&master, &sub).await;
    secrets.push(("role password", role_password.expose_secret().to_owned()));
    let r = admin("DELETE", &path, s, Some(json!({ "confirm": sub })));
    let op = seen.mutation(r, 200, &me, "tenant.delete");
    assert_eq!(op["state"], "succeeded", "{op}");

    // The audit trail over the API, page by page.
    let mut listed = Vec::new();
    for page in 1.. {
        let r = admin(
            "GET",
            &format!("/admin/v1/audit?page={page}&limit=3"),
            s,
            None,
        );
        let body = seen.expect("audit page", r, 200);
        let rows = body["data"].as_array().unwrap().clone();
        if rows.is_empty() {
            assert_eq!(listed.len() as u64, body["total"].as_u64().unwrap());
            break;
        }
        listed.extend(rows);
    }
    let logs = serve.stop();
    let master_text = master_rows(&master).await;
    let audit_table: Vec<&str> = master_text
        .lines()
        .filter(|l| l.starts_with("audit_log: "))
        .collect();
    let audit_table = audit_table.join("\n");
    let audit_api = serde_json::to_string(&listed).unwrap();

    // The search can fail: what is known to be there is found.
    assert!(logs.contains("TRACE"), "serve logs at trace ({log:?})");
    assert!(logs.contains(&sub), "the logs name the tenant:\n{logs}");
    assert!(
        seen.errors.len() >= 15,
        "{} error answers",
        seen.errors.len()
    );
    for (answer, reply) in &seen.errors {
        let id = reply.request_id.as_str();
        assert!(logs.contains(id), "the logs name {answer} ({id}):\n{logs}");
        assert!(reply.body.contains(id), "{answer}: {}", reply.body);
        assert!(!audit_api.contains(id), "{answer} ({id}) was audited");
    }
    assert!(audit_table.contains("token:leak-bot") && audit_api.contains("token:leak-bot"));
    let mut places = vec![
        ("serve's output".to_owned(), logs.as_str()),
        ("the audit API".to_owned(), &audit_api),
        ("audit_log".to_owned(), &audit_table),
        ("the master".to_owned(), &master_text),
    ];
    for (answer, reply) in &seen.errors {
        places.push((format!("the answer to {answer}"), &reply.body));
    }
    for (what, secret) in &secrets {
        for (place, text) in &places {
            assert!(
                !text.contains(secret.as_str()),
                "{what} is in {place} ({log:?}):\n{text}"
            );
        }
    }

    // Exactly one audit row per mutation, with its actor, address and request; the rest are the
    // CLI's (`servers add`, `admins create`), which has neither.
    for (request_id, actor, action) in &seen.mutations {
        let rows: Vec<&Value> = listed
            .iter()
            .filter(|r| r["request_id"] == request_id.as_str())
            .collect();
        assert_eq!(rows.len(), 1, "{action} ({request_id}): {rows:?}");
        assert_eq!(rows[0]["actor"], actor.as_str(), "{}", rows[0]);
        assert_eq!(rows[0]["action"], *action, "{}", rows[0]);
        assert_eq!(rows[0]["ip"], "127.0.0.1", "{}", rows[0]);
    }
    let others: Vec<String> = listed
        .iter()
        .filter(|r| r["request_id"].is_null())
        .map(|r| {
            format!(
                "{} {}",
                r["actor"].as_str().unwrap(),
                r["action"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        listed.len(),
        seen.mutations.len() + others.len(),
        "{audit_api}"
    );
    assert_eq!(others.len(), 2, "{others:?}");
    assert!(others[0].starts_with("cli:") && others[0].ends_with(" admin.create"));
    assert!(others[1].starts_with("cli:") && others[1].ends_with(" server.add"));
}

/// The most verbose logging there is, asked for through `RUST_LOG`, as JSON.
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_json_trace_logs_error_bodies_or_the_audit_trail() {
    no_secret_leaves_serve(&[("RUST_LOG", "trace"), ("TENANTRY__LOG__FORMAT", "json")]).await;
}

/// The same through `log.level`, in the pretty format.
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_pretty_trace_logs_error_bodies_or_the_audit_trail() {
    let log = [
        ("TENANTRY__LOG__LEVEL", "trace"),
        ("TENANTRY__LOG__FORMAT", "pretty"),
    ];
    no_secret_leaves_serve(&log).await;
}
