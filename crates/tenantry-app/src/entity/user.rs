use sea_orm::entity::prelude::*;

use super::enums::UserRole;

/// `Debug` is written by hand: it redacts `password_hash`, so a logged model never leaks it.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Lowercased (a CHECK refuses anything else), unique.
    #[sea_orm(unique)]
    pub email: String,
    pub name: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub role: UserRole,
    pub created_at: DateTimeUtc,
    pub disabled_at: Option<DateTimeUtc>,
    /// Bumped by a password reset, role change or disabling: tokens issued under an older
    /// version stop working.
    pub session_version: i64,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured, so a new column cannot be left out (or shown) without a decision here.
        let Self {
            id,
            email,
            name,
            password_hash: _,
            role,
            created_at,
            disabled_at,
            session_version,
        } = self;
        f.debug_struct("Model")
            .field("id", id)
            .field("email", email)
            .field("name", name)
            .field("password_hash", &"<redacted>")
            .field("role", role)
            .field("created_at", created_at)
            .field("disabled_at", disabled_at)
            .field("session_version", session_version)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::voucher::Entity")]
    Voucher,
}

impl Related<super::voucher::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Voucher.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_every_field_but_the_password_hash() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$dGhlLWhhc2gtaXRzZWxm";
        let user = Model {
            id: 7,
            email: "ann@example.com".into(),
            name: "Ann".into(),
            password_hash: hash.into(),
            role: UserRole::Accountant,
            created_at: chrono::Utc::now(),
            disabled_at: None,
            session_version: 3,
        };
        for shown in [format!("{user:?}"), format!("{user:#?}")] {
            assert!(!shown.contains("dGhlLWhhc2gtaXRzZWxm"), "{shown}");
            assert!(!shown.contains("argon2id"), "{shown}");
            for part in [
                "id: 7",
                "ann@example.com",
                "Ann",
                "<redacted>",
                "Accountant",
                "session_version: 3",
            ] {
                assert!(shown.contains(part), "{part} missing from {shown}");
            }
        }
    }
}
