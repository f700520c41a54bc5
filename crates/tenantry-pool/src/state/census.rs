//! Housekeeping and figures: reaping idle slots, and what the bookkeeping holds.

use std::time::{Duration, Instant};

use tenantry_core::TenantId;

use super::{Homed, State};
use crate::target::ServerKey;

impl<S: Homed> State<S> {
    /// Idle slots beyond each tenant's most recent one, idle for longer than `after`.
    pub(crate) fn reap(&mut self, after: Duration) -> Vec<(ServerKey, S)> {
        let now = Instant::now();
        let mut out = Vec::new();
        for s in self.tenants.values_mut() {
            while s.idle.len() > 1 && now.duration_since(s.idle[0].since) >= after {
                let idle = s.idle.remove(0);
                s.homes.remove(idle.home);
                out.push((s.server, idle.slot));
            }
        }
        out
    }

    /// One tenant's `(max, idle, leased, connecting, waiting)`, if it has slots here.
    pub(crate) fn tenant_census(
        &self,
        tenant: &TenantId,
    ) -> Option<(usize, usize, usize, usize, usize)> {
        self.tenants.get(tenant).map(|s| {
            (
                s.max_now(),
                s.idle.len(),
                s.leased,
                s.connecting,
                s.waiters.len(),
            )
        })
    }

    /// `(server, permits, idle, leased, connecting)` per server.
    pub(crate) fn census(&self) -> Vec<(ServerKey, usize, usize, usize, usize)> {
        self.servers
            .iter()
            .map(|(key, srv)| {
                let (mut idle, mut leased, mut connecting) = (0, 0, 0);
                for s in self.tenants.values().filter(|s| s.server == *key) {
                    idle += s.idle.len();
                    leased += s.leased;
                    connecting += s.connecting;
                }
                (*key, srv.permits, idle, leased, connecting)
            })
            .collect()
    }
}
