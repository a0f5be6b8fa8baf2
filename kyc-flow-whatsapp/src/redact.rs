//! Log-safe renderings of identifiers and content (phone numbers, ids, raw JSON).

use std::fmt;

/// Prints as `<redacted>` in `Debug` and `Display`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The last two characters of an identifier, prefixed by an ellipsis; enough to tell two
/// users apart in a log, not enough to recover a phone number.
pub fn redacted_tail(s: &str) -> String {
    let n = s.chars().count();
    let tail: String = s.chars().skip(n.saturating_sub(2)).collect();
    format!("…{tail}")
}

/// [`redacted_tail`] of an optional identifier.
pub fn redacted_opt(s: Option<&str>) -> Option<String> {
    s.map(redacted_tail)
}
