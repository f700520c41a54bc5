//! Plans: what a tenant pays for, as limits its pool, storage, users and rate limiter enforce.

use sea_orm::{EntityTrait, QueryOrder};
use serde::Serialize;
use tenantry_core::ids::PlanId;

use crate::entity::plan;
use crate::{Registry, RegistryError};

/// A plan and its limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    /// Connections in a tenant's pool.
    pub max_connections: u32,
    pub storage_limit_mb: i64,
    /// Users a tenant may have.
    pub max_users: u32,
    /// Requests a tenant may make per minute.
    pub requests_per_minute: u32,
    /// Feature flags, a JSON object.
    pub features: serde_json::Value,
}

impl TryFrom<plan::Model> for Plan {
    type Error = RegistryError;

    fn try_from(m: plan::Model) -> Result<Self, RegistryError> {
        // The columns are CHECKed positive; a negative value means the master was edited by hand.
        let limit = |column: &str, value: i32| {
            u32::try_from(value).map_err(|_| RegistryError::Invalid {
                what: format!("stored {column} {value} of plan {}", m.id),
            })
        };
        Ok(Self {
            max_connections: limit("max_connections", m.max_connections)?,
            max_users: limit("max_users", m.max_users)?,
            requests_per_minute: limit("requests_per_minute", m.requests_per_minute)?,
            id: PlanId::from_stored(m.id),
            name: m.name,
            storage_limit_mb: m.storage_limit_mb,
            features: m.features,
        })
    }
}

impl Registry {
    /// Every plan, ordered by id.
    pub async fn plans(&self) -> Result<Vec<Plan>, RegistryError> {
        plan::Entity::find()
            .order_by_asc(plan::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Plan::try_from)
            .collect()
    }

    /// The plan `id`; unknown → `NotFound`.
    pub async fn plan_by_id(&self, id: &PlanId) -> Result<Plan, RegistryError> {
        plan::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("plan {id}"),
            })?
            .try_into()
    }
}
