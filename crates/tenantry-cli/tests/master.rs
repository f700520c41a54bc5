//! `tenantry master migrate` and `doctor` on both dialects.

mod common;

use std::collections::BTreeMap;

use common::{Master, assert_exit, json, stdout};
use sea_orm::{ConnectionTrait, Statement};
use tenantry_test_utils::{Dialect, TestDb};

/// table → sorted column names, read from the database's own catalog.
async fn schema(db: &TestDb) -> BTreeMap<String, Vec<String>> {
    let conn = db.connect().await;
    let sql = match db.dialect() {
        Dialect::Postgres => {
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY 1, 2"
        }
        Dialect::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1, 2"
        }
    };
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        let t: String = row.try_get("", "t").unwrap();
        let c: String = row.try_get("", "c").unwrap();
        out.entry(t).or_default().push(c);
    }
    out
}

#[tokio::test]
async fn migrate_twice_applies_once_and_both_dialects_end_with_the_same_tables() {
    let mut schemas = Vec::new();
    for dialect in Dialect::ALL {
        let master = Master::new(dialect).await;
        let first = master.run(&["master", "migrate", "--json"]);
        assert_exit(&first, 0);
        let first = json(&first);
        assert_eq!(first["applied"][0]["version"], 1, "{first}");
        let after_first = schema(&master.db).await;

        let second = master.run(&["master", "migrate", "--json"]);
        assert_exit(&second, 0);
        let second = json(&second);
        assert_eq!(second["applied"].as_array().unwrap().len(), 0, "{second}");
        assert_eq!(second["version"], first["version"]);
        assert_eq!(
            schema(&master.db).await,
            after_first,
            "second run changed the schema"
        );

        let plain = master.run(&["master", "migrate"]);
        assert_exit(&plain, 0);
        assert!(stdout(&plain).contains("up to date"), "{}", stdout(&plain));
        schemas.push(after_first);
    }
    let (pg, sqlite) = (&schemas[0], &schemas[1]);
    for table in [
        "tenants",
        "tenant_domains",
        "db_servers",
        "plans",
        "admins",
        "api_tokens",
        "audit_log",
        "backups",
        "operations",
        "refinery_schema_history",
    ] {
        assert!(pg.contains_key(table), "PostgreSQL lacks {table}");
    }
    assert_eq!(pg, sqlite, "PostgreSQL and SQLite masters differ");
}

#[tokio::test]
async fn doctor_reports_each_check_and_fails_until_migrated() {
    for dialect in Dialect::ALL {
        let master = Master::new(dialect).await;
        let before = master.run(&["doctor"]);
        assert_exit(&before, 1);
        let text = stdout(&before);
        assert!(text.contains("ok    config"), "{text}");
        assert!(text.contains("ok    master reachable"), "{text}");
        assert!(text.contains("FAIL  master migrated"), "{text}");

        assert_exit(&master.run(&["master", "migrate"]), 0);
        let after = master.run(&["doctor", "--json"]);
        assert_exit(&after, 0);
        let checks = json(&after);
        let names: Vec<&str> = checks
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["check"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "config",
                "master key",
                "master reachable",
                "master migrated",
                "servers"
            ]
        );
        assert!(
            checks.as_array().unwrap().iter().all(|c| c["ok"] == true),
            "{checks}"
        );
    }
}

#[tokio::test]
async fn doctor_fails_when_the_master_postgres_is_unreachable() {
    let master = Master::new(Dialect::Sqlite).await;
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let out = master.run_with(
        &["doctor"],
        &[(
            "TENANTRY__MASTER__URL",
            "postgres://nobody:pw-not-shown@127.0.0.1:1/master",
        )],
        None,
    );
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("FAIL  master reachable"),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("pw-not-shown") && !common::stderr(&out).contains("pw-not-shown")
    );
}

#[tokio::test]
async fn embedded_default_generates_a_private_key_once() {
    let master = Master::new(Dialect::Sqlite).await;
    // No TENANTRY_MASTER_KEY and no master URL: the embedded default under ./tenantry-data.
    let dir = master.db.dir();
    let run = |args: &[&str]| common::run_in(dir, args, &[], None);
    assert_exit(&run(&["master", "migrate"]), 0);
    let key_file = dir.join("tenantry-data/master.key");
    let first = std::fs::read(&key_file).expect("key generated");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(dir.join("tenantry-data/master.db").is_file());
    assert_exit(&run(&["master", "migrate"]), 0);
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        first,
        "key must not be regenerated"
    );
    assert_exit(&run(&["doctor"]), 0);
}

/// The data dir holds the master and every tenant database, so it is private whether the key
/// was generated into it or given in the environment.
#[cfg(unix)]
#[tokio::test]
async fn data_dir_is_private_however_the_key_is_given() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let env_key = common::random_key();
    for key in [None, Some(env_key.as_str())] {
        let dir = tempfile::tempdir().unwrap();
        let env: Vec<(&str, &str)> = key
            .map(|k| ("TENANTRY_MASTER_KEY", k))
            .into_iter()
            .collect();
        let run = |args: &[&str]| common::run_in(dir.path(), args, &env, None);
        assert_exit(&run(&["master", "migrate"]), 0);
        let data = dir.path().join("tenantry-data");
        assert!(data.join("master.db").is_file(), "key {key:?}");
        assert_eq!(
            data.join("master.key").exists(),
            key.is_none(),
            "a key is generated only when none is given"
        );
        assert_eq!(mode(&data), 0o700, "data dir, key {key:?}");

        let created = run(&[
            "tenants",
            "create",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            "a@acme.test",
            "--json",
        ]);
        assert_exit(&created, 0);
        let db_name = json(&created)["tenant"]["db_name"]
            .as_str()
            .unwrap()
            .to_owned();
        let tenants = data.join("tenants");
        assert_eq!(mode(&data), 0o700, "data dir after a tenant, key {key:?}");
        assert_eq!(mode(&tenants), 0o700, "tenant dir, key {key:?}");
        assert_eq!(mode(&tenants.join(format!("{db_name}.db"))), 0o600);
    }
}
