//! Per-project capture rate limit, in events per second, shared by every capture
//! route (native, PostHog, Segment, Tlytics). A project may burst to
//! [`BURST_SECONDS`] seconds' worth of events; past that its requests answer
//! 429 `rate_limited` with `Retry-After` and nothing of them is stored, so SDKs
//! retry them later. One project's traffic never uses another's allowance.
//! Zero events per second turns the limit off.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use tally_core::ProjectId;

/// How many seconds of the steady rate a project may send at once.
pub const BURST_SECONDS: u32 = 10;

pub struct CaptureRateLimit {
    limiter: Option<DefaultKeyedRateLimiter<ProjectId>>,
    burst: NonZeroU32,
}

impl CaptureRateLimit {
    /// `events_per_sec` per project; 0 means unlimited.
    pub fn new(events_per_sec: u32) -> Self {
        let Some(rate) = NonZeroU32::new(events_per_sec) else {
            return Self::unlimited();
        };
        let burst = rate.saturating_mul(NonZeroU32::new(BURST_SECONDS).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: Some(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            burst,
        }
    }

    pub fn unlimited() -> Self {
        Self {
            limiter: None,
            burst: NonZeroU32::MAX,
        }
    }

    /// Takes `events` from the project's allowance, or says how many seconds to
    /// wait before retrying. A request larger than the whole burst is let through
    /// when the bucket is full and empties it, so no valid batch is refused forever.
    pub fn check(&self, project: ProjectId, events: usize) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let wanted = u32::try_from(events)
            .ok()
            .and_then(NonZeroU32::new)
            .map_or(NonZeroU32::MIN, |n| n.min(self.burst));
        match limiter.check_key_n(&project, wanted) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                // Whole seconds for Retry-After, never 0 (that would invite a
                // tight retry loop).
                Err((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
            }
            // `wanted` is capped at the burst, so the bucket can always hold it.
            Err(_) => Err(u64::from(BURST_SECONDS)),
        }
    }
}

/// Per-address limit on the auth routes (login, register, setup, refresh), in
/// requests per minute with a burst of that many: it slows password guessing
/// from one address, while the per-account lockout stops it across addresses.
/// Zero turns it off.
pub struct AuthRateLimit {
    limiter: Option<governor::DefaultKeyedRateLimiter<std::net::IpAddr>>,
}

impl AuthRateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n).allow_burst(n))),
        }
    }

    /// Takes one request from the address's allowance, or says how many seconds
    /// to wait. Requests without a known address share one allowance.
    pub fn check(&self, addr: Option<std::net::IpAddr>) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let key = addr.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_limited_after_its_burst_and_others_are_not() {
        let limit = CaptureRateLimit::new(5);
        // Burst: 10 s × 5 events.
        assert_eq!(limit.check(1, 30), Ok(()));
        assert_eq!(limit.check(1, 20), Ok(()));
        let wait = limit.check(1, 1).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        // Another project has its own allowance.
        assert_eq!(limit.check(2, 50), Ok(()));
        // Waiting for 20 events takes about 4 s at 5 per second.
        let wait = limit.check(2, 20).unwrap_err();
        assert!((4..=5).contains(&wait), "{wait}");
    }

    #[test]
    fn a_batch_larger_than_the_burst_passes_once_on_a_full_bucket() {
        let limit = CaptureRateLimit::new(2);
        assert_eq!(limit.check(1, 1000), Ok(()), "a full bucket takes it");
        assert!(limit.check(1, 1).is_err(), "and is empty after it");
    }

    #[test]
    fn zero_is_unlimited() {
        let limit = CaptureRateLimit::new(0);
        for _ in 0..100 {
            assert_eq!(limit.check(1, 1_000_000), Ok(()));
        }
    }

    #[test]
    fn an_address_is_limited_after_its_burst_and_others_are_not() {
        let limit = AuthRateLimit::new(3);
        let a = Some(std::net::IpAddr::from([10, 0, 0, 1]));
        let b = Some(std::net::IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            assert_eq!(limit.check(a), Ok(()));
        }
        let wait = limit.check(a).unwrap_err();
        assert!((1..=20).contains(&wait), "one request per 20 s: {wait}");
        assert_eq!(limit.check(b), Ok(()));
    }
}
