//! Per-document templates (which fields appear on which side, in which format, read from
//! where, and which source wins a disagreement) and the cross-checks between the readings of
//! one card, ending in a typed, explainable verdict per field.
//!
//! Vision fills [`Observations`] (printed text fields by canonical name, the parsed MRZ, the
//! parsed barcode payload) and calls [`cross_check`]; the core turns the first failed
//! [`CheckResult`] into a precise retake prompt through [`Problem::retake_reason`].

use crate::date::{self, Date};
use crate::id::{self, IdKind};
pub use crate::kind::{DocumentKind, Side};
use crate::mrz::{Mrz, MrzFormat, NationalData};
use crate::names::{self, NameMatch};
use crate::payload::{PayloadFields, PayloadKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Canonical field names shared with `kyc_flow_core::evidence::DocumentData`.
pub mod field {
    /// The document's main number (cédula, DNI, CIC…).
    pub const DOCUMENT_NUMBER: &str = "document_number";
    /// Surnames, space-separated.
    pub const SURNAMES: &str = "surnames";
    /// Given names, space-separated.
    pub const GIVEN_NAMES: &str = "given_names";
    /// `YYYY-MM-DD`.
    pub const BIRTH_DATE: &str = "birth_date";
    /// `M`, `F` or `X`.
    pub const SEX: &str = "sex";
    /// `YYYY-MM-DD`.
    pub const EXPIRY_DATE: &str = "expiry_date";
    /// `YYYY-MM-DD`.
    pub const ISSUE_DATE: &str = "issue_date";
    /// Nationality as printed or ICAO code.
    pub const NATIONALITY: &str = "nationality";
    /// Mexico: CURP.
    pub const CURP: &str = "curp";
    /// Mexico INE: credential code (MRZ document number).
    pub const CIC: &str = "cic";
    /// Mexico INE: citizen identifier (MRZ optional data).
    pub const CITIZEN_ID: &str = "citizen_id";
    /// Mexico INE: clave de elector.
    pub const CLAVE_ELECTOR: &str = "clave_elector";
    /// Mexico INE: OCR number (vertical, on the back of older models).
    pub const OCR_NUMBER: &str = "ocr_number";
    /// Mexico INE: state of residence.
    pub const STATE: &str = "state";
    /// Colombia: blood group and Rh.
    pub const BLOOD_TYPE: &str = "blood_type";
    /// Colombia: place-of-birth code.
    pub const PLACE_CODE: &str = "place_code";
    /// Peru: the check character printed after the DNI.
    pub const CHECK_CHARACTER: &str = "check_character";
}

/// The printed models with a template: one [`DocumentKind`] can have several (Peru's blue DNI
/// and DNIe are both [`DocumentKind::PeDni`]). Serialized kebab-case (`pe-dni-blue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentModel {
    /// Mexico, INE credential (models E–H: MRZ on the back).
    MxIne,
    /// Colombia, yellow cédula (PDF417 on the back).
    CoCedula,
    /// Colombia, cédula digital (TD1 MRZ on the back).
    CoCedulaDigital,
    /// Peru, blue DNI (TD1 MRZ on the back).
    PeDniBlue,
    /// Peru, electronic DNI (TD1 MRZ on the back).
    PeDnie,
    /// Argentina, DNI (PDF417 on the front, TD1 MRZ on the back).
    ArDni,
    /// Chile, cédula de identidad (TD1 MRZ on the back).
    ClCedula,
}

impl DocumentModel {
    /// Every model with a template.
    pub const ALL: [DocumentModel; 7] = [
        DocumentModel::MxIne,
        DocumentModel::CoCedula,
        DocumentModel::CoCedulaDigital,
        DocumentModel::PeDniBlue,
        DocumentModel::PeDnie,
        DocumentModel::ArDni,
        DocumentModel::ClCedula,
    ];

    /// Kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentModel::MxIne => "mx-ine",
            DocumentModel::CoCedula => "co-cedula",
            DocumentModel::CoCedulaDigital => "co-cedula-digital",
            DocumentModel::PeDniBlue => "pe-dni-blue",
            DocumentModel::PeDnie => "pe-dnie",
            DocumentModel::ArDni => "ar-dni",
            DocumentModel::ClCedula => "cl-cedula",
        }
    }

    /// The document kind this model is a printing of.
    pub fn kind(self) -> DocumentKind {
        match self {
            DocumentModel::MxIne => DocumentKind::MxIne,
            DocumentModel::CoCedula => DocumentKind::CoCedula,
            DocumentModel::CoCedulaDigital => DocumentKind::CoCedulaDigital,
            DocumentModel::PeDniBlue | DocumentModel::PeDnie => DocumentKind::PeDni,
            DocumentModel::ArDni => DocumentKind::ArDni,
            DocumentModel::ClCedula => DocumentKind::ClCedula,
        }
    }

    /// Parses a model name; a kind's name (`pe-dni`) means its first model (the blue DNI).
    pub fn parse(name: &str) -> Option<DocumentModel> {
        let n = name.trim().to_ascii_lowercase();
        DocumentModel::ALL
            .into_iter()
            .find(|k| k.as_str() == n)
            .or_else(|| DocumentKind::parse(&n).and_then(DocumentModel::first_of))
    }

    /// The first model (in [`DocumentModel::ALL`] order) of a kind, if any has a template.
    pub fn first_of(kind: DocumentKind) -> Option<DocumentModel> {
        DocumentModel::ALL.into_iter().find(|m| m.kind() == kind)
    }
}

/// Where a reading comes from. Names match `kyc_flow_core::evidence::FieldSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// OCR of the printed text.
    Printed,
    /// The machine-readable zone.
    Mrz,
    /// A barcode payload.
    Barcode,
    /// Computed from another field (the CURP's birth date).
    Derived,
}

impl Source {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Printed => "printed",
            Source::Mrz => "mrz",
            Source::Barcode => "barcode",
            Source::Derived => "derived",
        }
    }
}

/// How a field is written on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "arg")]
pub enum Format {
    /// An identifier validated by [`crate::id`].
    Id(IdKind),
    /// A person's name (letters, accents, spaces).
    Name,
    /// A date; `printed` says how it is printed (`DD/MM/YYYY`, `DD MMM YYYY`, `YYYY`).
    Date {
        /// The printed pattern.
        printed: &'static str,
    },
    /// Sex; `spanish` when the card prints `H`/`M` (hombre/mujer).
    Sex {
        /// `H`/`M` instead of `M`/`F`.
        spanish: bool,
    },
    /// Digits, with an inclusive length range.
    Digits {
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
    /// Free text (nationality, state, place codes).
    Text,
}

/// One field of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    /// Canonical name.
    pub name: &'static str,
    /// The side it is on.
    pub side: Side,
    /// Where it is read from.
    pub source: Source,
    /// Its format.
    pub format: Format,
    /// A capture without it is unreadable.
    pub required: bool,
}

/// What machine-readable element a side carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "arg")]
pub enum Machine {
    /// An ICAO MRZ.
    Mrz(MrzFormat),
    /// A PDF417 the crate parses.
    Pdf417(PayloadKind),
    /// QR codes whose content is encrypted by the issuer (INE): detected, never read.
    EncryptedQr,
    /// A QR code with a link or signature (cédula digital): not used for data.
    Qr,
}

/// A document template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    /// Which document.
    pub kind: DocumentModel,
    /// ISO country.
    pub country: &'static str,
    /// Human name.
    pub title: &'static str,
    /// Fields, front first.
    pub fields: Vec<FieldSpec>,
    /// Machine-readable elements per side.
    pub machines: Vec<(Side, Machine)>,
    /// Which source wins when readings disagree, per field (first wins); fields not listed
    /// use [`DEFAULT_PRECEDENCE`].
    pub precedence: Vec<(&'static str, Vec<Source>)>,
    /// ISO country code the MRZ's issuing state must carry (`MEX`, `PER`…).
    pub mrz_country: Option<&'static str>,
}

/// The default order: check-digit-protected machine data first, then the printed text.
pub const DEFAULT_PRECEDENCE: [Source; 4] = [
    Source::Mrz,
    Source::Barcode,
    Source::Printed,
    Source::Derived,
];

/// Names keep their accents and Ñ only in print (MRZ folds them, barcodes may too).
const NAME_PRECEDENCE: [Source; 3] = [Source::Printed, Source::Barcode, Source::Mrz];

impl Template {
    /// The template's precedence for `field`.
    pub fn precedence_of(&self, field: &str) -> &[Source] {
        self.precedence
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, p)| p.as_slice())
            .unwrap_or(&DEFAULT_PRECEDENCE)
    }

    /// The spec of a field, if the template has it.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields on one side.
    pub fn side(&self, side: Side) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().filter(move |f| f.side == side)
    }

    /// The card prints sex as `H`/`M` (hombre/mujer) rather than `M`/`F`.
    pub fn prints_spanish_sex(&self) -> bool {
        self.fields
            .iter()
            .any(|f| f.name == field::SEX && matches!(f.format, Format::Sex { spanish: true }))
    }
}

fn f(name: &'static str, side: Side, source: Source, format: Format, required: bool) -> FieldSpec {
    FieldSpec {
        name,
        side,
        source,
        format,
        required,
    }
}

/// The template of a document.
pub fn template(kind: DocumentModel) -> Template {
    use Side::*;
    use Source::*;
    use field::*;
    let name = Format::Name;
    let dmy = Format::Date {
        printed: "DD/MM/YYYY",
    };
    let names_printed = vec![
        (SURNAMES, NAME_PRECEDENCE.to_vec()),
        (GIVEN_NAMES, NAME_PRECEDENCE.to_vec()),
    ];
    match kind {
        DocumentModel::MxIne => Template {
            kind,
            country: "MX",
            title: "INE credencial para votar",
            fields: vec![
                f(SURNAMES, Front, Printed, name, true),
                f(GIVEN_NAMES, Front, Printed, name, true),
                f(SEX, Front, Printed, Format::Sex { spanish: true }, true),
                f(BIRTH_DATE, Front, Printed, dmy, true),
                f(CURP, Front, Printed, Format::Id(IdKind::MxCurp), true),
                f(
                    CLAVE_ELECTOR,
                    Front,
                    Printed,
                    Format::Id(IdKind::MxClaveElector),
                    true,
                ),
                f(
                    STATE,
                    Front,
                    Printed,
                    Format::Digits { min: 2, max: 2 },
                    false,
                ),
                f(
                    EXPIRY_DATE,
                    Front,
                    Printed,
                    Format::Date { printed: "YYYY" },
                    true,
                ),
                f(CIC, Back, Mrz, Format::Digits { min: 9, max: 9 }, true),
                f(
                    CITIZEN_ID,
                    Back,
                    Mrz,
                    Format::Digits { min: 9, max: 9 },
                    true,
                ),
                f(SURNAMES, Back, Mrz, name, true),
                f(GIVEN_NAMES, Back, Mrz, name, true),
                f(
                    BIRTH_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    true,
                ),
                f(SEX, Back, Mrz, Format::Sex { spanish: true }, true),
                f(
                    EXPIRY_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    true,
                ),
            ],
            machines: vec![
                (Back, Machine::Mrz(MrzFormat::Td1)),
                (Back, Machine::EncryptedQr),
            ],
            // The CURP is validated and carries birth date and sex; the MRZ's are protected
            // by check digits; print has the accents.
            precedence: [
                names_printed,
                vec![
                    (BIRTH_DATE, vec![Mrz, Derived, Printed]),
                    (SEX, vec![Derived, Mrz, Printed]),
                ],
            ]
            .concat(),
            mrz_country: Some("MEX"),
        },
        DocumentModel::CoCedula => Template {
            kind,
            country: "CO",
            title: "Cédula de ciudadanía (amarilla con hologramas)",
            fields: vec![
                f(
                    DOCUMENT_NUMBER,
                    Front,
                    Printed,
                    Format::Id(IdKind::CoCedula),
                    true,
                ),
                f(SURNAMES, Front, Printed, name, true),
                f(GIVEN_NAMES, Front, Printed, name, true),
                f(
                    BIRTH_DATE,
                    Back,
                    Printed,
                    Format::Date {
                        printed: "DD-MMM-YYYY",
                    },
                    true,
                ),
                f(SEX, Back, Printed, Format::Sex { spanish: false }, true),
                f(BLOOD_TYPE, Back, Printed, Format::Text, false),
                f(
                    ISSUE_DATE,
                    Back,
                    Printed,
                    Format::Date {
                        printed: "DD-MMM-YYYY",
                    },
                    false,
                ),
                f(
                    DOCUMENT_NUMBER,
                    Back,
                    Barcode,
                    Format::Id(IdKind::CoCedula),
                    true,
                ),
                f(SURNAMES, Back, Barcode, name, true),
                f(GIVEN_NAMES, Back, Barcode, name, true),
                f(
                    BIRTH_DATE,
                    Back,
                    Barcode,
                    Format::Date {
                        printed: "YYYYMMDD",
                    },
                    true,
                ),
                f(SEX, Back, Barcode, Format::Sex { spanish: false }, true),
                f(BLOOD_TYPE, Back, Barcode, Format::Text, false),
                f(PLACE_CODE, Back, Barcode, Format::Text, false),
            ],
            machines: vec![(Back, Machine::Pdf417(PayloadKind::CoCedulaPdf417))],
            // The barcode is latin-1 with accents and has no OCR noise: it wins everything.
            precedence: vec![
                (SURNAMES, vec![Barcode, Printed]),
                (GIVEN_NAMES, vec![Barcode, Printed]),
            ],
            mrz_country: None,
        },
        DocumentModel::CoCedulaDigital => Template {
            kind,
            country: "CO",
            title: "Cédula de ciudadanía digital",
            fields: vec![
                f(
                    DOCUMENT_NUMBER,
                    Front,
                    Printed,
                    Format::Id(IdKind::CoCedula),
                    true,
                ),
                f(SURNAMES, Front, Printed, name, true),
                f(GIVEN_NAMES, Front, Printed, name, true),
                f(
                    BIRTH_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MMM YYYY",
                    },
                    true,
                ),
                f(SEX, Front, Printed, Format::Sex { spanish: false }, true),
                f(
                    EXPIRY_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MMM YYYY",
                    },
                    true,
                ),
                f(
                    DOCUMENT_NUMBER,
                    Back,
                    Mrz,
                    Format::Id(IdKind::CoCedula),
                    true,
                ),
                f(SURNAMES, Back, Mrz, name, true),
                f(GIVEN_NAMES, Back, Mrz, name, true),
                f(
                    BIRTH_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    true,
                ),
                f(SEX, Back, Mrz, Format::Sex { spanish: false }, true),
                f(
                    EXPIRY_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    true,
                ),
            ],
            machines: vec![(Back, Machine::Mrz(MrzFormat::Td1)), (Back, Machine::Qr)],
            precedence: names_printed,
            mrz_country: Some("COL"),
        },
        DocumentModel::PeDniBlue | DocumentModel::PeDnie => Template {
            kind,
            country: "PE",
            title: if kind == DocumentModel::PeDnie {
                "DNI electrónico"
            } else {
                "DNI (azul)"
            },
            fields: vec![
                f(
                    DOCUMENT_NUMBER,
                    Front,
                    Printed,
                    Format::Id(IdKind::PeDni),
                    true,
                ),
                f(CHECK_CHARACTER, Front, Printed, Format::Text, false),
                f(SURNAMES, Front, Printed, name, true),
                f(GIVEN_NAMES, Front, Printed, name, true),
                f(
                    BIRTH_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MM YYYY",
                    },
                    true,
                ),
                f(SEX, Front, Printed, Format::Sex { spanish: false }, true),
                f(
                    ISSUE_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MM YYYY",
                    },
                    false,
                ),
                f(
                    EXPIRY_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MM YYYY",
                    },
                    true,
                ),
                f(DOCUMENT_NUMBER, Back, Mrz, Format::Id(IdKind::PeDni), true),
                f(SURNAMES, Back, Mrz, name, true),
                f(GIVEN_NAMES, Back, Mrz, name, true),
                f(
                    BIRTH_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    true,
                ),
                f(SEX, Back, Mrz, Format::Sex { spanish: false }, true),
                f(
                    EXPIRY_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    true,
                ),
            ],
            machines: vec![(Back, Machine::Mrz(MrzFormat::Td1))],
            precedence: names_printed,
            mrz_country: Some("PER"),
        },
        DocumentModel::ArDni => Template {
            kind,
            country: "AR",
            title: "DNI tarjeta",
            fields: vec![
                f(
                    DOCUMENT_NUMBER,
                    Front,
                    Printed,
                    Format::Id(IdKind::ArDni),
                    true,
                ),
                f(SURNAMES, Front, Printed, name, true),
                f(GIVEN_NAMES, Front, Printed, name, true),
                f(SEX, Front, Printed, Format::Sex { spanish: false }, true),
                f(
                    BIRTH_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MMM YYYY",
                    },
                    true,
                ),
                f(
                    ISSUE_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MMM YYYY",
                    },
                    false,
                ),
                f(
                    EXPIRY_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MMM YYYY",
                    },
                    true,
                ),
                f(
                    DOCUMENT_NUMBER,
                    Front,
                    Barcode,
                    Format::Id(IdKind::ArDni),
                    true,
                ),
                f(SURNAMES, Front, Barcode, name, true),
                f(GIVEN_NAMES, Front, Barcode, name, true),
                f(SEX, Front, Barcode, Format::Sex { spanish: false }, true),
                f(
                    BIRTH_DATE,
                    Front,
                    Barcode,
                    Format::Date {
                        printed: "DD/MM/YYYY",
                    },
                    true,
                ),
                f(
                    ISSUE_DATE,
                    Front,
                    Barcode,
                    Format::Date {
                        printed: "DD/MM/YYYY",
                    },
                    false,
                ),
                f(DOCUMENT_NUMBER, Back, Mrz, Format::Id(IdKind::ArDni), false),
                f(
                    BIRTH_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    false,
                ),
                f(
                    EXPIRY_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    false,
                ),
            ],
            machines: vec![
                (Front, Machine::Pdf417(PayloadKind::ArDniPdf417)),
                (Back, Machine::Mrz(MrzFormat::Td1)),
            ],
            precedence: vec![
                (SURNAMES, vec![Barcode, Printed, Mrz]),
                (GIVEN_NAMES, vec![Barcode, Printed, Mrz]),
            ],
            mrz_country: Some("ARG"),
        },
        DocumentModel::ClCedula => Template {
            kind,
            country: "CL",
            title: "Cédula de identidad",
            fields: vec![
                f(
                    DOCUMENT_NUMBER,
                    Front,
                    Printed,
                    Format::Id(IdKind::ClRun),
                    true,
                ),
                f(SURNAMES, Front, Printed, name, true),
                f(GIVEN_NAMES, Front, Printed, name, true),
                f(SEX, Front, Printed, Format::Sex { spanish: false }, true),
                f(
                    BIRTH_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MMM YYYY",
                    },
                    true,
                ),
                f(
                    EXPIRY_DATE,
                    Front,
                    Printed,
                    Format::Date {
                        printed: "DD MMM YYYY",
                    },
                    true,
                ),
                f(DOCUMENT_NUMBER, Back, Mrz, Format::Id(IdKind::ClRun), false),
                f(SURNAMES, Back, Mrz, name, true),
                f(GIVEN_NAMES, Back, Mrz, name, true),
                f(
                    BIRTH_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    true,
                ),
                f(SEX, Back, Mrz, Format::Sex { spanish: false }, true),
                f(
                    EXPIRY_DATE,
                    Back,
                    Mrz,
                    Format::Date { printed: "YYMMDD" },
                    true,
                ),
            ],
            machines: vec![(Back, Machine::Mrz(MrzFormat::Td1)), (Back, Machine::Qr)],
            precedence: names_printed,
            mrz_country: Some("CHL"),
        },
    }
}

/// What vision read from one card (both sides as far as captured). Printed fields are keyed
/// by canonical name, as OCR'd (dates in any of the printed formats, sex as printed).
#[derive(Clone, Copy, Default)]
pub struct Observations<'a> {
    /// OCR'd printed fields.
    pub printed: Option<&'a BTreeMap<String, String>>,
    /// The parsed MRZ.
    pub mrz: Option<&'a Mrz>,
    /// The parsed barcode payload.
    pub barcode: Option<&'a PayloadFields>,
}

impl fmt::Debug for Observations<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observations")
            .field(
                "printed",
                &self.printed.map(|p| p.keys().collect::<Vec<_>>()),
            )
            .field("mrz", &self.mrz.is_some())
            .field("barcode", &self.barcode.is_some())
            .finish()
    }
}

/// Decision parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The day of the check (the core's clock, passed in).
    pub today: Date,
    /// Minimum age in whole years (18 by default).
    pub minimum_age: u32,
    /// Reject expired documents.
    pub require_unexpired: bool,
}

impl Policy {
    /// 18 years, unexpired, on `today`.
    pub fn new(today: Date) -> Policy {
        Policy {
            today,
            minimum_age: 18,
            require_unexpired: true,
        }
    }
}

/// What a failed check means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// A field could not be read or fails its own validation (OCR): take the photo again.
    Unreadable,
    /// Two readings of the same card disagree: take the photo again (or a tampered card).
    DataMismatch,
    /// The document has expired.
    Expired,
    /// The holder is younger than the minimum age: no retake will help.
    Underage,
    /// The card is not the document the template describes.
    WrongDocument,
}

impl Problem {
    /// The `kyc_flow_core::evidence::RetakeReason` name to prompt with; `None` when a retake
    /// cannot fix it (underage).
    pub fn retake_reason(self) -> Option<&'static str> {
        match self {
            Problem::Unreadable => Some("unreadable"),
            Problem::DataMismatch => Some("data_mismatch"),
            Problem::Expired => Some("expired"),
            Problem::WrongDocument => Some("wrong_document"),
            Problem::Underage => None,
        }
    }
}

/// One cross-check, named like the core's `CrossCheck` (`curp_vs_birth_date`,
/// `mrz_vs_printed.document_number`). `detail` never contains personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Stable name.
    pub name: String,
    /// The field it concerns, if one.
    pub field: Option<&'static str>,
    /// Passed or not.
    pub passed: bool,
    /// What a failure means.
    pub problem: Option<Problem>,
    /// Explanation without personal data.
    pub detail: String,
}

/// The verdict on one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldStatus {
    /// Two or more sources agree.
    Confirmed,
    /// Read from one source only.
    Single,
    /// Sources disagree; the value is the winning source's.
    Conflict,
    /// The only readings fail the field's format.
    Invalid,
    /// Required by the template but not read anywhere.
    Missing,
}

/// One field's verdict: the chosen value, where it came from, and why.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct FieldVerdict {
    /// The winning value in canonical form (`YYYY-MM-DD`, `M`/`F`/`X`…).
    pub value: Option<String>,
    /// The winning source.
    pub source: Option<Source>,
    /// The verdict.
    pub status: FieldStatus,
    /// Every source that had a reading.
    pub sources: Vec<Source>,
}

impl fmt::Debug for FieldVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldVerdict")
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .field("source", &self.source)
            .field("status", &self.status)
            .field("sources", &self.sources)
            .finish()
    }
}

/// Everything [`cross_check`] concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldVerdicts {
    /// The template used.
    pub kind: DocumentModel,
    /// Per field.
    pub fields: BTreeMap<String, FieldVerdict>,
    /// Every check, in the order run.
    pub checks: Vec<CheckResult>,
}

impl FieldVerdicts {
    /// No check failed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The problem to act on first: a non-retakeable one (underage) beats the others, then
    /// unreadable, mismatch, expired, wrong document in that order.
    pub fn worst_problem(&self) -> Option<Problem> {
        let mut problems: Vec<Problem> = self.failures().filter_map(|c| c.problem).collect();
        problems.sort_by_key(|p| match p {
            Problem::Underage => 0,
            Problem::WrongDocument => 1,
            Problem::Unreadable => 2,
            Problem::DataMismatch => 3,
            Problem::Expired => 4,
        });
        problems.first().copied()
    }

    /// The chosen values with their sources, for `DocumentData`.
    pub fn values(&self) -> BTreeMap<String, (String, Source)> {
        self.fields
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), (v.value.clone()?, v.source?))))
            .collect()
    }
}

/// Month abbreviations printed on the region's cards (Spanish, then English/Portuguese where they
/// differ), January first; one table for template parsing and the reader's date grammar.
pub const MONTHS: [&[&str]; 12] = [
    &["ENE", "JAN"],
    &["FEB"],
    &["MAR"],
    &["ABR", "APR"],
    &["MAY"],
    &["JUN"],
    &["JUL"],
    &["AGO", "AUG"],
    &["SEP", "SET"],
    &["OCT"],
    &["NOV"],
    &["DIC", "DEC"],
];

/// Reads a printed date: `YYYY-MM-DD`, `DD/MM/YYYY`, `DD-MM-YYYY`, `DD.MM.YYYY`,
/// `DD MM YYYY`, `DD MMM YYYY` / `DD-MMM-YYYY` (Spanish or English month abbreviations) or
/// `YYYYMMDD`. `None` for anything else.
pub fn parse_printed_date(s: &str) -> Option<Date> {
    let s = s.trim().to_uppercase();
    if let Some(d) = Date::parse_iso(&s).or_else(|| Date::parse_compact(&s)) {
        return Some(d);
    }
    let mut parts: Vec<&str> = s
        .split(|c: char| c == '/' || c == '-' || c == '.' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    // Bilingual cards (Argentina) print the month twice: `17 MAR/ MAR 1985`.
    if parts.len() == 4 && parts[1] == parts[2] && date::digits(parts[1]).is_none() {
        parts.remove(2);
    }
    if parts.len() != 3 || parts[2].len() != 4 {
        return None;
    }
    let day = date::digits(parts[0])?;
    let month = match date::digits(parts[1]) {
        Some(m) => m,
        None => {
            let m: String = parts[1].chars().take(3).collect();
            MONTHS
                .iter()
                .position(|names| names.contains(&m.as_str()))? as u32
                + 1
        }
    };
    Date::new(date::digits(parts[2])? as i32, month, day)
}

/// Normalizes a sex reading to `M`/`F`/`X` under the card's convention.
fn normalize_sex(s: &str, spanish: bool) -> Option<String> {
    let s = s.trim().to_uppercase();
    let first = s.chars().next()?;
    Some(
        match (first, spanish) {
            ('H', _) => "M",
            ('M', true) => "F",
            ('M', false) => "M",
            ('F', _) => "F",
            ('X', _) => "X",
            _ => return None,
        }
        .to_owned(),
    )
}

/// Canonical form of a number: no separators, no leading zeros, upper case.
fn normalize_number(s: &str) -> String {
    let n: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let t = n.trim_start_matches('0');
    if t.is_empty() { n } else { t.to_owned() }
}

struct Readings {
    map: BTreeMap<&'static str, Vec<(Source, String)>>,
}

impl Readings {
    fn add(&mut self, field: &'static str, source: Source, value: String) {
        if !value.trim().is_empty() {
            self.map.entry(field).or_default().push((source, value));
        }
    }
}

const KNOWN_FIELDS: [&str; 17] = [
    field::DOCUMENT_NUMBER,
    field::SURNAMES,
    field::GIVEN_NAMES,
    field::BIRTH_DATE,
    field::SEX,
    field::EXPIRY_DATE,
    field::ISSUE_DATE,
    field::NATIONALITY,
    field::CURP,
    field::CIC,
    field::CITIZEN_ID,
    field::CLAVE_ELECTOR,
    field::OCR_NUMBER,
    field::STATE,
    field::BLOOD_TYPE,
    field::PLACE_CODE,
    field::CHECK_CHARACTER,
];

fn canonical(name: &str) -> Option<&'static str> {
    KNOWN_FIELDS.iter().copied().find(|f| *f == name)
}

/// Runs every check the template defines over what was read, and chooses each field's value.
pub fn cross_check(kind: DocumentModel, obs: &Observations<'_>, policy: &Policy) -> FieldVerdicts {
    let t = template(kind);
    let mut checks: Vec<CheckResult> = Vec::new();
    let mut push = |name: String,
                    field: Option<&'static str>,
                    passed: bool,
                    problem: Problem,
                    detail: String| {
        checks.push(CheckResult {
            name,
            field,
            passed,
            problem: (!passed).then_some(problem),
            detail,
        });
    };
    let mut r = Readings {
        map: BTreeMap::new(),
    };

    // ---- printed readings, normalized per the field's format
    if let Some(printed) = obs.printed {
        for (k, v) in printed {
            let Some(name) = canonical(k) else { continue };
            let spec = t
                .fields
                .iter()
                .find(|s| s.name == name && s.source == Source::Printed);
            let value = match spec.map(|s| s.format) {
                Some(Format::Date { printed: "YYYY" }) => {
                    // INE prints the validity as years ("VIGENCIA 2030", or "2020 - 2030"):
                    // the card is valid through 31 December of the last one.
                    let last = v
                        .split(|c: char| !c.is_ascii_digit())
                        .rfind(|t| !t.is_empty());
                    match last.filter(|t| t.len() == 4).and_then(date::digits) {
                        Some(y) => Date::new(y as i32, 12, 31).map(|d| d.to_string()),
                        None => parse_printed_date(v).map(|d| d.to_string()),
                    }
                }
                Some(Format::Date { .. }) => parse_printed_date(v).map(|d| d.to_string()),
                Some(Format::Sex { spanish }) => normalize_sex(v, spanish),
                _ => Some(v.trim().to_owned()),
            };
            match value {
                Some(v) => r.add(name, Source::Printed, v),
                None => push(
                    format!("format.{name}"),
                    Some(name),
                    false,
                    Problem::Unreadable,
                    format!("printed {name} is not in the expected format"),
                ),
            }
        }
    }

    // ---- MRZ readings
    if let Some(m) = obs.mrz {
        let checks_ok = m.valid();
        push(
            "mrz_check_digits".into(),
            None,
            checks_ok,
            Problem::Unreadable,
            if checks_ok {
                format!("{} check digits pass", m.format.as_str())
            } else {
                format!(
                    "{} check digits fail (number {}, birth {}, expiry {}, composite {})",
                    m.format.as_str(),
                    m.checks.document_number,
                    m.checks.birth_date,
                    m.checks.expiry_date,
                    m.checks.composite
                )
            },
        );
        if let Some(expected) = t.mrz_country {
            let same = m.fields.country == expected;
            push(
                "mrz_issuing_state".into(),
                None,
                same,
                Problem::WrongDocument,
                format!(
                    "MRZ issuing state is {}, template expects {expected}",
                    m.fields.country
                ),
            );
        }
        // Readings from a zone whose checks fail would spread OCR errors: only names (which
        // no check digit covers) are taken from it then.
        if checks_ok {
            match m.national() {
                Some(NationalData::MxIne(ine)) => {
                    r.add(field::CIC, Source::Mrz, ine.cic.clone());
                    if let Some(c) = ine.citizen_id.clone() {
                        r.add(field::CITIZEN_ID, Source::Mrz, c);
                    }
                    // INE's M is ambiguous: sex from the MRZ is used only via the CURP check.
                    if let Some(sx) = m.sex() {
                        r.add(field::SEX, Source::Mrz, sx.to_owned());
                    }
                }
                Some(NationalData::PeDni(pe)) => {
                    r.add(field::DOCUMENT_NUMBER, Source::Mrz, pe.dni.clone());
                    if let Some(sx) = m.sex() {
                        r.add(field::SEX, Source::Mrz, sx.to_owned());
                    }
                }
                Some(NationalData::CoCedulaDigital(co)) => {
                    if let Some(n) = co.nuip.clone() {
                        r.add(field::DOCUMENT_NUMBER, Source::Mrz, n);
                    }
                    if let Some(sx) = m.sex() {
                        r.add(field::SEX, Source::Mrz, sx.to_owned());
                    }
                }
                None => {
                    // Chile prints the card's serial as the MRZ number and the RUN in the
                    // optional data; elsewhere the MRZ number is the document number.
                    let number = if kind == DocumentModel::ClCedula {
                        let run: String = m
                            .fields
                            .optional_data
                            .chars()
                            .filter(|c| *c != '<')
                            .collect();
                        id::validate(IdKind::ClRun, &run).valid.then_some(run)
                    } else {
                        Some(m.fields.document_number.clone())
                    };
                    if let Some(n) = number {
                        r.add(field::DOCUMENT_NUMBER, Source::Mrz, n);
                    }
                    if let Some(sx) = m.sex() {
                        r.add(field::SEX, Source::Mrz, sx.to_owned());
                    }
                }
            }
            if let Some(d) = m.birth_date(policy.today) {
                r.add(field::BIRTH_DATE, Source::Mrz, d.to_string());
            }
            if let Some(d) = m.expiry_date(policy.today) {
                r.add(field::EXPIRY_DATE, Source::Mrz, d.to_string());
            }
        }
        r.add(field::SURNAMES, Source::Mrz, m.fields.surname.clone());
        r.add(
            field::GIVEN_NAMES,
            Source::Mrz,
            m.fields.given_names.clone(),
        );
    }

    // ---- barcode readings
    if let Some(b) = obs.barcode {
        let expected = t.machines.iter().find_map(|(_, m)| match m {
            Machine::Pdf417(k) => Some(*k),
            _ => None,
        });
        let right_kind = expected == Some(b.kind);
        push(
            "barcode_kind".into(),
            None,
            right_kind,
            Problem::WrongDocument,
            format!(
                "barcode is {}, template expects {:?}",
                b.kind.as_str(),
                expected.map(PayloadKind::as_str)
            ),
        );
        if right_kind {
            for (k, v) in &b.fields {
                if let Some(name) = canonical(k) {
                    r.add(name, Source::Barcode, v.clone());
                }
            }
        }
    }

    // ---- identifiers and what they carry
    let mut curp_letter = None;
    for spec in t.fields.iter().filter(|s| s.source == Source::Printed) {
        let Format::Id(kind) = spec.format else {
            continue;
        };
        let Some(values) = r.map.get(spec.name).cloned() else {
            continue;
        };
        for (source, value) in values.into_iter().filter(|(s, _)| *s == Source::Printed) {
            let v = id::validate(kind, &value);
            push(
                format!("id.{}", spec.name),
                Some(spec.name),
                v.valid,
                Problem::Unreadable,
                match v.reason {
                    None => format!("{} {kind} is valid", source.as_str()),
                    Some(reason) => format!("{} {kind} is invalid: {reason}", source.as_str()),
                },
            );
            if v.valid && kind == IdKind::MxCurp {
                curp_letter = v.normalized.chars().nth(10);
                if let Some(b) = v.fields.get("birth_date") {
                    r.add(field::BIRTH_DATE, Source::Derived, b.clone());
                }
                if let Some(s) = v.fields.get("sex") {
                    r.add(field::SEX, Source::Derived, s.clone());
                }
            }
            if v.valid && kind == IdKind::MxClaveElector {
                // The clave de elector embeds YYMMDD and H/M: checked against the CURP's.
                if let (Some(sex), Some(curp_sex)) = (
                    v.fields.get("sex"),
                    r.map
                        .get(field::SEX)
                        .and_then(|s| s.iter().find(|(src, _)| *src == Source::Derived)),
                ) {
                    // A non-binary CURP (X) has no H/M counterpart to compare with.
                    if curp_sex.1 != "X" {
                        push(
                            "clave_elector_vs_curp.sex".into(),
                            Some(field::SEX),
                            *sex == curp_sex.1,
                            Problem::DataMismatch,
                            "sex letter in the clave de elector vs the CURP's".into(),
                        );
                    }
                }
                if let (Some(yymmdd), Some(birth)) = (
                    v.fields.get("birth_yymmdd"),
                    r.map
                        .get(field::BIRTH_DATE)
                        .and_then(|b| b.iter().find(|(s, _)| *s == Source::Derived)),
                ) {
                    let same = birth.1.len() == 10
                        && format!("{}{}{}", &birth.1[2..4], &birth.1[5..7], &birth.1[8..10])
                            == *yymmdd;
                    push(
                        "clave_elector_vs_curp.birth_date".into(),
                        Some(field::BIRTH_DATE),
                        same,
                        Problem::DataMismatch,
                        "birth date in the clave de elector vs the CURP's".into(),
                    );
                }
            }
            if kind == IdKind::PeDni
                && v.valid
                && let Some(check) = obs.printed.and_then(|p| p.get(field::CHECK_CHARACTER))
            {
                let c = check.trim().to_uppercase();
                let ok = v.fields.get("check_digit") == Some(&c)
                    || v.fields.get("check_letter") == Some(&c);
                push(
                    "pe_dni_check_character".into(),
                    Some(field::CHECK_CHARACTER),
                    ok,
                    Problem::Unreadable,
                    "printed check character vs the one computed from the DNI".into(),
                );
            }
        }
    }

    // ---- INE: sex letter vs CURP
    if let (Some(m), Some(letter)) = (obs.mrz, curp_letter)
        && let Some(NationalData::MxIne(ine)) = m.national()
    {
        let ok = ine.sex_consistent_with_curp(letter);
        push(
            "ine_sex_letter_vs_curp".into(),
            Some(field::SEX),
            ok,
            Problem::DataMismatch,
            "sex letter in the MRZ vs the CURP's (H/M Spanish or M/F ICAO)".into(),
        );
    }

    // ---- pairwise comparisons and the chosen value
    let mut fields = BTreeMap::new();
    let mut names_for_fields: Vec<&'static str> = r.map.keys().copied().collect();
    for spec in &t.fields {
        if !names_for_fields.contains(&spec.name) {
            names_for_fields.push(spec.name);
        }
    }
    for name in names_for_fields {
        let readings = r.map.get(name).cloned().unwrap_or_default();
        if readings.is_empty() {
            let required = t.fields.iter().any(|s| s.name == name && s.required);
            if required {
                fields.insert(
                    name.to_owned(),
                    FieldVerdict {
                        value: None,
                        source: None,
                        status: FieldStatus::Missing,
                        sources: vec![],
                    },
                );
            }
            continue;
        }
        let mut conflict = false;
        for i in 0..readings.len() {
            for j in i + 1..readings.len() {
                let (sa, a) = &readings[i];
                let (sb, b) = &readings[j];
                if sa == sb {
                    continue;
                }
                let (same, how) = compare(name, a, b);
                let label = pair_label(*sa, *sb, name);
                push(label, Some(name), same, Problem::DataMismatch, how);
                conflict |= !same;
            }
        }
        let precedence = t.precedence_of(name);
        let winner = precedence
            .iter()
            .chain(DEFAULT_PRECEDENCE.iter())
            .find_map(|p| readings.iter().find(|(s, _)| s == p))
            .unwrap_or(&readings[0]);
        let mut sources: Vec<Source> = readings.iter().map(|(s, _)| *s).collect();
        sources.sort();
        sources.dedup();
        let status = if conflict {
            FieldStatus::Conflict
        } else if sources.len() > 1 {
            FieldStatus::Confirmed
        } else {
            FieldStatus::Single
        };
        fields.insert(
            name.to_owned(),
            FieldVerdict {
                value: Some(winner.1.clone()),
                source: Some(winner.0),
                status,
                sources,
            },
        );
    }

    // ---- validity and age, on the chosen values
    if let Some(expiry) = fields
        .get(field::EXPIRY_DATE)
        .and_then(|v| v.value.as_deref())
        .and_then(Date::parse_iso)
        && policy.require_unexpired
    {
        let ok = expiry >= policy.today;
        push(
            "expiry_in_future".into(),
            Some(field::EXPIRY_DATE),
            ok,
            Problem::Expired,
            if ok {
                "document is within its validity".into()
            } else {
                "document has expired".into()
            },
        );
    }
    if let Some(birth) = fields
        .get(field::BIRTH_DATE)
        .and_then(|v| v.value.as_deref())
        .and_then(Date::parse_iso)
    {
        let age = birth.years_until(policy.today);
        let ok = age >= policy.minimum_age as i32;
        push(
            "minimum_age".into(),
            Some(field::BIRTH_DATE),
            ok,
            Problem::Underage,
            format!(
                "holder is {} the minimum age of {}",
                if ok { "at least" } else { "under" },
                policy.minimum_age
            ),
        );
    }
    for (name, v) in &mut fields {
        if v.status == FieldStatus::Missing {
            push(
                format!("present.{name}"),
                canonical(name),
                false,
                Problem::Unreadable,
                format!("{name} was not read from any source"),
            );
        }
    }
    // A field whose only reading failed its identifier validation is Invalid, not Single.
    for c in &checks {
        if c.name.starts_with("id.")
            && !c.passed
            && let Some(v) = c.field.and_then(|f| fields.get_mut(f))
            && v.sources.len() == 1
        {
            v.status = FieldStatus::Invalid;
        }
    }
    FieldVerdicts {
        kind,
        fields,
        checks,
    }
}

fn pair_label(a: Source, b: Source, field: &str) -> String {
    // Stable, readable names: the machine source first, then what it is compared with.
    let rank = |s: Source| match s {
        Source::Mrz => 0,
        Source::Barcode => 1,
        Source::Derived => 2,
        Source::Printed => 3,
    };
    let (x, y) = if rank(a) <= rank(b) { (a, b) } else { (b, a) };
    // Derived readings all come from the CURP today.
    let name = |s: Source| {
        if s == Source::Derived {
            "curp"
        } else {
            s.as_str()
        }
    };
    format!("{}_vs_{}.{field}", name(x), name(y))
}

/// Compares two readings of `field`; (same, explanation without personal data).
fn compare(field: &str, a: &str, b: &str) -> (bool, String) {
    match field {
        field::SURNAMES | field::GIVEN_NAMES => {
            let m = names::compare(a, b);
            let how = match m {
                NameMatch::Exact => "names equal once accents, Ñ and case are folded",
                NameMatch::Truncated => "one name is the other cut short (MRZ field length)",
                NameMatch::Close => "names differ only by OCR-sized noise",
                NameMatch::Different => "names differ",
            };
            (m.matches(), how.into())
        }
        field::BIRTH_DATE | field::EXPIRY_DATE | field::ISSUE_DATE => {
            let same = Date::parse_iso(a).is_some() && a == b;
            (
                same,
                if same {
                    "dates equal".into()
                } else {
                    "dates differ".into()
                },
            )
        }
        field::DOCUMENT_NUMBER
        | field::CIC
        | field::CITIZEN_ID
        | field::CURP
        | field::CLAVE_ELECTOR => {
            let same = normalize_number(a) == normalize_number(b);
            (
                same,
                if same {
                    "numbers equal".into()
                } else {
                    "numbers differ".into()
                },
            )
        }
        _ => {
            let same = names::fold(a) == names::fold(b);
            (
                same,
                if same {
                    "values equal".into()
                } else {
                    "values differ".into()
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mrz::{self, build::Spec};

    fn today() -> Date {
        Date::new(2026, 11, 26).unwrap()
    }

    fn ine_mrz(birth: &str, sex: &str) -> Mrz {
        let s = Spec {
            document_type: "ID".into(),
            country: "MEX".into(),
            number: "123456789".into(),
            optional: "<<0123456789012".into(),
            birth: birth.into(),
            sex: sex.into(),
            expiry: "301231".into(),
            nationality: "MEX".into(),
            surname: "PENA GARCIA".into(),
            given: "JUAN".into(),
            ..Spec::default()
        };
        mrz::parse(&mrz::build::td1(&s)).unwrap()
    }

    fn printed(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_template_is_consistent() {
        for k in DocumentModel::ALL {
            let t = template(k);
            assert!(!t.fields.is_empty());
            for spec in &t.fields {
                assert!(canonical(spec.name).is_some(), "{k:?} {}", spec.name);
            }
            assert_eq!(DocumentModel::parse(k.as_str()), Some(k));
            assert_eq!(
                DocumentModel::first_of(k.kind()).map(|m| m.kind()),
                Some(k.kind())
            );
        }
        assert_eq!(
            DocumentModel::parse("pe-dni"),
            Some(DocumentModel::PeDniBlue)
        );
        assert_eq!(DocumentModel::first_of(DocumentKind::Passport), None);
    }

    #[test]
    fn printed_dates() {
        let d = |s| parse_printed_date(s).map(|d| d.to_string());
        assert_eq!(d("17/03/1985").as_deref(), Some("1985-03-17"));
        assert_eq!(d("17 MAR 1985").as_deref(), Some("1985-03-17"));
        assert_eq!(d("17-ABR-1985").as_deref(), Some("1985-04-17"));
        assert_eq!(d("17 ago 1985").as_deref(), Some("1985-08-17"));
        assert_eq!(d("17 MAR/ MAR 1985").as_deref(), Some("1985-03-17"));
        assert_eq!(d("1985-03-17").as_deref(), Some("1985-03-17"));
        assert_eq!(d("31/02/1985"), None);
        assert_eq!(d("17 XYZ 1985"), None);
    }

    #[test]
    fn ine_all_agree() {
        let m = ine_mrz("850317", "H");
        let p = printed(&[
            ("curp", "PEGJ850317HDFXRN05"),
            ("surnames", "PEÑA GARCÍA"),
            ("given_names", "JUAN"),
            ("birth_date", "17/03/1985"),
            ("sex", "H"),
            ("expiry_date", "2030"),
            ("clave_elector", "PNGRJN85031709H100"),
        ]);
        // make the CURP valid whatever its check digit
        let curp = format!(
            "PEGJ850317HDFXRN0{}",
            id::curp_check_digit("PEGJ850317HDFXRN0").unwrap()
        );
        let mut p = p;
        p.insert("curp".into(), curp);
        let obs = Observations {
            printed: Some(&p),
            mrz: Some(&m),
            barcode: None,
        };
        let v = cross_check(DocumentModel::MxIne, &obs, &Policy::new(today()));
        let failures: Vec<_> = v.failures().map(|c| c.name.clone()).collect();
        assert!(v.passed(), "{failures:?}");
        assert_eq!(v.fields["birth_date"].status, FieldStatus::Confirmed);
        assert_eq!(v.fields["birth_date"].value.as_deref(), Some("1985-03-17"));
        assert_eq!(v.fields["surnames"].value.as_deref(), Some("PEÑA GARCÍA"));
        assert_eq!(v.fields["surnames"].source, Some(Source::Printed));
        assert_eq!(v.fields["citizen_id"].value.as_deref(), Some("456789012"));
        assert_eq!(v.fields["expiry_date"].value.as_deref(), Some("2030-12-31"));
        assert!(
            v.checks
                .iter()
                .any(|c| c.name == "curp_vs_printed.birth_date" && c.passed)
        );
        assert!(
            v.checks
                .iter()
                .any(|c| c.name == "ine_sex_letter_vs_curp" && c.passed)
        );
    }

    #[test]
    fn ine_mismatch_is_explained_per_field() {
        let m = ine_mrz("850318", "H");
        let curp = format!(
            "PEGJ850317MDFXRN0{}",
            id::curp_check_digit("PEGJ850317MDFXRN0").unwrap()
        );
        let p = printed(&[
            ("curp", &curp),
            ("surnames", "PENA GARCIA"),
            ("given_names", "JUAN"),
            ("clave_elector", "PNGRJN85031709M100"),
        ]);
        let obs = Observations {
            printed: Some(&p),
            mrz: Some(&m),
            barcode: None,
        };
        let v = cross_check(DocumentModel::MxIne, &obs, &Policy::new(today()));
        let failed: Vec<&str> = v.failures().map(|c| c.name.as_str()).collect();
        assert!(failed.contains(&"mrz_vs_curp.birth_date"), "{failed:?}");
        assert!(failed.contains(&"mrz_vs_curp.sex"), "{failed:?}");
        assert!(failed.contains(&"ine_sex_letter_vs_curp"), "{failed:?}");
        assert_eq!(v.fields["birth_date"].status, FieldStatus::Conflict);
        assert_eq!(v.worst_problem(), Some(Problem::DataMismatch));
        // The whole verdict, as the core and the CLI see it.
        insta::assert_json_snapshot!("ine_mismatch_verdicts", v);
        assert_eq!(Problem::DataMismatch.retake_reason(), Some("data_mismatch"));
        // details never carry the values
        for c in &v.checks {
            assert!(
                !c.detail.contains("1985") && !c.detail.contains("PEGJ"),
                "{}",
                c.detail
            );
        }
    }

    #[test]
    fn expiry_and_age() {
        let m = ine_mrz("100317", "H");
        let obs = Observations {
            printed: None,
            mrz: Some(&m),
            barcode: None,
        };
        let v = cross_check(DocumentModel::MxIne, &obs, &Policy::new(today()));
        assert_eq!(v.worst_problem(), Some(Problem::Underage));
        let mut policy = Policy::new(today());
        policy.minimum_age = 16;
        let v = cross_check(DocumentModel::MxIne, &obs, &policy);
        assert!(v.checks.iter().any(|c| c.name == "minimum_age" && c.passed));
        policy.today = Date::new(2031, 1, 1).unwrap();
        let v = cross_check(DocumentModel::MxIne, &obs, &policy);
        assert!(
            v.checks
                .iter()
                .any(|c| c.name == "expiry_in_future" && !c.passed)
        );
    }

    #[test]
    fn colombian_barcode_wins_and_checks_printed() {
        let bytes = crate::payload::build::co_cedula_pdf417(&crate::payload::build::CoCedula {
            number: "1020304050".into(),
            surnames: ("PEÑA".into(), "GÓMEZ".into()),
            given: ("MARÍA".into(), String::new()),
            sex: 'F',
            birth: "19900215".into(),
            place: "05001".into(),
            blood: "O+".into(),
            trailer: 100,
        });
        let b = crate::payload::co_cedula_pdf417(&bytes).unwrap();
        let p = printed(&[
            ("document_number", "1.020.304.050"),
            ("surnames", "PENA G0MEZ"),
            ("given_names", "MARIA"),
            ("birth_date", "15-FEB-1990"),
            ("sex", "F"),
        ]);
        let obs = Observations {
            printed: Some(&p),
            mrz: None,
            barcode: Some(&b),
        };
        let v = cross_check(DocumentModel::CoCedula, &obs, &Policy::new(today()));
        let failed: Vec<&str> = v.failures().map(|c| c.name.as_str()).collect();
        assert!(v.passed(), "{failed:?}");
        assert_eq!(v.fields["surnames"].value.as_deref(), Some("PEÑA GÓMEZ"));
        assert_eq!(v.fields["surnames"].source, Some(Source::Barcode));
        // a different number on the front is a mismatch
        let p2 = printed(&[("document_number", "1020304051")]);
        let obs = Observations {
            printed: Some(&p2),
            ..obs
        };
        let v = cross_check(DocumentModel::CoCedula, &obs, &Policy::new(today()));
        assert!(
            v.checks
                .iter()
                .any(|c| c.name == "barcode_vs_printed.document_number" && !c.passed)
        );
    }

    #[test]
    fn wrong_country_mrz() {
        let m = ine_mrz("850317", "H");
        let obs = Observations {
            printed: None,
            mrz: Some(&m),
            barcode: None,
        };
        let v = cross_check(DocumentModel::PeDniBlue, &obs, &Policy::new(today()));
        assert!(
            v.checks
                .iter()
                .any(|c| c.name == "mrz_issuing_state" && !c.passed)
        );
        assert_eq!(v.worst_problem(), Some(Problem::WrongDocument));
    }

    #[test]
    fn chile_run_comes_from_the_optional_data() {
        let s = Spec {
            document_type: "IN".into(),
            country: "CHL".into(),
            number: "A12345678".into(),
            optional: "12345678<5".into(),
            birth: "850317".into(),
            sex: "F".into(),
            expiry: "301231".into(),
            nationality: "CHL".into(),
            surname: "ROJAS".into(),
            given: "ANA".into(),
            ..Spec::default()
        };
        let m = mrz::parse(&mrz::build::td1(&s)).unwrap();
        let p = printed(&[
            ("document_number", "12.345.678-5"),
            ("surnames", "ROJAS"),
            ("given_names", "ANA"),
        ]);
        let obs = Observations {
            printed: Some(&p),
            mrz: Some(&m),
            barcode: None,
        };
        let v = cross_check(DocumentModel::ClCedula, &obs, &Policy::new(today()));
        let failed: Vec<&str> = v.failures().map(|c| c.name.as_str()).collect();
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(v.fields["document_number"].status, FieldStatus::Confirmed);
    }

    #[test]
    fn ine_validity_years() {
        for printed_value in ["2030", "2020 - 2030", "VIGENCIA 2020-2030"] {
            let p = printed(&[("expiry_date", printed_value)]);
            let obs = Observations {
                printed: Some(&p),
                ..Observations::default()
            };
            let v = cross_check(DocumentModel::MxIne, &obs, &Policy::new(today()));
            assert_eq!(
                v.fields["expiry_date"].value.as_deref(),
                Some("2030-12-31"),
                "{printed_value}"
            );
        }
    }

    #[test]
    fn peru_printed_check_character() {
        let p = printed(&[("document_number", "10117410"), ("check_character", "G")]);
        let obs = Observations {
            printed: Some(&p),
            ..Observations::default()
        };
        let v = cross_check(DocumentModel::PeDniBlue, &obs, &Policy::new(today()));
        assert!(
            v.checks
                .iter()
                .any(|c| c.name == "pe_dni_check_character" && c.passed)
        );
        let p = printed(&[("document_number", "10117410"), ("check_character", "7")]);
        let obs = Observations {
            printed: Some(&p),
            ..Observations::default()
        };
        let v = cross_check(DocumentModel::PeDniBlue, &obs, &Policy::new(today()));
        assert!(
            v.checks
                .iter()
                .any(|c| c.name == "pe_dni_check_character" && !c.passed)
        );
    }
}
