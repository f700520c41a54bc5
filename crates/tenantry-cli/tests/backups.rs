//! `tenants backup | backups | restore | recover` and `delete`'s final backup through the real
//! binary: a fleet backup with one failure, restore / clone / delete / recover on PostgreSQL,
//! a damaged backup refused, and a move between two PostgreSQL servers.

mod common;

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Instant;

use common::fleet::create_in_process;
use common::{Master, assert_exit, json, stderr, stdout};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use tenantry_test_utils::{Dialect, pg_admin_url, pg2_admin_url};

const FLEET: usize = 100;

async fn migrated(dialect: Dialect) -> Master {
    let master = Master::new(dialect).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    master
}

/// `tenantry` with `line` split at spaces (no argument here has one).
fn run(master: &Master, env: &[(&str, &str)], line: &str) -> Output {
    master.run_with(&line.split(' ').collect::<Vec<_>>(), env, None)
}

fn create(master: &Master, env: &[(&str, &str)], subdomain: &str, server: Option<&str>) -> Value {
    let server = server.map(|s| format!(" --server {s}")).unwrap_or_default();
    let line =
        format!("tenants create {subdomain} --name N --admin-email a@{subdomain}.test{server}");
    let out = run(master, env, &format!("{line} --json"));
    assert_exit(&out, 0);
    json(&out)["tenant"].clone()
}

fn backups(master: &Master, env: &[(&str, &str)], tenant: &str) -> Vec<Value> {
    let out = run(master, env, &format!("tenants backups {tenant} --json"));
    assert_exit(&out, 0);
    json(&out).as_array().unwrap().clone()
}

/// Lines of `text` starting with `prefix`, without it.
fn lines_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .collect()
}

#[tokio::test]
async fn backup_all_of_100_tenants_reports_progress_a_summary_and_the_one_that_failed() {
    let started = Instant::now();
    let master = migrated(Dialect::Sqlite).await;
    let names: Vec<String> = (0..FLEET).map(|i| format!("shop-{i:03}")).collect();
    create_in_process(&master, &names).await;
    let created = started.elapsed();

    let victim = "shop-042";
    let show = json(&run(&master, &[], &format!("tenants show {victim} --json")));
    let db_file = format!("{}.db", show["db_name"].as_str().unwrap());
    std::fs::remove_file(master.db.dir().join("tenants").join(&db_file)).unwrap();

    let t = Instant::now();
    let out = run(&master, &[], "tenants backup --all --concurrency 4");
    let backed_up = t.elapsed();
    assert_exit(&out, 1);
    let err = stderr(&out);
    let mut ok = lines_after(&err, "ok   ");
    ok.sort_unstable();
    let others: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != victim)
        .collect();
    assert_eq!(ok, others, "one `ok` line per healthy tenant:\n{err}");
    let failed = lines_after(&err, "FAIL ");
    assert_eq!(failed.len(), 1, "{err}");
    let cause = failed[0]
        .strip_prefix(&format!("{victim}: "))
        .unwrap_or_else(|| panic!("names the tenant: {}", failed[0]));
    assert!(
        cause.contains(&db_file) && cause.contains("does not exist"),
        "{cause}"
    );
    let summary = stdout(&out);
    assert!(
        summary.starts_with(&format!("{} tenant(s) backed up (", FLEET - 1))
            && summary.trim_end().ends_with("bytes), 1 failed"),
        "{summary}"
    );

    let t = Instant::now();
    let mut bytes = 0;
    for name in &others {
        let listed = backups(&master, &[], name);
        assert_eq!(listed.len(), 1, "{name}: {listed:?}");
        assert_eq!(listed[0]["state"], "completed", "{name}: {listed:?}");
        assert!(listed[0]["error"].is_null(), "{name}: {listed:?}");
        bytes += listed[0]["bytes"].as_u64().unwrap();
    }
    let listed_in = t.elapsed();
    assert!(
        summary.contains(&format!("({bytes} bytes)")),
        "{summary} vs {bytes}"
    );
    let row = &backups(&master, &[], victim)[..];
    let error = row[0]["error"].as_str().unwrap_or_default();
    assert!(row.len() == 1 && row[0]["state"] == "failed", "{row:?}");
    assert!(error.contains("does not exist"), "{row:?}");

    // The same run as JSON: no progress lines, an outcome per tenant and a summary that adds up.
    let out = run(&master, &[], "tenants backup --all --concurrency 4 --json");
    assert_exit(&out, 1);
    let quiet = lines_after(&stderr(&out), "ok   ").is_empty();
    assert!(quiet, "{}", stderr(&out));
    let report = json(&out);
    let outcomes = report["tenants"].as_array().unwrap();
    assert_eq!(outcomes.len(), FLEET, "{report}");
    let mut json_bytes = 0;
    for o in outcomes {
        if o["tenant"] == victim {
            assert!(o["backup"].is_null(), "{o}");
            assert!(
                o["error"].as_str().unwrap().contains("does not exist"),
                "{o}"
            );
        } else {
            assert!(o["error"].is_null(), "{o}");
            assert_eq!(o["backup"]["state"], "completed", "{o}");
            json_bytes += o["backup"]["bytes"].as_u64().unwrap();
        }
    }
    let summary = json!({ "backed_up": FLEET - 1, "failed": 1, "bytes": json_bytes });
    assert_eq!(report["summary"], summary, "{report}");
    eprintln!(
        "timings: {FLEET} tenants created in {created:?}, backed up in {backed_up:?}, \
         listed in {listed_in:?}; total {:?}",
        started.elapsed()
    );
}

/// The test server as `servers add` takes it, and where its client programs are.
fn pg_server() -> (String, Vec<(&'static str, String)>) {
    let url = pg_admin_url();
    let server = url.rsplit_once('/').unwrap().0.to_owned();
    let env = std::env::var("TENANTRY_TEST_PG_BIN")
        .map(|bin| vec![("TENANTRY__BACKUPS__PG_BIN", bin)])
        .unwrap_or_default();
    (server, env)
}

/// Ledgers with `code` in a tenant database (`url` reaches it as a superuser or its owner).
async fn ledgers(url: &str, code: &str) -> i64 {
    let conn = Database::connect(url).await.unwrap();
    let backend = conn.get_database_backend();
    let sql = format!("SELECT count(*) AS n FROM ledgers WHERE code = '{code}'");
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.unwrap();
    row.try_get("", "n").unwrap()
}

async fn add_ledger(url: &str, code: &str) {
    let conn = Database::connect(url).await.unwrap();
    let sql = format!("INSERT INTO ledgers (code, name, type) VALUES ('{code}', 'Test', 'asset')");
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn restore_clone_delete_recover_from_the_cli() {
    let master = migrated(Dialect::Postgres).await;
    let (server, env) = pg_server();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cli = |line: &str| run(&master, &env, line);
    let add = format!("servers add pg-main --url {server} --password-stdin");
    let add: Vec<&str> = add.split(' ').collect();
    assert_exit(&master.run_with(&add, &env, Some("unused-under-trust")), 0);
    let tenant = create(&master, &env, "acme", Some("pg-main"));
    let id = tenant["id"].as_str().unwrap().to_owned();
    let db_url = |subdomain: &str| {
        let show = cli(&format!("tenants show {subdomain} --json"));
        assert_exit(&show, 0);
        format!("{server}/{}", json(&show)["db_name"].as_str().unwrap())
    };

    let out = cli("tenants backup acme --json");
    assert_exit(&out, 0);
    let backup = json(&out)["id"].as_str().unwrap().to_owned();
    add_ledger(&db_url("acme"), "AFTER").await;

    let out = cli(&format!("tenants restore acme --backup {backup}"));
    assert_exit(&out, 0);
    let said = stdout(&out);
    let restored = format!("restored backup {backup} into acme");
    assert!(
        said.starts_with(&restored) && said.contains("switched in "),
        "{said}"
    );
    let after = ledgers(&db_url("acme"), "AFTER").await;
    assert_eq!(after, 0, "the backup's data is back");

    let out = cli(&format!(
        "tenants restore acme --backup {backup} --into acme-copy --json"
    ));
    assert_exit(&out, 0);
    let copy = json(&out);
    assert_eq!(
        (&copy["status"], &copy["server"]),
        (&json!("active"), &json!("pg-main"))
    );
    assert_ne!(copy["id"], tenant["id"], "{copy}");
    assert_eq!(ledgers(&db_url("acme-copy"), "AFTER").await, 0);

    add_ledger(&db_url("acme"), "KEEP").await;
    let deleted = cli("tenants delete acme --confirm acme --json");
    assert_exit(&deleted, 0);
    assert_eq!(json(&deleted)["status"], "deleted");
    let listed = backups(&master, &env, &id);
    let last = listed.iter().find(|b| b["kind"] == "final");
    let last = last.unwrap_or_else(|| panic!("no final backup: {listed:?}"));
    assert_eq!(last["state"], "completed", "{listed:?}");
    assert!(last["expires_at"].is_string(), "{listed:?}");

    let out = cli("tenants recover acme --json");
    assert_exit(&out, 0);
    assert_eq!(json(&out)["status"], "active");
    let kept = ledgers(&db_url("acme"), "KEEP").await;
    assert_eq!(kept, 1, "the data at deletion is back");

    assert_exit(&cli("tenants delete acme --confirm acme --no-backup"), 0);
    let out = cli("tenants recover acme");
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("acme") && err.contains("final backup"),
        "{err}"
    );
    assert_exit(
        &cli("tenants delete acme-copy --confirm acme-copy --no-backup"),
        0,
    );
}

#[tokio::test]
async fn a_damaged_backup_is_refused_with_a_clear_message() {
    let master = migrated(Dialect::Sqlite).await;
    create(&master, &[], "acme", None);
    assert_exit(&run(&master, &[], "tenants backup acme"), 0);
    let listed = backups(&master, &[], "acme");
    let backup = listed[0]["id"].as_str().unwrap();
    let location = url::Url::parse(listed[0]["location"].as_str().unwrap()).unwrap();
    let file = location.to_file_path().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();

    let show = || json(&run(&master, &[], "tenants show acme --json"));
    let before = show();
    let tenants_dir = master.db.dir().join("tenants");
    let db_url = format!(
        "sqlite://{}?mode=ro",
        tenants_dir
            .join(format!("{}.db", before["db_name"].as_str().unwrap()))
            .display()
    );
    add_ledger(&db_url.replace("mode=ro", "mode=rw"), "AFTER").await;
    let files = || -> BTreeSet<String> {
        std::fs::read_dir(&tenants_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let files_before = files();

    let out = run(
        &master,
        &[],
        &format!("tenants restore acme --backup {backup}"),
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("backup {backup}")) && err.contains("corrupt or was tampered with"),
        "{err}"
    );
    assert_eq!(files(), files_before, "no database was left behind");
    // All but `updated_at`: a refused restore still lifts the fence it never put up.
    let unchanged = |mut v: Value| {
        v.as_object_mut().unwrap().remove("updated_at");
        v
    };
    assert_eq!(
        unchanged(show()),
        unchanged(before),
        "the tenant is unchanged"
    );
    assert_eq!(ledgers(&db_url, "AFTER").await, 1, "its data is untouched");
}

#[tokio::test]
async fn move_between_servers_from_the_cli() {
    let master = migrated(Dialect::Postgres).await;
    let (server, env) = pg_server();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cli = |line: &str| run(&master, &env, line);
    let second = pg2_admin_url().rsplit_once('/').unwrap().0.to_owned();
    for (name, url) in [("pg-main", &server), ("pg-two", &second)] {
        let add = format!("servers add {name} --url {url} --password-stdin");
        let add: Vec<&str> = add.split(' ').collect();
        assert_exit(&master.run_with(&add, &env, Some("unused-under-trust")), 0);
    }
    create(&master, &env, "nomad", Some("pg-main"));
    let show = cli("tenants show nomad --json");
    let db = json(&show)["db_name"].as_str().unwrap().to_owned();
    add_ledger(&format!("{server}/{db}"), "CARRIED").await;

    let out = cli("tenants move nomad --to pg-two");
    assert_exit(&out, 0);
    let said = stdout(&out);
    assert!(
        said.starts_with("moved nomad from pg-main to pg-two") && said.contains("writes paused"),
        "{said}"
    );
    let show = json(&cli("tenants show nomad --json"));
    assert_eq!(show["server"], "pg-two", "{show}");
    assert_eq!(ledgers(&format!("{second}/{db}"), "CARRIED").await, 1);

    // Back again, as JSON; then the refusals, each with its reason.
    let out = cli("tenants move nomad --to pg-main --json");
    assert_exit(&out, 0);
    let moved = json(&out);
    assert_eq!(
        (moved["from"].as_str(), moved["to"].as_str()),
        (Some("pg-two"), Some("pg-main"))
    );
    assert!(moved["write_pause_ms"].as_u64().is_some(), "{moved}");
    let out = cli("tenants move nomad --to pg-main");
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("pg-main already"), "{}", stderr(&out));
    let out = cli("tenants move nomad --to pg-gone");
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("pg-gone"), "{}", stderr(&out));
}
