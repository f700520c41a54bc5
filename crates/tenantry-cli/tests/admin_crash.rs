//! `kill -9` of the real `tenantry serve` in the middle of a tenant create started over the admin
//! API (paused right after the `database` step by `TENANTRY_TEST_PAUSE_AFTER`, so the tenant's
//! database exists and its row is `provisioning`), then a plain restart: the operation ends
//! rolled back, nothing of the tenant is left on the database server or in the registry, and the
//! same subdomain can be created again. PostgreSQL master and tenant server; SQLite for both.
//!
//! `serve` takes as abandoned only operations idle for 30 s (a younger one may belong to another
//! live `serve`: the row names no owner; a live one beats every 5 s). It resolves them at start
//! and then every 10 s while serving: restarted 31 s after the kill, the reconcile at start
//! resolves the create; restarted at once, the periodic one does, within ~40 s.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Master, assert_exit};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tenantry_test_utils::{Dialect, pg_admin, pg_admin_url};

const PAUSE_MARKER: &str = "tenantry-test: paused after step database";
const EMAIL: &str = "owner@crash.test";
const PASSWORD: &str = "crash-owner-password-1";

/// A running `tenantry serve`; SIGKILLed when dropped.
struct Serve {
    child: Child,
    port: u16,
    paused: mpsc::Receiver<()>,
    /// The owner's session, from `POST /admin/v1/login`.
    token: String,
}

impl Serve {
    fn start(master: &Master, pause_after: Option<&str>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
        cmd.arg("serve")
            .current_dir(master.db.dir())
            .env("NO_COLOR", "1");
        for (key, _) in std::env::vars()
            .filter(|(k, _)| k.starts_with("TENANTRY_") && k != "TENANTRY_TEST_PG_URL")
        {
            cmd.env_remove(key);
        }
        cmd.env("TENANTRY__MASTER__URL", master.db.url())
            .env("TENANTRY__DATA_DIR", master.db.dir())
            .env("TENANTRY_MASTER_KEY", &master.key)
            .env("TENANTRY__SERVER__LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(step) = pause_after {
            cmd.env("TENANTRY_TEST_PAUSE_AFTER", step);
        }
        let mut child = cmd.spawn().expect("tenantry binary runs");
        // Both pipes are read to the end, so serve never blocks on a full one.
        let (tx, paused) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.starts_with(PAUSE_MARKER) {
                    let _ = tx.send(());
                }
            }
        });
        let (tx, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut serve = Serve {
            child,
            port: 0,
            paused,
            token: String::new(),
        };
        while serve.port == 0 {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .expect("serve prints its address");
            if let Some(rest) = line.strip_prefix("listening on http://127.0.0.1:") {
                serve.port = rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        }
        let login = json!({ "email": EMAIL, "password": PASSWORD });
        let (status, body) = serve.call("POST", "localhost", "/admin/v1/login", &[], Some(login));
        assert_eq!(status, 200, "login: {body}");
        serve.token = body["token"].as_str().unwrap().to_owned();
        serve
    }

    /// One HTTP/1.1 request; the status and the JSON body (`null` if none).
    fn call(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(90)))
            .unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        write!(stream, "{head}\r\n{body}").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        // actix sizes its JSON answers: no chunked bodies here.
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// An admin API request as the owner, with `Prefer: wait=<wait>`.
    fn admin(&self, method: &str, path: &str, wait: u64, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", self.token);
        let prefer = format!("wait={wait}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Prefer", prefer.as_str()),
        ];
        self.call(method, "localhost", path, &headers, body)
    }

    /// `POST /admin/v1/tenants`, waiting up to `wait` seconds for the operation to end.
    fn create(&self, subdomain: &str, wait: u64) -> (u16, Value) {
        let body = json!({
            "subdomain": subdomain,
            "name": "Crash Test",
            "admin_email": "admin@crash.test",
            "admin_password": "crash-tenant-password-1",
        });
        self.admin("POST", "/admin/v1/tenants", wait, Some(body))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL: `kill -9`
        let _ = self.child.wait();
    }
}

/// What exists of the tenant's database outside the master: PostgreSQL databases and roles, or
/// SQLite files, whose names start with `prefix`.
async fn left_on_server(master: &Master, dialect: Dialect, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = match dialect {
        Dialect::Postgres => {
            let admin = pg_admin().await;
            let sql = "SELECT 'database ' || datname AS n FROM pg_database \
                       UNION ALL SELECT 'role ' || rolname FROM pg_roles";
            let rows = admin
                .query_all_raw(Statement::from_string(admin.get_database_backend(), sql))
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.try_get::<String>("", "n").unwrap())
                .filter(|n| n.split_once(' ').unwrap().1.starts_with(prefix))
                .collect()
        }
        Dialect::Sqlite => std::fs::read_dir(master.db.dir().join("tenants"))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix))
            .map(|n| format!("file {n}"))
            .collect(),
    };
    names.sort();
    names
}

/// Rows of the master's `tenants` for `subdomain`, by status.
async fn registry_rows(master: &Master, subdomain: &str) -> Vec<String> {
    let conn = master.db.connect().await;
    let sql = format!("SELECT status FROM tenants WHERE subdomain = '{subdomain}'");
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "status").unwrap())
        .collect()
}

async fn kill_9_during_an_admin_api_create(dialect: Dialect, restart_after: Duration) {
    let master = Master::new(dialect).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    if dialect == Dialect::Postgres {
        let url = pg_admin_url();
        let server = url.rsplit_once('/').unwrap().0;
        let add = ["servers", "add", "pg-crash", "--url", server];
        assert_exit(&master.run(&add), 0);
    }
    let args = [
        "admins",
        "create",
        "--password-stdin",
        "--role",
        "owner",
        "--email",
        EMAIL,
    ];
    assert_exit(&master.run_stdin(&args, &format!("{PASSWORD}\n")), 0);
    let subdomain = format!("crash-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let prefix = format!("t_{}_", subdomain.replace('-', "_"));

    // The create stops right after its database step; serve dies there.
    let serve = Serve::start(&master, Some("database"));
    let (status, accepted) = serve.create(&subdomain, 0);
    assert_eq!(status, 202, "{accepted}");
    let op_path = format!("/admin/v1/operations/{}", accepted["id"].as_str().unwrap());
    serve
        .paused
        .recv_timeout(Duration::from_secs(30))
        .expect("the create pauses after its database step");
    let (_, running) = serve.admin("GET", &op_path, 0, None);
    assert_eq!(running["state"], "running", "{running}");
    let half_made = left_on_server(&master, dialect, &prefix).await;
    assert!(!half_made.is_empty(), "nothing to orphan yet");
    assert_eq!(registry_rows(&master, &subdomain).await, ["provisioning"]);
    drop(serve);
    let killed = Instant::now();

    std::thread::sleep(restart_after.saturating_sub(killed.elapsed()));
    let serve = Serve::start(&master, None);
    let (status, op) = serve.admin("GET", &op_path, 60, None);
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["state"], "rolled_back", "{op}");
    assert!(!op["finished_at"].is_null(), "{op}");

    // Nothing orphaned: no database, role or file, no registry row, no tenant on the API.
    let nothing = Vec::<String>::new();
    let left = left_on_server(&master, dialect, &prefix).await;
    assert_eq!(left, nothing, "of {half_made:?}");
    assert_eq!(registry_rows(&master, &subdomain).await, nothing);
    let tenant_path = format!("/admin/v1/tenants/{subdomain}");
    let (status, body) = serve.admin("GET", &tenant_path, 0, None);
    assert_eq!(status, 404, "{body}");

    // The subdomain is free again: created over the API, it answers on its own host.
    let (status, created) = serve.create(&subdomain, 30);
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["state"], "succeeded", "{created}");
    let host = format!("{subdomain}.localhost");
    let (status, body) = serve.call("GET", &host, "/api/v1/ledgers", &[], None);
    assert_eq!(status, 401, "it answers (and wants a token): {body}");
    assert_eq!(registry_rows(&master, &subdomain).await, ["active"]);

    // Leaves the shared test cluster as it found it.
    let confirm = json!({ "confirm": subdomain });
    let (status, body) = serve.admin("DELETE", &tenant_path, 30, Some(confirm));
    assert_eq!(status, 200, "{body}");
    assert_eq!(left_on_server(&master, dialect, &prefix).await, nothing);
}

/// Restarted once the operation is old enough for serve's start-up reconcile (idle 30 s) to take
/// it as abandoned: the kill stopped its heartbeat, so it has been idle at least since then.
const RESTART_AFTER: Duration = Duration::from_secs(31);

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_an_admin_api_create_postgres() {
    kill_9_during_an_admin_api_create(Dialect::Postgres, RESTART_AFTER).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_an_admin_api_create_sqlite() {
    kill_9_during_an_admin_api_create(Dialect::Sqlite, RESTART_AFTER).await;
}

/// Restarted at once, as a supervisor would: the operation is younger than the stale window, so
/// the reconcile at start skips it and the periodic one, while serving, resolves it (the
/// restarted serve is asked to wait up to 60 s for it to end).
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_then_restart_at_once_postgres() {
    kill_9_during_an_admin_api_create(Dialect::Postgres, Duration::ZERO).await;
}
