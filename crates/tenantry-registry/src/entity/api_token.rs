use sea_orm::entity::prelude::*;

use super::enums::AdminRole;

/// `Debug` is written by hand: it redacts `token_hash`, so a logged model never leaks it.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    /// SHA-256 of the token: tokens are long random strings, so a fast hash is enough.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub role: AdminRole,
    /// The actor that created the token (`admin:<email>`, `cli:<user>`, ...).
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured, so a new column cannot be left out (or shown) without a decision here.
        let Self {
            id,
            name,
            token_hash: _,
            role,
            created_by,
            created_at,
            last_used_at,
            expires_at,
            revoked_at,
        } = self;
        f.debug_struct("Model")
            .field("id", id)
            .field("name", name)
            .field("token_hash", &"<redacted>")
            .field("role", role)
            .field("created_by", created_by)
            .field("created_at", created_at)
            .field("last_used_at", last_used_at)
            .field("expires_at", expires_at)
            .field("revoked_at", revoked_at)
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
    fn debug_shows_every_field_but_the_token_hash() {
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let token = Model {
            id: Uuid::now_v7(),
            name: "deploy bot".into(),
            token_hash: hash.into(),
            role: AdminRole::Viewer,
            created_by: "admin:ops@example.com".into(),
            created_at: chrono::Utc::now(),
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
        };
        for shown in [format!("{token:?}"), format!("{token:#?}")] {
            assert!(!shown.contains(hash), "{shown}");
            assert!(!shown.contains(&hash[..16]), "{shown}");
            let id = token.id.to_string();
            for part in [
                id.as_str(),
                "deploy bot",
                "admin:ops@example.com",
                "<redacted>",
                "Viewer",
            ] {
                assert!(shown.contains(part), "{part} missing from {shown}");
            }
        }
    }
}
