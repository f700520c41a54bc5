//! Custom domains: `books.acme.com` served as tenant `acme`. Only a verified domain routes (an
//! unverified claim must never divert another party's traffic), and a domain belongs to one live
//! tenant at a time: deleting the tenant releases it.
//!
//! Operators claim, verify and remove domains through the audited methods ([`NewDomain`]): each
//! writes its audit row and its change-feed entry in the change's own transaction. A claim holds
//! a random verification token; only the claim whose token was seen in DNS can be marked
//! verified, so a claim removed and made again meanwhile is never verified by the old record.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait as _, Set,
    TransactionTrait,
};
use tenantry_core::{DomainName, TenantId};
use uuid::Uuid;

use crate::changes::{ChangeKind, record};
use crate::entity::{tenant, tenant_domain};
use crate::{AuditEntry, Domain, Registry, RegistryError, Tenant, TenantStatus};

/// A claim on a custom domain, pending verification.
#[derive(Debug, Clone)]
pub struct NewDomain {
    pub tenant: TenantId,
    pub domain: DomainName,
    /// The challenge its owner must publish (random, made by the caller).
    pub verification_token: String,
    /// The most domains the tenant may hold; a claim beyond it is `Invalid`.
    pub max_per_tenant: u64,
}

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
            verification_token: Set(None),
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

    /// The domains of a tenant, verified or not, oldest first.
    pub async fn tenant_domains(&self, tenant: TenantId) -> Result<Vec<Domain>, RegistryError> {
        Ok(tenant_domain::Entity::find()
            .filter(tenant_domain::Column::TenantId.eq(tenant.as_uuid()))
            .order_by_asc(tenant_domain::Column::CreatedAt)
            .order_by_asc(tenant_domain::Column::Id)
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

impl Registry {
    /// Claims a domain for a live tenant, unverified, with its audit row and change-feed entry
    /// in one transaction. Unknown or deleted tenant → `NotFound`; the domain held by any tenant
    /// → `Conflict`; the tenant already holding `max_per_tenant` domains → `Invalid`.
    pub async fn claim_domain(
        &self,
        new: NewDomain,
        audit: AuditEntry,
    ) -> Result<Domain, RegistryError> {
        let now = Utc::now();
        let tenant = new.tenant;
        let txn = self.db.begin().await?;
        // Write first: the tenant's row is then locked (PostgreSQL) and the SQLite transaction
        // holds the write lock, so a racing delete cannot leave a domain on a deleted tenant and
        // two racing claims cannot both pass the count below.
        let live = tenant::Entity::update_many()
            .col_expr(tenant::Column::UpdatedAt, Expr::value(now))
            .filter(tenant::Column::Id.eq(tenant.as_uuid()))
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
            .exec(&txn)
            .await?;
        if live.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("tenant {tenant}"),
            });
        }
        let held = tenant_domain::Entity::find()
            .filter(tenant_domain::Column::TenantId.eq(tenant.as_uuid()))
            .count(&txn)
            .await?;
        if held >= new.max_per_tenant {
            return Err(RegistryError::Invalid {
                what: format!(
                    "domain count (the tenant holds {held}, at most {})",
                    new.max_per_tenant
                ),
            });
        }
        let domain = &new.domain;
        let added = tenant_domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.as_uuid()),
            domain: Set(domain.as_str().to_owned()),
            verified_at: Set(None),
            created_at: Set(now),
            verification_token: Set(Some(new.verification_token)),
        }
        .insert(&txn)
        .await
        .map_err(|e| RegistryError::conflict_or_db(e, || format!("domain {domain}")))?;
        crate::audit::insert(&txn, audit).await?;
        record(&txn, tenant, None, ChangeKind::Domains).await?;
        txn.commit().await?;
        Ok(added.into())
    }

    /// One domain of `tenant` (`None` if it is not that tenant's).
    pub async fn tenant_domain(
        &self,
        tenant: TenantId,
        domain: &DomainName,
    ) -> Result<Option<Domain>, RegistryError> {
        Ok(tenant_domain::Entity::find()
            .filter(of(tenant, domain))
            .one(&self.db)
            .await?
            .map(Domain::from))
    }

    /// Marks the claim whose `token` was seen in DNS verified, with its audit row and
    /// change-feed entry in one transaction; the domain routes from then on. Already verified →
    /// the domain as it is (no audit row: nothing changed). Not the tenant's, or no longer the
    /// claim with this token (removed, or removed and claimed again meanwhile) → `NotFound`.
    pub async fn mark_domain_verified(
        &self,
        tenant: TenantId,
        domain: &DomainName,
        token: &str,
        audit: AuditEntry,
    ) -> Result<Domain, RegistryError> {
        let txn = self.db.begin().await?;
        // The write comes first, so a SQLite transaction never has to upgrade a read lock.
        let verified = tenant_domain::Entity::update_many()
            .col_expr(
                tenant_domain::Column::VerifiedAt,
                Expr::value(Some(Utc::now())),
            )
            .filter(of(tenant, domain))
            .filter(tenant_domain::Column::VerifiedAt.is_null())
            .filter(tenant_domain::Column::VerificationToken.eq(token))
            .exec(&txn)
            .await?
            .rows_affected;
        let row = tenant_domain::Entity::find()
            .filter(of(tenant, domain))
            .one(&txn)
            .await?;
        let row = match row {
            Some(row) if verified > 0 || row.verified_at.is_some() => row,
            _ => {
                return Err(RegistryError::NotFound {
                    what: format!("the checked claim on domain {domain}"),
                });
            }
        };
        if verified > 0 {
            crate::audit::insert(&txn, audit).await?;
            record(&txn, tenant, None, ChangeKind::Domains).await?;
            txn.commit().await?;
        }
        Ok(row.into())
    }

    /// Removes a tenant's domain, with its audit row and change-feed entry in one transaction:
    /// it stops routing. Not the tenant's → `NotFound`.
    pub async fn remove_domain(
        &self,
        tenant: TenantId,
        domain: &DomainName,
        audit: AuditEntry,
    ) -> Result<(), RegistryError> {
        let txn = self.db.begin().await?;
        let removed = tenant_domain::Entity::delete_many()
            .filter(of(tenant, domain))
            .exec(&txn)
            .await?
            .rows_affected;
        if removed == 0 {
            return Err(RegistryError::NotFound {
                what: format!("domain {domain}"),
            });
        }
        crate::audit::insert(&txn, audit).await?;
        record(&txn, tenant, None, ChangeKind::Domains).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// The row of `domain` if `tenant` holds it.
fn of(tenant: TenantId, domain: &DomainName) -> Condition {
    Condition::all()
        .add(tenant_domain::Column::TenantId.eq(tenant.as_uuid()))
        .add(tenant_domain::Column::Domain.eq(domain.as_str()))
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
