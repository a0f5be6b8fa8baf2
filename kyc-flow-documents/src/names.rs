//! Comparing people's names read from different places on a card: printed (accents, Ñ),
//! MRZ (A–Z only, truncated, `<` for spaces) and barcodes (latin-1), all through OCR.
//!
//! Names are folded to a common alphabet before comparing: upper case, accents and Ñ removed
//! (ICAO transliterates Ñ as N), OCR's digit-for-letter confusions undone, punctuation turned
//! into spaces. Then a truncated MRZ name may be a prefix of the printed one, and one edit per
//! ten letters is forgiven as OCR noise.

use serde::Serialize;

/// How two names compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    /// Identical once folded.
    Exact,
    /// One is the other cut short (an MRZ name field that ran out of room).
    Truncated,
    /// Within the OCR-noise allowance.
    Close,
    /// Different names.
    Different,
}

impl NameMatch {
    /// Exact, truncated or close.
    pub fn matches(self) -> bool {
        self != NameMatch::Different
    }
}

/// Folds one character to `A–Z`, a space, or nothing.
fn fold_char(c: char, out: &mut String) {
    let base = match c {
        'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' | 'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'A',
        'É' | 'È' | 'Ê' | 'Ë' | 'é' | 'è' | 'ê' | 'ë' => 'E',
        'Í' | 'Ì' | 'Î' | 'Ï' | 'í' | 'ì' | 'î' | 'ï' => 'I',
        'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' | 'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'O',
        'Ú' | 'Ù' | 'Û' | 'Ü' | 'ú' | 'ù' | 'û' | 'ü' => 'U',
        'Ñ' | 'ñ' => 'N',
        'Ç' | 'ç' => 'C',
        // OCR reads these digits for look-alike letters; names never contain digits.
        '0' => 'O',
        '1' => 'I',
        '5' => 'S',
        '8' => 'B',
        '2' => 'Z',
        '6' => 'G',
        c if c.is_ascii_alphabetic() => c.to_ascii_uppercase(),
        // Combining accents (decomposed input) disappear.
        '\u{300}'..='\u{36f}' => return,
        _ => ' ',
    };
    out.push(base);
}

/// The folded form: `A–Z` words separated by single spaces.
pub fn fold(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        fold_char(c, &mut s);
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Levenshtein distance over bytes (folded names are ASCII), bounded for speed.
fn distance(a: &[u8], b: &[u8]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Compares two names as read from two sources.
pub fn compare(a: &str, b: &str) -> NameMatch {
    let (fa, fb) = (fold(a), fold(b));
    if fa.is_empty() || fb.is_empty() {
        return if fa == fb {
            NameMatch::Exact
        } else {
            NameMatch::Different
        };
    }
    if fa == fb {
        return NameMatch::Exact;
    }
    // An MRZ name cut at the field's end: at least four letters, and the shorter one a prefix.
    let (short, long) = if fa.len() <= fb.len() {
        (&fa, &fb)
    } else {
        (&fb, &fa)
    };
    if short.len() >= 4 && long.starts_with(short.as_str()) {
        return NameMatch::Truncated;
    }
    // Spaces are unreliable in OCR (and MRZ fillers): compare without them too.
    let ja: String = fa.chars().filter(|c| *c != ' ').collect();
    let jb: String = fb.chars().filter(|c| *c != ' ').collect();
    if ja == jb {
        return NameMatch::Close;
    }
    let allowance = (ja.len().max(jb.len()) / 10).max(1);
    if distance(ja.as_bytes(), jb.as_bytes()) <= allowance {
        NameMatch::Close
    } else {
        NameMatch::Different
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folding() {
        assert_eq!(fold("  Peña  Gómez-Núñez "), "PENA GOMEZ NUNEZ");
        assert_eq!(fold("MARI\u{301}A"), "MARIA");
        assert_eq!(fold("R0DR1GUEZ"), "RODRIGUEZ");
    }

    #[test]
    fn comparisons() {
        assert_eq!(compare("PEÑA GÓMEZ", "PENA<GOMEZ"), NameMatch::Exact);
        assert_eq!(
            compare("MARÍA FERNANDA DE LOS ÁNGELES", "MARIA FERNANDA DE LO"),
            NameMatch::Truncated
        );
        assert_eq!(compare("RODRIGUEZ", "RODRIGEZ"), NameMatch::Close);
        assert_eq!(compare("DE LA CRUZ", "DELACRUZ"), NameMatch::Close);
        assert_eq!(compare("RODRIGUEZ", "FERNANDEZ"), NameMatch::Different);
        assert_eq!(compare("ANA", "EVA"), NameMatch::Different);
        assert_eq!(compare("", "ANA"), NameMatch::Different);
        assert_eq!(compare("JO", "JOSE"), NameMatch::Different);
    }

    proptest! {
        #[test]
        fn comparison_is_symmetric_and_reflexive(a in "\\PC{0,30}", b in "\\PC{0,30}") {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a));
            let f = fold(&a);
            prop_assert!(f.bytes().all(|c| c.is_ascii_uppercase() || c == b' '));
            prop_assert_eq!(compare(&a, &a), NameMatch::Exact);
        }
    }
}
