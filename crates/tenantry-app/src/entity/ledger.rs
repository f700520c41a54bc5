use sea_orm::entity::prelude::*;

use super::enums::LedgerType;

/// An account in the chart of accounts.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ledgers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    #[sea_orm(column_name = "type")]
    pub ledger_type: LedgerType,
    pub parent_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "Entity", from = "Column::ParentId", to = "Column::Id")]
    Parent,
    #[sea_orm(has_many = "super::voucher_line::Entity")]
    VoucherLine,
}

impl Related<super::voucher_line::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::VoucherLine.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
