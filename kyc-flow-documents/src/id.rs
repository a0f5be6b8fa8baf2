//! Identifier validators for Latin American national numbers: normalization, structure, check
//! digits, and the data some identifiers carry (the CURP's birth date, sex and state).
//!
//! python-stdnum is the reference implementation; every place where these validators answer
//! differently on purpose is listed in `docs/DOCUMENTS.md` ("Deliberate differences") and
//! pinned by the differential tests in `tests/differential_ids.rs`.

use crate::date::{self, Date};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Every identifier kind the project validates, named as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum IdKind {
    /// Mexico, Clave Única de Registro de Población (18 characters).
    MxCurp,
    /// Mexico, Registro Federal de Contribuyentes (persons 13, companies 12 characters).
    MxRfc,
    /// Mexico, INE clave de elector (18 characters).
    MxClaveElector,
    /// Colombia, cédula de ciudadanía (6–10 digits, no check digit).
    CoCedula,
    /// Colombia, Número de Identificación Tributaria (with its check digit).
    CoNit,
    /// Peru, DNI: 8 digits, optionally followed by the printed check character.
    PeDni,
    /// Peru, Registro Único de Contribuyentes (11 digits).
    PeRuc,
    /// Argentina, Documento Nacional de Identidad (7–8 digits, no check digit).
    ArDni,
    /// Argentina, CUIT / CUIL (11 digits).
    ArCuit,
    /// Chile, Rol Único Nacional (body and check character, `K` allowed).
    ClRun,
    /// Brazil, Cadastro de Pessoas Físicas (11 digits).
    BrCpf,
    /// Brazil, Cadastro Nacional da Pessoa Jurídica (14 characters, numeric or alphanumeric).
    BrCnpj,
    /// Ecuador, cédula de identidad (10 digits).
    EcCedula,
    /// Ecuador, Registro Único de Contribuyentes (13 digits).
    EcRuc,
    /// Guatemala, Código Único de Identificación (13 digits, on the DPI).
    GtCui,
    /// Uruguay, cédula de identidad (up to 7 digits and a check digit).
    UyCi,
}

impl IdKind {
    /// Every kind, in command-line order.
    pub const ALL: [IdKind; 16] = [
        IdKind::MxCurp,
        IdKind::MxRfc,
        IdKind::MxClaveElector,
        IdKind::CoCedula,
        IdKind::CoNit,
        IdKind::PeDni,
        IdKind::PeRuc,
        IdKind::ArDni,
        IdKind::ArCuit,
        IdKind::ClRun,
        IdKind::BrCpf,
        IdKind::BrCnpj,
        IdKind::EcCedula,
        IdKind::EcRuc,
        IdKind::GtCui,
        IdKind::UyCi,
    ];

    /// The command-line name (`mx-curp`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::MxCurp => "mx-curp",
            IdKind::MxRfc => "mx-rfc",
            IdKind::MxClaveElector => "mx-clave-elector",
            IdKind::CoCedula => "co-cedula",
            IdKind::CoNit => "co-nit",
            IdKind::PeDni => "pe-dni",
            IdKind::PeRuc => "pe-ruc",
            IdKind::ArDni => "ar-dni",
            IdKind::ArCuit => "ar-cuit",
            IdKind::ClRun => "cl-run",
            IdKind::BrCpf => "br-cpf",
            IdKind::BrCnpj => "br-cnpj",
            IdKind::EcCedula => "ec-cedula",
            IdKind::EcRuc => "ec-ruc",
            IdKind::GtCui => "gt-cui",
            IdKind::UyCi => "uy-ci",
        }
    }

    /// Parses a command-line name, case-insensitively; `_` is accepted for `-`.
    pub fn parse(name: &str) -> Option<IdKind> {
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        IdKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// ISO 3166-1 alpha-2 country of issue.
    pub fn country(self) -> &'static str {
        &self.as_str()[..2]
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`IdKind::from_str`]: the name is not a known kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown identifier kind {0:?}")]
pub struct UnknownIdKind(pub String);

impl FromStr for IdKind {
    type Err = UnknownIdKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdKind::parse(s).ok_or_else(|| UnknownIdKind(s.to_owned()))
    }
}

/// Why an identifier is invalid. Stable snake_case codes (`as_str`) go into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InvalidReason {
    /// Nothing left after removing separators.
    Empty,
    /// Wrong number of characters.
    InvalidLength,
    /// A character that cannot appear at its position.
    InvalidFormat,
    /// An embedded date that does not exist.
    InvalidDate,
    /// A structural component out of range: state, province, department, type prefix.
    InvalidComponent,
    /// The check digit does not match.
    InvalidChecksum,
    /// The first four letters form a word the issuer never assigns (RENAPO / SAT list).
    InconvenientWord,
    /// All digits equal (`111.111.111-11`): passes the checksum, never issued.
    RepeatedDigits,
}

impl InvalidReason {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidReason::Empty => "empty",
            InvalidReason::InvalidLength => "invalid_length",
            InvalidReason::InvalidFormat => "invalid_format",
            InvalidReason::InvalidDate => "invalid_date",
            InvalidReason::InvalidComponent => "invalid_component",
            InvalidReason::InvalidChecksum => "invalid_checksum",
            InvalidReason::InconvenientWord => "inconvenient_word",
            InvalidReason::RepeatedDigits => "repeated_digits",
        }
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Knobs for [`validate_with`]. `Default` is what [`validate`] uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Enforce the RFC check digit (off by default: SAT issued RFCs that fail it).
    pub rfc_check_digit: bool,
    /// The day to infer centuries against (the clave de elector's birth year). Without it,
    /// the clave de elector reports `birth_yymmdd` but no `birth_date`.
    pub reference_date: Option<Date>,
}

/// The answer for one identifier.
///
/// `normalized` and `fields` are personal data: the `Debug` output hides them.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// The kind asked for.
    pub kind: IdKind,
    /// True when every rule passed.
    pub valid: bool,
    /// The identifier without separators, upper case (also when invalid, for display).
    pub normalized: String,
    /// The first rule that failed; `None` when valid.
    pub reason: Option<InvalidReason>,
    /// Data the identifier carries (`birth_date`, `sex`, `state`, `check_digit`, …); filled
    /// only when valid.
    pub fields: BTreeMap<String, String>,
}

impl fmt::Debug for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validation")
            .field("kind", &self.kind)
            .field("valid", &self.valid)
            .field(
                "normalized",
                &format_args!("<{} chars>", self.normalized.chars().count()),
            )
            .field("reason", &self.reason)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Validates `value` as `kind` with default [`Options`].
pub fn validate(kind: IdKind, value: &str) -> Validation {
    validate_with(kind, value, &Options::default())
}

/// Validates `value` as `kind`.
pub fn validate_with(kind: IdKind, value: &str, options: &Options) -> Validation {
    let normalized = normalize(kind, value);
    let mut fields = BTreeMap::new();
    let result = if normalized.is_empty() {
        Err(InvalidReason::Empty)
    } else {
        let chars: Vec<char> = normalized.chars().collect();
        match kind {
            IdKind::MxCurp => curp(&chars, &mut fields),
            IdKind::MxRfc => rfc(&chars, options.rfc_check_digit, &mut fields),
            IdKind::MxClaveElector => clave_elector(&chars, options.reference_date, &mut fields),
            IdKind::CoCedula => co_cedula(&normalized),
            IdKind::CoNit => co_nit(&normalized),
            IdKind::PeDni => pe_dni(&chars, &mut fields),
            IdKind::PeRuc => pe_ruc(&normalized),
            IdKind::ArDni => ar_dni(&normalized),
            IdKind::ArCuit => ar_cuit(&normalized, &mut fields),
            IdKind::ClRun => cl_run(&normalized),
            IdKind::BrCpf => br_cpf(&normalized),
            IdKind::BrCnpj => br_cnpj(&normalized),
            IdKind::EcCedula => ec_cedula(&normalized, &mut fields),
            IdKind::EcRuc => ec_ruc(&normalized, &mut fields),
            IdKind::GtCui => gt_cui(&normalized, &mut fields),
            IdKind::UyCi => uy_ci(&normalized),
        }
    };
    match result {
        Ok(()) => Validation {
            kind,
            valid: true,
            normalized,
            reason: None,
            fields,
        },
        Err(reason) => Validation {
            kind,
            valid: false,
            normalized,
            reason: Some(reason),
            fields: BTreeMap::new(),
        },
    }
}

/// Whether `c` is a separator people, printers and word processors put between an
/// identifier's characters: any whitespace (no-break spaces included), `.`, `/`, `_`, `,`,
/// `·`, and any dash — the ASCII hyphen-minus and the Unicode dashes a phone keyboard or an
/// office document substitutes for it (hyphen, non-breaking hyphen, figure/en/em dash, minus
/// sign, soft hyphen, small and full-width hyphen-minus).
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | '/' | '_' | ',' | '·' | '-' | '\u{00AD}' | '\u{2010}'
                ..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}'
        )
}

/// Removes the separators people and printers put between the characters (see
/// `is_separator`) and upper-cases. Chile's RUN may carry a `CL` prefix, which goes too.
pub fn normalize(kind: IdKind, value: &str) -> String {
    let mut out: String = value
        .chars()
        .filter(|&c| !is_separator(c))
        .flat_map(char::to_uppercase)
        .collect();
    if kind == IdKind::ClRun && out.starts_with("CL") {
        out.drain(..2);
    }
    out
}

type Check = Result<(), InvalidReason>;

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn digit_values(s: &str) -> Vec<u32> {
    s.bytes().map(|b| u32::from(b - b'0')).collect()
}

fn weighted(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum()
}

// ---------------------------------------------------------------- Mexico

/// RENAPO's list of four-letter words a CURP never starts with (the issuer replaces the
/// second letter by `X`). Sorted for binary search.
const CURP_INCONVENIENT: [&str; 81] = [
    "BACA", "BAKA", "BUEI", "BUEY", "CACA", "CACO", "CAGA", "CAGO", "CAKA", "CAKO", "COGE", "COGI",
    "COJA", "COJE", "COJI", "COJO", "COLA", "CULO", "FALO", "FETO", "GETA", "GUEI", "GUEY", "JETA",
    "JOTO", "KACA", "KACO", "KAGA", "KAGO", "KAKA", "KAKO", "KOGE", "KOGI", "KOJA", "KOJE", "KOJI",
    "KOJO", "KOLA", "KULO", "LILO", "LOCA", "LOCO", "LOKA", "LOKO", "MAME", "MAMO", "MEAR", "MEAS",
    "MEON", "MIAR", "MION", "MOCO", "MOKO", "MULA", "MULO", "NACA", "NACO", "PEDA", "PEDO", "PENE",
    "PIPI", "PITO", "POPO", "PUTA", "PUTO", "QULO", "RATA", "ROBA", "ROBE", "ROBO", "RUIN", "SENO",
    "TETA", "VACA", "VAGA", "VAGO", "VAKA", "VUEI", "VUEY", "WUEI", "WUEY",
];

/// SAT's list for the four letters of a person's RFC. Sorted.
const RFC_INCONVENIENT: [&str; 41] = [
    "BUEI", "BUEY", "CACA", "CACO", "CAGA", "CAGO", "CAKA", "CAKO", "COGE", "COJA", "COJE", "COJI",
    "COJO", "CULO", "FETO", "GUEY", "JOTO", "KACA", "KACO", "KAGA", "KAGO", "KAKA", "KOGE", "KOJO",
    "KULO", "MAME", "MAMO", "MEAR", "MEAS", "MEON", "MION", "MOCO", "MULA", "PEDA", "PEDO", "PENE",
    "PUTA", "PUTO", "QULO", "RATA", "RUIN",
];

/// The 32 federal entities' two-letter codes in the CURP, plus `NE` (born abroad). Sorted.
pub const CURP_STATES: [&str; 33] = [
    "AS", "BC", "BS", "CC", "CH", "CL", "CM", "CS", "DF", "DG", "GR", "GT", "HG", "JC", "MC", "MN",
    "MS", "NE", "NL", "NT", "OC", "PL", "QR", "QT", "SL", "SP", "SR", "TC", "TL", "TS", "VZ", "YN",
    "ZS",
];

/// Value of a character in RENAPO's check-digit alphabet `0-9 A-N Ñ O-Z`: Ñ takes slot 24,
/// which shifts O–Z up by one. A CURP never contains Ñ (it is written X), but the slot is
/// what makes the weights come out right.
fn curp_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='N' => Some(c as u32 - 'A' as u32 + 10),
        'Ñ' => Some(24),
        'O'..='Z' => Some(c as u32 - 'O' as u32 + 25),
        _ => None,
    }
}

/// The CURP check digit for the first 17 characters.
pub fn curp_check_digit(first17: &str) -> Option<char> {
    let mut sum = 0;
    let mut n = 0;
    for (i, c) in first17.chars().enumerate() {
        sum += curp_value(c)? * (18 - i as u32);
        n += 1;
    }
    if n != 17 {
        return None;
    }
    char::from_digit((10 - sum % 10) % 10, 10)
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'A' | 'E' | 'I' | 'O' | 'U')
}

fn curp(c: &[char], fields: &mut BTreeMap<String, String>) -> Check {
    if c.len() != 18 {
        return Err(InvalidReason::InvalidLength);
    }
    let upper = |ch: char| ch.is_ascii_uppercase();
    let digit = |ch: char| ch.is_ascii_digit();
    // Position 2 is the first inner vowel of the first surname (or X); 14–16 are inner
    // consonants (or X). stdnum only asks for letters there; see docs/DOCUMENTS.md.
    let shape = upper(c[0])
        && (is_vowel(c[1]) || c[1] == 'X')
        && upper(c[2])
        && upper(c[3])
        && c[4..10].iter().all(|&x| digit(x))
        && matches!(c[10], 'H' | 'M' | 'X')
        && upper(c[11])
        && upper(c[12])
        && c[13..16].iter().all(|&x| upper(x) && !is_vowel(x))
        && (upper(c[16]) || digit(c[16]))
        && digit(c[17]);
    if !shape {
        return Err(InvalidReason::InvalidFormat);
    }
    let s: String = c.iter().collect();
    if CURP_INCONVENIENT.binary_search(&&s[0..4]).is_ok() {
        return Err(InvalidReason::InconvenientWord);
    }
    // Position 17 is the homonym differentiator: a digit for births up to 1999, a letter
    // from 2000 on.
    let century = if digit(c[16]) { 1900 } else { 2000 };
    let (yy, mm, dd) = date::split_yymmdd(&s[4..10]).ok_or(InvalidReason::InvalidFormat)?;
    let birth = Date::new(century + yy as i32, mm, dd).ok_or(InvalidReason::InvalidDate)?;
    if CURP_STATES.binary_search(&&s[11..13]).is_err() {
        return Err(InvalidReason::InvalidComponent);
    }
    if curp_check_digit(&s[..17]) != Some(c[17]) {
        return Err(InvalidReason::InvalidChecksum);
    }
    fields.insert("birth_date".into(), birth.to_string());
    let sex = match c[10] {
        'H' => "M",
        'M' => "F",
        _ => "X",
    };
    fields.insert("sex".into(), sex.into());
    fields.insert("state".into(), s[11..13].to_owned());
    Ok(())
}

/// Value in SAT's RFC check alphabet `0-9 A-N & O-Z space Ñ`.
fn rfc_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='N' => Some(c as u32 - 'A' as u32 + 10),
        '&' => Some(24),
        'O'..='Z' => Some(c as u32 - 'O' as u32 + 25),
        ' ' => Some(37),
        'Ñ' => Some(38),
        _ => None,
    }
}

/// The RFC check character for the first 11 (company) or 12 (person) characters.
pub fn rfc_check_digit(without_check: &str) -> Option<char> {
    let chars: Vec<char> = without_check.chars().collect();
    if !(11..=12).contains(&chars.len()) {
        return None;
    }
    // Company RFCs are padded on the left to the person length with a space.
    let padded = std::iter::repeat_n(' ', 12 - chars.len()).chain(chars.iter().copied());
    let mut sum = 0;
    for (i, c) in padded.enumerate() {
        sum += rfc_value(c)? * (13 - i as u32);
    }
    let r = (11 - sum % 11) % 11;
    Some(match r {
        0..=9 => char::from_digit(r, 10)?,
        _ => 'A',
    })
}

fn rfc(c: &[char], check_digit: bool, fields: &mut BTreeMap<String, String>) -> Check {
    let letter = |ch: char| ch.is_ascii_uppercase() || ch == '&' || ch == 'Ñ';
    let alnum = |ch: char| ch.is_ascii_uppercase() || ch.is_ascii_digit();
    let (prefix, kind) = match c.len() {
        10 | 13 => (4, "person"),
        12 => (3, "company"),
        _ => return Err(InvalidReason::InvalidLength),
    };
    if !c[..prefix].iter().all(|&x| letter(x))
        || !c[prefix..prefix + 6].iter().all(|x| x.is_ascii_digit())
        || !c[prefix + 6..].iter().all(|&x| alnum(x))
    {
        return Err(InvalidReason::InvalidFormat);
    }
    let head: String = c[..prefix].iter().collect();
    if prefix == 4 && RFC_INCONVENIENT.binary_search(&head.as_str()).is_ok() {
        return Err(InvalidReason::InconvenientWord);
    }
    let ymd: String = c[prefix..prefix + 6].iter().collect();
    // The century is not written; 2000+YY keeps 29 February of year 00 valid, as SAT does.
    let (yy, mm, dd) = date::split_yymmdd(&ymd).ok_or(InvalidReason::InvalidFormat)?;
    Date::new(2000 + yy as i32, mm, dd).ok_or(InvalidReason::InvalidDate)?;
    // References disagree on the RFC check character (SAT's published algorithm and the
    // homoclaves found on real documents do not always match), so by default it is reported as
    // its own verdict in `fields["check_digit"]` (`matches` / `differs`) and does not decide
    // validity; `Options::rfc_check_digit` makes it decide.
    if !check_digit && c.len() >= 12 {
        let body: String = c[..c.len() - 1].iter().collect();
        let verdict = match rfc_check_digit(&body) {
            Some(expected) if expected == c[c.len() - 1] => "matches",
            Some(_) => "differs",
            None => "not_computable",
        };
        fields.insert("check_digit".into(), verdict.into());
    }
    if check_digit && c.len() >= 12 {
        let homoclave = &c[c.len() - 3..];
        let ok_shape = matches!(homoclave[0], '1'..='9' | 'A'..='V')
            && matches!(homoclave[1], '1'..='9' | 'A'..='Z')
            && matches!(homoclave[2], '0'..='9' | 'A');
        if !ok_shape {
            return Err(InvalidReason::InvalidComponent);
        }
        let body: String = c[..c.len() - 1].iter().collect();
        if rfc_check_digit(&body) != Some(c[c.len() - 1]) {
            return Err(InvalidReason::InvalidChecksum);
        }
    }
    fields.insert("rfc_type".into(), kind.into());
    Ok(())
}

fn clave_elector(
    c: &[char],
    reference: Option<Date>,
    fields: &mut BTreeMap<String, String>,
) -> Check {
    if c.len() != 18 {
        return Err(InvalidReason::InvalidLength);
    }
    let shape = c[..6].iter().all(|x| x.is_ascii_uppercase())
        && c[6..14].iter().all(|x| x.is_ascii_digit())
        && matches!(c[14], 'H' | 'M')
        && c[15..].iter().all(|x| x.is_ascii_digit());
    if !shape {
        return Err(InvalidReason::InvalidFormat);
    }
    let s: String = c.iter().collect();
    let (yy, mm, dd) = date::split_yymmdd(&s[6..12]).ok_or(InvalidReason::InvalidFormat)?;
    // Some year in 1900–2099 must make the date exist (only 29 February depends on it).
    if Date::new(1900 + yy as i32, mm, dd).is_none()
        && Date::new(2000 + yy as i32, mm, dd).is_none()
    {
        return Err(InvalidReason::InvalidDate);
    }
    let state = date::digits(&s[12..14]).ok_or(InvalidReason::InvalidFormat)?;
    // 01–32 are the federal entities in INE's order; 87 is used for people born abroad.
    if !((1..=32).contains(&state) || state == 87) {
        return Err(InvalidReason::InvalidComponent);
    }
    fields.insert("birth_yymmdd".into(), s[6..12].to_owned());
    if let Some(reference) = reference
        && let Some(birth) = date::infer_past(&s[6..12], reference)
    {
        fields.insert("birth_date".into(), birth.to_string());
    }
    fields.insert("sex".into(), if c[14] == 'H' { "M" } else { "F" }.into());
    fields.insert("state".into(), s[12..14].to_owned());
    Ok(())
}

// ---------------------------------------------------------------- Colombia

fn co_cedula(s: &str) -> Check {
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    if !(6..=10).contains(&s.len()) {
        return Err(InvalidReason::InvalidLength);
    }
    if s.starts_with('0') {
        return Err(InvalidReason::InvalidFormat);
    }
    Ok(())
}

/// The NIT check digit (DIAN's prime weights) for the number without it.
pub fn co_nit_check_digit(body: &str) -> Option<char> {
    const W: [u32; 15] = [3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71];
    if !all_digits(body) || body.len() > W.len() {
        return None;
    }
    let rev: Vec<u32> = digit_values(body).into_iter().rev().collect();
    let r = weighted(&rev, &W) % 11;
    char::from_digit(if r >= 2 { 11 - r } else { r }, 10)
}

fn co_nit(s: &str) -> Check {
    if !(8..=16).contains(&s.chars().count()) {
        return Err(InvalidReason::InvalidLength);
    }
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    let (body, check) = s.split_at(s.len() - 1);
    if co_nit_check_digit(body) != check.chars().next() {
        return Err(InvalidReason::InvalidChecksum);
    }
    Ok(())
}

// ---------------------------------------------------------------- Peru

/// The two printed forms of the DNI check character for the 8 digits: (digit, letter).
pub fn pe_dni_check_chars(dni8: &str) -> Option<(char, char)> {
    const W: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];
    if dni8.len() != 8 || !all_digits(dni8) {
        return None;
    }
    let r = (weighted(&digit_values(dni8), &W) % 11) as usize;
    let digit = b"65432110987"[r] as char;
    let letter = b"KJIHGFEDCBA"[r] as char;
    Some((digit, letter))
}

fn pe_dni(c: &[char], fields: &mut BTreeMap<String, String>) -> Check {
    if !(8..=9).contains(&c.len()) {
        return Err(InvalidReason::InvalidLength);
    }
    let body: String = c[..8].iter().collect();
    if !all_digits(&body) {
        return Err(InvalidReason::InvalidFormat);
    }
    let (digit, letter) = pe_dni_check_chars(&body).ok_or(InvalidReason::InvalidFormat)?;
    if c.len() == 9 && c[8] != digit && c[8] != letter {
        return Err(InvalidReason::InvalidChecksum);
    }
    fields.insert("check_digit".into(), digit.to_string());
    fields.insert("check_letter".into(), letter.to_string());
    fields.insert("document_number".into(), body);
    Ok(())
}

fn pe_ruc(s: &str) -> Check {
    if s.chars().count() != 11 {
        return Err(InvalidReason::InvalidLength);
    }
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    if !matches!(&s[..2], "10" | "15" | "17" | "20") {
        return Err(InvalidReason::InvalidComponent);
    }
    const W: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let d = digit_values(s);
    let check = (11 - weighted(&d[..10], &W) % 11) % 10;
    if d[10] != check {
        return Err(InvalidReason::InvalidChecksum);
    }
    Ok(())
}

// ---------------------------------------------------------------- Argentina

fn ar_dni(s: &str) -> Check {
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    if !(7..=8).contains(&s.len()) {
        return Err(InvalidReason::InvalidLength);
    }
    Ok(())
}

/// The CUIT/CUIL check digit for the first ten digits; `None` when the remainder makes the
/// number impossible (AFIP then changes the prefix instead).
pub fn ar_cuit_check_digit(first10: &str) -> Option<char> {
    const W: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    if first10.len() != 10 || !all_digits(first10) {
        return None;
    }
    let r = 11 - weighted(&digit_values(first10), &W) % 11;
    // stdnum maps remainder 10 to 9 rather than rejecting; we agree (see docs).
    char::from_digit(
        match r {
            11 => 0,
            10 => 9,
            r => r,
        },
        10,
    )
}

fn ar_cuit(s: &str, fields: &mut BTreeMap<String, String>) -> Check {
    if s.chars().count() != 11 {
        return Err(InvalidReason::InvalidLength);
    }
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    let kind = match &s[..2] {
        "20" | "23" | "24" | "27" => "person",
        "30" | "33" | "34" => "company",
        "50" | "51" | "55" => "international",
        _ => return Err(InvalidReason::InvalidComponent),
    };
    if ar_cuit_check_digit(&s[..10]) != s[10..].chars().next() {
        return Err(InvalidReason::InvalidChecksum);
    }
    fields.insert("cuit_type".into(), kind.into());
    if kind == "person" {
        fields.insert(
            "document_number".into(),
            s[2..10].trim_start_matches('0').to_owned(),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- Chile

/// The RUN check character (`0`–`9` or `K`) for the body digits.
pub fn cl_run_check_char(body: &str) -> Option<char> {
    if !all_digits(body) {
        return None;
    }
    let sum: u32 = digit_values(body)
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| d * (2 + (i as u32 % 6)))
        .sum();
    let r = (11 - sum % 11) % 11;
    Some(if r == 10 {
        'K'
    } else {
        char::from_digit(r, 10)?
    })
}

fn cl_run(s: &str) -> Check {
    let n = s.chars().count();
    if !(8..=9).contains(&n) {
        return Err(InvalidReason::InvalidLength);
    }
    if !s.is_ascii() {
        return Err(InvalidReason::InvalidFormat);
    }
    let (body, check) = s.split_at(s.len() - 1);
    if !all_digits(body) {
        return Err(InvalidReason::InvalidFormat);
    }
    if cl_run_check_char(body) != check.chars().next() {
        return Err(InvalidReason::InvalidChecksum);
    }
    Ok(())
}

// ---------------------------------------------------------------- Brazil

fn mod11_br(values: &[u32], weights: &[u32]) -> u32 {
    (11 - weighted(values, weights) % 11) % 11 % 10
}

fn br_cpf(s: &str) -> Check {
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    if s.len() != 11 {
        return Err(InvalidReason::InvalidLength);
    }
    let d = digit_values(s);
    if d.iter().all(|&x| x == d[0]) {
        return Err(InvalidReason::RepeatedDigits);
    }
    let d1 = mod11_br(&d[..9], &[10, 9, 8, 7, 6, 5, 4, 3, 2]);
    let d2 = mod11_br(
        &[&d[..9], &[d1]].concat(),
        &[11, 10, 9, 8, 7, 6, 5, 4, 3, 2],
    );
    if d[9] != d1 || d[10] != d2 {
        return Err(InvalidReason::InvalidChecksum);
    }
    Ok(())
}

/// The two CNPJ check digits for the first 12 characters. Each character counts as its ASCII
/// code minus 48, which keeps digits as they were and gives letters 17–42 (the alphanumeric
/// CNPJ issued from July 2026).
pub fn br_cnpj_check_digits(first12: &str) -> Option<(u32, u32)> {
    if first12.len() != 12
        || !first12
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return None;
    }
    let v: Vec<u32> = first12.bytes().map(|b| u32::from(b) - 48).collect();
    let d1 = mod11_br(&v, &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    let d2 = mod11_br(
        &[&v[..], &[d1]].concat(),
        &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2],
    );
    Some((d1, d2))
}

fn br_cnpj(s: &str) -> Check {
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return Err(InvalidReason::InvalidFormat);
    }
    if s.len() != 14 {
        return Err(InvalidReason::InvalidLength);
    }
    if s.starts_with("000000000000") {
        return Err(InvalidReason::InvalidFormat);
    }
    if !all_digits(&s[12..]) {
        return Err(InvalidReason::InvalidFormat);
    }
    let (d1, d2) = br_cnpj_check_digits(&s[..12]).ok_or(InvalidReason::InvalidFormat)?;
    let tail = digit_values(&s[12..]);
    if tail != [d1, d2] {
        return Err(InvalidReason::InvalidChecksum);
    }
    Ok(())
}

// ---------------------------------------------------------------- Ecuador

fn ec_province_ok(s: &str) -> bool {
    matches!(date::digits(&s[..2]), Some(1..=24 | 30 | 50))
}

fn ec_luhn_like(s: &str) -> u32 {
    digit_values(s)
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let x = if i % 2 == 0 { d * 2 } else { d };
            if x > 9 { x - 9 } else { x }
        })
        .sum::<u32>()
        % 10
}

fn ec_cedula(s: &str, fields: &mut BTreeMap<String, String>) -> Check {
    if s.chars().count() != 10 {
        return Err(InvalidReason::InvalidLength);
    }
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    if !ec_province_ok(s) || s.as_bytes()[2] > b'6' {
        return Err(InvalidReason::InvalidComponent);
    }
    if ec_luhn_like(s) != 0 {
        return Err(InvalidReason::InvalidChecksum);
    }
    fields.insert("province".into(), s[..2].to_owned());
    Ok(())
}

fn ec_ruc(s: &str, fields: &mut BTreeMap<String, String>) -> Check {
    if s.chars().count() != 13 {
        return Err(InvalidReason::InvalidLength);
    }
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    if !ec_province_ok(s) {
        return Err(InvalidReason::InvalidComponent);
    }
    let natural = |s: &str| -> Check {
        if s.ends_with("000") {
            return Err(InvalidReason::InvalidComponent);
        }
        ec_cedula(&s[..10], &mut BTreeMap::new())
    };
    let public = |s: &str| -> Check {
        if s.ends_with("0000") {
            return Err(InvalidReason::InvalidComponent);
        }
        if !weighted(&digit_values(&s[..9]), &[3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11) {
            return Err(InvalidReason::InvalidChecksum);
        }
        Ok(())
    };
    let juridical = |s: &str| -> Check {
        if s.ends_with("000") {
            return Err(InvalidReason::InvalidComponent);
        }
        if !weighted(&digit_values(&s[..10]), &[4, 3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11) {
            return Err(InvalidReason::InvalidChecksum);
        }
        Ok(())
    };
    // The third digit says who holds the RUC; 6 and 9 numbers exist in both the public and
    // the other scheme, so the second is tried when the first fails (as SRI's own checkers do).
    let (kind, result) = match s.as_bytes()[2] {
        b'0'..=b'5' => ("natural", natural(s)),
        b'6' => match public(s) {
            Ok(()) => ("public", Ok(())),
            Err(_) => ("natural", natural(s)),
        },
        b'9' => match public(s) {
            Ok(()) => ("public", Ok(())),
            Err(_) => ("juridical", juridical(s)),
        },
        _ => return Err(InvalidReason::InvalidComponent),
    };
    result?;
    fields.insert("ruc_type".into(), kind.into());
    Ok(())
}

// ---------------------------------------------------------------- Guatemala

/// Municipalities per department (01 Guatemala … 22 Jutiapa), 340 in all: the counts
/// include the newest municipalities (Sipacate in Escuintla, Petatán in Huehuetenango), so
/// a CUI registered there is not rejected.
const GT_MUNICIPALITIES: [u32; 22] = [
    17, 8, 16, 16, 14, 14, 19, 8, 24, 21, 9, 30, 33, 21, 8, 17, 14, 5, 11, 11, 7, 17,
];

fn gt_cui(s: &str, fields: &mut BTreeMap<String, String>) -> Check {
    if s.chars().count() != 13 {
        return Err(InvalidReason::InvalidLength);
    }
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    let d = digit_values(s);
    let dept = d[9] * 10 + d[10];
    let muni = d[11] * 10 + d[12];
    if !(1..=22).contains(&dept) || muni == 0 || muni > GT_MUNICIPALITIES[dept as usize - 1] {
        return Err(InvalidReason::InvalidComponent);
    }
    // Weights 2..9 over the serial, remainder mod 11 is the check digit (10 never issued).
    let r = weighted(&d[..8], &[2, 3, 4, 5, 6, 7, 8, 9]) % 11;
    if r != d[8] {
        return Err(InvalidReason::InvalidChecksum);
    }
    fields.insert("department".into(), s[9..11].to_owned());
    fields.insert("municipality".into(), s[11..13].to_owned());
    Ok(())
}

// ---------------------------------------------------------------- Uruguay

/// The CI check digit for a body of up to 7 digits.
pub fn uy_ci_check_digit(body: &str) -> Option<char> {
    if body.is_empty() || body.len() > 7 || !all_digits(body) {
        return None;
    }
    let padded = format!("{body:0>7}");
    let sum = weighted(&digit_values(&padded), &[2, 9, 8, 7, 6, 3, 4]);
    char::from_digit((10 - sum % 10) % 10, 10)
}

fn uy_ci(s: &str) -> Check {
    if !all_digits(s) {
        return Err(InvalidReason::InvalidFormat);
    }
    if !(7..=8).contains(&s.len()) {
        return Err(InvalidReason::InvalidLength);
    }
    let (body, check) = s.split_at(s.len() - 1);
    if uy_ci_check_digit(body) != check.chars().next() {
        return Err(InvalidReason::InvalidChecksum);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: IdKind, v: &str) -> Validation {
        let r = validate(kind, v);
        assert!(r.valid, "{kind} {v} should be valid: {:?}", r.reason);
        r
    }

    fn bad(kind: IdKind, v: &str, reason: InvalidReason) {
        let r = validate(kind, v);
        assert_eq!(r.reason, Some(reason), "{kind} {v}");
        assert!(!r.valid);
        assert!(r.fields.is_empty());
    }

    #[test]
    fn sorted_tables_allow_binary_search() {
        assert!(CURP_INCONVENIENT.windows(2).all(|w| w[0] < w[1]));
        assert!(RFC_INCONVENIENT.windows(2).all(|w| w[0] < w[1]));
        assert!(CURP_STATES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(GT_MUNICIPALITIES.iter().sum::<u32>(), 340);
    }

    #[test]
    fn kinds_round_trip() {
        for k in IdKind::ALL {
            assert_eq!(IdKind::parse(k.as_str()), Some(k));
            assert_eq!(k.as_str().parse::<IdKind>(), Ok(k));
        }
        assert_eq!(IdKind::parse("MX_CURP"), Some(IdKind::MxCurp));
        assert!(IdKind::parse("mx-passport").is_none());
    }

    #[test]
    fn curp_extracts_birth_date_sex_and_state() {
        let r = ok(IdKind::MxCurp, "bado-830408-hdfrrr09");
        assert_eq!(r.normalized, "BADO830408HDFRRR09");
        assert_eq!(r.fields["birth_date"], "1983-04-08");
        assert_eq!(r.fields["sex"], "M");
        assert_eq!(r.fields["state"], "DF");
        // A letter in position 17 means born in 2000 or later.
        let r = ok(IdKind::MxCurp, "MAVA050512MJCRRNA2");
        assert_eq!(r.fields["birth_date"], "2005-05-12");
        assert_eq!(r.fields["sex"], "F");
    }

    #[test]
    fn curp_rejections_say_why() {
        bad(
            IdKind::MxCurp,
            "BADO830408HDFRRR08",
            InvalidReason::InvalidChecksum,
        );
        bad(
            IdKind::MxCurp,
            "BADO830408HDFRRR0",
            InvalidReason::InvalidLength,
        );
        bad(
            IdKind::MxCurp,
            "BADO831308HDFRRR09",
            InvalidReason::InvalidDate,
        );
        bad(
            IdKind::MxCurp,
            "BADO830408HZZRRR09",
            InvalidReason::InvalidComponent,
        );
        bad(
            IdKind::MxCurp,
            "BADO830408QDFRRR09",
            InvalidReason::InvalidFormat,
        );
        bad(
            IdKind::MxCurp,
            "BUEY830408HDFRRR09",
            InvalidReason::InconvenientWord,
        );
        bad(IdKind::MxCurp, "", InvalidReason::Empty);
        bad(IdKind::MxCurp, " - ", InvalidReason::Empty);
    }

    #[test]
    fn separators_include_every_dash_and_alphanumeric_cnpj_validates() {
        // The Receita Federal's published alphanumeric example, with an en dash and spaces.
        let v = validate(IdKind::BrCnpj, "12.ABC.345/01DE\u{2013}35");
        assert!(v.valid, "{:?}", v.reason);
        assert_eq!(v.normalized, "12ABC34501DE35");
        assert!(
            validate(IdKind::BrCnpj, "12 ABC 345 01DE 36")
                .reason
                .is_some()
        );
        assert!(
            validate(IdKind::MxCurp, "GOVM800705 MCLMLR\u{2014}01")
                .normalized
                .len()
                == 18
        );
    }

    #[test]
    fn rfc_check_digit_verdict_is_reported_on_its_own() {
        let v = validate(IdKind::MxRfc, "GODE561231GR8");
        assert!(v.valid);
        assert!(matches!(
            v.fields.get("check_digit").map(String::as_str),
            Some("matches" | "differs")
        ));
    }

    #[test]
    fn rfc_check_digit_is_optional() {
        // Person with a correct check digit, then with a wrong one: only strict mode cares.
        let body = "GODE561231GR";
        let check = rfc_check_digit(body).unwrap();
        ok(IdKind::MxRfc, &format!("{body}{check}"));
        let wrong = if check == '0' { '1' } else { '0' };
        ok(IdKind::MxRfc, &format!("{body}{wrong}"));
        let strict = Options {
            rfc_check_digit: true,
            ..Options::default()
        };
        assert!(validate_with(IdKind::MxRfc, &format!("{body}{check}"), &strict).valid);
        assert_eq!(
            validate_with(IdKind::MxRfc, &format!("{body}{wrong}"), &strict).reason,
            Some(InvalidReason::InvalidChecksum)
        );
        // Without strict mode the check character is still judged, as its own verdict.
        assert_eq!(
            ok(IdKind::MxRfc, &format!("{body}{check}")).fields["check_digit"],
            "matches"
        );
        assert_eq!(
            ok(IdKind::MxRfc, &format!("{body}{wrong}")).fields["check_digit"],
            "differs"
        );
        let r = ok(IdKind::MxRfc, "ABC-680524-P76");
        assert_eq!(r.fields["rfc_type"], "company");
        bad(IdKind::MxRfc, "ABC680231P76", InvalidReason::InvalidDate);
        bad(
            IdKind::MxRfc,
            "PUTO561231GR8",
            InvalidReason::InconvenientWord,
        );
        ok(IdKind::MxRfc, "ÑAÑO561231GR8");
    }

    #[test]
    fn clave_elector_shape_date_sex() {
        let r = ok(IdKind::MxClaveElector, "GMVLMR80070501M100");
        assert_eq!(r.fields["sex"], "F");
        assert_eq!(r.fields["birth_yymmdd"], "800705");
        assert!(!r.fields.contains_key("birth_date"));
        let with_ref = Options {
            reference_date: Date::new(2026, 11, 26),
            ..Options::default()
        };
        let r = validate_with(IdKind::MxClaveElector, "GMVLMR80070501M100", &with_ref);
        assert_eq!(r.fields["birth_date"], "1980-07-05");
        bad(
            IdKind::MxClaveElector,
            "GMVLMR80073201M100",
            InvalidReason::InvalidDate,
        );
        bad(
            IdKind::MxClaveElector,
            "GMVLMR80070540M100",
            InvalidReason::InvalidComponent,
        );
        bad(
            IdKind::MxClaveElector,
            "GMVLMR80070501X100",
            InvalidReason::InvalidFormat,
        );
    }

    #[test]
    fn colombia() {
        ok(IdKind::CoCedula, "1.020.304.050");
        ok(IdKind::CoCedula, "123456");
        bad(IdKind::CoCedula, "12345", InvalidReason::InvalidLength);
        bad(IdKind::CoCedula, "0123456", InvalidReason::InvalidFormat);
        ok(IdKind::CoNit, "213.123.432-1");
        bad(IdKind::CoNit, "2131234325", InvalidReason::InvalidChecksum);
    }

    #[test]
    fn peru() {
        let r = ok(IdKind::PeDni, "10117410");
        assert_eq!(r.fields["check_digit"], "2");
        assert_eq!(r.fields["check_letter"], "G");
        ok(IdKind::PeDni, "10117410-2");
        ok(IdKind::PeDni, "10117410g");
        bad(IdKind::PeDni, "10117410-3", InvalidReason::InvalidChecksum);
        ok(IdKind::PeRuc, "20512333797");
        bad(IdKind::PeRuc, "20512333798", InvalidReason::InvalidChecksum);
        bad(
            IdKind::PeRuc,
            "30512333797",
            InvalidReason::InvalidComponent,
        );
    }

    #[test]
    fn argentina() {
        ok(IdKind::ArDni, "20.123.456");
        bad(IdKind::ArDni, "123456", InvalidReason::InvalidLength);
        let r = ok(IdKind::ArCuit, "20-05536168-2");
        assert_eq!(r.fields["document_number"], "5536168");
        bad(
            IdKind::ArCuit,
            "20055361683",
            InvalidReason::InvalidChecksum,
        );
        bad(
            IdKind::ArCuit,
            "22055361682",
            InvalidReason::InvalidComponent,
        );
    }

    #[test]
    fn chile() {
        ok(IdKind::ClRun, "12.345.678-5");
        ok(IdKind::ClRun, "CL 7.654.321-6");
        bad(
            IdKind::ClRun,
            "12.345.678-K",
            InvalidReason::InvalidChecksum,
        );
        assert_eq!(cl_run_check_char("10000013"), Some('K'));
        ok(IdKind::ClRun, "10.000.013-k");
    }

    #[test]
    fn brazil() {
        ok(IdKind::BrCpf, "390.533.447-05");
        bad(
            IdKind::BrCpf,
            "390.533.447-06",
            InvalidReason::InvalidChecksum,
        );
        bad(
            IdKind::BrCpf,
            "111.111.111-11",
            InvalidReason::RepeatedDigits,
        );
        bad(
            IdKind::BrCpf,
            "000.000.000-00",
            InvalidReason::RepeatedDigits,
        );
        ok(IdKind::BrCnpj, "16.727.230/0001-97");
        bad(
            IdKind::BrCnpj,
            "16.727.230/0001-98",
            InvalidReason::InvalidChecksum,
        );
        // Alphanumeric CNPJ (Receita Federal's published example).
        ok(IdKind::BrCnpj, "12.ABC.345/01DE-35");
        bad(
            IdKind::BrCnpj,
            "12.ABC.345/01DE-3A",
            InvalidReason::InvalidFormat,
        );
    }

    #[test]
    fn ecuador() {
        let r = ok(IdKind::EcCedula, "1714307103");
        assert_eq!(r.fields["province"], "17");
        bad(
            IdKind::EcCedula,
            "1714307104",
            InvalidReason::InvalidChecksum,
        );
        bad(
            IdKind::EcCedula,
            "2514307103",
            InvalidReason::InvalidComponent,
        );
        let r = ok(IdKind::EcRuc, "1714307103001");
        assert_eq!(r.fields["ruc_type"], "natural");
        bad(
            IdKind::EcRuc,
            "1714307103000",
            InvalidReason::InvalidComponent,
        );
        let r = ok(IdKind::EcRuc, "1760001550001");
        assert_eq!(r.fields["ruc_type"], "public");
        let r = ok(IdKind::EcRuc, "0992397535001");
        assert_eq!(r.fields["ruc_type"], "juridical");
    }

    #[test]
    fn guatemala_and_uruguay() {
        // Serial 1234567, weights 2..9 → check 0.
        let serial = "12345678";
        let r = weighted(&digit_values(serial), &[2, 3, 4, 5, 6, 7, 8, 9]) % 11;
        let cui = format!("{serial}{r}0101");
        if r < 10 {
            ok(IdKind::GtCui, &cui);
        }
        bad(
            IdKind::GtCui,
            "1234567880101",
            InvalidReason::InvalidChecksum,
        );
        bad(
            IdKind::GtCui,
            "1234567802301",
            InvalidReason::InvalidComponent,
        );
        bad(
            IdKind::GtCui,
            "1234567800118",
            InvalidReason::InvalidComponent,
        );
        ok(IdKind::UyCi, "1.234.567-2");
        bad(IdKind::UyCi, "1.234.567-3", InvalidReason::InvalidChecksum);
        ok(IdKind::UyCi, "987.654-9");
    }

    /// Found by proptest: a multi-byte last character made `split_at` panic.
    #[test]
    fn regression_cl_run_non_ascii_check_character() {
        bad(
            IdKind::ClRun,
            "1234567\u{11937}",
            InvalidReason::InvalidFormat,
        );
        for k in IdKind::ALL {
            let _ = validate(k, "!\u{10aeb}!\u{1ec71}A\u{fffc}\u{fe68}\u{11937}");
        }
    }

    #[test]
    fn separators_people_type_are_ignored_whatever_the_dash() {
        // Hyphen-minus, en dash, em dash, minus sign, non-breaking hyphen, no-break space,
        // full-width hyphen-minus: all the same CNPJ / CPF / CUIT.
        for v in [
            "16.727.230/0001-97",
            "16.727.230/0001\u{2013}97",
            "16 727 230 0001 97",
            "16\u{00A0}727\u{00A0}230/0001\u{2014}97",
            "16.727.230/0001\u{2212}97",
            "16.727.230/0001\u{2011}97",
            "16.727.230/0001\u{FF0D}97",
        ] {
            ok(IdKind::BrCnpj, v);
        }
        // Alphanumeric CNPJ (from July 2026), lower case and Unicode dash.
        ok(IdKind::BrCnpj, "12.abc.345/01de\u{2010}35");
        ok(IdKind::ArCuit, "20\u{2013}05536168\u{2013}2");
        // Letters are not separators.
        bad(
            IdKind::BrCnpj,
            "16.727.230/0001x97",
            InvalidReason::InvalidLength,
        );
    }

    #[test]
    fn debug_hides_the_number() {
        let r = validate(IdKind::MxCurp, "BADO830408HDFRRR09");
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("BADO"), "{dbg}");
        assert!(!dbg.contains("1983"), "{dbg}");
    }
}
