//! The audit trail: who did what to which tenant, when, from where.

use std::fmt;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use tenantry_core::ids::{Email, TenantId};

use crate::entity::audit_log;
use crate::queries::offset;
use crate::{Registry, RegistryError};

/// Who acted. Stored as text ([`Display`](fmt::Display)): `cli:<os user>`, `admin:<email>`,
/// `token:<name>` or `system`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An operator at the command line, by OS user name.
    Cli { user: String },
    /// A signed-in operator of the admin API.
    Admin { email: Email },
    /// An API token, by its name.
    Token { name: String },
    /// Tenantry itself (startup, reconcile, scheduled jobs).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cli { user } => write!(f, "cli:{user}"),
            Self::Admin { email } => write!(f, "admin:{email}"),
            Self::Token { name } => write!(f, "token:{name}"),
            Self::System => f.write_str("system"),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Who acted, from where, in which request: everything an audit row names besides the action.
/// The CLI and system work have an actor only; admin API requests also have an address and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub actor: Actor,
    /// The client's address.
    pub ip: Option<String>,
    /// The HTTP request's id (`X-Request-Id`).
    pub request_id: Option<String>,
}

impl From<Actor> for Origin {
    fn from(actor: Actor) -> Self {
        Self {
            actor,
            ip: None,
            request_id: None,
        }
    }
}

impl Origin {
    /// The audit row of `action` taken from this origin. `detail` names things, never a secret.
    pub fn entry(
        &self,
        action: &'static str,
        tenant: Option<TenantId>,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            actor: self.actor.clone(),
            action,
            tenant_id: tenant,
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
            detail,
        }
    }
}

/// One audited action, to be written.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: Actor,
    pub action: &'static str,
    pub tenant_id: Option<TenantId>,
    /// The client's address, for actions that came over HTTP.
    pub ip: Option<String>,
    /// The HTTP request's id (`X-Request-Id`), stored as `detail.request_id`.
    pub request_id: Option<String>,
    /// Never a secret: callers pass names and ids only.
    pub detail: serde_json::Value,
}

/// One row of the audit trail, as read back.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who acted: `cli:<os user>`, `admin:<email>`, `token:<name>` or `system`.
    pub actor: String,
    /// What was done: `tenant.create`, `tenant.update`, …
    pub action: String,
    /// The tenant acted on, if any.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub tenant: Option<TenantId>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// The detail as written, without `request_id`.
    pub detail: serde_json::Value,
}

impl From<audit_log::Model> for AuditRecord {
    fn from(row: audit_log::Model) -> Self {
        let mut detail = row.detail;
        let request_id = detail
            .as_object_mut()
            .and_then(|d| d.remove("request_id"))
            .and_then(|v| v.as_str().map(str::to_owned));
        Self {
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            tenant: row.tenant_id.map(TenantId::from),
            ip: row.ip,
            request_id,
            detail,
        }
    }
}

/// Which audit rows to list: every filter given must match. Newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// The stored actor text, exactly (`admin:ops@example.com`).
    pub actor: Option<String>,
    /// The action, exactly (`tenant.create`).
    pub action: Option<String>,
    pub tenant: Option<TenantId>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// 1-based.
    pub page: u64,
    pub limit: u64,
}

/// A page of the audit trail; `total` counts every matching row.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditRecord>,
    pub total: u64,
}

/// Writes one audit row on `conn` (the master, or a transaction on it).
pub(crate) async fn insert(
    conn: &impl ConnectionTrait,
    entry: AuditEntry,
) -> Result<(), RegistryError> {
    let mut detail = entry.detail;
    if let Some(request_id) = entry.request_id {
        if detail.is_null() {
            detail = serde_json::json!({});
        }
        match detail.as_object_mut() {
            Some(map) => {
                map.insert("request_id".into(), request_id.into());
            }
            None => {
                detail = serde_json::json!({ "detail": detail, "request_id": request_id });
            }
        }
    }
    audit_log::ActiveModel {
        at: Set(Utc::now()),
        actor: Set(entry.actor.to_string()),
        action: Set(entry.action.to_owned()),
        tenant_id: Set(entry.tenant_id.map(|t| t.as_uuid())),
        ip: Set(entry.ip),
        detail: Set(detail),
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

    /// The latest `limit` rows, newest first.
    pub async fn recent_audit(&self, limit: u64) -> Result<Vec<AuditRecord>, RegistryError> {
        Ok(audit_log::Entity::find()
            .order_by_desc(audit_log::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(AuditRecord::from)
            .collect())
    }

    /// A page of the audit rows matching `query`, newest first. `page` 0 or `limit` 0 →
    /// `Invalid`.
    pub async fn list_audit(&self, query: &AuditQuery) -> Result<AuditPage, RegistryError> {
        let skip = offset(query.page, query.limit)?;
        let mut select = audit_log::Entity::find();
        if let Some(actor) = &query.actor {
            select = select.filter(audit_log::Column::Actor.eq(actor.as_str()));
        }
        if let Some(action) = &query.action {
            select = select.filter(audit_log::Column::Action.eq(action.as_str()));
        }
        if let Some(tenant) = query.tenant {
            select = select.filter(audit_log::Column::TenantId.eq(tenant.as_uuid()));
        }
        if let Some(from) = query.from {
            select = select.filter(audit_log::Column::At.gte(from));
        }
        if let Some(to) = query.to {
            select = select.filter(audit_log::Column::At.lt(to));
        }
        let total = select.clone().count(&self.db).await?;
        let entries = select
            .order_by_desc(audit_log::Column::At)
            .order_by_desc(audit_log::Column::Id)
            .offset(skip)
            .limit(query.limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(AuditRecord::from)
            .collect();
        Ok(AuditPage { entries, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_stored_as_prefixed_text() {
        let email = Email::parse("Ops@Example.com").unwrap();
        let cases = [
            (
                Actor::Cli {
                    user: "root".into(),
                },
                "cli:root",
            ),
            (Actor::Admin { email }, "admin:ops@example.com"),
            (Actor::Token { name: "ci".into() }, "token:ci"),
            (Actor::System, "system"),
        ];
        for (actor, text) in cases {
            assert_eq!(actor.to_string(), text);
            assert_eq!(serde_json::to_value(&actor).unwrap(), text);
        }
    }

    #[test]
    fn the_request_id_is_read_back_out_of_the_detail() {
        let record = AuditRecord::from(audit_log::Model {
            id: 1,
            at: Utc::now(),
            actor: "system".into(),
            action: "tenant.create".into(),
            tenant_id: None,
            ip: None,
            detail: serde_json::json!({ "plan": "free", "request_id": "r-1" }),
        });
        assert_eq!(record.request_id.as_deref(), Some("r-1"));
        assert_eq!(record.detail, serde_json::json!({ "plan": "free" }));
    }
}
