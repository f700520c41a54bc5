//! Shapes of admin answers that the handlers assemble (an operation with its result, a view with
//! a secret shown once) or that come from crates without OpenAPI derives (pool figures, a
//! migration report): described here, for the document only. Tests compare them with answers.

#![allow(dead_code)] // only described

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_ops::{
    AdminView, BackupView, FleetStats, MoveView, RestoreView, TenantHealth, TenantView, TokenView,
};
use tenantry_registry::{OperationKind, OperationState};
use utoipa::ToSchema;

/// A list: `{data}`.
#[derive(Serialize, ToSchema)]
pub struct DataList<T> {
    pub data: Vec<T>,
}

/// The answer to a long action whose result is `$result`: `$name`.
macro_rules! operation_answer {
    ($name:ident, $result:ty) => {
        /// The answer to a long action. `202`: the operation, started (it may have ended
        /// since) — poll `GET /admin/v1/operations/{id}`. `200`: the operation ended within
        /// `Prefer: wait=N` (`state` says how; `result` holds the action's result when it
        /// succeeded), or the action ended before recording an operation (refused early, or
        /// nothing to do): then only `result` and the action's extra fields are present.
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            #[schema(value_type = Option<String>, format = "uuid", nullable = false)]
            pub id: Option<String>,
            #[schema(nullable = false)]
            pub kind: Option<OperationKind>,
            /// The tenant it acts on (`null` for a fleet migration).
            #[schema(value_type = Option<String>, format = "uuid")]
            pub tenant: Option<String>,
            #[schema(nullable = false)]
            pub state: Option<OperationState>,
            /// The step it is at (or ended at).
            #[schema(nullable = false)]
            pub step: Option<String>,
            #[schema(nullable = false)]
            pub progress: Option<Progress>,
            /// Why it failed or was rolled back.
            pub error: Option<String>,
            #[schema(nullable = false)]
            pub attempts: Option<i32>,
            #[schema(nullable = false)]
            pub started_at: Option<DateTime<Utc>>,
            #[schema(nullable = false)]
            pub updated_at: Option<DateTime<Utc>>,
            pub finished_at: Option<DateTime<Utc>>,
            /// The action's result once it succeeded; `null` while it runs or when it failed.
            pub result: Option<$result>,
            /// Tenant creation only: the email of the tenant's first admin user.
            #[schema(nullable = false)]
            pub admin_email: Option<String>,
            /// Tenant creation only: the generated password of that user, when none was
            /// given. Shown once: a replay (`Idempotency-Key`) shows `<shown once>`.
            pub one_time_password: Option<String>,
        }
    };
}

operation_answer!(TenantOperation, TenantView);
operation_answer!(MigrationOperation, FleetReport);
operation_answer!(BackupOperation, BackupView);
operation_answer!(RestoreOperation, RestoreView);
operation_answer!(MoveOperation, MoveView);

/// How far an operation got (as `tenantry_ops::OperationView` says).
#[derive(Serialize, ToSchema)]
pub struct Progress {
    /// Steps (tenants, for a fleet migration) done so far, when counted.
    pub done: Option<i64>,
    /// Steps in all, when known.
    pub total: Option<i64>,
}

/// A new operator.
#[derive(Serialize, ToSchema)]
pub struct CreatedAdmin {
    #[serde(flatten)]
    pub admin: AdminView,
    /// The generated password, when none was given. Shown once: a replay shows `<shown once>`.
    pub one_time_password: Option<String>,
}

/// A new API token.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: TokenView,
    /// The token, for `Authorization: Bearer …`. Shown once, stored hashed: a replay shows
    /// `<shown once>`.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedToken {
    #[schema(value_type = String, format = "uuid")]
    pub id: String,
    pub revoked: bool,
}

/// A reactivated tenant.
#[derive(Serialize, ToSchema)]
pub struct Reactivated {
    pub tenant: TenantView,
    /// The catch-up migration of a tenant that came back behind the latest schema; `null` when
    /// it was up to date.
    pub migration: Option<TenantMigration>,
}

/// What a migration did (or would do, on a dry run).
#[derive(Serialize, ToSchema)]
pub struct FleetReport {
    pub tenants: Vec<TenantMigration>,
    /// Tenant database connections opened by this run.
    pub connections_opened: u64,
}

/// One tenant's migration.
#[derive(Serialize, ToSchema)]
pub struct TenantMigration {
    /// Its subdomain.
    pub tenant: String,
    pub from: Option<i32>,
    pub to: Option<i32>,
    pub latest: Option<i32>,
    pub outcome: MigrationOutcome,
    /// Why, for `skipped` and `failed`.
    #[schema(nullable = false)]
    pub detail: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MigrationOutcome {
    UpToDate,
    Migrated,
    WouldMigrate,
    Skipped,
    Failed,
    NotAttempted,
    Busy,
}

/// This process's tenant connection pools.
#[derive(Serialize, ToSchema)]
pub struct PoolStats {
    pub cached_tenants: u64,
    pub capacity: u64,
    /// Leases served by an idle connection.
    pub hits: u64,
    /// Leases that opened a connection.
    pub opens: u64,
    /// Opens that took the budget of another tenant's idle connection.
    pub steals: u64,
    pub open_failures: u64,
    /// Requests refused at once because their tenant failed moments ago.
    pub fast_failures: u64,
    pub waits: u64,
    pub timeouts: u64,
    pub evictions: u64,
    pub servers: Vec<ServerPoolStats>,
}

#[derive(Serialize, ToSchema)]
pub struct ServerPoolStats {
    /// The server's id; `null` for the local SQLite directory.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub server: Option<String>,
    pub budget: u64,
    /// Connections counted against the budget (idle + busy + connecting + closing).
    pub open: u64,
    pub idle: u64,
    pub busy: u64,
    pub connecting: u64,
}

/// One tenant's connections in this process.
#[derive(Serialize, ToSchema)]
pub struct TenantPoolStats {
    /// Whether this process holds connections (or waiters) for the tenant at all.
    pub cached: bool,
    /// The most it may hold now.
    pub max: u64,
    pub idle: u64,
    pub busy: u64,
    pub connecting: u64,
    pub waiting: u64,
}

/// Tenant counts, and this process's pools.
#[derive(Serialize, ToSchema)]
pub struct Stats {
    #[serde(flatten)]
    pub fleet: FleetStats,
    pub pool: PoolStats,
}

/// A tenant's health, and its connections in this process.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[serde(flatten)]
    pub health: TenantHealth,
    pub connection_pool_status: TenantPoolStats,
}
