//! Tenant backups as the master records them, and what restore and move need of the tenant row:
//! a fence that holds its requests off, and a swap to another database.
//!
//! A backup row is written `running` before the archive is, and becomes `completed` (with its
//! size, digest and key) or `failed`; a process that dies midway leaves it running until
//! [`Registry::fail_stale_backups`]. The archive lives at the row's location URL; pruning
//! deletes the file first, then the row, so a row never names a file that is known to be gone.
//! Scheduled backups are claimed in one transaction ([`Registry::claim_due_backups`]), so with
//! several `serve` processes each due backup is taken once.
//!
//! [`Registry::fail_stale_backups`]: crate::Registry::fail_stale_backups
//! [`Registry::claim_due_backups`]: crate::Registry::claim_due_backups

mod due;
mod lifecycle;
mod queries;
mod relocation;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;
use tenantry_core::ids::{DbServerId, TenantId};
use uuid::Uuid;

use crate::entity::backup;
use crate::{BackupKind, BackupState};

/// A backup as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backup {
    pub id: Uuid,
    pub tenant: TenantId,
    /// Where the archive is: `s3://bucket/prefix/<tenant>/<id>.tbk`, `file:///dir/...`.
    pub location: String,
    pub kind: BackupKind,
    pub state: BackupState,
    /// `postgres` or `sqlite`: the backend that wrote the archive.
    pub engine: Option<String>,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    /// The tenant's schema version when it was taken.
    pub schema_version: Option<i32>,
    /// The vault key the archive is encrypted with (not secret).
    pub key_id: Option<String>,
    pub format_version: Option<i32>,
    pub error: Option<String>,
    /// The operation that took it.
    pub operation: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// A final backup of a deleted tenant: the tenant can be recovered until then.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<backup::Model> for Backup {
    fn from(row: backup::Model) -> Self {
        Self {
            id: row.id,
            tenant: row.tenant_id.into(),
            location: row.path,
            kind: row.kind,
            state: row.state,
            engine: row.engine,
            bytes: row.bytes.and_then(|b| u64::try_from(b).ok()),
            sha256: row.sha256,
            schema_version: row.schema_version,
            key_id: row.key_id,
            format_version: row.format_version,
            error: row.error,
            operation: row.operation_id,
            created_at: row.created_at,
            completed_at: row.completed_at,
            expires_at: row.expires_at,
        }
    }
}

/// A backup about to be written, recorded as `running`.
#[derive(Debug, Clone)]
pub struct NewBackup {
    pub id: Uuid,
    pub tenant: TenantId,
    pub location: String,
    pub kind: BackupKind,
    /// `postgres` or `sqlite`.
    pub engine: String,
    pub operation: Option<Uuid>,
}

/// What a finished archive is.
#[derive(Debug, Clone)]
pub struct BackupDone {
    pub bytes: u64,
    pub sha256: String,
    pub schema_version: Option<i32>,
    pub key_id: String,
    pub format_version: i32,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Which scheduled backups are due: a tenant is due when it has no running backup and no
/// completed one taken after `now - every`.
#[derive(Debug, Clone)]
pub struct DueBackups {
    pub every: Duration,
    pub now: DateTime<Utc>,
    /// The most backups to claim in one call.
    pub limit: u64,
    /// Back up suspended tenants too (their data still changes through operators).
    pub include_suspended: bool,
    /// A tenant whose backup failed less than this long ago is not due yet, so one scheduler
    /// pass never retries the same broken tenant over and over.
    pub retry_failed_after: Duration,
}

/// Where a tenant's database is: on a PostgreSQL server, or a local SQLite file (`server: None`).
#[derive(Debug, Clone)]
pub struct DatabaseLocation {
    pub server: Option<DbServerId>,
    pub db_name: String,
    pub db_user: Option<String>,
    /// The role's new password, sealed before it is written; `None` keeps the sealed one.
    pub password: Option<SecretString>,
}
