//! The document models the reader knows, each described in one place: how to recognise it
//! (title words, MRZ document code and issuer, barcode), the printed labels of its fields with
//! each value's grammar, and which template of `kyc-flow-documents` cross-checks it. Adding a
//! model or a country is one more entry in [`MODELS`].
//!
//! Fields are found by their labels, never by pixel positions: a label is matched in the OCR
//! text with tolerance to accents and misread characters (edit distance), and its value is
//! taken from the rest of the same line, the next line in its row, or the nearest line below
//! (or above, for cards that print labels under their values), accepted only when it fits the
//! field's grammar. Identifiers with check digits (CURP, clave de elector, NUIP, DNI) are also
//! searched in all the text, labelled or not.

use super::page::Page;
use crate::barcode::Symbology;
use crate::ocr::TextBox;
use kyc_flow_core::evidence::{DocumentKind, Side};
use kyc_flow_documents::template::MONTHS;
use kyc_flow_documents::{id, mrz, template};
use std::collections::BTreeMap;

/// The character-level grammar of a value, by which [`super::repair`] turns OCR confusions
/// (`0`/`O`, `1`/`I`, …) into what each position allows and rejects garbage. [`Value`] says
/// what a labelled field holds; several map onto one grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    /// Upper-case letters with accents, Ñ, spaces.
    Name,
    /// Free text (addresses, places).
    Text,
    /// Mexican CURP (18 characters, check digit).
    Curp,
    /// INE clave de elector (18 characters).
    ClaveElector,
    /// Digits only, with the given length range (separators dropped).
    Digits(usize, usize),
    /// `DD/MM/YYYY`.
    DateDmySlash,
    /// `DD MM YYYY`.
    DateDmySpace,
    /// `DD-MMM-YYYY` with Spanish month abbreviations (Colombia).
    DateDmmmY,
    /// `H`, `M` or `F`.
    Sex,
    /// `YYYY - YYYY` (INE vigencia).
    YearRange,
    /// Peru DNI: 8 digits, `-`, check character.
    PeDniNumber,
    /// Blood group and Rh (`O+`, `AB-`).
    BloodType,
}

/// How a value must look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// Letters (accents, Ñ), spaces.
    Name,
    /// Free text.
    Text,
    /// Mexican CURP (18, check digit).
    Curp,
    /// INE clave de elector (18).
    ClaveElector,
    /// Digits with separators dropped, length range.
    Digits(usize, usize),
    /// A date in any printed format (`05/07/1980`, `15 ABR 2004`, `28-ABR-1996`, `01 01 1990`).
    Date,
    /// A date, then a place (`20 ABR 2022, CARTAGENA`).
    DatePlace,
    /// `H`, `M`, `F`.
    Sex,
    /// Peru's DNI: 8 digits and its check character.
    PeDni,
    /// Colombia's NUIP / cédula number (6–10 digits, dots allowed).
    CoNumber,
    /// Blood group and Rh.
    BloodType,
    /// A year or a `YYYY - YYYY` range (INE vigencia): the last year is kept.
    Year,
    /// Height in metres (`1.67`).
    Height,
    /// Three-letter country code.
    Nationality,
}

/// Where the value sits relative to its label, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// After the label on the same line or row, else below it.
    RightOrBelow,
    /// Below the label (small labels over values), else on the same line.
    Below,
    /// Above the label (Colombia's yellow cédula prints labels under the values).
    Above,
}

/// A printed field.
#[derive(Debug, Clone, Copy)]
pub struct Label {
    /// Canonical field name (the document crate's names where it has one).
    pub field: &'static str,
    /// Label wordings, folded (upper case, no accents).
    pub names: &'static [&'static str],
    /// The value's grammar.
    pub value: Value,
    /// Where the value is.
    pub place: Place,
    /// How many lines the value may span (names and addresses).
    pub lines: usize,
}

const fn l(
    field: &'static str,
    names: &'static [&'static str],
    value: Value,
    place: Place,
) -> Label {
    Label {
        field,
        names,
        value,
        place,
        lines: 1,
    }
}

const fn ml(
    field: &'static str,
    names: &'static [&'static str],
    value: Value,
    place: Place,
    lines: usize,
) -> Label {
    Label {
        field,
        names,
        value,
        place,
        lines,
    }
}

/// What the machine-readable zone of a model looks like.
#[derive(Debug, Clone, Copy)]
pub struct MrzSpec {
    /// TD1/TD2/TD3.
    pub format: mrz::MrzFormat,
    /// Document code prefix (`I`, `ID`, `P`).
    pub code: &'static str,
    /// Issuing state, or `None` for any.
    pub issuer: Option<&'static str>,
}

/// One document model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Stable name reported by `inspect image` (`model`).
    pub id: &'static str,
    /// The core's document kind, when the flows know it.
    pub document: Option<DocumentKind>,
    /// The document crate's template (cross-checks), when there is one.
    pub template: Option<template::DocumentModel>,
    /// Title words that identify the model (folded); any one is enough to recognise it.
    pub titles: &'static [&'static str],
    /// Words that must NOT appear (to tell two models of one issuer apart).
    pub not_titles: &'static [&'static str],
    /// The MRZ, on the side that carries it.
    pub mrz: Option<MrzSpec>,
    /// The barcode on the back.
    pub barcode: Option<Symbology>,
    /// Printed fields.
    pub labels: &'static [Label],
    /// Whether the MRZ sex letter is Spanish (H hombre, M mujer).
    pub spanish_sex: bool,
    /// When the model is recognised but no longer accepted: why.
    pub refused: Option<&'static str>,
    /// Recognised only by a title or its MRZ, never by shared labels alone (two models of one
    /// issuer print the same labels).
    pub needs_title: bool,
    /// The identifiers of the front, any one of which must be read for the front to count as
    /// read (a photo that lost them to glare is not accepted on its names alone).
    pub key_fields: &'static [&'static str],
}

impl Model {
    /// Whether any field is read from the model's barcode. The yellow cédula's PDF417 carries
    /// the holder's data; the QR codes of the INE and the digital cédula hold tokens whose
    /// format is not public, reported raw and never parsed, so once the MRZ has identified
    /// such a document its QR adds nothing to the reading.
    pub fn reads_fields_from_barcode(&self) -> bool {
        self.barcode == Some(Symbology::Pdf417)
    }
}

use Place::{Above, Below, RightOrBelow};
use Value::*;

const MX_INE_LABELS: &[Label] = &[
    ml("name", &["NOMBRE"], Name, Below, 3),
    ml("address", &["DOMICILIO"], Text, Below, 3),
    l(
        "clave_elector",
        &["CLAVE DE ELECTOR"],
        ClaveElector,
        RightOrBelow,
    ),
    l("curp", &["CURP"], Curp, RightOrBelow),
    l(
        "registration_year",
        &["ANO DE REGISTRO", "AÑO DE REGISTRO"],
        Text,
        RightOrBelow,
    ),
    l("birth_date", &["FECHA DE NACIMIENTO"], Date, Below),
    l("sex", &["SEXO"], Sex, RightOrBelow),
    l("state", &["ESTADO"], Digits(1, 2), RightOrBelow),
    l("municipality", &["MUNICIPIO"], Digits(1, 3), RightOrBelow),
    l("section", &["SECCION"], Digits(3, 4), RightOrBelow),
    l("locality", &["LOCALIDAD"], Digits(1, 4), RightOrBelow),
    l("issue_year", &["EMISION"], Year, RightOrBelow),
    l("expiry_date", &["VIGENCIA"], Year, RightOrBelow),
];

const CO_DIGITAL_LABELS: &[Label] = &[
    l("surnames", &["APELLIDOS"], Name, Below),
    l("given_names", &["NOMBRES"], Name, Below),
    l("nuip", &["NUIP"], CoNumber, RightOrBelow),
    l("nationality", &["NACIONALIDAD"], Nationality, Below),
    l("height", &["ESTATURA"], Height, Below),
    l("sex", &["SEXO"], Sex, Below),
    l("birth_date", &["FECHA DE NACIMIENTO"], Date, Below),
    l(
        "blood_type",
        &["G S RH", "GS RH", "GSRH", "G S R H", "G S"],
        BloodType,
        Below,
    ),
    l("birth_place", &["LUGAR DE NACIMIENTO"], Text, Below),
    l("issue", &["FECHA Y LUGAR DE EXPEDICION"], DatePlace, Below),
    l(
        "expiry",
        &["FECHA DE EXPIRACION", "FECHA DE VENCIMIENTO"],
        DatePlace,
        Below,
    ),
];

const CO_YELLOW_LABELS: &[Label] = &[
    l(
        "document_number",
        &["NUMERO", "NUIP"],
        CoNumber,
        RightOrBelow,
    ),
    l("surnames", &["APELLIDOS"], Name, Above),
    l("given_names", &["NOMBRES"], Name, Above),
    l("birth_date", &["FECHA DE NACIMIENTO"], Date, Above),
    l("birth_place", &["LUGAR DE NACIMIENTO"], Text, Above),
    l("height", &["ESTATURA"], Digits(3, 3), Above),
    l("blood_type", &["G S RH", "GS RH", "GSRH"], BloodType, Above),
    l("sex", &["SEXO"], Sex, Above),
    l("issue", &["FECHA Y LUGAR DE EXPEDICION"], DatePlace, Above),
];

const PE_DNI_LABELS: &[Label] = &[
    l("document_number", &["DNI"], PeDni, RightOrBelow),
    // Forms across Spanish-speaking Latin America also say paternal / maternal surname.
    l(
        "first_surname",
        &["PRIMER APELLIDO", "APELLIDO PATERNO"],
        Name,
        Below,
    ),
    l(
        "second_surname",
        &["SEGUNDO APELLIDO", "APELLIDO MATERNO"],
        Name,
        Below,
    ),
    l("surnames", &["APELLIDOS"], Name, Below),
    l(
        "given_names",
        &["PRE NOMBRES", "PRENOMBRES", "NOMBRES"],
        Name,
        Below,
    ),
    l("birth_date", &["FECHA DE NACIMIENTO"], Date, Below),
    l("sex", &["SEXO"], Sex, Below),
    l("issue_date", &["FECHA DE EMISION"], Date, Below),
    l(
        "expiry_date",
        &["FECHA DE CADUCIDAD", "FECHA DE VENCIMIENTO"],
        Date,
        Below,
    ),
];

/// A passport's data page names itself; national identity cards of the same state share its
/// titles (REPÚBLICA DE COLOMBIA) but never say passport.
const PASSPORT_WORDS: &[&str] = &["PASAPORTE", "PASSPORT"];

/// Every model, most specific first.
pub const MODELS: &[Model] = &[
    Model {
        id: "mx-ife",
        document: None,
        template: None,
        titles: &["INSTITUTO FEDERAL ELECTORAL"],
        not_titles: &["INSTITUTO NACIONAL ELECTORAL"],
        mrz: None,
        barcode: None,
        labels: MX_INE_LABELS,
        spanish_sex: true,
        refused: Some(
            "old IFE voting credential: no longer valid as identification, ask for the INE credential",
        ),
        needs_title: true,
        key_fields: &[],
    },
    Model {
        id: "mx-ine",
        document: Some(DocumentKind::MxIne),
        template: Some(template::DocumentModel::MxIne),
        titles: &[
            "INSTITUTO NACIONAL ELECTORAL",
            "CREDENCIAL PARA VOTAR",
            "CLAVE DE ELECTOR",
        ],
        not_titles: PASSPORT_WORDS,
        mrz: Some(MrzSpec {
            format: mrz::MrzFormat::Td1,
            code: "ID",
            issuer: Some("MEX"),
        }),
        barcode: Some(Symbology::Qr),
        labels: MX_INE_LABELS,
        spanish_sex: true,
        refused: None,
        needs_title: false,
        key_fields: &["curp", "clave_elector"],
    },
    Model {
        id: "co-cedula-digital",
        document: Some(DocumentKind::CoCedulaDigital),
        template: Some(template::DocumentModel::CoCedulaDigital),
        titles: &["NUIP", "CEDULA DE CIUDADANIA DIGITAL"],
        not_titles: PASSPORT_WORDS,
        mrz: Some(MrzSpec {
            format: mrz::MrzFormat::Td1,
            code: "I",
            issuer: Some("COL"),
        }),
        barcode: Some(Symbology::Qr),
        labels: CO_DIGITAL_LABELS,
        spanish_sex: false,
        refused: None,
        needs_title: true,
        key_fields: &["nuip"],
    },
    Model {
        id: "co-cedula",
        document: Some(DocumentKind::CoCedula),
        template: Some(template::DocumentModel::CoCedula),
        titles: &[
            "IDENTIFICACION PERSONAL",
            "CEDULA DE CIUDADANIA",
            "REPUBLICA DE COLOMBIA",
        ],
        not_titles: &["NUIP", "PASAPORTE", "PASSPORT"],
        mrz: None,
        barcode: Some(Symbology::Pdf417),
        labels: CO_YELLOW_LABELS,
        spanish_sex: false,
        refused: None,
        needs_title: false,
        key_fields: &["document_number"],
    },
    Model {
        id: "pe-dni",
        document: Some(DocumentKind::PeDni),
        template: Some(template::DocumentModel::PeDniBlue),
        titles: &[
            "DOCUMENTO NACIONAL DE IDENTIDAD",
            "REPUBLICA DEL PERU",
            "REGISTRO NACIONAL DE IDENTIFICACION",
            "RENIEC",
        ],
        not_titles: PASSPORT_WORDS,
        mrz: Some(MrzSpec {
            format: mrz::MrzFormat::Td1,
            code: "I",
            issuer: Some("PER"),
        }),
        barcode: None,
        labels: PE_DNI_LABELS,
        spanish_sex: false,
        refused: None,
        needs_title: false,
        key_fields: &["document_number"],
    },
    Model {
        id: "passport",
        document: Some(DocumentKind::Passport),
        template: None,
        titles: &[],
        not_titles: &[],
        mrz: Some(MrzSpec {
            format: mrz::MrzFormat::Td3,
            code: "P",
            issuer: None,
        }),
        barcode: None,
        labels: &[],
        spanish_sex: false,
        refused: None,
        needs_title: false,
        key_fields: &[],
    },
    Model {
        id: "id-card-td1",
        document: None,
        template: None,
        titles: &[],
        not_titles: &[],
        mrz: Some(MrzSpec {
            format: mrz::MrzFormat::Td1,
            code: "",
            issuer: None,
        }),
        barcode: None,
        labels: &[],
        spanish_sex: false,
        refused: None,
        needs_title: false,
        key_fields: &[],
    },
    Model {
        id: "id-card-td2",
        document: None,
        template: None,
        titles: &[],
        not_titles: &[],
        mrz: Some(MrzSpec {
            format: mrz::MrzFormat::Td2,
            code: "",
            issuer: None,
        }),
        barcode: None,
        labels: &[],
        spanish_sex: false,
        refused: None,
        needs_title: false,
        key_fields: &[],
    },
];

/// The model of a core document kind (for a flow that asks for one).
pub fn for_document(d: DocumentKind) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.document == Some(d))
}

// ---------------------------------------------------------------------------------------------
// Text folding and fuzzy label search
// ---------------------------------------------------------------------------------------------

/// Upper case, accents removed, every non-alphanumeric character a space.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        for u in c.to_uppercase() {
            let u = match u {
                'Á' | 'À' | 'Â' | 'Ä' | 'Ã' => 'A',
                'É' | 'È' | 'Ê' | 'Ë' => 'E',
                'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
                'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => 'O',
                'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
                'Ñ' => 'N',
                'Ç' => 'C',
                c if c.is_ascii_alphanumeric() => c,
                _ => ' ',
            };
            out.push(u);
        }
    }
    out
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Errors tolerated in a label of `n` letters.
fn tolerance(n: usize) -> usize {
    match n {
        0..=4 => 0,
        5..=8 => 1,
        9..=14 => 2,
        _ => 3,
    }
}

/// A label occurrence in a line: start and end in the line's characters.
#[derive(Debug, Clone, Copy)]
struct Hit {
    start: usize,
    end: usize,
    dist: usize,
}

/// Finds `label` (folded, spaces ignored) in `text`, starting at a word start.
fn find_label(text: &str, label: &str) -> Option<Hit> {
    let chars: Vec<char> = text.chars().collect();
    let folded: Vec<char> = fold(text).chars().collect();
    // Compact (no spaces) view with the index of each character in `chars`.
    let mut compact = Vec::new();
    let mut idx = Vec::new();
    // Labels are words: a `1` or `0` read inside one is its `I` or `O` (`D.N.1.`).
    for (i, c) in folded.iter().enumerate() {
        if *c != ' ' {
            compact.push(match c {
                '1' => 'I',
                '0' => 'O',
                c => *c,
            });
            idx.push(i);
        }
    }
    let target: Vec<char> = label.chars().filter(|c| *c != ' ').collect();
    let tol = tolerance(target.len());
    let mut best: Option<Hit> = None;
    for s in 0..compact.len() {
        // Labels start a word; a long label may also be glued to noise (`INESTADO`), when
        // it is then matched exactly.
        let at_word_start = idx[s] == 0 || folded[idx[s] - 1] == ' ';
        let glued_ok = target.len() >= 6;
        if !at_word_start && !glued_ok {
            continue;
        }
        for len in target.len().saturating_sub(tol)..=target.len() + tol {
            if len == 0 || s + len > compact.len() {
                continue;
            }
            let d = levenshtein(&compact[s..s + len], &target);
            // The label must end at a word end too (or the text's end), unless the value is
            // glued to it by OCR (`CURPGOVM…`): then only an exact match counts.
            let e = idx[s + len - 1] + 1;
            let at_word_end = e >= folded.len() || folded[e] == ' ';
            let ok = if at_word_start {
                d <= tol && (at_word_end || d == 0)
            } else {
                d == 0 && at_word_end
            };
            if ok && best.is_none_or(|b| d < b.dist) {
                best = Some(Hit {
                    start: idx[s],
                    end: e,
                    dist: d,
                });
            }
        }
    }
    let _ = chars;
    best
}

// ---------------------------------------------------------------------------------------------
// Value grammars
// ---------------------------------------------------------------------------------------------

/// Repairs and validates a raw value; `None` when it does not fit the grammar.
pub fn repair(value: Value, raw: &str) -> Option<String> {
    use Grammar as G;
    // Punctuation left over from the label (`NOMBRE:`); a final period is part of addresses.
    let raw = raw
        .trim()
        .trim_start_matches([':', '.', ',', '/'])
        .trim_end_matches([':', ',', '/']);
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match value {
        Name => {
            if raw.chars().filter(|c| c.is_ascii_digit()).count() > 1 {
                return None;
            }
            let (v, ok) = super::repair(G::Name, raw);
            (ok && v.chars().filter(|c| c.is_alphabetic()).count() >= 2).then_some(v)
        }
        Text => {
            let (v, ok) = super::repair(G::Text, raw);
            ok.then_some(v)
        }
        // A CURP whose check digit verifies; else one with the CURP's structure (the
        // template's `id.curp` check then reports the check digit).
        Curp => best_token(raw, 18, |t| {
            let v = super::repair_pattern(t, super::CURP_PATTERN);
            id::validate(id::IdKind::MxCurp, &v).valid.then_some(v)
        })
        .or_else(|| best_token(raw, 18, curp_shape)),
        ClaveElector => best_token(raw, 18, |t| {
            let v = super::repair_pattern(t, super::CLAVE_ELECTOR_PATTERN);
            let ok = v.len() == 18
                && v[..6].chars().all(|c| c.is_ascii_uppercase())
                && v[6..14].chars().all(|c| c.is_ascii_digit())
                && matches!(&v[14..15], "H" | "M" | "X")
                && v[15..].chars().all(|c| c.is_ascii_digit());
            ok.then_some(v)
        }),
        Digits(min, max) => {
            let first: String = raw.split_whitespace().next().unwrap_or("").to_owned();
            let (v, ok) = super::repair(G::Digits(min, max), &first);
            ok.then_some(v)
        }
        Date => repair_date(raw).map(|(d, _)| d),
        DatePlace => repair_date(raw).map(|(d, rest)| {
            let place = rest
                .trim_matches(|c: char| c == ',' || c.is_whitespace())
                .to_owned();
            if place.is_empty() {
                d
            } else {
                format!("{d}, {place}")
            }
        }),
        Sex => {
            let t: String = raw.split_whitespace().next()?.to_owned();
            let t = t.to_uppercase();
            let c = t.chars().next()?;
            let c = if t.starts_with("MASC") || t.starts_with("HOMB") {
                'M'
            } else if t.starts_with("FEM") || t.starts_with("MUJ") {
                'F'
            } else if t.chars().count() <= 2 {
                c
            } else {
                return None;
            };
            matches!(c, 'H' | 'M' | 'F' | 'X').then(|| c.to_string())
        }
        PeDni => {
            // `DNI N° 75679281 - 0`: the number sign is printed before the number.
            let raw = strip_number_sign(raw);
            let t: String = raw.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            let (v, ok) = super::repair(G::PeDniNumber, &t);
            if ok {
                return Some(v);
            }
            // Without its check character: one token of 8 digits (not a date's `23 08 2028`).
            let first: String = raw
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(super::to_digit)
                .collect();
            (first.len() == 8 && first.chars().all(|c| c.is_ascii_digit())).then_some(first)
        }
        CoNumber => {
            // `No. 1.055.269.871`: the number sign is printed before the number.
            let t = strip_number_sign(raw).split_whitespace().next()?;
            let (v, ok) = super::repair(G::Digits(6, 10), t);
            ok.then_some(v)
        }
        BloodType => {
            let (v, ok) = super::repair(G::BloodType, raw);
            ok.then_some(v)
        }
        Year => {
            let d: String = raw
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .map(super::to_digit)
                .collect();
            let n = d.len();
            ((4..=8).contains(&n) && d.chars().all(|c| c.is_ascii_digit()))
                .then(|| d[n - 4..].to_owned())
                .filter(|y| y.starts_with("19") || y.starts_with("20"))
        }
        Height => {
            let d: String = raw
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
                .map(|c| if c == ',' { '.' } else { c })
                .collect();
            let v: f32 = d.parse().ok()?;
            (0.5..2.6).contains(&v).then(|| format!("{v:.2}"))
        }
        Nationality => {
            let t: String = raw
                .chars()
                .filter(|c| c.is_alphabetic())
                .take(3)
                .collect::<String>()
                .to_uppercase();
            (t.len() == 3).then_some(t)
        }
    }
}

/// `raw` without a leading number sign (`N°`, `Nº`, `No.`, `N.`), as printed before a
/// document number; unchanged when no digits follow it.
fn strip_number_sign(raw: &str) -> &str {
    let t = raw.trim_start();
    let Some(rest) = t.strip_prefix(['N', 'n']) else {
        return raw;
    };
    let rest = rest.trim_start_matches(['°', 'º', '˚', 'o', 'O', '.', ':', ' ']);
    if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        rest
    } else {
        raw
    }
}

/// A number printed in groups of three digits separated by dots (`1.055.269.871`, 6–10
/// digits), after an optional number sign or label word: the digits.
fn dotted_number(text: &str) -> Option<String> {
    let tok = strip_number_sign(text.trim())
        .split_whitespace()
        .find(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let tok = tok.trim_end_matches(['.', ',']);
    let groups: Vec<&str> = tok.split('.').collect();
    let ok = groups.len() >= 2
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()));
    let digits: String = groups.concat();
    (ok && (6..=10).contains(&digits.len())).then_some(digits)
}

/// The CURP's structure without its check digit: 4 letters, a valid birth date, sex, a state
/// code, 3 consonants, homoclave, digit.
fn curp_shape(t: &str) -> Option<String> {
    let v = super::repair_pattern(t, super::CURP_PATTERN);
    let c: Vec<char> = v.chars().collect();
    let ok = c.len() == 18
        && c[..4].iter().all(|x| x.is_ascii_uppercase())
        && c[4..10].iter().all(|x| x.is_ascii_digit())
        && matches!(c[10], 'H' | 'M' | 'X')
        && id::CURP_STATES.contains(&&v[11..13])
        && c[13..16]
            .iter()
            .all(|x| x.is_ascii_uppercase() && !"AEIOU".contains(*x))
        && c[16].is_ascii_alphanumeric()
        && c[17].is_ascii_digit();
    let month: u32 = v[6..8].parse().ok()?;
    let day: u32 = v[8..10].parse().ok()?;
    (ok && (1..=12).contains(&month) && (1..=31).contains(&day)).then_some(v)
}

/// Tries every window of `n` alphanumeric characters (OCR may glue or split tokens).
fn best_token(raw: &str, n: usize, f: impl Fn(&str) -> Option<String>) -> Option<String> {
    for tok in raw.split_whitespace() {
        let t: String = tok.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        if t.chars().count() == n
            && let Some(v) = f(&t)
        {
            return Some(v);
        }
    }
    let all: Vec<char> = raw.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if all.len() < n {
        return None;
    }
    (0..=all.len() - n).find_map(|s| f(&all[s..s + n].iter().collect::<String>()))
}

fn month_of(s: &str) -> Option<u32> {
    let t: String = s.chars().map(super::to_letter).take(3).collect();
    if t.len() < 3 {
        return None;
    }
    let tc: Vec<char> = t.chars().collect();
    let mut best = None;
    for (i, names) in MONTHS.iter().enumerate() {
        for n in names.iter() {
            let nc: Vec<char> = n.chars().collect();
            let d = levenshtein(&tc, &nc);
            if d == 0 {
                return Some(i as u32 + 1);
            }
            if d == 1 && best.is_none() {
                best = Some(i as u32 + 1);
            }
        }
    }
    best
}

/// Reads a printed date at the start of `raw` (day, month as number or name, 4-digit year).
/// Returns `DD/MM/YYYY` and what follows.
pub fn repair_date(raw: &str) -> Option<(String, String)> {
    let up = raw.to_uppercase();
    // Tokens: runs of letters or digits (OCR'd letters inside digit runs are fixed by position).
    let mut toks: Vec<(String, usize)> = Vec::new();
    let mut cur = String::new();
    let mut end = 0;
    for (i, c) in up.char_indices() {
        if c.is_alphanumeric() {
            cur.push(c);
            end = i + c.len_utf8();
        } else if !cur.is_empty() {
            toks.push((std::mem::take(&mut cur), end));
        }
        if toks.len() >= 3 {
            break;
        }
    }
    if !cur.is_empty() && toks.len() < 3 {
        toks.push((cur, end));
    }
    let digits = |s: &str| -> Option<u32> {
        let d: String = s.chars().map(super::to_digit).collect();
        d.chars()
            .all(|c| c.is_ascii_digit())
            .then(|| d.parse().ok())
            .flatten()
    };
    let (day, month, year, rest_at) = if toks.len() >= 3 {
        let day = digits(&toks[0].0)?;
        let month = if toks[1].0.chars().filter(|c| c.is_ascii_digit()).count() >= 1
            && toks[1].0.len() <= 2
        {
            digits(&toks[1].0)?
        } else {
            month_of(&toks[1].0)?
        };
        let y: String = toks[2].0.chars().take(4).collect();
        if y.len() != 4 {
            return None;
        }
        (day, month, digits(&y)?, toks[2].1 - (toks[2].0.len() - 4))
    } else if let Some((t, e)) = toks.first().filter(|t| t.0.len() == 8 || t.0.len() == 9) {
        // Glued: `05071980` or `15ABR2004`.
        let c: Vec<char> = t.chars().collect();
        let day = digits(&c[..2].iter().collect::<String>())?;
        let (month, ystart) = if c.len() == 9 {
            (month_of(&c[2..5].iter().collect::<String>())?, 5)
        } else {
            (digits(&c[2..4].iter().collect::<String>())?, 4)
        };
        (
            day,
            month,
            digits(&c[ystart..].iter().collect::<String>())?,
            *e,
        )
    } else {
        return None;
    };
    kyc_flow_documents::Date::new(year as i32, month, day)?;
    if !(1900..=2100).contains(&year) {
        return None;
    }
    Some((
        format!("{day:02}/{month:02}/{year:04}"),
        up.get(rest_at..).unwrap_or("").to_owned(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Model detection and extraction
// ---------------------------------------------------------------------------------------------

/// A value read on the page.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The repaired value (PII).
    pub value: String,
    /// Recognizer confidence of the lines it came from.
    pub confidence: f32,
    /// Found next to its label (`true`) or by its grammar alone.
    pub labelled: bool,
}

/// The page's folded text, one row per line.
pub fn folded_text(page: &Page) -> String {
    page.rows
        .iter()
        .map(|r| fold(&page.row_text(r)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn contains_phrase(folded: &str, phrase: &str) -> bool {
    // Spaces ignored on both sides (OCR drops and adds them), a few errors tolerated.
    let hay: Vec<char> = folded.chars().filter(|c| *c != ' ' && *c != '\n').collect();
    let needle: Vec<char> = phrase.chars().filter(|c| *c != ' ').collect();
    if needle.is_empty() || hay.len() < needle.len().saturating_sub(1) {
        return false;
    }
    let tol = tolerance(needle.len());
    if tol == 0 {
        return hay.windows(needle.len()).any(|w| w == needle.as_slice());
    }
    (0..hay.len()).any(|s| {
        (needle.len() - tol..=needle.len() + tol)
            .any(|len| s + len <= hay.len() && levenshtein(&hay[s..s + len], &needle) <= tol)
    })
}

/// Whether the page says `phrase`, as evidence *against* a model: a one-word phrase must be
/// a word of the text (or be glued inside one) with at most one error, since a loose match
/// of words like PASAPORTE finds them in any receipt (`IMPORTE` read as `PAMPORTE` is two
/// edits from it) and would veto the card beside it. Phrases of several words are matched
/// like titles.
fn mentions(folded: &str, phrase: &str) -> bool {
    if phrase.contains(' ') {
        return contains_phrase(folded, phrase);
    }
    let needle: Vec<char> = phrase.chars().collect();
    let tol = usize::from(needle.len() >= 8);
    folded.split_whitespace().any(|w| {
        w.contains(phrase) || {
            let w: Vec<char> = w.chars().collect();
            w.len().abs_diff(needle.len()) <= tol && levenshtein(&w, &needle) <= tol
        }
    })
}

/// How much the page looks like `model` (titles, labels, MRZ).
pub fn score(model: &Model, folded: &str, m: Option<&mrz::Mrz>) -> i32 {
    if model.not_titles.iter().any(|t| mentions(folded, t)) {
        return -100;
    }
    let titles = model
        .titles
        .iter()
        .filter(|t| contains_phrase(folded, t))
        .count() as i32;
    let labels = model
        .labels
        .iter()
        .filter(|l| {
            l.names
                .iter()
                .any(|n| n.len() >= 4 && contains_phrase(folded, n))
        })
        .count() as i32;
    let mut mrz_points = 0;
    if let (Some(spec), Some(m)) = (model.mrz, m) {
        let code_ok = m.fields.document_type.starts_with(spec.code);
        let issuer_ok = spec.issuer.is_none_or(|i| i == m.fields.country);
        if m.format == spec.format && code_ok && issuer_ok {
            mrz_points = if spec.issuer.is_some() { 40 } else { 15 };
        } else if spec.issuer.is_some() && m.format == spec.format && issuer_ok {
            mrz_points = 20;
        }
    }
    if model.needs_title && titles == 0 && mrz_points == 0 {
        return 0;
    }
    10 * titles + 3 * labels + mrz_points
}

/// The best model for the page, if any scores.
pub fn detect(page: &Page, m: Option<&mrz::Mrz>) -> Option<&'static Model> {
    let folded = folded_text(page);
    MODELS
        .iter()
        .map(|model| (score(model, &folded, m), model))
        .filter(|(s, _)| *s >= 10)
        .max_by_key(|(s, _)| *s)
        .map(|(_, model)| model)
}

/// The lines that show `model` on the page: its titles, its labels, rows of a machine-readable
/// zone. Where they lie is where the document is (text elsewhere may be a sheet of paper or a
/// receipt beside the card).
pub fn evidence_lines(page: &Page, model: &Model) -> Vec<usize> {
    page.lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let folded = fold(&l.text);
            l.text.contains("<<")
                || model.titles.iter().any(|t| contains_phrase(&folded, t))
                // A short label only when read exactly (`ECCION` on a receipt is not SECCION).
                || model.labels.iter().any(|lb| {
                    lb.names.iter().any(|n| {
                        find_label(&l.text, n).is_some_and(|h| h.dist == 0 || n.len() >= 8)
                    })
                })
        })
        .map(|(i, _)| i)
        .collect()
}

/// Whether a line's text is (mostly) one of the model's labels.
fn is_label_line(text: &str, model: &Model) -> bool {
    let f = fold(text);
    let compact: String = f.chars().filter(|c| *c != ' ').collect();
    model.labels.iter().any(|l| {
        l.names.iter().any(|n| {
            let nc: String = n.chars().filter(|c| *c != ' ').collect();
            !nc.is_empty() && compact.len() <= nc.len() + 3 && find_label(text, n).is_some()
        })
    })
}

struct LabelHit {
    label: &'static Label,
    line: usize,
    start: usize,
    end: usize,
    dist: usize,
}

/// Extracts the model's printed fields from the page, by labels then by grammars.
pub fn extract(page: &Page, model: &Model) -> BTreeMap<String, Reading> {
    let mut out: BTreeMap<String, Reading> = BTreeMap::new();
    // Every label occurrence, per line, in line order.
    let mut hits: Vec<LabelHit> = Vec::new();
    for (li, line) in page.lines.iter().enumerate() {
        let mut found: Vec<LabelHit> = Vec::new();
        for label in model.labels {
            let best = label
                .names
                .iter()
                .filter_map(|n| find_label(&line.text, n))
                .min_by_key(|h| h.dist)
                .or_else(|| date_label_core(&line.text, label));
            if let Some(h) = best {
                // Overlapping hits: keep the closer reading (`Apellido Materno` is one edit
                // from APELLIDO PATERNO and none from APELLIDO MATERNO), then the longer
                // label (CLAVE DE ELECTOR over ELECTOR).
                let better = |o: &LabelHit| {
                    (o.dist, std::cmp::Reverse(o.end - o.start))
                        <= (h.dist, std::cmp::Reverse(h.end - h.start))
                };
                if found
                    .iter()
                    .any(|o| h.start < o.end && o.start < h.end && better(o))
                {
                    continue;
                }
                found.retain(|o| !(h.start < o.end && o.start < h.end));
                found.push(LabelHit {
                    label,
                    line: li,
                    start: h.start,
                    end: h.end,
                    dist: h.dist,
                });
            }
        }
        found.sort_by_key(|h| h.start);
        hits.extend(found);
    }
    for (k, hit) in hits.iter().enumerate() {
        let label = hit.label;
        if out.contains_key(label.field) {
            continue;
        }
        let line = &page.lines[hit.line];
        let chars: Vec<char> = line.text.chars().collect();
        let next_start = hits
            .get(k + 1)
            .filter(|h| h.line == hit.line)
            .map_or(chars.len(), |h| h.start);
        let inline: String = chars[hit.end.min(next_start)..next_start].iter().collect();
        let conf = line.confidence;
        let mut candidates: Vec<(String, f32)> = Vec::new();
        let inline_first = matches!(label.place, Place::RightOrBelow);
        if !inline.trim().is_empty() && inline_first {
            candidates.push((inline.clone(), conf));
        }
        // The next line in the same row, to the right.
        if inline_first && let Some(r) = right_of(page, hit.line) {
            candidates.push((
                value_part(&page.lines[r].text, model),
                page.lines[r].confidence,
            ));
        }
        // Two labels read as one line (`SEGUNDO APELLIDO Pre Nombres`) head two columns:
        // each label's values lie under its own part of the line, not under the line's start.
        let shares_line = hits.iter().filter(|h| h.line == hit.line).count() > 1;
        let over = if shares_line {
            label_span(line, hit.start, hit.end)
        } else {
            line.bbox
        };
        let vertical = match label.place {
            Place::Above => lines_near(page, model, hit.line, over, false, label.lines),
            _ => lines_near(page, model, hit.line, over, true, label.lines),
        };
        if !vertical.is_empty() {
            let text = vertical
                .iter()
                .map(|&i| page.lines[i].text.trim())
                .collect::<Vec<_>>()
                .join(if label.value == Text { ", " } else { " " });
            let c = vertical
                .iter()
                .map(|&i| page.lines[i].confidence)
                .fold(1.0f32, f32::min);
            if label.field == "name" {
                // INE: paternal surname, maternal surname, given names, one per line.
                let parts: Vec<String> = vertical
                    .iter()
                    .filter_map(|&i| repair(Name, &page.lines[i].text))
                    .collect();
                if parts.len() >= 2 {
                    let n_sur = if parts.len() >= 3 { 2 } else { 1 };
                    out.insert(
                        template::field::SURNAMES.to_owned(),
                        Reading {
                            value: parts[..n_sur].join(" "),
                            confidence: c,
                            labelled: true,
                        },
                    );
                    out.insert(
                        template::field::GIVEN_NAMES.to_owned(),
                        Reading {
                            value: parts[n_sur..].join(" "),
                            confidence: c,
                            labelled: true,
                        },
                    );
                }
                continue;
            }
            candidates.push((text, c));
        }
        if !inline.trim().is_empty() && !inline_first {
            candidates.push((inline, conf));
        }
        // Strict grammars may also sit on the other side of the label.
        if !matches!(label.value, Name | Text) {
            let other = match label.place {
                Place::Above => lines_near(page, model, hit.line, over, true, 1),
                _ => lines_near(page, model, hit.line, over, false, 1),
            };
            if let Some(&i) = other.first() {
                candidates.push((
                    value_part(&page.lines[i].text, model),
                    page.lines[i].confidence,
                ));
            }
        }
        if let Some((v, c)) = candidates
            .into_iter()
            .find_map(|(raw, c)| repair(label.value, &raw).map(|v| (v, c)))
        {
            out.insert(
                label.field.to_owned(),
                Reading {
                    value: v,
                    confidence: c,
                    labelled: true,
                },
            );
        }
    }
    // Identifiers with check digits anywhere on the page, labelled or not.
    let grammars: &[(&str, Value)] = match model.id {
        "mx-ine" | "mx-ife" => &[("curp", Curp), ("clave_elector", ClaveElector)],
        _ => &[],
    };
    for (field, value) in grammars {
        if out.contains_key(*field) {
            continue;
        }
        for line in &page.lines {
            if let Some(v) = repair(*value, &line.text) {
                out.insert(
                    (*field).to_owned(),
                    Reading {
                        value: v,
                        confidence: line.confidence,
                        labelled: false,
                    },
                );
                break;
            }
        }
    }
    // The yellow cédula's number is printed with thousands dots (`1.055.269.871`), whatever
    // word precedes it (`NÚMERO`, `No.`): that shape alone finds it.
    if model.id == "co-cedula" && !out.contains_key("document_number") {
        for line in &page.lines {
            if let Some(v) = dotted_number(&line.text) {
                out.insert(
                    "document_number".to_owned(),
                    Reading {
                        value: v,
                        confidence: line.confidence,
                        labelled: false,
                    },
                );
                break;
            }
        }
    }
    // First and second surnames (Peru) make the surnames.
    if !out.contains_key("surnames")
        && let Some(a) = out.get("first_surname").cloned()
    {
        let mut v = a.value.clone();
        if let Some(b) = out.get("second_surname") {
            v = format!("{v} {}", b.value);
        }
        out.insert(
            "surnames".to_owned(),
            Reading {
                value: v,
                confidence: a.confidence,
                labelled: true,
            },
        );
    }
    out
}

/// The distance a short date label's hit counts as: no closer than the loosest reading of a
/// full label ([`tolerance`] of a long one), so that a full label wins where both are read.
const WEAK_LABEL_DIST: usize = 3;

/// A date label printed short: `F. Nacimiento`, `Caducidad` for `FECHA DE NACIMIENTO`,
/// `FECHA DE CADUCIDAD` (the word that names the date, read exactly, as a whole word).
fn date_label_core(text: &str, label: &Label) -> Option<Hit> {
    if !matches!(label.value, Date | DatePlace) {
        return None;
    }
    label.names.iter().find_map(|n| {
        let core = n
            .strip_prefix("FECHA DE ")
            .or_else(|| n.strip_prefix("FECHA "))?;
        // One word that names the date (not `LUGAR DE NACIMIENTO`'s place: the grammar of the
        // value tells them apart, and the longer label wins where both are read).
        // A weak reading: any label read within its tolerance over the same words wins
        // (`Légar de nacimiento` is LUGAR DE NACIMIENTO, not a birth date's NACIMIENTO).
        (!core.contains(' ') && core.len() >= 6)
            .then(|| find_label(text, core))
            .flatten()
            .filter(|h| h.dist == 0)
            .map(|h| Hit {
                dist: WEAK_LABEL_DIST,
                ..h
            })
    })
}

/// The part of a neighbouring line that is a value: before its first label, or after it.
fn value_part(text: &str, model: &Model) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut hits: Vec<Hit> = model
        .labels
        .iter()
        .flat_map(|l| l.names.iter())
        .filter_map(|n| find_label(text, n))
        .collect();
    hits.sort_by_key(|h| h.start);
    match hits.first() {
        None => text.to_owned(),
        Some(h) if h.start > 0 => chars[..h.start].iter().collect(),
        Some(h) => {
            let end = hits
                .iter()
                .find(|o| o.start >= h.end)
                .map_or(chars.len(), |o| o.start);
            chars[h.end..end].iter().collect()
        }
    }
}

/// The nearest line to the right of line `li` at its height, close enough to belong to it (a
/// few character heights). Measured line to line, not by rows: a small label beside a tall
/// value (`D.N.I` beside `42070424 - 6`) may fall in a row of its own when taller lines
/// beside them widened their row.
fn right_of(page: &Page, li: usize) -> Option<usize> {
    let a = page.lines[li].bbox;
    let h = a.height().max(1.0);
    // Boxes of a small label and a taller value beside it may overlap (`DNI` under the start
    // of `63972636- 9`): the value may start in the label's last 40 %, up to 1.5 heights.
    let slack = (0.5 * h).max((0.4 * (a.x1 - a.x0)).min(1.5 * h));
    page.lines
        .iter()
        .enumerate()
        .filter(|&(i, l)| {
            let b = l.bbox;
            let overlap = b.y1.min(a.y1) - b.y0.max(a.y0);
            i != li
                && b.x0 >= a.x1 - slack
                && b.x1 > a.x1 + h
                && b.x0 - a.x1 < 4.0 * h
                && overlap > 0.5 * b.height().min(h)
        })
        .min_by(|(_, p), (_, q)| p.bbox.x0.total_cmp(&q.bbox.x0))
        .map(|(i, _)| i)
}

/// The part of a line's box that characters `start..end` of its text cover, by their share
/// of the text (the recognizer gives no character positions; a proportional estimate is
/// enough to tell two columns apart).
fn label_span(line: &crate::ocr::TextLine, start: usize, end: usize) -> TextBox {
    let n = line.text.chars().count().max(1) as f32;
    let b = line.bbox;
    let w = b.x1 - b.x0;
    TextBox {
        x0: b.x0 + w * start as f32 / n,
        x1: b.x0 + w * (end as f32 / n).min(1.0),
        ..b
    }
}

/// Lines directly below (or above) `a` (line `li`'s box, or the part of it a label covers),
/// overlapping it horizontally, up to `n` rows, stopping at another label.
fn lines_near(
    page: &Page,
    model: &Model,
    li: usize,
    a: TextBox,
    below: bool,
    n: usize,
) -> Vec<usize> {
    let h = a.height().max(1.0);
    let mut out: Vec<usize> = Vec::new();
    let mut edge = if below { a.y1 } else { a.y0 };
    for _ in 0..n {
        let mut best: Option<(f32, usize)> = None;
        for (i, l) in page.lines.iter().enumerate() {
            if i == li || out.contains(&i) {
                continue;
            }
            let b = l.bbox;
            let gap = if below { b.y0 - edge } else { edge - b.y1 };
            // Left edges aligned (labels sit over the start of their values), or overlapping.
            let aligned = (b.x0 - a.x0).abs() < 3.0 * h
                || (b.x0 < a.x1 && b.x1 > a.x0 && b.x0 > a.x0 - 6.0 * h);
            if gap > -0.4 * h && gap < 2.2 * h.max(b.height()) && aligned {
                let key = gap.abs() + (b.x0 - a.x0).abs() * 0.1;
                if best.is_none_or(|(k, _)| key < k) {
                    best = Some((key, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        if is_label_line(&page.lines[i].text, model) {
            break;
        }
        edge = if below {
            page.lines[i].bbox.y1
        } else {
            page.lines[i].bbox.y0
        };
        out.push(i);
    }
    out
}

/// Which side of the model the page shows: the MRZ side is the back of an ID card (a
/// passport's data page is its front), the holder's printed name the front; both in one image
/// is reported as both (`None`).
pub fn side_of(model: &Model, names: bool, has_mrz: bool, has_barcode: bool) -> Option<Side> {
    let td3 = model.mrz.is_some_and(|s| s.format == mrz::MrzFormat::Td3);
    let back = !td3 && (has_mrz || has_barcode && model.barcode == Some(Symbology::Pdf417));
    let front = names || td3;
    match (front, back) {
        // Both sides in one image, or no evidence either way: the side is not judged.
        (true, true) | (false, false) => None,
        (false, true) => Some(Side::Back),
        (true, false) => Some(Side::Front),
    }
}

/// A payment card: a 13–19 digit number passing the Luhn check, and no ID labels.
pub fn looks_like_payment_card(page: &Page) -> bool {
    page.lines.iter().any(|l| {
        let d: String = l.text.chars().filter(|c| !c.is_whitespace()).collect();
        (13..=19).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()) && luhn(&d)
    })
}

fn luhn(d: &str) -> bool {
    let sum: u32 = d
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let v = c.to_digit(10).unwrap_or(0);
            if i % 2 == 1 {
                let x = v * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_found_with_ocr_errors_and_accents() {
        let h = find_label("CLAVE DE ELECT0R GMVLMR80070501M100", "CLAVE DE ELECTOR").unwrap();
        assert_eq!(h.start, 0);
        assert_eq!(h.end, 16);
        assert!(find_label("Fecha de Emisión", "FECHA DE EMISION").is_some());
        assert!(find_label("SECClON 0747", "SECCION").is_some());
        // Short labels need an exact, whole-word match.
        assert!(find_label("PCURPX", "CURP").is_none());
        assert!(find_label("DOMICILIO", "NOMBRE").is_none());
    }

    #[test]
    fn dates_in_every_printed_format() {
        assert_eq!(repair_date("05/07/1980").unwrap().0, "05/07/1980");
        assert_eq!(repair_date("15 ABR 2004").unwrap().0, "15/04/2004");
        assert_eq!(repair_date("28-ABR-l996").unwrap().0, "28/04/1996");
        assert_eq!(repair_date("01 12 1990").unwrap().0, "01/12/1990");
        let (d, rest) = repair_date("20 ABR 2022, CARTAGENA").unwrap();
        assert_eq!(d, "20/04/2022");
        assert!(rest.contains("CARTAGENA"));
        assert!(repair_date("31/02/1990").is_none());
        assert!(repair_date("MARGARITA").is_none());
    }

    #[test]
    fn grammars_reject_garbage_and_repair_confusions() {
        assert_eq!(
            repair(Curp, "CURP GOVM8OO705MCLMLR01").as_deref(),
            Some("GOVM800705MCLMLR01")
        );
        // Not a CURP: no such state, no valid birth date.
        assert!(repair(Curp, "GOVM800705MZZMLR01").is_none());
        assert!(repair(Curp, "GOVM801305MCLMLR01").is_none());
        assert_eq!(
            repair(CoNumber, "1.234.567.890").as_deref(),
            Some("1234567890")
        );
        assert_eq!(repair(Year, "2014 - 2024").as_deref(), Some("2024"));
        assert_eq!(repair(Sex, "M").as_deref(), Some("M"));
        assert!(repair(Sex, "MARGARITA").is_none());
        assert_eq!(repair(Height, "1,67").as_deref(), Some("1.67"));
    }

    /// A page of recognised lines: `(x0, y0, width, height, text)`.
    fn page(lines: &[(f32, f32, f32, f32, &str)]) -> Page {
        let lines = lines
            .iter()
            .map(|&(x0, y0, w, h, t)| crate::ocr::TextLine::at(x0, y0, w, h, t, 0.99))
            .collect();
        super::super::page::page_of(lines, 1200, 800)
    }

    /// `pe-dni front seed 10000` of the randomised renderer (demo upload test): the number
    /// after a number sign, two labels read as one line over two columns of values, and the
    /// paternal-surname wording. The lines are the ones recognised on that photo.
    #[test]
    fn a_dni_front_with_a_number_sign_and_labels_on_one_line_is_read() {
        let p = page(&[
            (338.0, 48.0, 412.0, 36.0, "REPUBLICA DEL PERU"),
            (
                44.0,
                98.0,
                1093.0,
                44.0,
                "REGISTRO NACIONAL DE IDENTIFICACIÓN Y ESTADO CIVIL",
            ),
            (58.0, 177.0, 389.0, 47.0, "DNI N°75679281-"),
            (534.0, 169.0, 88.0, 36.0, "SEXO"),
            (530.0, 212.0, 43.0, 49.0, "M"),
            (60.0, 283.0, 529.0, 51.0, "SEGUNDO APELLIDO Pre Nombres"),
            (643.0, 293.0, 254.0, 35.0, "Apellido Paterno"),
            (62.0, 334.0, 165.0, 45.0, "RIVERA"),
            (379.0, 334.0, 140.0, 53.0, "RAMÓN"),
            (640.0, 328.0, 143.0, 58.0, "LÓPEZ"),
            (46.0, 423.0, 126.0, 37.0, "Emisión"),
            (48.0, 467.0, 264.0, 46.0, "08 09 2023"),
            (51.0, 553.0, 305.0, 36.0, "Fecha de Caducidad"),
            (51.0, 597.0, 264.0, 46.0, "08 09 2031"),
            (59.0, 688.0, 270.0, 32.0, "Fecha Nacimiento"),
            (58.0, 731.0, 264.0, 43.0, "23 07 1982"),
        ]);
        let m = detect(&p, None).expect("a model");
        assert_eq!(m.id, "pe-dni");
        let r = extract(&p, m);
        let get = |k: &str| r.get(k).map(|v| v.value.as_str());
        assert_eq!(get("document_number"), Some("75679281"));
        assert_eq!(get("given_names"), Some("RAMÓN"));
        assert_eq!(get("surnames"), Some("LÓPEZ RIVERA"));
        assert_eq!(get("expiry_date"), Some("08/09/2031"));
    }

    /// `co-cedula front seed 2000023` of the randomised set: a receipt beside the card whose
    /// `IMPORTE` was read `PAMPORTE` (two edits from PASAPORTE), which vetoed every national
    /// card as "a passport"; and the cédula number after `No.`.
    #[test]
    fn a_receipt_beside_a_cedula_does_not_make_it_a_passport() {
        let p = page(&[
            (369.0, 679.0, 410.0, 75.0, "REPÚBLICA DE COLOMBIA"),
            (359.0, 742.0, 435.0, 60.0, "IDENTIFICACION PERSONAL"),
            (388.0, 781.0, 391.0, 64.0, "CEDULA DE CIUDADANIA"),
            (187.0, 844.0, 380.0, 78.0, "No. 1.055.269.871"),
            (424.0, 912.0, 293.0, 65.0, "CHAVEZ PENA"),
            (209.0, 934.0, 202.0, 67.0, "DANIELA"),
            (440.0, 976.0, 104.0, 34.0, "Apellidos"),
            (219.0, 1002.0, 119.0, 39.0, "NOMBRES"),
            (
                1143.0,
                1344.0,
                357.0,
                33.0,
                "PAMPORTE PAGCTURA IMPO DIRECCION ÉN",
            ),
            (1145.0, 1263.0, 142.0, 40.0, "PAGO RTE PAGO"),
        ]);
        let m = detect(&p, None).expect("a model");
        assert_eq!(m.id, "co-cedula");
        let r = extract(&p, m);
        assert_eq!(
            r.get("document_number").map(|v| v.value.as_str()),
            Some("1055269871")
        );
        // A passport's page still vetoes the national card of its state.
        assert!(mentions(
            "REPUBLICA DE COLOMBIA\nPASAPORTE PASSPORT",
            "PASAPORTE"
        ));
        assert!(mentions("PASAP0RTE", "PASAPORTE"));
        assert!(!mentions("PAMPORTE PAGO", "PASAPORTE"));
        assert_eq!(dotted_number("$ 1.250,00"), None);
        assert_eq!(
            dotted_number("NUMERO 52.123.456").as_deref(),
            Some("52123456")
        );
    }

    /// `pe-dnie front seed 1000052` of the randomised set: the DNI after `N°`, dates under
    /// labels printed short (`F. Nacimiento`, `Caducidad`).
    #[test]
    fn a_dnie_front_with_short_date_labels_is_read() {
        let p = page(&[
            (371.0, 200.0, 268.0, 29.0, "REPÚBLICA DEL PERÚ"),
            (393.0, 237.0, 222.0, 28.0, "DNI ELECTRÓNICO"),
            (524.0, 288.0, 259.0, 32.0, "DNI N° 86905980 - 9"),
            (814.0, 285.0, 154.0, 22.0, "Fecha de Emisión"),
            (813.0, 308.0, 161.0, 31.0, "24 03 2021"),
            (513.0, 354.0, 50.0, 23.0, "SEXO"),
            (569.0, 357.0, 130.0, 22.0, "F. Nacimiento"),
            (509.0, 378.0, 63.0, 31.0, "M"),
            (569.0, 380.0, 165.0, 31.0, "28 03 1977"),
            (512.0, 436.0, 145.0, 21.0, "PRIMER APELLIDO"),
            (512.0, 457.0, 102.0, 34.0, "CHÁVEZ"),
            (517.0, 500.0, 73.0, 24.0, "Nombres"),
            (809.0, 503.0, 155.0, 24.0, "Segundo Apellido"),
            (517.0, 526.0, 70.0, 29.0, "JUAN"),
            (808.0, 527.0, 150.0, 32.0, "RODRÍGUEZ"),
            (510.0, 573.0, 66.0, 26.0, "Ubigeo"),
            (666.0, 575.0, 91.0, 24.0, "Caducidad"),
            (512.0, 599.0, 100.0, 30.0, "884829"),
            (665.0, 600.0, 161.0, 31.0, "24 03 2029"),
        ]);
        let m = detect(&p, None).expect("a model");
        assert_eq!(m.id, "pe-dni");
        let r = extract(&p, m);
        let get = |k: &str| r.get(k).map(|v| v.value.as_str());
        assert!(get("document_number").is_some_and(|v| v.starts_with("86905980")));
        assert_eq!(get("birth_date"), Some("28/03/1977"));
        assert_eq!(get("expiry_date"), Some("24/03/2029"));
        assert_eq!(get("issue_date"), Some("24/03/2021"));
        assert_eq!(get("surnames"), Some("CHÁVEZ RODRÍGUEZ"));
    }

    /// `pe-dni front seed 2000053` (levelled by the card's lines beside a receipt): a small
    /// `D.N.I` label beside a taller number, in a row that taller lines widened, and a date
    /// under the label that must not pass for a DNI.
    #[test]
    fn a_small_label_beside_a_tall_value_is_read() {
        let p = page(&[
            (301.0, 338.0, 217.0, 35.0, "REPUBLICA DEL PERU"),
            (932.0, 410.0, 46.0, 26.0, "Sexo"),
            (1008.0, 413.0, 147.0, 24.0, "Apellido Materno"),
            (718.0, 420.0, 183.0, 26.0, "42070424 - 6"),
            (664.0, 428.0, 41.0, 16.0, "D.N.I"),
            (933.0, 435.0, 29.0, 31.0, "M"),
            (1005.0, 437.0, 155.0, 33.0, "HERNÁNDEZ"),
            (833.0, 475.0, 144.0, 27.0, "Apellido Paterno"),
            (1008.0, 480.0, 103.0, 24.0, "Pre Nombres"),
            (822.0, 502.0, 102.0, 30.0, "PÉREZ"),
            (1009.0, 504.0, 120.0, 32.0, "JOAQUÍN"),
            (675.0, 481.0, 45.0, 16.0, "Fecha"),
            (669.0, 499.0, 159.0, 32.0, "23 08 2028"),
        ]);
        let m = detect(&p, None).expect("a model");
        let r = extract(&p, m);
        assert!(
            r.get("document_number")
                .is_some_and(|v| v.value.starts_with("42070424")),
            "{r:?}"
        );
        assert_eq!(repair(PeDni, "23 08 2028"), None);
        // Each surname under its own label, though the two wordings are one edit apart.
        assert_eq!(
            r.get("surnames").map(|v| v.value.as_str()),
            Some("PÉREZ HERNÁNDEZ")
        );
    }

    /// The digital cédula specimen of documents-dev turned 15° (`tests/skewed_documents.rs`)
    /// reads `Légar de nacimiento`: one edit from LUGAR DE NACIMIENTO, and its last word is a
    /// short birth-date label read exactly. The full label must win.
    #[test]
    fn a_misread_full_label_beats_a_short_date_label_inside_it() {
        let p = page(&[
            (1304.0, 591.0, 393.0, 48.0, "NUIP1.234.567.890"),
            (880.0, 901.0, 227.0, 35.0, "Fecha de nacimiento"),
            (883.0, 936.0, 232.0, 41.0, "15 ABR 2004"),
            (887.0, 977.0, 218.0, 33.0, "Légar de nacimiento"),
            (887.0, 1010.0, 443.0, 43.0, "CARTAGENA (BOLÍVAR)"),
            (888.0, 1085.0, 289.0, 36.0, "Fecha y lugar de expedición"),
            (884.0, 1121.0, 455.0, 42.0, "20 ABR 2022, CARTAGENA"),
        ]);
        let m = MODELS.iter().find(|m| m.id == "co-cedula-digital").unwrap();
        let r = extract(&p, m);
        let get = |k: &str| r.get(k).map(|v| v.value.as_str());
        assert_eq!(get("birth_place"), Some("CARTAGENA (BOLÍVAR)"));
        assert_eq!(get("birth_date"), Some("15/04/2004"));
    }

    /// Reads a DNI front's lines (`(x0, y0, width, height, text)`) as `pe-dni`.
    fn dni_front(lines: &[(f32, f32, f32, f32, &str)]) -> BTreeMap<String, Reading> {
        let p = page(lines);
        let m = detect(&p, None).expect("a model");
        assert_eq!(m.id, "pe-dni");
        extract(&p, m)
    }

    /// `pe-dnie front seed 7000044`: a small `DNI` label whose number, read taller, starts
    /// left of the label's end and above its top.
    #[test]
    fn a_small_dni_label_under_the_start_of_its_number_is_read() {
        let r = dni_front(&[
            (
                489.0,
                244.0,
                585.0,
                36.0,
                "DOCUMENTO NACIONAL DE IDENTIDAD ELECTRÓNICO",
            ),
            (660.0, 215.0, 241.0, 30.0, "REPÚBLICA DEL PERÚ"),
            (776.0, 366.0, 146.0, 29.0, "04 09 2020"),
            (967.0, 488.0, 145.0, 26.0, "04 09 2028"),
            (794.0, 285.0, 173.0, 21.0, "63972636- 9"),
            (773.0, 427.0, 117.0, 26.0, "BRICEÑO"),
            (770.0, 487.0, 99.0, 28.0, "QUISPE"),
            (769.0, 550.0, 99.0, 27.0, "266923"),
            (773.0, 409.0, 116.0, 18.0, "Segundo Apellido"),
            (1020.0, 301.0, 74.0, 28.0, "RAÚL"),
            (770.0, 468.0, 102.0, 19.0, "Primer Apellido"),
            (927.0, 406.0, 91.0, 20.0, "ESTADO CIVIL"),
            (777.0, 349.0, 95.0, 16.0, "Fecha Emisión"),
            (1019.0, 283.0, 83.0, 18.0, "Prenombres"),
            (968.0, 470.0, 73.0, 18.0, "Caducidad"),
            (768.0, 530.0, 54.0, 19.0, "Ubigeo"),
            (895.0, 488.0, 31.0, 26.0, "M"),
            (895.0, 469.0, 41.0, 18.0, "SEXO"),
            (768.0, 296.0, 40.0, 16.0, "DNI"),
        ]);
        let number = r.get("document_number").map(|v| v.value.as_str());
        assert!(
            number.is_some_and(|v| v.starts_with("63972636")),
            "{number:?}"
        );
    }

    /// `pe-dnie front seed 7000070`: `D.N.I.` read `D.N.1.`, the number on the same line.
    #[test]
    fn a_dni_label_read_with_a_one_for_its_i_is_read() {
        let r = dni_front(&[
            (
                211.0,
                328.0,
                759.0,
                41.0,
                "DOCUMENTO NACIONAL DE IDENTIDAD ELECTRÓNICO",
            ),
            (216.0, 297.0, 296.0, 31.0, "REPUBLICA DEL PERU"),
            (571.0, 385.0, 251.0, 34.0, "D.N.1. 86442238 - 7"),
            (1004.0, 282.0, 162.0, 39.0, "SPECIMEN"),
            (963.0, 567.0, 169.0, 36.0, "24 02 2022"),
            (761.0, 563.0, 165.0, 36.0, "24 02 2030"),
            (562.0, 614.0, 200.0, 28.0, "SEGUNDO APELLIDO"),
            (571.0, 492.0, 158.0, 30.0, "12 06 1966"),
            (562.0, 563.0, 137.0, 33.0, "MORALES"),
            (570.0, 466.0, 188.0, 24.0, "Fecha de Nacimiento"),
            (965.0, 541.0, 168.0, 26.0, "Fecha de Emisión"),
            (562.0, 642.0, 113.0, 35.0, "MUÑOZ"),
            (816.0, 491.0, 115.0, 34.0, "910448"),
            (562.0, 537.0, 140.0, 27.0, "Primer Apellido"),
            (978.0, 491.0, 100.0, 35.0, "ROCÍO"),
            (564.0, 694.0, 113.0, 29.0, "Estado Civil"),
            (980.0, 468.0, 127.0, 23.0, "Pre Nombres"),
            (763.0, 537.0, 101.0, 26.0, "Caducidad"),
            (817.0, 464.0, 73.0, 27.0, "Ubigeo"),
            (846.0, 379.0, 59.0, 27.0, "SEXO"),
            (567.0, 721.0, 25.0, 33.0, "S"),
            (846.0, 407.0, 25.0, 31.0, "F"),
        ]);
        let number = r.get("document_number").map(|v| v.value.as_str());
        assert!(
            number.is_some_and(|v| v.starts_with("86442238")),
            "{number:?}"
        );
    }

    #[test]
    fn a_number_sign_is_not_part_of_the_number() {
        assert!(repair(PeDni, "N° 75679281 - 0").is_some_and(|v| v.starts_with("75679281")));
        assert_eq!(repair(PeDni, "Nº75679281").as_deref(), Some("75679281"));
        assert_eq!(strip_number_sign("NOMBRE"), "NOMBRE");
    }

    #[test]
    fn payment_card_numbers_pass_luhn() {
        assert!(luhn("4111111111111111"));
        assert!(!luhn("4111111111111112"));
    }
}
