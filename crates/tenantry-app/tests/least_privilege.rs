//! The tenant schema migrates and seeds as the tenant's own role: a LOGIN role without
//! superuser rights that owns its database, connecting over TCP with its SCRAM password, as
//! provisioning does.

mod common;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tenantry_app::{DEFAULT_CHART, MIGRATIONS, seed};
use tenantry_test_utils::{pg_admin, pg_admin_url};
use uuid::Uuid;

/// A role and a database owned by it, both dropped on Drop (also when the test panics).
struct OwnedDatabase {
    role: String,
    password: String,
    database: String,
}

impl OwnedDatabase {
    fn new() -> OwnedDatabase {
        let id = Uuid::new_v4().simple();
        OwnedDatabase {
            role: format!("tenantry_test_role_{id}"),
            password: Uuid::new_v4().simple().to_string(),
            database: format!("tenantry_test_owned_{id}"),
        }
    }

    /// Creates the role and the database as provisioning does.
    async fn create(&self, admin: &DatabaseConnection) {
        let OwnedDatabase {
            role,
            password,
            database,
        } = self;
        for sql in [
            format!(
                r#"CREATE ROLE "{role}" LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"#
            ),
            format!(r#"CREATE DATABASE "{database}" OWNER "{role}""#),
            format!(r#"REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC"#),
        ] {
            admin
                .execute_unprepared(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// The role's URL over TCP to the test server (whose pg_hba asks it for a SCRAM password).
    fn url(&self) -> String {
        let mut url = url::Url::parse(&pg_admin_url()).expect("TENANTRY_TEST_PG_URL is a URL");
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_username(&self.role).unwrap();
        url.set_password(Some(&self.password)).unwrap();
        url.set_path(&format!("/{}", self.database));
        url.into()
    }
}

impl Drop for OwnedDatabase {
    /// `Drop` cannot await and runs on a runtime thread, so the cleanup gets its own thread and
    /// runtime. Never panics: a failure goes to stderr.
    fn drop(&mut self) {
        let statements = [
            format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                self.database
            ),
            format!(r#"DROP ROLE IF EXISTS "{}""#, self.role),
        ];
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = Database::connect(pg_admin_url())
                    .await
                    .map_err(|e| e.to_string())?;
                for sql in &statements {
                    admin
                        .execute_unprepared(sql)
                        .await
                        .map_err(|e| format!("{sql}: {e}"))?;
                }
                admin.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop {} / {}: {e}", self.database, self.role),
            Err(_) => eprintln!("dropping {} / {} panicked", self.database, self.role),
        }
    }
}

#[tokio::test]
async fn postgres_migrates_and_seeds_as_a_non_superuser_owner() {
    let admin = pg_admin().await;
    let owned = OwnedDatabase::new();
    owned.create(&admin).await;

    let conn = Database::connect(owned.url())
        .await
        .expect("connect as the owner role");
    assert_eq!(
        common::count(
            &conn,
            "SELECT count(*) FROM pg_roles WHERE rolname = current_user \
             AND NOT rolsuper AND NOT rolcreatedb AND NOT rolcreaterole"
        )
        .await,
        1,
        "the test role must have no special rights"
    );

    let report = tenantry_migrate::migrate(&conn, &MIGRATIONS).await.unwrap();
    assert_eq!(
        report.current_version,
        MIGRATIONS
            .latest_version(tenantry_migrate::Dialect::Postgres)
            .unwrap()
    );
    let seeded = seed(&conn, &common::ADMIN).await.unwrap();
    assert_eq!(seeded.ledgers_created, DEFAULT_CHART.len());
    assert!(seeded.admin_created);
    // Idempotent under the same rights, too.
    assert!(
        tenantry_migrate::migrate(&conn, &MIGRATIONS)
            .await
            .unwrap()
            .applied
            .is_empty()
    );
    assert!(!seed(&conn, &common::ADMIN).await.unwrap().admin_created);

    assert_eq!(
        common::count(
            &conn,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> current_user"
        )
        .await,
        0,
        "every table belongs to the tenant role"
    );
    conn.close().await.unwrap();

    let (role, database) = (owned.role.clone(), owned.database.clone());
    drop(owned);
    let left = format!(
        "SELECT (SELECT count(*) FROM pg_roles WHERE rolname = '{role}') \
              + (SELECT count(*) FROM pg_database WHERE datname = '{database}')"
    );
    assert_eq!(common::count(&admin, &left).await, 0, "the guard cleans up");
}
