//! The index proper: what it holds per tenant, and its name → tenant maps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tenantry_core::{PlanId, TenantId};
use tenantry_registry::DirectoryEntry;

use super::Key;
use crate::rate_limit::RequestLimiter;

/// What the master says about one live tenant: its directory entry, plan and request limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loaded {
    pub(crate) entry: DirectoryEntry,
    pub(crate) plan: PlanId,
    pub(crate) requests_per_minute: u32,
}

/// A tenant in the index: as loaded, with its request bucket.
pub(super) struct Listed {
    pub(super) loaded: Loaded,
    pub(super) limiter: Arc<RequestLimiter>,
}

impl Listed {
    /// Keeps `old`'s bucket if the limit is unchanged: refreshing an entry (a status or domain
    /// change, a reload) must not hand out a fresh quota.
    pub(super) fn new(loaded: Loaded, old: Option<&Listed>) -> Self {
        let limiter = match old {
            Some(old) if old.limiter.per_minute() == loaded.requests_per_minute => {
                old.limiter.clone()
            }
            _ => Arc::new(RequestLimiter::new(loaded.requests_per_minute)),
        };
        Self { loaded, limiter }
    }
}

#[derive(Default)]
pub(super) struct Index {
    pub(super) tenants: HashMap<TenantId, Listed>,
    subdomains: HashMap<String, TenantId>,
    domains: HashMap<String, TenantId>,
    pub(super) loaded: bool,
    pub(super) synced_at: Option<Instant>,
}

impl Index {
    pub(super) fn insert(&mut self, listed: Listed) {
        let entry = &listed.loaded.entry;
        let id = entry.id;
        self.remove(id);
        self.subdomains.insert(entry.subdomain.clone(), id);
        for domain in &entry.domains {
            self.domains.insert(domain.clone(), id);
        }
        self.tenants.insert(id, listed);
    }

    pub(super) fn remove(&mut self, id: TenantId) -> Option<Listed> {
        let listed = self.tenants.remove(&id)?;
        let old = &listed.loaded.entry;
        // Only drop keys that still point at this tenant (a successor may hold the name).
        if self.subdomains.get(&old.subdomain) == Some(&id) {
            self.subdomains.remove(&old.subdomain);
        }
        for domain in &old.domains {
            if self.domains.get(domain) == Some(&id) {
                self.domains.remove(domain);
            }
        }
        Some(listed)
    }

    pub(super) fn get(&self, key: &Key) -> Option<&Listed> {
        let id = match key {
            Key::Subdomain(s) => self.subdomains.get(s.as_str())?,
            Key::Domain(d) => self.domains.get(d)?,
            Key::Id(id) => id,
        };
        self.tenants.get(id)
    }
}
