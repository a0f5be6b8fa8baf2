//! Machine-readable zones (ICAO 9303): TD1 (3×30), TD2 (2×36) and TD3 (2×44) parsing, every
//! check digit, the long document number rule, OCR repair of numeric fields, names, century
//! inference, and the Latin American cards' readings of the optional data (Mexico's INE,
//! Peru's DNI, Colombia's cédula digital).
//!
//! [`parse`] fails only when the text does not have the shape of an MRZ; a zone whose check
//! digits fail is still returned, with [`Mrz::valid`] false and [`Mrz::checks`] saying which.

use crate::date::{self, Date};
use crate::id;
use serde::Serialize;
use std::fmt;

/// The three ICAO sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum MrzFormat {
    /// ID-1 card, 3 lines of 30.
    #[serde(rename = "TD1")]
    Td1,
    /// ID-2 card, 2 lines of 36.
    #[serde(rename = "TD2")]
    Td2,
    /// Passport book, 2 lines of 44.
    #[serde(rename = "TD3")]
    Td3,
}

impl MrzFormat {
    /// `TD1`, `TD2`, `TD3`.
    pub fn as_str(self) -> &'static str {
        match self {
            MrzFormat::Td1 => "TD1",
            MrzFormat::Td2 => "TD2",
            MrzFormat::Td3 => "TD3",
        }
    }

    /// (lines, characters per line).
    pub fn shape(self) -> (usize, usize) {
        match self {
            MrzFormat::Td1 => (3, 30),
            MrzFormat::Td2 => (2, 36),
            MrzFormat::Td3 => (2, 44),
        }
    }
}

/// Why text is not an MRZ at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MrzError {
    /// No text.
    #[error("empty input")]
    Empty,
    /// The lines are not 3×30, 2×36 or 2×44.
    #[error(
        "not an MRZ shape: {lines} line(s) of length {lengths:?} (expected 3×30, 2×36 or 2×44)"
    )]
    Shape {
        /// Number of non-empty lines.
        lines: usize,
        /// Their lengths after removing spaces.
        lengths: Vec<usize>,
    },
    /// A character outside `A–Z 0–9 <`.
    #[error("character outside the MRZ alphabet at line {line}, column {column}")]
    Alphabet {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

impl MrzError {
    /// Always false: the same text gives the same error; a new photo is needed.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// The fields as printed (fillers removed, names with spaces), in the CLI's vocabulary.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct MrzFields {
    /// `P`, `I`, `ID`, `IC`, `V`… (trailing filler removed).
    pub document_type: String,
    /// Issuing state (ICAO code: `MEX`, `PER`, `COL`, `D`…).
    pub country: String,
    /// The full document number, including the part continued in the optional data.
    pub document_number: String,
    /// `YYMMDD` as printed (after OCR repair).
    pub birth_date: String,
    /// `M`, `F`, `<` as printed; Mexican INE cards may print `H`.
    pub sex: String,
    /// `YYMMDD` as printed (after OCR repair).
    pub expiry_date: String,
    /// Nationality code.
    pub nationality: String,
    /// Primary identifier (surnames), words separated by spaces.
    pub surname: String,
    /// Secondary identifier (given names), words separated by spaces.
    pub given_names: String,
    /// TD1 line 1 optional data, or TD2/TD3 optional data / personal number (fillers trimmed).
    pub optional_data: String,
    /// TD1 line 2 optional data; empty for TD2/TD3.
    pub optional_data_2: String,
}

impl fmt::Debug for MrzFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MrzFields")
            .field("document_type", &self.document_type)
            .field("country", &self.country)
            .field("nationality", &self.nationality)
            .finish_non_exhaustive()
    }
}

/// Result of each check digit. `composite` is absent from nothing: all three formats have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MrzChecks {
    /// Document number (over the full number when it continues in the optional data).
    pub document_number: bool,
    /// Birth date.
    pub birth_date: bool,
    /// Expiry date.
    pub expiry_date: bool,
    /// The composite check over the whole of the data lines.
    pub composite: bool,
    /// TD3 only: the personal number's check digit (a `<` is accepted when it is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional_data: Option<bool>,
}

impl MrzChecks {
    /// Every check passed.
    pub fn all(&self) -> bool {
        self.document_number
            && self.birth_date
            && self.expiry_date
            && self.composite
            && self.optional_data.unwrap_or(true)
    }
}

/// One OCR confusion corrected in a numeric field (position only: the characters are data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The letter read.
    pub from: char,
    /// The digit it was taken for.
    pub to: char,
}

/// A parsed machine-readable zone.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Mrz {
    /// TD1, TD2 or TD3.
    pub format: MrzFormat,
    /// The fields.
    pub fields: MrzFields,
    /// The check digits.
    pub checks: MrzChecks,
    /// OCR repairs that made a check pass (empty for a clean read).
    pub repairs: Vec<Repair>,
    /// The normalized lines (after repair).
    #[serde(skip)]
    pub lines: Vec<String>,
}

impl fmt::Debug for Mrz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mrz")
            .field("format", &self.format)
            .field("fields", &self.fields)
            .field("checks", &self.checks)
            .field("repairs", &self.repairs.len())
            .finish_non_exhaustive()
    }
}

/// How far ahead of the reference day an expiry date may lie when inferring its century.
pub const EXPIRY_YEARS_AHEAD: i32 = 50;

impl Mrz {
    /// Every check digit passed.
    pub fn valid(&self) -> bool {
        self.checks.all()
    }

    /// The birth date, with the century that puts it on or before `reference`.
    pub fn birth_date(&self, reference: Date) -> Option<Date> {
        date::infer_past(&self.fields.birth_date, reference)
    }

    /// The expiry date, allowing up to [`EXPIRY_YEARS_AHEAD`] years after `reference`.
    pub fn expiry_date(&self, reference: Date) -> Option<Date> {
        date::infer_window(&self.fields.expiry_date, reference, EXPIRY_YEARS_AHEAD)
    }

    /// Sex normalized to `M`/`F`/`X`, when the zone says it unambiguously. Mexico's INE
    /// prints `H` (hombre) for men on some cards, so `M` there may mean *mujer*: see
    /// [`Mrz::national`] and [`MxIne::sex_consistent_with_curp`].
    pub fn sex(&self) -> Option<&'static str> {
        match self.fields.sex.as_str() {
            "F" => Some("F"),
            "H" => Some("M"),
            "M" if !self.is_mx_ine() => Some("M"),
            "<" | "X" => Some("X"),
            _ => None,
        }
    }

    fn is_mx_ine(&self) -> bool {
        self.format == MrzFormat::Td1
            && self.fields.country == "MEX"
            && self.fields.document_type.starts_with("ID")
    }

    /// The country-specific reading of the zone, when it is a card this crate knows.
    pub fn national(&self) -> Option<NationalData> {
        if self.format != MrzFormat::Td1 {
            return None;
        }
        let f = &self.fields;
        if self.is_mx_ine() {
            return Some(NationalData::MxIne(MxIne::from_mrz(self)));
        }
        if f.country == "PER" && f.document_type.starts_with('I') {
            let dni: String = f.document_number.chars().take(8).collect();
            if dni.len() == 8 && dni.bytes().all(|b| b.is_ascii_digit()) {
                return Some(NationalData::PeDni(PeDni {
                    dni: dni.clone(),
                    printed_check: id::pe_dni_check_chars(&dni),
                }));
            }
        }
        if f.country == "COL" && f.document_type.starts_with('I') {
            // The cédula digital carries the NUIP (the person's cédula number) in the
            // optional data; the document number is the card's own serial.
            let nuip: String = f
                .optional_data
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            let nuip = (6..=10).contains(&nuip.len()).then_some(nuip);
            return Some(NationalData::CoCedulaDigital(CoCedulaDigital {
                card_number: f.document_number.clone(),
                nuip,
            }));
        }
        None
    }
}

/// Country readings of a TD1 zone's numbers.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "document", rename_all = "kebab-case")]
pub enum NationalData {
    /// Mexico, INE voting credential (back).
    MxIne(MxIne),
    /// Peru, DNI / DNIe (back).
    PeDni(PeDni),
    /// Colombia, cédula digital (back).
    CoCedulaDigital(CoCedulaDigital),
}

impl fmt::Debug for NationalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NationalData::MxIne(_) => "MxIne(..)",
            NationalData::PeDni(_) => "PeDni(..)",
            NationalData::CoCedulaDigital(_) => "CoCedulaDigital(..)",
        })
    }
}

/// INE back: `IDMEX` + CIC (9 digits) + check + `<<` + electoral section (4) + citizen
/// identifier (9).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct MxIne {
    /// Código de identificación de la credencial (the MRZ document number).
    pub cic: String,
    /// Identificador del ciudadano: the last nine digits of line 1's optional data.
    pub citizen_id: Option<String>,
    /// The four digits before it (the electoral section on current models).
    pub section: Option<String>,
    /// The sex letter as printed (`H`, `M` or `F`).
    pub sex_letter: String,
}

impl MxIne {
    fn from_mrz(m: &Mrz) -> MxIne {
        let opt = &m.fields.optional_data;
        let digits: String = opt.chars().filter(|c| c.is_ascii_digit()).collect();
        let (section, citizen_id) = if digits.len() >= 9 && opt.chars().all(|c| c.is_ascii_digit())
        {
            let (a, b) = digits.split_at(digits.len() - 9);
            ((a.len() == 4).then(|| a.to_owned()), Some(b.to_owned()))
        } else {
            (None, None)
        };
        MxIne {
            cic: m.fields.document_number.clone(),
            citizen_id,
            section,
            sex_letter: m.fields.sex.clone(),
        }
    }

    /// Whether the printed letter can mean the CURP's sex (`H` or `M` at CURP position 11).
    /// `H` is Spanish (hombre), `F` is ICAO (female); `M` is male in ICAO and *mujer* in
    /// Spanish, so it agrees with either.
    pub fn sex_consistent_with_curp(&self, curp_sex_letter: char) -> bool {
        matches!(
            (self.sex_letter.as_str(), curp_sex_letter),
            ("H", 'H') | ("F", 'M') | ("M", 'H' | 'M') | ("<" | "X", 'X')
        )
    }
}

/// Peru DNI back: `I<PER` + the 8 DNI digits.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PeDni {
    /// The 8 digits.
    pub dni: String,
    /// The check character printed on the front next to the number (digit, letter form),
    /// which is *not* the MRZ check digit.
    pub printed_check: Option<(char, char)>,
}

/// Colombia cédula digital back.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct CoCedulaDigital {
    /// The MRZ document number (the card's serial).
    pub card_number: String,
    /// The cédula number (NUIP) from the optional data, when it is 6–10 digits.
    pub nuip: Option<String>,
}

// The national readings hold identifiers: Debug names the type only.
macro_rules! opaque_debug {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($t), "(..)"))
            }
        }
    )*};
}
opaque_debug!(MxIne, PeDni, CoCedulaDigital);

/// ICAO 9303 check digit over `field` (weights 7-3-1; `<` counts 0). `None` when a character
/// is outside the MRZ alphabet.
pub fn check_digit(field: &str) -> Option<char> {
    let mut sum = 0u32;
    for (i, b) in field.bytes().enumerate() {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            b'<' => 0,
            _ => return None,
        };
        sum += v * [7, 3, 1][i % 3];
    }
    char::from_digit(sum % 10, 10)
}

fn check_ok(field: &str, digit: u8) -> bool {
    check_digit(field).map(|c| c as u32) == Some(u32::from(digit))
}

/// Normalizes OCR text into candidate lines: upper case, no spaces, common filler look-alikes
/// (`«`, `‹`) mapped to `<`, empty lines dropped. A single line of 90, 72 or 88 characters is
/// split into the format's lines.
pub fn normalize_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| match c {
                    '«' | '‹' | '〈' | '＜' => '<',
                    c => c.to_ascii_uppercase(),
                })
                .collect::<String>()
        })
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() == 1 {
        let n = lines[0].len();
        let width = match n {
            90 => Some(30),
            72 => Some(36),
            88 => Some(44),
            _ => None,
        };
        if let Some(w) = width.filter(|_| lines[0].is_ascii()) {
            let one = lines.remove(0);
            lines = one
                .as_bytes()
                .chunks(w)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
        }
    }
    lines
}

/// Parses an MRZ from OCR text (one line per text line).
pub fn parse(text: &str) -> Result<Mrz, MrzError> {
    let lines = normalize_lines(text);
    if lines.is_empty() {
        return Err(MrzError::Empty);
    }
    let lengths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
    let format = match (lines.len(), lengths[0]) {
        (3, 30) if lengths.iter().all(|&n| n == 30) => MrzFormat::Td1,
        (2, 36) if lengths[1] == 36 => MrzFormat::Td2,
        (2, 44) if lengths[1] == 44 => MrzFormat::Td3,
        _ => {
            return Err(MrzError::Shape {
                lines: lines.len(),
                lengths,
            });
        }
    };
    for (li, l) in lines.iter().enumerate() {
        if let Some(col) = l
            .bytes()
            .position(|b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<'))
        {
            return Err(MrzError::Alphabet {
                line: li + 1,
                column: col + 1,
            });
        }
    }
    let mut rows: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
    let layout = Layout::of(format);
    let repairs = repair(&mut rows, &layout);
    Ok(read(format, &layout, rows, repairs))
}

/// Positions of a format's data line (`line`, 0-based) and fields (start, end exclusive).
struct Layout {
    /// The line with the document number.
    number_line: usize,
    number: (usize, usize),
    number_check: usize,
    /// The line with dates, sex, nationality.
    data_line: usize,
    birth: (usize, usize),
    expiry: (usize, usize),
    /// (line, start, end) of the optional data where a long number continues.
    optional: (usize, usize, usize),
    /// Spans of the composite check, all on `composite_line`… (line, start, end).
    composite_spans: Vec<(usize, usize, usize)>,
    composite: (usize, usize),
}

impl Layout {
    fn of(format: MrzFormat) -> Layout {
        match format {
            MrzFormat::Td1 => Layout {
                number_line: 0,
                number: (5, 14),
                number_check: 14,
                data_line: 1,
                birth: (0, 6),
                expiry: (8, 14),
                optional: (0, 15, 30),
                composite_spans: vec![(0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)],
                composite: (1, 29),
            },
            MrzFormat::Td2 => Layout {
                number_line: 1,
                number: (0, 9),
                number_check: 9,
                data_line: 1,
                birth: (13, 19),
                expiry: (21, 27),
                optional: (1, 28, 35),
                composite_spans: vec![(1, 0, 10), (1, 13, 20), (1, 21, 35)],
                composite: (1, 35),
            },
            MrzFormat::Td3 => Layout {
                number_line: 1,
                number: (0, 9),
                number_check: 9,
                data_line: 1,
                birth: (13, 19),
                expiry: (21, 27),
                optional: (1, 28, 42),
                composite_spans: vec![(1, 0, 10), (1, 13, 20), (1, 21, 43)],
                composite: (1, 43),
            },
        }
    }
}

/// The look-alike letters OCR engines return for digits in the OCR-B font (O/0, I/1, Z/2,
/// S/5, G/6, B/8); other confusions are too rare to justify the risk of a false repair.
fn digit_for(b: u8) -> Option<u8> {
    Some(match b {
        b'O' => b'0',
        b'I' => b'1',
        b'Z' => b'2',
        b'S' => b'5',
        b'G' => b'6',
        b'B' => b'8',
        _ => return None,
    })
}

/// Replaces look-alike letters by digits inside numeric fields (dates and check digits),
/// field by field, keeping a replacement only when that field's check digit then passes.
/// Alphanumeric fields (document number, names, codes) are never touched.
fn repair(rows: &mut [Vec<u8>], layout: &Layout) -> Vec<Repair> {
    let mut repairs = Vec::new();
    let dl = layout.data_line;
    for (start, end) in [layout.birth, layout.expiry] {
        // field positions plus the check digit right after it
        let positions: Vec<usize> = (start..=end).collect();
        let original: Vec<u8> = positions.iter().map(|&p| rows[dl][p]).collect();
        if original.iter().all(u8::is_ascii_digit) {
            continue;
        }
        let fixed: Option<Vec<u8>> = original
            .iter()
            .map(|&b| {
                if b.is_ascii_digit() {
                    Some(b)
                } else {
                    digit_for(b)
                }
            })
            .collect();
        let Some(fixed) = fixed else { continue };
        let field = std::str::from_utf8(&fixed[..fixed.len() - 1]).unwrap_or("");
        if date::split_yymmdd(field).is_none() || !check_ok(field, fixed[fixed.len() - 1]) {
            continue;
        }
        for (i, &p) in positions.iter().enumerate() {
            if original[i] != fixed[i] {
                repairs.push(Repair {
                    line: dl + 1,
                    column: p + 1,
                    from: original[i] as char,
                    to: fixed[i] as char,
                });
                rows[dl][p] = fixed[i];
            }
        }
    }
    // The number and composite check digits are digits too: repair them when that makes the
    // check pass.
    let nl = layout.number_line;
    let nc = layout.number_check;
    if let Some(d) = digit_for(rows[nl][nc]) {
        let field =
            String::from_utf8_lossy(&rows[nl][layout.number.0..layout.number.1]).into_owned();
        if check_ok(&field, d) {
            repairs.push(Repair {
                line: nl + 1,
                column: nc + 1,
                from: rows[nl][nc] as char,
                to: d as char,
            });
            rows[nl][nc] = d;
        }
    }
    let (cl, cp) = layout.composite;
    if let Some(d) = digit_for(rows[cl][cp])
        && check_ok(&composite_text(rows, layout), d)
    {
        repairs.push(Repair {
            line: cl + 1,
            column: cp + 1,
            from: rows[cl][cp] as char,
            to: d as char,
        });
        rows[cl][cp] = d;
    }
    repairs
}

fn composite_text(rows: &[Vec<u8>], layout: &Layout) -> String {
    let mut s = String::new();
    for &(l, a, b) in &layout.composite_spans {
        s.push_str(&String::from_utf8_lossy(&rows[l][a..b]));
    }
    s
}

fn text(rows: &[Vec<u8>], line: usize, a: usize, b: usize) -> String {
    String::from_utf8_lossy(&rows[line][a..b]).into_owned()
}

fn trim_fill(s: &str) -> String {
    s.trim_end_matches('<').to_owned()
}

/// Splits a name field: primary identifier, `<<`, secondary identifier; single `<` separate
/// words. Fillers at the end are dropped.
pub fn split_names(field: &str) -> (String, String) {
    let field = field.trim_end_matches('<');
    let (primary, secondary) = match field.find("<<") {
        Some(i) => (&field[..i], &field[i + 2..]),
        None => (field, ""),
    };
    let words = |s: &str| {
        s.split('<')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    (words(primary), words(secondary))
}

fn read(format: MrzFormat, layout: &Layout, rows: Vec<Vec<u8>>, repairs: Vec<Repair>) -> Mrz {
    let r = &rows;
    let (nl, dl) = (layout.number_line, layout.data_line);
    let mut number = text(r, nl, layout.number.0, layout.number.1);
    let number_check = r[nl][layout.number_check];
    let (ol, oa, ob) = layout.optional;
    let optional_raw = text(r, ol, oa, ob);
    let mut optional = optional_raw.clone();
    let document_number_ok;
    if number_check == b'<' && format != MrzFormat::Td3 {
        // ICAO 9303 part 5/6: a number longer than nine characters continues in the optional
        // data, the check digit being the last character before the first filler there.
        let tail: String = optional_raw.chars().take_while(|&c| c != '<').collect();
        if tail.len() >= 2 {
            let (rest, check) = tail.split_at(tail.len() - 1);
            number.push_str(rest);
            document_number_ok = check_ok(&number, check.as_bytes()[0]);
            optional = optional_raw[tail.len()..].to_owned();
        } else {
            document_number_ok = false;
        }
    } else {
        document_number_ok = check_ok(&number, number_check);
    }
    let birth = text(r, dl, layout.birth.0, layout.birth.1);
    let expiry = text(r, dl, layout.expiry.0, layout.expiry.1);
    let birth_ok = check_ok(&birth, r[dl][layout.birth.1]);
    let expiry_ok = check_ok(&expiry, r[dl][layout.expiry.1]);
    let (cl, cp) = layout.composite;
    let composite_ok = check_ok(&composite_text(r, layout), r[cl][cp]);
    let (document_type, country, sex, nationality, names, optional_2, optional_check) = match format
    {
        MrzFormat::Td1 => (
            text(r, 0, 0, 2),
            text(r, 0, 2, 5),
            text(r, 1, 7, 8),
            text(r, 1, 15, 18),
            text(r, 2, 0, 30),
            text(r, 1, 18, 29),
            None,
        ),
        MrzFormat::Td2 => (
            text(r, 0, 0, 2),
            text(r, 0, 2, 5),
            text(r, 1, 20, 21),
            text(r, 1, 10, 13),
            text(r, 0, 5, 36),
            String::new(),
            None,
        ),
        MrzFormat::Td3 => {
            let personal = text(r, 1, 28, 42);
            let c = r[1][42];
            // An empty personal number may carry `<` as its check digit.
            let ok = check_ok(&personal, c) || (c == b'<' && personal.bytes().all(|b| b == b'<'));
            (
                text(r, 0, 0, 2),
                text(r, 0, 2, 5),
                text(r, 1, 20, 21),
                text(r, 1, 10, 13),
                text(r, 0, 5, 44),
                String::new(),
                Some(ok),
            )
        }
    };
    let (surname, given_names) = split_names(&names);
    let fields = MrzFields {
        document_type: trim_fill(&document_type),
        country: trim_fill(&country),
        document_number: trim_fill(&number),
        birth_date: birth,
        sex,
        expiry_date: expiry,
        nationality: trim_fill(&nationality),
        surname,
        given_names,
        optional_data: trim_fill(optional.trim_start_matches('<')),
        optional_data_2: trim_fill(&optional_2),
    };
    Mrz {
        format,
        fields,
        checks: MrzChecks {
            document_number: document_number_ok,
            birth_date: birth_ok,
            expiry_date: expiry_ok,
            composite: composite_ok,
            optional_data: optional_check,
        },
        repairs,
        lines: rows
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect(),
    }
}

/// Builders of valid zones, for tests, benchmarks and the fuzz corpus (not for production:
/// nothing in the product writes MRZs).
pub mod build {
    use super::check_digit;

    fn pad(s: &str, n: usize) -> String {
        let mut s: String = s.chars().take(n).collect();
        while s.len() < n {
            s.push('<');
        }
        s
    }

    fn cd(s: &str) -> char {
        check_digit(s).unwrap_or('<')
    }

    /// The name field: `SURNAME<<GIVEN<NAMES`, spaces as `<`, padded to `width`.
    pub fn names(surname: &str, given: &str, width: usize) -> String {
        let s = format!("{}<<{}", surname.replace(' ', "<"), given.replace(' ', "<"));
        pad(&s, width)
    }

    /// Inputs of a zone.
    #[derive(Debug, Clone, Default)]
    pub struct Spec {
        /// `I`, `ID`, `P`…
        pub document_type: String,
        /// Issuing state.
        pub country: String,
        /// Document number (more than 9 characters uses the long-number rule in TD1/TD2).
        pub number: String,
        /// `YYMMDD`.
        pub birth: String,
        /// `M`, `F`, `<`, or `H` for INE.
        pub sex: String,
        /// `YYMMDD`.
        pub expiry: String,
        /// Nationality.
        pub nationality: String,
        /// Optional data (line 1 in TD1).
        pub optional: String,
        /// TD1 line 2 optional data.
        pub optional_2: String,
        /// Surname(s).
        pub surname: String,
        /// Given names.
        pub given: String,
    }

    fn number_and_optional(spec: &Spec, opt_width: usize) -> (String, char, String) {
        if spec.number.len() > 9 {
            let head = &spec.number[..9];
            let tail = &spec.number[9..];
            let opt = format!("{tail}{}<{}", cd(&spec.number), spec.optional);
            (head.to_owned(), '<', pad(&opt, opt_width))
        } else {
            let n = pad(&spec.number, 9);
            let c = cd(&n);
            (n, c, pad(&spec.optional, opt_width))
        }
    }

    /// A TD1 zone (three lines joined by `\n`).
    pub fn td1(spec: &Spec) -> String {
        let (num, c, opt) = number_and_optional(spec, 15);
        let l1 = format!(
            "{}{}{}{}{}",
            pad(&spec.document_type, 2),
            pad(&spec.country, 3),
            num,
            c,
            opt
        );
        let mut l2 = format!(
            "{}{}{}{}{}{}{}",
            spec.birth,
            cd(&spec.birth),
            pad(&spec.sex, 1),
            spec.expiry,
            cd(&spec.expiry),
            pad(&spec.nationality, 3),
            pad(&spec.optional_2, 11)
        );
        let composite = format!("{}{}{}{}", &l1[5..30], &l2[0..7], &l2[8..15], &l2[18..29]);
        l2.push(cd(&composite));
        format!("{l1}\n{l2}\n{}", names(&spec.surname, &spec.given, 30))
    }

    /// A TD2 zone.
    pub fn td2(spec: &Spec) -> String {
        let (num, c, opt) = number_and_optional(spec, 7);
        let l1 = format!(
            "{}{}{}",
            pad(&spec.document_type, 2),
            pad(&spec.country, 3),
            names(&spec.surname, &spec.given, 31)
        );
        let mut l2 = format!(
            "{num}{c}{}{}{}{}{}{}{}",
            pad(&spec.nationality, 3),
            spec.birth,
            cd(&spec.birth),
            pad(&spec.sex, 1),
            spec.expiry,
            cd(&spec.expiry),
            opt
        );
        let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..35]);
        l2.push(cd(&composite));
        format!("{l1}\n{l2}")
    }

    /// A TD3 zone.
    pub fn td3(spec: &Spec) -> String {
        let n = pad(&spec.number, 9);
        let personal = pad(&spec.optional, 14);
        let pc = if spec.optional.is_empty() {
            '<'
        } else {
            cd(&personal)
        };
        let l1 = format!(
            "{}{}{}",
            pad(&spec.document_type, 2),
            pad(&spec.country, 3),
            names(&spec.surname, &spec.given, 39)
        );
        let mut l2 = format!(
            "{n}{}{}{}{}{}{}{}{personal}{pc}",
            cd(&n),
            pad(&spec.nationality, 3),
            spec.birth,
            cd(&spec.birth),
            pad(&spec.sex, 1),
            spec.expiry,
            cd(&spec.expiry),
        );
        let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]);
        l2.push(cd(&composite));
        format!("{l1}\n{l2}")
    }
}

#[cfg(test)]
mod tests {
    use super::build::{self, Spec};
    use super::*;

    fn spec() -> Spec {
        Spec {
            document_type: "I".into(),
            country: "UTO".into(),
            number: "D23145890".into(),
            birth: "740812".into(),
            sex: "F".into(),
            expiry: "120415".into(),
            nationality: "UTO".into(),
            surname: "ERIKSSON".into(),
            given: "ANNA MARIA".into(),
            ..Spec::default()
        }
    }

    #[test]
    fn check_digit_matches_icao_examples() {
        assert_eq!(check_digit("D23145890"), Some('7'));
        assert_eq!(check_digit("740812"), Some('2'));
        assert_eq!(check_digit("120415"), Some('9'));
        assert_eq!(check_digit("L898902C3"), Some('6'));
        assert_eq!(check_digit("abc"), None);
    }

    #[test]
    fn icao_td1_specimen() {
        let text = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<";
        let m = parse(text).unwrap();
        assert_eq!(m.format, MrzFormat::Td1);
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(m.fields.document_type, "I");
        assert_eq!(m.fields.document_number, "D23145890");
        assert_eq!(m.fields.surname, "ERIKSSON");
        assert_eq!(m.fields.given_names, "ANNA MARIA");
        assert_eq!(m.sex(), Some("F"));
        assert_eq!(build::td1(&spec()), text);
    }

    #[test]
    fn icao_td3_specimen() {
        let text = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
        let m = parse(text).unwrap();
        assert_eq!(m.format, MrzFormat::Td3);
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(m.fields.optional_data, "ZE184226B");
        assert_eq!(m.checks.optional_data, Some(true));
        let today = Date::new(2026, 11, 26).unwrap();
        assert_eq!(m.birth_date(today).unwrap().to_string(), "1974-08-12");
        assert_eq!(m.expiry_date(today).unwrap().to_string(), "2012-04-15");
    }

    #[test]
    fn icao_td2_specimen() {
        let text = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6";
        let m = parse(text).unwrap();
        assert_eq!(m.format, MrzFormat::Td2);
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(build::td2(&spec()), text);
    }

    #[test]
    fn long_document_numbers_continue_in_optional_data() {
        let mut s = spec();
        s.number = "D23145890123".into();
        s.optional = "XYZ".into();
        let text = build::td1(&s);
        assert_eq!(&text[14..15], "<");
        let m = parse(&text).unwrap();
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(m.fields.document_number, "D23145890123");
        assert_eq!(m.fields.optional_data, "XYZ");
        let m2 = parse(&build::td2(&s)).unwrap();
        assert!(m2.valid());
        assert_eq!(m2.fields.document_number, "D23145890123");
    }

    #[test]
    fn ocr_confusions_are_repaired_only_when_checks_pass() {
        let good = build::td1(&spec());
        // birth date 740812 read as 74O8I2
        let noisy = good.replacen("7408122F", "74O8I22F", 1);
        let m = parse(&noisy).unwrap();
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(m.fields.birth_date, "740812");
        assert_eq!(m.repairs.len(), 2);
        // a wrong digit is not "repaired" into validity
        let wrong = good.replacen("7408122F", "7408132F", 1);
        let m = parse(&wrong).unwrap();
        assert!(!m.checks.birth_date);
        assert!(m.repairs.is_empty());
        // names are never touched
        let m = parse(&good.replace("ERIKSSON", "ER1KSS0N")).unwrap();
        assert_eq!(m.fields.surname, "ER1KSS0N");
    }

    #[test]
    fn shapes_and_alphabet() {
        assert_eq!(parse(""), Err(MrzError::Empty));
        assert!(matches!(parse("ABC\nDEF"), Err(MrzError::Shape { .. })));
        let good = build::td1(&spec());
        assert!(matches!(
            parse(&good.replacen('E', "é", 1)),
            Err(MrzError::Alphabet { line: 3, column: 1 })
        ));
        // one long line, lower case, spaces: still read
        let flat = good.replace('\n', "").to_lowercase();
        let spaced = format!("  {} {}", &flat[..10], &flat[10..]);
        assert!(parse(&spaced).unwrap().valid());
    }

    #[test]
    fn mexico_ine() {
        let s = Spec {
            document_type: "ID".into(),
            country: "MEX".into(),
            number: "123456789".into(),
            optional: "<<0123456789012".into(),
            birth: "850317".into(),
            sex: "H".into(),
            expiry: "301231".into(),
            nationality: "MEX".into(),
            surname: "PEREZ GARCIA".into(),
            given: "JUAN".into(),
            ..Spec::default()
        };
        let m = parse(&build::td1(&s)).unwrap();
        assert!(m.valid(), "{:?}", m.checks);
        assert_eq!(m.sex(), Some("M"));
        let Some(NationalData::MxIne(ine)) = m.national() else {
            panic!("not INE")
        };
        assert_eq!(ine.cic, "123456789");
        assert_eq!(ine.section.as_deref(), Some("0123"));
        assert_eq!(ine.citizen_id.as_deref(), Some("456789012"));
        assert!(ine.sex_consistent_with_curp('H'));
        assert!(!ine.sex_consistent_with_curp('M'));
        assert_eq!(m.fields.surname, "PEREZ GARCIA");
        // 'M' on an INE card is ambiguous on its own
        let m = parse(&build::td1(&Spec {
            sex: "M".into(),
            ..s
        }))
        .unwrap();
        assert_eq!(m.sex(), None);
    }

    #[test]
    fn peru_dni_printed_check_differs_from_mrz_check() {
        let s = Spec {
            document_type: "I".into(),
            country: "PER".into(),
            number: "10117410".into(),
            birth: "900101".into(),
            sex: "M".into(),
            expiry: "300101".into(),
            nationality: "PER".into(),
            surname: "QUISPE".into(),
            given: "ROSA".into(),
            ..Spec::default()
        };
        let m = parse(&build::td1(&s)).unwrap();
        assert!(m.valid());
        let Some(NationalData::PeDni(pe)) = m.national() else {
            panic!("not PE")
        };
        assert_eq!(pe.dni, "10117410");
        assert_eq!(pe.printed_check, Some(('2', 'G')));
        assert_eq!(check_digit("10117410<"), Some('7'));
    }
}
