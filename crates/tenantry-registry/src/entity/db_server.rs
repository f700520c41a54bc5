use sea_orm::entity::prelude::*;

use super::enums::{ServerDialect, ServerState};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "db_servers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    pub dialect: ServerDialect,
    /// Connection URL without a password.
    pub url: String,
    /// The admin password, sealed by the vault (context `db_servers/<id>/admin_password`).
    pub admin_secret: Option<String>,
    pub admin_secret_key_id: Option<String>,
    pub capacity: i32,
    pub state: ServerState,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
