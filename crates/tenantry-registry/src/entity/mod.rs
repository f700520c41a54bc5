//! sea-orm entities of the master registry, one module per table (schema: `migrations-master/`).
//! Private to the registry: other crates get the domain types of `model` and friends.

pub mod admin;
pub mod api_token;
pub mod audit_log;
pub mod backup;
pub mod db_server;
pub mod enums;
pub mod idempotency_key;
pub mod operation;
pub mod plan;
pub mod registry_change;
pub mod registry_change_floor;
pub mod spare;
pub mod tenant;
pub mod tenant_domain;
