use sea_orm::entity::prelude::*;

use super::enums::OperationState;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "operations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub tenant_id: Option<Uuid>,
    pub step: String,
    pub state: OperationState,
    pub attempts: i32,
    pub error: Option<String>,
    pub params: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub progress_done: Option<i32>,
    pub progress_total: Option<i32>,
    /// Who started it (an `Actor`'s text); `None` on rows older than master migration V4.
    pub actor: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
