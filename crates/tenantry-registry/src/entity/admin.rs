use sea_orm::entity::prelude::*;

use super::enums::AdminRole;

/// `Debug` is written by hand: it redacts `password_hash`, so a logged model never leaks it.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "admins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub role: AdminRole,
    pub created_at: DateTimeUtc,
    pub last_login_at: Option<DateTimeUtc>,
    pub disabled_at: Option<DateTimeUtc>,
    /// Bumped to end every session of this admin; a session carries the version it began with.
    pub session_version: i32,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured, so a new column cannot be left out (or shown) without a decision here.
        let Self {
            id,
            email,
            password_hash: _,
            role,
            created_at,
            last_login_at,
            disabled_at,
            session_version,
        } = self;
        f.debug_struct("Model")
            .field("id", id)
            .field("email", email)
            .field("password_hash", &"<redacted>")
            .field("role", role)
            .field("created_at", created_at)
            .field("last_login_at", last_login_at)
            .field("disabled_at", disabled_at)
            .field("session_version", session_version)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_every_field_but_the_password_hash() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$dGhlLWhhc2gtaXRzZWxm";
        let admin = Model {
            id: Uuid::now_v7(),
            email: "ops@example.com".into(),
            password_hash: hash.into(),
            role: AdminRole::Operator,
            created_at: chrono::Utc::now(),
            last_login_at: None,
            disabled_at: None,
            session_version: 1,
        };
        for shown in [format!("{admin:?}"), format!("{admin:#?}")] {
            assert!(!shown.contains("dGhlLWhhc2gtaXRzZWxm"), "{shown}");
            assert!(!shown.contains("argon2id"), "{shown}");
            let id = admin.id.to_string();
            for part in [id.as_str(), "ops@example.com", "<redacted>", "Operator"] {
                assert!(shown.contains(part), "{part} missing from {shown}");
            }
        }
    }
}
