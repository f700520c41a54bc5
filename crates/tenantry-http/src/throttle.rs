//! Login throttling: every login attempt, right or wrong, takes one cell from its client's
//! bucket and then one from its account's (tenant + email). Each bucket holds the per-minute
//! quota (`security.login_attempts_per_{ip,account}_per_minute`) and refills evenly over a
//! minute (GCRA, `governor`), so a burst of the whole quota is allowed and then one attempt
//! per `60 / quota` seconds. A refused attempt takes nothing and answers 429 with the seconds
//! until a cell is free; it never reaches the tenant database or the password checker.
//!
//! Memory is bounded: a task forgets the buckets that have refilled ([`PRUNE_EVERY`]), and each
//! limiter holds at most `max_keys` buckets. Past that, it first forgets the refilled buckets
//! (at most once a second); if it is still full, every attempt is refused until buckets refill
//! — failing closed, so flooding the throttle with new keys never switches it off. Keys are
//! small and fixed-size: IPv6 clients are keyed by their /64 (one host usually owns one),
//! accounts by a digest of the lowercased email, never the email itself.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest as _, Sha256};
use tenantry_core::TenantId;
use tenantry_core::vault::CheckerError;

use crate::error::ApiError;

/// How often refilled buckets are forgotten.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Buckets per limiter (each well under 100 bytes) before the limiter refuses new attempts.
pub const MAX_KEYS: usize = 100_000;
/// What a login refused by a saturated password checker is told.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// The two login limiters: per client, then per account.
pub struct LoginThrottle {
    per_ip: Limiter<IpAddr>,
    per_account: Limiter<(TenantId, [u8; 16])>,
}

impl LoginThrottle {
    /// Quotas are attempts per minute (at least 1).
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        Self::with_max_keys(per_ip_per_minute, per_account_per_minute, MAX_KEYS)
    }

    pub fn with_max_keys(per_ip: u32, per_account: u32, max_keys: usize) -> Self {
        Self {
            per_ip: Limiter::new(per_ip, max_keys),
            per_account: Limiter::new(per_account, max_keys),
        }
    }

    /// Takes a cell from the client's bucket.
    pub fn check_ip(&self, client: IpAddr) -> Result<(), ApiError> {
        self.per_ip.check(&ip_key(client))
    }

    /// Takes a cell from the account's bucket; `email` as typed (trimmed and lowercased here).
    pub fn check_account(&self, tenant: TenantId, email: &str) -> Result<(), ApiError> {
        let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        self.per_account.check(&(tenant, key))
    }

    /// Forgets refilled buckets and gives their memory back.
    pub fn prune(&self) {
        self.per_ip.prune();
        self.per_account.prune();
    }

    /// Buckets held: (per client, per account).
    pub fn len(&self) -> (usize, usize) {
        (self.per_ip.limiter.len(), self.per_account.limiter.len())
    }

    /// Prunes every [`PRUNE_EVERY`] on the current Tokio runtime, until the throttle is dropped.
    pub fn spawn_pruning(self: &Arc<Self>) {
        let throttle = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PRUNE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(throttle) = throttle.upgrade() else {
                    return;
                };
                throttle.prune();
            }
        });
    }
}

/// The password checker's refusals as HTTP answers.
pub fn checker_error(e: CheckerError) -> ApiError {
    match e {
        CheckerError::Busy => ApiError::Busy {
            retry_after: BUSY_RETRY_AFTER_SECS,
        },
        e => ApiError::internal(e),
    }
}

struct Limiter<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    max_keys: usize,
    /// When the last forced prune ran; locked only to run one.
    forced_prune: Mutex<Option<Instant>>,
    /// Seconds for one cell to refill: a saturated limiter's Retry-After.
    refill_secs: u64,
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    fn new(per_minute: u32, max_keys: usize) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            // `per_minute` sets the burst to the same count.
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            max_keys,
            forced_prune: Mutex::new(None),
            refill_secs: 60_u64.div_ceil(u64::from(per_minute.get())),
        }
    }

    fn check(&self, key: &K) -> Result<(), ApiError> {
        if self.limiter.len() >= self.max_keys && !self.make_room() {
            return Err(ApiError::TooManyRequests {
                retry_after: self.refill_secs,
            });
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::TooManyRequests {
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Prunes if no prune ran in the last second (pruning walks every bucket, so a flood must
    /// not trigger it per request); whether there is room now.
    fn make_room(&self) -> bool {
        if let Ok(mut last) = self.forced_prune.try_lock()
            && last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            self.prune();
            *last = Some(Instant::now());
        }
        self.limiter.len() < self.max_keys
    }

    fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// IPv6 clients by their /64: a host can pick any address in its /64, so keying by address
/// would hand it 2^64 buckets.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !(u128::MAX >> 64)).into()),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(r: Result<(), ApiError>) -> u64 {
        match r {
            Err(ApiError::TooManyRequests { retry_after }) => retry_after,
            other => panic!("expected 429, got {other:?}"),
        }
    }

    #[test]
    fn the_quota_is_a_burst_then_429_with_the_wait() {
        let t = LoginThrottle::new(3, 2);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            t.check_ip(ip).unwrap();
        }
        // One cell refills every 20 s.
        let wait = retry_after(t.check_ip(ip));
        assert!((19..=20).contains(&wait), "{wait}");
        t.check_ip("203.0.113.8".parse().unwrap()).unwrap();

        let tenant = TenantId::new();
        t.check_account(tenant, "Ann@Example.com").unwrap();
        t.check_account(tenant, " ann@example.com").unwrap();
        // Same account whatever the case; another tenant's account is another bucket.
        let wait = retry_after(t.check_account(tenant, "ANN@example.com"));
        assert!((29..=30).contains(&wait), "{wait}");
        t.check_account(TenantId::new(), "ann@example.com").unwrap();
        t.check_account(tenant, "bob@example.com").unwrap();
    }

    #[test]
    fn an_ipv6_client_is_one_bucket_per_64() {
        let t = LoginThrottle::new(2, 100);
        t.check_ip("2001:db8:1:2::1".parse().unwrap()).unwrap();
        t.check_ip("2001:db8:1:2:ffff::9".parse().unwrap()).unwrap();
        retry_after(t.check_ip("2001:db8:1:2:abcd::1".parse().unwrap()));
        t.check_ip("2001:db8:1:3::1".parse().unwrap()).unwrap();
        assert_eq!(t.len().0, 2);
    }

    #[test]
    fn a_full_limiter_forgets_refilled_buckets_and_else_fails_closed() {
        // 60 000 per minute: a bucket that took one cell has refilled after 1 ms.
        let fast = LoginThrottle::with_max_keys(60_000, 60_000, 3);
        for i in 0..3 {
            fast.check_ip(IpAddr::from([198, 51, 100, i])).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        fast.check_ip("198.51.100.200".parse().unwrap()).unwrap();
        assert_eq!(fast.len().0, 1, "the refilled buckets were forgotten");

        // One per minute: no bucket refills during the test, so the limiter stays full.
        let slow = LoginThrottle::with_max_keys(1, 1, 3);
        for i in 0..3 {
            slow.check_ip(IpAddr::from([198, 51, 100, i])).unwrap();
        }
        let wait = retry_after(slow.check_ip("198.51.100.200".parse().unwrap()));
        assert_eq!(wait, 60);
        assert_eq!(slow.len().0, 3, "no bucket beyond the cap");
        slow.prune();
        assert_eq!(slow.len().0, 3, "used buckets are kept until they refill");
    }
}
