use sea_orm::entity::prelude::*;

/// One `Idempotency-Key` of a mutating request: claimed (`status` unset) while the request runs,
/// then completed with the response to replay until `expires_at`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// What the key is unique within (the caller's identity, say), so clients cannot collide.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Hash of the request (method, path, body): the same key with another request is refused.
    pub request_hash: String,
    pub status: Option<i32>,
    pub response: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
