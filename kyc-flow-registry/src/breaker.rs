//! The per-registry circuit breaker: after N consecutive retryable failures a registry is left
//! alone for a while, so a down registry costs callers nothing but an immediate `Unavailable`.
//!
//! Closed → (N failures) → Open → (after `open_for`) → HalfOpen: one probe is let through;
//! its success closes the breaker, its failure opens it again. The state sits behind a
//! `std::sync::Mutex` held for a few instructions only, never across an `.await`.

use crate::config::BreakerConfig;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_in_flight: bool },
}

/// What the breaker allows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Refused; try again after this long.
    Refused(Duration),
}

/// A circuit breaker for one registry.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

/// The breaker's state as an operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe is allowed.
    HalfOpen,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written (plain copies),
        // so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// May a call go out at `now`?
    pub fn admit(&self, now: Instant) -> Admission {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if now >= until => {
                *s = State::HalfOpen {
                    probe_in_flight: true,
                };
                Admission::Allowed
            }
            State::Open { until } => Admission::Refused(until - now),
            State::HalfOpen {
                probe_in_flight: false,
            } => {
                *s = State::HalfOpen {
                    probe_in_flight: true,
                };
                Admission::Allowed
            }
            // One probe at a time; others come back shortly.
            State::HalfOpen {
                probe_in_flight: true,
            } => Admission::Refused(self.config.open_for.min(Duration::from_secs(1))),
        }
    }

    /// The call succeeded (or failed permanently: the registry is up, the request was bad).
    pub fn on_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// The call failed in a retryable way (timeout, 5xx, connection refused).
    pub fn on_failure(&self, now: Instant) {
        let mut s = self.lock();
        let open = State::Open {
            until: now + self.config.open_for,
        };
        *s = match *s {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold.max(1) {
                    open
                } else {
                    State::Closed { failures }
                }
            }
            State::HalfOpen { .. } | State::Open { .. } => open,
        };
    }

    /// The call was abandoned without an outcome (the caller's future was dropped): free the
    /// half-open probe slot so the breaker does not stay stuck.
    pub fn on_abandoned(&self) {
        let mut s = self.lock();
        if let State::HalfOpen {
            probe_in_flight: true,
        } = *s
        {
            *s = State::HalfOpen {
                probe_in_flight: false,
            };
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(n: u32, open_ms: u64) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: n,
            open_for: Duration::from_millis(open_ms),
        }
    }

    #[test]
    fn opens_after_threshold_then_probes() {
        let b = CircuitBreaker::new(cfg(3, 1000));
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(b.admit(t0), Admission::Allowed);
            b.on_failure(t0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure(t0);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.admit(t0 + Duration::from_millis(400)),
            Admission::Refused(Duration::from_millis(600))
        );
        // After open_for: exactly one probe.
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(b.admit(t1), Admission::Allowed);
        assert!(matches!(b.admit(t1), Admission::Refused(_)));
        // The probe fails: open again from t1.
        b.on_failure(t1);
        assert!(matches!(
            b.admit(t1 + Duration::from_millis(999)),
            Admission::Refused(_)
        ));
        let t2 = t1 + Duration::from_millis(1000);
        assert_eq!(b.admit(t2), Admission::Allowed);
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(t2), Admission::Allowed);
    }

    #[test]
    fn success_resets_the_failure_count() {
        let b = CircuitBreaker::new(cfg(2, 1000));
        let t = Instant::now();
        b.on_failure(t);
        b.on_success();
        b.on_failure(t);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn abandoned_probe_frees_the_slot() {
        let b = CircuitBreaker::new(cfg(1, 10));
        let t = Instant::now();
        b.on_failure(t);
        let t1 = t + Duration::from_millis(10);
        assert_eq!(b.admit(t1), Admission::Allowed);
        b.on_abandoned();
        assert_eq!(b.admit(t1), Admission::Allowed);
    }

    proptest! {
        /// Whatever the sequence, the breaker never opens before `threshold` consecutive
        /// failures, and is always open right after them.
        #[test]
        fn opens_exactly_at_threshold(threshold in 1u32..6, events in proptest::collection::vec(any::<bool>(), 0..40)) {
            let b = CircuitBreaker::new(cfg(threshold, 60_000));
            let t = Instant::now();
            let mut run = 0u32;
            for ok in events {
                if b.state() == BreakerState::Open { break; }
                if ok { b.on_success(); run = 0; } else { b.on_failure(t); run += 1; }
                prop_assert_eq!(b.state() == BreakerState::Open, run >= threshold);
            }
        }
    }
}
