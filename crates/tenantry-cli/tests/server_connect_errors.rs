//! A server that cannot be reached is reported with its cause — refused, timed out, wrong
//! password, missing database — by `servers add`, `doctor` and `reconcile`, never as a pool
//! timeout and never with the password.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Master, assert_exit, stderr, stdout};
use sea_orm::{ConnectionTrait, Statement};
use tenantry_test_utils::{Dialect, pg_admin, pg_admin_url};
use url::Url;

async fn migrated() -> Master {
    let master = Master::new(Dialect::Sqlite).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    master
}

/// A loopback port where nothing listens: bound by the OS, then released.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test server's URL as `user`, naming `database` (or none), without a password.
fn server_url(user: &str, database: Option<&str>) -> String {
    let mut url = Url::parse(&pg_admin_url()).unwrap();
    url.set_username(user).unwrap();
    url.set_password(None).unwrap();
    url.set_path(database.unwrap_or(""));
    url.to_string().trim_end_matches('/').to_owned()
}

async fn admin_sql(sql: String) {
    let admin = pg_admin().await;
    admin
        .execute_raw(Statement::from_string(admin.get_database_backend(), sql))
        .await
        .unwrap();
}

#[tokio::test]
async fn nothing_listening_is_reported_as_refused_at_once() {
    let master = migrated().await;
    let url = format!("postgres://admin@127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let out = master.run_stdin(
        &[
            "servers",
            "add",
            "pg-gone",
            "--url",
            &url,
            "--password-stdin",
        ],
        "Refused-Secret-1\n",
    );
    let elapsed = started.elapsed();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("connection refused"), "{err}");
    assert!(!err.contains("pool timed out"), "{err}");
    assert!(!err.contains("Refused-Secret-1"), "{err}");
    // A refusal is final: no retrying until a deadline.
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(
        stdout(&master.run(&["servers", "list"])).lines().count() <= 1,
        "nothing registered"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_limit() {
    let master = migrated().await;
    // Accepts connections (the kernel completes the handshake) and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The accepted socket stays open (and silent) until the thread is joined.
    let silent = std::thread::spawn(move || listener.accept().unwrap().0);
    let started = Instant::now();
    let out = master.run(&[
        "servers",
        "add",
        "pg-silent",
        "--url",
        &format!("postgres://admin@127.0.0.1:{port}"),
    ]);
    let elapsed = started.elapsed();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("timed out"), "{err}");
    assert!(err.contains("within 5.0s"), "names the limit: {err}");
    assert!(
        elapsed >= Duration::from_secs(5) && elapsed < Duration::from_secs(8),
        "gave up after the 5 s limit, not later: {elapsed:?}"
    );
    drop(silent.join().unwrap());
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_failure_and_the_right_one_registers() {
    let master = migrated().await;
    let role = format!("tenantry_test_adm_{}", uuid::Uuid::new_v4().simple());
    admin_sql(format!(
        r#"CREATE ROLE "{role}" LOGIN CREATEDB CREATEROLE PASSWORD 'Right-Pw-42'"#
    ))
    .await;
    let url = server_url(&role, None);

    let wrong = master.run_stdin(
        &[
            "servers",
            "add",
            "pg-auth",
            "--url",
            &url,
            "--password-stdin",
        ],
        "Wrong-Pw-17\n",
    );
    let right = master.run_stdin(
        &[
            "servers",
            "add",
            "pg-auth",
            "--url",
            &url,
            "--password-stdin",
        ],
        "Right-Pw-42\n",
    );
    admin_sql(format!(r#"DROP ROLE "{role}""#)).await;

    assert_exit(&wrong, 1);
    let err = stderr(&wrong);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(err.contains(&role), "names the user: {err}");
    assert!(!err.contains("Wrong-Pw-17"), "{err}");
    assert_exit(&right, 0);
}

#[tokio::test]
async fn a_missing_database_is_named() {
    let master = migrated().await;
    let database = format!("no_such_db_{}", uuid::Uuid::new_v4().simple());
    let out = master.run(&[
        "servers",
        "add",
        "pg-nodb",
        "--url",
        &server_url("postgres", Some(&database)),
    ]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains(&database), "{err}");
}

#[tokio::test]
async fn doctor_and_reconcile_name_the_cause_of_an_unreachable_server() {
    let master = migrated().await;
    let url = format!("postgres://admin@127.0.0.1:{}", closed_port());
    assert_exit(
        &master.run(&["servers", "add", "pg-down", "--url", &url, "--no-check"]),
        0,
    );

    let doctor = master.run(&["doctor"]);
    assert_exit(&doctor, 1);
    let line = stdout(&doctor)
        .lines()
        .find(|l| l.contains("server pg-down"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no server line: {}", stdout(&doctor)));
    assert!(
        line.starts_with("FAIL") && line.contains("connection refused"),
        "{line}"
    );

    let started = Instant::now();
    let reconcile = master.run(&["reconcile", "--catalog-only"]);
    assert_exit(&reconcile, 1);
    assert!(started.elapsed() < Duration::from_secs(3), "no retrying");
    let out = stdout(&reconcile);
    assert!(
        out.lines()
            .any(|l| l.contains("cannot inspect pg-down") && l.contains("connection refused")),
        "{out}"
    );
}
