//! What the fleet tests share: the fleet options they run with and a progress callback that
//! ignores progress.

use tenantry_provision::fleet::FleetOptions;

pub(crate) const ALL: FleetOptions = FleetOptions {
    concurrency: 8,
    continue_on_error: true,
    dry_run: false,
};

pub(crate) fn noop(_: &tenantry_provision::fleet::TenantMigration) {}
