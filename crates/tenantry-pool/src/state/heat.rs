//! How much a tenant is asked for lately: a count of its leases that halves every
//! [`HALF_LIFE`]. A victim is taken from the coldest tenant — the one least likely to ask again
//! soon, which is what an LFU cache evicts — and a tenant that was busy a minute ago counts for
//! little more than one never seen. Under a skewed load (a few tenants take most requests, a long
//! tail the rest) this misses less than least-recently-used: a popular tenant that happens to
//! have paused is not evicted for a tail tenant's single request.

use std::time::{Duration, Instant};

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
