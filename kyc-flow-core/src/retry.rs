//! The one backoff policy: every retry loop (the engine's job retries, the registry client,
//! the Graph API client) asks a [`RetryPolicy`] how long to wait, so the rules live here once.
//!
//! Rules: exponential from `base` (×2 per failure) up to `max`; a server's own hint
//! (`Retry-After`, Meta's pair rate limit) wins over the exponential guess. Pure: jitter is
//! applied by the caller's random draw ([`RetryPolicy::jittered`]), so the core stays
//! deterministic.

use std::time::Duration;

/// Exponential backoff with a ceiling, honouring server hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure.
    pub base: Duration,
    /// No computed wait is longer.
    pub max: Duration,
}

impl RetryPolicy {
    /// The engine's queue jobs: 1 s, 2 s, 4 s, … 5 min.
    pub const JOBS: Self = Self {
        base: Duration::from_secs(1),
        max: Duration::from_secs(300),
    };

    /// The exponential wait after `failures` failures (1 for the first): `base · 2^(failures-1)`,
    /// at most `max`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The wait after `failures` failures: the server's `hint` when it gave one (at most
    /// `max`), else [`RetryPolicy::ceiling`].
    pub fn delay(&self, failures: u32, hint: Option<Duration>) -> Duration {
        match hint {
            Some(h) => h.min(self.max),
            None => self.ceiling(failures),
        }
    }

    /// Full jitter: `draw` (uniform in `[0, 1]`, from the caller's generator) times the
    /// ceiling, so a fleet of retrying callers does not retry in lock-step. A server's hint is
    /// used as it is.
    pub fn jittered(&self, failures: u32, hint: Option<Duration>, draw: f64) -> Duration {
        match hint {
            Some(h) => h.min(self.max),
            None => self.ceiling(failures).mul_f64(draw.clamp(0.0, 1.0)),
        }
    }

    /// The server's hint if it fits under `max` (an inline retry can wait that long); `None`
    /// when the server wants a longer pause than this policy sleeps.
    pub fn fits(&self, hint: Duration) -> Option<Duration> {
        (hint <= self.max).then_some(hint)
    }

    /// How long an *inline* retry loop (a client retrying inside one call) sleeps after
    /// `failures` failures: the server's hint when it fits under `max`, else the jittered
    /// exponential wait. `None` when the server asked for a longer pause than the policy sleeps
    /// inline: the caller returns the error (with its hint) so the runtime schedules the retry
    /// instead of holding a worker.
    pub fn inline(&self, failures: u32, hint: Option<Duration>, draw: f64) -> Option<Duration> {
        match hint {
            Some(h) => self.fits(h),
            None => Some(self.jittered(failures, None, draw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn inline_waits_stay_under_their_ceiling(failures in 0u32..40, base_ms in 1u64..1000, max_ms in 1u64..20_000, draw in 0.0f64..=1.0) {
            let p = RetryPolicy { base: Duration::from_millis(base_ms), max: Duration::from_millis(max_ms) };
            let d = p.inline(failures, None, draw).unwrap();
            prop_assert!(d <= p.max);
            prop_assert!(d <= p.base.saturating_mul(1 << failures.saturating_sub(1).min(16)));
        }

        #[test]
        fn hints_are_honoured_only_when_they_fit(hint_ms in 0u64..10_000, max_ms in 0u64..10_000) {
            let p = RetryPolicy { base: Duration::from_millis(100), max: Duration::from_millis(max_ms) };
            let got = p.inline(1, Some(Duration::from_millis(hint_ms)), 0.5);
            prop_assert_eq!(got, (hint_ms <= max_ms).then(|| Duration::from_millis(hint_ms)));
        }
    }

    #[test]
    fn doubles_from_base_up_to_max() {
        let p = RetryPolicy::JOBS;
        let secs: Vec<u64> = (1..=11).map(|n| p.ceiling(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(p.ceiling(0), Duration::from_secs(1));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn a_server_hint_wins_but_is_capped() {
        let p = RetryPolicy::JOBS;
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(
            p.delay(9, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(300)
        );
        assert_eq!(p.fits(Duration::from_secs(3600)), None);
    }

    #[test]
    fn inline_retries_hand_long_hints_back() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        assert_eq!(
            p.inline(1, Some(Duration::from_secs(1)), 0.5),
            Some(Duration::from_secs(1))
        );
        assert_eq!(p.inline(1, Some(Duration::from_secs(3)), 0.5), None);
        assert_eq!(p.inline(3, None, 1.0), Some(Duration::from_millis(400)));
        assert_eq!(p.inline(3, None, 0.5), Some(Duration::from_millis(200)));
    }

    #[test]
    fn jitter_stays_under_the_ceiling() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for n in 1..12 {
            for draw in [0.0, 0.3, 1.0, 7.0, -1.0] {
                assert!(p.jittered(n, None, draw) <= p.ceiling(n));
            }
        }
    }
}
