//! Where the fixed-layout generator ([`super`]) prints things on each card side, in the card's
//! pixels ([`kyc_flow_vision::quality::CARD_WIDTH`] × [`kyc_flow_vision::quality::CARD_HEIGHT`]).
//!
//! The generator's own table: the reader does not read by positions (it finds fields by their
//! labels and value grammars, `kyc_flow_vision::reader::models`), and nothing here is shared
//! with it, so an evaluation on these cards is not the reader checking its own table. The boxes
//! follow the public descriptions of the cards (which field sits where, label wording, date
//! formats); they are approximations, not measurements of real cards.

use kyc_flow_core::evidence::{DocumentKind, Side};

/// One printed field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldBox {
    /// Which identity value is printed here (see `printed_value` in the generator).
    pub key: &'static str,
    /// The label printed on the card.
    pub label: &'static str,
    /// Value box: left, top, width, height (rectified pixels).
    pub rect: (u32, u32, u32, u32),
    /// The label sits above the value (`true`) or below it (Colombia prints labels below).
    pub label_above: bool,
}

/// Everything the generator prints on one card side.
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
    /// Static title lines printed at the top.
    pub titles: &'static [&'static str],
    /// Card background colour.
    pub background: [u8; 3],
}

const fn f(key: &'static str, label: &'static str, rect: (u32, u32, u32, u32)) -> FieldBox {
    FieldBox {
        key,
        label,
        rect,
        label_above: true,
    }
}

const fn below(key: &'static str, label: &'static str, rect: (u32, u32, u32, u32)) -> FieldBox {
    FieldBox {
        key,
        label,
        rect,
        label_above: false,
    }
}

/// Value text height the generator prints at, and the row pitch of multi-line blocks.
pub const VALUE_PX: f32 = 34.0;
/// Label text height.
pub const LABEL_PX: f32 = 19.0;

static MX_INE_FRONT: [FieldBox; 13] = [
    f("first_surname", "NOMBRE", (350, 170, 500, 42)),
    f("second_surname", "", (350, 214, 500, 42)),
    f("given_names", "", (350, 258, 500, 42)),
    f("address_1", "DOMICILIO", (350, 336, 520, 40)),
    f("address_2", "", (350, 378, 520, 40)),
    f("address_3", "", (350, 420, 520, 40)),
    f("clave_elector", "CLAVE DE ELECTOR", (350, 500, 480, 42)),
    f("curp", "CURP", (350, 578, 480, 42)),
    f("registration_year", "AÑO DE REGISTRO", (870, 578, 250, 42)),
    f("birth_date", "FECHA DE NACIMIENTO", (890, 170, 280, 42)),
    f("sex", "SEXO", (890, 256, 100, 42)),
    f("section", "SECCIÓN", (350, 656, 160, 42)),
    f("validity", "VIGENCIA", (560, 656, 280, 42)),
];

static CO_FRONT: [FieldBox; 3] = [
    below("document_number", "NÚMERO", (60, 190, 520, 46)),
    below("surnames", "APELLIDOS", (60, 300, 680, 46)),
    below("given_names", "NOMBRES", (60, 410, 680, 46)),
];

static CO_BACK: [FieldBox; 6] = [
    below("birth_date", "FECHA DE NACIMIENTO", (60, 60, 360, 42)),
    below("birth_place", "LUGAR DE NACIMIENTO", (60, 150, 700, 42)),
    below("height", "ESTATURA", (60, 240, 150, 42)),
    below("blood_type", "G.S. RH", (250, 240, 130, 42)),
    below("sex", "SEXO", (420, 240, 90, 42)),
    below("issue", "FECHA Y LUGAR DE EXPEDICIÓN", (60, 330, 760, 42)),
];

static PE_FRONT: [FieldBox; 8] = [
    f("document_number", "DNI", (880, 150, 300, 44)),
    f("first_surname", "Primer Apellido", (340, 220, 520, 42)),
    f("second_surname", "Segundo Apellido", (340, 300, 520, 42)),
    f("given_names", "Pre Nombres", (340, 380, 600, 42)),
    f("birth_date", "Fecha de Nacimiento", (340, 460, 260, 42)),
    f("sex", "Sexo", (640, 460, 90, 42)),
    f("issue_date", "Fecha de Emisión", (340, 540, 260, 42)),
    f("expiry_date", "Fecha de Caducidad", (640, 540, 260, 42)),
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

/// The layout of a card side, or `None` when the generator has none for it.
pub fn layout(document: DocumentKind, side: Side) -> Option<&'static SideLayout> {
    LAYOUTS
        .iter()
        .find(|l| l.document == document && l.side == side)
}

/// Every side the generator prints.
pub fn supported() -> impl Iterator<Item = (DocumentKind, Side)> {
    LAYOUTS.iter().map(|l| (l.document, l.side))
}
