//! Where the engine gets `now` from: the system clock, or a hand-driven one for simulations.

use kyc_flow_core::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// A clock that moves only when told to (simulations, tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// Starting at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            ms: AtomicI64::new(start.0),
        }
    }
    /// Move forward by `d`.
    pub fn advance(&self, d: Duration) {
        let add = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.ms.fetch_add(add, Ordering::SeqCst);
    }
    /// Jump to `t` (never backwards).
    pub fn set(&self, t: Timestamp) {
        self.ms.fetch_max(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.ms.load(Ordering::SeqCst))
    }
}
