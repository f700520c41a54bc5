use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use tenantry_core::ids::{AdminId, Email};

use crate::entity::admin;
use crate::{AdminRole, Registry, RegistryError};

impl Registry {
    /// Adds an operator. `password_hash` is an argon2id PHC string
    /// ([`tenantry_core::vault::hash_password`]); hashing is left to the caller so it can run
    /// off the async executor.
    pub async fn create_admin(
        &self,
        email: &Email,
        password_hash: String,
        role: AdminRole,
    ) -> Result<admin::Model, RegistryError> {
        admin::ActiveModel {
            id: Set(AdminId::new().as_uuid()),
            email: Set(email.as_str().to_owned()),
            password_hash: Set(password_hash),
            role: Set(role),
            created_at: Set(Utc::now()),
            last_login_at: Set(None),
            disabled_at: Set(None),
        }
        .insert(&self.db)
        .await
        .map_err(|e| RegistryError::conflict_or_db(e, || format!("admin {email}")))
    }

    pub async fn admin_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<admin::Model>, RegistryError> {
        Ok(admin::Entity::find()
            .filter(admin::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?)
    }

    pub async fn list_admins(&self) -> Result<Vec<admin::Model>, RegistryError> {
        Ok(admin::Entity::find()
            .order_by_asc(admin::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }
}
