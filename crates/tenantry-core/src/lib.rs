//! Tenantry's shared vocabulary: identifiers that can only be constructed valid, the layered
//! [`settings`], and the [`vault`] that seals every secret the master registry stores.
//!
//! # Error policy
//! Each module has its own `thiserror` enum. Errors here are *about input* (a setting, a key, a
//! name) and their `Display` says which input is wrong and what is allowed — but never echoes a
//! secret. Mapping to exit codes and HTTP statuses happens at the edges (CLI, HTTP), once.

mod error_chain;
pub mod ids;
pub mod password;
pub mod settings;
pub mod vault;

pub use error_chain::error_chain;
pub use ids::{
    AdminId, ApiTokenId, DbServerId, DomainError, DomainName, Email, NameError, PlanId,
    PlanIdError, ServerName, Subdomain, SubdomainError, TenantId, TenantRef,
};
pub use settings::{LogFormat, Settings, SettingsError};
