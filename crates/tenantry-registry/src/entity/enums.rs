//! Closed sets of values stored as text (the migrations' CHECK constraints list the same values).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    #[sea_orm(string_value = "provisioning")]
    Provisioning,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "suspended")]
    Suspended,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "deleted")]
    Deleted,
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    #[sea_orm(string_value = "owner")]
    Owner,
    #[sea_orm(string_value = "operator")]
    Operator,
    #[sea_orm(string_value = "viewer")]
    Viewer,
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum ServerDialect {
    #[sea_orm(string_value = "postgres")]
    Postgres,
    #[sea_orm(string_value = "sqlite")]
    Sqlite,
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "draining")]
    Draining,
    #[sea_orm(string_value = "retired")]
    Retired,
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "rolled_back")]
    RolledBack,
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum BackupState {
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "completed")]
    Completed,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "deleted")]
    Deleted,
}

/// Why a backup was taken; retention treats each kind differently.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// Asked for by an operator.
    #[sea_orm(string_value = "manual")]
    Manual,
    /// Taken by the backup scheduler.
    #[sea_orm(string_value = "scheduled")]
    Scheduled,
    /// Taken as the tenant was deleted: it can be recovered until the backup expires.
    #[sea_orm(string_value = "final")]
    Final,
    /// Taken just before a restore overwrote the tenant's data, to undo the restore.
    #[sea_orm(string_value = "pre_restore")]
    PreRestore,
}

impl BackupKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
            Self::Final => "final",
            Self::PreRestore => "pre_restore",
        }
    }
}

/// Why a tenant's requests are held off (503 with Retry-After) while its database is replaced.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum Fence {
    /// A backup is being restored into it.
    #[sea_orm(string_value = "restore")]
    Restore,
    /// It is moving to another database server.
    #[sea_orm(string_value = "move")]
    Move,
}

impl Fence {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restore => "restore",
            Self::Move => "move",
        }
    }
}

/// Where a warm spare database is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum SpareState {
    /// Being created and migrated.
    #[sea_orm(string_value = "building")]
    Building,
    /// Migrated, waiting for a tenant.
    #[sea_orm(string_value = "ready")]
    Ready,
    /// Taken by a tenant creation still under way.
    #[sea_orm(string_value = "claimed")]
    Claimed,
}

/// Where a tenant's measured storage stands against its limit.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum StorageLevel {
    /// Below 80 % of the limit, or never measured.
    #[default]
    #[sea_orm(string_value = "ok")]
    Ok,
    /// At 80 % of the limit or more: an audit event says so.
    #[sea_orm(string_value = "warning")]
    Warning,
    /// At the limit or over: the tenant API refuses writes; reads go on.
    #[sea_orm(string_value = "exceeded")]
    Exceeded,
}

impl StorageLevel {
    /// The level of `used_bytes` against `limit_mb` (MiB).
    pub fn of(used_bytes: i64, limit_mb: i64) -> Self {
        let limit = i128::from(limit_mb) * 1024 * 1024;
        let used = i128::from(used_bytes);
        if used >= limit {
            Self::Exceeded
        } else if used * 5 >= limit * 4 {
            Self::Warning
        } else {
            Self::Ok
        }
    }
}

#[cfg(test)]
mod storage_level_tests {
    use super::StorageLevel;

    const MB: i64 = 1024 * 1024;

    #[test]
    fn warning_from_80_percent_exceeded_from_the_limit() {
        assert_eq!(StorageLevel::of(0, 10), StorageLevel::Ok);
        assert_eq!(StorageLevel::of(8 * MB - 1, 10), StorageLevel::Ok);
        assert_eq!(StorageLevel::of(8 * MB, 10), StorageLevel::Warning);
        assert_eq!(StorageLevel::of(10 * MB - 1, 10), StorageLevel::Warning);
        assert_eq!(StorageLevel::of(10 * MB, 10), StorageLevel::Exceeded);
        assert_eq!(StorageLevel::of(i64::MAX, i64::MAX), StorageLevel::Ok);
    }
}
