//! Where things are on each supported card side, in the rectified card's pixels
//! ([`crate::quality::CARD_WIDTH`] × [`crate::quality::CARD_HEIGHT`]).
//!
//! One table serves both directions: the reader assigns OCR'd lines to fields by these boxes,
//! and the synthetic generator prints its specimens by them. The boxes follow the public
//! descriptions of the cards (which field sits where, label wording, date formats); they are
//! approximations, not measurements of real cards, which is why the reader also validates
//! every value by its grammar before accepting it and matches with a margin around each box.

use super::models::Grammar;
use kyc_flow_core::evidence::{DocumentKind, Side};

/// One printed field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldBox {
    /// The reader's key (see the field names in the module docs of `reader`).
    pub key: &'static str,
    /// The label printed on the card (drawn by the generator; not read back).
    pub label: &'static str,
    /// Value box: left, top, width, height (rectified pixels).
    pub rect: (u32, u32, u32, u32),
    /// The label sits above the value (`true`) or below it (Colombia prints labels below).
    pub label_above: bool,
    /// The value's grammar.
    pub grammar: Grammar,
}

/// Everything the reader needs to know about one card side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SideLayout {
    /// Which card.
    pub document: DocumentKind,
    /// Which side.
    pub side: Side,
    /// Printed fields.
    pub fields: &'static [FieldBox],
    /// The card portrait, if this side has one (left, top, width, height).
    pub portrait: Option<(u32, u32, u32, u32)>,
    /// The MRZ band, if any (left, top, width, height) and its line count.
    pub mrz: Option<((u32, u32, u32, u32), usize)>,
    /// The barcode region, if any.
    pub barcode: Option<(u32, u32, u32, u32)>,
    /// Static title lines printed at the top (drawn by the generator; the reader may use them
    /// to tell a wrong document).
    pub titles: &'static [&'static str],
    /// Card background colour (generator only).
    pub background: [u8; 3],
}

const fn f(
    key: &'static str,
    label: &'static str,
    rect: (u32, u32, u32, u32),
    grammar: Grammar,
) -> FieldBox {
    FieldBox {
        key,
        label,
        rect,
        label_above: true,
        grammar,
    }
}

const fn below(
    key: &'static str,
    label: &'static str,
    rect: (u32, u32, u32, u32),
    grammar: Grammar,
) -> FieldBox {
    FieldBox {
        key,
        label,
        rect,
        label_above: false,
        grammar,
    }
}

/// Value text height the generator prints at, and the row pitch of multi-line blocks.
pub const VALUE_PX: f32 = 34.0;
/// Label text height.
pub const LABEL_PX: f32 = 19.0;

static MX_INE_FRONT: [FieldBox; 13] = [
    f(
        "first_surname",
        "NOMBRE",
        (350, 170, 500, 42),
        Grammar::Name,
    ),
    f("second_surname", "", (350, 214, 500, 42), Grammar::Name),
    f("given_names", "", (350, 258, 500, 42), Grammar::Name),
    f("address_1", "DOMICILIO", (350, 336, 520, 40), Grammar::Text),
    f("address_2", "", (350, 378, 520, 40), Grammar::Text),
    f("address_3", "", (350, 420, 520, 40), Grammar::Text),
    f(
        "clave_elector",
        "CLAVE DE ELECTOR",
        (350, 500, 480, 42),
        Grammar::ClaveElector,
    ),
    f("curp", "CURP", (350, 578, 480, 42), Grammar::Curp),
    f(
        "registration_year",
        "AÑO DE REGISTRO",
        (870, 578, 250, 42),
        Grammar::Digits(4, 6),
    ),
    f(
        "birth_date",
        "FECHA DE NACIMIENTO",
        (890, 170, 280, 42),
        Grammar::DateDmySlash,
    ),
    f("sex", "SEXO", (890, 256, 100, 42), Grammar::Sex),
    f(
        "section",
        "SECCIÓN",
        (350, 656, 160, 42),
        Grammar::Digits(4, 4),
    ),
    f(
        "validity",
        "VIGENCIA",
        (560, 656, 280, 42),
        Grammar::YearRange,
    ),
];

static CO_FRONT: [FieldBox; 3] = [
    below(
        "document_number",
        "NÚMERO",
        (60, 190, 520, 46),
        Grammar::Digits(6, 10),
    ),
    below("surnames", "APELLIDOS", (60, 300, 680, 46), Grammar::Name),
    below("given_names", "NOMBRES", (60, 410, 680, 46), Grammar::Name),
];

static CO_BACK: [FieldBox; 6] = [
    below(
        "birth_date",
        "FECHA DE NACIMIENTO",
        (60, 60, 360, 42),
        Grammar::DateDmmmY,
    ),
    below(
        "birth_place",
        "LUGAR DE NACIMIENTO",
        (60, 150, 700, 42),
        Grammar::Text,
    ),
    below(
        "height",
        "ESTATURA",
        (60, 240, 150, 42),
        Grammar::Digits(3, 3),
    ),
    below(
        "blood_type",
        "G.S. RH",
        (250, 240, 130, 42),
        Grammar::BloodType,
    ),
    below("sex", "SEXO", (420, 240, 90, 42), Grammar::Sex),
    below(
        "issue",
        "FECHA Y LUGAR DE EXPEDICIÓN",
        (60, 330, 760, 42),
        Grammar::Text,
    ),
];

static PE_FRONT: [FieldBox; 8] = [
    f(
        "document_number",
        "DNI",
        (880, 150, 300, 44),
        Grammar::PeDniNumber,
    ),
    f(
        "first_surname",
        "Primer Apellido",
        (340, 220, 520, 42),
        Grammar::Name,
    ),
    f(
        "second_surname",
        "Segundo Apellido",
        (340, 300, 520, 42),
        Grammar::Name,
    ),
    f(
        "given_names",
        "Pre Nombres",
        (340, 380, 600, 42),
        Grammar::Name,
    ),
    f(
        "birth_date",
        "Fecha de Nacimiento",
        (340, 460, 260, 42),
        Grammar::DateDmySpace,
    ),
    f("sex", "Sexo", (640, 460, 90, 42), Grammar::Sex),
    f(
        "issue_date",
        "Fecha de Emisión",
        (340, 540, 260, 42),
        Grammar::DateDmySpace,
    ),
    f(
        "expiry_date",
        "Fecha de Caducidad",
        (640, 540, 260, 42),
        Grammar::DateDmySpace,
    ),
];

static LAYOUTS: [SideLayout; 6] = [
    SideLayout {
        document: DocumentKind::MxIne,
        side: Side::Front,
        fields: &MX_INE_FRONT,
        portrait: Some((40, 170, 280, 350)),
        mrz: None,
        barcode: None,
        titles: &[
            "INSTITUTO NACIONAL ELECTORAL",
            "MÉXICO · CREDENCIAL PARA VOTAR",
        ],
        background: [236, 222, 228],
    },
    SideLayout {
        document: DocumentKind::MxIne,
        side: Side::Back,
        fields: &[],
        portrait: None,
        mrz: Some(((50, 495, 1100, 215), 3)),
        barcode: Some((40, 110, 300, 300)),
        titles: &["INSTITUTO NACIONAL ELECTORAL"],
        background: [230, 226, 236],
    },
    SideLayout {
        document: DocumentKind::CoCedula,
        side: Side::Front,
        fields: &CO_FRONT,
        portrait: Some((840, 170, 300, 380)),
        mrz: None,
        barcode: None,
        titles: &[
            "REPÚBLICA DE COLOMBIA",
            "IDENTIFICACIÓN PERSONAL · CÉDULA DE CIUDADANÍA",
        ],
        background: [238, 226, 170],
    },
    SideLayout {
        document: DocumentKind::CoCedula,
        side: Side::Back,
        fields: &CO_BACK,
        portrait: None,
        mrz: None,
        barcode: Some((40, 440, 1120, 290)),
        titles: &[],
        background: [236, 228, 186],
    },
    SideLayout {
        document: DocumentKind::PeDni,
        side: Side::Front,
        fields: &PE_FRONT,
        portrait: Some((40, 200, 270, 340)),
        mrz: None,
        barcode: None,
        titles: &["REPÚBLICA DEL PERÚ", "DOCUMENTO NACIONAL DE IDENTIDAD"],
        background: [214, 226, 238],
    },
    SideLayout {
        document: DocumentKind::PeDni,
        side: Side::Back,
        fields: &[],
        portrait: None,
        mrz: Some(((50, 495, 1100, 215), 3)),
        barcode: None,
        titles: &["REGISTRO NACIONAL DE IDENTIFICACIÓN Y ESTADO CIVIL"],
        background: [218, 228, 238],
    },
];

/// The layout of a card side, or `None` when there is no template for it.
pub fn layout(document: DocumentKind, side: Side) -> Option<&'static SideLayout> {
    LAYOUTS
        .iter()
        .find(|l| l.document == document && l.side == side)
}

/// Every side with a template (the reader's capabilities).
pub fn supported() -> impl Iterator<Item = (DocumentKind, Side)> {
    LAYOUTS.iter().map(|l| (l.document, l.side))
}
