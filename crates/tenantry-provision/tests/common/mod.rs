//! A throwaway master plus a provisioner over one backend: the test server's PostgreSQL (tenant
//! databases on the shared test cluster) or a SQLite directory.

#![allow(dead_code)] // each test file uses part of this harness

use std::sync::{Arc, OnceLock};

use sea_orm::{ConnectionTrait, Statement};
use secrecy::SecretString;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, ServerName, Subdomain};
use tenantry_provision::reconcile::Drift;
use tenantry_provision::{CreateTenant, Provisioner};
use tenantry_registry::{Actor, NewServer, Registry, ServerDialect, Tenant};
use tenantry_test_utils::{Dialect, TestDb, pg_admin, pg_admin_url};

pub const SERVER: &str = "pg-test";

/// The real tenant migrations (V1, V2: symlinks into `migrations-tenant/`) + V3 (a fixture):
/// one release newer than the real schema, for fleet tests.
pub static TENANT_V2: tenantry_migrate::MigrationSource =
    tenantry_migrate::embed!("tests/fixtures/tenant-v2");

/// The real tenant migrations + V3 + V4 (another fixture), for a second release.
pub static TENANT_V3: tenantry_migrate::MigrationSource =
    tenantry_migrate::embed!("tests/fixtures/tenant-v3");

/// The latest version of a migration set. Both dialects have the same versions (tenantry-app's
/// schema test checks the real set, fleet.rs's fixture test the fixtures).
pub fn latest(source: &tenantry_migrate::MigrationSource) -> Option<i32> {
    source
        .latest_version(tenantry_migrate::Dialect::Sqlite)
        .unwrap()
}

pub struct Env {
    pub master: TestDb,
    pub backend: Dialect,
    pub registry: Registry,
}

impl Env {
    /// A migrated master of the same dialect as `backend`; for PostgreSQL, the test server is
    /// registered so tenants are placed on it.
    pub async fn new(backend: Dialect) -> Self {
        let master = TestDb::new(backend).await;
        let ring = KeyRing::from_keys(KeyRing::generate_key(), vec![]);
        let registry = Registry::connect(
            &DatabaseUrl::parse(master.url()).unwrap(),
            Arc::new(Vault::new(ring)),
        )
        .await
        .unwrap();
        registry.migrate().await.unwrap();
        if backend == Dialect::Postgres {
            add_server(&registry, SERVER, &pg_admin_url()).await;
        }
        Self {
            master,
            backend,
            registry,
        }
    }

    pub fn provisioner(&self) -> Provisioner {
        Provisioner::new(self.registry.clone(), self.master.dir())
    }

    pub async fn create(&self, p: &Provisioner, subdomain: &str) -> Tenant {
        p.create(request(subdomain))
            .await
            .unwrap_or_else(|e| panic!("create {subdomain}: {e}"))
            .tenant
    }

    /// Whether anything of `tenant` remains on its backend: database (or file) or role.
    pub async fn leftovers(&self, db_name: &str) -> Vec<String> {
        let mut found = Vec::new();
        match self.backend {
            Dialect::Sqlite => {
                for suffix in ["db", "db-wal", "db-shm"] {
                    let path = self
                        .master
                        .dir()
                        .join("tenants")
                        .join(format!("{db_name}.{suffix}"));
                    if path.exists() {
                        found.push(path.display().to_string());
                    }
                }
            }
            Dialect::Postgres => {
                let admin = pg_admin().await;
                for (catalog, column) in [("pg_database", "datname"), ("pg_roles", "rolname")] {
                    let rows = admin
                        .query_all_raw(Statement::from_sql_and_values(
                            admin.get_database_backend(),
                            format!("SELECT {column} AS n FROM {catalog} WHERE {column} = $1"),
                            [db_name.into()],
                        ))
                        .await
                        .unwrap();
                    found.extend(rows.iter().map(|_| format!("{catalog}: {db_name}")));
                }
            }
        }
        found
    }
}

/// Registers the PostgreSQL server at `admin_url` (a test cluster's) as `name`.
pub async fn add_server(registry: &Registry, name: &str, admin_url: &str) {
    let audit = tenantry_registry::Origin::from(Actor::System).entry(
        "server.add",
        None,
        serde_json::json!({}),
    );
    let new = NewServer {
        name: ServerName::parse(name).unwrap(),
        dialect: ServerDialect::Postgres,
        url: admin_url.rsplit_once('/').unwrap().0.to_owned(),
        admin_password: None,
        capacity: 10_000,
    };
    registry.add_server(new, audit).await.unwrap();
}

/// One argon2id hash shared by every tenant admin in a test run: hashing is deliberately slow.
pub fn admin_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&SecretString::from("tenant-admin-pw")).unwrap())
        .clone()
}

pub fn request(subdomain: &str) -> CreateTenant {
    CreateTenant {
        subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
        name: format!("{subdomain} Ltd"),
        plan: tenantry_core::PlanId::parse("standard").unwrap(),
        admin_email: Email::parse(&format!("admin@{subdomain}.example")).unwrap(),
        admin_password_hash: admin_hash(),
        server: None,
        origin: Actor::Cli {
            user: "test".into(),
        }
        .into(),
    }
}

/// The drift findings about `names` (database, role or tenant subdomain) only. Tests share one
/// PostgreSQL cluster, so `reconcile` on a PostgreSQL env also lists every other test's tenant
/// databases and roles as orphans (they belong to other masters): assertions about drift must
/// name what they look for. On SQLite the tenant directory is the test's own.
pub fn drift_about<'a>(drift: &'a [Drift], names: &[&str]) -> Vec<&'a Drift> {
    drift
        .iter()
        .filter(|d| {
            let name = match d {
                Drift::OrphanDatabase { database, .. } => database,
                Drift::OrphanRole { role, .. } => role,
                Drift::MissingDatabase { tenant, database } => {
                    if names.contains(&tenant.as_str()) {
                        return true;
                    }
                    database
                }
                Drift::SchemaVersion { tenant, .. } | Drift::TenantUnreachable { tenant, .. } => {
                    tenant
                }
                // A whole server that cannot be inspected concerns every test on it.
                Drift::Unreachable { .. } => return true,
            };
            names.contains(&name.as_str())
        })
        .collect()
}

pub async fn count(conn: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

pub fn dialect(d: Dialect) -> tenantry_migrate::Dialect {
    match d {
        Dialect::Postgres => tenantry_migrate::Dialect::Postgres,
        Dialect::Sqlite => tenantry_migrate::Dialect::Sqlite,
    }
}
