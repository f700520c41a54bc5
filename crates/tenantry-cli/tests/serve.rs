//! `tenantry serve` in the embedded default: migrates the master, prints a first admin's
//! one-time password once, serves tenants by Host, stops cleanly on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Serving {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
    printed: Vec<String>,
}

fn serve(dir: &std::path::Path) -> Serving {
    serve_with(dir, &[])
}

/// `tenantry serve` in `dir` with a clean Tenantry environment plus `env`.
fn serve_with(dir: &std::path::Path, env: &[(&str, &str)]) -> Serving {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    cmd.arg("serve").current_dir(dir).env("NO_COLOR", "1");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TENANTRY_")) {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    cmd.env("TENANTRY__SERVER__LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("tenantry binary runs");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Owned before anything can panic, so Drop stops the child.
    let mut serving = Serving {
        child,
        port: 0,
        lines,
        printed: Vec::new(),
    };
    loop {
        let line = serving
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("serve prints its address");
        serving.printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("listening on http://127.0.0.1:") {
            serving.port = rest.split_whitespace().next().unwrap().parse().unwrap();
            return serving;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Serving {
    fn get(&self, host: &str, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, text)
    }

    /// SIGTERM, then the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }
}

#[test]
fn serve_embedded_default_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let first_admin = server
        .printed
        .iter()
        .filter(|l| l.contains("one-time password"))
        .count();
    assert_eq!(first_admin, 1, "{:?}", server.printed);

    let (status, _) = server.get("localhost", "/healthz");
    assert_eq!(status, 200);
    let (status, _) = server.get("127.0.0.1", "/readyz");
    assert_eq!(status, 200);
    let (status, text) = server.get("acme.localhost", "/api/v1/ledgers");
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("tenant_not_found"), "{text}");

    let out = common::run_in(
        dir.path(),
        &[
            "tenants",
            "create",
            "globex",
            "--name",
            "Globex",
            "--admin-email",
            "admin@globex.example",
            "--admin-password-stdin",
        ],
        &[],
        Some("globex-admin-pw\n"),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    // Routed to the new tenant: its API answers (and wants a token).
    let (status, text) = server.get("globex.localhost", "/api/v1/ledgers");
    assert_eq!(status, 401, "{text}");
    assert!(text.to_ascii_lowercase().contains("x-request-id"), "{text}");

    assert!(server.stop().success());

    // A second start finds the admin: no new password is printed.
    let mut again = serve(dir.path());
    assert!(
        !again
            .printed
            .iter()
            .any(|l| l.contains("one-time password")),
        "{:?}",
        again.printed
    );
    assert!(again.stop().success());
}

/// What the CLI does to a tenant, a running `serve` (another process) enforces within a second:
/// suspension, reactivation, deletion — with a SQLite and a PostgreSQL master.
async fn cli_changes_reach_a_running_serve_within_a_second(dialect: tenantry_test_utils::Dialect) {
    let master = common::Master::new(dialect).await;
    assert!(master.run(&["master", "migrate"]).status.success());
    let created = master.run_stdin(
        &[
            "tenants",
            "create",
            "initech",
            "--name",
            "Initech",
            "--admin-email",
            "admin@initech.example",
            "--admin-password-stdin",
        ],
        "initech-admin-pw\n",
    );
    assert!(created.status.success(), "{}", common::stderr(&created));
    let server = serve_with(
        master.db.dir(),
        &[
            ("TENANTRY__MASTER__URL", master.db.url()),
            ("TENANTRY__DATA_DIR", master.db.dir().to_str().unwrap()),
            ("TENANTRY_MASTER_KEY", master.key.as_str()),
        ],
    );
    let seen_within = |want: u16| {
        let started = std::time::Instant::now();
        loop {
            let (status, text) = server.get("initech.localhost", "/api/v1/ledgers");
            if status == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "still {status}: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    seen_within(401);
    for (args, want) in [
        (
            &["tenants", "suspend", "initech", "--reason", "unpaid"][..],
            403,
        ),
        (&["tenants", "reactivate", "initech"][..], 401),
        (
            &["tenants", "delete", "initech", "--confirm", "initech"][..],
            404,
        ),
    ] {
        let out = master.run(args);
        assert!(out.status.success(), "{args:?}: {}", common::stderr(&out));
        let took = seen_within(want);
        assert!(
            took < Duration::from_secs(1),
            "{args:?} seen after {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_changes_reach_a_running_serve_within_a_second_sqlite() {
    cli_changes_reach_a_running_serve_within_a_second(tenantry_test_utils::Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_changes_reach_a_running_serve_within_a_second_postgres() {
    cli_changes_reach_a_running_serve_within_a_second(tenantry_test_utils::Dialect::Postgres).await;
}
