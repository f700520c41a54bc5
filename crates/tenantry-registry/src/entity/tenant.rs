use sea_orm::entity::prelude::*;

use super::enums::{Fence, StorageLevel, TenantStatus};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub subdomain: String,
    pub name: String,
    pub status: TenantStatus,
    pub status_reason: Option<String>,
    pub plan_id: String,
    pub db_server_id: Option<Uuid>,
    pub db_name: String,
    pub db_user: Option<String>,
    /// The tenant role's password, sealed by the vault (context `tenants/<id>/db_password`).
    pub db_secret: Option<String>,
    pub db_secret_key_id: Option<String>,
    pub schema_version: Option<i32>,
    pub migration_error: Option<String>,
    pub storage_limit_mb: Option<i64>,
    /// The tenant's own feature flags, a JSON object of booleans.
    pub features: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    /// Set while a restore or move replaces its database (requests answer 503); `None` = serving.
    pub fence: Option<Fence>,
    /// The database's size when last measured (`storage_measured_at`).
    pub storage_used_bytes: Option<i64>,
    pub storage_measured_at: Option<DateTimeUtc>,
    /// Where `storage_used_bytes` stands against the limit.
    pub storage_level: StorageLevel,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
