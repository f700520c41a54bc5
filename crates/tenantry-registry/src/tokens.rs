//! Admin API tokens: long random bearer secrets for scripts and CI. The registry never sees a
//! token itself, only its hash (computed by the caller): a token is found by hash, and listed,
//! revoked and touched by id. Revoked and expired tokens stay listed until deleted by hand.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::Serialize;
use tenantry_core::ids::ApiTokenId;

use crate::entity::api_token;
use crate::{AdminRole, AuditEntry, Registry, RegistryError};

/// An admin API token as stored, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: ApiTokenId,
    /// Unique among all tokens, revoked ones included.
    pub name: String,
    pub role: AdminRole,
    /// The actor that created it (`admin:<email>`, `cli:<user>`, ...).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether the token may authenticate a request at `now`: not revoked and not expired.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

impl From<api_token::Model> for ApiToken {
    fn from(m: api_token::Model) -> Self {
        Self {
            id: m.id.into(),
            name: m.name,
            role: m.role,
            created_by: m.created_by,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// A token to register. `Debug` redacts `token_hash`.
#[derive(Clone)]
pub struct NewApiToken {
    pub name: String,
    pub role: AdminRole,
    /// The caller's hash of the token (SHA-256, hex): the plaintext never reaches the registry.
    pub token_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// The actor creating it (its `Display` text).
    pub created_by: String,
}

impl std::fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            name,
            role,
            token_hash: _,
            expires_at,
            created_by,
        } = self;
        f.debug_struct("NewApiToken")
            .field("name", name)
            .field("role", role)
            .field("token_hash", &"<redacted>")
            .field("expires_at", expires_at)
            .field("created_by", created_by)
            .finish()
    }
}

impl Registry {
    /// Registers a token, with its audit row (`detail.token_id` is set to the new id) in the same
    /// transaction. A name (or hash) already taken → `Conflict`; an empty name or hash →
    /// `Invalid`.
    pub async fn insert_api_token(
        &self,
        new: NewApiToken,
        mut audit: AuditEntry,
    ) -> Result<ApiToken, RegistryError> {
        if new.name.trim().is_empty() {
            return Err(RegistryError::Invalid {
                what: "API token name (empty)".into(),
            });
        }
        if new.token_hash.is_empty() {
            return Err(RegistryError::Invalid {
                what: "API token hash (empty)".into(),
            });
        }
        let id = ApiTokenId::new();
        if let Some(detail) = audit.detail.as_object_mut() {
            detail.insert("token_id".into(), id.to_string().into());
        }
        let name = new.name.clone();
        let txn = self.db.begin().await?;
        let row = api_token::ActiveModel {
            id: Set(id.as_uuid()),
            name: Set(new.name),
            token_hash: Set(new.token_hash),
            role: Set(new.role),
            created_by: Set(new.created_by),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
            expires_at: Set(new.expires_at),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| RegistryError::conflict_or_db(e, || format!("API token {name:?}")))?;
        crate::audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(row.into())
    }

    /// The token with this hash, revoked or expired ones included (check
    /// [`ApiToken::is_usable`]).
    pub async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ApiToken>, RegistryError> {
        Ok(api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .map(ApiToken::from))
    }

    /// Every token, oldest first, revoked and expired ones included.
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, RegistryError> {
        Ok(api_token::Entity::find()
            .order_by_asc(api_token::Column::CreatedAt)
            .order_by_asc(api_token::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(ApiToken::from)
            .collect())
    }

    /// Revokes a token, with its audit row in the same transaction: `true` if this call revoked
    /// it, `false` (and no audit row) if it already was. Unknown id → `NotFound`.
    pub async fn revoke_api_token(
        &self,
        id: ApiTokenId,
        audit: AuditEntry,
    ) -> Result<bool, RegistryError> {
        // The write comes first, so a SQLite transaction never has to upgrade a read lock.
        let txn = self.db.begin().await?;
        let revoked = api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(Some(Utc::now())))
            .filter(api_token::Column::Id.eq(id.as_uuid()))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if revoked > 0 {
            crate::audit::insert(&txn, audit).await?;
            txn.commit().await?;
            return Ok(true);
        }
        match api_token::Entity::find_by_id(id.as_uuid())
            .one(&txn)
            .await?
        {
            Some(_) => Ok(false),
            None => Err(RegistryError::NotFound {
                what: format!("API token {id}"),
            }),
        }
    }

    /// Records that a token was just used (`last_used_at`). An unknown id is ignored.
    pub async fn touch_api_token(&self, id: ApiTokenId) -> Result<(), RegistryError> {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(Some(Utc::now())))
            .filter(api_token::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
