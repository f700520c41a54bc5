use sea_orm::entity::prelude::*;

use super::enums::{BackupKind, BackupState};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The archive's location URL (`s3://…`, `file:///…`).
    pub path: String,
    pub bytes: Option<i64>,
    pub sha256: Option<String>,
    pub schema_version: Option<i32>,
    pub state: BackupState,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    pub kind: BackupKind,
    /// `postgres` or `sqlite`: which backend wrote the archive.
    pub engine: Option<String>,
    /// The vault key the archive was encrypted with.
    pub key_id: Option<String>,
    pub format_version: Option<i32>,
    /// A final backup of a deleted tenant: recoverable until then.
    pub expires_at: Option<DateTimeUtc>,
    pub operation_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
