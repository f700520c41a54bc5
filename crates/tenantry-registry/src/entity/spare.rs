use sea_orm::entity::prelude::*;

use super::enums::SpareState;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "spares")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub server_id: Uuid,
    pub db_name: String,
    pub db_user: String,
    pub state: SpareState,
    pub schema_version: Option<i32>,
    /// Fingerprint of the shared seed data it holds (`ready`).
    pub seed: Option<String>,
    /// The tenant being created from it (`claimed`).
    pub claimed_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
