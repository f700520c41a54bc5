use sea_orm::entity::prelude::*;

/// A journal entry; its lines must balance (checked by the app when posting).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vouchers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub number: String,
    pub date: Date,
    pub narration: String,
    pub posted_at: Option<DateTimeUtc>,
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::CreatedBy",
        to = "super::user::Column::Id"
    )]
    CreatedBy,
    #[sea_orm(has_many = "super::voucher_line::Entity")]
    VoucherLine,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CreatedBy.def()
    }
}

impl Related<super::voucher_line::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::VoucherLine.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
