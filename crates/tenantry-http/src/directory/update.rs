//! Keeping the index current: what the change feed ([`crate::feed`]) and this process's own
//! changes apply to it.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tenantry_core::TenantId;
use tenantry_registry::RegistryError;

use super::index::{Index, Listed};
use super::{Loaded, TenantDirectory};
use crate::rate_limit::PlanLimits;

impl TenantDirectory {
    /// Replaces the whole index (at start, or after the feed lost track). Returns the tenants
    /// whose entry changed or disappeared, so their pools and users can be forgotten.
    pub(crate) fn replace(&self, entries: Vec<Loaded>) -> Vec<TenantId> {
        let mut index = self.index.write().expect("directory lock");
        let mut fresh = Index::default();
        for loaded in entries {
            let old = index.tenants.get(&loaded.entry.id);
            fresh.insert(Listed::new(loaded, old));
        }
        let changed = index
            .tenants
            .iter()
            .filter(|(id, old)| fresh.tenants.get(id).map(|l| &l.loaded) != Some(&old.loaded))
            .map(|(id, _)| *id)
            .collect();
        fresh.loaded = true;
        fresh.synced_at = Some(Instant::now());
        *index = fresh;
        drop(index);
        self.forget_misses();
        changed
    }

    /// Applies what the registry now says about one tenant (`None`: deleted or gone).
    pub(crate) fn apply(&self, id: TenantId, entry: Option<Loaded>) {
        let mut index = self.index.write().expect("directory lock");
        match entry {
            Some(loaded) => {
                let listed = Listed::new(loaded, index.tenants.get(&id));
                index.insert(listed);
            }
            None => {
                index.remove(id);
            }
        }
    }

    /// The plans' request limits, as entries are loaded with them ([`crate::feed::load`]).
    pub(crate) fn plans(&self) -> &PlanLimits {
        &self.plans
    }

    /// A new tenant or domain may answer a name remembered as unknown.
    pub(crate) fn forget_misses(&self) {
        self.miss_generation.fetch_add(1, Ordering::AcqRel);
        self.misses.invalidate_all();
    }

    /// The feed reached the master and applied everything up to now.
    pub(crate) fn synced(&self) {
        self.index.write().expect("directory lock").synced_at = Some(Instant::now());
    }

    /// Re-reads one tenant from the master now (after a change made by this process).
    pub async fn refresh(&self, id: TenantId) -> Result<(), RegistryError> {
        let entry = crate::feed::load(&self.registry, &self.plans, id).await?;
        self.apply(id, entry);
        self.forget_misses();
        Ok(())
    }
}
