//! What callers see of tenants and operations: the same shapes on the CLI's `--json` and in the
//! admin API. Never a secret.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_core::TenantId;
use tenantry_registry::{
    Operation, OperationKind, OperationState, Server, StorageLevel, Tenant, TenantStatus,
};
use uuid::Uuid;

/// A tenant, with its server's name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    #[schema(value_type = String, format = "uuid")]
    pub id: TenantId,
    pub subdomain: String,
    pub name: String,
    pub status: TenantStatus,
    pub status_reason: Option<String>,
    pub plan: String,
    /// The server holding its database, or `sqlite` for a local file.
    pub server: String,
    pub db_name: String,
    pub schema_version: Option<i32>,
    pub migration_error: Option<String>,
    pub storage_limit_mb: Option<i64>,
    /// The database's size when last measured (`None`: not yet measured).
    pub storage_used_mb: Option<f64>,
    /// Where that stands against the limit: `warning` from 80 %, `exceeded` (writes refused)
    /// from 100 %.
    pub storage_level: StorageLevel,
    /// Feature flags set for this tenant; they override its plan's.
    pub features: BTreeMap<String, bool>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl TenantView {
    /// `servers`: every registered server (or at least the tenant's).
    pub fn new(t: &Tenant, servers: &[Server]) -> Self {
        let server = t
            .server
            .and_then(|id| servers.iter().find(|s| s.id == id))
            .map_or_else(|| "sqlite".into(), |s| s.name.to_string());
        Self {
            id: t.id,
            subdomain: t.subdomain.to_string(),
            name: t.name.clone(),
            status: t.status,
            status_reason: t.status_reason.clone(),
            plan: t.plan.to_string(),
            server,
            db_name: t.db_name.clone(),
            schema_version: t.schema_version,
            migration_error: t.migration_error.clone(),
            storage_limit_mb: t.storage_limit_mb,
            storage_used_mb: t.storage_used_bytes.map(mebibytes),
            storage_level: t.storage_level,
            features: t.features.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            deleted_at: t.deleted_at,
        }
    }
}

/// `bytes` in MiB, to one decimal.
pub(crate) fn mebibytes(bytes: i64) -> f64 {
    (bytes as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0
}

/// How far an operation got.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Steps (tenants, for a fleet migration) done so far, when counted.
    pub done: Option<i64>,
    /// Steps in all, when known.
    pub total: Option<i64>,
}

/// A long operation, to poll.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OperationView {
    #[schema(value_type = String, format = "uuid")]
    pub id: Uuid,
    pub kind: OperationKind,
    /// The tenant it acts on (`None` for a fleet migration).
    #[schema(value_type = Option<String>, format = "uuid")]
    pub tenant: Option<TenantId>,
    pub state: OperationState,
    /// The step it is at (or ended at).
    pub step: String,
    pub progress: Progress,
    /// Why it failed or was rolled back.
    pub error: Option<String>,
    pub attempts: i32,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl OperationView {
    pub fn is_finished(&self) -> bool {
        self.state != OperationState::Running
    }
}

impl From<Operation> for OperationView {
    fn from(op: Operation) -> Self {
        Self {
            id: op.id,
            kind: op.kind,
            tenant: op.tenant,
            state: op.state,
            step: op.step,
            progress: Progress {
                done: op.progress_done.map(i64::from),
                total: op.progress_total.map(i64::from),
            },
            error: op.error,
            attempts: op.attempts,
            started_at: op.created_at,
            updated_at: op.updated_at,
            finished_at: op.finished_at,
        }
    }
}
