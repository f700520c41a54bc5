//! The reference tenant application: an accounting domain (users, a chart of accounts,
//! vouchers with double-entry lines, invoices) living in each tenant's own database.
//!
//! This crate holds what provisioning needs to make a tenant database usable — the schema
//! ([`MIGRATIONS`], from `migrations-tenant/`) and its seed ([`seed`]: [`DEFAULT_CHART`] and the
//! tenant admin) — and the sea-orm [`entity`] types the tenant API works with.
//!
//! ```no_run
//! # async fn run(conn: &sea_orm::DatabaseConnection, hash: &str) -> Result<(), Box<dyn std::error::Error>> {
//! tenantry_migrate::migrate(conn, &tenantry_app::MIGRATIONS).await?;
//! let admin = tenantry_app::TenantAdmin { email: "ada@example.com", name: "Ada", password_hash: hash };
//! let report = tenantry_app::seed(conn, &admin).await?;
//! # Ok(())
//! # }
//! ```

mod chart;
pub mod entity;
mod error;
mod seed;

pub use chart::DEFAULT_CHART;
pub use entity::enums::{LedgerType, UserRole};
pub use error::SeedError;
pub use seed::{SeedReport, TenantAdmin, chart_fingerprint, seed, seed_admin, seed_chart};

/// The tenant schema, both dialects, embedded.
pub static MIGRATIONS: tenantry_migrate::MigrationSource =
    tenantry_migrate::embed!("../../migrations-tenant");
