//! Custom domains: `books.acme.com` served as tenant `acme`. Only a verified domain routes (an
//! unverified claim must never divert another party's traffic), and a domain belongs to one live
//! tenant at a time: deleting the tenant releases it.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationTrait as _, Set, TransactionTrait,
};
use tenantry_core::{DomainName, TenantId};
use uuid::Uuid;

use crate::changes::{ChangeKind, record};
use crate::entity::{tenant, tenant_domain};
use crate::{Domain, Registry, RegistryError, Tenant, TenantStatus};

impl Registry {
    /// Attaches `domain` to a live tenant, verified now or (`verified = false`) pending a check
    /// made elsewhere. Taken by any tenant → `Conflict`.
    pub async fn add_tenant_domain(
        &self,
        tenant: TenantId,
        domain: &DomainName,
        verified: bool,
    ) -> Result<Domain, RegistryError> {
        let owner = self.tenant(tenant).await?;
        if owner.is_none_or(|t| t.status == TenantStatus::Deleted) {
            return Err(RegistryError::NotFound {
                what: format!("tenant {tenant}"),
            });
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let added = tenant_domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.as_uuid()),
            domain: Set(domain.as_str().to_owned()),
            verified_at: Set(verified.then_some(now)),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| RegistryError::conflict_or_db(e, || format!("domain {domain}")))?;
        record(&txn, tenant, None, ChangeKind::Domains).await?;
        txn.commit().await?;
        Ok(added.into())
    }

    /// Marks a domain verified (after its ownership check succeeded).
    pub async fn verify_tenant_domain(&self, domain: &DomainName) -> Result<(), RegistryError> {
        // The write comes first, so a SQLite transaction never has to upgrade a read lock.
        let txn = self.db.begin().await?;
        tenant_domain::Entity::update_many()
            .col_expr(
                tenant_domain::Column::VerifiedAt,
                sea_orm::sea_query::Expr::value(Some(Utc::now())),
            )
            .filter(tenant_domain::Column::Domain.eq(domain.as_str()))
            .exec(&txn)
            .await?;
        let owner = tenant_domain::Entity::find()
            .filter(tenant_domain::Column::Domain.eq(domain.as_str()))
            .one(&txn)
            .await?;
        // Domains are unique: no row now means the update touched none.
        let Some(owner) = owner else {
            return Err(RegistryError::NotFound {
                what: format!("domain {domain}"),
            });
        };
        record(&txn, owner.tenant_id.into(), None, ChangeKind::Domains).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The domains of a tenant, verified or not.
    pub async fn tenant_domains(&self, tenant: TenantId) -> Result<Vec<Domain>, RegistryError> {
        Ok(tenant_domain::Entity::find()
            .filter(tenant_domain::Column::TenantId.eq(tenant.as_uuid()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(Domain::from)
            .collect())
    }

    /// The live tenant a *verified* domain routes to. `domain` is a normalised host name (lower
    /// case, no port, no trailing dot).
    pub async fn live_tenant_by_domain(
        &self,
        domain: &str,
    ) -> Result<Option<Tenant>, RegistryError> {
        Ok(tenant::Entity::find()
            .join(
                JoinType::InnerJoin,
                tenant_domain::Relation::Tenant.def().rev(),
            )
            .filter(tenant_domain::Column::Domain.eq(domain))
            .filter(tenant_domain::Column::VerifiedAt.is_not_null())
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
            .one(&self.db)
            .await?
            .map(Tenant::from))
    }
}

/// Releases every domain of a tenant (on deletion, inside its transaction).
pub(crate) async fn release_domains(
    conn: &impl ConnectionTrait,
    tenant: TenantId,
) -> Result<(), DbErr> {
    tenant_domain::Entity::delete_many()
        .filter(tenant_domain::Column::TenantId.eq(tenant.as_uuid()))
        .exec(conn)
        .await
        .map(drop)
}
