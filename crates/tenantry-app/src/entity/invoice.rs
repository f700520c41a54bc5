use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub number: String,
    pub customer_name: String,
    pub date: Date,
    /// Not before `date` (a CHECK).
    pub due_date: Date,
    /// Sum of `quantity * unit_price` over the lines, minor units; kept by the app.
    pub total: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::invoice_line::Entity")]
    InvoiceLine,
}

impl Related<super::invoice_line::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::InvoiceLine.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
