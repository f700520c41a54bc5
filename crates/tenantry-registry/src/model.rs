//! What the registry hands out: domain types built from the master's rows. Other crates never see
//! a sea-orm row; secrets (sealed columns, password hashes) stay out of `Debug` and `Serialize`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;
use tenantry_core::ids::{
    AdminId, DbServerId, DomainName, Email, PlanId, ServerName, Subdomain, TenantId,
};
use uuid::Uuid;

use crate::entity::{admin, db_server, tenant, tenant_domain};
use crate::{AdminRole, Fence, ServerDialect, ServerState, StorageLevel, TenantStatus};

/// A sealed column (vault ciphertext), kept beside a domain value so the registry can open it,
/// and shown to nobody: its `Debug` prints `<sealed>` and it is never serialised.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct Sealed(pub(crate) Option<String>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(<sealed>)"),
            None => f.write_str("None"),
        }
    }
}

/// A tenant as the registry records it. Its role's password is opened with
/// [`Registry::tenant_db_password`](crate::Registry::tenant_db_password).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub subdomain: Subdomain,
    pub name: String,
    pub status: TenantStatus,
    pub status_reason: Option<String>,
    pub plan: PlanId,
    /// The PostgreSQL server holding its database; `None` = a local SQLite file.
    pub server: Option<DbServerId>,
    pub db_name: String,
    pub db_user: Option<String>,
    pub schema_version: Option<i32>,
    /// Set when the last migration attempt failed (cleared on success).
    pub migration_error: Option<String>,
    pub storage_limit_mb: Option<i64>,
    /// Feature flags set for this tenant; they override its plan's.
    pub features: BTreeMap<String, bool>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Set while a restore or move replaces its database: its requests answer 503 with
    /// Retry-After. `None` = serving.
    pub fence: Option<Fence>,
    /// The database's size when last measured (`None`: not yet).
    pub storage_used_bytes: Option<i64>,
    pub storage_measured_at: Option<DateTime<Utc>>,
    /// Where that size stands against the limit (the tenant's own, else its plan's).
    pub storage_level: StorageLevel,
    #[serde(skip)]
    pub(crate) db_secret: Sealed,
}

impl Tenant {
    /// Not deleted (a deleted tenant is a tombstone: its subdomain is free again).
    pub fn is_live(&self) -> bool {
        self.status != TenantStatus::Deleted
    }
}

/// The boolean members of a stored flags object (the only kind ever written).
fn flags(stored: serde_json::Value) -> BTreeMap<String, bool> {
    match stored {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter_map(|(name, on)| on.as_bool().map(|on| (name, on)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

impl From<tenant::Model> for Tenant {
    fn from(row: tenant::Model) -> Self {
        Self {
            id: row.id.into(),
            subdomain: Subdomain::from_stored(row.subdomain),
            name: row.name,
            status: row.status,
            status_reason: row.status_reason,
            plan: PlanId::from_stored(row.plan_id),
            server: row.db_server_id.map(DbServerId::from),
            db_name: row.db_name,
            db_user: row.db_user,
            schema_version: row.schema_version,
            migration_error: row.migration_error,
            storage_limit_mb: row.storage_limit_mb,
            features: flags(row.features),
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
            fence: row.fence,
            storage_used_bytes: row.storage_used_bytes,
            storage_measured_at: row.storage_measured_at,
            storage_level: row.storage_level,
            db_secret: Sealed(row.db_secret),
        }
    }
}

/// A registered database server. Its admin password is opened with
/// [`Registry::server_admin_password`](crate::Registry::server_admin_password).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    pub id: DbServerId,
    pub name: ServerName,
    pub dialect: ServerDialect,
    /// Connection URL without a password.
    pub url: String,
    pub capacity: i32,
    pub state: ServerState,
    /// The vault key that sealed its admin password (not secret: `keys rotate` reports it).
    pub admin_secret_key_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub(crate) admin_secret: Sealed,
}

impl Server {
    /// Whether an admin password is stored (sealed) for it.
    pub fn has_admin_password(&self) -> bool {
        self.admin_secret.0.is_some()
    }
}

impl From<db_server::Model> for Server {
    fn from(row: db_server::Model) -> Self {
        Self {
            id: row.id.into(),
            name: ServerName::from_stored(row.name),
            dialect: row.dialect,
            url: row.url,
            capacity: row.capacity,
            state: row.state,
            admin_secret_key_id: row.admin_secret_key_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            admin_secret: Sealed(row.admin_secret),
        }
    }
}

/// An operator account. Its password hash is only reachable through [`Admin::password_hash`].
#[derive(Clone, Serialize)]
pub struct Admin {
    pub id: AdminId,
    pub email: Email,
    pub role: AdminRole,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Bumped to end every session of this admin; a session carries the version it began with.
    pub session_version: i64,
    #[serde(skip)]
    password_hash: SecretString,
}

impl Admin {
    /// The argon2id PHC string, to verify a login against.
    pub fn password_hash(&self) -> SecretString {
        self.password_hash.clone()
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so a new field cannot be left out (or shown) without a decision here.
        let Self {
            id,
            email,
            role,
            created_at,
            last_login_at,
            disabled_at,
            session_version,
            password_hash: _,
        } = self;
        f.debug_struct("Admin")
            .field("id", id)
            .field("email", email)
            .field("role", role)
            .field("created_at", created_at)
            .field("last_login_at", last_login_at)
            .field("disabled_at", disabled_at)
            .field("session_version", session_version)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

impl From<admin::Model> for Admin {
    fn from(row: admin::Model) -> Self {
        Self {
            id: row.id.into(),
            email: Email::from_stored(row.email),
            role: row.role,
            created_at: row.created_at,
            last_login_at: row.last_login_at,
            disabled_at: row.disabled_at,
            session_version: i64::from(row.session_version),
            password_hash: SecretString::from(row.password_hash),
        }
    }
}

/// A tenant's own domain. Only a verified one routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    pub id: Uuid,
    pub tenant: TenantId,
    pub domain: DomainName,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The random challenge its owner publishes in DNS to prove control (not a secret: it is
    /// public once published). `None` for a domain added already verified.
    pub verification_token: Option<String>,
}

impl Domain {
    pub fn is_verified(&self) -> bool {
        self.verified_at.is_some()
    }
}

impl From<tenant_domain::Model> for Domain {
    fn from(row: tenant_domain::Model) -> Self {
        Self {
            id: row.id,
            tenant: row.tenant_id.into(),
            domain: DomainName::from_stored(row.domain),
            verified_at: row.verified_at,
            created_at: row.created_at,
            verification_token: row.verification_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_json_never_show_secrets() {
        let now = Utc::now();
        let admin = Admin::from(admin::Model {
            id: Uuid::now_v7(),
            email: "ops@example.com".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$dGhlLWhhc2g".into(),
            role: AdminRole::Owner,
            created_at: now,
            last_login_at: None,
            disabled_at: None,
            session_version: 1,
        });
        let tenant = Tenant::from(tenant::Model {
            id: Uuid::now_v7(),
            subdomain: "acme".into(),
            name: "Acme".into(),
            status: TenantStatus::Active,
            status_reason: None,
            plan_id: "free".into(),
            db_server_id: None,
            db_name: "t_acme".into(),
            db_user: None,
            db_secret: Some("tv1.k1.c2VjcmV0LWNpcGhlcnRleHQ".into()),
            db_secret_key_id: Some("k1".into()),
            schema_version: Some(3),
            migration_error: None,
            storage_limit_mb: Some(512),
            features: serde_json::json!({ "invoices": true }),
            created_at: now,
            updated_at: now,
            deleted_at: None,
            fence: None,
            storage_used_bytes: Some(1 << 20),
            storage_measured_at: Some(now),
            storage_level: StorageLevel::Ok,
        });
        let shown = [
            format!("{admin:?}"),
            format!("{admin:#?}"),
            serde_json::to_string(&admin).unwrap(),
            format!("{tenant:?}"),
            serde_json::to_string(&tenant).unwrap(),
        ];
        for s in shown {
            for secret in ["dGhlLWhhc2g", "argon2id", "c2VjcmV0LWNpcGhlcnRleHQ", "tv1."] {
                assert!(!s.contains(secret), "{secret} in {s}");
            }
            assert!(s.contains("acme") || s.contains("ops@example.com"), "{s}");
        }
        assert!(format!("{tenant:?}").contains("<sealed>"));
    }
}
