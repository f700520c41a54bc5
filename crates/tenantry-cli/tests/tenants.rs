//! `tenants ...` and `reconcile` through the real binary: JSON output, exit codes, crash repair.

mod common;

use common::{Master, assert_exit, json, stderr, stdout};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tenantry_test_utils::{Dialect, pg_admin_url};

async fn migrated(dialect: Dialect) -> Master {
    let master = Master::new(dialect).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    master
}

#[tokio::test]
async fn tenant_lifecycle_through_the_cli() {
    let master = migrated(Dialect::Sqlite).await;
    let created = master.run(&[
        "tenants",
        "create",
        "acme",
        "--name",
        "Acme Corp",
        "--admin-email",
        "Boss@Acme.test",
        "--json",
    ]);
    assert_exit(&created, 0);
    let created = json(&created);
    assert_eq!(created["tenant"]["status"], "active");
    assert_eq!(created["tenant"]["server"], "sqlite");
    assert_eq!(created["admin_email"], "boss@acme.test");
    assert!(
        created["one_time_password"]
            .as_str()
            .is_some_and(|p| p.len() >= 20)
    );
    assert!(created["tenant"].get("db_secret").is_none());
    let db_file = master.db.dir().join("tenants").join(format!(
        "{}.db",
        created["tenant"]["db_name"].as_str().unwrap()
    ));
    assert!(db_file.is_file());

    let dup = master.run(&[
        "tenants",
        "create",
        "acme",
        "--name",
        "Other",
        "--admin-email",
        "x@y.test",
    ]);
    assert_exit(&dup, 3);
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    for (bad, why) in [
        ("www", "reserved"),
        ("Acme2", "lowercase"),
        ("ab", "3–63"),
        ("acme-", "'-'"),
    ] {
        let out = master.run(&[
            "tenants",
            "create",
            bad,
            "--name",
            "N",
            "--admin-email",
            "x@y.test",
        ]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(why), "{bad}: {}", stderr(&out));
    }
    let unknown_plan = master.run(&[
        "tenants",
        "create",
        "plans",
        "--name",
        "N",
        "--plan",
        "gold",
        "--admin-email",
        "x@y.test",
    ]);
    assert_exit(&unknown_plan, 2);

    let list = json(&master.run(&["tenants", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    let show = master.run(&["tenants", "show", "acme"]);
    assert_exit(&show, 0);
    assert!(
        stdout(&show).contains("status     active"),
        "{}",
        stdout(&show)
    );
    assert_exit(&master.run(&["tenants", "show", "nobody"]), 4);

    let suspended =
        json(&master.run(&["tenants", "suspend", "acme", "--reason", "unpaid", "--json"]));
    assert_eq!(
        (
            suspended["status"].as_str(),
            suspended["status_reason"].as_str()
        ),
        (Some("suspended"), Some("unpaid"))
    );
    let listed = json(&master.run(&["tenants", "list", "--status", "suspended", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let blank = master.run(&["tenants", "suspend", "acme", "--reason", "  "]);
    assert_exit(&blank, 2);
    assert!(stderr(&blank).contains("--reason"), "{}", stderr(&blank));
    let active = json(&master.run(&["tenants", "reactivate", "acme", "--json"]));
    assert_eq!(active["status"], "active");
    assert!(active["migration"].is_null(), "up to date: {active}");

    let fleet = master.run(&["tenants", "migrate", "--all", "--json"]);
    assert_exit(&fleet, 0);
    let fleet = json(&fleet);
    assert_eq!(fleet["connections_opened"], 0);
    assert_eq!(fleet["tenants"][0]["outcome"], "up_to_date");
    assert_eq!(
        (
            &fleet["summary"]["tenants"],
            &fleet["summary"]["up_to_date"],
            &fleet["summary"]["failed"]
        ),
        (&json!(1), &json!(1), &json!(0)),
        "{fleet}"
    );

    // One audit row per mutation, written by the provisioner (not twice by the CLI).
    let conn = master.db.connect().await;
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT action, actor FROM audit_log ORDER BY id",
        ))
        .await
        .unwrap();
    conn.close().await.unwrap();
    let audit: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "action").unwrap(),
                r.try_get("", "actor").unwrap(),
            )
        })
        .collect();
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["tenant.create", "tenant.suspend", "tenant.reactivate"],
        "{audit:?}"
    );
    assert!(
        audit.iter().all(|(_, actor)| actor.starts_with("cli:")),
        "{audit:?}"
    );

    let wrong = master.run(&["tenants", "delete", "acme", "--confirm", "acme2"]);
    assert_exit(&wrong, 2);
    assert!(db_file.is_file());
    let deleted = json(&master.run(&["tenants", "delete", "acme", "--confirm", "acme", "--json"]));
    assert_eq!(deleted["status"], "deleted");
    assert!(!db_file.exists());
    assert_exit(
        &master.run(&[
            "tenants",
            "create",
            "acme",
            "--name",
            "Acme again",
            "--admin-email",
            "b@acme.test",
        ]),
        0,
    );
}

#[tokio::test]
async fn a_crashed_create_is_rolled_back_by_reconcile() {
    let master = migrated(Dialect::Sqlite).await;
    let crashed = master.run_with(
        &[
            "tenants",
            "create",
            "beta",
            "--name",
            "Beta",
            "--admin-email",
            "a@beta.test",
        ],
        &[("TENANTRY_TEST_FAILPOINT", "migrate")],
        None,
    );
    assert_exit(&crashed, 1);
    assert!(
        stderr(&crashed).contains("failpoint"),
        "{}",
        stderr(&crashed)
    );
    assert_exit(
        &master.run(&[
            "tenants",
            "create",
            "beta",
            "--name",
            "Beta",
            "--admin-email",
            "a@beta.test",
        ]),
        3,
    );

    let fresh = master.run(&["reconcile"]);
    assert_exit(&fresh, 0);
    assert!(
        stdout(&fresh).contains("nothing to reconcile"),
        "a just-updated operation is left alone: {}",
        stdout(&fresh)
    );

    let report = master.run(&["reconcile", "--stale-after", "0", "--json"]);
    assert_exit(&report, 0);
    let report = json(&report);
    assert_eq!(
        report["operations"][0]["outcome"]["outcome"], "rolled_back",
        "{report}"
    );
    assert_eq!(report["drift"].as_array().unwrap().len(), 0, "{report}");
    let tenants_dir = master.db.dir().join("tenants");
    let tenant_files: Vec<_> = std::fs::read_dir(&tenants_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // The schema template (`.template-<fingerprint>.db`) is no tenant's.
        .filter(|name| !name.starts_with(".template-"))
        .collect();
    assert!(tenant_files.is_empty(), "orphan files: {tenant_files:?}");
    assert_exit(
        &master.run(&[
            "tenants",
            "create",
            "beta",
            "--name",
            "Beta",
            "--admin-email",
            "a@beta.test",
        ]),
        0,
    );

    // Drift: a tenant-named file nobody owns is reported, and reconcile exits non-zero.
    std::fs::write(tenants_dir.join("t_ghost_0123abcd.db"), b"").unwrap();
    let drift = master.run(&["reconcile"]);
    assert_exit(&drift, 1);
    assert!(
        stdout(&drift).contains("t_ghost_0123abcd on sqlite belongs to no tenant"),
        "{}",
        stdout(&drift)
    );
}

#[tokio::test]
async fn postgres_tenant_on_a_registered_server() {
    let master = migrated(Dialect::Postgres).await;
    let url = pg_admin_url();
    let server_url = url.rsplit_once('/').unwrap().0;
    assert_exit(
        &master.run_stdin(
            &[
                "servers",
                "add",
                "pg-main",
                "--url",
                server_url,
                "--password-stdin",
            ],
            "unused-under-trust",
        ),
        0,
    );
    let created = master.run(&[
        "tenants",
        "create",
        "gamma",
        "--name",
        "Gamma",
        "--admin-email",
        "a@gamma.test",
        "--server",
        "pg-main",
        "--json",
    ]);
    assert_exit(&created, 0);
    assert_eq!(json(&created)["tenant"]["server"], "pg-main");
    let missing = master.run(&[
        "tenants",
        "create",
        "delta",
        "--name",
        "D",
        "--admin-email",
        "a@d.test",
        "--server",
        "nope",
    ]);
    assert_exit(&missing, 4);
    let deleted = master.run(&["tenants", "delete", "gamma", "--confirm", "gamma", "--json"]);
    assert_exit(&deleted, 0);
}
