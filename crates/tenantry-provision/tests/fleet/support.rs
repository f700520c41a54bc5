//! What the fleet tests share: the fleet options they run with, a progress callback that
//! ignores progress, and a tenant broken so that the next release's migration fails on it.

use sea_orm::ConnectionTrait as _;
use tenantry_provision::Provisioner;
use tenantry_provision::fleet::FleetOptions;

use crate::common::Env;

pub(crate) const ALL: FleetOptions = FleetOptions {
    concurrency: 8,
    continue_on_error: true,
    dry_run: false,
};

pub(crate) fn noop(_: &tenantry_provision::fleet::TenantMigration) {}

/// Drops the tables `TENANT_V2`'s migration alters from `subdomain`'s database: that tenant's
/// migration to it fails.
pub(crate) async fn break_tenant(env: &Env, p: &Provisioner, subdomain: &str) {
    let broken = env.registry.find_tenant(&subdomain.into()).await.unwrap();
    let conn = p.connect_tenant(&broken).await.unwrap();
    conn.execute_unprepared("DROP TABLE voucher_lines; DROP TABLE ledgers;")
        .await
        .unwrap();
    conn.close().await.unwrap();
}
