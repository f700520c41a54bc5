//! Storage quotas: tenant databases measured on their servers, and the size recorded in the
//! master, which places it against the tenant's limit (audit events at 80 % and 100 %, a change
//! that makes every `serve` refuse or allow its writes when it crosses the limit).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::Serialize;
use tenantry_registry::{RegistryError, StorageLevel, Tenant};

use crate::{ProvisionError, Provisioner};

/// What one measuring pass did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct StoragePass {
    pub measured: usize,
    /// Measured at 80 % of their limit or more, but under it.
    pub warning: usize,
    /// Measured at their limit or over.
    pub exceeded: usize,
    pub failed: usize,
}

impl Provisioner {
    /// The tenant database's size in bytes, as its quota counts it.
    pub async fn measure_storage(&self, tenant: &Tenant) -> Result<u64, ProvisionError> {
        let db = Self::tenant_database(tenant)?;
        Ok(self
            .backend(tenant.server)
            .await?
            .database_size(&db)
            .await?)
    }

    /// Measures `tenant` and records the size at `now`; its level (`None`: deleted meanwhile).
    pub async fn check_storage(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<Option<StorageLevel>, ProvisionError> {
        let used = self.measure_storage(tenant).await?;
        Ok(self.registry.record_storage(tenant.id, used, now).await?)
    }

    /// Measures every active or suspended tenant not measured within `every`, `concurrency` at a
    /// time. Tenants are claimed through the master, so several `serve` processes share the work;
    /// a failed measurement waits for the next interval.
    pub async fn run_storage_checks(
        &self,
        every: Duration,
        concurrency: usize,
        now: DateTime<Utc>,
    ) -> Result<StoragePass, ProvisionError> {
        let older_than = now
            - chrono::Duration::from_std(every).map_err(|_| RegistryError::Invalid {
                what: format!("storage check interval {every:?}"),
            })?;
        let concurrency = concurrency.max(1);
        let batch = u64::try_from(concurrency * 8).unwrap_or(u64::MAX);
        let mut pass = StoragePass::default();
        loop {
            let claimed = self
                .registry
                .claim_storage_checks(older_than, now, batch)
                .await?;
            if claimed.is_empty() {
                return Ok(pass);
            }
            let results: Vec<_> = futures::stream::iter(claimed)
                .map(|tenant| async move {
                    let level = self.check_storage(&tenant, now).await;
                    (tenant, level)
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            for (tenant, level) in results {
                match level {
                    Ok(None) => {}
                    Ok(Some(level)) => {
                        pass.measured += 1;
                        match level {
                            StorageLevel::Ok => {}
                            StorageLevel::Warning => pass.warning += 1,
                            StorageLevel::Exceeded => pass.exceeded += 1,
                        }
                    }
                    Err(e) => {
                        pass.failed += 1;
                        tracing::warn!(
                            tenant = %tenant.subdomain,
                            error = %crate::error_chain(&e),
                            "storage measurement failed"
                        );
                    }
                }
            }
        }
    }
}
