//! `servers add|list` and `admins create`: secrets sealed, input refused clearly.

mod common;

use std::sync::Arc;

use common::{Master, assert_exit, json, stderr, stdout};
use sea_orm::{ConnectionTrait, Statement};
use secrecy::{ExposeSecret, SecretString};
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, verify_password};
use tenantry_registry::Registry;
use tenantry_test_utils::{Dialect, TestDb, pg_admin_url};

async fn migrated(dialect: Dialect) -> Master {
    let master = Master::new(dialect).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    master
}

async fn registry(master: &Master) -> Registry {
    let ring = KeyRing::parse(&SecretString::from(master.key.clone())).unwrap();
    let url = DatabaseUrl::parse(master.db.url()).unwrap();
    Registry::connect(&url, Arc::new(Vault::new(ring)))
        .await
        .unwrap()
}

/// Every byte of the master, as the operator's backup tool would see it.
async fn master_contents(db: &TestDb) -> Vec<u8> {
    match db.dialect() {
        Dialect::Sqlite => {
            let path = db.sqlite_path().unwrap();
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let file = format!("{}{suffix}", path.display());
                // Read in a child process: closing any descriptor of a SQLite file in *this*
                // process would drop the POSIX locks our own open registry handle holds on it
                // (SQLite's "how to corrupt" §2.2), and writes of other processes get lost.
                let out = std::process::Command::new("cat")
                    .arg(&file)
                    .output()
                    .unwrap();
                bytes.extend(out.stdout);
            }
            assert!(!bytes.is_empty());
            bytes
        }
        Dialect::Postgres => {
            let conn = db.connect().await;
            let backend = conn.get_database_backend();
            let tables = conn
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                ))
                .await
                .unwrap();
            let mut text = String::new();
            for t in tables {
                let table: String = t.try_get("", "tablename").unwrap();
                // A whole row cast to text covers every column, whatever its type.
                let rows = conn
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT r::text AS row FROM \"{table}\" r"),
                    ))
                    .await
                    .unwrap();
                for row in rows {
                    text.push_str(&row.try_get::<String>("", "row").unwrap());
                }
            }
            assert!(text.contains("db_servers") || !text.is_empty());
            text.into_bytes()
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn server_admin_password_is_stored_sealed_only() {
    for dialect in Dialect::ALL {
        let master = migrated(dialect).await;
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        let admin_url = pg_admin_url();
        let url_no_db = admin_url.rsplit_once('/').unwrap().0;
        let out = master.run_stdin(
            &[
                "servers",
                "add",
                "pg-main",
                "--url",
                url_no_db,
                "--password-stdin",
                "--capacity",
                "50",
            ],
            &format!("{password}\n"),
        );
        assert_exit(&out, 0);

        let bytes = master_contents(&master.db).await;
        assert!(
            !contains(&bytes, password.as_bytes()),
            "{dialect:?}: plaintext password found in the master"
        );
        assert!(
            contains(&bytes, b"pg-main"),
            "{dialect:?}: the scan did not see the server row"
        );

        let list = master.run(&["servers", "list", "--json"]);
        assert_exit(&list, 0);
        let servers = json(&list);
        assert_eq!(servers[0]["name"], "pg-main");
        assert_eq!(servers[0]["capacity"], 50);
        assert_eq!(servers[0]["has_secret"], true);
        assert!(!stdout(&list).contains(&password));

        let registry = registry(&master).await;
        let server = registry.list_servers().await.unwrap().remove(0);
        let opened = registry.server_admin_password(&server).unwrap().unwrap();
        assert_eq!(
            opened.expose_secret(),
            password,
            "the sealed password opens to the original"
        );

        let again = master.run_stdin(
            &[
                "servers",
                "add",
                "pg-main",
                "--url",
                url_no_db,
                "--password-stdin",
            ],
            "x\n",
        );
        assert_exit(&again, 3);
        assert!(
            stderr(&again).contains("already exists"),
            "{}",
            stderr(&again)
        );
    }
}

#[tokio::test]
async fn servers_add_refuses_bad_input_without_echoing_secrets() {
    let master = migrated(Dialect::Sqlite).await;
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "servers",
                "add",
                "pg1",
                "--url",
                "postgres://admin:Sup3rSecret@db:5432",
            ],
            "must not contain a password",
        ),
        (
            &[
                "servers",
                "add",
                "PG 1",
                "--url",
                "postgres://admin@db:5432",
            ],
            "NAME",
        ),
        (
            &["servers", "add", "pg1", "--url", "mysql://admin@db"],
            "--url",
        ),
        (
            &[
                "servers",
                "add",
                "pg1",
                "--url",
                "postgres://admin@db",
                "--capacity",
                "0",
            ],
            "capacity",
        ),
    ];
    for (args, expected) in cases {
        let out = master.run(args);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("Sup3rSecret"), "{}", stderr(&out));
    }
    let unreachable = master.run_stdin(
        &[
            "servers",
            "add",
            "pg1",
            "--url",
            "postgres://admin@127.0.0.1:1",
            "--password-stdin",
        ],
        "Sup3rSecret",
    );
    assert_exit(&unreachable, 1);
    assert!(
        stderr(&unreachable).contains("cannot connect"),
        "{}",
        stderr(&unreachable)
    );
    assert!(!stderr(&unreachable).contains("Sup3rSecret"));
}

#[tokio::test]
async fn doctor_fails_on_a_wrong_key_and_reaches_registered_servers() {
    let master = migrated(Dialect::Postgres).await;
    let url_no_db = pg_admin_url().rsplit_once('/').unwrap().0.to_owned();
    assert_exit(
        &master.run_stdin(
            &[
                "servers",
                "add",
                "pg-main",
                "--url",
                &url_no_db,
                "--password-stdin",
            ],
            "pw",
        ),
        0,
    );
    let ok = master.run(&["doctor"]);
    assert_exit(&ok, 0);
    assert!(
        stdout(&ok).contains("ok    server pg-main"),
        "{}",
        stdout(&ok)
    );

    let wrong = Master {
        db: master.db,
        key: common::random_key(),
    };
    let out = wrong.run(&["doctor"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("FAIL  server pg-main"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn admins_create_hashes_passwords_and_refuses_duplicates() {
    for dialect in Dialect::ALL {
        let master = migrated(dialect).await;
        let out = master.run_stdin(
            &[
                "admins",
                "create",
                "--email",
                "Ops@Example.com",
                "--password-stdin",
                "--role",
                "owner",
                "--json",
            ],
            "correct horse\n",
        );
        assert_exit(&out, 0);
        let created = json(&out);
        assert_eq!(created["email"], "ops@example.com");
        assert_eq!(created["role"], "owner");
        assert!(created["one_time_password"].is_null());

        let registry = registry(&master).await;
        let email = tenantry_core::Email::parse("ops@example.com").unwrap();
        let admin = registry.admin_by_email(&email).await.unwrap().unwrap();
        let hash = admin.password_hash();
        assert!(
            hash.expose_secret().starts_with("$argon2id$"),
            "{}",
            hash.expose_secret()
        );
        assert!(
            verify_password(&SecretString::from("correct horse"), hash.expose_secret()).unwrap()
        );
        assert!(!contains(
            &master_contents(&master.db).await,
            b"correct horse"
        ));
        let audit = registry.recent_audit(10).await.unwrap();
        assert_eq!(audit[0].action, "admin.create");

        let dup = master.run_stdin(
            &[
                "admins",
                "create",
                "--email",
                "ops@example.com",
                "--password-stdin",
            ],
            "another strong password",
        );
        assert_exit(&dup, 3);

        let generated = master.run(&[
            "admins",
            "create",
            "--email",
            "viewer@example.com",
            "--role",
            "viewer",
            "--json",
        ]);
        assert_exit(&generated, 0);
        let generated = json(&generated);
        let one_time = generated["one_time_password"].as_str().unwrap().to_owned();
        assert!(one_time.len() >= 20);
        let viewer_email = tenantry_core::Email::parse("viewer@example.com").unwrap();
        let viewer = registry
            .admin_by_email(&viewer_email)
            .await
            .unwrap()
            .unwrap();
        assert!(
            verify_password(
                &SecretString::from(one_time),
                viewer.password_hash().expose_secret()
            )
            .unwrap()
        );

        let bad = master.run(&["admins", "create", "--email", "not-an-email"]);
        assert_exit(&bad, 2);
        assert!(stderr(&bad).contains("--email"), "{}", stderr(&bad));
        let empty = master.run_stdin(
            &["admins", "create", "--email", "a@b.co", "--password-stdin"],
            "",
        );
        assert_exit(&empty, 2);
    }
}

#[tokio::test]
async fn commands_refuse_an_unmigrated_master() {
    let master = Master::new(Dialect::Sqlite).await;
    let out = master.run(&["servers", "list"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("tenantry master migrate"),
        "{}",
        stderr(&out)
    );
}
