//! sea-orm entities of a tenant database, one module per table (schema: `migrations-tenant/`).
//!
//! Ids are `i64` identity keys, amounts `i64` minor units, dates [`Date`](sea_orm::prelude::Date)
//! and timestamps [`DateTimeUtc`](sea_orm::prelude::DateTimeUtc) on both dialects.

pub mod enums;
pub mod invoice;
pub mod invoice_line;
pub mod ledger;
pub mod user;
pub mod voucher;
pub mod voucher_line;
