//! Wall-clock instants as the core sees them: milliseconds since the Unix epoch.
//!
//! The core never reads a clock; every call receives `now`. A plain integer keeps sessions
//! small, serializable and replayable.

pub use kyc_flow_documents::Date;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From whole seconds (WhatsApp timestamps are seconds).
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }
    /// Whole seconds, rounded down.
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    /// This instant plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

impl Timestamp {
    /// The UTC calendar date of this instant.
    pub fn date(self) -> Date {
        Date::from_days(self.0.div_euclid(86_400_000))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_have_utc_dates() {
        assert_eq!(Timestamp(0).date().to_string(), "1970-01-01");
        // 2026-11-26T09:51:35Z
        assert_eq!(
            Timestamp::from_secs(1_795_686_695).date().to_string(),
            "2026-11-26"
        );
        assert_eq!(Timestamp(-1).date().to_string(), "1969-12-31");
    }
}
