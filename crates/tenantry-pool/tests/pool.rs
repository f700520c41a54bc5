//! The connection manager against a real PostgreSQL: connection counts are read from
//! `pg_stat_activity` and `pg_stat_database`, not only from our own stats.
//!
//! One test binary: the tests live in `pool/<theme>.rs`, their shared helpers in
//! `pool/support.rs`.

mod common;

#[path = "pool/budget.rs"]
mod budget;
#[path = "pool/dead_tenants.rs"]
mod dead_tenants;
#[path = "pool/lifecycle.rs"]
mod lifecycle;
#[path = "pool/support.rs"]
mod support;
#[path = "pool/tenant_limits.rs"]
mod tenant_limits;
