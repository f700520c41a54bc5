use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, Set};
use tenantry_core::ids::TenantId;

use crate::entity::audit_log;
use crate::{Registry, RegistryError};

/// One audited action. `actor` is `cli:<os user>`, `admin:<email>` or `system`.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub action: &'static str,
    pub tenant_id: Option<TenantId>,
    pub ip: Option<String>,
    /// Never a secret: callers pass names and ids only.
    pub detail: serde_json::Value,
}

/// Writes one audit row on `conn` (the master, or a transaction on it).
pub(crate) async fn insert(
    conn: &impl ConnectionTrait,
    entry: AuditEntry,
) -> Result<(), RegistryError> {
    audit_log::ActiveModel {
        at: Set(Utc::now()),
        actor: Set(entry.actor),
        action: Set(entry.action.to_owned()),
        tenant_id: Set(entry.tenant_id.map(|t| t.as_uuid())),
        ip: Set(entry.ip),
        detail: Set(entry.detail),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

impl Registry {
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), RegistryError> {
        insert(&self.db, entry).await
    }

    /// Newest first.
    pub async fn recent_audit(&self, limit: u64) -> Result<Vec<audit_log::Model>, RegistryError> {
        Ok(audit_log::Entity::find()
            .order_by_desc(audit_log::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }
}
