//! Wall-clock instants as the core sees them: milliseconds since the Unix epoch.
//!
//! The core never reads a clock; every call receives `now`. A plain integer keeps sessions
//! small, serializable and replayable.

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

/// A calendar date (proleptic Gregorian, UTC), enough for expiry and age checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CivilDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl CivilDate {
    /// Parse `YYYY-MM-DD` (the canonical form of extracted dates). A bare `YYYY` (some cards
    /// print only the expiry year) means the last day of that year.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let num = |t: &str| -> Option<u32> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse().ok()
        };
        let mut parts = s.split('-');
        let year = i32::try_from(num(parts.next()?)?).ok()?;
        let (month, day) = match (parts.next(), parts.next(), parts.next()) {
            (None, None, None) if s.len() == 4 => (12, 31),
            (Some(m), Some(d), None) => (num(m)?, num(d)?),
            _ => return None,
        };
        let date = Self {
            year,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
        };
        // Round-trip through day numbers to reject 2023-02-30 and friends.
        ((1..=12).contains(&month) && Self::from_days(date.days()) == date).then_some(date)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }

    /// Whole years from `self` (a birth date) to `on`.
    pub fn age_on(self, on: CivilDate) -> i32 {
        let mut age = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            age -= 1;
        }
        age
    }
}

impl Timestamp {
    /// The UTC calendar date of this instant.
    pub fn date(self) -> CivilDate {
        CivilDate::from_days(self.0.div_euclid(86_400_000))
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
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(
            Timestamp(0).date(),
            CivilDate {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        // 2026-11-26T09:51:35Z
        assert_eq!(
            Timestamp::from_secs(1_795_686_695).date(),
            CivilDate {
                year: 2026,
                month: 11,
                day: 26
            }
        );
        assert_eq!(
            CivilDate::parse("2000-02-29").map(|d| d.days()),
            Some(11_016)
        );
        assert_eq!(CivilDate::parse("2023-02-29"), None);
        assert_eq!(
            CivilDate::parse("2031"),
            Some(CivilDate {
                year: 2031,
                month: 12,
                day: 31
            })
        );
        assert_eq!(CivilDate::parse("31/12/2031"), None);
        let birth = CivilDate::parse("2008-11-27").unwrap();
        assert_eq!(birth.age_on(CivilDate::parse("2026-11-26").unwrap()), 17);
        assert_eq!(birth.age_on(CivilDate::parse("2026-11-27").unwrap()), 18);
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -1_000_000i64..1_000_000) {
            prop_assert_eq!(CivilDate::from_days(days).days(), days);
        }

        #[test]
        fn parse_never_panics(s in "[0-9-]{0,12}|.{0,12}") {
            if let Some(d) = CivilDate::parse(&s) {
                prop_assert_eq!(CivilDate::from_days(d.days()), d);
            }
        }
    }
}
