//! Which idle slot gives up its permit when the budget is spent, and how much a tenant is asked
//! for lately: a count of its leases that halves every [`HALF_LIFE`]. A victim is taken from the
//! coldest tenant — the one least likely to ask again soon, which is what an LFU cache evicts —
//! and a tenant that was busy a minute ago counts for little more than one never seen. Under a skewed load (a few tenants take most requests, a long
//! tail the rest) this misses less than least-recently-used: a popular tenant that happens to
//! have paused is not evicted for a tail tenant's single request.

use std::time::{Duration, Instant};

use tenantry_core::TenantId;

use super::{Homed, State};
use crate::target::ServerKey;

/// Long enough to tell a tenant asked a few times a second from one asked once in a while;
/// short enough that a tenant gone quiet cools within a minute.
pub(super) const HALF_LIFE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub(super) struct Heat {
    count: f64,
    at: Instant,
}

impl Heat {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            count: 0.0,
            at: now,
        }
    }

    /// One more lease, at `now`.
    pub(super) fn bump(&mut self, now: Instant) {
        self.count = self.at(now) + 1.0;
        self.at = now;
    }

    /// The count decayed to `now`.
    pub(super) fn at(&self, now: Instant) -> f64 {
        let age = now.saturating_duration_since(self.at).as_secs_f64();
        self.count * (-age / HALF_LIFE.as_secs_f64()).exp2()
    }
}

impl<S: Homed> State<S> {
    /// Removes an idle slot of the server from a tenant other than `except`, in this order:
    ///
    /// 1. a **quiet** slot, idle for `last_kept_for` (its tenant has gone quiet, or holds more
    ///    than it uses);
    /// 2. unless the caller is a `holder` (a tenant asking for depth, not for its first
    ///    connection): a spare slot (of a tenant holding others), then anyone's last one: the
    ///    caller misses either way, so it takes what costs others least.
    ///
    /// Within each, the coldest tenant's (fewest leases lately, see [`Heat`]), then the least
    /// recently used: what an LFU cache would evict, which misses less than LRU when a few
    /// tenants take most requests.
    ///
    /// A holder never takes a slot in use moments ago: taking a busy tenant's spare would only
    /// make that tenant take one back from someone else, and so on (each steal a connect).
    pub(super) fn take_idle_victim(
        &mut self,
        server: ServerKey,
        except: TenantId,
        holder: bool,
    ) -> Option<S> {
        let now = Instant::now();
        let kept_for = self.last_kept_for;
        let victim = self
            .tenants
            .iter()
            .filter(|(id, s)| **id != except && s.server == server && !s.idle.is_empty())
            .filter_map(|(id, s)| {
                let since = s.idle[0].since;
                let tier = if now.duration_since(since) >= kept_for {
                    0
                } else if holder {
                    return None;
                } else if s.leased + s.idle.len() > 1 {
                    1
                } else {
                    2
                };
                Some((*id, tier, s.heat.at(now), since))
            })
            .min_by(|a, b| {
                (a.1.cmp(&b.1))
                    .then(a.2.total_cmp(&b.2))
                    .then(a.3.cmp(&b.3))
            })
            .map(|(id, ..)| id)?;
        let slots = self.tenants.get_mut(&victim)?;
        let idle = slots.idle.remove(0);
        slots.homes.remove(idle.home);
        Some(idle.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_halves_every_half_life_and_adds_up() {
        let t0 = Instant::now();
        let mut heat = Heat::new(t0);
        assert_eq!(heat.at(t0), 0.0);
        heat.bump(t0);
        heat.bump(t0);
        assert_eq!(heat.at(t0), 2.0);
        assert!((heat.at(t0 + HALF_LIFE) - 1.0).abs() < 1e-9);
        heat.bump(t0 + HALF_LIFE);
        assert!((heat.at(t0 + 2 * HALF_LIFE) - 1.0).abs() < 1e-9);
        // Time never runs backwards for it: an earlier instant reads as now.
        assert_eq!(heat.at(t0), heat.at(t0 + HALF_LIFE));
    }
}
