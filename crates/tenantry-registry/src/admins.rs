use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use tenantry_core::ids::{AdminId, Email};

use crate::entity::admin;
use crate::{Admin, AdminRole, AuditEntry, Registry, RegistryError};

impl Registry {
    /// Adds an operator, with its audit row (`detail.admin_id` is set to the new id) in the same
    /// transaction. `password_hash` is an argon2id PHC string
    /// ([`tenantry_core::vault::hash_password`]); hashing is left to the caller so it can run
    /// off the async executor. Email taken → `Conflict`.
    pub async fn create_admin(
        &self,
        email: &Email,
        password_hash: String,
        role: AdminRole,
        mut audit: AuditEntry,
    ) -> Result<Admin, RegistryError> {
        let id = AdminId::new();
        if let Some(detail) = audit.detail.as_object_mut() {
            detail.insert("admin_id".into(), id.to_string().into());
        }
        let txn = self.db.begin().await?;
        let admin = admin::ActiveModel {
            id: Set(id.as_uuid()),
            email: Set(email.as_str().to_owned()),
            password_hash: Set(password_hash),
            role: Set(role),
            created_at: Set(Utc::now()),
            last_login_at: Set(None),
            disabled_at: Set(None),
            session_version: Set(1),
        }
        .insert(&txn)
        .await
        .map_err(|e| RegistryError::conflict_or_db(e, || format!("admin {email}")))?;
        crate::audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(admin.into())
    }

    /// The admin with this id, enabled or not.
    pub async fn admin(&self, id: AdminId) -> Result<Option<Admin>, RegistryError> {
        Ok(admin::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .map(Admin::from))
    }

    /// The admin with this email, enabled or not.
    pub async fn admin_by_email(&self, email: &Email) -> Result<Option<Admin>, RegistryError> {
        Ok(admin::Entity::find()
            .filter(admin::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
            .map(Admin::from))
    }

    /// Every admin, oldest first.
    pub async fn list_admins(&self) -> Result<Vec<Admin>, RegistryError> {
        Ok(admin::Entity::find()
            .order_by_asc(admin::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Admin::from)
            .collect())
    }
}
