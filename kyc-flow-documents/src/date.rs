//! Calendar dates as identity documents print them: a small proleptic-Gregorian date type,
//! the `YYMMDD` century inference used by MRZs and identifiers, and age arithmetic.
//!
//! [`Date`] is the workspace's one civil-date type (the core re-exports it for expiry and age
//! decisions). It is its own type instead of a date library's because all it needs is
//! validation, ordering, day numbers and whole-year differences, and callers pass the reference
//! date in (the crate never reads the clock).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A valid calendar date (year 1–9999).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Builds a date, or `None` when it does not exist (30 February, month 13, year 0).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(Date {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        })
    }

    /// The year.
    pub fn year(self) -> i32 {
        i32::from(self.year)
    }

    /// The month, 1–12.
    pub fn month(self) -> u32 {
        u32::from(self.month)
    }

    /// The day of the month, 1–31.
    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    /// Parses `YYYY-MM-DD` (the project's canonical form).
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if !s.is_ascii() || b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Date::new(
            digits(&s[0..4])? as i32,
            digits(&s[5..7])?,
            digits(&s[8..10])?,
        )
    }

    /// Parses `DD/MM/YYYY` (Argentine barcodes, printed Latin American dates).
    pub fn parse_dmy_slash(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if !s.is_ascii() || b.len() != 10 || b[2] != b'/' || b[5] != b'/' {
            return None;
        }
        Date::new(
            digits(&s[6..10])? as i32,
            digits(&s[3..5])?,
            digits(&s[0..2])?,
        )
    }

    /// Parses `YYYYMMDD`.
    pub fn parse_compact(s: &str) -> Option<Date> {
        if s.len() != 8 || !s.is_ascii() {
            return None;
        }
        Date::new(
            digits(&s[0..4])? as i32,
            digits(&s[4..6])?,
            digits(&s[6..8])?,
        )
    }

    /// Parses `YYYY-MM-DD`, or a bare `YYYY` (some cards print only the expiry year), which
    /// means the last day of that year.
    pub fn parse_iso_or_year(s: &str) -> Option<Date> {
        let s = s.trim();
        if s.len() == 4 {
            return Date::new(digits(s)? as i32, 12, 31);
        }
        Date::parse_iso(s)
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

    /// The date `days` after 1970-01-01, clamped to the type's range (years 1–9999).
    pub fn from_days(days: i64) -> Date {
        const MIN: i64 = -719_162; // 0001-01-01
        const MAX: i64 = 2_932_896; // 9999-12-31
        let z = days.clamp(MIN, MAX) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // In range after the clamp, so the narrowing casts are exact.
        Date {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        }
    }

    /// Whole years elapsed from `self` to `on` (an age); negative when `on` is earlier.
    pub fn years_until(self, on: Date) -> i32 {
        let mut years = on.year() - self.year();
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }

    /// The same month and day `years` later; 29 February becomes 28 February in common years.
    pub fn add_years(self, years: i32) -> Option<Date> {
        let y = self.year() + years;
        Date::new(y, self.month(), self.day()).or_else(|| Date::new(y, self.month(), 28))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

// Dates of birth are personal data: Debug shows the shape only, so a Date inside a logged
// struct does not leak. Display (used on purpose, for output) prints the value.
impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Date(****-**-**)")
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Date::parse_iso(&s).ok_or_else(|| serde::de::Error::custom("expected a YYYY-MM-DD date"))
    }
}

/// Days in a month of the proleptic Gregorian calendar.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Gregorian leap year.
pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// ASCII digits to a number; `None` for anything else (including an empty string or a sign).
pub(crate) fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Splits `YYMMDD` into its numbers without deciding the century.
pub fn split_yymmdd(s: &str) -> Option<(u32, u32, u32)> {
    if s.len() != 6 || !s.is_ascii() {
        return None;
    }
    Some((digits(&s[0..2])?, digits(&s[2..4])?, digits(&s[4..6])?))
}

/// A `YYMMDD` date that must not be after `reference` (a birth date): the latest century that
/// keeps it on or before the reference day.
pub fn infer_past(yymmdd: &str, reference: Date) -> Option<Date> {
    let (yy, mm, dd) = split_yymmdd(yymmdd)?;
    let century = reference.year() / 100 * 100;
    for base in [century, century - 100, century - 200] {
        if let Some(d) = Date::new(base + yy as i32, mm, dd) {
            if d <= reference {
                return Some(d);
            }
        } else if Date::new(base + yy as i32, mm, 1).is_some() {
            // The day does not exist in this century's year (29 February in a common year):
            // try the previous century, where it may.
            continue;
        } else {
            return None;
        }
    }
    None
}

/// A `YYMMDD` date that may lie up to `max_years_ahead` years after `reference` (an expiry
/// date): the earliest century whose date is at most that far ahead.
pub fn infer_window(yymmdd: &str, reference: Date, max_years_ahead: i32) -> Option<Date> {
    let (yy, mm, dd) = split_yymmdd(yymmdd)?;
    let limit = reference.year() + max_years_ahead;
    let century = limit / 100 * 100;
    for base in [century, century - 100] {
        let year = base + yy as i32;
        if year > limit {
            continue;
        }
        if let Some(d) = Date::new(year, mm, dd) {
            return Some(d);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse_iso(s).unwrap()
    }

    #[test]
    fn rejects_impossible_dates() {
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(2024, 13, 1).is_none());
        assert!(Date::new(2024, 4, 31).is_none());
        assert!(Date::parse_iso("2024-1-01").is_none());
        assert!(Date::parse_iso("+024-01-01").is_none());
    }

    #[test]
    fn ages_count_whole_years() {
        assert_eq!(d("2008-06-15").years_until(d("2026-06-14")), 17);
        assert_eq!(d("2008-06-15").years_until(d("2026-06-15")), 18);
        assert_eq!(d("2008-02-29").add_years(18), Some(d("2026-02-28")));
    }

    #[test]
    fn birth_dates_are_never_in_the_future() {
        let today = d("2026-11-26");
        assert_eq!(infer_past("261126", today), Some(d("2026-11-26")));
        assert_eq!(infer_past("261127", today), Some(d("1926-11-27")));
        assert_eq!(infer_past("850101", today), Some(d("1985-01-01")));
        // 29 Feb 2000 exists; 29 Feb 1900 does not.
        assert_eq!(infer_past("000229", today), Some(d("2000-02-29")));
        assert_eq!(infer_past("001301", today), None);
    }

    #[test]
    fn expiry_dates_may_be_ahead() {
        let today = d("2026-11-26");
        assert_eq!(infer_window("340101", today, 50), Some(d("2034-01-01")));
        assert_eq!(infer_window("991231", today, 50), Some(d("1999-12-31")));
        assert_eq!(infer_window("760101", today, 50), Some(d("2076-01-01")));
        assert_eq!(infer_window("770101", today, 50), Some(d("1977-01-01")));
    }

    /// Found by proptest: byte slicing inside a multi-byte character panicked.
    #[test]
    fn regression_non_ascii_dates() {
        assert!(Date::parse_iso("2024-0\u{e0}-1").is_none());
        assert!(Date::parse_compact("\u{b3c}\u{e0}\u{fffc}").is_none());
        assert!(Date::parse_dmy_slash("01/0\u{e0}/199").is_none());
        assert!(split_yymmdd("\u{e0}\u{e0}\u{e0}").is_none());
    }

    #[test]
    fn day_numbers_and_bare_years() {
        assert_eq!(Date::from_days(0), d("1970-01-01"));
        assert_eq!(d("2000-02-29").days(), 11_016);
        assert_eq!(Date::from_days(20_418), d("2025-11-26"));
        assert_eq!(Date::from_days(i64::MIN), d("0001-01-01"));
        assert_eq!(Date::from_days(i64::MAX), d("9999-12-31"));
        assert_eq!(d("0001-01-01").days(), -719_162);
        assert_eq!(d("9999-12-31").days(), 2_932_896);
        assert_eq!(Date::parse_iso_or_year("2031"), Some(d("2031-12-31")));
        assert_eq!(
            Date::parse_iso_or_year(" 2031-05-02 "),
            Some(d("2031-05-02"))
        );
        assert_eq!(Date::parse_iso_or_year("31/12/2031"), None);
        assert_eq!(Date::parse_iso_or_year("20x1"), None);
        let json = serde_json::to_string(&d("1985-01-01")).unwrap();
        assert_eq!(json, "\"1985-01-01\"");
        assert_eq!(
            serde_json::from_str::<Date>(&json).unwrap(),
            d("1985-01-01")
        );
        assert!(serde_json::from_str::<Date>("\"1985-02-30\"").is_err());
    }

    proptest::proptest! {
        #[test]
        fn days_round_trip(days in -719_162i64..=2_932_896) {
            proptest::prop_assert_eq!(Date::from_days(days).days(), days);
        }

        #[test]
        fn parse_never_panics(s in "[0-9-]{0,12}|.{0,12}") {
            if let Some(d) = Date::parse_iso_or_year(&s) {
                proptest::prop_assert_eq!(Date::from_days(d.days()), d);
            }
        }
    }

    #[test]
    fn debug_hides_the_value() {
        assert_eq!(format!("{:?}", d("1985-01-01")), "Date(****-**-**)");
        assert_eq!(d("1985-01-01").to_string(), "1985-01-01");
    }
}
