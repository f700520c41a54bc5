//! Passwords given to the CLI meet the same policy as the tenant API's (`tenantry_core::password`):
//! a weak one is a usage error (exit 2) that states the rule, and nothing is written.

mod common;

use common::{Master, assert_exit, stderr};
use sea_orm::{ConnectionTrait, Statement};
use tenantry_core::password::RULE;
use tenantry_test_utils::Dialect;

/// Too short, one character repeated, too long (counted in characters, not bytes).
fn weak_passwords() -> [String; 4] {
    [
        "x".to_owned(),
        "elevenchars".to_owned(),
        "a".repeat(20),
        "é".repeat(1025),
    ]
}

/// Rows in the master tables a create would write to: (tenants, admins, operations, audit).
async fn written(master: &Master) -> [i64; 4] {
    let db = master.db.connect().await;
    let mut counts = [0; 4];
    for (count, table) in counts
        .iter_mut()
        .zip(["tenants", "admins", "operations", "audit_log"])
    {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        *count = row.try_get::<i64>("", "n").unwrap();
    }
    counts
}

async fn migrated() -> Master {
    let master = Master::new(Dialect::Sqlite).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    master
}

#[tokio::test]
async fn tenants_create_refuses_a_weak_admin_password_before_writing() {
    let master = migrated().await;
    let before = written(&master).await;
    let create = |password: &str| {
        master.run_stdin(
            &[
                "tenants",
                "create",
                "weakpw",
                "--name",
                "Weak",
                "--admin-email",
                "admin@weakpw.test",
                "--admin-password-stdin",
            ],
            &format!("{password}\n"),
        )
    };
    for password in weak_passwords() {
        let out = create(&password);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("--admin-password-stdin"), "{err}");
        assert!(err.contains(RULE), "{err}");
        if password.len() > 1 {
            assert!(!err.contains(&password), "the password is echoed: {err}");
        }
    }
    assert_eq!(
        written(&master).await,
        before,
        "a refused create wrote rows"
    );
    assert!(
        !master.db.dir().join("tenants").exists(),
        "a refused create made a tenant directory"
    );

    // The policy refuses weak passwords only: one that meets it creates the tenant.
    assert_exit(&create("a strong passphrase"), 0);
    assert_eq!(written(&master).await[0], before[0] + 1);
}

#[tokio::test]
async fn admins_create_refuses_a_weak_password_before_writing() {
    let master = migrated().await;
    let before = written(&master).await;
    let create = |password: &str| {
        master.run_stdin(
            &[
                "admins",
                "create",
                "--email",
                "ops@weakpw.test",
                "--password-stdin",
            ],
            &format!("{password}\n"),
        )
    };
    for password in weak_passwords() {
        let out = create(&password);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("--password-stdin"), "{err}");
        assert!(err.contains(RULE), "{err}");
    }
    assert_eq!(
        written(&master).await,
        before,
        "a refused create wrote rows"
    );

    assert_exit(&create("a strong passphrase"), 0);
    assert_eq!(written(&master).await[1], before[1] + 1);
}
