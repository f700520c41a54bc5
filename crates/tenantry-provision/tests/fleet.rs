//! Fleet migration on 200 SQLite tenants (and a few on PostgreSQL): nothing pending → no tenant
//! connection; a new migration → all reach it; one broken tenant → the rest go on, it is
//! reported and recorded, and a re-run resumes.
//!
//! One test binary: the fixture check is here, the fleet tests live in `fleet/<theme>.rs`, their
//! shared options in `fleet/support.rs`.

mod common;

#[path = "fleet/operations.rs"]
mod operations;
#[path = "fleet/runs.rs"]
mod runs;
#[path = "fleet/support.rs"]
mod support;
#[path = "fleet/suspended.rs"]
mod suspended;

use common::{TENANT_V2, TENANT_V3, latest};
use tenantry_app::MIGRATIONS;

/// The fixture sets are the real tenant migrations, byte for byte (refinery checks checksums),
/// followed by one (`TENANT_V2`) and two (`TENANT_V3`) test-only migrations: a new real
/// migration must be added to the fixtures and the test ones renumbered after it.
#[test]
fn fixtures_are_the_real_migrations_plus_one_and_two_releases() {
    for dialect in [
        tenantry_migrate::Dialect::Postgres,
        tenantry_migrate::Dialect::Sqlite,
    ] {
        let key = |source: &tenantry_migrate::MigrationSource| -> Vec<(i32, String, u64)> {
            source
                .migrations(dialect)
                .unwrap()
                .iter()
                .map(|m| (m.version(), m.name().to_owned(), m.checksum()))
                .collect()
        };
        let (real, v2, v3) = (key(&MIGRATIONS), key(&TENANT_V2), key(&TENANT_V3));
        assert!(!real.is_empty(), "{dialect}");
        assert_eq!(v2.len(), real.len() + 1, "{dialect}: {v2:?}");
        assert_eq!(v2[..real.len()], real[..], "{dialect}");
        assert_eq!(v3.len(), v2.len() + 1, "{dialect}: {v3:?}");
        assert_eq!(v3[..v2.len()], v2[..], "{dialect}");
    }
    assert_eq!(
        (
            latest(&MIGRATIONS).map(|v| v + 1),
            latest(&MIGRATIONS).map(|v| v + 2)
        ),
        (latest(&TENANT_V2), latest(&TENANT_V3))
    );
}
