use sea_orm::entity::prelude::*;

/// One side of a posting: exactly one of `debit` and `credit` is positive, the other zero
/// (minor units).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "voucher_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub voucher_id: i64,
    pub ledger_id: i64,
    pub debit: i64,
    pub credit: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::voucher::Entity",
        from = "Column::VoucherId",
        to = "super::voucher::Column::Id",
        on_delete = "Cascade"
    )]
    Voucher,
    #[sea_orm(
        belongs_to = "super::ledger::Entity",
        from = "Column::LedgerId",
        to = "super::ledger::Column::Id"
    )]
    Ledger,
}

impl Related<super::voucher::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Voucher.def()
    }
}

impl Related<super::ledger::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Ledger.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
